"""The ``train.py`` job: resolve config, load data (generating the sample), fit, report."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from fashion.config import Config, ConfigError, command_line_overrides, load_config
from fashion.data.datasets.common import DatasetError
from fashion.data.datasets.layout import single_category_text, used_categories
from fashion.data.load import load_training_data
from fashion.io_utils import check_output_folder


def resolve_config(config_path: Path | None, overrides: Sequence[str], data: Path | None) -> Config:
    """hyper_parameters.yaml + ``--set`` overrides; ``--data`` points at user data (no sample generation)."""
    return load_config(config_path, command_line_overrides(overrides, data_overrides(data)))


def shortcut_overrides(shortcuts: dict[str, object], sets: Sequence[str]) -> list[str]:
    """``--epochs N`` and the other shortcuts as ``--set`` strings, before the ``--set`` ones; a
    setting given both ways is refused (one of the two values was silently dropped)."""
    named = {text.split("=", 1)[0].strip() for text in sets}
    given = {key: value for key, value in shortcuts.items() if value is not None}
    both = [key for key in given if key in named]
    if both:
        flags = ", ".join(f"--{key.split('.', 1)[1].replace('_', '-')} and --set {key}" for key in both)
        raise ConfigError(f"{flags} are both given: keep one")
    return [f"{key}={value}" for key, value in given.items()] + list(sets)


def data_overrides(data: Path | None) -> dict[str, object]:
    """``--data PATH`` as literal settings: the path exactly as typed (never parsed as YAML)."""
    return {} if data is None else {"data.root": str(data), "data.sample": False}


def run_training(config_path: Path | None, overrides: Sequence[str], data: Path | None, *, resume: bool,
                 overwrite: bool, show_progress: bool) -> int:
    """Run (or resume) training and print the final report; returns the process exit code."""
    from fashion.train.report import format_final_report
    from fashion.train.loop import fit, resolve_resume_config

    config = resolve_config(config_path, overrides, data)
    if resume:
        # The stored config wins, except for what this command line overrides explicitly.
        run_dir = Path(config.train.run_dir) / config.train.run_name
        extra = command_line_overrides(overrides, data_overrides(data))
        config = resolve_resume_config(run_dir, extra)
    check_output_folder(Path(config.train.run_dir) / config.train.run_name, "run folder")
    dataset = load_training_data(config)
    used = used_categories(dataset)
    if len(used) < 2:
        raise DatasetError(f"{dataset.root}: {single_category_text(dataset, used)}; a category classifier "
                           "needs images of at least two categories to learn anything")
    print(f"data: {dataset.root} ({dataset.layout}, {len(dataset.frame)} images, "
          f"{len(dataset.category_names)} categories, {len(dataset.attribute_names)} attributes)")
    result = fit(config, dataset, resume=resume, overwrite=overwrite, show_progress=show_progress)
    if result.interrupted:
        return 130
    if result.metrics:
        print(format_final_report(result.metrics))
        print(f"saved: {result.run_dir}/best.pt (and last.pt, config.yaml, metrics.json, history.csv, curves.png)")
    return 0
