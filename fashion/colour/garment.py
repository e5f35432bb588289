"""Colour from a garment's own pixels (a segmentation mask), with a cheap palette step.

:func:`garment_palette` takes an image and a boolean mask of the garment(s) at the image's size;
skin, hair and background never count. The image is shrunk (PIL integer box reduction) to about
:data:`WORK_PIXELS`; a reduced pixel is the garment's only when every pixel of its block is (so
blends with skin or background at the garment's edge drop out; a thin garment keeps its touched
blocks instead). At most ``max_pixels`` of them, a fixed-seed sample, go to the quantiser.

Quantisers (:data:`QUANTISERS`), all followed by exact per-colour pixel means and counts and the
merge of near-duplicate colours (CIEDE2000 <= :data:`fashion.colour.palette.MERGE_DELTA_E`):

* ``"mediancut"``: Pillow's C median cut (``Image.quantize(method=MEDIANCUT)``);
* ``"octree"``: Pillow's fast octree (``FASTOCTREE``);
* ``"maxcoverage"``: Pillow's maximum coverage;
* ``"mmcq"``: MMCQ, colorthief's algorithm on a numpy histogram (:mod:`fashion.colour.mmcq`, the
  same boxes as colorthief; :func:`fashion.colour.palette.palette_from_pixels`);
* ``"colorthief"``: colorthief's own pure-Python MMCQ, the measured reference (same palettes as
  ``"mmcq"``, about 100x slower).

The default, :data:`DEFAULT_QUANTISER` (``"mmcq"``), was picked on CCP's validation split
(accuracy first, then time): with the segmenter's masks and the outfit palette
(:func:`fashion.segment.segmentation_palette`) of 180 val photos, dominant colour within dE 10 of
the largest garment's / garments matched were mmcq 81.7% / 84.1% (7.7 ms; colorthief's own MMCQ
the same palettes at 108 ms), maxcoverage 75.0% / 89.4% (7.0 ms), mediancut 71.1% / 87.5%,
octree 70.6% / 87.7%. Held-out figures from ``python -m bench segment`` are in
``bench/RESULTS.md``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from fashion.colour.palette import (
    MERGE_DELTA_E,
    Palette,
    _erode,
    _make_palette,
    _merge_close,
    _subsample,
    garment_pixels,
    palette_from_pixels,
)
from fashion.colour.settings import DEFAULT_QUANTISER

__all__ = ["DEFAULT_QUANTISER", "MASKED_MAX_PIXELS", "QUANTISERS", "WORK_PIXELS", "garment_palette", "masked_pixels", "quantise"]

QUANTISERS = ("mediancut", "octree", "maxcoverage", "mmcq", "colorthief")
#: Garment pixels sampled from a mask for the quantiser (1024 beat 4096 on CCP val with the
#: segmenter's masks: dominant colour 72.3% vs 68.2% within dE 10, garments matched 90.7% vs 89.0%).
#: Without a mask (the border model), ``garment_pixels``' 4096 as before.
MASKED_MAX_PIXELS = 1024
#: The image is box-reduced to at most about this many pixels before its garment pixels are taken.
WORK_PIXELS = 200 * 200
# Fewer interior pixels than this: the garment is thin, its edge blocks are kept too.
_MIN_INTERIOR = 32
_PILLOW_METHODS = {"mediancut": Image.Quantize.MEDIANCUT, "octree": Image.Quantize.FASTOCTREE,
                   "maxcoverage": Image.Quantize.MAXCOVERAGE}


def masked_pixels(image: Image.Image, mask: np.ndarray, max_pixels: int = MASKED_MAX_PIXELS) -> np.ndarray:
    """``(n, 3) uint8`` garment pixels of ``image`` under ``mask`` (``(H, W)`` bool, the image's size),
    ``1 <= n <= max_pixels``; ``ValueError`` when the mask is empty or of another size."""
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    mask = np.asarray(mask, dtype=bool)
    width, height = image.size
    if mask.shape != (height, width):
        raise ValueError(f"mask shape {mask.shape} does not match the image ({height}, {width})")
    if not mask.any():
        raise ValueError("the mask selects no pixel: no garment to take colours from")
    rgb_image = image if image.mode == "RGB" else image.convert("RGB")
    factor = max(1, math.ceil(math.sqrt(width * height / WORK_PIXELS)))
    if factor == 1:
        pixels, interior, touched = np.asarray(rgb_image), _erode(mask), mask
    else:
        pixels = np.asarray(rgb_image.reduce(factor))  # ceil(W/f) x ceil(H/f): partial blocks kept
        # The mask's block means by the same reduction (PIL, in C): 255 = all garment, > 0 = touched.
        coverage = np.asarray(Image.fromarray(mask.view(np.uint8) * np.uint8(255)).reduce(factor))
        interior, touched = coverage == 255, coverage > 0
    chosen = interior if interior.sum() >= _MIN_INTERIOR else touched
    selected = pixels[chosen]
    if len(selected) == 0:  # a garment smaller than one block of the reduced image
        selected = np.asarray(rgb_image)[mask]
    return _subsample(selected, max_pixels)


def quantise(pixels: np.ndarray, k: int = 5, method: str = DEFAULT_QUANTISER,
             merge_delta_e: float = MERGE_DELTA_E) -> Palette:
    """Palette of at most ``k`` colours of ``(n, 3) uint8`` pixels by ``method`` (see the module)."""
    if method not in QUANTISERS:
        raise ValueError(f"unknown quantiser {method!r}; one of {', '.join(QUANTISERS)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pixels = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8).reshape(-1, 3))
    if len(pixels) == 0:
        raise ValueError("no pixels to quantise")
    if method in ("mmcq", "colorthief"):
        return palette_from_pixels(pixels, k=k, merge_delta_e=merge_delta_e, reference=method == "colorthief")
    strip = Image.fromarray(pixels[None, :, :])
    index = np.asarray(strip.quantize(colors=max(k, 2), method=_PILLOW_METHODS[method], dither=Image.Dither.NONE))
    index = index.ravel().astype(np.intp)
    counts = np.bincount(index).astype(np.float64)
    used = np.flatnonzero(counts)
    sums = np.stack([np.bincount(index, weights=pixels[:, c], minlength=len(counts)) for c in range(3)], axis=-1)
    means = sums[used] / counts[used, None]
    rgb, weights = _merge_close(means, counts[used], merge_delta_e)
    if k < len(weights):
        top = np.argsort(-weights, kind="stable")[:k]
        rgb, weights = rgb[top], weights[top]
    return _make_palette(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), weights)


def garment_palette(image: Image.Image, mask: np.ndarray | None = None, k: int = 5, max_pixels: int | None = None,
                    method: str = DEFAULT_QUANTISER) -> Palette:
    """Palette of the garment pixels of ``image``: those under ``mask`` (``(H, W)`` bool, e.g. one
    garment's or the union of all garments' from :mod:`fashion.segment`), or, with no mask, the
    border-colour model's garment pixels (:func:`fashion.colour.palette.garment_pixels`, for a
    product shot on a plain background). Same :class:`Palette` (Lab colours and shares) as
    :func:`fashion.colour.palette.extract_palette`. ``ValueError`` for an empty mask."""
    if mask is None:
        pixels = garment_pixels(image, None, max_pixels=4096 if max_pixels is None else max_pixels)
    else:
        pixels = masked_pixels(image, mask, max_pixels=MASKED_MAX_PIXELS if max_pixels is None else max_pixels)
    return quantise(pixels, k=k, method=method)
