"""Garment colour: foreground pixels, MMCQ palettes, CIELAB, CIEDE2000, colour names, palette similarity.

Pipeline for one image (:func:`extract_palette`)::

    RGB image --shrink to <= ~300x300 (PIL reduce)--> border strip --> background colours + radii
              --> background = pixels within a radius AND connected to the image border
              --region (bbox, or the box around the rest)--> garment pixels, edge pixels dropped
                  (the region's centre when it is mostly background: white on white, leaked outline)
              --deterministic subsample (<= max_pixels), rarest 5% of colours dropped
              --> colorthief.MMCQ.quantize(pixels, k)
              --exact per-box pixel counts and means, near-duplicates merged--> Palette

Colours are compared in CIELAB (sRGB, D65) with CIEDE2000 (Sharma, Wu & Dalal 2005). Named
colours are the 148 CSS4 colours (nearest by CIEDE2000); ``colour_family`` maps a colour to one
of eleven basic colour terms for filters. Nothing is computed at import time.
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from fashion.colour.names import COLOUR_FAMILIES, CSS4_COLOURS, PREFERRED_ALIASES

__all__ = [
    "Palette", "garment_pixels", "foreground_mask", "extract_palette", "palette_from_pixels", "rgb_to_lab", "lab_to_rgb", "ciede2000",
    "colour_name", "colour_names", "lab_for_name", "colour_family", "colour_families",
    "is_colour_family", "palette_has_colour", "palette_colour_mask", "palette_similarity",
    "palette_similarity_many", "palette_self_match", "pack_palettes", "unpack_palette",
    "delta_e_dominant", "COLOUR_FAMILIES", "SIMILARITY_SIGMA", "MERGE_DELTA_E", "RARE_COLOUR_FRACTION",
]

#: Scale of the colour kernel ``exp(-dE / sigma)`` used by :func:`palette_similarity`:
#: dE 2 (barely visible) -> 0.85, dE 10 (clearly different shade) -> 0.43, dE 30 -> 0.08.
SIMILARITY_SIGMA = 12.0

# Palette colours closer than this (CIEDE2000) are shades of one colour: MMCQ splits the
# dominant colour first, and merging the halves keeps a secondary colour from outranking it.
MERGE_DELTA_E = 6.0

# Before MMCQ, the rarest colours holding together at most this share of the garment's pixels
# are dropped (see ``_drop_rare_colours``).
RARE_COLOUR_FRACTION = 0.05

# --- CIELAB -----------------------------------------------------------------------------

# sRGB (IEC 61966-2-1) linear RGB -> XYZ, D65 white, 2 degree observer.
_RGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_EPSILON = (6.0 / 29.0) ** 3
_KAPPA = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB companding inverted: values in [0, 1] -> linear light."""
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


@functools.cache
def _linear_lut() -> np.ndarray:
    """Linear light of each 8-bit sRGB value (a lookup beats the power function on pixels)."""
    return _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0)


def rgb_to_lab(rgb: np.ndarray | Sequence[float]) -> np.ndarray:
    """CIELAB (D65) of sRGB colours: ``(..., 3)`` -> ``(..., 3)`` float64 (L in [0, 100]).

    Integer arrays and float arrays are both on the 0..255 scale (a float array is e.g. a mean of
    pixels); floats are clipped to it.
    """
    arr = np.asarray(rgb)
    if arr.shape[-1:] != (3,):
        raise ValueError(f"rgb must have shape (..., 3), got {arr.shape}")
    if arr.dtype == np.uint8:
        linear = _linear_lut()[arr]
    elif np.issubdtype(arr.dtype, np.integer):
        linear = _linear_lut()[np.clip(arr, 0, 255)]
    else:
        linear = _srgb_to_linear(np.clip(arr.astype(np.float64), 0.0, 255.0) / 255.0)
    xyz = linear @ (_RGB_TO_XYZ.T / _WHITE_D65)  # divide by the white point inside the matrix
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), xyz * _KAPPA + 4.0 / 29.0)
    lab = np.empty(f.shape, dtype=np.float64)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def lab_to_rgb(lab: np.ndarray | Sequence[float]) -> np.ndarray:
    """sRGB ``uint8`` of CIELAB (D65) colours ``(..., 3)``; out-of-gamut colours are clipped."""
    lab = np.asarray(lab, dtype=np.float64)
    if lab.shape[-1:] != (3,):
        raise ValueError(f"lab must have shape (..., 3), got {lab.shape}")
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f ** 3, (f - 4.0 / 29.0) / _KAPPA) * _WHITE_D65
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1.0 / 2.4) - 0.055)
    return np.clip(np.rint(srgb * 255.0), 0, 255).astype(np.uint8)


