"""Drawing: a garment rendered anti-aliased, with its pattern, on a background, as one photographed view."""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashion.data.sample.designs import DESIGNS, Design, Point, _lerp
from fashion.data.sample.plan import (
    _PAD,
    _SUPERSAMPLE,
    GARMENT_COLOURS,
    STITCH_COLOUR,
    ItemSpec,
    SampleError,
)


# ------------------------------------------------------------------------------------ rendering
def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """Darker (factor < 1) shade; very dark colours get lighter instead so the detail still shows."""
    if sum(rgb) < 150:
        return tuple(min(255, int(c + 55 * (1.0 - factor) / 0.3)) for c in rgb)  # type: ignore[return-value]
    return tuple(int(c * factor) for c in rgb)  # type: ignore[return-value]


def _extents(design: Design) -> tuple[float, float, float, float]:
    points: list[Point] = []
    for kind, shape in design.body:
        points += list(shape) if kind == "poly" else [(shape[0], shape[1]), (shape[2], shape[3])]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


class _Canvas:
    """Maps design units to pixels of a garment-local canvas."""

    def __init__(self, extents: tuple[float, float, float, float], scale: float, pad: int) -> None:
        self.x0, self.y0, x1, y1 = extents
        self.s, self.pad = scale, pad
        self.size = (int(math.ceil((x1 - self.x0) * scale)) + 2 * pad,
                     int(math.ceil((y1 - self.y0) * scale)) + 2 * pad)

    def pt(self, p: Point) -> tuple[float, float]:
        return ((p[0] - self.x0) * self.s + self.pad, (p[1] - self.y0) * self.s + self.pad)

    def pts(self, points: Iterable[Point]) -> list[tuple[float, float]]:
        return [self.pt(p) for p in points]

    def box(self, b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = self.pt((b[0], b[1])), self.pt((b[2], b[3]))
        return (x0, y0, x1, y1)

    def width(self, w: float) -> int:
        return max(1, int(round(w * self.s)))


def _draw_shape(draw: ImageDraw.ImageDraw, canvas: _Canvas, kind: str, shape: Any, fill: Any) -> None:
    if kind == "poly":
        draw.polygon(canvas.pts(shape), fill=fill)
    elif kind == "ellipse":
        draw.ellipse(canvas.box(shape), fill=fill)
    elif kind == "line":
        points, width = shape
        draw.line(canvas.pts(points), fill=fill, width=canvas.width(width), joint="curve")
    else:  # pragma: no cover
        raise ValueError(kind)


def _draw_pattern(item: ItemSpec, canvas: _Canvas, extents: tuple[float, float, float, float],
                  weight: float = 1.0) -> Image.Image | None:
    """The texture as an L mask (255 = pattern colour), in item-fixed design coordinates.

    Periods have a floor in pixels and widths are whole pixels, so the pattern covers about the same
    share of the garment at every image size (always clearly less than the fill colour).
    """
    texture = item.texture
    if texture is None:
        return None
    rng = np.random.default_rng(item.pattern_seed)
    x0, y0, x1, y1 = extents
    width_px, height_px = canvas.size
    mask = Image.new("L", canvas.size, 0)
    draw = ImageDraw.Draw(mask)

    def period_px(low: float, high: float, floor: float) -> float:
        return max(float(rng.uniform(low, high)) * canvas.s, floor)

    if texture in ("striped", "grid"):
        period = period_px(0.3, 0.42, 16.0) if texture == "striped" else period_px(0.36, 0.46, 16.0)
        band = max(1, int(round((0.26 if texture == "striped" else 0.09) * period * weight)))
        start = float(rng.uniform(0, period))
        vertical = item.stripe_vertical or texture == "grid"
        horizontal = not item.stripe_vertical or texture == "grid"
        for k in range(int(max(width_px, height_px) / period) + 2):
            at = int(round(start + k * period)) - int(period)
            if vertical:
                draw.rectangle((at, 0, at + band - 1, height_px), fill=255)
            if horizontal:
                draw.rectangle((0, at, width_px, at + band - 1), fill=255)
    elif texture == "chevron":
        period = period_px(0.4, 0.5, 16.0)
        line = max(1, int(round(0.09 * period * weight)))
        for y in np.arange(-period, height_px + period, period):
            zig = [(float(x), float(y + (0.32 * period if k % 2 else 0.0)))
                   for k, x in enumerate(np.arange(-period, width_px + period, period / 2))]
            draw.line(zig, fill=255, width=line, joint="curve")
    elif texture == "colorblock":
        top = canvas.pt((x0, y0 + 0.44 * (y1 - y0)))[1]
        bottom = canvas.pt((x0, y0 + (0.44 + 0.2 * weight) * (y1 - y0)))[1]
        draw.rectangle((0, int(round(top)), width_px, int(round(bottom)) - 1), fill=255)
    else:  # polka dot / floral: jittered hexagonal lattice
        period = period_px(0.32, 0.4, 16.0) if texture == "polka dot" else period_px(0.62, 0.72, 26.0)
        for row, y in enumerate(np.arange(-period, height_px + period, period * 0.87)):
            for x in np.arange(-period + (period / 2 if row % 2 else 0.0), width_px + period, period):
                cx, cy = x + rng.uniform(-0.12, 0.12) * period, y + rng.uniform(-0.12, 0.12) * period
                if texture == "polka dot":
                    r = 0.23 * period * math.sqrt(weight)
                    draw.ellipse((cx - r, cy - r, cx + r - 1, cy + r - 1), fill=255)  # PIL boxes are inclusive
                else:
                    _draw_flower(draw, cx, cy, 0.28 * period * math.sqrt(weight), float(rng.uniform(0, 2 * math.pi)))
    return mask


def _draw_flower(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, turn: float) -> None:
    """Five round petals around a centre left in the fill colour (pixel coordinates)."""
    petal = radius * 0.42
    for k in range(5):
        a = turn + k * 2 * math.pi / 5
        px, py = cx + math.cos(a) * radius * 0.55, cy + math.sin(a) * radius * 0.55
        draw.ellipse((px - petal, py - petal, px + petal - 1, py + petal - 1), fill=255)
    c = radius * 0.2
    draw.ellipse((cx - c, cy - c, cx + c, cy + c), fill=0)


def _dashed(points: list[tuple[float, float]], dash: float) -> list[list[tuple[float, float]]]:
    """Split a polyline into dashes of length ``dash`` pixels (topstitching)."""
    pieces: list[list[tuple[float, float]]] = []
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        length = math.hypot(bx - ax, by - ay)
        steps = max(1, int(length / dash))
        for k in range(0, steps, 2):
            t0, t1 = k / steps, min(1.0, (k + 1) / steps)
            pieces.append([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)])
    return pieces


