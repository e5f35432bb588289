"""Building a catalog index: batched, incremental, resumable.

``build_catalog`` compares the source's images (size, mtime, box) with the live index and with
the chunks an interrupted build left in ``partial/``, processes only new or changed images
through the encoder (:mod:`fashion.model.encoder`: DataLoader workers decode, crop, transform and
extract the palette; the main process runs the network), saves a chunk every ``catalog.chunk_images`` images, and finally writes a new
version folder and swaps it in (see :mod:`fashion.index.catalog`). ``open_catalog`` does the cheap
freshness check first, so an up-to-date catalog opens without parsing the dataset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fashion.index.catalog import (
    ARRAYS,
    FORMAT,
    METADATA_FILE,
    Catalog,
    CatalogError,
    load_catalog,
    now_iso,
    read_manifest,
    stored_format,
    write_version,
)
from fashion.index.sources import (
    CatalogSource,
    catalog_folder,
    dataset_signature,
    dataset_source,
    folder_source,
    tree_signature,
)
from fashion.colour.family_model import MODEL_CLASSES
from fashion.colour.settings import ColourSettings
from fashion.config import Config

if TYPE_CHECKING:  # torch loads only when a build runs: the lookups read an index without it
    from fashion.model.checkpoint import LoadedModel

Log = Callable[[str], None]
Signature = list  # [size, mtime_ns, [x1, y1, x2, y2] | None]


def log_to_stderr(message: str) -> None:
    """The default message sink: the ``fashion`` logger (the CLIs send it to stderr, so ``--json`` stays clean)."""
    logging.getLogger("fashion.index").info(message)


# ------------------------------------------------------------------------- stored attributes


def top_attributes(attribute_probs: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` most probable attributes of each row as (int32 indices, float16 probabilities),
    most probable first; ``top <= 0`` keeps all of them (the catalog stores only these)."""
    count = attribute_probs.shape[1] if top <= 0 else min(top, attribute_probs.shape[1])
    order = np.argsort(-attribute_probs, axis=1, kind="stable")[:, :count]
    return order.astype(np.int32), np.take_along_axis(attribute_probs, order, axis=1).astype(np.float16)


# ------------------------------------------------------------------------- rows and chunks


@dataclass
class Rows:
    """Index rows being assembled: keys, signatures and the aligned arrays."""

    keys: list[str] = field(default_factory=list)
    signatures: list[Signature] = field(default_factory=list)
    arrays: dict[str, list[np.ndarray]] = field(default_factory=lambda: {name: [] for name in ARRAYS})

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, keys: list[str], signatures: list[Signature], arrays: dict[str, np.ndarray]) -> None:
        self.keys += keys
        self.signatures += signatures
        for name in ARRAYS:
            self.arrays[name].append(np.asarray(arrays[name]))

    def stacked(self, empty: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each array concatenated ((0, ...) shaped like ``empty`` when there are no rows)."""
        return {name: np.concatenate(parts) if parts else empty[name] for name, parts in self.arrays.items()}


class PartialBuild:
    """``<catalog>/partial/``: finished chunks of an unfinished build, reusable when it resumes."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = directory
        self.fingerprint = fingerprint
        state = directory / "state.json"
        current = None
        if state.is_file():
            with contextlib.suppress(OSError, ValueError, AttributeError):  # a damaged state: start afresh
                current = json.loads(state.read_text(encoding="utf-8")).get("fingerprint")
        if current != fingerprint:
            # Chunks from another model or other settings are useless: start afresh.
            shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "state.json").write_text(json.dumps({"fingerprint": fingerprint}))

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Every readable saved chunk (a damaged one is ignored: its images are simply redone)."""
        for path in sorted(self.directory.glob("chunk-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as data:
                    yield {name: data[name] for name in data.files}
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue

    def save(self, rows: Rows, skipped: dict[str, tuple[Signature, str]], empty: dict[str, np.ndarray]) -> None:
        """Write one chunk atomically (temp file + rename)."""
        number = len(list(self.directory.glob("chunk-*.npz")))
        arrays = rows.stacked(empty)
        payload = {
            "keys": np.array(rows.keys, dtype=str),
            "signatures": np.array([json.dumps(s) for s in rows.signatures], dtype=str),
            "skipped_keys": np.array(list(skipped), dtype=str),
            "skipped_signatures": np.array([json.dumps(s) for s, _ in skipped.values()], dtype=str),
            "skipped_errors": np.array([e for _, e in skipped.values()], dtype=str),
            **arrays,
        }
        final = self.directory / f"chunk-{number:06d}.npz"
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)
        tmp.replace(final)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# ------------------------------------------------------------------------- fingerprints


def _short_checksum(path: Path) -> str:
    """The first 16 hex digits of a shipped model file's sha256, or "missing" (the build itself then
    fails with that model's own clear message)."""
    from fashion.io_utils import file_checksum

    try:
        return file_checksum(path)[:16]
    except OSError:
        return "missing"


