"""The ``recommend.py`` jobs: recommend for query images, or look up categories / attributes.

Each job resolves the configuration and checkpoint, opens an :class:`~fashion.recommend.engine.Engine`,
and prints text (or JSON); the CLI only parses arguments and calls one of these.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashion.config import Config, load_config
from fashion.io_utils import check_output_file, check_output_folder
from fashion.io_utils import json_default


@dataclass
class Request:
    """Everything a ``recommend.py`` invocation asks for (the CLI's arguments, parsed)."""

    images: list[Path] = field(default_factory=list)
    checkpoint: Path | None = None
    catalog: Path | None = None
    index_dir: Path | None = None
    config_path: Path | None = None
    overrides: list[str] = field(default_factory=list)
    top_k: int | None = None
    as_json: bool = False
    sheet: Path | None = None
    weights: str | None = None  # --weights: "visual=1,colour=0.5" or one number per component
    weight_overrides: dict[str, float] = field(default_factory=dict)  # --w-visual etc.: {component: weight}
    category: str | None = None
    colour: str | None = None
    same_category: bool = False
    combine: bool = False
    exclude_query: bool = False
    progress: bool = True
    device: str = "auto"
    likes: list[str] = field(default_factory=list)
    dislikes: list[str] = field(default_factory=list)
    query: str | None = None  # --query: words ("red striped dress"), alone or refining the photos
    garments: bool = False  # --garments: one query per garment the segmenter finds ("shop the look")
    garment: str | None = None  # --garment PART: only that body part's garment (implies --garments)


def resolve_checkpoint(config: Config, checkpoint: Path | None) -> Path:
    """The checkpoint to use: the given one, or ``<train.run_dir>/<train.run_name>/best.pt``."""
    path = checkpoint or Path(config.train.run_dir) / config.train.run_name / "best.pt"
    if not path.is_file():
        from fashion.model.checkpoint import CheckpointError  # only here: it imports torch

        if checkpoint is None:
            raise CheckpointError(f"no trained model found ({path} is missing): run `python train.py` first")
        raise CheckpointError(f"{path}: checkpoint not found (train a model with `python train.py`)")
    return path


def open_engine(request: Request, config: Config | None = None) -> Any:
    """Configuration + checkpoint + catalog → Engine (the catalog is built or updated when needed)."""
    from fashion.recommend.engine import Engine

    config = config or load_config(request.config_path, request.overrides)
    checkpoint = resolve_checkpoint(config, request.checkpoint)
    if request.index_dir is not None:
        check_output_folder(request.index_dir, "--index-dir")
    return Engine.open(checkpoint, request.catalog, config, index_dir=request.index_dir, device=request.device,
                       progress=request.progress)


def run_recommend(request: Request) -> int:
    """Recommend for each query image (or for all of them combined); print a table or JSON."""
    from fashion.recommend.explain import format_query, format_results
    from fashion.data.images import check_query_picture, load_image
    from fashion.recommend.recommender import Filters, RecommendError, Weights

    for option, value in (("--category", request.category), ("--colour", request.colour)):
        if value is not None and not value.strip():  # an empty filter was ignored: all items shown
            raise RecommendError(f"{option} is empty: give a name, or leave the option out")
    judged_both = sorted(set(request.likes) & set(request.dislikes))
    if judged_both:
        raise RecommendError(f"--like and --dislike both name {', '.join(judged_both)}: give each item one of them")
    if request.query is not None and not request.images:
        return run_words(request)
    if not request.images:
        raise RecommendError("give one or more query images (or --query WORDS, --categories / --attributes)")
    if request.top_k is not None and request.top_k < 1:
        raise RecommendError("--top-k must be at least 1")
    config = load_config(request.config_path, request.overrides)
    if request.sheet is not None:  # before any work: a folder or read-only place is one line now
        check_output_file(request.sheet, "--sheet", suffix=".png",
                          inputs=[*request.images, *([request.checkpoint] if request.checkpoint else [])])
    # Check the query files before a possibly long catalog build.
    pictures = [load_image(path, max_pixels=config.data.max_image_pixels) for path in request.images]
    for path, picture in zip(request.images, pictures):
        check_query_picture(picture, path)
    explicit_weights = bool(request.weights) or any(w is not None for w in request.weight_overrides.values())
    weights = Weights.from_config(config.recommend)
    if request.weights:
        weights = Weights.parse(request.weights, weights)
    weights = weights.with_overrides(**request.weight_overrides)
    filters = Filters(category=request.category, colour=request.colour, same_category=request.same_category)
    if request.colour:
        _check_colour_name(request.colour)
    garment_mode = request.garments or request.garment is not None
    if garment_mode:
        from fashion.recommend.garments import GARMENT_PARTS

        if request.combine:
            raise RecommendError("--garments recommends for each garment of a photo; it does not go with --combine")
        if request.garment is not None and request.garment not in GARMENT_PARTS:
            raise RecommendError(f"--garment must be one of {', '.join(GARMENT_PARTS)}, got {request.garment!r}")

    engine = open_engine(request, config)
    from fashion.feedback.session import FeedbackSession

    feedback = FeedbackSession.open(engine, required=bool(request.likes or request.dislikes))
    if (request.likes or request.dislikes) and feedback is None:
        raise RecommendError("feedback is switched off (feedback.enabled=false); --like/--dislike need it")
    words = _read_words(engine, request.query) if request.query is not None else None
    garments: list[Any] = []  # per query: its GarmentQuery in --garments mode
    if garment_mode:
        from fashion.data.images import crop_to_bbox

        crops = []
        for path, picture in zip(request.images, pictures):
            for garment in engine.describe_garments(path, request.garment):
                garments.append(garment)
                crops.append(crop_to_bbox(picture, garment.box))
        queries, pictures = [g.query for g in garments], crops
    else:
        queries = engine.describe(request.images)
    own_keys = [q.key for q in queries if q.key]
    if request.combine and len(queries) > 1:
        queries = [engine.combine(queries)]
        pictures = [pictures[0]]
    answers = []
    word_totals = None  # the words' score of every catalog row: once, it does not depend on the photo
    if words is not None:
        from fashion.recommend.words import apply_words_to_photo, score_rows

        word_totals = score_rows(words, engine.recommender)[0]
    for query in queries:
        exclude = [] if not request.exclude_query else ([query.key] if query.key else own_keys)
        query_weights, adjustments, rerank = weights, None, None
        if feedback is not None:
            if request.likes or request.dislikes:
                # Events carry the scores the shopper saw: those of the ranking before this feedback.
                shown_query, shown_weights, _ = feedback.adapt(query, weights if explicit_weights else None)
                count = feedback.record(shown_query, shown_weights, request.likes, request.dislikes)
                print(f"recorded {count} feedback event(s); re-ranked:", file=sys.stderr)
            refined, query_weights, adjustments = feedback.adapt_session(query, weights if explicit_weights else None)
            query, exclude, rerank = refined.query, exclude + refined.exclude, refined.rerank
        if words is not None:  # "like this, but in blue": see fashion.recommend.words.refine_photo_query
            query, exclude, adjustments = apply_words_to_photo(engine.recommender, query, words, request.top_k,
                                                               exclude, adjustments, word_totals)
        results = engine.recommend(query, top_k=request.top_k, weights=query_weights, filters=filters,
                                   exclude=exclude, adjustments=adjustments, rerank=rerank)
        answers.append((query, results))
        weights = query_weights

    catalog = engine.describe_catalog()
    used = weights.normalised().as_dict()
    if request.as_json:
        payload = {"catalog": catalog, "weights": used, "filters": filters.as_dict(),
                   "queries": [{"query": q.to_dict(), "results": [r.to_dict() for r in rs]} for q, rs in answers]}
        for entry, garment in zip(payload["queries"], garments):
            entry["garment"] = garment.to_dict()
        if words is not None:
            payload["words"] = words.to_dict()
            for entry, (_, rs) in zip(payload["queries"], answers):
                for result, matched in zip(entry["results"], _words_matched(engine, words, rs)):
                    result["matched"] = matched
        print(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False, default=json_default))
    else:
        blocks = [format_query(q) + "\n" + format_results(rs, catalog, used, filters.as_dict()) for q, rs in answers]
        if garments:
            blocks = [_garment_header(g, n + 1, len(garments)) + "\n" + block
                      for n, (g, block) in enumerate(zip(garments, blocks))]
        if words is not None:
            blocks = [block + "\n" + _words_block(engine, words, rs) for block, (_, rs) in zip(blocks, answers)]
        print("\n\n".join(blocks))
    if request.sheet is not None:
        from fashion.recommend.sheet import write_contact_sheet

        written = write_contact_sheet(request.sheet, [(q, p, rs) for (q, rs), p in zip(answers, pictures)])
        print(f"contact sheet: {written}", file=sys.stderr if request.as_json else sys.stdout)
    return 0


