"""The numpy MMCQ (fashion.colour.mmcq) returns exactly colorthief's boxes, on many pixel sets."""

from __future__ import annotations

import numpy as np
import pytest
from colorthief import MMCQ

from fashion.colour.garment import quantise
from fashion.colour.mmcq import MMCQError, histogram, mmcq_boxes


def _colorthief_boxes(pixels: np.ndarray, colours: int) -> list[tuple[int, ...]]:
    cmap = MMCQ.quantize(pixels.tolist(), colours)
    return [(v.r1, v.r2, v.g1, v.g2, v.b1, v.b2) for v in (entry["vbox"] for entry in cmap.vboxes.contents)]


def _pixel_sets(seed: int = 0, count: int = 40):
    """Uniform noise, clusters of garment-like colours with noise, one colour, a few exact colours."""
    rng = np.random.default_rng(seed)
    for case in range(count):
        n = int(rng.integers(1, 700))
        kind = case % 4
        if kind == 0:
            pixels = rng.integers(0, 256, (n, 3))
        elif kind == 1:
            centres = rng.integers(0, 256, (int(rng.integers(1, 6)), 3))
            pixels = centres[rng.integers(0, len(centres), n)] + rng.normal(0, rng.uniform(0, 30), (n, 3))
        elif kind == 2:
            pixels = np.repeat(rng.integers(0, 256, (1, 3)), n, axis=0)
        else:
            pixels = rng.integers(0, 256, (int(rng.integers(1, 4)), 3))
        yield np.clip(pixels, 0, 255).astype(np.uint8), int(rng.integers(2, 12))


def test_boxes_equal_colorthief():
    for pixels, colours in _pixel_sets():
        assert mmcq_boxes(pixels, colours) == _colorthief_boxes(pixels, colours)


def test_histogram_counts_5bit_bins():
    pixels = np.array([[0, 0, 0], [7, 7, 7], [8, 0, 255], [255, 255, 255]], dtype=np.uint8)
    histo = histogram(pixels)
    assert histo.shape == (32, 32, 32) and histo.sum() == 4
    assert histo[0, 0, 0] == 2 and histo[1, 0, 31] == 1 and histo[31, 31, 31] == 1


@pytest.mark.parametrize("colours", [0, 1, 257])
def test_refuses_what_colorthief_refuses(colours):
    pixels = np.zeros((4, 3), dtype=np.uint8)
    with pytest.raises(MMCQError):
        mmcq_boxes(pixels, colours)
    with pytest.raises(Exception):  # noqa: B017 - colorthief raises bare Exceptions
        MMCQ.quantize(pixels.tolist(), colours)


def test_empty_pixels_refused():
    with pytest.raises(MMCQError):
        mmcq_boxes(np.zeros((0, 3), dtype=np.uint8), 5)


def test_palettes_equal_the_colorthief_reference():
    for pixels, colours in _pixel_sets(seed=1, count=12):
        ours, reference = quantise(pixels, k=colours, method="mmcq"), quantise(pixels, k=colours, method="colorthief")
        np.testing.assert_array_equal(ours.rgb, reference.rgb)
        np.testing.assert_allclose(ours.shares, reference.shares)
