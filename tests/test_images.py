"""fashion.data.images: every PIL mode to RGB, EXIF orientation, guards and errors, bbox crops."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from fashion.data.images import ImageLoadError, crop_to_bbox, load_image, load_image_bytes, to_rgb


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _grey16(mode: str, values: list[int]) -> Image.Image:
    data = np.array(values, dtype=">u2" if mode == "I;16B" else "<u2").reshape(1, -1)
    return Image.frombytes(mode, (data.shape[1], 1), data.tobytes())


def _palette_image(transparent: bool) -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([200, 0, 0, 0, 0, 200] + [0, 0, 0] * 254)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    if transparent:
        image.info["transparency"] = 1
    return image


# (mode, image, file suffix or None for in-memory only, expected RGB of pixel 0 and pixel 1)
MODE_CASES = [
    ("L", Image.frombytes("L", (2, 1), bytes([100, 7])), ".png", [(100,) * 3, (7,) * 3]),
    ("1", Image.frombytes("L", (2, 1), bytes([0, 255])).convert("1"), ".png", [(0,) * 3, (255,) * 3]),
    ("LA", Image.frombytes("LA", (2, 1), bytes([100, 255, 100, 0])), ".png", [(100,) * 3, (255,) * 3]),
    ("P", _palette_image(False), ".png", [(200, 0, 0), (0, 0, 200)]),
    ("P+transparency", _palette_image(True), ".png", [(200, 0, 0), (255, 255, 255)]),
    ("PA", Image.frombytes("RGBA", (2, 1), bytes([200, 0, 0, 255, 0, 0, 200, 0])).convert("PA"), None,
     [(200, 0, 0), (255, 255, 255)]),
    ("RGBA", Image.frombytes("RGBA", (2, 1), bytes([10, 20, 30, 255, 0, 0, 0, 0])), ".png",
     [(10, 20, 30), (255, 255, 255)]),
    ("RGBA half", Image.frombytes("RGBA", (2, 1), bytes([0, 0, 0, 128, 0, 0, 0, 255])), ".png",
     [(127, 127, 127), (0, 0, 0)]),
    ("CMYK", Image.frombytes("CMYK", (2, 1), bytes([0, 0, 0, 0, 255, 0, 0, 0])), ".tif",
     [(255, 255, 255), (0, 255, 255)]),
    ("I;16", _grey16("I;16", [65535, 257]), ".png", [(255,) * 3, (1,) * 3]),
    ("I;16B", _grey16("I;16B", [32768, 0]), ".tif", [(128,) * 3, (0,) * 3]),
    ("I 16-bit data", Image.fromarray(np.array([[65535, 1000]], dtype=np.int32)), ".tif", [(255,) * 3, (4,) * 3]),
    ("I 8-bit data", Image.fromarray(np.array([[200, 3]], dtype=np.int32)), ".tif", [(200,) * 3, (3,) * 3]),
    ("F 0..1", Image.fromarray(np.array([[0.5, 1.0]], dtype=np.float32)), ".tif", [(128,) * 3, (255,) * 3]),
    ("F 0..255", Image.fromarray(np.array([[300.0, 12.4]], dtype=np.float32)), ".tif", [(255,) * 3, (12,) * 3]),
]


@pytest.mark.parametrize("label, image, suffix, expected", MODE_CASES, ids=[c[0] for c in MODE_CASES])
def test_every_mode_becomes_rgb(tmp_path, label, image, suffix, expected):
    if suffix is None:
        result = to_rgb(image)
    else:
        path = _save(image, tmp_path / f"image{suffix}")
        result = load_image(path)
    assert result.mode == "RGB" and result.size == (2, 1)
    assert [result.getpixel((x, 0)) for x in range(2)] == expected


def test_rgb_jpeg_and_pixels_are_decoded(tmp_path):
    path = _save(Image.new("RGB", (8, 8), (30, 160, 90)), tmp_path / "a.jpg", quality=95)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (8, 8)
    assert np.abs(np.asarray(image).astype(int) - (30, 160, 90)).max() <= 3


@pytest.mark.parametrize("orientation, size, top_left_is_red", [(1, (8, 4), True), (6, (4, 8), True),
                                                                (8, (4, 8), False), (3, (8, 4), False)])
def test_exif_orientation_is_applied(tmp_path, orientation, size, top_left_is_red):
    # Left half red, right half blue: the rotation decides which colour ends up top-left
    # (6: turn 90 degrees clockwise, so the left edge becomes the top; 8: counter-clockwise).
    array = np.zeros((4, 8, 3), np.uint8)
    array[:, :4] = (255, 0, 0)
    array[:, 4:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(Image.fromarray(array), tmp_path / "rot.jpg", exif=exif.tobytes(), quality=100)
    image = load_image(path)
    assert image.size == size
    red, _, blue = image.getpixel((0, 0))
    assert (red > blue) == top_left_is_red


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds almost no data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _truncated(tmp_path: Path, suffix: str) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = _save(Image.fromarray(noise), tmp_path / f"full{suffix}")
    data = full.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("make, cause", [
    (lambda d: d / "missing.jpg", "file not found"),
    (lambda d: (d / "empty.jpg").write_bytes(b"") and None or d / "empty.jpg", "empty file"),
    (lambda d: _truncated(d, ".png"), "truncated image"),
    (lambda d: _truncated(d, ".jpg"), "truncated image"),
    (lambda d: (d / "notes.jpg").write_text("not pixels at all") and None or d / "notes.jpg", "not an image"),
    (lambda d: _save(Image.new("RGB", (100, 60)), d / "big.png"), "image too large (6000 pixels > 5000"),
    # 10,000 x 10,000 is under PIL's hard limit: our own check must stop it before decoding.
    (lambda d: (d / "bomb.png").write_bytes(_png_header_only(10_000, 10_000)) and None or d / "bomb.png",
     "image too large (100000000 pixels > 5000"),
    # 20,000 x 20,000 trips PIL's own DecompressionBombError, which must be reported the same way.
    (lambda d: (d / "bomb2.png").write_bytes(_png_header_only(20_000, 20_000)) and None or d / "bomb2.png",
     "image too large"),
    (lambda d: d, "unreadable (is a directory)"),
], ids=["missing", "empty", "truncated-png", "truncated-jpeg", "not-image", "too-large", "bomb-header",
        "pil-bomb", "directory"])
def test_bad_files_raise_image_load_error(tmp_path, make, cause):
    path = make(tmp_path)
    with pytest.raises(ImageLoadError) as info:
        load_image(path, max_pixels=5000)
    message = str(info.value)
    assert message.startswith(f"{path}: {cause}"), message
    assert info.value.path == str(path)
    assert isinstance(info.value, ValueError)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = _save(Image.new("RGB", (4, 4)), tmp_path / "locked.png")
    path.chmod(0)
    try:
        with pytest.raises(ImageLoadError, match="unreadable"):
            load_image(path)
    finally:
        path.chmod(0o644)


def test_permission_error_is_reported_as_unreadable(tmp_path, monkeypatch):
    import fashion.data.images as images

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    path = _save(Image.new("RGB", (4, 4)), tmp_path / "locked.png")
    monkeypatch.setattr(images, "open", refuse, raising=False)
    with pytest.raises(ImageLoadError, match=r"locked.png: unreadable \(Permission denied\)$"):
        load_image(path)


def test_default_limit_accepts_normal_images(tmp_path):
    path = _save(Image.new("RGB", (300, 200), (1, 2, 3)), tmp_path / "ok.png")
    assert load_image(path).getpixel((299, 199)) == (1, 2, 3)


def test_load_image_bytes_uses_the_same_guards(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGBA", (3, 2), (0, 0, 0, 0)).save(buffer, "PNG")
    image = load_image_bytes(buffer.getvalue(), "upload.png")
    assert image.mode == "RGB" and image.size == (3, 2) and image.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ImageLoadError, match=r"^upload.png: empty file$"):
        load_image_bytes(b"", "upload.png")
    with pytest.raises(ImageLoadError, match=r"^upload.png: not an image$"):
        load_image_bytes(b"hello", "upload.png")
    with pytest.raises(ImageLoadError, match=r"^upload.png: image too large \(6 pixels > 5;"):
        load_image_bytes(buffer.getvalue(), "upload.png", max_pixels=5)


def test_pil_global_limit_is_untouched(tmp_path):
    before = Image.MAX_IMAGE_PIXELS
    load_image(_save(Image.new("RGB", (4, 4)), tmp_path / "a.png"), max_pixels=10**10)
    assert Image.MAX_IMAGE_PIXELS == before
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


@pytest.fixture
def grid() -> Image.Image:
    return Image.fromarray(np.arange(100, dtype=np.uint8).reshape(10, 10)).convert("RGB")


@pytest.mark.parametrize("bbox, margin, box", [
    ((2, 3, 6, 8), 0.0, (2, 3, 6, 8)),
    ((2, 2, 6, 6), 0.25, (1, 1, 7, 7)),
    ((-5, -5, 4, 30), 0.0, (0, 0, 4, 10)),        # clipped to the image
    ((2.4, 3.6, 5.5, 7.2), 0.0, (2, 3, 6, 8)),     # fractional boxes grow outwards
    (np.array([1, 1, 3, 3]), 0.0, (1, 1, 3, 3)),
])
def test_crop_to_bbox(grid, bbox, margin, box):
    crop = crop_to_bbox(grid, bbox, margin)
    assert crop.size == (box[2] - box[0], box[3] - box[1])
    assert crop.getpixel((0, 0)) == grid.getpixel((box[0], box[1]))


@pytest.mark.parametrize("bbox", [None, (5, 5, 5, 9), (6, 2, 3, 8), (20, 20, 30, 30),
                                  (1, 2, pd.NA, 4), (1.0, float("nan"), 3.0, 4.0), (None, 1, 2, 3)])
def test_crop_to_bbox_degenerate_gives_whole_image(grid, bbox):
    assert crop_to_bbox(grid, bbox).size == grid.size


@pytest.mark.parametrize(("size", "refused"), [((1, 1), True), ((15, 300), True), ((300, 15), True),
                                               ((16, 16), False), ((16, 300), False)])
def test_query_pictures_smaller_than_the_minimum_side_are_refused(size, refused):
    from fashion.data.images import MIN_QUERY_SIDE, ImageLoadError, check_query_picture

    assert MIN_QUERY_SIDE == 16
    picture = Image.effect_noise(size, 60).convert("RGB")
    if refused:
        with pytest.raises(ImageLoadError, match=rf"^q\.png: too small \({size[0]}x{size[1]} px"):
            check_query_picture(picture, "q.png")
    else:
        check_query_picture(picture, "q.png")


@pytest.mark.parametrize(("spread", "refused"), [(0, True), (4, True), (5, False)])
def test_one_flat_colour_is_refused_as_a_query(spread, refused):
    """A black frame or blank canvas (JPEG ringing of a few levels included) has nothing to recognise."""
    from fashion.data.images import ImageLoadError, check_query_picture

    pixels = np.full((40, 40, 3), 120, np.uint8)
    pixels[::2, ::2, 1] += spread  # the only variation: `spread` levels in one channel
    picture = Image.fromarray(pixels)
    if refused:
        with pytest.raises(ImageLoadError, match="one flat colour"):
            check_query_picture(picture, "q.png")
    else:
        check_query_picture(picture, "q.png")


def test_a_small_garment_on_a_flat_background_is_a_query():
    from fashion.data.images import check_query_picture

    picture = Image.new("RGB", (200, 200), (255, 255, 255))
    picture.paste((200, 20, 20), (90, 90, 110, 110))  # 1% of the photo
    check_query_picture(picture, "q.png")