def _garment_header(garment: Any, number: int, total: int) -> str:
    """``garment 1 of 2: upper body (61% of the garment pixels, box 40,80-300,410)``."""
    x0, y0, x1, y1 = garment.box
    part = {"upper": "upper body", "lower": "lower body", "full": "full body", "garment": "the whole garment"}.get(
        garment.part, garment.part)
    return (f"garment {number} of {total}: {part} ({garment.share:.0%} of the garment pixels, "
            f"box {x0},{y0}-{x1},{y1})")


def run_words(request: Request) -> int:
    """``--query WORDS`` without a photo: the catalog ranked by the words, explained (table or JSON)."""
    from fashion.recommend.recommender import Filters, RecommendError
    from fashion.recommend.words import format_word_results, search

    if request.top_k is not None and request.top_k < 1:
        raise RecommendError("--top-k must be at least 1")
    if not request.query or not request.query.strip():  # before any catalog work
        _read_words(None, request.query)
    if request.colour:
        _check_colour_name(request.colour)
    filters = Filters(category=request.category, colour=request.colour)
    engine = open_engine(request)
    words = _read_words(engine, request.query)
    results = search(engine.recommender, words, top_k=request.top_k, filters=filters)
    catalog = engine.describe_catalog()
    if request.as_json:
        payload = {"catalog": catalog, "filters": filters.as_dict(), "words": words.to_dict(),
                   "results": [r.to_dict() for r in results]}
        print(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False, default=json_default))
    else:
        print(format_word_results(words, results, catalog, filters.as_dict()))
    return 0