def ciede2000(lab1: np.ndarray | Sequence[float], lab2: np.ndarray | Sequence[float],
              k_l: float = 1.0, k_c: float = 1.0, k_h: float = 1.0) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB colours, vectorised with numpy broadcasting.

    ``lab1`` and ``lab2`` have shapes ``(..., 3)`` that broadcast; the result has the broadcast
    shape without the last axis (a 0-d array for two single colours; ``float()`` it). Follows
    Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005,
    including its conventions for achromatic colours (hue 0, hue difference 0) and for mean hues
    180 degrees apart. Symmetric in its arguments.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    if lab1.shape[-1:] != (3,) or lab2.shape[-1:] != (3,):
        raise ValueError(f"Lab arrays must have shape (..., 3), got {lab1.shape} and {lab2.shape}")
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    # Step 1: a' (a stretched for near-neutral colours), C', h'.
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_mean7 / (c_mean7 + 25.0 ** 7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0  # atan2(0, 0) = 0: the paper's convention
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_product = c1p * c2p
    achromatic = chroma_product == 0.0

    # Step 2: differences.
    delta_l = l2 - l1
    delta_c = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(achromatic, 0.0, dh)
    delta_h = 2.0 * np.sqrt(chroma_product) * np.sin(np.radians(dh / 2.0))

    # Step 3: means and weighting functions.
    l_mean = (l1 + l2) / 2.0
    c_mean = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = np.where(np.abs(h1p - h2p) <= 180.0, h_sum / 2.0,
                      np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0))
    h_mean = np.where(achromatic, h_sum, h_mean)
    t = (1.0 - 0.17 * np.cos(np.radians(h_mean - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_mean))
         + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0)))
    delta_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    c_mean_7 = c_mean ** 7
    r_c = 2.0 * np.sqrt(c_mean_7 / (c_mean_7 + 25.0 ** 7))
    l_50 = (l_mean - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_50 / np.sqrt(20.0 + l_50)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2.0 * delta_theta)) * r_c

    term_l = delta_l / (k_l * s_l)
    term_c = delta_c / (k_c * s_c)
    term_h = delta_h / (k_h * s_h)
    squared = term_l ** 2 + term_c ** 2 + term_h ** 2 + r_t * term_c * term_h
    return np.sqrt(np.maximum(squared, 0.0))  # rounding can make a zero difference slightly negative


# --- Palette ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Palette:
    """A garment's colours: CIELAB ``lab (k,3) float32``, sRGB ``rgb (k,3) uint8`` and
    ``shares (k,) float32`` (fractions of the garment's pixels, summing to 1), ``k >= 1``.

    The constructor sorts the colours by share, largest first (stable), and stores read-only
    copies; it does not renormalise shares (:meth:`from_rgb` and :func:`unpack_palette` do).
    """

    lab: np.ndarray
    rgb: np.ndarray
    shares: np.ndarray

    def __post_init__(self) -> None:
        lab = np.array(self.lab, dtype=np.float32).reshape(-1, 3)
        rgb = np.array(self.rgb, dtype=np.uint8).reshape(-1, 3)
        shares = np.array(self.shares, dtype=np.float32).reshape(-1)
        if not (len(lab) == len(rgb) == len(shares)) or len(lab) == 0:
            raise ValueError(f"Palette needs k >= 1 colours with matching lab {lab.shape}, rgb {rgb.shape}, "
                             f"shares {shares.shape}")
        if not np.all(np.isfinite(lab)) or np.any(shares < 0) or not np.isfinite(shares).all():
            raise ValueError("Palette lab must be finite and shares non-negative")
        order = np.argsort(-shares, kind="stable")
        for name, value in (("lab", lab[order]), ("rgb", rgb[order]), ("shares", shares[order])):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.shares)

    @property
    def dominant_lab(self) -> np.ndarray:
        """Lab of the colour with the largest share, ``(3,) float32``."""
        return self.lab[0]

    @property
    def dominant_rgb(self) -> np.ndarray:
        """sRGB of the colour with the largest share, ``(3,) uint8``."""
        return self.rgb[0]

    @property
    def names(self) -> list[str]:
        """Nearest CSS4 colour name of each colour (see :func:`colour_name`)."""
        return colour_names(self.lab)

    @property
    def families(self) -> list[str]:
        """Basic colour family of each colour (see :func:`colour_family`)."""
        return [str(f) for f in colour_families(self.lab)]

    @property
    def hex(self) -> list[str]:
        """``#rrggbb`` of each colour."""
        return ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in self.rgb]

    def describe(self, max_colours: int = 3) -> str:
        """Short text for explanations, e.g. ``"navy 62%, white 30%"``."""
        parts = [f"{name} {share:.0%}" for name, share in zip(self.names[:max_colours], self.shares)]
        return ", ".join(parts)

    @classmethod
    def from_rgb(cls, rgb: np.ndarray | Sequence[Sequence[int]], shares: Sequence[float] | None = None) -> "Palette":
        """A palette from sRGB colours (equal shares when none given), normalised and sorted."""
        rgb = np.asarray(rgb, dtype=np.uint8).reshape(-1, 3)
        weights = np.ones(len(rgb)) if shares is None else np.asarray(shares, dtype=np.float64)
        return _make_palette(rgb, weights)


def _make_palette(rgb: np.ndarray, counts: np.ndarray) -> Palette:
    """Palette from colours and non-negative weights: zero weights dropped, normalised, sorted."""
    counts = np.asarray(counts, dtype=np.float64)
    keep = counts > 0
    if not keep.any():
        raise ValueError("a palette needs at least one colour with a positive share")
    rgb, counts = np.asarray(rgb)[keep], counts[keep]
    order = np.argsort(-counts, kind="stable")
    rgb, counts = rgb[order], counts[order]
    return Palette(lab=rgb_to_lab(rgb), rgb=rgb, shares=counts / counts.sum())


# --- Garment pixels -------------------------------------------------------------------------

