"""Small file utilities: atomic writes (a crash or Ctrl-C never leaves a half-written file behind)
file checksums and numpy-safe JSON."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from fashion.errors import FashionError


class OutputPathError(FashionError, ValueError):
    """A file or folder cannot be written where it was asked for; the message names the path."""


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _probe_folder(folder: Path, path: Path, what: str) -> None:
    """Create and delete a temporary file in ``folder`` (the only honest test, for root and read-only mounts)."""
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {what} {path}: {folder} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        raise OutputPathError(f"cannot write {what} {path}: folder {folder} is not writable ({_reason(error)})") \
            from None


def check_output_file(path: str | Path, what: str = "output file", *, suffix: str | None = None,
                      inputs: Iterable[str | Path] = ()) -> Path:
    """Fail early, in one line, when ``path`` cannot be written as a file (missing folders are created later).

    ``suffix`` (``".png"``): the format the file is written in, which its name must end with, so that
    a photo, a checkpoint or a database is never replaced by a file of another kind under its old
    name. ``inputs``: the files this command reads, which it must not write over.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputPathError(f"{what} {path} is a folder; give a file name inside it")
    if suffix is not None and path.suffix.lower() != suffix:
        raise OutputPathError(f"{what} {path}: it is written as {suffix[1:].upper()}, so give a name ending "
                              f"in {suffix}")
    for source in inputs:
        source = Path(source).expanduser()
        with contextlib.suppress(OSError):
            if path.exists() and source.exists() and os.path.samefile(path, source):
                raise OutputPathError(f"{what} {path} is {source}, which this command reads; give another name")
    _probe_folder(_nearest_existing(path.parent), path, what)
    return path


def check_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """Fail early, in one line, when ``path`` cannot be used (or created) as a folder to write in."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{what} {path} is a file; give a folder")
    _probe_folder(_nearest_existing(path), path, what)
    return path


def make_folder(path: Path, what: str = "output folder") -> Path:
    """``mkdir -p``, with a failure as one :class:`OutputPathError` line."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputPathError(f"cannot create {what} {path}: a file of that name is in the way") from None
    except OSError as error:
        raise OutputPathError(f"cannot create {what} {path}: {_reason(error)}") from None
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    A path that cannot be written (a folder in its place, a read-only or impossible folder, a
    full disk) is one :class:`OutputPathError` naming it.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = "a file is in the way of its folder" if isinstance(error, FileExistsError) else _reason(error)
        raise OutputPathError(f"cannot write {path}: {reason}") from None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise OutputPathError(f"cannot write {path}: {_reason(error)}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise OutputPathError(f"cannot write {path}: {_reason(error)}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: Path, writer: Callable[[IO[bytes]], None]) -> None:
    """Call ``writer`` with a binary handle to a temporary file, then move it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        writer(handle)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def file_checksum(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars: a float, or None for NaN (JSON has no NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) else number