def _read_words(engine: Any, text: str | None) -> Any:
    """The words read against the engine's model labels; a clear error when nothing is searchable."""
    from fashion.model.labels import Labels
    from fashion.recommend.words import Vocabulary

    labels = engine.loaded.labels if engine is not None else Labels([], [], [], [])
    words = Vocabulary(labels).parse(text or "").require_terms()
    if words.unknown:
        print(f"note: {words.unknown_message()} — not used", file=sys.stderr)
    return words


def _words_matched(engine: Any, words: Any, results: list[Any]) -> list[list[str]]:
    from fashion.recommend.words import explain_rows

    return explain_rows(engine.recommender, words, [r.row for r in results])


def _words_block(engine: Any, words: Any, results: list[Any]) -> str:
    """Lines under a photo query's table: how the words were read and what each result matched."""
    lines = [f"words: {words.text!r} (score + {len(words.terms)} matched part(s); see --query)"]
    lines += [f"  {note}" for note in words.notes()]
    lines += [f"  #{r.rank}: {'; '.join(m)}" for r, m in zip(results, _words_matched(engine, words, results))]
    return "\n".join(lines)


def run_lookup(request: Request, kind: str, text: str) -> int:
    """``--categories [TEXT]`` / ``--attributes [TEXT]``: list matching names with catalog counts."""
    from fashion.recommend.explain import format_attributes, format_categories

    rows = _lookup_without_model(request, kind, text)  # no torch when the index is current
    if rows is None:
        engine = open_engine(request)
        rows = engine.categories(text) if kind == "categories" else engine.attributes(text)
    if request.as_json:
        print(json.dumps({kind: rows}, indent=2, ensure_ascii=False))
    elif kind == "categories":
        print(format_categories(rows, text))
    else:
        print(format_attributes(rows, text))
    return 0


