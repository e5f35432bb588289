"""Evaluate a checkpoint: ``python -m fashion.cli.evaluate --checkpoint runs/sample/best.pt [--data PATH] [--out DIR]``.

Classification metrics, then recommendation metrics at k = 1, 5, 10 (category precision, colour
agreement and mean dE2000, attribute overlap, same-item recall) for random, visual-only,
colour-only, category-only, the configured blend and the blend tuned on the validation split.
Writes ``metrics.json``, ``metrics.csv``, ``grid_search.csv`` and ``metrics_vs_k.png`` to
``--out`` (default ``<run>/evaluation/``). A thin CLI over :mod:`fashion.evaluate.run`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, help=__doc__)


def _splits(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("+", ",").split(",") if part.strip())


@app.command()
def main(
    checkpoint: Path = typer.Option(..., help="Model checkpoint, e.g. runs/sample/best.pt."),
    data: Optional[Path] = typer.Option(None, help="Labelled dataset (default: the checkpoint's training data, "
                                        "split the same way)."),
    out: Optional[Path] = typer.Option(None, help="Output folder (default: <run>/evaluation/)."),
    config: Optional[Path] = typer.Option(None, help="Configuration file for the blend, colour and batch settings "
                                          "(default: hyper_parameters.yaml)."),
    set_: List[str] = typer.Option([], "--set", help="Override a setting: --set section.key=value (repeatable), "
                                   "e.g. recommend.weights.colour=0.3 or colour.match_delta_e=10."),
    queries: str = typer.Option("test", help="Query split(s): train, val, test (comma-separated)."),
    gallery: str = typer.Option("test", help="Gallery split(s); a query's own image is always excluded."),
    tune: str = typer.Option("val", help="Split for the blend-weight grid search ('none' to skip). Never test "
                             "when test is the query split."),
    ks: str = typer.Option("1,5,10", help="Cut-offs k, comma-separated."),
    grid_step: float = typer.Option(0.1, help="Grid step of the weight search (weights sum to 1)."),
    objective: str = typer.Option("mean", help="What the grid search maximises at the largest k: mean, "
                                  "category_precision, colour_agreement, attribute_overlap, same_item_recall."),
    seed: int = typer.Option(0, help="Seed of the random-ranking baseline."),
    pool: bool = typer.Option(True, help="Blends re-rank the visual top max(k) x recommend.candidate_multiple, "
                              "as the recommender does (--no-pool: the whole gallery)."),
    progress: bool = typer.Option(True, help="Show a progress bar while embedding."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
) -> None:
    """Measure classification and recommendation quality, with baselines, from one set of features."""
    # Before torch loads OpenMP: spinning threads stall badly when the cores are shared.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from fashion.cli.errors import exit_on_known_errors
    from fashion.evaluate.run import EvalOptions, EvaluationError, run_evaluation

    with exit_on_known_errors():
        try:
            cutoffs = tuple(int(k) for k in ks.split(",") if k.strip())
        except ValueError:
            raise EvaluationError(f"--ks must be comma-separated integers, got {ks!r}") from None
        tune_split = None if tune.strip().lower() in ("", "none") else tune.strip()
        if tune_split and tune_split in _splits(queries):
            raise EvaluationError(f"--tune {tune_split} is also a query split: weights must be tuned on other data")
        options = EvalOptions(queries=_splits(queries), gallery=_splits(gallery), tune=tune_split, ks=cutoffs,
                              grid_step=grid_step, objective=objective, seed=seed, pool=pool)
        run_evaluation(checkpoint, data=data, out=out, overrides=list(set_), config_path=config, options=options,
                       device=device, progress=progress)


if __name__ == "__main__":
    app()
