"""The web page and JSON API: ``create_app(engine, config) -> FastAPI`` and ``serve(...)``.

Endpoints (the OpenAPI page is at ``/docs``, the schema at ``/openapi.json``):

* ``GET /`` — the page (plain HTML, CSS and JavaScript from ``fashion/web/static``);
* ``POST /recommend`` — multipart: one or more photos in the field ``image`` (or ``query_id``
  of a photo described before, to re-rank without uploading it again), ``top_k``, ``weights``
  (``"0.6,0.25,0.15"`` or ``"colour=1"`` as ``recommend.py --weights``), one ``w_<component>``
  field per score component (``w_visual``, ``w_category``, ``w_colour``, ...), ``category``,
  ``colour``, ``same_category``, ``combine``.
  The answer is ``recommend.py --json``'s, plus ``query_id`` on each query and ``id`` (the
  catalog row, for ``/items/{id}/image``) on each result;
* ``GET /categories?q=`` / ``GET /attributes?q=`` — the lookups of ``recommend.py --categories``;
* ``GET /colours`` — the colour families the colour filter knows;
* ``GET /components`` — the registered score components (name, label, description, default and
  configured weight): what the page builds its sliders from;
* ``GET /items/{id}/image`` — a catalog image by its row number (never by a path);
* ``POST /feedback`` — like / dislike of a shown item, stored in the feedback store;
* ``GET /health`` — liveness, catalog, model, limits and defaults.

Safety: uploads larger than ``web.max_upload_mb`` are refused with 413 before they are read in
full (at once when ``Content-Length`` says so), files that are not images with 415, images with
more than ``data.max_image_pixels`` pixels (decompression bombs) with 413 before they are
decoded; every error is JSON ``{"error": "..."}`` and never holds a traceback (those go to the
server's log). ``serve`` binds to 127.0.0.1 unless told otherwise and then also refuses requests
whose ``Host`` is not a loopback name (DNS rebinding).

Describing an upload (decode, segmentation, palette, network) costs tens of milliseconds of
CPU; with ``web.describe_workers`` worker processes (one per core by default, started by
``serve``) uploads are described in parallel while this process only parses requests, searches
and answers.

This module holds the routes (``create_app``) and the server (``serve``); beside it:
``responses`` (JSON answers and errors), ``middleware`` (upload/body limits, Host check,
headers), ``workers`` (describe workers, the query LRU), ``feedback_writer`` (the store's
writer thread), ``sessions`` (each shopper's likes), ``address`` (the address check before
start-up) and ``static/`` (the page).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import signal
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Sequence

from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from fashion.config import Config
from fashion.errors import FashionError
from fashion.web.address import check_address
from fashion.web.feedback_writer import FeedbackIn, FeedbackWriter
from fashion.web.middleware import MB, Guard
from fashion.web.responses import (
    JSON,
    ApiError,
    _component_fields,
    _error,
    _image_error_status,
    _json_syntax_message,
    _validation_message,
    refuse_unknown_parameters,
)
from fashion.web.workers import Describer, QueryCache, default_describe_workers, single_threaded_blas

if TYPE_CHECKING:
    from fashion.recommend.engine import Engine
    from fashion.feedback.store import FeedbackStore
    from fashion.recommend.recommender import Query
    from fashion.recommend.words import WordQuery

STATIC_DIR = Path(__file__).resolve().parent / "static"
JSON_BODY_LIMIT = 64 * 1024  # POST /feedback and any other JSON body
PREPARE_EXPLANATIONS_MAX = 50_000  # catalogs up to this size have every row's explanation ready at start
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
QUERY_ID = re.compile(r"^[0-9a-f]{64}$")
ITEM_ID = re.compile(r"^[0-9]{1,12}$")
MAX_WORDS_CHARS = 500  # a search's words (the page's search box has the same maxlength)
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
               ".gif": "image/gif", ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff"}

log = logging.getLogger("fashion.web")


# ---------------------------------------------------------------------------------------------
# The application


def create_app(engine: "Engine", config: Config | None = None,
               feedback_store: "FeedbackStore | str | Path | None" = None, *,
               checkpoint: str | Path | None = None, describe_workers: int | None = None,
               allowed_hosts: Sequence[str] | None = None) -> FastAPI:
    """The FastAPI application answering from ``engine`` (opened once, kept warm).

    ``config``: the ``web`` limits (default: the engine's configuration). ``feedback_store``: a
    :class:`~fashion.feedback.store.FeedbackStore` (or its path) for ``POST /feedback``; by default
    ``<catalog index>/<feedback.filename>`` when ``feedback.enabled``. ``checkpoint`` (the
    engine's checkpoint file) lets ``describe_workers`` worker processes (default
    ``web.describe_workers`` when a checkpoint is given, else 0) describe uploads.
    ``allowed_hosts``: when given, requests for any other ``Host`` are refused.
    """
    from fashion.colour.names import COLOUR_FAMILIES
    from fashion.feedback.store import DISLIKE, LIKE, FeedbackEvent, FeedbackError, make_catalog_key
    from fashion.data.images import ImageLoadError
    from fashion.recommend.components import components as registered_components
    from fashion.recommend.recommender import Filters, RecommendError, Weights, blend
    from fashion.web.sessions import COOKIE, Sessions

    config = config or engine.config
    web = config.web
    upload_limit = int(web.max_upload_mb * MB)
    workers = default_describe_workers(web.describe_workers if describe_workers is None else describe_workers)
    describer = Describer(engine, workers if checkpoint is not None else 0, checkpoint)
    queries = QueryCache(web.query_cache)
    sessions = Sessions()  # each shopper's refinement (fashion/web/sessions.py)
    catalog_key = make_catalog_key(engine.catalog.directory, engine.loaded.checksum)
    if feedback_store is None and engine.config.feedback.enabled:
        feedback_store = engine.catalog.directory / engine.config.feedback.filename
    feedback: FeedbackWriter | None = None
    if feedback_store is not None:
        path = getattr(feedback_store, "path", feedback_store)
        feedback = FeedbackWriter(Path(path), getattr(feedback_store, "timeout", 30.0))

    def prepare_explanations() -> None:
        # Every row's explanation facts (colour names, ...) while the workers start: answers then
        # explain from memory (issue 17). Larger catalogs keep what their answers work out.
        if len(engine.catalog) <= PREPARE_EXPLANATIONS_MAX:
            engine.recommender.prepare_explanations()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.gather(describer.start(), run_in_threadpool(prepare_explanations))
        try:
            yield
        finally:
            describer.close()
            if feedback is not None:
                feedback.close()

    app = FastAPI(
        title="fashion: visually similar catalog items",
        version="1",
        description="Upload a clothing photo; get catalog items that look like it, with the visual, category "
                    "and colour parts of each score. The page is at `/`.",
        default_response_class=JSON,
        lifespan=lifespan,
        # FastAPI's /docs and /redoc load their scripts from a CDN (a blank page offline): /docs is
        # served below as a self-contained page built from the same OpenAPI schema.
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(refuse_unknown_parameters)],
    )
    app.state.engine = engine
    app.state.describer = describer
    app.state.queries = queries
    app.state.catalog_key = catalog_key
    app.state.feedback = feedback

    def limit_for(method: str, path: str) -> int:
        if method in ("GET", "HEAD", "OPTIONS"):
            return 0
        return upload_limit if path == "/recommend" else JSON_BODY_LIMIT

    app.add_middleware(Guard, limit_for=limit_for, allowed_hosts=allowed_hosts)

    # -- errors: always {"error": message}

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404 and error.detail == "Not Found":
            return _error(404, f"no such page or endpoint: {request.url.path[:200]}")
        if error.status_code == 405:
            return _error(405, f"method {request.method} not allowed here", headers=error.headers)
        return _error(error.status_code, str(error.detail), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        syntax = next((item for item in error.errors() if item.get("type") == "json_invalid"), None)
        if syntax is not None:
            return _error(400, await _json_syntax_message(request, syntax))
        return _error(422, _validation_message(error))

    @app.exception_handler(ImageLoadError)
    async def image_error(request: Request, error: ImageLoadError) -> Response:
        return _error(_image_error_status(error.cause), f"{error.path}: {error.cause}")

    @app.exception_handler(RecommendError)
    async def recommend_error(request: Request, error: RecommendError) -> Response:
        return _error(400, str(error))

    @app.exception_handler(FashionError)
    async def expected_error(request: Request, error: FashionError) -> Response:
        # Any other expected failure of a request (e.g. the garment asked for is not in the photo).
        return _error(400, str(error))

    @app.exception_handler(FeedbackError)
    async def feedback_error(request: Request, error: FeedbackError) -> Response:
        return _error(503, f"feedback store unavailable: {error}")

    # -- the page

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return HTMLResponse(_docs_page(app.openapi()), headers={"Cache-Control": "no-cache"})

    # -- API

    @app.get("/health", summary="Liveness, catalog, model, limits and defaults")
    async def health() -> Response:
        labels = engine.loaded.labels
        return JSON({
            "status": "ok",
            "catalog": _without_paths(engine.describe_catalog()),
            "model": {"checksum": engine.loaded.checksum, "arch": engine.loaded.config.model.arch,
                      "categories": len(labels.category_names), "attributes": len(labels.attribute_names)},
            "defaults": {"top_k": engine.config.recommend.top_k, "weights": engine.default_weights().as_dict()},
            "limits": {"max_upload_mb": web.max_upload_mb, "max_images": web.max_images, "max_top_k": web.max_top_k,
                       "max_image_pixels": engine.config.data.max_image_pixels},
            "feedback": feedback is not None,
            "describe": describer.mode,
            "describe_batches": {str(size): count for size, count in sorted(describer.batches.items())},
            "queries_cached": len(queries),
        })

    @app.get("/components", summary="The score components a result's score is blended from, with their weights")
    async def score_components() -> Response:
        configured = engine.default_weights()
        return JSON({"components": [{**c.as_dict(), "weight": configured[c.name]} for c in registered_components()]})

    @app.get("/categories", summary="Categories whose name contains q, with catalog counts")
    async def categories(q: str = "") -> Response:
        return JSON({"categories": engine.categories(q[:200])})

    @app.get("/attributes", summary="Attributes whose name or type contains q, with catalog counts")
    async def attributes(q: str = "") -> Response:
        return JSON({"attributes": engine.attributes(q[:200])})

    @app.get("/colours", summary="Colour families the colour filter knows (any CSS4 colour name works too)")
    async def colours() -> Response:
        return JSON({"families": list(COLOUR_FAMILIES)})

    word_vocabulary: list[Any] = []  # built on the first search (the model's labels + colours + synonyms)

    @app.get("/search", summary="Catalog items ranked by words ('red striped midi dress'), explained",
             responses={400: {"description": "Empty query, only unknown words, bad filter or top_k"}})
    async def search_words(q: str = "", top_k: int | None = None, category: str | None = None,
                           colour: str | None = None) -> Response:
        from fashion.recommend.words import search

        if top_k is not None and not 1 <= top_k <= web.max_top_k:
            raise ApiError(400, f"top_k must be 1 to {web.max_top_k} (web.max_top_k)")
        words = _read_words(q)
        filters = Filters(category=(category or "").strip() or None, colour=(colour or "").strip() or None)
        results = await run_in_threadpool(search, engine.recommender, words, top_k, filters)
        return JSON({"catalog": _without_paths(engine.describe_catalog()), "words": words.to_dict(),
                     "notes": words.notes(), "filters": filters.as_dict(),
                     "results": [{**r.to_dict(), "id": r.result.row} for r in results]})

    @app.get("/items/{item_id}/image", summary="A catalog image by its row number (the `id` of a result)",
             response_class=FileResponse, responses={404: {"description": "No catalog item with that id"}})
    async def item_image(item_id: str) -> Response:
        row = int(item_id) if ITEM_ID.match(item_id) else -1
        if not 0 <= row < len(engine.catalog):
            raise ApiError(404, f"no catalog item with id {item_id[:40]!r} (ids are 0 to {len(engine.catalog) - 1})")
        path = Path(str(engine.catalog.items["path"].iat[row]))  # from the catalog, never the request
        media_type = IMAGE_TYPES.get(path.suffix.lower())
        if media_type is None or not path.is_file():
            raise ApiError(404, f"catalog item {row}: its image is no longer on disk")
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/recommend", summary="Catalog items that look like the uploaded photo(s), explained",
              responses={400: {"description": "Bad parameters or unreadable image"},
                         404: {"description": "Unknown or expired query_id"},
                         413: {"description": "Upload too large, or too many pixels (decompression bomb)"},
                         415: {"description": "Not an image"}})
    async def recommend(
        request: Request,
        image: list[UploadFile] | None = File(None, description="Photo(s) (JPEG, PNG, WebP, ...). Several give one "
                                                                   "answer each, or one with combine."),
        query_id: str | None = Form(None, description="Re-rank a photo described before (its `query_id`) "
                                                      "instead of uploading it again."),
        top_k: int | None = Form(None, ge=1, description="Results per query (default recommend.top_k)."),
        weights: str | None = Form(None, description="'visual,category,colour' (e.g. 1,0,0) or 'colour=0.5'; "
                                                     "or one form field w_<component> per score component "
                                                     "(w_visual, w_category, w_colour, ...: GET /components)."),
        category: str | None = Form(None, description="Only items of this category."),
        colour: str | None = Form(None, description="Only items with this colour (family or CSS4 name)."),
        same_category: bool = Form(False, description="Only items of the query's predicted category."),
        combine: bool = Form(False, description="Several photos as one query."),
        garments: bool = Form(False, description="Shop the look: one answer per garment found in each photo "
                                                 "(with its part, box and share)."),
        garment: str | None = Form(None, description="Only this garment of each photo: upper, lower, full or "
                                                     "other (implies garments)."),
        q: str | None = Form(None, description="Words that refine the photo ('like this, but in blue'): colour "
                                               "and category words replace the photo's, results must match "
                                               "the words and each says what it matched (GET /search: words "
                                               "alone)."),
    ) -> Response:
        uploads = [u for u in (image or []) if u is not None]
        if top_k is not None and top_k > web.max_top_k:
            raise ApiError(400, f"top_k must be at most {web.max_top_k} (web.max_top_k)")
        weights_used = Weights.from_config(engine.config.recommend)
        if weights:
            weights_used = Weights.parse(weights, weights_used, option="the weights field")
        weights_used = weights_used.with_overrides(**_component_fields(await request.form()))
        filters = Filters(category=(category or "").strip() or None, colour=(colour or "").strip() or None,
                          same_category=same_category)
        words = _read_words(q) if q is not None else None
        if uploads and query_id:
            raise ApiError(400, "send either image or query_id, not both")
        garment = (garment or "").strip().lower() or None
        garment_info: dict[str, dict[str, Any]] = {}
        if garments or garment:
            from fashion.recommend.garments import GARMENT_PARTS

            if garment is not None and garment not in GARMENT_PARTS:
                raise ApiError(400, f"garment must be one of {', '.join(GARMENT_PARTS)}")
            if combine:
                raise ApiError(400, "garments gives one answer per garment; it does not go with combine")
            if not uploads:
                raise ApiError(400, "garments needs an uploaded photo (a query_id re-ranks one garment already)")
        if uploads and (garments or garment):
            if len(uploads) > web.max_images:
                raise ApiError(400, f"at most {web.max_images} images per request (web.max_images)")
            described, garment_info = await _describe_garments(uploads, garment)
        elif uploads:
            if len(uploads) > web.max_images:
                raise ApiError(400, f"at most {web.max_images} images per request (web.max_images)")
            described = await _describe_uploads(uploads)
        elif query_id:
            query = queries.get(query_id.strip().lower()) if QUERY_ID.match(query_id.strip().lower()) else None
            if query is None:
                raise ApiError(404, "unknown or expired query_id: upload the photo again")
            described = [(query_id.strip().lower(), query)]
        else:
            raise ApiError(400, "no image: upload a photo in the multipart field 'image' (or give a query_id)")
        if combine and len(described) > 1:
            query = engine.combine([q for _, q in described])
            queries.put(query.checksum, query)
            described = [(query.checksum, query)]
        session, _ = sessions.get(request.cookies.get(COOKIE))
        # Weights the shopper set (sliders moved) win over learned ones, as --weights in the CLI.
        explicit = weights_used != Weights.from_config(engine.config.recommend)
        learned, prior_items = await _global_feedback()
        # In the event loop's own thread: a few milliseconds of Python that holds the GIL anyway (a
        # hand-off to the thread pool cost more than a re-rank itself under 4 clients; issue 17).
        payload = _answer(described, top_k, weights_used, filters, session, None if explicit else learned,
                          prior_items, garment_info, words)
        return _with_session(JSON(payload), session)

    def _read_words(text: str) -> "WordQuery":
        """Words read against the model's vocabularies (built once, on first use); a 400 when none is
        searchable, the unknown ones reported in the answer's notes."""
        from fashion.recommend.words import Vocabulary

        if len(text) > MAX_WORDS_CHARS:  # cut short, the words past the cut would be dropped unsaid
            raise ApiError(400, f"search text too long: {len(text)} characters (at most {MAX_WORDS_CHARS})")
        if not word_vocabulary:
            word_vocabulary.append(Vocabulary(engine.loaded.labels))
        return word_vocabulary[0].parse(text).require_terms()

    def _with_session(response: Response, session: Any) -> Response:
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="lax", path="/")
        return response

    async def _global_feedback() -> tuple[Weights | None, dict[str, float]]:
        """The learned blend weights (None until fitted) and the item prior: global, every shopper's events."""
        if feedback is None:
            return None, {}
        from fashion.feedback.adaptation import blend_weights, item_adjustments

        settings = engine.config.feedback
        prior = engine.default_weights().normalised()

        def read(store: "FeedbackStore") -> tuple[Weights | None, dict[str, float]]:
            fitted = store.load_weights(catalog_key) if settings.enabled and settings.learn_weights else None
            learned = Weights(**blend_weights(store, catalog_key, prior, settings)) if fitted is not None else None
            return learned, item_adjustments(store, catalog_key, settings)

        return await feedback.call(read)

    async def _describe_uploads(uploads: list[UploadFile]) -> list[tuple[str, "Query"]]:
        datas, names = [], []
        for number, upload in enumerate(uploads, start=1):
            datas.append(await upload.read())
            name = Path((upload.filename or "").replace("\\", "/")).name.strip()[:120]
            names.append(name or f"upload {number}")
        ids = [hashlib.sha256(data).hexdigest() for data in datas]
        found = {i: queries.get(i) for i in ids}
        missing = [n for n, i in enumerate(ids) if found[i] is None]
        if missing:
            fresh = await describer.describe([datas[n] for n in missing], [names[n] for n in missing])
            for n, query in zip(missing, fresh):
                queries.put(ids[n], query)
                found[ids[n]] = query
        # A photo described before keeps its description; the name is this upload's.
        described = []
        for i, name in zip(ids, names):
            query = found[i]
            if query.name != name:  # type: ignore[union-attr]
                query = replace(query, name=name)
                queries.put(i, query)
            described.append((i, query))
        return described

    async def _describe_garments(uploads: list[UploadFile], part: str | None
                                 ) -> tuple[list[tuple[str, "Query"]], dict[str, dict[str, Any]]]:
        """Each garment of each uploaded photo as its own query (``engine.describe_garments``), with
        an id per garment (re-rank it by ``query_id``) and its part, box and share."""
        described, info = [], {}
        for number, upload in enumerate(uploads, start=1):
            data = await upload.read()
            name = Path((upload.filename or "").replace("\\", "/")).name.strip()[:120] or f"upload {number}"
            for found in await run_in_threadpool(engine.describe_garments, data, part, name):
                garment_id = hashlib.sha256(data + b"\0garment:" + found.part.encode()).hexdigest()
                queries.put(garment_id, found.query)
                described.append((garment_id, found.query))
                info[garment_id] = found.to_dict()
        return described, info

    def _answer(described: list[tuple[str, "Query"]], top_k: int | None, weights: Weights,
                filters: Filters, session: Any = None, learned: Weights | None = None,
                prior_items: dict[str, float] | None = None,
                garment_info: dict[str, dict[str, Any]] | None = None,
                words: "WordQuery | None" = None) -> dict[str, Any]:
        """Rankings for described photos; with a session, its feedback refines each photo's query
        (Rocchio, as the CLI), ``learned`` weights (when the shopper did not set any) and the item
        prior apply to everyone, and each result says what the session's feedback changed.
        ``words`` refine every photo as ``--query`` does in the CLI (after the session's refinement)."""
        from fashion.recommend.words import apply_words_to_photo, explain_rows, score_rows
        from fashion.web.sessions import feedback_notes

        used = learned or weights
        # The words' score of every catalog row, once: it does not depend on the photo or the likes.
        word_totals = score_rows(words, engine.recommender)[0] if words is not None else None
        answers = []
        for query_id, query in described:
            judged = session.judged(query_id) if session is not None else {}
            refined = _refined(query, judged, used)
            ranked_query, exclude, adjustments = refined.query, refined.exclude, prior_items or None
            if words is not None:
                ranked_query, exclude, adjustments = apply_words_to_photo(engine.recommender, ranked_query, words,
                                                                          top_k, exclude, adjustments, word_totals)
            results = engine.recommend(ranked_query, top_k=top_k, weights=used, filters=filters,
                                       exclude=exclude, adjustments=adjustments, rerank=refined.rerank)
            answer = {"query_id": query_id, "query": queries.as_dict(query_id, query),
                      "results": [{**r.to_dict(), "id": r.row} for r in results]}
            if words is not None:
                for result, matched in zip(answer["results"], explain_rows(engine.recommender, words,
                                                                           [r.row for r in results])):
                    result["matched"] = matched
            if garment_info and query_id in garment_info:
                answer["garment"] = garment_info[query_id]
            if session is not None:
                session.show(query_id, [r.key for r in results])
                answer["session"] = {**session.summary(), "this_photo": {
                    "likes": sum(v > 0 for v in judged.values()), "dislikes": sum(v < 0 for v in judged.values())}}
            if judged:
                unjudged_query, unjudged_exclude, unjudged_adjustments = query, [], prior_items or None
                if words is not None:  # "up from #4" compares with the same words, without the likes
                    unjudged_query, unjudged_exclude, unjudged_adjustments = apply_words_to_photo(
                        engine.recommender, query, words, top_k, [], prior_items or None, word_totals)
                before = engine.recommend(unjudged_query, top_k=top_k, weights=used, filters=filters,
                                          exclude=unjudged_exclude, adjustments=unjudged_adjustments)
                # With the consistency gate shut (feedback.session_consistency_z), the likes pulled
                # nothing: no result is said to have moved toward them.
                liked = [engine.recommender.row_of(k) for k, v in judged.items()
                         if v > 0 and refined.gate > 0]
                notes = feedback_notes(query.embedding, engine.catalog.embeddings,
                                       [r for r in liked if r is not None], [r.row for r in results],
                                       {r.row: r.rank for r in before})
                for result, note in zip(answer["results"], notes):
                    result["feedback"] = note
            answers.append(answer)
        payload = {"catalog": engine.describe_catalog(), "weights": used.normalised().as_dict(),
                   "weights_learned": learned is not None, "filters": filters.as_dict(), "queries": answers}
        if words is not None:
            payload["words"] = words.to_dict()
            payload["notes"] = words.notes()
        return payload

    def _refined(query: "Query", judged: dict[str, int], weights: Weights) -> Any:
        """This session's refinement of the query (fashion.feedback.refinement: Rocchio toward its liked
        items, its disliked items hidden, a bonus for items like the liked ones)."""
        from fashion.feedback.refinement import refine_session

        rows = {key: engine.recommender.row_of(key) for key in judged}
        liked = [row for key, row in rows.items() if row is not None and judged[key] > 0]
        disliked = [row for key, row in rows.items() if row is not None and judged[key] < 0]
        return refine_session(engine.recommender, query, liked, disliked, engine.config.feedback,
                              engine.config.colour.match_delta_e, weights)

    def record_and_refit(store: "FeedbackStore", events: list[FeedbackEvent]) -> int:
        """Store the events, then refit the learned blend weights (as ``recommend.py --like`` does)."""
        from fashion.feedback.adaptation import refit_weights

        written = store.record(events)
        prior = engine.default_weights().normalised()
        try:
            refit_weights(store, catalog_key, prior, engine.config.feedback)
        except Exception:  # noqa: BLE001 - the event is stored; a failed fit only keeps the old weights
            log.exception("refitting the blend weights from feedback failed")
        return written

    @app.post("/feedback", summary="Record a like or dislike of a shown item",
              responses={404: {"description": "Unknown query or item"},
                         503: {"description": "No feedback store"}})
    async def post_feedback(body: FeedbackIn, request: Request) -> Response:
        if feedback is None:
            raise ApiError(503, "feedback is switched off (feedback.enabled: false)")
        query_id = body.query_id.strip().lower()
        query = queries.get(query_id) if QUERY_ID.match(query_id) else None
        if query is None:
            raise ApiError(404, "unknown or expired query_id: upload the photo again")
        if body.item is not None and body.id is not None:  # two items named: which one was meant?
            raise ApiError(422, "invalid request: give the item's key (item) or its id, not both")
        if body.item is not None:
            row = engine.recommender.row_of(body.item)
        elif body.id is not None:
            row = body.id if body.id < len(engine.catalog) else None
        else:
            raise ApiError(422, "invalid request: give the item's key (item) or its id")
        if row is None:
            raise ApiError(404, "no such catalog item")
        key = engine.recommender.keys[row]
        session, new = sessions.get(request.cookies.get(COOKIE))
        if not session.was_shown(query_id, key):
            # A forged, expired or other shopper's session is a new empty one: nothing was shown to it.
            raise ApiError(409, ("your session is new (unknown or expired session id): show the results again "
                                 "before liking them") if new else "that item was not shown for this photo in "
                                 "your session: only shown results can be liked or disliked")
        shown = engine.default_weights()
        if body.weights:
            unknown = set(body.weights) - set(shown)
            if unknown:
                raise ApiError(422, f"invalid request: unknown weight(s) {', '.join(sorted(unknown))}")
            shown = shown.with_overrides(**body.weights)
        shown = shown.normalised()
        parts = await run_in_threadpool(engine.recommender.components, query, [row])
        total = float(blend(parts, shown)[0])
        scores = dict(zip(shown, parts[0].tolist()))
        label = LIKE if body.label in ("like", 1) else DISLIKE
        event = FeedbackEvent(
            catalog_key=catalog_key, query_checksum=query.checksum, item=key, label=label,
            query_embedding=query.embedding, query_name=query.name, scores=scores, score_total=total,
            weights=shown.as_dict())
        await feedback.call(record_and_refit, [event])
        session.judge(query_id, key, label)
        return _with_session(JSON({"session": session.summary(), "recorded": True, "catalog_key": catalog_key, "query_id": query_id, "item": key, "id": row,
                     "label": "like" if label == LIKE else "dislike",
                     "score": {"total": round(total, 4), **{n: round(v, 4) for n, v in scores.items()}}}),
                             session)

    @app.post("/session/reset", summary="Forget this shopper's likes and dislikes (their re-ranking); "
                                        "recorded events and the global learned weights stay")
    async def reset_session(request: Request) -> Response:
        session, _ = sessions.get(request.cookies.get(COOKIE))
        forgotten = session.reset()
        return _with_session(JSON({"reset": True, "forgotten": forgotten, "session": session.summary()}), session)

    @app.get("/feedback/stats", summary="What every shopper's feedback changed: learned weights, item prior")
    async def feedback_stats() -> Response:
        learned, prior_items = await _global_feedback()
        events = await feedback.call("count", catalog_key) if feedback is not None else 0
        return JSON({"feedback": feedback is not None, "events": events,
                     "learned_weights": learned.normalised().as_dict() if learned is not None else None,
                     "default_weights": engine.default_weights().normalised().as_dict(),
                     "items_with_prior": len(prior_items),
                     "sessions": len(sessions)})

    return app


