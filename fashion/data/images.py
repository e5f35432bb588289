"""The one place that opens image files: RGB out, EXIF orientation applied, size guards, clear errors.

Every failure is an :class:`ImageLoadError` whose message is ``"<path>: <cause>"``, the cause one of
``file not found``, ``empty file``, ``truncated image``, ``not an image``, ``image too large`` or
``unreadable`` (sometimes followed by a detail in parentheses), so callers can report a bad file in
one line and go on with the next one. A query photo is also checked by :func:`check_query_picture`
(``too small``, ``one flat colour``).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion.errors import FashionError

DEFAULT_MAX_PIXELS = 50_000_000
# The one list of image file suffixes: what the catalog indexes and what the dataset readers train on.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
WHITE = (255, 255, 255)
# A query smaller than this a side is upscaled from almost nothing (a thumbnail icon, a 1x1 pixel):
# the network would describe interpolation, not a garment.
MIN_QUERY_SIDE = 16
# Channel ranges up to this are one flat colour (JPEG's ringing on a flat frame spans a few levels).
FLAT_RANGE = 4

# Modes whose transparency is composited on white (P is handled separately: only with a
# transparency entry). La / RGBa are premultiplied; convert("RGBA") un-premultiplies them.
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


class ImageLoadError(FashionError, ValueError):
    """An image file that cannot be used; the message is ``"<path>: <cause>"``."""

    def __init__(self, path: str | os.PathLike[str], cause: str) -> None:
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


def load_image(path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open ``path`` as a fully decoded RGB image with its EXIF orientation applied.

    The pixel count is read from the header and checked against ``max_pixels`` before anything is
    decoded (a guard against decompression bombs that does not depend on PIL's global limit).
    Raises :class:`ImageLoadError` for a missing, empty, unreadable, truncated, too large or
    non-image file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except OSError as error:
        raise ImageLoadError(path, f"unreadable ({error.strerror or error})") from None
    if path.is_dir():
        raise ImageLoadError(path, "unreadable (is a directory)")
    if size == 0:
        raise ImageLoadError(path, "empty file")
    try:
        with open(path, "rb") as handle:
            return _decode(handle, path, max_pixels)
    except FileNotFoundError:  # removed between stat and open
        raise ImageLoadError(path, "file not found") from None
    except OSError as error:
        raise ImageLoadError(path, f"unreadable ({error.strerror or error})") from None


def load_image_bytes(data: bytes, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Like :func:`load_image` for an image held in memory (an upload); ``name`` is used in errors."""
    if not data:
        raise ImageLoadError(name, "empty file")
    return _decode(io.BytesIO(data), name, max_pixels)


def check_query_picture(picture: Image.Image, name: str | os.PathLike[str]) -> None:
    """Refuse a decoded RGB query photo that shows nothing to recognise.

    A photo under :data:`MIN_QUERY_SIDE` pixels a side, or one flat colour (a black camera frame, a
    blank canvas), would still get a category, a palette and ranked results, all made up: a silently
    wrong answer. Raises :class:`ImageLoadError` (``too small`` / ``one flat colour``) instead.
    Catalog and training images are not checked: a catalog keeps whatever the shop lists.
    """
    width, height = picture.size
    if min(width, height) < MIN_QUERY_SIDE:
        raise ImageLoadError(name, f"too small ({width}x{height} px; a query photo needs at least "
                                   f"{MIN_QUERY_SIDE} px a side)")
    extrema = picture.getextrema()  # per band (min, max), computed in C without a copy
    if all(high - low <= FLAT_RANGE for low, high in extrema):
        raise ImageLoadError(name, "one flat colour (nothing to recognise in it)")


