"""Recommend catalog items that look like a photo: ``python recommend.py image.jpg [more.jpg ...]``.

Prints the query's predicted category, attributes and colours, then the best catalog items with
their blended score (visual + category + colour) and why. The catalog (by default the test split
of the model's training data; ``--catalog DIR`` for a folder of your own images) is indexed on
first use and updated incrementally afterwards.

Search by words: ``python recommend.py --query "red striped midi dress"`` (alone, or with photos to refine them).
Lookups: ``python recommend.py --categories [TEXT]`` and ``python recommend.py --attributes [TEXT]``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    images: List[Path] = typer.Argument(None, help="Query image(s); with --categories/--attributes: the search text.",
                                        show_default=False),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", help="Results per query (default: recommend.top_k)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    sheet: Optional[Path] = typer.Option(None, help="Write a contact sheet PNG (query, results, scores, colours) to a name ending in .png."),
    checkpoint: Optional[Path] = typer.Option(None, help="Model checkpoint (default: runs/<train.run_name>/best.pt)."),
    catalog: Optional[Path] = typer.Option(None, help="Folder of images to recommend from (default: the test split "
                                           "of the model's training data). A metadata.csv beside them (path, name, "
                                           "category, item_id) is used when present."),
    index_dir: Optional[Path] = typer.Option(None, help="Where the catalog index lives (default: under the run folder)."),
    config: Optional[Path] = typer.Option(None, help="Configuration file (default: hyper_parameters.yaml)."),
    set_: List[str] = typer.Option([], "--set", help="Override a setting: --set section.key=value (repeatable)."),
    weights: Optional[str] = typer.Option(None, help="Blend weights by score component, 'colour=0.5,visual=1' "
                                          "(others keep recommend.weights), or one number per component in "
                                          "registry order 'visual,category,colour' (e.g. 1,0,0); normalised to "
                                          "sum to 1."),
    w_visual: Optional[float] = typer.Option(None, "--w-visual", help="Weight of visual similarity "
                                             "(= --weights visual=X)."),
    w_category: Optional[float] = typer.Option(None, "--w-category", help="Weight of category agreement "
                                               "(= --weights category=X)."),
    w_colour: Optional[float] = typer.Option(None, "--w-colour", help="Weight of colour similarity "
                                             "(= --weights colour=X)."),
    category: Optional[str] = typer.Option(None, help="Only items of this category (catalog label or predicted)."),
    colour: Optional[str] = typer.Option(None, help="Only items with this colour: a family (red, blue, ...) or a "
                                         "CSS4 name (navy, beige, ...)."),
    same_category: bool = typer.Option(False, "--same-category", help="Only items of the query's predicted category."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Search by words: category, attribute and colour "
                                        "names ('red striped midi dress'); with query images it refines them "
                                        "('like this, but in blue': photo.jpg --query blue)."),
    garments: bool = typer.Option(False, "--garments", help="Shop the look: find the garments in each photo "
                                  "(upper, lower, full body, other) and recommend for each one separately."),
    garment: Optional[str] = typer.Option(None, "--garment", help="Only this garment of each photo: upper | lower "
                                          "| full | other (implies --garments)."),
    combine: bool = typer.Option(False, "--combine", help="Treat several query images as one query (mean of their features)."),
    exclude_query: bool = typer.Option(False, "--exclude-query", help="Leave the query image out when it is itself "
                                       "in the catalog."),
    categories: bool = typer.Option(False, "--categories", help="List categories (id, name, body part, catalog "
                                    "items) whose name contains the given text."),
    attributes: bool = typer.Option(False, "--attributes", help="List attributes (id, name, type, catalog items) "
                                    "whose name or type contains the given text."),
    like: List[str] = typer.Option([], "--like", help="Record that you like this result (its path as shown); "
                                   "repeatable. Prints the re-ranked list."),
    dislike: List[str] = typer.Option([], "--dislike", help="Record that you dislike this result; repeatable."),
    feedback: bool = typer.Option(False, "--feedback", help="Summarise the recorded feedback (and learned weights)."),
    feedback_export: Optional[Path] = typer.Option(None, "--feedback-export", help="Write the feedback as CSV (a name ending in .csv)."),
    feedback_reset: bool = typer.Option(False, "--feedback-reset", help="Delete the catalog's recorded feedback."),
    progress: bool = typer.Option(True, help="Show a progress bar while indexing the catalog."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    serve: bool = typer.Option(False, "--serve", help="Serve the web page and JSON API (model and catalog loaded "
                               "once; API docs at /docs)."),
    host: Optional[str] = typer.Option(None, help="--serve: address to bind (default web.host: 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, help="--serve: port (default web.port: 8000)."),
) -> None:
    """Recommend visually similar catalog items for each query image, explained."""
    raise typer.Exit(run(**locals()))  # locals(): exactly the parameters above


def run(images: List[Path] | None, top_k: Optional[int], as_json: bool, sheet: Optional[Path],
        checkpoint: Optional[Path], catalog: Optional[Path], index_dir: Optional[Path], config: Optional[Path],
        set_: List[str], weights: Optional[str], w_visual: Optional[float], w_category: Optional[float],
        w_colour: Optional[float], category: Optional[str], colour: Optional[str], same_category: bool,
        query: Optional[str], garments: bool, garment: Optional[str], combine: bool, exclude_query: bool,
        categories: bool, attributes: bool, like: List[str], dislike: List[str], feedback: bool,
        feedback_export: Optional[Path], feedback_reset: bool, progress: bool, device: str, serve: bool,
        host: Optional[str], port: Optional[int]) -> int:
    """``main``'s work with its parsed arguments; returns the exit code."""
    # Before torch loads OpenMP: threads that spin while waiting stall badly when the cores are
    # shared (a DataLoader worker, other processes): 1.2 s instead of 20 ms for one image here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if serve:  # the address first, before anything slow loads: a bad one is one line within a second
        from fashion.cli.errors import exit_on_known_errors as _exit_on_errors
        from fashion.config import load_config as _load_config
        from fashion.web.address import check_address

        with _exit_on_errors():
            web = _load_config(config, list(set_)).web
            check_address(host or web.host, web.port if port is None else port)
    from fashion.cli.errors import exit_on_known_errors
    from fashion.cli.recommend import Request, run_feedback, run_lookup, run_recommend

    request = Request(
        images=list(images or []), checkpoint=checkpoint, catalog=catalog, index_dir=index_dir, config_path=config,
        overrides=list(set_), top_k=top_k, as_json=as_json, sheet=sheet, weights=weights,
        weight_overrides={"visual": w_visual, "category": w_category, "colour": w_colour}, category=category, colour=colour, same_category=same_category,
        combine=combine, exclude_query=exclude_query, progress=progress, device=device,
        likes=list(like), dislikes=list(dislike), garments=garments, garment=garment, query=query,
    )

    with exit_on_known_errors():
        try:
            if serve:
                from fashion.config import load_config
                from fashion.cli.recommend import resolve_checkpoint
                from fashion.web.app import serve as serve_web

                settings = load_config(request.config_path, request.overrides)
                serve_web(resolve_checkpoint(settings, request.checkpoint), request.catalog, settings, host=host,
                          port=port, index_dir=request.index_dir, device=request.device, progress=request.progress)
                code = 0
            elif feedback or feedback_export or feedback_reset:
                action = "export" if feedback_export else "reset" if feedback_reset else "summary"
                code = run_feedback(request, action, feedback_export)
            elif categories or attributes:
                text = " ".join(str(p) for p in request.images)
                code = run_lookup(request, "categories" if categories else "attributes", text)
            else:
                code = run_recommend(request)
        except KeyboardInterrupt:
            typer.echo("interrupted (an unfinished catalog build resumes where it stopped)", err=True)
            code = 130
    return code


if __name__ == "__main__":
    # The plain command lines are parsed without building typer's command (~0.1 s of a cold
    # start); help, errors and anything unusual go to typer as always (fashion/cli/quick_args.py).
    from fashion.cli.quick_args import quick_arguments, run_parsed

    parsed = quick_arguments(main, sys.argv[1:])
    if parsed is None:
        app()
    else:
        run_parsed(app, main, parsed)
