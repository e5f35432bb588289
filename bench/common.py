"""Shared helpers for benchmarks: machine description, repeated timing, result files.

Each benchmark module ``bench/bench_<name>.py`` exposes ``main(quick: bool = False) -> str``
returning a Markdown section; ``python -m bench [name ...]`` runs them, prints each section and
records it in ``bench/results/<name>.md``; ``bench/RESULTS.md`` is assembled from those files.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PROJECT_ROOT = BENCH_DIR.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data" / "clothing-dataset-small"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's best guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> str:
    """One Markdown line describing when and where a benchmark ran."""
    import torch

    return (
        f"{_dt.date.today().isoformat()} · {cpu_model()} · {os.cpu_count()} cores · "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads) · Python {platform.python_version()}"
    )


def time_repeated(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Seconds taken by each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def git_commit(root: Path) -> str:
    """The short commit a checkout is at ("?" when it is not a git checkout)."""
    import subprocess

    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    return done.stdout.strip() or "?"


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return statistics.median(values)


def write_result(name: str, markdown: str) -> Path:
    """Record one benchmark's Markdown section in bench/results/<name>.md and rebuild RESULTS.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    assemble_results()
    return path


def assemble_results() -> Path:
    """Concatenate bench/results/*.md into bench/RESULTS.md."""
    parts = ["# Benchmark results\n", "Each section: the command that produced it, the machine, then the figures.\n"]
    for path in sorted(RESULTS_DIR.glob("*.md")):
        parts.append(path.read_text())
    out = BENCH_DIR / "RESULTS.md"
    out.write_text("\n".join(parts))
    return out