# Images are shrunk (PIL integer box reduction) to at most this many pixels before any work:
# DeepFashion's 300 px images stay full size, so one-pixel garment outlines survive.
_WORK_PIXELS = 300 * 300
# The border strip is this fraction of the shorter side (at least one pixel), sampled down to
# about this many pixels for the background estimate.
_BORDER_FRACTION = 0.04
_BORDER_SAMPLE = 1024
# A background colour must explain this much of the border strip: the first (main) mode...
_MIN_MAIN_MODE_SHARE = 0.2
# ... and each further one (textured, two-tone or graded backgrounds); when the strip may hold
# garment pixels, further modes must also hold this share of three of the four sides, so a
# garment that runs off one edge is not mistaken for background.
_MIN_EXTRA_MODE_SHARE = 0.1
_MAX_MODES = 3
# A background colour's radius: this times the 90th percentile of its border pixels' distance
# to it, at least _MIN_RADIUS (JPEG noise) and at most ``background_delta_e``.
_RADIUS_SCALE = 2.0
_MIN_RADIUS = 4.0
# When more than this share of the region's centre is background, or less than this share of
# the region is garment (garments cover 55-80% of a tight bbox), the garment is background-
# coloured and the background leaked into it through gaps in its outline, or the garment fills
# the frame: keep the region's centre instead.
_CENTRE_BACKGROUND_LIMIT = 0.6
_MIN_GARMENT_SHARE = 0.3
_CENTRE_FRACTION = 0.5  # the centre is the middle half of the region in each direction
_MIN_KEPT_PIXELS = 16


def garment_pixels(image: Image.Image, bbox: Sequence[float] | None = None, max_pixels: int = 4096,
                   background_delta_e: float = 12.0) -> np.ndarray:
    """The garment's pixels as ``(n, 3) uint8`` sRGB, ``1 <= n <= max_pixels``.

    * Large images are first shrunk with PIL (integer box reduction) to about 300x300 pixels.
    * Region: ``bbox = (x1, y1, x2, y2)`` in pixels (clipped to the image; an empty box means
      the whole image).
    * Background colours: up to three modes of a border strip of the *whole* image (tight boxes
      touch the garment), using only the strip outside the bbox where that is large enough.
      Each gets a radius (CIEDE2000) from how much the border varies around it: from 4 for a
      flat studio background up to ``background_delta_e`` for a noisy or graded one
      (``background_delta_e <= 0`` keeps every pixel of the region).
    * Background: the pixels within a background colour's radius that are connected to the
      image border. Background-coloured parts *enclosed* by the garment stay: the inside of a
      white garment with a faint outline on white, white stripes on a red shirt.
    * Region: without a bbox, the box around everything that is not background.
    * Fallback: when the region's centre is still mostly background, or the region holds little
      garment (a white garment whose outline has gaps, or a garment filling the frame), the
      centre of the region is kept whole.
    * Edge pixels of the garment (blends with the background) are dropped unless that leaves
      too little, then at most ``max_pixels`` are kept, chosen deterministically (a fixed-seed
      sample, which does not alias with stripes the way a fixed stride can).
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    rgb_image = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb_image.size
    region = _clip_bbox(bbox, width, height)
    factor = max(1, math.ceil(math.sqrt(width * height / _WORK_PIXELS)))
    if factor > 1:
        rgb_image = rgb_image.reduce(factor)
        region = _scale_box(region, factor, rgb_image.width, rgb_image.height)
    pixels = np.asarray(rgb_image)
    known = region if bbox is not None else None
    background, radii = _background_modes(pixels, known, background_delta_e)
    return _subsample(_foreground(pixels, known, background, radii), max_pixels)


def foreground_mask(image: Image.Image, background_delta_e: float = 12.0) -> np.ndarray:
    """``(H, W) bool`` at the image's size: the pixels that are not border-connected background.

    The same border-colour background model as :func:`garment_pixels` (computed on the image
    shrunk to about 300x300, then scaled back with nearest neighbours). All true when the border
    shows no dominant colour (a busy scene: nothing is removed).
    """
    rgb_image = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb_image.size
    factor = max(1, math.ceil(math.sqrt(width * height / _WORK_PIXELS)))
    small = rgb_image.reduce(factor) if factor > 1 else rgb_image
    pixels = np.asarray(small)
    background, radii = _background_modes(pixels, None, background_delta_e)
    if len(background) == 0:
        return np.ones((height, width), dtype=bool)
    mask = ~_connected_to_border(_background_like(pixels, background, radii))
    if factor == 1:
        return mask
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))


def _clip_bbox(bbox: Sequence[float] | None, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer ``(x1, y1, x2, y2)`` inside the image; the whole image for ``None`` or an empty box."""
    if bbox is None:
        return 0, 0, width, height
    if len(bbox) != 4:
        raise ValueError(f"bbox must be (x1, y1, x2, y2), got {bbox!r}")
    x1, y1, x2, y2 = (int(round(float(v))) for v in bbox)
    x1, x2 = max(0, min(x1, width)), max(0, min(x2, width))
    y1, y2 = max(0, min(y1, height)), max(0, min(y2, height))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return 0, 0, width, height
    return x1, y1, x2, y2


