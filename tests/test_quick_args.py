"""``recommend.py``'s quick parser (fashion/cli/quick_args.py) gives ``main`` exactly the
arguments typer gives it, and leaves every other command line to typer."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import ROOT
from fashion.cli.quick_args import quick_arguments, run_parsed


@pytest.fixture(scope="module")
def cli():
    spec = importlib.util.spec_from_file_location("recommend_quick_args", ROOT / "recommend.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def typer_arguments(cli, argv: list[str]) -> dict:
    """What typer passes on to ``run`` for ``argv`` (main's work replaced by a recorder)."""
    seen: dict = {}
    original = cli.run

    def record(**arguments):
        seen.update(arguments)
        return 0

    cli.run = record
    try:
        result = CliRunner().invoke(cli.app, argv)
    finally:
        cli.run = original
    assert result.exit_code == 0, result.output
    return seen


PLAIN = [
    ["photo.jpg"],
    ["a.jpg", "b.png", "--catalog", "shop", "--checkpoint", "runs/x/best.pt", "--index-dir", "idx", "--no-progress"],
    ["--json", "photo.jpg", "-k", "7"],
    ["photo.jpg", "--top-k=12", "--sheet", "sheet.png", "--device", "cpu", "--progress"],
    ["photo.jpg", "--set", "recommend.top_k=3", "--set", "colour.segment=false", "--config", "h.yaml"],
    ["photo.jpg", "--weights", "1,0,0", "--w-colour", "0.5", "--w-visual", "2", "--w-category=0.25"],
    ["photo.jpg", "--category", "Tee", "--colour", "navy blue", "--same-category", "--exclude-query"],
    ["photo.jpg", "--query", "red striped dress", "--garments", "--garment", "upper", "--combine"],
    ["photo.jpg", "--like", "a.jpg", "--like", "b.jpg", "--dislike", "c.jpg"],
    ["--categories"],
    ["--categories", "shirt", "--json", "--catalog", "shop"],
    ["--attributes", "print"],
    ["-q", "blue dress"],
    ["--feedback", "--feedback-export", "out.csv"],
    ["--feedback-reset"],
    ["--serve", "--host", "127.0.0.1", "--port", "8001"],
    [],
]


@pytest.mark.parametrize("argv", PLAIN, ids=lambda a: " ".join(a) or "(none)")
def test_plain_command_lines_parse_as_typer_does(cli, argv):
    quick = quick_arguments(cli.main, argv)
    assert quick is not None, "a plain command line should not need typer"
    expected = typer_arguments(cli, argv)
    assert quick == expected
    for name, value in expected.items():  # the same types too (Path, list, int, float, None)
        assert type(quick[name]) is type(value), name
        if isinstance(value, list):
            assert [type(v) for v in quick[name]] == [type(v) for v in value], name


@pytest.mark.parametrize("argv", [
    ["--help"], ["photo.jpg", "--help"], ["photo.jpg", "--top-k", "five"], ["photo.jpg", "--top-k", "-1"],
    ["photo.jpg", "-k5"], ["photo.jpg", "--no-such-option"], ["photo.jpg", "--top-k"], ["--", "-photo.jpg"],
    ["photo.jpg", "--top-k", "3", "--top-k", "4"], ["photo.jpg", "--json=yes"], ["photo.jpg", "--w-colour", "1e-3"],
    ["photo.jpg", "--catalog", ""], ["-"], ["photo.jpg", "--top-k", "0x10"], ["photo.jpg", "--port", " 80"],
])
def test_anything_else_is_left_to_typer(cli, argv):
    assert quick_arguments(cli.main, argv) is None


def test_shell_completion_is_left_to_typer(cli, monkeypatch):
    monkeypatch.setenv("_RECOMMEND.PY_COMPLETE", "bash_complete")
    assert quick_arguments(cli.main, ["photo.jpg"]) is None


def _exits(function, **arguments) -> int:
    app = typer.Typer()
    with pytest.raises(SystemExit) as done:
        run_parsed(app, function, arguments)
    return done.value.code


def test_exit_codes_as_typer_gives_them():
    def ok():
        pass

    def code(n):
        raise typer.Exit(n)

    def interrupted():
        raise KeyboardInterrupt

    def closed_pipe():
        raise BrokenPipeError(32, "Broken pipe")

    assert _exits(ok) == 0
    assert _exits(code, n=3) == 3
    assert _exits(interrupted) == 130
    assert _exits(closed_pipe) == 1


def test_an_unexpected_error_goes_to_typers_traceback_display():
    from typer import main as typer_main

    def broken():
        raise RuntimeError("boom")

    previous = sys.excepthook
    try:
        with pytest.raises(RuntimeError) as raised:
            run_parsed(typer.Typer(), broken, {})
        assert sys.excepthook is typer_main.except_hook
        assert hasattr(raised.value, typer_main._typer_developer_exception_attr_name)
    finally:
        sys.excepthook = previous


def test_recommend_py_help_and_errors_unchanged(tmp_path: Path):
    """Through the real script: typer still answers --help and bad options."""
    helped = subprocess.run([sys.executable, "recommend.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "--top-k" in helped.stdout
    bad = subprocess.run([sys.executable, "recommend.py", "photo.jpg", "--top-k", "five"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Invalid value for '--top-k'" in bad.stderr
    missing = subprocess.run([sys.executable, "recommend.py", str(tmp_path / "none.jpg"), "--checkpoint",
                              str(tmp_path / "none.pt")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