@dataclass
class Garment:
    """A rendered garment on its own canvas (supersampled): colour, binary mask and fill share."""

    rgb: Image.Image
    mask: Image.Image
    base_share: float  # fraction of garment pixels exactly in the fill colour (at the drawing's 2x)


MIN_FILL_SHARE = 0.55  # the fill colour must clearly dominate the garment's pixels
FILL_TOLERANCE = 12    # a pixel "is" the fill colour when every channel is within this


def render_garment(item: ItemSpec, height_px: float, weight: float = 1.0) -> Garment:
    """Draw ``item`` so its design height is ``height_px`` pixels (fill, pattern, inside, details, outline).

    ``weight`` < 1 draws the texture thinner (used when a small image would otherwise blur the pattern
    over more than its share of the garment).
    """
    design = DESIGNS[item.category](item)
    extents = _extents(design)
    canvas = _Canvas(extents, height_px / (extents[3] - extents[1]), pad=_PAD)
    return _paint(item, design, canvas, extents, weight)


def _paint(item: ItemSpec, design: Design, canvas: _Canvas, extents: tuple[float, float, float, float],
           weight: float) -> Garment:
    mask = Image.new("L", canvas.size, 0)
    mask_draw = ImageDraw.Draw(mask)
    for kind, shape in design.body:
        _draw_shape(mask_draw, canvas, kind, shape, 255)
    rgb = Image.new("RGB", canvas.size, item.rgb)
    pattern = _draw_pattern(item, canvas, extents, weight)
    if pattern is not None:
        rgb.paste(item.pattern_rgb, mask=pattern)
    draw = ImageDraw.Draw(rgb)
    shade = _shade(item.rgb, 0.72)
    line_colour = _shade(item.rgb, 0.78) if item.rgb != (255, 255, 255) else (200, 200, 200)
    for points in design.inner:
        draw.polygon(canvas.pts(points), fill=shade)
        mask_draw.polygon(canvas.pts(points), fill=255)  # the inside is part of the garment
    for points, width in design.lines:
        if width * canvas.s >= 0.6:  # thinner seams only smear into the fill when downsampled; skip them
            draw.line(canvas.pts(points), fill=line_colour, width=canvas.width(width), joint="curve")
    _draw_ribs(draw, canvas, design.ribs, line_colour)
    for kind, shape in design.accents:
        _draw_shape(draw, canvas, kind, shape, item.accent_rgb)
    for points, width in design.stitches:
        for dash in _dashed(canvas.pts(points), dash=max(2.0, canvas.s * 0.08)):
            draw.line(dash, fill=STITCH_COLOUR, width=canvas.width(width))
    # A thin edge band like a hem binding: patterns never reach the silhouette, and light garments get
    # a faint grey edge so white-on-white stays visible, as in product photos.
    if sum(item.rgb) >= 600:
        _draw_outline(rgb, mask, (180, 180, 180) if item.rgb == (255, 255, 255) else _shade(item.rgb, 0.72), 1)
    else:
        _draw_outline(rgb, mask, item.rgb, _SUPERSAMPLE)
    inside = np.asarray(mask) > 0
    base = np.all(np.asarray(rgb) == np.array(item.rgb, dtype=np.uint8), axis=-1) & inside
    return Garment(rgb=rgb, mask=mask, base_share=float(base.sum() / max(1, inside.sum())))