def crop_to_bbox(image: Image.Image, bbox: Sequence[Any] | None, margin: float = 0.0) -> Image.Image:
    """Crop ``image`` to ``bbox = (x1, y1, x2, y2)`` pixels (PIL crop convention, x2/y2 exclusive).

    ``margin`` widens the box on every side by that fraction of its width/height. The box is
    clipped to the image. ``None``, a box with a missing value (None, NaN, pandas NA) or a box
    that is empty after clipping gives the whole image back, so a bad annotation never produces
    an empty crop.
    """
    if bbox is None:
        return image
    values = list(bbox)
    if len(values) != 4 or any(_is_missing(v) for v in values):
        return image
    x1, y1, x2, y2 = (float(v) for v in values)
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    width, height = image.size
    left = max(0, math.floor(x1 - dx))
    top = max(0, math.floor(y1 - dy))
    right = min(width, math.ceil(x2 + dx))
    bottom = min(height, math.ceil(y2 + dy))
    if right <= left or bottom <= top:
        return image
    if (left, top, right, bottom) == (0, 0, width, height):
        return image
    return image.crop((left, top, right, bottom))


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN; pandas NA raises TypeError on bool()
    except TypeError:
        return True


def _decode(handle: IO[bytes], name: str | os.PathLike[str], max_pixels: int) -> Image.Image:
    """Header check, full decode, orientation and RGB conversion of an open binary stream."""
    with warnings.catch_warnings():
        # Our own ``max_pixels`` governs; PIL's warning (between its limit and twice it) would only
        # be noise here, and its hard error (beyond twice its limit) is reported as "too large".
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(handle)
        except Image.DecompressionBombError as error:
            raise ImageLoadError(name, f"image too large ({error})") from None
        except UnidentifiedImageError:
            raise ImageLoadError(name, "not an image") from None
        except (OSError, SyntaxError, ValueError) as error:
            # A recognised format whose header is cut short or malformed.
            raise ImageLoadError(name, f"truncated image ({error})") from None
        with image:
            width, height = image.size
            pixels = width * height
            if pixels > max_pixels:
                raise ImageLoadError(
                    name, f"image too large ({pixels} pixels > {max_pixels}; possible decompression bomb)")
            if pixels == 0:
                raise ImageLoadError(name, "not an image (zero-sized)")
            try:
                image.load()  # decode everything now, so truncation shows here and not later
            except Image.DecompressionBombError as error:
                raise ImageLoadError(name, f"image too large ({error})") from None
            except (OSError, SyntaxError, ValueError, EOFError) as error:
                raise ImageLoadError(name, f"truncated image ({error})") from None
            image = _apply_orientation(image)
            return to_rgb(image, name)


def _apply_orientation(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not make the pixels unusable
        return image


def to_rgb(image: Image.Image, name: str | os.PathLike[str] = "<image>") -> Image.Image:
    """An RGB copy of ``image`` from any PIL mode; transparency is composited on white.

    16-bit modes are scaled to 8 bits (``round(v * 255 / 65535)``), not clipped. Mode ``I`` (32-bit
    integers) holds either 8-bit data or, from older Pillow versions and some TIFFs, 16-bit data:
    nothing in the file says which, so values above 255 select the 16-bit scale. Mode ``F`` in
    0..1 is scaled by 255, anything else is clipped to 0..255. A mode PIL cannot convert raises
    :class:`ImageLoadError` naming ``name``.
    """
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        return _on_white(image.convert("RGBA"))
    if mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(_scale_16bit(np.asarray(image)))
    if mode == "I":
        values = np.asarray(image).astype(np.int64)
        if values.size and values.max() > 255:
            return _grey_to_rgb(_scale_16bit(np.clip(values, 0, 65535)))
        return _grey_to_rgb(np.clip(values, 0, 255).astype(np.uint8))
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0
        return _grey_to_rgb(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    try:
        return image.convert("RGB")  # L, 1, P without transparency, CMYK, YCbCr, ...
    except (ValueError, OSError) as error:
        raise ImageLoadError(name, f"not an image (unsupported mode {mode}: {error})") from None


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    wide = values.astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8)).convert("RGB")


def _on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