def _segmenter_checksum() -> str:
    """The shipped segmenter weights' and person test's checksums (new ones, new palettes)."""
    from fashion.segment.weights import DEFAULT_WEIGHTS, PERSON_TEST_FILE

    return "+".join(_short_checksum(path) for path in (DEFAULT_WEIGHTS, DEFAULT_WEIGHTS.with_name(PERSON_TEST_FILE)))


def extraction_settings(loaded: LoadedModel, config: Config) -> dict[str, Any]:
    """Everything that shapes a stored row: when any of it changes, every row is recomputed."""
    return {
        "model_checksum": loaded.checksum,
        # Which embedding the rows hold (penultimate features or the metric head's projection) and its size.
        "embedding": getattr(loaded.model, "embedding_kind", "penultimate"),
        "embedding_dim": int(loaded.model.embedding_dim),
        "image_size": int(getattr(loaded.transform, "image_size", 0)),
        **_config_settings(config),
    }


def _config_settings(config: Config) -> dict[str, Any]:
    """The part of :func:`extraction_settings` that comes from the configuration (no model needed)."""
    return {
        "embedding_dtype": config.catalog.embedding_dtype,
        "top_attributes": config.catalog.top_attributes,
        "colour": ColourSettings.from_config(config).__dict__,
        # Palettes of photos of people come from the segmenter: new weights, new palettes.
        "segmenter": _segmenter_checksum() if config.colour.segment else None,
        # How a photo of a person's garments make its palette (the main garment leads).
        "outfit_other_weight": _outfit_other_weight() if config.colour.segment else None,
        # The colour family network's weights: new weights, new stored probabilities.
        "family_net": _family_net_checksum(config.colour.family_net),
        "max_image_pixels": config.data.max_image_pixels,
    }


def _family_net_checksum(setting: str) -> str | None:
    """The checksum of the weights ``colour.family_net`` names (None: no network)."""
    from fashion.colour.family_net import BUILTIN_WEIGHTS

    if setting == "none":
        return None
    return _short_checksum(BUILTIN_WEIGHTS if setting == "builtin" else Path(setting))


def _family_net_palette_weight(setting: str) -> float | None:
    """The palette weight the network ``colour.family_net`` names records (None: no network)."""
    from fashion.colour.family_net import configured_family_net

    network = configured_family_net(setting)
    return None if network is None else network.palette_weight


def _outfit_other_weight() -> float:
    from fashion.segment.segmenter import OTHER_GARMENTS_WEIGHT

    return OTHER_GARMENTS_WEIGHT