def _draw_ribs(draw: ImageDraw.ImageDraw, canvas: _Canvas, ribs: list[tuple[Point, Point, Point, Point]],
               colour: tuple[int, int, int]) -> None:
    """Knit rib lines at least 6 px apart (denser lines would just repaint the band)."""
    spacing = max(6.0, 0.13 * canvas.s)
    for a0, a1, b0, b1 in ribs:
        length = math.dist(canvas.pt(a0), canvas.pt(a1))
        count = int(length / spacing)
        for f in (np.arange(count) + 0.5) / max(count, 1):
            draw.line([canvas.pt(_lerp(a0, a1, f)), canvas.pt(_lerp(b0, b1, f))], fill=colour, width=1)


def _draw_outline(rgb: Image.Image, mask: Image.Image, colour: tuple[int, int, int], min_width: int) -> None:
    """Paint a band (``min_width`` drawing pixels or more on large garments) just inside the silhouette."""
    width = max(min_width, round(max(mask.size) / 220))
    eroded = mask.filter(ImageFilter.MinFilter(2 * width + 1))
    edge = np.asarray(mask).astype(np.int16) - np.asarray(eroded).astype(np.int16)
    rgb.paste(colour, mask=Image.fromarray((edge > 0).astype(np.uint8) * 255))


# --------------------------------------------------------------------------------- backgrounds
def _background(rng: np.random.Generator, width: int, height: int, garment_rgb: tuple[int, int, int]) -> np.ndarray:
    """A product-photo background (H, W, 3) uint8: white, light grey, pastel, noisy or a gradient."""
    kinds = ["white", "grey", "pastel", "noise", "gradient"]
    p = [0.25, 0.2, 0.2, 0.2, 0.15]
    if garment_rgb == (255, 255, 255):  # white garments mostly on white-ish backgrounds
        p = [0.45, 0.25, 0.05, 0.2, 0.05]
    kind = str(rng.choice(kinds, p=p))
    if kind == "white":
        top = bottom = (255, 255, 255)
    elif kind == "grey":
        g = int(rng.integers(222, 246))
        top = bottom = (g, g, g)
    elif kind == "pastel":
        top = bottom = _pastel(rng)
    elif kind == "noise":
        top = bottom = _light(rng)
    else:
        top, bottom = _light(rng), _light(rng)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = np.array(top, np.float32) * (1 - ramp) + np.array(bottom, np.float32) * ramp
    image = np.broadcast_to(image, (height, width, 3)).copy()
    if kind == "noise":
        image += rng.normal(0.0, float(rng.uniform(2.0, 4.0)), size=(height, width, 1)).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _light(rng: np.random.Generator) -> tuple[int, int, int]:
    """A light grey or a pastel."""
    if rng.random() < 0.5:
        return _pastel(rng)
    g = int(rng.integers(228, 248))
    return (g, g, g)


def _pastel(rng: np.random.Generator) -> tuple[int, int, int]:
    colour = np.array(list(GARMENT_COLOURS.values())[int(rng.integers(len(GARMENT_COLOURS)))], np.float32)
    mix = float(rng.uniform(0.78, 0.9))
    return tuple(int(round(c)) for c in colour * (1 - mix) + 255 * mix)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- one view
@dataclass
class RenderedView:
    """One photograph of an item: the image, its garment coverage mask and the exact bbox."""

    image: Image.Image                  # RGB, longest side = image_size
    coverage: Image.Image               # L, 0 = background only, >0 = some garment in the pixel
    bbox: tuple[int, int, int, int]     # x1, y1, x2, y2 (x2/y2 exclusive)
    background: np.ndarray              # (H, W, 3) the background alone
    base_share: float


