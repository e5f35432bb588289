"""Garment designs: each category's outline, seams and trims as polygons in a unit frame."""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from fashion.data.sample.plan import ItemSpec

# ------------------------------------------------------------------------------- garment designs
# Designs are in "design units" (torso half-width ~1, x to the right, y down, centre x = 0).
Point = tuple[float, float]


@dataclass
class Design:
    """A garment drawing in design units; rendering maps it onto pixels."""

    body: list[tuple[str, Any]]      # silhouette shapes: ("poly", points) | ("ellipse", (x0, y0, x1, y1))
    inner: list[list[Point]]         # visible inside of the garment (shade colour), inside the silhouette
    lines: list[tuple[list[Point], float]]    # seams and folds in the outline colour: (points, width)
    accents: list[tuple[str, Any]]   # buttons, drawstrings, sports stripes in the accent colour
    stitches: list[tuple[list[Point], float]]  # denim topstitching (dashed, goldenrod)
    ribs: list[tuple[Point, Point, Point, Point]]  # knit bands: rib lines join edge a0-a1 to edge b0-b1


def _mirror(points: Iterable[Point]) -> list[Point]:
    return [(-x, y) for x, y in points]


def _symmetric(left: list[Point]) -> list[Point]:
    """Left half (top-centre round to bottom-centre) + its mirror image, as one closed polygon."""
    return left + _mirror(reversed(left))


def _arc(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 9) -> list[Point]:
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in np.linspace(t0, t1, n)]


def _neckline(half_width: float, depth: float, v_neck: bool) -> list[Point]:
    """Front neckline from right to left (x = +hw .. -hw) dipping to ``depth`` at the centre."""
    if v_neck:
        return [(half_width, 0.0), (0.0, depth), (-half_width, 0.0)]
    return _arc(0.0, 0.0, half_width, depth, 0.0, math.pi)


def _neck_inner(half_width: float, depth: float, v_neck: bool) -> list[Point]:
    """The inside back of the garment seen through the front neckline."""
    back = _arc(0.0, 0.0, half_width, depth * 0.22, math.pi, 0.0)  # left -> right, shallow
    return back + _neckline(half_width, depth, v_neck)


def _top_polygon(left_outline: list[Point], neck_hw: float, neck_depth: float, v_neck: bool) -> list[Point]:
    """A top's silhouette: left outline (neck -> hem), mirrored, closed through the front neckline."""
    outline = left_outline + _mirror(reversed(left_outline))
    return outline + _neckline(neck_hw, neck_depth, v_neck)[1:-1]


def _empty_design() -> Design:
    return Design(body=[], inner=[], lines=[], accents=[], stitches=[], ribs=[])


