"""A fast reader for DeepFashion's whitespace-separated ``list_*.txt`` files.

Layout of every file (see ../shared/DESIGN.md): line 1 the number of rows (some copies start with
a blank line), line 2 a header, then one row per line: a name, then ``n_values`` values. Names may
contain spaces, so a row is split from the right. The fine split files (``train_cate.txt`` ...) have
no count, no header and no name: only values, aligned with ``train.txt`` by line.

``list_attr_img.txt`` is 289,222 rows of 1,000 values (about 900 MB), so rows are not split in
Python: each chunk of the file is tokenised with numpy (token starts and ends from a whitespace
mask, tokens per line from the newline positions) and the last ``n_values`` tokens of each line
are parsed as integers column by column. Bad rows are found in the same vectorised pass and
reported through :class:`~fashion.datasets.common.BadRows` with their line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np
import pandas as pd

from fashion.datasets.common import BadRows, DatasetError

CHUNK_BYTES = 16 * 2**20  # bounds the tokeniser's temporary arrays to a few hundred MB
MAX_DIGITS = 18  # int64-safe

_NEWLINE, _MINUS, _PLUS, _ZERO = 10, 45, 43, 48


@dataclass(frozen=True)
class ListTable:
    """The good rows of one list file, in file order.

    ``names`` is None for files without a name column; ``values`` is (n, n_values) int64 (or
    object for ``kind="str"``); ``lines`` are 1-based line numbers and ``rows`` 0-based ordinals
    among the file's data rows (blank lines not counted), which is what position-aligned files
    are matched on. ``total_rows`` counts every data row, bad ones included.
    """

    source: Path
    names: list[str] | None
    values: np.ndarray
    lines: np.ndarray
    rows: np.ndarray
    total_rows: int

    def __len__(self) -> int:
        return len(self.lines)

    def select(self, keep: np.ndarray) -> ListTable:
        """The rows where the boolean mask ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        names = None if self.names is None else [n for n, k in zip(self.names, keep.tolist()) if k]
        return replace(self, names=names, values=self.values[keep], lines=self.lines[keep], rows=self.rows[keep])

    def drop(self, bad_mask: np.ndarray, bad: BadRows, reason: str) -> ListTable:
        """Report the rows of ``bad_mask`` as bad for ``reason`` and return the others."""
        bad_mask = np.asarray(bad_mask, dtype=bool)
        if not bad_mask.any():
            return self
        bad.rows(self.source, self.lines[bad_mask], reason)
        return self.select(~bad_mask)


def read_deepfashion_list(path: str | Path, n_values: int, *, header: bool = True, named: bool = True,
                          kind: str = "int", value_range: tuple[int, int] | None = None, what: str = "value",
                          choices: Sequence[str] | None = None, unique: bool = True,
                          bad: BadRows | None = None) -> ListTable:
    """Read a DeepFashion list file: ``[count, header,] rows of [name] + n_values values``.

    ``kind`` is ``"int"`` (values parsed as integers; with ``value_range=(lo, hi)`` a value
    outside it is a bad row, called ``what`` in the message, and values are stored as int8 when
    the range allows: the 1,000-attribute file then takes 289 MB, not 2.3 GB) or ``"str"`` (kept as
    text; with ``choices`` any other text is a bad row). Rows with the wrong number of values or a
    non-integer value, duplicated names (``unique``) and a count on line 1 that differs from the
    number of rows are reported to ``bad`` (default: raise :class:`DatasetError` on the first one).
    """
    path = Path(path)
    bad = bad if bad is not None else BadRows("error")
    if kind not in ("int", "str"):
        raise ValueError(f"kind must be 'int' or 'str', got {kind!r}")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or error})") from None
    with handle:
        declared, count_line, line_no = _read_header(handle, path) if header else (None, 0, 0)
        rules = _Rules(n_values, named, kind, value_range, what, tuple(choices) if choices is not None else None)
        parts = [_parse_chunk(chunk, first_line, path, rules, bad) for chunk, first_line in _chunks(handle, line_no + 1)]
    names = [name for part in parts for name in (part.names or [])] if named else None
    values = np.concatenate([p.values for p in parts]) if parts else np.empty((0, n_values), rules.dtype)
    lines = np.concatenate([p.lines for p in parts]) if parts else np.empty(0, dtype=np.int64)
    row_offsets = np.cumsum([0] + [p.total_rows for p in parts])
    rows = (np.concatenate([p.rows + offset for p, offset in zip(parts, row_offsets)]) if parts
            else np.empty(0, dtype=np.int64))
    total = int(row_offsets[-1])
    table = ListTable(path, names, values, lines, rows, total)
    if declared is not None and declared != total:
        bad.file(path, f"line {count_line} says {declared} rows but the file has {total}")
    if named and unique and len(table):
        duplicated = pd.Index(table.names).duplicated(keep="first")
        if duplicated.any():
            first = table.names[int(np.flatnonzero(duplicated)[0])]
            table = table.drop(duplicated, bad, f"duplicated row for {first!r} (only the first one is kept)")
    return table