def _scale_box(box: tuple[int, int, int, int], factor: int, width: int, height: int) -> tuple[int, int, int, int]:
    """A box in the coordinates of the image reduced by ``factor`` (at least one pixel)."""
    x1, y1 = min(box[0] // factor, width - 1), min(box[1] // factor, height - 1)
    x2 = min(width, max(x1 + 1, -(-box[2] // factor)))
    y2 = min(height, max(y1 + 1, -(-box[3] // factor)))
    return x1, y1, x2, y2


def _border_strip(pixels: np.ndarray, bbox: tuple[int, int, int, int] | None
                  ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Border pixels ``(m, 3) uint8`` (evenly thinned to about ``_BORDER_SAMPLE``), their side
    (0 top, 1 bottom, 2 left, 3 right) and whether they all lie outside the bbox (with a bbox,
    only the strip outside it is used when that is at least a quarter of the strip: it is
    background for sure).
    """
    height, width = pixels.shape[:2]
    band = max(1, int(round(_BORDER_FRACTION * min(width, height))))
    mask = np.zeros((height, width), dtype=bool)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    side = np.full((height, width), 3, dtype=np.int8)
    side[:, :band] = 2
    side[:band] = 0
    side[-band:] = 1
    outside_only = False
    if bbox is not None:
        x1, y1, x2, y2 = bbox
        outside = mask.copy()
        outside[y1:y2, x1:x2] = False
        if outside.sum() >= 0.25 * mask.sum():
            mask, outside_only = outside, True
    strip, strip_side = pixels[mask], side[mask]
    step = max(1, len(strip) // _BORDER_SAMPLE)
    return strip[::step], strip_side[::step], outside_only


def _background_modes(pixels: np.ndarray, bbox: tuple[int, int, int, int] | None, delta_e: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The background colours found in the border strip: Lab ``(m, 3)`` and a CIEDE2000 radius
    ``(m,)`` for each, ``0 <= m <= 3``.

    Greedy mode finding: seed at the most populated coarse RGB cell of the border pixels not yet
    explained, refine to the median Lab of the pixels within ``delta_e`` of it, accept it when it
    explains enough of the strip (see the ``_MIN_*`` constants; the side rules only apply when
    the strip may hold garment pixels), repeat. A mode's radius adapts to how much its pixels
    vary: ``_RADIUS_SCALE`` times their 90th-percentile distance, between ``_MIN_RADIUS`` and
    ``delta_e``. A flat studio background gets a tight radius, so an off-white garment on white
    is not background; a noisy or graded one gets up to ``delta_e``.
    """
    border_rgb, side, surely_background = _border_strip(pixels, bbox)
    if len(border_rgb) == 0 or delta_e <= 0:  # background_delta_e = 0 turns removal off
        return np.zeros((0, 3)), np.zeros(0)
    border_lab = rgb_to_lab(border_rgb)
    side_sizes = np.bincount(side, minlength=4)
    cells = (border_rgb >> 4).astype(np.int32) @ np.array([256, 16, 1])
    unexplained = np.ones(len(border_rgb), dtype=bool)
    modes: list[np.ndarray] = []
    radii: list[float] = []
    while len(modes) < _MAX_MODES and unexplained.mean() >= _MIN_EXTRA_MODE_SHARE:
        seed_cell = np.bincount(cells[unexplained]).argmax()
        centre = np.median(border_lab[unexplained & (cells == seed_cell)], axis=0)
        near = (ciede2000(border_lab, centre) <= delta_e) & unexplained
        if near.any():
            centre = np.median(border_lab[near], axis=0)
        distance = ciede2000(border_lab, centre)
        near = (distance <= delta_e) & unexplained
        share = near.mean()
        if not near.any():
            break
        if not modes:
            if share < _MIN_MAIN_MODE_SHARE:
                break  # a busy scene: no colour dominates the border, remove nothing
        else:
            side_share = np.bincount(side[near], minlength=4) / np.maximum(side_sizes, 1)
            on_sides = int((side_share >= _MIN_EXTRA_MODE_SHARE).sum())
            off_sides = not surely_background and on_sides < 3
            if share < _MIN_EXTRA_MODE_SHARE or off_sides:
                break
        modes.append(centre)
        radii.append(float(np.clip(_RADIUS_SCALE * np.percentile(distance[near], 90), _MIN_RADIUS, delta_e)))
        unexplained &= ~near
    return np.array(modes).reshape(-1, 3), np.array(radii)


def _background_like(pixels: np.ndarray, background: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """``(H, W) bool``: pixels within its radius (CIEDE2000) of any background colour.

    Decided per 6-bit RGB cell (by its centre colour, within about 1-2 dE of any colour in it): an image
    uses a few thousand of the 262144 cells, so this costs a fraction of a per-pixel CIEDE2000.
    """
    quantised = (pixels >> 2).astype(np.int32)
    cells = quantised[..., 0] * 4096 + quantised[..., 1] * 64 + quantised[..., 2]
    used = np.flatnonzero(np.bincount(cells.ravel(), minlength=262144))
    centres = np.stack([used >> 12, (used >> 6) & 63, used & 63], axis=-1) * 4 + 2
    table = np.zeros(262144, dtype=bool)
    table[used] = _near_any(rgb_to_lab(centres.astype(np.uint8)), background, radii)
    return table[cells]


def _connected_to_border(mask: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (4-connected) that touch the image border."""
    from scipy import ndimage  # imported here: nothing heavy at import time

    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    touching = np.zeros(count + 1, dtype=bool)
    touching[edge] = True
    touching[0] = False
    return touching[labels]


def _foreground(pixels: np.ndarray, region: tuple[int, int, int, int] | None, background: np.ndarray,
                radii: np.ndarray) -> np.ndarray:
    """The garment's pixels: in ``region`` (or the box around everything not background), not
    border-connected background; the region's centre when the garment seems to have leaked."""
    if len(background) == 0:
        x1, y1, x2, y2 = region if region is not None else (0, 0, pixels.shape[1], pixels.shape[0])
        return pixels[y1:y2, x1:x2].reshape(-1, 3)
    not_background = ~_connected_to_border(_background_like(pixels, background, radii))
    if region is None:
        region = _garment_box(not_background)
    x1, y1, x2, y2 = region
    crop, garment = pixels[y1:y2, x1:x2], not_background[y1:y2, x1:x2]
    h, w = garment.shape
    cy, cx = int(h * (1 - _CENTRE_FRACTION) / 2), int(w * (1 - _CENTRE_FRACTION) / 2)
    centre = (slice(cy, max(cy + 1, h - cy)), slice(cx, max(cx + 1, w - cx)))
    leaked = garment.mean() < _MIN_GARMENT_SHARE or 1.0 - garment[centre].mean() > _CENTRE_BACKGROUND_LIMIT
    if leaked or garment.sum() < _MIN_KEPT_PIXELS:
        return crop[centre].reshape(-1, 3)
    inner = _erode(garment)
    return crop[inner if inner.sum() >= _MIN_KEPT_PIXELS else garment]  # thin shapes vanish under erosion


def _garment_box(garment: np.ndarray) -> tuple[int, int, int, int]:
    """The garment's box when no bbox is known: around the non-background pixels.

    Eroding first ignores specks of a noisy background; but when the garment leaked into the
    background (a white garment whose faint outline has gaps), erosion leaves only details
    (a neckline), so the box of the plain mask, spanning the outline, is used instead.
    """
    whole = (0, 0, garment.shape[1], garment.shape[0])
    plain = _mask_box(garment)
    if plain is None:
        return whole
    eroded = _mask_box(_erode(garment))
    if eroded is None or _box_area(eroded) < 0.25 * _box_area(plain):
        return plain
    return eroded


def _box_area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box ``(x1, y1, x2, y2)`` (exclusive ends) of a mask's true pixels, or None."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _erode(mask: np.ndarray) -> np.ndarray:
    """``mask`` without its edge pixels (4-neighbourhood erosion).

    Edge pixels blend garment and background (anti-aliasing, JPEG, downscaling); dropping them
    removes colours the garment does not have.
    """
    eroded = mask.copy()
    eroded[1:] &= mask[:-1]
    eroded[:-1] &= mask[1:]
    eroded[:, 1:] &= mask[:, :-1]
    eroded[:, :-1] &= mask[:, 1:]
    return eroded


def _near_any(lab: np.ndarray, colours: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each Lab colour is within the radius (CIEDE2000) of any of ``colours``."""
    near = np.zeros(lab.shape[:-1], dtype=bool)
    for colour, radius in zip(colours, radii):
        near |= ciede2000(lab, colour) <= radius
    return near


def _subsample(pixels: np.ndarray, max_pixels: int) -> np.ndarray:
    """At most ``max_pixels`` rows, chosen by a fixed-seed sample and kept in image order."""
    if len(pixels) <= max_pixels:
        return np.ascontiguousarray(pixels)
    chosen = np.sort(np.random.default_rng(0).choice(len(pixels), size=max_pixels, replace=False))
    return pixels[chosen]


# --- Palette extraction ---------------------------------------------------------------------


def extract_palette(image: Image.Image, bbox: Sequence[float] | None = None, k: int = 5, max_pixels: int = 4096,
                    background_delta_e: float = 12.0, merge_delta_e: float = MERGE_DELTA_E) -> Palette:
    """The garment's palette: at most ``k`` colours with their shares of the garment's pixels.

    :func:`garment_pixels` selects the pixels; the rarest colours holding together
    :data:`RARE_COLOUR_FRACTION` of them are dropped (edge blends and JPEG noise: no palette
    colour, but they inflate MMCQ's cost); ``colorthief.MMCQ.quantize(pixels, k)`` (modified
    median cut) splits them into boxes of the 5-bit RGB histogram; each box's colour and share
    are then the mean and count of the pixels that actually fall in it (colorthief's own box
    colour is a histogram-bin average and can belong to an empty box). Colours within
    ``merge_delta_e`` (CIEDE2000) are merged (count-weighted): they are shades of one colour
    that median cut split. A single-colour garment gives a one-colour palette.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pixels = garment_pixels(image, bbox, max_pixels=max_pixels, background_delta_e=background_delta_e)
    return palette_from_pixels(pixels, k=k, merge_delta_e=merge_delta_e)


def palette_from_pixels(pixels: np.ndarray, k: int = 5, merge_delta_e: float = MERGE_DELTA_E) -> Palette:
    """MMCQ palette of ``(n, 3) uint8`` pixels (see :func:`extract_palette`)."""
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if len(pixels) == 0:
        raise ValueError("no pixels to quantise")
    pixels = _drop_rare_colours(pixels, RARE_COLOUR_FRACTION)
    boxes = _mmcq_boxes(pixels, k)
    if boxes is None:
        return _make_palette(np.rint(pixels.mean(axis=0))[None].astype(np.uint8), np.ones(1))
    bins = (pixels >> 3).astype(np.int16)  # MMCQ's 5-bit histogram coordinates
    means, counts = [], []
    for r1, r2, g1, g2, b1, b2 in boxes:
        inside = ((bins[:, 0] >= r1) & (bins[:, 0] <= r2) & (bins[:, 1] >= g1) & (bins[:, 1] <= g2)
                  & (bins[:, 2] >= b1) & (bins[:, 2] <= b2))
        count = int(inside.sum())
        if count:  # MMCQ can return empty boxes whose colour means nothing
            means.append(pixels[inside].mean(axis=0))
            counts.append(count)
    if not counts:  # cannot happen with colorthief 0.2.1 (its boxes tile the pixels); be safe
        return _make_palette(np.rint(pixels.mean(axis=0))[None].astype(np.uint8), np.ones(1))
    rgb, weights = _merge_close(np.array(means), np.array(counts, dtype=np.float64), merge_delta_e)
    if k < len(weights):
        top = np.argsort(-weights, kind="stable")[:k]
        rgb, weights = rgb[top], weights[top]
    return _make_palette(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), weights)


def _drop_rare_colours(pixels: np.ndarray, fraction: float) -> np.ndarray:
    """``pixels`` without the rarest colours (5-bit RGB bins) that together hold <= ``fraction``.

    The long tail is anti-aliasing, JPEG ringing and blends at pattern edges. It carries no
    palette colour worth naming, yet it stretches MMCQ's first box, whose volume sets MMCQ's cost
    (pure-Python loops over every bin of every box) and whose sparse corners MMCQ's second,
    volume-weighted phase likes to return as colours.
    """
    if fraction <= 0:
        return pixels
    bins = (pixels >> 3).astype(np.int32) @ np.array([1024, 32, 1], dtype=np.int32)
    counts = np.bincount(bins, minlength=32768)
    used = np.flatnonzero(counts)
    rarest_first = used[np.argsort(counts[used], kind="stable")]
    dropped = rarest_first[np.cumsum(counts[rarest_first]) <= fraction * len(pixels)]
    if len(dropped) == 0 or len(dropped) == len(used):
        return pixels
    keep = np.ones(32768, dtype=bool)
    keep[dropped] = False
    return pixels[keep[bins]]


def _mmcq_boxes(pixels: np.ndarray, k: int) -> list[tuple[int, int, int, int, int, int]] | None:
    """colorthief's MMCQ boxes ``(r1, r2, g1, g2, b1, b2)`` (5-bit, inclusive), or None on failure.

    MMCQ refuses fewer than two colours, so ``k == 1`` quantises into two boxes and the caller
    keeps the larger one (the main colour, not a blend of it with a minority colour).
    """
    from colorthief import MMCQ  # imported here: nothing heavy at import time

    try:
        cmap = MMCQ.quantize(pixels.tolist(), min(max(k, 2), 256))
    except Exception:  # colorthief raises bare Exceptions on degenerate input
        return None
    return [(v.r1, v.r2, v.g1, v.g2, v.b1, v.b2) for v in (entry["vbox"] for entry in cmap.vboxes.contents)]


def _merge_close(rgb: np.ndarray, counts: np.ndarray, delta_e: float) -> tuple[np.ndarray, np.ndarray]:
    """Repeatedly merge the closest two colours (count-weighted mean) while within ``delta_e``."""
    rgb, counts = rgb.astype(np.float64), counts.astype(np.float64)
    while len(rgb) > 1 and delta_e > 0:
        lab = rgb_to_lab(rgb)
        distance = ciede2000(lab[:, None], lab[None])
        np.fill_diagonal(distance, np.inf)
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        if distance[i, j] > delta_e:
            break
        total = counts[i] + counts[j]
        rgb[i] = (rgb[i] * counts[i] + rgb[j] * counts[j]) / total
        counts[i] = total
        rgb, counts = np.delete(rgb, j, axis=0), np.delete(counts, j)
    return rgb, counts


# --- Colour names and families ---------------------------------------------------------------


def _normalise_name(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


@functools.cache
def _css_lab() -> dict[str, np.ndarray]:
    """Lab of every CSS4 name (all spellings), built on first use."""
    rgb = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for _, h in CSS4_COLOURS], dtype=np.uint8)
    lab = rgb_to_lab(rgb)
    return {name: lab[i] for i, (name, _) in enumerate(CSS4_COLOURS)}


@functools.cache
def _naming_table() -> tuple[tuple[str, ...], np.ndarray]:
    """Names reported by :func:`colour_name` (one spelling per value) and their Lab ``(n, 3)``."""
    table = {name: lab for name, lab in _css_lab().items() if name not in PREFERRED_ALIASES}
    return tuple(table), np.array(list(table.values()))


def colour_names(labs: np.ndarray | Sequence[Sequence[float]]) -> list[str]:
    """Nearest CSS4 colour name (CIEDE2000) of each Lab colour in ``(n, 3)``."""
    names, table = _naming_table()
    labs = np.asarray(labs, dtype=np.float64).reshape(-1, 3)
    if len(labs) == 0:
        return []
    nearest = ciede2000(labs[:, None, :], table[None, :, :]).argmin(axis=1)
    return [names[i] for i in nearest]


def colour_name(lab: np.ndarray | Sequence[float]) -> str:
    """Nearest CSS4 colour name (CIEDE2000) of one Lab colour, e.g. ``"navy"``, ``"whitesmoke"``."""
    return colour_names(np.asarray(lab, dtype=np.float64).reshape(1, 3))[0]


def is_colour_family(name: str) -> bool:
    """Whether ``name`` is one of :data:`COLOUR_FAMILIES` (``gray`` counts as ``grey``)."""
    return _family_key(name) in COLOUR_FAMILIES


def _family_key(name: str) -> str:
    key = _normalise_name(name)
    return "grey" if key == "gray" else key


def lab_for_name(name: str) -> np.ndarray:
    """Lab ``(3,) float64`` of a CSS4 colour name (case, spaces, ``-``/``_`` ignored: "Light Blue").

    The family names (``red``, ``grey``, ...) are CSS4 names too. An unknown name raises
    ``ValueError`` listing the closest known names.
    """
    table = _css_lab()
    key = _normalise_name(name)
    if key in table:
        return table[key].copy()
    close = difflib.get_close_matches(key, list(table), n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"try a basic colour: {', '.join(COLOUR_FAMILIES)}"
    raise ValueError(f"unknown colour name {name!r}; {hint} (any of the 148 CSS4 colour names works)")


# Hue sectors of the chromatic families as start angles of the Oklab hue (degrees, wrapping at
# 360). Oklab rather than CIELAB hue because CIELAB bends blue towards purple (pure blue and
# medium purple share a CIELAB hue of 306 degrees); the boundaries sit between the CSS4 colours
# named for each family (orange 71 vs gold 95, turquoise 185 vs teal 195, slateblue 286 vs
# mediumpurple 297, orchid 329 vs mediumvioletred 350).
_HUE_SECTORS = ((15.0, "red"), (38.0, "orange"), (76.0, "yellow"), (118.0, "green"),
                (192.0, "blue"), (292.0, "purple"), (340.0, "pink"))
# Oklab M1 (linear sRGB -> LMS) and M2 (LMS^(1/3) -> Lab), Bjoern Ottosson 2020.
_OKLAB_M1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                      [0.2119034982, 0.6806995451, 0.1073969566],
                      [0.0883024619, 0.2817188376, 0.6299787005]])
_OKLAB_M2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                      [1.9779984951, -2.4285922050, 0.4505937099],
                      [0.0259040371, 0.7827717662, -0.8086757660]])


def _oklab_hue(lab: np.ndarray) -> np.ndarray:
    """Oklab hue angle (degrees) of CIELAB colours ``(..., 3)`` (no gamut clipping)."""
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > 6.0 / 29.0, f ** 3, (f - 4.0 / 29.0) / _KAPPA) * _WHITE_D65
    linear = xyz @ np.linalg.inv(_RGB_TO_XYZ).T
    ok = np.cbrt(linear @ _OKLAB_M1.T) @ _OKLAB_M2.T
    return np.degrees(np.arctan2(ok[..., 2], ok[..., 1])) % 360.0


def colour_families(labs: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Basic colour family (one of :data:`COLOUR_FAMILIES`) of each Lab colour: ``(...)`` str array.

    Rules on CIELAB lightness L and chroma C and the Oklab hue h:

    * achromatic (C < 13): black (L < 22), grey, white (L >= 88); near-white tints (L > 93,
      C < 16: ivory, beige, lavender) are white and near-black ones (L < 12, C < 20) black;
    * otherwise the hue sector (red 15-38, orange 38-76, yellow 76-118, green 118-192,
      blue 192-292, purple 292-340, pink 340-15), then
      * brown: dark oranges (L < 63: chocolate, sienna), dark yellows (L < 55, except olive
        hues >= 100 which are green) and muted warm colours (hue 38-118, C < 35, L < 82: tan,
        camel);
      * pink: light reds (L > 65: salmon, light coral); red: dark pinks (L < 40: burgundy).
    """
    labs = np.asarray(labs, dtype=np.float64)
    if labs.shape[-1:] != (3,):
        raise ValueError(f"labs must have shape (..., 3), got {labs.shape}")
    lightness = labs[..., 0]
    chroma = np.hypot(labs[..., 1], labs[..., 2])
    hue = _oklab_hue(labs)
    family = np.full(lightness.shape, "pink", dtype=object)  # hues below the first sector
    for start, name in _HUE_SECTORS:
        family = np.where(hue >= start, name, family)
    warm = (hue >= 38.0) & (hue < 118.0)
    brown = (((family == "orange") & (lightness < 63.0))
             | ((family == "yellow") & (lightness < 55.0) & (hue < 100.0))
             | (warm & (chroma < 35.0) & (lightness < 82.0)))
    family = np.where(brown, "brown", family)
    family = np.where((family == "yellow") & (lightness < 55.0), "green", family)  # olive
    family = np.where((family == "red") & (lightness > 65.0), "pink", family)
    family = np.where((family == "pink") & (lightness < 40.0), "red", family)
    shade = np.where(lightness < 22.0, "black", np.where(lightness >= 88.0, "white", "grey"))
    family = np.where(chroma < 13.0, shade, family)
    family = np.where((lightness > 93.0) & (chroma < 16.0), "white", family)
    family = np.where((lightness < 12.0) & (chroma < 20.0), "black", family)
    return family.astype(str)


def colour_family(lab: np.ndarray | Sequence[float]) -> str:
    """Basic colour family of one Lab colour (see :func:`colour_families`), e.g. ``"blue"`` for navy."""
    return str(colour_families(np.asarray(lab, dtype=np.float64).reshape(1, 3))[0])


def palette_colour_mask(labs: np.ndarray, shares: np.ndarray, name: str, min_share: float = 0.15,
                        max_delta_e: float = 15.0) -> np.ndarray:
    """Which packed palettes ``(N, k, 3)`` / ``(N, k)`` contain the colour ``name``: ``(N,) bool``.

    A family name (:data:`COLOUR_FAMILIES`) matches palettes whose colours of that family hold at
    least ``min_share`` together; any other CSS4 name matches palettes whose colours within
    ``max_delta_e`` (CIEDE2000) of it hold at least ``min_share``. Unknown names raise
    ``ValueError`` (see :func:`lab_for_name`).
    """
    labs = np.asarray(labs, dtype=np.float64)
    shares = np.asarray(shares, dtype=np.float64)
    if labs.ndim == 2:  # one palette
        labs, shares = labs[None], shares[None]
    if labs.ndim != 3 or labs.shape[-1] != 3 or shares.shape != labs.shape[:2]:
        raise ValueError(f"labs must be (N, k, 3) and shares (N, k), got {labs.shape} and {shares.shape}")
    if is_colour_family(name):
        hit = colour_families(labs) == _family_key(name)
    else:
        hit = ciede2000(labs, lab_for_name(name)) <= max_delta_e
    return (np.where(hit, shares, 0.0).sum(axis=1) >= min_share) & (shares.sum(axis=1) > 0)


def palette_has_colour(palette: Palette, name: str, min_share: float = 0.15, max_delta_e: float = 15.0) -> bool:
    """Whether ``palette`` contains the colour ``name`` (see :func:`palette_colour_mask`)."""
    return bool(palette_colour_mask(palette.lab[None], palette.shares[None], name, min_share, max_delta_e)[0])


# --- Palette similarity -----------------------------------------------------------------------


def _kernel(delta_e: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-delta_e / sigma)


def palette_similarity(a: Palette, b: Palette, sigma: float = SIMILARITY_SIGMA) -> float:
    """Similarity of two palettes in [0, 1]: a share-weighted soft match of their colours.

    With ``K(x, y) = exp(-CIEDE2000(x, y) / sigma)`` (1 for equal colours, ``sigma`` =
    :data:`SIMILARITY_SIGMA`) and shares ``p`` (of ``a``) and ``q`` (of ``b``)::

        match(a, b) = sum_ij p_i q_j K(a_i, b_j)
        similarity  = match(a, b) / sqrt(match(a, a) * match(b, b))

    i.e. the cosine of the two palettes as share-weighted mixtures of soft colours. Identical
    palettes give 1; it is symmetric; for one-colour palettes it is exactly ``K``, so it falls
    as the colours move apart; shares matter (90% navy + 10% white vs 10% navy + 90% white is
    about 0.2, not 1). Clipped to [0, 1] (CIEDE2000 is not a Euclidean distance, so the kernel
    is not guaranteed positive definite).
    """
    return float(palette_similarity_many(a, b.lab[None], b.shares[None], sigma=sigma)[0])


def palette_similarity_many(query: Palette, labs: np.ndarray, shares: np.ndarray, sigma: float = SIMILARITY_SIGMA,
                            self_match: np.ndarray | None = None) -> np.ndarray:
    """:func:`palette_similarity` of ``query`` with each packed palette: ``(N,) float32``.

    ``labs (N, k, 3)`` and ``shares (N, k)`` as made by :func:`pack_palettes`; padded colours have
    share 0 and count for nothing; a row with no colour at all scores 0. ``self_match`` is
    :func:`palette_self_match` of the same rows, to pass when scoring many queries against one
    catalog (it is half the work).
    """
    labs, p = _packed(labs, shares)
    q_lab = query.lab.astype(np.float64)
    q_shares = query.shares.astype(np.float64) / query.shares.sum()
    cross = _kernel(ciede2000(q_lab[None, :, None, :], labs[:, None, :, :]), sigma)  # (N, kq, k)
    match = np.einsum("i,nij,nj->n", q_shares, cross, p)
    self_q = q_shares @ _kernel(ciede2000(q_lab[:, None], q_lab[None]), sigma) @ q_shares
    self_n = palette_self_match(labs, p, sigma) if self_match is None else np.asarray(self_match, np.float64)
    denominator = np.sqrt(self_q * self_n)
    similarity = np.where(denominator > 0, match / np.where(denominator > 0, denominator, 1.0), 0.0)
    return np.clip(similarity, 0.0, 1.0).astype(np.float32)


def palette_self_match(labs: np.ndarray, shares: np.ndarray, sigma: float = SIMILARITY_SIGMA) -> np.ndarray:
    """``match(b, b)`` of each packed palette (see :func:`palette_similarity`): ``(N,) float64``."""
    labs, p = _packed(labs, shares)
    kernel = _kernel(ciede2000(labs[:, :, None, :], labs[:, None, :, :]), sigma)
    return np.einsum("ni,nij,nj->n", p, kernel, p)


def _packed(labs: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 ``labs (N, k, 3)`` and shares normalised per row (all-zero rows stay 0)."""
    labs = np.asarray(labs, dtype=np.float64)
    shares = np.asarray(shares, dtype=np.float64)
    if labs.ndim != 3 or labs.shape[-1] != 3 or shares.shape != labs.shape[:2]:
        raise ValueError(f"labs must be (N, k, 3) and shares (N, k), got {labs.shape} and {shares.shape}")
    totals = shares.sum(axis=1)
    return labs, shares / np.where(totals > 0, totals, 1.0)[:, None]


def pack_palettes(palettes: Iterable[Palette | None], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size arrays for a catalog: ``labs (N, k, 3) float32``, ``shares (N, k) float32``.

    Shorter palettes are padded with share 0; longer ones keep their ``k`` largest colours
    (shares renormalised); ``None`` (no palette) gives an all-zero row.
    """
    palettes = list(palettes)
    labs = np.zeros((len(palettes), k, 3), dtype=np.float32)
    shares = np.zeros((len(palettes), k), dtype=np.float32)
    for row, palette in enumerate(palettes):
        if palette is None:
            continue
        n = min(k, len(palette))
        labs[row, :n] = palette.lab[:n]
        shares[row, :n] = palette.shares[:n] / palette.shares[:n].sum()
    return labs, shares


def unpack_palette(lab_row: np.ndarray, share_row: np.ndarray) -> Palette:
    """The :class:`Palette` in one packed row (padding dropped); ``ValueError`` for an empty row."""
    lab_row = np.asarray(lab_row, dtype=np.float64).reshape(-1, 3)
    share_row = np.asarray(share_row, dtype=np.float64).reshape(-1)
    keep = share_row > 0
    if not keep.any():
        raise ValueError("the packed row holds no palette (all shares are 0)")
    lab, weights = lab_row[keep], share_row[keep]
    order = np.argsort(-weights, kind="stable")
    lab, weights = lab[order], weights[order]
    return Palette(lab=lab, rgb=lab_to_rgb(lab), shares=weights / weights.sum())


def delta_e_dominant(a: Palette, b: Palette) -> float:
    """CIEDE2000 between the dominant colours of two palettes."""
    return float(ciede2000(a.dominant_lab, b.dominant_lab))