def _lookup_without_model(request: Request, kind: str, text: str) -> list[dict[str, Any]] | None:
    """The lookup's rows from the checkpoint's sidecar and a current index, without torch; None
    when the model must be opened (no sidecar yet, or the index is missing, stale or foreign)."""
    from fashion.index.builder import open_current_catalog
    from fashion.index.catalog import default_index_dir
    from fashion.recommend.lookup import attribute_rows, category_rows

    config = load_config(request.config_path, request.overrides)
    checkpoint = resolve_checkpoint(config, request.checkpoint)
    if request.index_dir is not None:
        check_output_folder(request.index_dir, "--index-dir")
    folder = Path(request.catalog).expanduser() if request.catalog is not None else None
    directory = request.index_dir if request.index_dir is not None else default_index_dir(checkpoint, folder)
    opened = open_current_catalog(checkpoint, config, Path(directory), folder)
    if opened is None:
        return None
    catalog, labels = opened
    if kind == "categories":
        return category_rows(labels, catalog, text)
    return attribute_rows(labels, catalog, config.recommend.attribute_threshold, text)


def run_feedback(request: Request, action: str, export: Path | None = None) -> int:
    """``--feedback`` (summary), ``--feedback-export PATH`` (CSV) or ``--feedback-reset`` for the catalog."""
    from fashion.feedback.session import FeedbackSession
    from fashion.recommend.recommender import RecommendError

    if export is not None:
        check_output_file(export, "--feedback-export", suffix=".csv")
    engine = open_engine(request)
    session = FeedbackSession.open(engine, required=True)
    if session is None:
        raise RecommendError("feedback is switched off (feedback.enabled=false)")
    if action == "export":
        rows = session.store.export_csv(export, session.catalog_key)
        print(f"wrote {rows} feedback events to {export}")
    elif action == "reset":
        print(f"removed {session.store.reset(session.catalog_key)} feedback events (learned weights too)")
    else:
        summary = session.summary()
        print(json.dumps(summary, indent=2, default=json_default) if request.as_json else _format_summary(summary))
    return 0


def _format_summary(summary: dict[str, Any]) -> str:
    """The feedback summary as a few readable lines."""
    lines = [f"feedback events: {summary.get('events', 0)} ({summary.get('likes', 0)} likes, "
             f"{summary.get('dislikes', 0)} dislikes) over {summary.get('queries', 0)} queries"]
    for key, title in (("most_liked", "most liked"), ("most_disliked", "most disliked")):
        items = summary.get(key) or []
        if items:
            lines.append(f"{title}: " + ", ".join(f"{i['item']} (+{i['likes']}/-{i['dislikes']})" for i in items))
    weights = summary.get("learned_weights")
    lines.append(f"learned weights: {weights}" if weights else "learned weights: none yet (defaults in use)")
    return "\n".join(lines)


def _check_colour_name(name: str) -> None:
    """Fail early (before any catalog build) on a colour name the filter would not know."""
    from fashion.colour.names import is_colour_family, lab_for_name
    from fashion.recommend.recommender import RecommendError

    if not is_colour_family(name):
        try:
            lab_for_name(name)
        except ValueError as error:
            raise RecommendError(str(error)) from None
