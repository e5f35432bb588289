"""Train FashionNet: ``python train.py [--data PATH] [--epochs N] [--set section.key=value] [--resume]``.

A thin CLI: it resolves the configuration, loads the data and calls ``fashion.train.loop.fit``.
Under ``torchrun --nproc_per_node=N train.py`` it trains data-parallel.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    data: Optional[Path] = typer.Option(None, help="Dataset folder or CSV (DeepFashion, folder per class, CSV). "
                                        "Default: the built-in sample (generated if missing)."),
    config: Optional[Path] = typer.Option(None, help="Configuration file (default: hyper_parameters.yaml)."),
    epochs: Optional[int] = typer.Option(None, help="Shortcut for --set train.epochs=N."),
    batch_size: Optional[int] = typer.Option(None, help="Shortcut for --set train.batch_size=N."),
    arch: Optional[str] = typer.Option(None, help="Shortcut for --set model.arch=NAME."),
    run_name: Optional[str] = typer.Option(None, help="Shortcut for --set train.run_name=NAME."),
    set_: List[str] = typer.Option([], "--set", help="Override any setting: --set section.key=value (repeatable)."),
    resume: bool = typer.Option(False, help="Continue the run's last checkpoint exactly where it stopped."),
    overwrite: bool = typer.Option(False, help="Replace an existing run of the same name."),
    progress: bool = typer.Option(True, help="Show progress bars."),
) -> None:
    """Train on the configured dataset, report test metrics and save checkpoints in runs/<name>/."""
    # Before torch loads OpenMP: spinning worker threads stall badly when the cores are shared
    # with other processes (seen here: 8 instead of 30 images/s beside one other training job).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from fashion.cli.errors import exit_on_known_errors
    from fashion.cli.train import run_training, shortcut_overrides

    shortcuts = {"train.epochs": epochs, "train.batch_size": batch_size, "model.arch": arch,
                 "train.run_name": run_name}
    with exit_on_known_errors():
        overrides = shortcut_overrides(shortcuts, set_)
        code = run_training(config, overrides, data, resume=resume, overwrite=overwrite, show_progress=progress)
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
