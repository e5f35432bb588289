"""The package's shape: imports point down the pipeline's stage order, and the numpy-only stages
never load torch. Read from the source with ``ast`` (nothing is imported)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fashion"

# Rank of each stage: a module may import its own stage and strictly lower ranks only. Equal ranks
# are siblings that must not know each other (training and the catalog index, the web and the CLI).
STAGE_RANK = {
    "errors": 0, "io_utils": 0.25,
    "config": 0.5,
    "data": 1,
    "colour": 2,
    "segment": 3,
    "model": 4,
    "train": 5, "index": 5,
    "recommend": 6,
    "feedback": 7,
    "evaluate": 8,
    "web": 9, "cli": 9,
}

# Modules that work on numpy arrays only: torch must not be imported by them, directly or through
# a module they import at module level.
TORCH_FREE = [
    "fashion.recommend.components",
    "fashion.recommend.recommender",
    "fashion.recommend.garments",
    "fashion.recommend.explain",
    "fashion.recommend.words",
    "fashion.feedback.store",
    "fashion.feedback.adaptation",
    "fashion.feedback.session",
    "fashion.index.catalog",
    "fashion.index.search",
    "fashion.model.labels",
    # recommend.py --categories / --attributes answer from these without torch (issue 17; the
    # builder and the CLI import torch only in functions: tests/test_cold_start.py runs them so).
    "fashion.model.meta",
    "fashion.colour.settings",
    "fashion.colour.mmcq",
    "fashion.segment.person",
    "fashion.recommend.lookup",
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, module_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file (or only those at module level)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # ``from fashion.x import y`` may name a submodule y.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "fashion" else None


def test_every_stage_has_a_rank() -> None:
    stages = {stage_of(name) for name in modules()} - {None}
    assert stages <= set(STAGE_RANK), f"new stage(s) without a rank in this test: {stages - set(STAGE_RANK)}"


def test_imports_point_down_the_stage_order() -> None:
    known = modules()
    upward = []
    for name, path in known.items():
        stage = stage_of(name)
        if stage is None:
            continue
        for line, target in imports_of(path):
            target_stage = stage_of(target)
            if target_stage is None or target_stage == stage or target not in known:
                continue
            if STAGE_RANK[target_stage] >= STAGE_RANK[stage]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not upward, "imports that point up (or sideways) the stage order:\n" + "\n".join(sorted(set(upward)))


@pytest.mark.parametrize("module", TORCH_FREE)
def test_numpy_stages_never_load_torch(module: str) -> None:
    known = modules()
    if module not in known:
        pytest.skip(f"{module} does not exist")
    seen, stack, chain = set(), [module], {module: [module]}
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        # Every import of the module itself counts; of what it imports, the module-level ones
        # (a function-level import in a dependency only runs when that function is called).
        for _, target in imports_of(known[current], module_level_only=current != module):
            assert target.split(".")[0] not in {"torch", "torchvision"}, (
                f"{module} loads {target} via {' -> '.join(chain[current])}")
            if target in known and target not in seen:
                chain[target] = chain[current] + [target]
                stack.append(target)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The walk above finds imports at any depth (guards against a checker that sees nothing)."""
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from fashion.cli.train import run_training\n")
    assert (4, "fashion.cli.train") in imports_of(source)
    assert imports_of(source, module_level_only=True) == [(1, "os")]
