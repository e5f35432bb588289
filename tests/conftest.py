"""Shared fixtures: a tiny generated sample and a tiny trained run, built once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Tiny settings: the whole suite must run in minutes on 2 CPU cores.
TINY_SAMPLE = ["sample.items=24", "sample.views=3", "sample.image_size=64", "sample.seed=1"]
TINY_MODEL = ["model.image_size=32", "train.batch_size=16", "train.epochs=1", "train.workers=0",
              "catalog.batch_size=16"]


def overrides_args(pairs: list[str]) -> list[str]:
    """["a.b=1", ...] → ["--set", "a.b=1", ...] for the CLIs."""
    args: list[str] = []
    for pair in pairs:
        args += ["--set", pair]
    return args


def run_cli(args: list[str], cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a project CLI (``train.py``, ``recommend.py``, ``-m fashion.x``) with this interpreter."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def fitted_weights(tiny_sample: Path, run_dir: Path, name: str, overrides: list[str]) -> dict:
    """The model weights after ``fit`` of 3 batches of 8 on the tiny sample with ``overrides`` (same seed
    every call, so two calls differ only by what the overrides change)."""
    from fashion.config import load_config
    from fashion.data.load import load_training_data
    from fashion.model.checkpoint import read_checkpoint
    from fashion.train.loop import fit

    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + [
        f"data.root={tiny_sample}", f"train.run_dir={run_dir}", "train.batch_size=8", "train.max_train_batches=3",
        f"train.run_name={name}", *overrides])
    fit(config, load_training_data(config), show_progress=False)
    return read_checkpoint(run_dir / name / "last.pt")["model"]


def weights_differ(first: dict, second: dict) -> bool:
    """Whether any weight tensor of two state dicts differs."""
    import torch

    return any(not torch.allclose(first[key].float(), second[key].float()) for key in first if key.endswith("weight"))


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory) -> Path:
    """A tiny built-in sample (24 items x 3 views, 64 px)."""
    from fashion.config import load_config
    from fashion.data.sample import ensure_sample

    root = tmp_path_factory.mktemp("data") / "sample"
    ensure_sample(root, load_config(overrides=TINY_SAMPLE).sample)
    return root


@pytest.fixture(scope="session")
def tiny_run(tiny_sample, tmp_path_factory) -> Path:
    """A run trained for one epoch on the tiny sample through ``python train.py``; returns the run folder."""
    runs = tmp_path_factory.mktemp("runs")
    result = run_cli(["train.py", "--no-progress", *overrides_args(
        TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", f"train.run_dir={runs}", "train.run_name=tiny"])])
    assert result.returncode == 0, result.stdout + result.stderr
    return runs / "tiny"
