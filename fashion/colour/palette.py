"""A garment's palette: its foreground pixels, then MMCQ colours with their shares.

Pipeline for one image (:func:`extract_palette`)::


    RGB image --shrink to <= ~300x300 (PIL reduce)--> border strip --> background colours + radii
              --> background = pixels within a radius AND connected to the image border
              --region (bbox, or the box around the rest)--> garment pixels, edge pixels dropped
                  (the region's centre when it is mostly background: white on white, leaked outline)
              --deterministic subsample (<= max_pixels), rarest 5% of colours dropped
              --> MMCQ boxes (colorthief's algorithm, numpy port: fashion.colour.mmcq)
              --exact per-box pixel counts and means, near-duplicates merged--> Palette

Colours are compared in CIELAB with CIEDE2000 (:mod:`fashion.colour.spaces`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from fashion.colour.constancy import white_balanced
from fashion.colour.names import colour_families, colour_names
from fashion.colour.spaces import ciede2000, rgb_to_lab


# Palette colours closer than this (CIEDE2000) are shades of one colour: MMCQ splits the
# dominant colour first, and merging the halves keeps a secondary colour from outranking it.
MERGE_DELTA_E = 6.0

# Before MMCQ, the rarest colours holding together at most this share of the garment's pixels
# are dropped (see ``_drop_rare_colours``).
RARE_COLOUR_FRACTION = 0.05

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
                   background_delta_e: float = 12.0, white_balance: bool = False) -> np.ndarray:
    """The garment's pixels as ``(n, 3) uint8`` sRGB, ``1 <= n <= max_pixels``.

    * Large images are first shrunk with PIL (integer box reduction) to about 300x300 pixels.
    * ``white_balance``: the light's colour is divided out first
      (:func:`fashion.colour.constancy.white_balanced`: the brightest pixels are taken for white).
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
    if white_balance:
        pixels = white_balanced(pixels)
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


# scipy.ndimage once a long-lived process asked for it (:func:`use_scipy_labelling`), else None.
_ndimage: Any = None


def use_scipy_labelling(enabled: bool = True) -> None:
    """Find border-connected background with ``scipy.ndimage.label`` in this process from now on
    (``enabled=False``: with the numpy propagation again).

    The same pixels as the numpy scanline propagation (tested), 0.6 instead of 3.8 CPU ms on a
    clothing-dataset-small photo at the work size; importing ``scipy.ndimage`` costs 0.3-0.6 s, so
    only processes that describe many photos (the web server's describe workers) call this.
    """
    global _ndimage
    if not enabled:
        _ndimage = None
    elif _ndimage is None:
        import scipy.ndimage

        _ndimage = scipy.ndimage


