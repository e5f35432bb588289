"""The scripts (scripts/*.py) refuse bad arguments in one line before any work: numbers that make
no sense, an output that is a folder, a missing or damaged checkpoint. No training runs here."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from conftest import run_cli


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--epochs", "-1"], "argument --epochs: '-1' must be at least 1"),
    (["--epochs", "two"], "argument --epochs: 'two' is not a whole number"),
    (["--batch-size", "0"], "argument --batch-size: '0' must be at least 1"),
    (["--lr", "nan"], "argument --lr: 'nan' must be a finite number"),
    (["--lr", "0"], "argument --lr: '0' must be above 0"),
    (["--class-weight-power", "inf"], "argument --class-weight-power: 'inf' must be a finite number"),
])
def test_train_segmenter_refuses_bad_numbers(argv, fragment, capsys):
    from scripts.train_segmenter import parse_args

    with pytest.raises(SystemExit) as caught:
        parse_args(argv)
    assert caught.value.code == 2
    assert fragment in capsys.readouterr().err


def test_train_segmenter_refuses_a_folder_as_out_before_training(tmp_path, capsys):
    """It used to train for minutes, then fail to save with torch's traceback (work lost)."""
    from scripts.train_segmenter import main

    with pytest.raises(SystemExit) as caught:
        main(["--out", str(tmp_path), "--ccp", str(tmp_path / "no-ccp")])
    assert caught.value.code == 1
    assert f"--out {tmp_path} is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("value, fragment", [("nan", "must be a finite number"), ("-1", "must be above 0")])
def test_train_person_test_refuses_a_bad_c(value, fragment, capsys):
    from scripts.train_person_test import parse_args

    with pytest.raises(SystemExit) as caught:
        parse_args(["--c", value])
    assert caught.value.code == 2 and fragment in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--epochs", "0"], "0 must be at least 1"),
    (["--minutes", "nan"], "nan must be a finite number of minutes above 0"),
    (["--minutes", "-3"], "must be a finite number of minutes above 0"),
])
def test_real_run_refuses_bad_budgets_before_training(argv, fragment):
    from scripts.real_run import app

    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert fragment in " ".join(result.output.split()), result.output  # typer's box wraps lines
    assert "Traceback" not in result.output


def test_metric_retrieval_names_a_missing_or_damaged_checkpoint(tmp_path):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a checkpoint")
    for path, fragment in ((tmp_path / "missing.pt", "checkpoint not found"), (damaged, "not a readable")):
        result = run_cli(["scripts/metric_retrieval.py", str(path)])
        assert result.returncode == 1
        assert result.stderr.strip().startswith(f"error: {path}: {fragment}") and "Traceback" not in result.stderr


def test_segmenter_weights_are_saved_atomically_with_the_archive_named_after_the_file(tmp_path):
    """The shipped weights' archive folder is "segmenter/": an atomic save must keep it (same bytes)."""
    import zipfile

    import torch

    from scripts.train_segmenter import save_weights

    path = tmp_path / "segmenter.pt"
    path.write_bytes(b"the previous weights")
    save_weights({"state_dict": {"w": torch.ones(3)}}, path)
    assert zipfile.ZipFile(path).namelist()[0].startswith("segmenter/")
    assert torch.load(path, weights_only=True)["state_dict"]["w"].sum() == 3
    assert [p.name for p in tmp_path.iterdir()] == ["segmenter.pt"]  # no temporary folder left


@pytest.mark.parametrize(("argv", "code", "fragment"), [
    (["--quik"], 2, "unknown option(s): --quik"),
    (["nosuch"], 2, "unknown benchmark(s): nosuch"),
    (["--help"], 0, "usage: python -m bench"),
])
def test_bench_runner_refuses_what_it_does_not_know(argv, code, fragment, capsys):
    """A misspelt option used to be ignored, and every benchmark started at full size."""
    from bench.__main__ import main

    assert main(argv) == code
    captured = capsys.readouterr()
    assert fragment in captured.out + captured.err
