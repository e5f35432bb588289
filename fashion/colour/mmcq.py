"""MMCQ (modified median cut quantisation) on a numpy histogram: colorthief's boxes, ~100x faster.

colorthief's :class:`colorthief.MMCQ` (a port of Leptonica's) keeps its 5-bit RGB histogram in a
dict and sums a box's population with three nested pure-Python loops over every bin of the box,
so its cost grows with the colour variety of the image (about 170 ms for a street photo's garment
pixels on this project's machines, more than the network). This module runs the same algorithm,
step for step and with the same tie-breaking, on a ``(32, 32, 32)`` numpy histogram, where a box's
population is one slice sum. :func:`mmcq_boxes` returns exactly the boxes colorthief returns
(``tests/test_colour_mmcq.py`` checks them against colorthief on many pixel sets); colorthief stays
the reference in ``python -m bench segment``.

Boxes are ``(r1, r2, g1, g2, b1, b2)``: inclusive 5-bit bounds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MMCQError", "histogram", "mmcq_boxes"]

SIGBITS = 5
_SIDE = 1 << SIGBITS
_MAX_ITERATION = 1000
_FRACT_BY_POPULATIONS = 0.75

Box = tuple[int, int, int, int, int, int]


class MMCQError(ValueError):
    """MMCQ cannot quantise this input (no pixels, or a colour count outside 2..256)."""


def histogram(pixels: np.ndarray) -> np.ndarray:
    """``(32, 32, 32) int64`` population of the 5-bit RGB bins of ``(n, 3) uint8`` pixels."""
    bins = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3) >> (8 - SIGBITS)
    flat = (bins[:, 0].astype(np.intp) << (2 * SIGBITS)) | (bins[:, 1].astype(np.intp) << SIGBITS) | bins[:, 2]
    return np.bincount(flat, minlength=_SIDE ** 3).reshape(_SIDE, _SIDE, _SIDE)


class _VBox:
    """A box of the histogram with its population and volume (computed once, as colorthief caches them)."""

    __slots__ = ("bounds", "count", "volume")

    def __init__(self, bounds: list[int], histo: np.ndarray) -> None:
        r1, r2, g1, g2, b1, b2 = bounds
        self.bounds = bounds
        self.count = int(histo[r1:r2 + 1, g1:g2 + 1, b1:b2 + 1].sum())
        self.volume = (r2 - r1 + 1) * (g2 - g1 + 1) * (b2 - b1 + 1)


def _median_cut(histo: np.ndarray, box: _VBox) -> tuple[_VBox | None, _VBox | None]:
    """colorthief's ``MMCQ.median_cut_apply``: split ``box`` at its median along its widest axis."""
    if not box.count:
        return None, None
    if box.count == 1:
        return _VBox(list(box.bounds), histo), None
    r1, r2, g1, g2, b1, b2 = box.bounds
    widths = (r2 - r1 + 1, g2 - g1 + 1, b2 - b1 + 1)
    axis = widths.index(max(widths))  # ties go to r, then g, as colorthief's if/elif chain
    sub = histo[r1:r2 + 1, g1:g2 + 1, b1:b2 + 1]
    other = tuple(a for a in range(3) if a != axis)
    cumulative = np.cumsum(sub.sum(axis=other))
    low, high = box.bounds[2 * axis], box.bounds[2 * axis + 1]
    total = int(cumulative[-1])
    partial = {low + i: int(v) for i, v in enumerate(cumulative)}
    lookahead = {i: total - v for i, v in partial.items()}
    for i in range(low, high + 1):
        if partial[i] > total / 2:
            left, right = i - low, high - i
            if left <= right:
                cut = min(high - 1, int(i + right / 2))
            else:
                cut = max(low, int(i - 1 - left / 2))
            while not partial.get(cut, False):  # avoid 0-count boxes
                cut += 1
            count2 = lookahead.get(cut)
            while not count2 and partial.get(cut - 1, False):
                cut -= 1
                count2 = lookahead.get(cut)
            first, second = list(box.bounds), list(box.bounds)
            first[2 * axis + 1] = cut
            second[2 * axis] = cut + 1
            return _VBox(first, histo), _VBox(second, histo)
    return None, None


class _Queue:
    """colorthief's ``PQueue``: a list stably sorted by key before each pop, which takes the last."""

    def __init__(self, key) -> None:  # noqa: ANN001 - a key function
        self.key, self.contents, self.sorted = key, [], False

    def push(self, box: _VBox) -> None:
        self.contents.append(box)
        self.sorted = False

    def pop(self) -> _VBox:
        if not self.sorted:
            self.contents.sort(key=self.key)
            self.sorted = True
        return self.contents.pop()


def _split(queue: _Queue, histo: np.ndarray, target: float) -> None:
    """colorthief's inner ``iter_``: cut the queue's first box until ``target`` colours exist."""
    colours, iteration = 1, 0
    while iteration < _MAX_ITERATION:
        box = queue.pop()
        if not box.count:  # put it back
            queue.push(box)
            iteration += 1
            continue
        first, second = _median_cut(histo, box)
        if first is None:
            raise MMCQError("MMCQ could not cut a populated box")
        queue.push(first)
        if second is not None:
            queue.push(second)
            colours += 1
        if colours >= target:
            return
        iteration += 1


def mmcq_boxes(pixels: np.ndarray, max_colours: int) -> list[Box]:
    """The boxes colorthief's ``MMCQ.quantize(pixels, max_colours)`` ends with, in its colour-map
    order; :class:`MMCQError` where colorthief raises (no pixels, ``max_colours`` outside 2..256)."""
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if len(pixels) == 0:
        raise MMCQError("no pixels to quantise")
    if not 2 <= max_colours <= 256:
        raise MMCQError(f"MMCQ quantises into 2..256 colours, not {max_colours}")
    histo = histogram(pixels)
    bins = pixels >> (8 - SIGBITS)
    low, high = bins.min(axis=0), bins.max(axis=0)
    first = _VBox([int(low[0]), int(high[0]), int(low[1]), int(high[1]), int(low[2]), int(high[2])], histo)
    by_count = _Queue(lambda b: b.count)
    by_count.push(first)
    _split(by_count, histo, _FRACT_BY_POPULATIONS * max_colours)
    # Then by population x volume, as colorthief re-sorts (popping from the first queue in order).
    by_size = _Queue(lambda b: b.count * b.volume)
    while by_count.contents:
        by_size.push(by_count.pop())
    _split(by_size, histo, max_colours - len(by_size.contents))
    # colorthief's CMap receives them in pop order (its list is never re-sorted before it is read).
    ordered = []
    while by_size.contents:
        ordered.append(by_size.pop())
    return [tuple(b.bounds) for b in ordered]  # type: ignore[misc]