def fingerprint_of(settings: dict[str, Any]) -> str:
    """sha256 of the extraction settings (JSON, sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def file_signature(path: str, bbox: tuple[int, int, int, int] | None) -> Signature | None:
    """[size, mtime_ns, bbox] of an image file, or None when it cannot be read."""
    try:
        stat = os.stat(path)  # not pathlib: thousands of these make up a cold start's freshness check
    except (OSError, ValueError):  # ValueError: a NUL byte in a damaged manifest's key
        return None
    return [int(stat.st_size), int(stat.st_mtime_ns), list(bbox) if bbox else None]


def _bbox(row: Any) -> tuple[int, int, int, int] | None:
    from fashion.data.datasets import box_from_values

    return box_from_values(row.x1, row.y1, row.x2, row.y2)


# ------------------------------------------------------------------------- building


@dataclass
class BuildReport:
    """What a build did. ``seconds``: decode and colour are CPU seconds summed over images (they
    run in DataLoader workers, in parallel with the network); model is wall and model_cpu CPU
    seconds of the network in this process; write and total are wall seconds.
    """

    total: int = 0
    processed: int = 0
    reused: int = 0
    resumed: int = 0
    removed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # key -> error
    rebuilt_because: str = ""
    seconds: dict[str, float] = field(default_factory=lambda: {"decode": 0.0, "colour": 0.0, "model": 0.0,
                                                                "model_cpu": 0.0, "write": 0.0, "total": 0.0})

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.total} images indexed", f"{self.processed} processed", f"{self.reused} unchanged"]
        if self.resumed:
            parts.append(f"{self.resumed} from an interrupted build")
        if self.removed:
            parts.append(f"{self.removed} removed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        return "catalog: " + ", ".join(parts) + f" ({self.seconds['total']:.1f} s)"


@contextlib.contextmanager
def build_lock(directory: Path, log: Log | None = None) -> Iterator[None]:
    """An exclusive lock on the catalog folder while building (another process waits, and says so)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking, builds must not overlap
        yield
        return
    with open(directory / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a silent wait looked like a hang
            if log is not None:
                log(f"{directory}: another process is building this catalog; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _empty_arrays(loaded: LoadedModel, config: Config) -> dict[str, np.ndarray]:
    k = config.colour.palette_size
    c = len(loaded.labels.category_names)
    a = len(loaded.labels.attribute_names)
    t = a if config.catalog.top_attributes <= 0 else min(config.catalog.top_attributes, a)
    return {
        "embeddings": np.zeros((0, loaded.model.embedding_dim), np.float32),
        "category_probs": np.zeros((0, c), np.float32),
        "attribute_index": np.zeros((0, t), np.int32),
        "attribute_probs": np.zeros((0, t), np.float16),
        "palette_lab": np.zeros((0, k, 3), np.float32),
        "palette_rgb": np.zeros((0, k, 3), np.uint8),
        "palette_shares": np.zeros((0, k), np.float32),
        "family_net_probs": np.zeros((0, len(MODEL_CLASSES)), np.float32),
    }


def _previous_rows(directory: Path, fingerprint: str, settings: dict[str, Any], log: Log,
                   report: BuildReport) -> tuple[Catalog | None, dict[str, tuple[Signature, str]]]:
    """The live index when its rows can be reused (same model and settings), and its skipped files."""
    manifest = read_manifest(directory)
    if manifest is None:
        return None, {}
    if manifest.get("fingerprint") != fingerprint:
        old = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
        if old.get("model_checksum") != settings["model_checksum"]:
            report.rebuilt_because = (f"the catalog in {directory} was built by another model "
                                      f"({str(old.get('model_checksum'))[:12]}…, now "
                                      f"{settings['model_checksum'][:12]}…); rebuilding it")
        else:
            changed = sorted(k for k in settings if old.get(k) != settings[k])
            report.rebuilt_because = f"catalog settings changed ({', '.join(changed)}); rebuilding it"
        log(report.rebuilt_because)
        return None, {}
    try:
        catalog = load_catalog(directory)
        skipped = {k: (v[0], v[1]) for k, v in manifest.get("skipped", {}).items()}
    except CatalogError as error:
        log(f"{error}; rebuilding it")
        return None, {}
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        log(f"{directory}: damaged catalog manifest; rebuilding it")
        return None, {}
    return catalog, skipped


def build_catalog(source: CatalogSource, loaded: LoadedModel, directory: Path, config: Config, *,
                  progress: bool = True, log: Log = log_to_stderr) -> BuildReport:
    """Bring the index in ``directory`` up to date with ``source``; only new/changed images are processed.

    Rows of unchanged images come from the live index or from ``partial/`` chunks of an
    interrupted build; a Ctrl-C saves what is done so far before it propagates.
    """
    start = time.perf_counter()
    directory = Path(directory)
    report = BuildReport()
    settings = extraction_settings(loaded, config)
    fingerprint = fingerprint_of(settings)
    empty = _empty_arrays(loaded, config)
    # Loads the colour family network first: a missing or damaged one stops the build before any work.
    family_net_weight = _family_net_palette_weight(config.colour.family_net)
    unnamed = source.details.get("names_not_utf8")
    if unnamed:
        log(f"{source.root}: {unnamed['files']} image(s) have a file name that is not UTF-8 text, and are skipped "
            f"(rename them to index them; e.g. {', '.join(repr(p) for p in unnamed['examples'])})")
    unmatched = source.details.get("metadata_unmatched")
    if unmatched:
        log(f"{source.root / METADATA_FILE}: {unmatched['rows']} row(s) name no image in the folder, and are "
            f"ignored (e.g. {', '.join(repr(p) for p in unmatched['examples'])})")
    with build_lock(directory, log):
        previous, previous_skipped = _previous_rows(directory, fingerprint, settings, log, report)
        partial = PartialBuild(directory / "partial", fingerprint)
        entries = source.entries
        bboxes = [_bbox(row) for row in entries.itertuples(index=False)]
        signatures = [file_signature(p, b) for p, b in zip(entries["path"], bboxes)]

        # Where each wanted row comes from: ("prev", row) | ("part", chunk, row) | ("new", position).
        known: dict[str, tuple[Signature, tuple]] = {}
        if previous is not None:
            files = previous.manifest.get("files", {})
            for row, key in enumerate(previous.items["key"]):
                known[key] = (files.get(key), ("prev", row))
        chunks = list(partial.chunks())
        skipped_known = dict(previous_skipped)
        for number, chunk in enumerate(chunks):
            for row, (key, sig) in enumerate(zip(chunk["keys"], chunk["signatures"])):
                known[str(key)] = (json.loads(str(sig)), ("part", number, row))
            for key, sig, error in zip(chunk["skipped_keys"], chunk["skipped_signatures"], chunk["skipped_errors"]):
                skipped_known[str(key)] = (json.loads(str(sig)), str(error))

        plan: list[tuple | None] = []
        todo: list[int] = []
        for position, (key, sig) in enumerate(zip(entries["key"], signatures)):
            if sig is None:
                report.skipped[key] = f"{entries['path'].iat[position]}: missing"
                plan.append(None)
            elif key in known and known[key][0] == sig:
                origin = known[key][1]
                report.resumed += origin[0] == "part"
                report.reused += origin[0] == "prev"
                plan.append(origin)
            elif key in skipped_known and skipped_known[key][0] == sig:
                report.skipped[key] = skipped_known[key][1]  # still bad and unchanged: not retried
                plan.append(None)
            else:
                plan.append(("new", len(todo)))
                todo.append(position)
        wanted = set(entries["key"])
        report.removed = sum(1 for key in (previous.items["key"] if previous is not None else []) if key not in wanted)

        new_rows: dict[int, tuple[int, int]] = {}  # todo position -> (chunk number, row)
        if todo:
            log(f"indexing {len(todo)} image{'s' * (len(todo) != 1)} into {directory}"
                + (f" ({report.reused} unchanged)" if report.reused else "")
                + (f" (resuming: {report.resumed} already done)" if report.resumed else ""))
            _process(todo, entries, bboxes, signatures, loaded, config, partial, empty, report, new_rows,
                     len(chunks), progress)
            chunks = list(partial.chunks())

        write_start = time.perf_counter()
        arrays, keep = _assemble(plan, previous, chunks, new_rows, empty)
        items = entries.iloc[keep].reset_index(drop=True)
        report.total = len(items)
        report.processed = len(todo) - sum(1 for p in todo if entries["key"].iat[p] in report.skipped)
        if config.catalog.embedding_dtype == "float16":
            arrays["embeddings"] = arrays["embeddings"].astype(np.float16)
        else:
            arrays["embeddings"] = arrays["embeddings"].astype(np.float32)
        manifest = {
            "format": FORMAT,
            "created": now_iso(),
            "model_checksum": loaded.checksum,
            "fingerprint": fingerprint,
            "settings": settings,
            "config": {"catalog": config.catalog.__dict__, "colour": config.colour.__dict__,
                       "data": {"use_bbox": config.data.use_bbox, "max_image_pixels": config.data.max_image_pixels}},
            "source": {"kind": source.kind, "root": str(source.root), "signature": source.signature,
                       **source.details},
            "count": len(items),
            "embedding": settings["embedding"],
            "embedding_dim": int(arrays["embeddings"].shape[1]),
            # Each array's shape past its rows: load_catalog refuses arrays that do not match it.
            "shapes": {name: [int(n) for n in array.shape[1:]] for name, array in arrays.items()},
            # The palette model's share beside family_net_probs when colour words rank (None: no network).
            "family_net_palette_weight": family_net_weight,
            "files": {key: signatures[p] for key, p in zip(items["key"], keep)},
            "skipped": {key: [signatures[p], report.skipped[key]] for p, key in enumerate(entries["key"])
                        if key in report.skipped and signatures[p] is not None},
        }
        write_version(directory, manifest, items, arrays)
        partial.remove()
        report.seconds["write"] += time.perf_counter() - write_start
    report.seconds["total"] = time.perf_counter() - start
    if report.skipped:
        shown = list(report.skipped.values())[:10]
        more = f" (and {len(report.skipped) - 10} more)" if len(report.skipped) > 10 else ""
        log(f"warning: skipped {len(report.skipped)} unreadable image{'s' * (len(report.skipped) != 1)}: "
            + "; ".join(shown) + more)
    return report


def _process(todo: list[int], entries: pd.DataFrame, bboxes: list, signatures: list, loaded: LoadedModel,
             config: Config, partial: PartialBuild, empty: dict[str, np.ndarray], report: BuildReport,
             new_rows: dict[int, tuple[int, int]], first_chunk: int, progress: bool) -> None:
    """Run the todo images through the encoder, saving a chunk every chunk_images."""
    from fashion.data.workers import default_workers

    batch_size = config.catalog.batch_size
    # Worker processes only pay off beyond a couple of batches (each one costs a fork and warm-up).
    workers = default_workers(config.catalog.workers) if len(todo) > 2 * batch_size else 0
    from fashion.model.encoder import Encoder

    batches = Encoder.from_config(loaded, config, family_net=True).encode_files(
        [entries["path"].iat[p] for p in todo], [bboxes[p] for p in todo], batch_size=batch_size, workers=workers)
    rows, skipped = Rows(), {}
    chunk_number = first_chunk
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal rows, skipped, chunk_number, last_flush
        last_flush = time.monotonic()
        if not rows.keys and not skipped:
            return
        write_start = time.perf_counter()
        partial.save(rows, skipped, empty)
        report.seconds["write"] += time.perf_counter() - write_start
        chunk_number += 1
        rows, skipped = Rows(), {}

    bar = tqdm(total=len(todo), desc="indexing catalog", unit="img", disable=not progress, leave=False,
               file=sys.stderr)
    restore = _sigterm_as_interrupt()
    try:
        for batch in batches:
            for index, error in batch.bad:
                position = todo[index]
                key = entries["key"].iat[position]
                skipped[key] = (signatures[position], error)
                report.skipped[key] = error
            if batch.features is not None:
                f = batch.features
                for stage in ("model", "model_cpu", "decode", "colour"):
                    report.seconds[stage] += f.seconds[stage]
                attribute_index, attribute_probs = top_attributes(f.attribute_probs, config.catalog.top_attributes)
                positions = [todo[i] for i in batch.index]
                for offset, i in enumerate(batch.index):
                    new_rows[i] = (chunk_number, len(rows) + offset)
                rows.add([entries["key"].iat[p] for p in positions], [signatures[p] for p in positions],
                         {"embeddings": f.embeddings, "category_probs": f.category_probs,
                          "attribute_index": attribute_index, "attribute_probs": attribute_probs,
                          "palette_lab": f.palette_lab, "palette_rgb": f.palette_rgb,
                          "palette_shares": f.palette_shares, "family_net_probs": f.family_net_probs})
            bar.update(len(batch.index) + len(batch.bad))
            # Saved by count, and by time: a kill -9 loses at most FLUSH_SECONDS of work.
            if len(rows) >= config.catalog.chunk_images or time.monotonic() - last_flush >= FLUSH_SECONDS:
                flush()
    finally:
        # On Ctrl-C and SIGTERM too: every finished row is saved, so the next build resumes after it.
        try:
            with _signals_deferred():
                flush()
        finally:
            bar.close()
            restore()


# A build saves its finished rows at least this often (and every catalog.chunk_images rows).
FLUSH_SECONDS = 5.0


class BuildTerminated(KeyboardInterrupt):
    """SIGTERM arrived during a catalog build: handled like Ctrl-C (finished rows are saved first)."""


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise :class:`BuildTerminated` (main thread only); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the save that follows is not cut short
        raise BuildTerminated("terminated (SIGTERM)")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while the last chunk is written (they take effect right after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for sig in previous:
            signal.signal(sig, lambda signum, frame: held.append(signum))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        if held:
            raise BuildTerminated("terminated") if signal.SIGTERM in held else KeyboardInterrupt()


def _assemble(plan: list[tuple | None], previous: Catalog | None, chunks: list[dict[str, Any]],
              new_rows: dict[int, tuple[int, int]], empty: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Gather every wanted row (from the old index, resumed chunks or new chunks) in source order."""
    keep: list[int] = []
    picks: list[tuple[str, int, int]] = []  # (origin, chunk number or -1, row)
    for position, origin in enumerate(plan):
        if origin is None:
            continue
        if origin[0] == "prev":
            picks.append(("prev", -1, origin[1]))
        elif origin[0] == "part":
            picks.append(("part", origin[1], origin[2]))
        else:
            if origin[1] not in new_rows:
                continue  # failed to decode: already in report.skipped
            number, row = new_rows[origin[1]]
            picks.append(("part", number, row))
        keep.append(position)
    arrays = {}
    for name in ARRAYS:
        parts = []
        for origin, number, row in picks:
            source = previous.__dict__[name] if origin == "prev" else chunks[number][name]
            parts.append(source[row])
        arrays[name] = np.stack(parts).astype(empty[name].dtype, copy=False) if parts else empty[name]
    return arrays, keep


# ------------------------------------------------------------------------- opening


def is_current(directory: Path, source_signature: str, fingerprint: str) -> bool:
    """True when the live index was built with these settings from an unchanged source.

    Checks the source signature (annotation files, folders) and every indexed or skipped
    image's size and mtime: a few milliseconds for thousands of images.
    """
    manifest = read_manifest(directory)
    if manifest is None or manifest.get("fingerprint") != fingerprint:
        return False
    try:
        if manifest.get("source", {}).get("signature") != source_signature:
            return False
        for key_sigs in (manifest.get("files", {}), {k: v[0] for k, v in manifest.get("skipped", {}).items()}):
            root = str(manifest["source"]["root"])
            for key, sig in key_sigs.items():
                path = os.path.join(root, key)  # an absolute key stays itself
                bbox = tuple(sig[2]) if sig and sig[2] else None
                if file_signature(path, bbox) != sig:
                    return False
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return False  # a manifest damaged inside valid JSON: not current, so it is rebuilt
    return True


def open_catalog(loaded: LoadedModel, config: Config, directory: Path, folder: Path | None = None, *,
                 update: bool = True, progress: bool = True, log: Log = log_to_stderr) -> Catalog:
    """The catalog for a model, built or brought up to date when needed, then loaded.

    ``folder`` None means the gallery (test split) of the model's training data, described by
    ``loaded.config.data``; otherwise every image under ``folder``. With ``update=False`` an
    existing index is used as it is (a web server that must not stall), and only a missing one
    is built.
    """
    directory = Path(directory)
    fingerprint = fingerprint_of(extraction_settings(loaded, config))
    data_config = loaded.config.replace(data=loaded.config.data.__class__(**{
        **loaded.config.data.__dict__, "use_bbox": config.data.use_bbox,
        "max_image_pixels": config.data.max_image_pixels}))
    skip = directory.resolve()
    if folder is not None:
        catalog_folder(folder)
    signature = ""
    if update:  # the signature walks the source's folders: skipped when it is not needed
        if folder is None:
            signature = dataset_signature(data_config) if Path(data_config.data.root).exists() else ""
        else:
            signature = tree_signature(Path(folder).expanduser().resolve(), max_depth=None, skip=skip)
    manifest = read_manifest(directory)
    if manifest is None and (directory / "CURRENT").exists():
        found = stored_format(directory)
        if found is not None and found != FORMAT:
            log(f"{directory}: the catalog index has format {found[:40]!r}, this version reads {FORMAT!r}; rebuilding it")
        else:
            log(f"{directory}: the catalog index is damaged (its CURRENT pointer or manifest cannot be read); "
                "rebuilding it")
    # Without update, any index of this model and these settings will do; a foreign one never does.
    fresh = (manifest is not None and manifest.get("fingerprint") == fingerprint
             and (not update or is_current(directory, signature, fingerprint)))
    if fresh:
        try:
            catalog = load_catalog(directory)
        except CatalogError:  # derived data: a damaged index is rebuilt; build_catalog says why
            fresh = False
    if not fresh:
        source = dataset_source(data_config) if folder is None else folder_source(Path(folder), skip=skip)
        report = build_catalog(source, loaded, directory, config, progress=progress, log=log)
        if report.processed or report.removed or report.rebuilt_because:
            log(report.summary())
        catalog = load_catalog(directory)
    if len(catalog) == 0:
        raise CatalogError(f"{directory}: the catalog has no usable images")
    return catalog


def open_current_catalog(checkpoint: Path, config: Config, directory: Path,
                         folder: Path | None = None) -> tuple[Catalog, Any] | None:
    """(catalog, labels) without loading the model, when the index is current; else None.

    For the lookups (``recommend.py --categories`` / ``--attributes``), which need label names and
    catalog counts but no network: the checkpoint's sidecar (:mod:`fashion.model.meta`, written
    whenever the model is loaded) gives its checksum, labels and data settings, and the index must
    be this model's, built with these settings from an unchanged source, exactly as
    :func:`open_catalog` would accept it. None (the caller then opens the model and lets
    :func:`open_catalog` build or update) when anything is missing, stale or different.
    """
    from fashion.config import ConfigError, config_from_dict
    from fashion.model.meta import read_meta

    meta = read_meta(checkpoint)
    directory = Path(directory)
    manifest = read_manifest(directory)
    if meta is None or manifest is None or not isinstance(manifest.get("settings"), dict):
        return None
    stored = manifest["settings"]
    # The model's own part of the settings is fixed by its checksum; the rest comes from the config.
    expected = {**{k: stored.get(k) for k in ("embedding", "embedding_dim", "image_size")},
                **_config_settings(config), "model_checksum": meta["checksum"]}
    if json.dumps(expected, sort_keys=True) != json.dumps(stored, sort_keys=True):
        return None
    try:
        stored_config = config_from_dict(meta["config"])
    except (ConfigError, TypeError, ValueError, KeyError):
        return None
    if folder is None:
        data_config = stored_config.replace(data=stored_config.data.__class__(**{
            **stored_config.data.__dict__, "use_bbox": config.data.use_bbox,
            "max_image_pixels": config.data.max_image_pixels}))
        signature = dataset_signature(data_config) if Path(data_config.data.root).exists() else ""
    else:
        if not Path(folder).expanduser().is_dir():
            return None
        signature = tree_signature(Path(folder).expanduser().resolve(), max_depth=None, skip=directory.resolve())
    if not is_current(directory, signature, fingerprint_of(stored)):
        return None
    try:
        catalog = load_catalog(directory)
    except CatalogError:
        return None
    return (catalog, meta["labels"]) if len(catalog) else None
