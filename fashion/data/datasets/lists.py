"""A fast reader for DeepFashion's whitespace-separated ``list_*.txt`` files.

Layout of every file (see ../shared/DESIGN.md): line 1 the number of rows (some copies start with
a blank line), line 2 a header, then one row per line: a name, then ``n_values`` values. Names may
contain spaces, so a row is split from the right. The fine split files (``train_cate.txt`` ...) have
no count, no header and no name: only values, aligned with ``train.txt`` by line.

``list_attr_img.txt`` is 289,222 rows of 1,000 values (about 900 MB), so rows are not split in
Python: each 1 MB chunk of the file is tokenised with numpy (token ends from a whitespace mask,
tokens per line from where the newlines fall among them), each row's last ``n_values`` tokens are
its values, and a value of one or two bytes (``1``, ``-1``, ``0``, a category number) is read
backwards from its end without ever locating its start. Longer values and text take a slower,
still vectorised, path. Bad rows are found in the same pass and reported through
:class:`~fashion.data.datasets.common.BadRows` with their line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from fashion.data.datasets.common import BadRows, DatasetError

# Small chunks keep every temporary array small enough for malloc to reuse from one chunk to the
# next; 16 MB chunks spent most of their time page-faulting fresh 40 MB index arrays (measured:
# 1 MB chunks parse list_attr_img.txt about 1.7x faster than 16 MB ones).
CHUNK_BYTES = 2**20
MAX_DIGITS = 18  # int64-safe

_NEWLINE, _MINUS, _PLUS, _ZERO = 10, 45, 43, 48


@dataclass(frozen=True)
class ListTable:
    """The good rows of one list file, in file order.

    ``names`` is None for files without a name column; ``values`` is (n, n_values) int64 (or
    object for ``kind="str"``); ``lines`` are 1-based line numbers and ``rows`` 0-based ordinals
    among the file's data rows (blank lines not counted), which is what position-aligned files
    are matched on. ``total_rows`` counts every data row, bad ones included; ``rejected`` holds
    the names of rows already reported as bad.
    """

    source: Path
    names: list[str] | None
    values: np.ndarray
    lines: np.ndarray
    rows: np.ndarray
    total_rows: int
    rejected: frozenset[str] = frozenset()

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
        kept = self.select(~bad_mask)
        if self.names is None:
            return kept
        gone = {n for n, b in zip(self.names, bad_mask.tolist()) if b}
        return replace(kept, rejected=self.rejected | gone)


def read_deepfashion_list(path: str | Path, n_values: int, *, header: bool = True, named: bool = True,
                          kind: str = "int", value_range: tuple[int, int] | None = None,
                          out_of_range: str = "value {value} is not in {low}..{high}",
                          choices: Sequence[str] | None = None, unique: bool = True, image_names: bool = False,
                          bad: BadRows | None = None) -> ListTable:
    """Read a DeepFashion list file: ``[count, header,] rows of [name] + n_values values``.

    ``kind`` is ``"int"`` (values parsed as integers; with ``value_range=(lo, hi)`` a value
    outside it is a bad row, explained by the ``out_of_range`` template, and values are stored as int8 when
    the range allows: the 1,000-attribute file then takes 289 MB, not 2.3 GB) or ``"str"`` (kept as
    text; with ``choices`` any other text is a bad row). Rows with the wrong number of values or a
    non-integer value, duplicated names (``unique``) and a count on line 1 that differs from the
    number of rows are reported to ``bad`` (default: raise :class:`DatasetError` on the first one).
    With ``image_names`` (image lists), a name whose last word would be a valid value means the
    row has too many values: a path does not end in " 1", but a category name might.
    """
    path = Path(path)
    bad = bad if bad is not None else BadRows("error")
    if kind not in ("int", "str"):
        raise ValueError(f"kind must be 'int' or 'str', got {kind!r}")
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not a list file")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or error})") from None
    with handle:
        declared, count_line, line_no = _read_header(handle, path) if header else (None, 0, 0)
        rules = _Rules(n_values, named, kind, value_range, out_of_range,
                       tuple(choices) if choices is not None else None, image_names)
        collected = _Collector(n_values, rules.dtype, declared)
        parts = []
        for chunk, first_line in _chunks(handle, line_no + 1):
            part = _parse_chunk(chunk, first_line, path, rules, bad)
            collected.add(part.values)
            parts.append(replace(part, values=None))  # the collector holds them now
    names = [name for part in parts for name in (part.names or [])] if named else None
    values = collected.result()
    lines = np.concatenate([p.lines for p in parts]) if parts else np.empty(0, dtype=np.int64)
    row_offsets = np.cumsum([0] + [p.total_rows for p in parts])
    rows = (np.concatenate([p.rows + offset for p, offset in zip(parts, row_offsets)]) if parts
            else np.empty(0, dtype=np.int64))
    total = int(row_offsets[-1])
    table = ListTable(path, names, values, lines, rows, total, frozenset(n for p in parts for n in p.rejected))
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
                try:
                    shown = repr(text[:60].decode("utf-8"))
                except UnicodeDecodeError:
                    shown = "bytes that are not text (a damaged or binary file?)"
                raise DatasetError(f"{path}: line {line_no}: expected the number of rows, found {shown}") from None
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


class _Collector:
    """Stacks the chunks' value arrays, straight into one array of the declared size when there is one.

    For list_attr_img.txt this avoids holding the 289 MB of labels twice (chunk pieces plus their
    concatenation); a file with more rows than declared falls back to concatenating.
    """

    def __init__(self, n_values: int, dtype: type, expected: int | None) -> None:
        self.n_values, self.dtype = n_values, dtype
        self.out = np.empty((expected or 0, n_values), dtype=dtype)
        self.filled = 0
        self.overflow: list[np.ndarray] = []

    def add(self, values: np.ndarray) -> None:
        if self.overflow or self.filled + len(values) > len(self.out):
            self.overflow.append(values)
            return
        self.out[self.filled:self.filled + len(values)] = values
        self.filled += len(values)

    def result(self) -> np.ndarray:
        head = self.out[:self.filled]
        return np.concatenate([head, *self.overflow]) if self.overflow else head


@dataclass(frozen=True)
class _Part:
    names: list[str] | None
    values: np.ndarray | None
    lines: np.ndarray
    rows: np.ndarray
    total_rows: int
    rejected: list[str]


@dataclass(frozen=True)
class _Rules:
    n_values: int
    named: bool
    kind: str
    value_range: tuple[int, int] | None
    out_of_range: str
    choices: tuple[str, ...] | None
    image_names: bool

    @property
    def dtype(self) -> type:
        if self.kind == "str":
            return object
        if self.value_range is not None and -128 <= self.value_range[0] and self.value_range[1] <= 127:
            return np.int8
        return np.int64


class _Tokens:
    """Token offsets of one chunk (which ends with a newline).

    Only the token *ends* are needed on the fast path: the number of tokens per line comes from
    them, and a value of one or two bytes is read backwards from its end. ``starts`` (a second
    full pass) is computed only when something needs it: long values, text values, error messages
    or names that do not begin their line.
    """

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.data = data = np.frombuffer(chunk, dtype=np.uint8)
        self.word = data > 32  # bytes up to 32 (space, tab, CR, LF, other controls) separate tokens
        self.ends = np.flatnonzero(self.word[:-1] & ~self.word[1:])  # inclusive ends
        self._starts: np.ndarray | None = None

    @property
    def starts(self) -> np.ndarray:
        """Start offset of every token (computed on first use)."""
        if self._starts is None:
            previous = np.empty_like(self.word)
            previous[0] = False
            previous[1:] = self.word[:-1]
            self._starts = np.flatnonzero(self.word & ~previous)
        return self._starts

    def texts(self, first: np.ndarray, last: np.ndarray) -> list[str]:
        """The text from token ``first`` through token ``last`` (inner whitespace kept), per pair."""
        return [self.chunk[a:b + 1].decode("utf-8", "surrogateescape")
                for a, b in zip(self.starts[first].tolist(), self.ends[last].tolist())]


def _parse_chunk(chunk: bytes, first_line: int, path: Path, rules: _Rules, bad: BadRows) -> _Part:
    n_values, named, choices = rules.n_values, rules.named, rules.choices
    tokens = _Tokens(chunk)
    data = tokens.data
    newlines = np.flatnonzero(data == _NEWLINE)
    # Tokens per line from where each newline falls among the (sorted) token ends: a search of
    # the few newlines among the many tokens, not the other way round.
    before_newline = np.searchsorted(tokens.ends, newlines)
    per_line = np.diff(before_newline, prepend=0)
    first_token = before_newline - per_line

    data_lines = np.flatnonzero(per_line > 0)  # blank lines are not rows
    counts = per_line[data_lines]
    firsts = first_token[data_lines]
    line_numbers = data_lines + first_line
    total = len(data_lines)
    needed = n_values + (1 if named else 0)
    ok = counts >= needed if named else counts == needed
    if named and rules.image_names and n_values:
        # A name with spaces is fine, but an image name whose last word is a value means extra values.
        extra = np.flatnonzero(ok & (counts > needed))
        if len(extra):
            last_name_token = firsts[extra] + counts[extra] - n_values - 1
            ok[extra[_looks_like_value(tokens, last_name_token, rules)]] = False
    if not ok.all():
        wrong = ~ok
        found = int(counts[wrong][0]) - (1 if named else 0)
        plural = "value" if n_values == 1 else "values"
        name = ("an image name" if rules.image_names else "a name") + " and " if named else ""
        bad.rows(path, line_numbers[wrong], f"expected {name}{n_values} {plural}, found {found}")

    good = np.flatnonzero(ok)
    uniform = bool(len(good) == total and (counts == needed).all())
    take = _value_selector(len(tokens.ends), firsts[good], counts[good], rules, uniform)
    if rules.kind == "int":
        values, valid = _parse_ints(data, take(tokens.ends), lambda: take(tokens.starts))
        if not valid.all():
            row_bad = ~valid.all(axis=1)
            at = np.flatnonzero(~valid[row_bad][0])[0]
            token = int(np.searchsorted(tokens.ends, take(tokens.ends)[row_bad][0][at]))
            text = tokens.texts(np.array([token]), np.array([token]))[0]
            bad.rows(path, line_numbers[good[row_bad]], f"not an integer value: {text[:40]!r}")
            good, values = good[~row_bad], values[~row_bad]
        if rules.value_range is not None and values.size:
            low, high = rules.value_range
            outside = (values < low) | (values > high)
            row_bad = outside.any(axis=1)
            if row_bad.any():
                example = int(values[row_bad][0][outside[row_bad][0]][0])
                bad.rows(path, line_numbers[good[row_bad]],
                         rules.out_of_range.format(value=example, low=low, high=high))
                good, values = good[~row_bad], values[~row_bad]
        values = values.astype(rules.dtype, copy=False)
    else:
        token_index = take(np.arange(len(tokens.ends)))
        values = np.array(tokens.texts(token_index.ravel(), token_index.ravel()), dtype=object).reshape(
            token_index.shape)
        if choices is not None and values.size:
            wrong_text = ~np.isin(values, list(choices)).all(axis=1)
            if wrong_text.any():
                example = next(v for v in values[wrong_text][0] if v not in choices)
                bad.rows(path, line_numbers[good[wrong_text]],
                         f"unexpected value {example[:40]!r} (expected one of {', '.join(choices)})")
                kept_rows = ~wrong_text
                good, values = good[kept_rows], values[kept_rows]
    names, rejected = None, []
    if named:
        names = _names(tokens, newlines, data_lines[good], firsts[good], counts[good] - n_values)
        if len(good) < total:
            # Names of the rejected rows, so that a reader aligning files by name does not report
            # the same row twice (once here, once as "missing from this file"). Where values were
            # missing or extra the name is ambiguous: both readings are recorded.
            gone = np.setdiff1d(np.arange(total), good)
            rejected = _names(tokens, newlines, data_lines[gone], firsts[gone], np.maximum(counts[gone] - n_values, 1))
            rejected += _names(tokens, newlines, data_lines[gone], firsts[gone], np.ones(len(gone), np.int64))
    return _Part(names, values, line_numbers[good].astype(np.int64), good.astype(np.int64), total, rejected)


def _names(tokens: _Tokens, newlines: np.ndarray, lines: np.ndarray, first: np.ndarray,
           n_tokens: np.ndarray) -> list[str]:
    """Each row's first ``n_tokens`` tokens as text (inner spaces kept)."""
    last_end = tokens.ends[first + n_tokens - 1]
    # A name usually begins its line, which saves computing every token's start.
    line_start = np.where(lines > 0, newlines[np.maximum(lines - 1, 0)] + 1, 0)
    if not tokens.word[line_start].all():
        line_start = tokens.starts[first]
    chunk = tokens.chunk
    return [chunk[a:b + 1].decode("utf-8", "surrogateescape") for a, b in zip(line_start.tolist(), last_end.tolist())]