def _connected_to_border(mask: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (4-connected) that touch the image border.

    Scanline propagation in numpy unless :func:`use_scipy_labelling` was called: importing
    ``scipy.ndimage`` costs 0.3-0.6 s, most of it paid by every cold ``recommend.py`` on a product
    shot. Starting from the mask's border pixels, each pass marks every horizontal run of the mask
    that holds a marked pixel, then every vertical run; it stops when a pass marks nothing new (a
    few passes: each one crosses whole runs, so only a path's turns cost passes). The same pixels
    as the labelling.
    """
    if _ndimage is not None:
        return _connected_to_border_labelled(mask, _ndimage)
    rows, columns = _run_numbers(mask), np.ascontiguousarray(_run_numbers(np.ascontiguousarray(mask.T)).T)
    sizes = [int(rows.max()) + 1, int(columns.max()) + 1]
    reached = np.zeros_like(mask)
    reached[0], reached[-1], reached[:, 0], reached[:, -1] = mask[0], mask[-1], mask[:, 0], mask[:, -1]
    count = int(reached.sum())
    while count:
        for runs, size in zip((rows, columns), sizes):
            hit = np.zeros(size, dtype=bool)
            hit[runs[reached]] = True
            reached = hit[runs]
        grown = int(reached.sum())
        if grown == count:
            break
        count = grown
    return reached


def _connected_to_border_labelled(mask: np.ndarray, ndimage: Any) -> np.ndarray:
    """:func:`_connected_to_border` by labelling the mask's 4-connected parts with scipy."""
    labels, _ = ndimage.label(mask)
    touching = np.zeros(int(labels.max()) + 1, dtype=bool)
    touching[labels[0]] = touching[labels[-1]] = touching[labels[:, 0]] = touching[labels[:, -1]] = True
    touching[0] = False  # 0: not in the mask
    return touching[labels]


def _run_numbers(mask: np.ndarray) -> np.ndarray:
    """Each pixel's horizontal run of ``mask``, numbered from 1 in reading order (0: not in the mask)."""
    starts = mask.copy()
    starts[:, 1:] &= ~mask[:, :-1]
    return (np.cumsum(starts.ravel()).reshape(mask.shape) * mask).astype(np.int32)


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
                    background_delta_e: float = 12.0, merge_delta_e: float = MERGE_DELTA_E,
                    white_balance: bool = False) -> Palette:
    """The garment's palette: at most ``k`` colours with their shares of the garment's pixels.

    :func:`garment_pixels` selects the pixels; the rarest colours holding together
    :data:`RARE_COLOUR_FRACTION` of them are dropped (edge blends and JPEG noise: no palette
    colour, but they stretch MMCQ's first box); MMCQ (modified median cut: colorthief's algorithm,
    run by :func:`fashion.colour.mmcq.mmcq_boxes` with identical boxes) splits them into boxes of
    the 5-bit RGB histogram; each box's colour and share are then the mean and count of the pixels that actually fall in it (colorthief's own box
    colour is a histogram-bin average and can belong to an empty box). Colours within
    ``merge_delta_e`` (CIEDE2000) are merged (count-weighted): they are shades of one colour
    that median cut split. A single-colour garment gives a one-colour palette.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pixels = garment_pixels(image, bbox, max_pixels=max_pixels, background_delta_e=background_delta_e,
                            white_balance=white_balance)
    return palette_from_pixels(pixels, k=k, merge_delta_e=merge_delta_e)


def palette_from_pixels(pixels: np.ndarray, k: int = 5, merge_delta_e: float = MERGE_DELTA_E,
                        reference: bool = False) -> Palette:
    """MMCQ palette of ``(n, 3) uint8`` pixels (see :func:`extract_palette`); ``reference`` runs
    colorthief's pure-Python MMCQ instead of the numpy port (same boxes, for benchmarks and tests)."""
    pixels = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if len(pixels) == 0:
        raise ValueError("no pixels to quantise")
    pixels = _drop_rare_colours(pixels, RARE_COLOUR_FRACTION)
    boxes = _mmcq_boxes(pixels, k, reference)
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


def _mmcq_boxes(pixels: np.ndarray, k: int, reference: bool = False) -> list[tuple[int, int, int, int, int, int]] | None:
    """MMCQ boxes ``(r1, r2, g1, g2, b1, b2)`` (5-bit, inclusive), or None on failure.

    :func:`fashion.colour.mmcq.mmcq_boxes` (numpy), or with ``reference`` colorthief's own
    ``MMCQ.quantize``: the same boxes (tested), at about 1/100 of colorthief's time. MMCQ refuses
    fewer than two colours, so ``k == 1`` quantises into two boxes and the caller keeps the larger
    one (the main colour, not a blend of it with a minority colour).
    """
    colours = min(max(k, 2), 256)
    if not reference:
        from fashion.colour.mmcq import MMCQError, mmcq_boxes

        try:
            return mmcq_boxes(pixels, colours)
        except MMCQError:
            return None
    from colorthief import MMCQ  # imported here: nothing heavy at import time

    try:
        cmap = MMCQ.quantize(pixels.tolist(), colours)
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