def _read_header(handle: BinaryIO, path: Path) -> tuple[int, int, int]:
    """(declared count, its line number, the header's line number); blank lines before are skipped."""
    line_no = 0
    count_line = 0
    declared: int | None = None
    for raw in iter(handle.readline, b""):
        line_no += 1
        text = raw.strip()
        if not text:
            continue
        if declared is None:
            try:
                declared = int(text)
            except ValueError:
                raise DatasetError(f"{path}: line {line_no}: expected the number of rows, found "
                                   f"{text[:60].decode('utf-8', 'replace')!r}") from None
            if declared < 0:
                raise DatasetError(f"{path}: line {line_no}: negative row count {declared}")
            count_line = line_no
            continue
        return declared, count_line, line_no  # this line is the header
    if declared is None:
        raise DatasetError(f"{path}: empty file (expected the number of rows on line 1)")
    raise DatasetError(f"{path}: no header line after the row count on line {count_line}")


def _chunks(handle: BinaryIO, first_line: int) -> Iterator[tuple[bytes, int]]:
    """Pieces of the file that end at a newline, with the line number of their first line."""
    tail = b""
    while True:
        block = handle.read(CHUNK_BYTES)
        if not block:
            break
        data = tail + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a chunk: keep reading
            tail = data
            continue
        chunk, tail = data[:cut], data[cut:]
        yield chunk, first_line
        first_line += chunk.count(b"\n")
    if tail.strip():
        yield tail + b"\n", first_line


@dataclass(frozen=True)
class _Part:
    names: list[str] | None
    values: np.ndarray
    lines: np.ndarray
    rows: np.ndarray
    total_rows: int


@dataclass(frozen=True)
class _Rules:
    n_values: int
    named: bool
    kind: str
    value_range: tuple[int, int] | None
    what: str
    choices: tuple[str, ...] | None

    @property
    def dtype(self) -> type:
        if self.kind == "str":
            return object
        if self.value_range is not None and -128 <= self.value_range[0] and self.value_range[1] <= 127:
            return np.int8
        return np.int64


def _parse_chunk(chunk: bytes, first_line: int, path: Path, rules: _Rules, bad: BadRows) -> _Part:
    n_values, named, kind, choices = rules.n_values, rules.named, rules.kind, rules.choices
    data = np.frombuffer(chunk, dtype=np.uint8)
    starts, ends = _tokens(data)
    newlines = np.flatnonzero(data == _NEWLINE)
    # Tokens per line from where each newline falls in the (sorted) token starts: a search of the
    # few newlines among the many tokens, not the other way round.
    before_newline = np.searchsorted(starts, newlines)
    per_line = np.diff(before_newline, prepend=0)
    first_token = before_newline - per_line

    data_lines = np.flatnonzero(per_line > 0)  # blank lines are not rows
    counts = per_line[data_lines]
    line_numbers = data_lines + first_line
    total = len(data_lines)
    needed = n_values + (1 if named else 0)
    ok = counts >= needed if named else counts == needed
    if named:
        # A name with spaces is fine, but a name whose last word is a value means extra values.
        extra = ok & (counts > needed)
        if extra.any():
            rows_extra = np.flatnonzero(extra)
            last_name_token = first_token[data_lines[rows_extra]] + counts[rows_extra] - n_values - 1
            looks_like_value = _looks_like_value(chunk, starts[last_name_token], ends[last_name_token], kind, choices)
            ok[rows_extra[looks_like_value]] = False
    if not ok.all():
        wrong = ~ok
        found = counts[wrong] - (1 if named else 0)
        what = f"an image name and {n_values} values" if named else f"{n_values} values"
        bad.rows(path, line_numbers[wrong], f"expected {what}, found {int(found[0])} values"
                 + (" (or a name without values)" if named and found[0] <= 0 else ""))

    good = np.flatnonzero(ok)
    value_tokens = (first_token[data_lines[good]] + counts[good] - n_values)[:, None] + np.arange(n_values)
    if kind == "int":
        values, valid = _parse_ints(data, starts[value_tokens], ends[value_tokens])
        if not valid.all():
            row_bad = ~valid.all(axis=1)
            token = value_tokens[row_bad][0][~valid[row_bad][0]][0]
            text = chunk[starts[token]:ends[token] + 1].decode("utf-8", "replace")
            bad.rows(path, line_numbers[good[row_bad]], f"not an integer value: {text[:40]!r}")
            good, values = good[~row_bad], values[~row_bad]
        if rules.value_range is not None and values.size:
            low, high = rules.value_range
            outside = (values < low) | (values > high)
            row_bad = outside.any(axis=1)
            if row_bad.any():
                example = int(values[row_bad][0][outside[row_bad][0]][0])
                bad.rows(path, line_numbers[good[row_bad]], f"{rules.what} {example} is not in {low}..{high}")
                good, values = good[~row_bad], values[~row_bad]
        values = values.astype(rules.dtype, copy=False)
    else:
        values = _token_texts(chunk, starts[value_tokens], ends[value_tokens])
        if choices is not None and values.size:
            wrong_text = ~np.isin(values, list(choices)).all(axis=1)
            if wrong_text.any():
                example = next(v for v in values[wrong_text][0] if v not in choices)
                bad.rows(path, line_numbers[good[wrong_text]],
                         f"unexpected value {example[:40]!r} (expected one of {', '.join(choices)})")
                good, values = good[~wrong_text], values[~wrong_text]
    names = None
    if named:
        name_first = first_token[data_lines[good]]
        name_last = name_first + counts[good] - n_values - 1
        names = [chunk[a:b + 1].decode("utf-8", "surrogateescape")
                 for a, b in zip(starts[name_first].tolist(), ends[name_last].tolist())]
    return _Part(names, values, line_numbers[good].astype(np.int64), good.astype(np.int64), total)


