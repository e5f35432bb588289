"""Contact sheet: one row per query — the query photo, then its results with scores and colour swatches."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont

from fashion.io_utils import atomic_path
from fashion.recommend.recommender import Query, Result

TILE = 180  # thumbnail side, pixels
CAPTION = 74  # text and swatches under each thumbnail
GAP = 10
BACKGROUND = (250, 250, 250)
QUERY_FRAME = (30, 90, 200)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # FreeType build of Pillow >= 10.1
    except (TypeError, OSError):
        return ImageFont.load_default()


def _thumbnail(image: Image.Image | None) -> Image.Image:
    tile = Image.new("RGB", (TILE, TILE), (225, 225, 225))
    if image is None:
        ImageDraw.Draw(tile).text((10, TILE // 2 - 6), "image unavailable", fill=(120, 120, 120), font=_font(12))
        return tile
    # Fit the tile both ways: small catalog images are enlarged so they can be seen.
    scale = TILE / max(image.width, image.height)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.LANCZOS)
    tile.paste(image, ((TILE - image.width) // 2, (TILE - image.height) // 2))
    return tile


def _load(path: str) -> Image.Image | None:
    from fashion.data.images import ImageLoadError, load_image

    try:
        return load_image(path)
    except (ImageLoadError, OSError):
        return None


def _swatches(draw: ImageDraw.ImageDraw, x: int, y: int, colours: Sequence[dict], width: int = TILE) -> None:
    """Colour bar: each colour's width proportional to its share."""
    left = x
    total = sum(c["share"] for c in colours) or 1.0
    for colour in colours:
        right = min(x + width, left + max(1, round(width * colour["share"] / total)))
        if right <= left:  # rounding used the whole bar up: the remaining colours are slivers
            break
        draw.rectangle([left, y, right - 1, y + 11], fill=colour["hex"])
        left = right
    draw.rectangle([x, y, x + width - 1, y + 11], outline=(90, 90, 90))


def _clip(text: str, font: ImageFont.ImageFont, draw: ImageDraw.ImageDraw, width: int = TILE) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text


def write_contact_sheet(path: str | Path, rows: Sequence[tuple[Query, Image.Image | None, Sequence[Result]]]) -> Path:
    """Write a PNG: for each (query, query image, results) one row of thumbnails with captions."""
    columns = 1 + max((len(results) for _, _, results in rows), default=0)
    width = GAP + columns * (TILE + GAP)
    height = GAP + len(rows) * (TILE + CAPTION + GAP)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    small, bold = _font(11), _font(12)
    for number, (query, picture, results) in enumerate(rows):
        y = GAP + number * (TILE + CAPTION + GAP)
        sheet.paste(_thumbnail(picture), (GAP, y))
        draw.rectangle([GAP - 3, y - 3, GAP + TILE + 2, y + TILE + 2], outline=QUERY_FRAME, width=3)
        text_y = y + TILE + 4
        draw.text((GAP, text_y), _clip(f"query: {Path(query.name).name}", bold, draw), fill=QUERY_FRAME, font=bold)
        categories = ", ".join(f"{c['name']} {c['probability']:.0%}" for c in query.categories[:2])
        draw.text((GAP, text_y + 15), _clip(categories, small, draw), fill=(40, 40, 40), font=small)
        _swatches(draw, GAP, text_y + 32, query.colours())
        draw.text((GAP, text_y + 47), _clip(", ".join(c["name"] for c in query.colours()[:3]), small, draw),
                  fill=(40, 40, 40), font=small)
        for column, result in enumerate(results, start=1):
            x = GAP + column * (TILE + GAP)
            sheet.paste(_thumbnail(_load(result.path)), (x, y))
            s = result.scores
            draw.text((x, text_y), _clip(f"#{result.rank}  {s['total']:.3f}  {result.category}", bold, draw),
                      fill=(0, 0, 0), font=bold)
            parts = " · ".join(f"{name[:3]} {value:.2f}" for name, value in s.items() if name != "total")
            draw.text((x, text_y + 15), _clip(parts, small, draw), fill=(60, 60, 60), font=small)
            _swatches(draw, x, text_y + 32, result.colours)
            delta = "" if result.delta_e != result.delta_e else f"  dE {result.delta_e:.0f}"
            draw.text((x, text_y + 47), _clip(", ".join(c["name"] for c in result.colours[:2]) + delta, small, draw),
                      fill=(60, 60, 60), font=small)
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