# ---------------------------------------------------------------------------------------------
# Serving


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(checkpoint: str | Path, catalog: str | Path | None = None, config: Config | None = None,
          host: str | None = None, port: int | None = None, *, index_dir: str | Path | None = None,
          device: str = "auto", describe_workers: int | None = None, progress: bool = True,
          log_level: str = "info", ready: Callable[[str], None] | None = None) -> None:
    """Open the engine once (building or updating the catalog index first when needed) and serve
    the page and API with uvicorn until interrupted.

    ``host`` / ``port`` default to ``web.host`` / ``web.port`` (127.0.0.1:8000). On a loopback
    address requests for other ``Host`` names are refused; binding elsewhere prints a warning.
    ``ready(url)`` is called once the server accepts connections.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (see recommend.py)
    import sys

    import uvicorn

    from fashion.config import load_config
    from fashion.recommend.engine import Engine

    single_threaded_blas()
    config = config or load_config()
    host = host or config.web.host
    port = config.web.port if port is None else port
    check_address(host, port)  # before the model and catalog load: a bad address is one line now
    engine = Engine.open(checkpoint, catalog, config, index_dir=index_dir, device=device, progress=progress)
    loopback = is_loopback(host)
    if not loopback:
        print(f"warning: serving on {host}, reachable from other machines; there is no authentication",
              file=sys.stderr)
    allowed = [*LOOPBACK_HOSTS, host] if loopback else None
    if engine.loaded.device.type != "cpu":
        describe_workers = 0  # the accelerator describes uploads faster than CPU worker processes
    app = create_app(engine, config, checkpoint=checkpoint, describe_workers=describe_workers, allowed_hosts=allowed)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                                           timeout_graceful_shutdown=5))
    shown = f"[{host}]" if ":" in host else host

    async def run() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
            url = f"http://{shown}:{bound}/"
            print(f"serving {len(engine.catalog):,} catalog items on {url} (API docs: {url}docs); "
                  "Ctrl+C stops", file=sys.stderr, flush=True)
            if ready is not None:
                ready(url)
        await task

    # uvicorn shuts down gracefully on SIGINT and SIGTERM alike, then raises the signal again:
    # with this handler SIGTERM ends here too (a final line, pools closed) instead of killing us.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    how = ""
    try:
        asyncio.run(run())
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl+C it handled, after a clean shutdown
        how = " (Ctrl+C)"
    except _Terminated:
        how = " (SIGTERM)"
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"server stopped{how}", file=sys.stderr, flush=True)


def _without_paths(catalog: dict[str, Any]) -> dict[str, Any]:
    """The catalog description with folder names instead of absolute paths (for /health)."""
    shown = dict(catalog)
    for key in ("index", "source"):
        if shown.get(key):
            shown[key] = Path(str(shown[key])).name
    return shown


def _docs_page(schema: dict[str, Any]) -> str:
    """A self-contained API reference (no scripts, no network) from the OpenAPI schema."""
    from html import escape

    rows = []
    for path, methods in sorted(schema.get("paths", {}).items()):
        for method, operation in methods.items():
            params = ", ".join(
                f"{p.get('name')} ({p.get('in')}{', required' if p.get('required') else ''})"
                for p in operation.get("parameters", []))
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                params = ", ".join(filter(None, [params, "body: " + ", ".join(body)]))
            rows.append(f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                        f"<td>{escape(operation.get('summary', ''))}</td><td>{escape(params)}</td></tr>")
    info = schema.get("info", {})
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>API: "
            f"{escape(info.get('title', ''))}</title><style>body{{font:15px system-ui,sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
            "</style></head><body>"
            f"<h1>{escape(info.get('title', 'API'))}</h1><p>{escape(info.get('description', ''))}</p>"
            "<p>The full schema (for tools such as Swagger UI or curl): <a href='/openapi.json'>/openapi.json</a>."
            " The page: <a href='/'>/</a>.</p><table><tr><th>method</th><th>path</th><th>what</th>"
            "<th>parameters</th></tr>" + "".join(rows) + "</table></body></html>")


class _Terminated(BaseException):
    """SIGTERM arrived (raised by :func:`_raise_terminated` once uvicorn has shut down)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated()