def _box(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    """A closed rectangle outline (pockets)."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


def _rib_band(x0: float, x1: float, y0: float, y1: float) -> tuple[Point, Point, Point, Point]:
    """A horizontal knit band from x0 to x1 between y0 (top) and y1 (bottom)."""
    return ((x0, y0), (x1, y0), (x0, y1), (x1, y1))


def design_tee(item: ItemSpec) -> Design:
    """Short sleeves, crew or V neck; ``crop`` shortens the body."""
    d = _empty_design()
    v = "v-neck" in item.attributes
    hem = 2.05 if "crop" in item.attributes else 3.0
    nw, depth = 0.42, (0.95 if v else 0.3)
    left = [(-nw, 0.0), (-1.0, 0.18), (-1.75, 0.95), (-1.28, 1.32), (-0.98, 0.92), (-1.0, hem)]
    d.body.append(("poly", _top_polygon(left, nw, depth, v)))
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines += [([(-1.0, 0.18), (-0.98, 0.92)], 0.03), ([(1.0, 0.18), (0.98, 0.92)], 0.03),
                (_neckline(nw + 0.06, depth + 0.08, v), 0.04)]
    if "pocket" in item.attributes:
        d.lines.append((_box(0.3, 0.75, 0.72, 1.2), 0.05))
    return d


def design_tank(item: ItemSpec) -> Design:
    """Sleeveless with straps and deep armholes; ``athletic`` adds contrast side panels."""
    d = _empty_design()
    v = "v-neck" in item.attributes
    hem = 2.05 if "crop" in item.attributes else 3.0
    nw, depth = 0.4, (1.1 if v else 0.85)
    left = [(-nw, 0.0), (-0.7, 0.0), (-0.72, 0.4), (-0.8, 0.78), (-0.97, 1.02), (-0.98, hem)]
    d.body.append(("poly", _top_polygon(left, nw, depth, v)))
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines.append((_neckline(nw + 0.05, depth + 0.06, v), 0.04))
    if "athletic" in item.attributes:
        panel = [(-0.97, 1.02), (-0.86, 1.05), (-0.87, hem), (-0.98, hem)]
        d.accents += [("poly", panel), ("poly", _mirror(panel))]
    return d


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _long_sleeved_top(hem: float, shoulder_x: float, body_x: float, neck_hw: float,
                      neck_depth: float, v: bool, hem_band: bool) -> tuple[Design, list[Point]]:
    """Shared body of sweaters, hoodies, jackets and cardigans: long sleeves hanging beside the body.

    Returns the design and the left cuff as a quad (top outer, top inner, bottom inner, bottom outer).
    """
    d = _empty_design()
    cuff_y = hem - 0.05
    shoulder, armpit = (shoulder_x, 0.2), (-body_x, 1.0)
    cuff_out, cuff_out_low = (shoulder_x - 0.78, cuff_y - 0.1), (shoulder_x - 0.74, cuff_y + 0.14)
    cuff_in = (shoulder_x - 0.34, cuff_y + 0.1)
    left = [(-neck_hw, 0.0), shoulder, cuff_out, cuff_out_low, cuff_in, armpit]
    if hem_band:  # knit band pulls the hem in
        left += [(-body_x - 0.03, hem - 0.32), (-body_x + 0.08, hem - 0.3), (-body_x + 0.08, hem)]
    else:
        left += [(-body_x, hem)]
    d.body.append(("poly", _top_polygon(left, neck_hw, neck_depth, v)))
    # Armhole seam and cuff line on each side.
    cuff = [_lerp(shoulder, cuff_out, 0.88), _lerp(armpit, cuff_in, 0.86), cuff_in, cuff_out_low]
    for pts in ([shoulder, armpit], cuff[:2]):
        d.lines += [(list(pts), 0.03), (_mirror(pts), 0.03)]
    if hem_band:
        d.lines.append(([(-body_x + 0.08, hem - 0.3), (body_x - 0.08, hem - 0.3)], 0.03))
    return d, cuff


def _cuff_ribs(cuff: list[Point]) -> list[tuple[Point, Point, Point, Point]]:
    """Rib bands on both cuffs (``cuff`` is the left one: top outer, top inner, bottom inner, bottom outer)."""
    top_out, top_in, bottom_in, bottom_out = cuff
    inset = [_lerp(top_out, top_in, 0.1), _lerp(top_out, top_in, 0.9), _lerp(bottom_out, bottom_in, 0.1),
             _lerp(bottom_out, bottom_in, 0.9)]
    return [tuple(inset), tuple(_mirror(inset))]  # type: ignore[list-item]


def design_sweater(item: ItemSpec) -> Design:
    """Crew (or V) neck, long sleeves, ribbed cuffs, collar and a hem band that pulls in."""
    v = "v-neck" in item.attributes
    nw, depth, hem = 0.4, (0.9 if v else 0.28), 3.1
    d, cuff = _long_sleeved_top(hem, -1.05, 1.02, nw, depth, v, hem_band=True)
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines.append((_neckline(nw + 0.08, depth + 0.1, v), 0.05))
    if "ribbed" in item.attributes:
        d.ribs += [_rib_band(-0.94, 0.94, hem - 0.28, hem - 0.02)] + _cuff_ribs(cuff)
    return d


def design_hoodie(item: ItemSpec) -> Design:
    """Long sleeves, a hood around the neck; kangaroo pocket and drawstrings when present."""
    nw, depth, hem = 0.45, 0.3, 3.1
    d, _ = _long_sleeved_top(hem, -1.08, 1.02, nw, depth, False, hem_band=True)
    hood = _symmetric([(0.0, -1.25), (-0.55, -1.12), (-0.92, -0.65), (-1.0, -0.1), (-0.9, 0.28), (-0.4, 0.4),
                       (0.0, 0.42)])
    d.body.append(("poly", hood))
    opening = _symmetric([(0.0, -0.95), (-0.32, -0.88), (-0.52, -0.5), (-0.5, -0.05), (-0.28, 0.22), (0.0, 0.34)])
    d.inner.append(opening)
    d.lines.append((opening + [opening[0]], 0.05))
    if "drawstring" in item.attributes:
        for sign in (-1, 1):
            d.accents.append(("line", ([(sign * 0.2, 0.25), (sign * 0.24, 1.05)], 0.07)))
            d.accents.append(("ellipse", (sign * 0.24 - 0.07, 1.02, sign * 0.24 + 0.07, 1.18)))
    if "pocket" in item.attributes:
        pocket = [(-0.62, 1.95), (0.62, 1.95), (0.88, 2.72), (-0.88, 2.72), (-0.62, 1.95)]
        d.lines.append((pocket, 0.06))
    return d


def design_jacket(item: ItemSpec) -> Design:
    """Broad shoulders, pointed collar over the shoulders, centre zip or buttons, flap pockets."""
    nw, depth, hem = 0.38, 0.55, 3.0
    d, _ = _long_sleeved_top(hem, -1.15, 1.12, nw, depth, True, hem_band=False)
    collar = [(-0.36, -0.12), (-0.7, 0.02), (-0.55, 0.62), (-0.06, 0.55)]
    d.body += [("poly", collar), ("poly", _mirror(collar))]
    d.inner.append([(-0.3, -0.05), (0.3, -0.05), (0.0, 0.55)])
    d.lines += [(collar + [collar[0]], 0.035), (_mirror(collar + [collar[0]]), 0.035)]
    if "button-front" in item.attributes:
        d.lines.append(([(0.0, 0.58), (0.0, hem)], 0.03))
        for y in np.linspace(0.85, hem - 0.35, 4):
            d.accents.append(("ellipse", (-0.07, y - 0.07, 0.07, y + 0.07)))
    else:  # zip
        d.accents.append(("line", ([(0.0, 0.58), (0.0, hem)], 0.05)))
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            flap = [(sign * 0.35, 2.1), (sign * 0.92, 2.1)]
            d.lines += [(_box(sign * 0.35, 1.95, sign * 0.92, 2.45), 0.05), (flap, 0.04)]
    if "denim" in item.attributes:
        d.stitches += [([(-1.1, 0.75), (1.1, 0.75)], 0.03), ([(-1.1, hem - 0.12), (1.1, hem - 0.12)], 0.03),
                       ([(0.1, 0.6), (0.1, hem - 0.05)], 0.03)]
    return d


def design_cardigan(item: ItemSpec) -> Design:
    """Long body, deep V opening (inside visible), buttons down the front, long sleeves."""
    nw, depth, hem = 0.42, 1.5, 3.6
    d, cuff = _long_sleeved_top(hem, -1.05, 1.05, nw, depth, True, hem_band=False)
    d.inner.append(_neck_inner(nw, depth, True))
    for sign in (-1, 1):
        d.lines.append(([(sign * (nw + 0.12), 0.0), (0.0, depth + 0.15)], 0.06))
    d.lines.append(([(0.0, depth), (0.0, hem)], 0.035))
    for y in np.linspace(depth + 0.25, hem - 0.3, 5):
        d.accents.append(("ellipse", (-0.075, y - 0.075, 0.075, y + 0.075)))
    if "ribbed" in item.attributes:
        d.lines.append(([(-1.02, hem - 0.3), (1.02, hem - 0.3)], 0.03))
        d.ribs += [_rib_band(-1.0, -0.08, hem - 0.28, hem - 0.02), _rib_band(0.08, 1.0, hem - 0.28, hem - 0.02)]
        d.ribs += _cuff_ribs(cuff)
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            d.lines.append((_box(sign * 0.3, 2.5, sign * 0.8, 3.05), 0.05))
    return d


def _length(item: ItemSpec, mini: float, midi: float, maxi: float) -> float:
    return maxi if "maxi" in item.attributes else midi if "midi" in item.attributes else mini


def _skirt_shape(item: ItemSpec, top: float, waist: float, hem: float) -> list[Point]:
    """Skirt outline from the waist (y = top) to the hem: flared A-line or straight pencil."""
    span = hem - top
    if "a-line" in item.attributes:
        half = waist + 0.42 * span
        bottom = _arc(0.0, hem, half, 0.12, 0.0, math.pi)  # slightly curved hem, right -> left
        return [(-waist, top), (waist, top)] + bottom
    hip_y = top + min(0.75, 0.4 * span)
    left = [(-waist, top), (-waist - 0.3, hip_y), (-waist - 0.18, hem)]
    return left + _mirror(reversed(left))


def _pleats(top: float, waist: float, hem: float) -> list[tuple[list[Point], float]]:
    half = waist + 0.42 * (hem - top)
    return [([(f * waist, top + 0.05), (f * half * 0.97, hem)], 0.03) for f in np.linspace(-0.8, 0.8, 9)]


def design_skirt(item: ItemSpec) -> Design:
    """Waistband and one flared (a-line) or straight (pencil) panel of mini, midi or maxi length."""
    d = _empty_design()
    hem = _length(item, 1.9, 3.2, 4.6)
    d.body.append(("poly", _skirt_shape(item, 0.0, 0.8, hem)))
    d.lines.append(([(-0.8, 0.25), (0.8, 0.25)], 0.035))
    if "pleated" in item.attributes:
        d.lines += _pleats(0.25, 0.8, hem)
    elif "pencil" in item.attributes and "mini" not in item.attributes:
        d.lines.append(([(0.0, hem), (0.0, hem - 0.7)], 0.03))  # slit
    if "denim" in item.attributes:
        d.stitches += [([(-0.8, 0.32), (0.8, 0.32)], 0.03), ([(0.05, 0.3), (0.05, hem * 0.45)], 0.03)]
    return d


def _trouser_outline(waist: float, hip: float, hip_y: float, crotch_y: float, knee_x: float, knee_y: float,
                     hem_out: float, hem_in: float, hem_y: float) -> list[Point]:
    """Trousers from the waist (y = 0): hips, knees, hems of both legs, crotch."""
    left = [(-waist, 0.0), (-hip, hip_y), (-knee_x, knee_y), (-hem_out, hem_y), (-hem_in, hem_y), (0.0, crotch_y)]
    return left + _mirror(reversed(left[1:-1])) + [(waist, 0.0)]


def _trouser_extras(item: ItemSpec, d: Design, waist: float, band_y: float, hip: float, hip_y: float,
                    hem_out: float, hem_y: float, knee_x: float, knee_y: float) -> None:
    """Waistband, pockets, drawstring and sports stripes shared by shorts, jeans and joggers."""
    d.lines.append(([(-waist, band_y), (waist, band_y)], 0.035))
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            d.lines.append(([(sign * (waist - 0.3), band_y), (sign * (hip - 0.05), hip_y)], 0.05))
    if "drawstring" in item.attributes:
        for sign in (-1, 1):
            d.accents.append(("line", ([(sign * 0.08, band_y * 0.5), (sign * 0.14, band_y + 0.45)], 0.07)))
    if "athletic" in item.attributes:
        for sign in (-1, 1):
            stripe = [(sign * waist, band_y), (sign * hip, hip_y), (sign * knee_x, knee_y), (sign * hem_out, hem_y),
                      (sign * (hem_out - 0.11), hem_y), (sign * (knee_x - 0.11), knee_y),
                      (sign * (hip - 0.11), hip_y), (sign * (waist - 0.1), band_y)]
            d.accents.append(("poly", stripe))


def design_shorts(item: ItemSpec) -> Design:
    """Two short legs split at the crotch; denim adds topstitching and rolled hems."""
    d = _empty_design()
    hem = 1.9
    d.body.append(("poly", _trouser_outline(1.0, 1.12, 0.7, 1.05, 1.2, 1.3, 1.25, 0.1, hem)))
    _trouser_extras(item, d, 1.0, 0.22, 1.12, 0.7, 1.25, hem, 1.2, 1.3)
    if "denim" in item.attributes:
        d.stitches += [([(0.12, 0.22), (0.12, 0.8), (0.0, 0.95)], 0.03)]
        for sign in (-1, 1):
            d.stitches.append(([(sign * 1.23, hem - 0.18), (sign * 0.12, hem - 0.18)], 0.03))
    return d


def design_jeans(item: ItemSpec) -> Design:
    """Long straight (or skinny) legs, fly, front pockets, denim topstitching."""
    d = _empty_design()
    hem = 5.2
    skinny = "skinny" in item.attributes
    hem_out, hem_in, knee = (0.72, 0.3, 0.85) if skinny else (1.0, 0.15, 1.02)
    d.body.append(("poly", _trouser_outline(0.95, 1.05, 0.8, 1.3, knee, 3.0, hem_out, hem_in, hem)))
    _trouser_extras(item, d, 0.95, 0.25, 1.05, 0.8, hem_out, hem, knee, 3.0)
    d.lines.append(([(0.02, 0.25), (0.02, 1.15)], 0.03))
    d.stitches += [([(0.14, 0.25), (0.14, 0.95), (0.0, 1.12)], 0.03)]
    for sign in (-1, 1):
        d.stitches.append(([(sign * (hem_out - 0.02), hem - 0.15), (sign * (hem_in + 0.02), hem - 0.15)], 0.03))
    return d


def design_joggers(item: ItemSpec) -> Design:
    """Elastic ribbed waist, roomy legs tapering into ribbed ankle cuffs."""
    d = _empty_design()
    hem, cuff_top = 5.0, 4.65
    left = [(-1.0, 0.0), (-1.1, 0.8), (-1.12, 2.8), (-0.82, cuff_top), (-0.76, cuff_top), (-0.74, hem),
            (-0.28, hem), (-0.26, cuff_top), (-0.2, cuff_top), (0.0, 1.35)]
    d.body.append(("poly", left + _mirror(reversed(left[1:-1])) + [(1.0, 0.0)]))
    d.ribs.append(_rib_band(-0.98, 0.98, 0.03, 0.33))
    for sign in (-1, 1):
        d.lines.append(([(sign * 0.78, cuff_top), (sign * 0.24, cuff_top)], 0.035))
    _trouser_extras(item, d, 1.0, 0.35, 1.1, 0.8, 0.82, cuff_top, 1.12, 2.8)
    return d


def _bodice(item: ItemSpec, d: Design, waist_y: float) -> list[Point]:
    """Left half of a dress/jumpsuit top (neck -> waist) with the item's sleeves; adds the neck inside."""
    v = "v-neck" in item.attributes
    nw, depth = 0.4, (0.95 if v else 0.35)
    if item.sleeve == "none":
        left = [(-nw, 0.0), (-0.72, 0.03), (-0.74, 0.45), (-0.88, 1.0)]
    elif item.sleeve == "short":
        left = [(-nw, 0.0), (-0.9, 0.12), (-1.38, 0.75), (-1.05, 1.02), (-0.86, 0.95)]
    else:
        left = [(-nw, 0.0), (-0.9, 0.12), (-1.6, 2.55), (-1.3, 2.68), (-0.86, 1.0)]
        d.lines += [([(-0.9, 0.12), (-0.86, 1.0)], 0.03), ([(0.9, 0.12), (0.86, 1.0)], 0.03)]
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines.append((_neckline(nw + 0.05, depth + 0.07, v), 0.04))
    return left + [(-0.68, waist_y)]


def design_dress(item: ItemSpec) -> Design:
    """Fitted bodice (sleeveless, short or long sleeves) and an a-line or pencil skirt."""
    d = _empty_design()
    waist_y = 1.55
    hem = _length(item, 3.3, 4.6, 6.0)
    v = "v-neck" in item.attributes
    left_top = _bodice(item, d, waist_y)
    skirt = _skirt_shape(item, waist_y, 0.68, hem)
    # Bodice left side, skirt hem (right -> left reversed to left -> right), bodice right side.
    skirt_lower = skirt[2:] if "a-line" in item.attributes else skirt[1:5]
    if "a-line" in item.attributes:
        skirt_lower = list(reversed(skirt_lower))  # arc was right -> left; we go left -> right
    outline = left_top + skirt_lower + _mirror(reversed(left_top))
    nw, depth = 0.4, (0.95 if v else 0.35)
    d.body.append(("poly", outline + _neckline(nw, depth, v)[1:-1]))
    d.lines.append(([(-0.68, waist_y), (0.68, waist_y)], 0.035))
    if "pleated" in item.attributes:
        d.lines += _pleats(waist_y, 0.68, hem)
    return d


def design_jumpsuit(item: ItemSpec) -> Design:
    """Dress-like bodice joined at the waist to long wide trouser legs."""
    d = _empty_design()
    waist_y, hem = 1.55, 5.7
    v = "v-neck" in item.attributes
    left_top = _bodice(item, d, waist_y)
    legs_left = [(-1.0, 2.3), (-1.15, hem), (-0.14, hem), (0.0, 2.8)]
    outline = left_top + legs_left + _mirror(reversed(legs_left[:-1])) + _mirror(reversed(left_top))
    nw, depth = 0.4, (0.95 if v else 0.35)
    d.body.append(("poly", outline + _neckline(nw, depth, v)[1:-1]))
    d.lines.append(([(-0.68, waist_y), (0.68, waist_y)], 0.035))
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            d.lines.append(([(sign * 0.55, waist_y + 0.15), (sign * 0.95, 2.3)], 0.05))
    if "drawstring" in item.attributes:  # waist tie
        d.accents.append(("line", ([(-0.68, waist_y), (0.68, waist_y)], 0.09)))
        d.accents += [("line", ([(0.1, waist_y), (0.28, waist_y + 0.6)], 0.06)),
                      ("line", ([(0.1, waist_y), (-0.1, waist_y + 0.55)], 0.06))]
    return d


DESIGNS = {
    "Tee": design_tee, "Tank": design_tank, "Sweater": design_sweater, "Hoodie": design_hoodie,
    "Jacket": design_jacket, "Cardigan": design_cardigan, "Skirt": design_skirt, "Shorts": design_shorts,
    "Jeans": design_jeans, "Joggers": design_joggers, "Dress": design_dress, "Jumpsuit": design_jumpsuit,
}