def _view_rng(seed: int, item: ItemSpec, view: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 3, item.index, view]))


def _canvas_size(rng: np.random.Generator, image_size: int, aspect: float) -> tuple[int, int]:
    """Image (width, height) with the longest side ``image_size``: portrait for tall garments."""
    if aspect < 0.8:
        return max(16, int(round(image_size * rng.uniform(0.7, 0.88)))), image_size
    if aspect > 1.25:
        return image_size, max(16, int(round(image_size * rng.uniform(0.78, 0.92))))
    return image_size, image_size


def render_view(item: ItemSpec, view: int, image_size: int = 256, seed: int = 0, hard: bool = False) -> RenderedView:
    """Photograph ``item`` (view number ``view``): pose, scale, background and rotation vary.

    ``hard``: view 0 is a clean shop photo (plain white background, upright, large); every other
    view is a consumer photo: more rotation and scale, a cluttered background, partial occlusion,
    a crop that can cut the garment, and lighting (brightness, colour cast, gamma, blur). Those
    draws come from a generator of their own, so the default views stay exactly as before.
    """
    rng = _view_rng(seed, item, view)
    hard_rng = np.random.default_rng(np.random.SeedSequence([seed, 4, item.index, view])) if hard else None
    shop, consumer = hard and view == 0, hard and view > 0
    x0, y0, x1, y1 = _extents(DESIGNS[item.category](item))
    aspect = (x1 - x0) / (y1 - y0)
    width, height = _canvas_size(rng, image_size, aspect)
    ss = _SUPERSAMPLE
    angle = float(rng.uniform(-8.0, 8.0))
    if shop:
        angle = 0.0
    elif consumer:
        angle = float(hard_rng.uniform(-22.0, 22.0))
    margin = max(2 * ss, int(0.04 * min(width, height) * ss))  # background on every side
    # Scale so the rotated garment (plus the canvas padding) fills 78-100% of the room inside the margins.
    rad = math.radians(abs(angle))
    rot_w = aspect * math.cos(rad) + math.sin(rad)
    rot_h = aspect * math.sin(rad) + math.cos(rad)
    room_w, room_h = width * ss - 2 * margin - 3 * _PAD, height * ss - 2 * margin - 3 * _PAD
    garment_h = float(rng.uniform(0.78, 1.0)) * min(room_w / rot_w, room_h / rot_h)
    background = _background(rng, width, height, item.rgb)
    if shop:
        garment_h = 0.97 * min(room_w / rot_w, room_h / rot_h)
        background = np.full_like(background, 255)
    elif consumer:
        garment_h *= float(hard_rng.uniform(0.5, 1.0))
        background = _cluttered(hard_rng, background)
    placement: tuple[int, int] | None = None
    # The fill colour must dominate the saved pixels too: small images blur thin patterns over more
    # of the garment, so the texture is drawn thinner until it does.
    for weight in (1.0, 0.75, 0.55, 0.4):
        garment = render_garment(item, garment_h, weight)
        rgba = garment.rgb.convert("RGBA")
        rgba.putalpha(garment.mask)
        # NEAREST keeps the mask binary at 2x, so the box-downsampled coverage is exact.
        rotated = rgba.rotate(angle, resample=Image.NEAREST, expand=True)
        if placement is None:  # the canvas size does not depend on the weight: place once
            placement = _place(rng, rotated.size, (width * ss, height * ss), margin, item, view)
        image, coverage = _compose(background, rotated, placement)
        share = fill_share(image, coverage, item.rgb)
        if share >= MIN_FILL_SHARE:
            break
    if consumer:
        image, coverage = _consumer_photo(hard_rng, image, coverage)
    bbox = coverage.getbbox()
    if bbox is None:  # pragma: no cover - garments are never empty
        raise SampleError(f"item {item.folder} view {view}: empty garment")
    return RenderedView(image=image, coverage=coverage, bbox=tuple(int(v) for v in bbox),  # type: ignore[arg-type]
                        background=background, base_share=share)