def _tokens(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and inclusive end offsets of the whitespace-separated tokens of ``data``.

    Bytes up to 32 (space, tab, CR, LF, other controls) separate tokens; one comparison pass and
    one ``flatnonzero`` over the word/space transitions give both ends at once.
    """
    word = np.empty(len(data) + 2, dtype=bool)
    word[0] = word[-1] = False
    np.greater(data, 32, out=word[1:-1])
    edges = np.flatnonzero(word[1:] != word[:-1])
    return edges[0::2], edges[1::2] - 1


def _parse_ints(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers of the tokens ``data[starts:ends+1]`` (any shape) and a mask of the valid ones."""
    if starts.size == 0:
        return np.zeros(starts.shape, dtype=np.int64), np.ones(starts.shape, dtype=bool)
    lengths = ends - starts + 1
    if lengths.max() <= 2:
        return _parse_short_ints(data, starts, ends, lengths)
    values = np.zeros(starts.shape, dtype=np.int64)
    valid = lengths <= MAX_DIGITS + 1
    first = data[starts]
    signed = (first == _MINUS) | (first == _PLUS)
    valid &= lengths > signed  # a lone sign is not a number
    width = int(min(lengths.max(), MAX_DIGITS + 1))
    for offset in range(width):
        # Column by column over all tokens at once; positions past a token's end are ignored.
        inside = (offset < lengths) & ~((offset == 0) & signed)
        char = data[np.minimum(starts + offset, len(data) - 1)]
        digit = char.astype(np.int64) - _ZERO
        is_digit = (digit >= 0) & (digit <= 9)
        valid &= ~inside | is_digit
        values = np.where(inside & is_digit, values * 10 + digit, values)
    values = np.where(first == _MINUS, -values, values)
    return values, valid


def _parse_short_ints(data: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                      lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The common case (attribute labels 1 / -1 / 0): tokens of one or two characters, in int16."""
    last = data[ends].astype(np.int16) - _ZERO
    first = data[starts]
    first_digit = first.astype(np.int16) - _ZERO
    two = lengths == 2
    valid = (last >= 0) & (last <= 9)
    first_is_digit = (first_digit >= 0) & (first_digit <= 9)
    valid &= ~two | first_is_digit | (first == _MINUS) | (first == _PLUS)
    values = np.where(two & first_is_digit, first_digit * 10 + last, last)
    values = np.where(two & (first == _MINUS), -last, values)
    return values, valid


def _token_texts(chunk: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    flat = [chunk[a:b + 1].decode("utf-8", "surrogateescape") for a, b in zip(starts.ravel().tolist(),
                                                                              ends.ravel().tolist())]
    return np.array(flat, dtype=object).reshape(starts.shape)


def _looks_like_value(chunk: bytes, starts: np.ndarray, ends: np.ndarray, kind: str,
                      choices: Sequence[str] | None) -> np.ndarray:
    """Whether each token would be a valid value (so it is an extra value, not part of a name)."""
    if kind == "int":
        _, valid = _parse_ints(np.frombuffer(chunk, dtype=np.uint8), starts, ends)
        return valid
    if choices is None:
        return np.zeros(len(starts), dtype=bool)
    texts = _token_texts(chunk, starts, ends)
    return np.isin(texts, list(choices))
