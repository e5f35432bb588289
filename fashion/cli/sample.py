"""``python -m fashion.cli.sample``: generate the built-in sample catalog from the command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Sequence

from fashion.config import MAX_SAMPLE_ITEMS, MAX_SAMPLE_VIEWS, MAX_SEED, SampleConfig
from fashion.data.sample import SampleError, generate_sample


def run_cli(root: Path, items: int, views: int, seed: int, image_size: int, workers: int | None,
            hard: bool = False) -> int:
    """Generate the sample and print where it went and how long it took; returns the exit code."""
    start = time.perf_counter()
    try:
        generate_sample(root, items=items, views=views, image_size=image_size, seed=seed, workers=workers, hard=hard)
    except SampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {items * views} {'hard ' if hard else ''}images ({items} items x {views} views, {image_size} px, seed {seed}) "
          f"to {root} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m fashion.cli.sample [--root data/sample] [--items N] [--views N] [--seed N] [--image-size N]``."""
    import typer  # imported here: nothing heavy happens when the module is imported

    app = typer.Typer(add_completion=False)

    @app.command(help="Generate the built-in sample catalog (DeepFashion coarse layout).")
    def command(
        root: Path = typer.Option(Path("data/sample"), "--root", help="Folder to write the sample into."),
        items: int = typer.Option(SampleConfig.items, "--items", min=1, max=MAX_SAMPLE_ITEMS, help="Number of garments."),
        views: int = typer.Option(SampleConfig.views, "--views", min=1, max=MAX_SAMPLE_VIEWS, help="Photos per garment."),
        seed: int = typer.Option(SampleConfig.seed, "--seed", min=0, max=MAX_SEED, help="Random seed (same seed, same sample)."),
        image_size: int = typer.Option(SampleConfig.image_size, "--image-size", min=32, max=1024, help="Longest image side, pixels."),
        workers: int = typer.Option(0, "--workers", min=0, help="Processes (0: one per CPU core)."),
        hard: bool = typer.Option(False, "--hard", help="View 1 a clean shop photo, the others consumer photos "
                                  "(crop, scale, rotation, lighting, clutter, occlusion)."),
    ) -> None:
        raise typer.Exit(run_cli(root, items, views, seed, image_size, workers or None, hard))

    app(args=list(argv) if argv is not None else None)


if __name__ == "__main__":
    main()