def _value_selector(n_tokens: int, first: np.ndarray, counts: np.ndarray, rules: _Rules,
                    uniform: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping a per-token array to the (rows, n_values) array of each row's values.

    ``uniform``: every line of the chunk is a good row with exactly the expected tokens (the usual
    case), so the values are all tokens but each row's name: a mask, not an index gather.
    """
    k = rules.n_values
    if k == 0:
        return lambda per_token: np.empty((len(first), 0), dtype=per_token.dtype)
    if uniform and not rules.named:
        return lambda per_token: per_token.reshape(-1, k)
    if uniform:
        is_value = np.ones(n_tokens, dtype=bool)
        is_value[first] = False
        return lambda per_token: per_token[is_value].reshape(-1, k)
    index = (first + counts - k)[:, None] + np.arange(k)
    return lambda per_token: per_token[index]


def _parse_ints(data: np.ndarray, ends: np.ndarray, starts: Callable[[], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Integers of the tokens ending at ``ends`` (any shape) and a mask of the valid ones.

    The chunk ends with a newline, so ``data[ends - 1]`` and ``data[ends - 2]`` wrapping around
    to the chunk's last bytes for the first token reads "no byte before": never a wrong value.
    """
    if ends.size == 0:
        return np.zeros(ends.shape, dtype=np.int64), np.ones(ends.shape, dtype=bool)
    before = _shifted(data, 1)[ends]  # data[ends - 1] without an int64 temporary
    two = before > 32
    if (two & (_shifted(data, 2)[ends] > 32)).any():
        return _parse_long_ints(data, starts(), ends)
    # One or two bytes (attribute labels 1 / -1 / 0): ``byte - 48`` wraps around in uint8, so
    # ``<= 9`` alone tells a digit.
    last = data[ends] - np.uint8(_ZERO)
    valid = last <= 9
    values = last.astype(np.int16)
    if two.any():
        tens = before - np.uint8(_ZERO)
        tens_digit = two & (tens <= 9)
        minus = two & (before == _MINUS)
        valid &= ~two | tens_digit | minus | (before == _PLUS)
        if tens_digit.any():
            values += np.where(tens_digit, tens.astype(np.int16) * 10, 0).astype(np.int16)
        np.negative(values, out=values, where=minus)
    return values, valid


def _shifted(data: np.ndarray, by: int) -> np.ndarray:
    """``data`` moved right by ``by`` bytes, newlines shifted in (so ``out[i] == data[i - by]``)."""
    out = np.empty_like(data)
    out[:by] = _NEWLINE
    out[by:] = data[:-by]
    return out


def _parse_long_ints(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The general case: up to 18 digits with an optional sign, column by column over all tokens."""
    lengths = ends - starts + 1
    values = np.zeros(starts.shape, dtype=np.int64)
    valid = lengths <= MAX_DIGITS + 1
    first = data[starts]
    signed = (first == _MINUS) | (first == _PLUS)
    valid &= lengths > signed  # a lone sign is not a number
    valid &= lengths - signed <= MAX_DIGITS  # 19 unsigned digits would overflow int64 silently
    for offset in range(int(min(lengths.max(), MAX_DIGITS + 1))):
        inside = (offset < lengths) & ~((offset == 0) & signed)  # positions past a token's end are ignored
        digit = data[np.minimum(starts + offset, len(data) - 1)].astype(np.int64) - _ZERO
        is_digit = (digit >= 0) & (digit <= 9)
        valid &= ~inside | is_digit
        values = np.where(inside & is_digit, values * 10 + digit, values)
    return np.where(first == _MINUS, -values, values), valid


def _looks_like_value(tokens: _Tokens, index: np.ndarray, rules: _Rules) -> np.ndarray:
    """Whether each token would be a valid value (so it is an extra value, not part of a name)."""
    if rules.kind == "int":
        return _parse_long_ints(tokens.data, tokens.starts[index], tokens.ends[index])[1]
    if rules.choices is None:
        return np.zeros(len(index), dtype=bool)
    return np.isin(np.array(tokens.texts(index, index), dtype=object), list(rules.choices))