def _cluttered(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A consumer photo's background: the plain one with a few coloured shapes and stronger noise."""
    height, width = background.shape[:2]
    canvas = Image.fromarray(background)
    draw = ImageDraw.Draw(canvas)
    palette = list(GARMENT_COLOURS.values())
    for _ in range(int(rng.integers(2, 7))):
        w, h = rng.uniform(0.1, 0.5) * width, rng.uniform(0.1, 0.5) * height
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        colour = palette[int(rng.integers(len(palette)))]
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape((x, y, x + w, y + h), fill=tuple(int(c) for c in colour))
    out = np.asarray(canvas).astype(np.float32)
    out += rng.normal(0.0, float(rng.uniform(2.0, 8.0)), size=(height, width, 1)).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _consumer_photo(rng: np.random.Generator, image: Image.Image, coverage: Image.Image
                    ) -> tuple[Image.Image, Image.Image]:
    """Occlude part of the garment, crop (possibly cutting it), then change the lighting.

    The coverage keeps the whole garment under an occluder (the annotated box is the garment's),
    and follows the crop.
    """
    width, height = image.size
    x1, y1, x2, y2 = coverage.getbbox() or (0, 0, width, height)
    image = image.copy()
    if rng.random() < 0.7:  # something in front of the garment: a bag, an arm, another garment
        w, h = rng.uniform(0.25, 0.5) * (x2 - x1), rng.uniform(0.2, 0.45) * (y2 - y1)
        x, y = rng.uniform(x1 - 0.5 * w, x2 - 0.5 * w), rng.uniform(y1 - 0.5 * h, y2 - 0.5 * h)
        skin = rng.random() < 0.4
        colour = ((int(rng.integers(150, 235)), int(rng.integers(100, 180)), int(rng.integers(80, 150))) if skin
                  else tuple(int(c) for c in rng.integers(0, 256, size=3)))
        shape = ImageDraw.Draw(image).ellipse if skin else ImageDraw.Draw(image).rectangle
        shape((x, y, x + w, y + h), fill=colour)
    if rng.random() < 0.6:  # a crop around a point of the garment, resized back: scale and cut-off
        keep = float(rng.uniform(0.6, 0.9))
        cw, ch = keep * width, keep * height
        cx, cy = rng.uniform(x1, x2), rng.uniform(y1, y2)
        left = float(np.clip(cx - rng.uniform(0.2, 0.8) * cw, 0, width - cw))
        top = float(np.clip(cy - rng.uniform(0.2, 0.8) * ch, 0, height - ch))
        window = (left, top, left + cw, top + ch)
        image = image.resize((width, height), Image.BILINEAR, box=window)
        coverage = coverage.resize((width, height), Image.BILINEAR, box=window)
    pixels = np.asarray(image).astype(np.float32) / 255.0
    gamma = float(rng.uniform(0.7, 1.4))
    gain = float(rng.uniform(0.65, 1.2)) * rng.uniform(0.82, 1.15, size=3)  # brightness and a colour cast
    pixels = np.clip(255.0 * (pixels ** gamma) * gain, 0, 255)
    image = Image.fromarray(np.rint(pixels).astype(np.uint8))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.4, 1.2))))
    return image, coverage


def _place(rng: np.random.Generator, size: tuple[int, int], frame: tuple[int, int], margin: int, item: ItemSpec,
           view: int) -> tuple[int, int]:
    """A random top-left corner that keeps ``margin`` pixels of background on every side."""
    free_x, free_y = frame[0] - size[0] - 2 * margin, frame[1] - size[1] - 2 * margin
    if free_x < 0 or free_y < 0:  # the scale leaves room; this guards the arithmetic
        raise SampleError(f"item {item.folder} view {view}: garment does not fit the image")
    return margin + int(rng.integers(0, free_x + 1)), margin + int(rng.integers(0, free_y + 1))


def _compose(background: np.ndarray, garment: Image.Image, offset: tuple[int, int]
             ) -> tuple[Image.Image, Image.Image]:
    """Paste the (2x, binary-alpha) garment on the background and box-downsample: image and coverage."""
    height, width = background.shape[:2]
    ss = _SUPERSAMPLE
    big = Image.fromarray(background).resize((width * ss, height * ss), Image.NEAREST)
    alpha = garment.getchannel("A")
    big.paste(garment.convert("RGB"), offset, mask=alpha)
    full_mask = Image.new("L", big.size, 0)
    full_mask.paste(alpha, offset)
    return big.reduce(ss), full_mask.reduce(ss)


def fill_share(image: Image.Image, coverage: Image.Image, rgb: tuple[int, int, int]) -> float:
    """Share of the fully covered garment pixels of ``image`` that are the fill colour ``rgb``."""
    full = np.asarray(coverage) == 255
    pixels = np.asarray(image).astype(np.int16)[full]
    if len(pixels) == 0:
        return 0.0
    return float((np.abs(pixels - np.array(rgb, np.int16)).max(axis=1) <= FILL_TOLERANCE).mean())
