"""fashion.colour (spaces, names, palette, similarity): CIELAB and CIEDE2000 reference values, palettes of drawn garments, names, similarity."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fashion.colour import names as colour_names_module
from fashion.colour import similarity as colour_similarity
from fashion.colour.names import colour_families, colour_family, colour_name, colour_names, is_colour_family, lab_for_name
from fashion.colour.palette import Palette, extract_palette, garment_pixels, palette_from_pixels
from fashion.colour.similarity import delta_e_dominant, pack_palettes, palette_colour_mask, palette_has_colour, palette_similarity, palette_similarity_many, unpack_palette
from fashion.colour.spaces import ciede2000, lab_to_rgb, rgb_to_lab

# Sharma, Wu & Dalal (2005), Table 1: L1 a1 b1 L2 a2 b2 and the expected CIEDE2000 (all 34 pairs).
SHARMA = np.array([
    [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
    [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
    [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
    [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
    [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
    [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
    [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
    [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
    [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
    [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
    [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
    [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
    [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
    [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
    [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
    [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
    [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
    [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
    [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
    [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
])


# ----------------------------------------------------------------------------------- CIELAB / CIEDE2000
def test_ciede2000_matches_sharma_table_both_ways():
    expected = SHARMA[:, 6]
    assert np.allclose(ciede2000(SHARMA[:, :3], SHARMA[:, 3:6]), expected, atol=5e-5)
    assert np.allclose(ciede2000(SHARMA[:, 3:6], SHARMA[:, :3]), expected, atol=5e-5)


@pytest.mark.parametrize("row", [0, 6, 9, 10, 16, 24, 33])
def test_ciede2000_single_pairs_return_scalars(row):
    value = ciede2000(SHARMA[row, :3], SHARMA[row, 3:6])
    assert value.shape == ()
    assert round(float(value), 4) == SHARMA[row, 6]


def test_ciede2000_broadcasts_and_is_zero_on_identity():
    a = SHARMA[:5, None, :3]        # (5, 1, 3)
    b = SHARMA[None, :4, 3:6]       # (1, 4, 3)
    table = ciede2000(a, b)
    assert table.shape == (5, 4)
    assert table[2, 3] == pytest.approx(float(ciede2000(SHARMA[2, :3], SHARMA[3, 3:6])))
    assert np.all(ciede2000(SHARMA[:, :3], SHARMA[:, :3]) == 0.0)
    with pytest.raises(ValueError):
        ciede2000(np.zeros((3, 2)), np.zeros(3))


@pytest.mark.parametrize("rgb, lab", [
    ((255, 255, 255), (100.0, 0.0, 0.0)),
    ((0, 0, 0), (0.0, 0.0, 0.0)),
    ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
    ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
    ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
    ((128, 128, 128), (53.5850, 0.0, 0.0)),
])
def test_rgb_to_lab_reference_values(rgb, lab):
    assert np.allclose(rgb_to_lab(np.array(rgb, np.uint8)), lab, atol=1e-3)
    assert np.allclose(rgb_to_lab(np.array(rgb, np.float64)), lab, atol=1e-3)  # floats: 0..255 scale too


def test_rgb_to_lab_is_vectorised_and_lab_to_rgb_inverts_it():
    rgb = np.random.default_rng(0).integers(0, 256, size=(4, 50, 3)).astype(np.uint8)
    lab = rgb_to_lab(rgb)
    assert lab.shape == (4, 50, 3)
    assert np.array_equal(lab_to_rgb(lab), rgb)
    with pytest.raises(ValueError):
        rgb_to_lab(np.zeros((2, 4)))


# ---------------------------------------------------------------------------------- drawn garments
SHIRT = [(30, 12), (66, 12), (88, 30), (76, 42), (70, 36), (70, 88), (26, 88), (26, 36), (20, 42), (8, 30)]
SHIRT_BBOX = (8, 12, 89, 89)


def draw_shirt(fill, background=(255, 255, 255), outline=None, stripes=None, texture=False, shadow=False):
    """A 96x96 product photo: a T-shirt polygon on a plain, textured or shadowed background."""
    rng = np.random.default_rng(1)
    canvas = np.empty((96, 96, 3), np.int16)
    canvas[:] = background
    if texture:  # noisy, darker every 8th row and column: a woven backdrop
        canvas += rng.integers(-12, 13, size=(96, 96, 1))
        canvas[::8] = (np.array(background) * 0.8).astype(np.int16)
        canvas[:, ::8] = (np.array(background) * 0.8).astype(np.int16)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if shadow:
        draw.polygon([(x + 3, y + 3) for x, y in SHIRT], fill=(225, 225, 225))
    draw.polygon(SHIRT, fill=fill, outline=outline)
    if stripes:
        mask = Image.new("L", image.size, 0)
        ImageDraw.Draw(mask).polygon(SHIRT, fill=255)
        striped = Image.new("RGB", image.size, fill)
        for y in range(0, 96, 8):
            ImageDraw.Draw(striped).rectangle((0, y, 96, y + 1), fill=stripes)
        image.paste(striped, (0, 0), mask)
        if outline:
            ImageDraw.Draw(image).polygon(SHIRT, outline=outline)
    return image


GARMENTS = {
    "red on white": (dict(fill=(200, 30, 40)), (200, 30, 40), "red"),
    "red, thin white stripes": (dict(fill=(200, 30, 40), stripes=(255, 255, 255)), (200, 30, 40), "red"),
    "white on white, faint outline": (dict(fill=(252, 252, 252), outline=(205, 205, 205)), (252, 252, 252), "white"),
    "white on white, shadow": (dict(fill=(255, 255, 255), outline=(215, 215, 215), shadow=True),
                               (255, 255, 255), "white"),
    "black on white": (dict(fill=(15, 15, 15)), (15, 15, 15), "black"),
    "navy on light grey": (dict(fill=(20, 30, 90), background=(220, 220, 220)), (20, 30, 90), "blue"),
    "green on textured beige": (dict(fill=(40, 140, 60), background=(215, 195, 160), texture=True),
                                (40, 140, 60), "green"),
    "yellow on blue": (dict(fill=(240, 210, 40), background=(40, 80, 200)), (240, 210, 40), "yellow"),
    "light grey on white": (dict(fill=(180, 180, 180)), (180, 180, 180), "grey"),
}


@pytest.mark.parametrize("use_bbox", [True, False], ids=["bbox", "no-bbox"])
@pytest.mark.parametrize("case", list(GARMENTS))
def test_dominant_colour_of_drawn_garments(case, use_bbox):
    kwargs, truth, family = GARMENTS[case]
    palette = extract_palette(draw_shirt(**kwargs), bbox=SHIRT_BBOX if use_bbox else None)
    assert float(ciede2000(palette.dominant_lab, rgb_to_lab(np.array(truth, np.uint8)))) <= 10.0, palette.describe(5)
    assert colour_family(palette.dominant_lab) == family
    assert palette.shares[0] >= 0.5


def test_palette_structure():
    palette = extract_palette(draw_shirt((200, 30, 40), stripes=(20, 20, 20)), k=5)
    assert isinstance(palette, Palette) and 1 <= len(palette) <= 5
    assert palette.lab.dtype == np.float32 and palette.lab.shape == (len(palette), 3)
    assert palette.rgb.dtype == np.uint8 and palette.shares.dtype == np.float32
    assert palette.shares.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(palette.shares) <= 0)
    assert np.allclose(palette.lab, rgb_to_lab(palette.rgb), atol=1e-3)  # colours agree
    assert {"red", "black"} <= set(palette.families)  # the stripes are a palette colour too
    assert not palette.lab.flags.writeable
    assert len(palette.hex) == len(palette) and palette.hex[0].startswith("#")


@pytest.mark.parametrize("use_bbox", [True, False], ids=["bbox", "no-bbox"])
def test_enclosed_background_coloured_stripes_stay_in_the_palette(use_bbox):
    """White stripes inside a red shirt's outline are garment, though white like the background."""
    image = draw_shirt((200, 30, 40), stripes=(255, 255, 255), outline=(150, 20, 30))
    palette = extract_palette(image, bbox=SHIRT_BBOX if use_bbox else None)
    assert palette.families[:2] == ["red", "white"]
    assert 0.15 <= palette.shares[1] <= 0.35  # 2 of every 8 rows


def test_single_colour_image_gives_one_colour_palette():
    image = Image.new("RGB", (40, 30), (10, 120, 200))
    for k in (1, 2, 5):
        palette = extract_palette(image, k=k)
        assert len(palette) == 1 and palette.shares[0] == pytest.approx(1.0)
        assert tuple(palette.rgb[0]) == (10, 120, 200)


def test_mmcq_failure_falls_back_to_the_mean(monkeypatch):
    import colorthief

    from fashion.colour import mmcq

    def broken(pixels, count):
        raise mmcq.MMCQError("no pixels to quantise")

    def broken_reference(pixels, count):
        raise Exception("Empty pixels when quantize.")

    monkeypatch.setattr(mmcq, "mmcq_boxes", broken)
    monkeypatch.setattr(colorthief.MMCQ, "quantize", staticmethod(broken_reference))
    for reference in (False, True):
        palette = palette_from_pixels(np.array([[0, 0, 0], [100, 100, 100]], np.uint8), reference=reference)
        assert len(palette) == 1 and tuple(palette.rgb[0]) == (50, 50, 50)


def test_k_limits_palette_and_merges_shades():
    rng = np.random.default_rng(0)
    colours = np.array([[200, 30, 40], [30, 60, 200], [240, 240, 240], [30, 160, 60], [240, 200, 30]], np.uint8)
    pixels = np.repeat(colours, [400, 300, 150, 100, 50], axis=0)
    assert len(palette_from_pixels(pixels, k=2)) <= 2
    shades = np.clip(colours[0] + rng.integers(-3, 4, size=(500, 3)), 0, 255).astype(np.uint8)
    assert len(palette_from_pixels(shades, k=5)) == 1  # one red, however MMCQ split it


def test_garment_pixels_shape_limit_and_determinism():
    image = draw_shirt((200, 30, 40), stripes=(255, 255, 255)).resize((300, 300))
    first = garment_pixels(image, max_pixels=500)
    assert first.dtype == np.uint8 and first.shape == (500, 3)
    assert np.array_equal(first, garment_pixels(image, max_pixels=500))
    with pytest.raises(ValueError):
        garment_pixels(image, max_pixels=0)


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (7, 7), (2000, 1500)])
def test_garment_pixels_any_size(size):
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).rectangle((size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4), fill=(0, 0, 200))
    pixels = garment_pixels(image, max_pixels=1000)
    assert 1 <= len(pixels) <= 1000
    assert extract_palette(image).rgb.shape[1] == 3


def test_zero_background_delta_e_keeps_the_whole_region():
    image = draw_shirt((200, 30, 40))
    pixels = garment_pixels(image, bbox=SHIRT_BBOX, max_pixels=100_000, background_delta_e=0.0)
    assert len(pixels) == 81 * 77  # every pixel of the box, background included
    assert (pixels == 255).all(axis=1).any()


def test_other_modes_and_odd_bboxes():
    rgb = draw_shirt((40, 140, 60))
    for image in (rgb.convert("L"), rgb.convert("RGBA"), rgb.convert("P")):
        assert len(extract_palette(image)) >= 1
    for bbox in ((-10, -10, 500, 500), (50, 50, 50, 50), (90, 90, 200, 200)):
        assert len(extract_palette(rgb, bbox=bbox)) >= 1
    with pytest.raises(ValueError):
        garment_pixels(rgb, bbox=(1, 2, 3))


# ------------------------------------------------------------------------------------- names, families
@pytest.mark.parametrize("rgb, name", [
    ((255, 0, 0), "red"), ((0, 0, 128), "navy"), ((255, 255, 255), "white"), ((0, 0, 0), "black"),
    ((128, 128, 128), "grey"), ((0, 255, 255), "cyan"), ((250, 128, 114), "salmon"), ((200, 30, 40), "firebrick"),
])
def test_colour_name(rgb, name):
    assert colour_name(rgb_to_lab(np.array(rgb, np.uint8))) == name


def test_colour_names_vectorised():
    labs = rgb_to_lab(np.array([[255, 0, 0], [0, 128, 0], [255, 255, 0]], np.uint8))
    assert colour_names(labs) == ["red", "green", "yellow"]
    assert colour_names(np.zeros((0, 3))) == []


def test_lab_for_name_accepts_spellings_and_explains_unknown_names():
    assert np.allclose(lab_for_name("Light Blue"), rgb_to_lab(np.array([173, 216, 230], np.uint8)))
    assert np.allclose(lab_for_name("gray"), lab_for_name("grey"))
    assert np.allclose(lab_for_name("dark_slate-grey"), lab_for_name("darkslategray"))
    with pytest.raises(ValueError, match="lightblue"):
        lab_for_name("lightblu")
    with pytest.raises(ValueError, match="basic colour"):
        lab_for_name("zzzz")


@pytest.mark.parametrize("rgb, family", [
    ((255, 255, 255), "white"), ((245, 245, 220), "white"), ((0, 0, 0), "black"), ((18, 20, 28), "black"),
    ((128, 128, 128), "grey"), ((132, 128, 137), "grey"), ((185, 185, 185), "grey"),
    # Thresholds fitted to photos judged by eye (bench/judged/): a faded blue-grey and a dark navy
    # read blue, an off-white photographed at L 81-87 reads white.
    ((112, 128, 144), "blue"), ((28, 35, 49), "blue"), ((205, 205, 205), "white"), ((214, 210, 200), "white"), ((255, 0, 0), "red"), ((128, 0, 32), "red"),
    ((220, 20, 60), "red"), ((255, 165, 0), "orange"), ((255, 215, 0), "yellow"), ((34, 139, 34), "green"),
    ((128, 128, 0), "green"), ((0, 0, 128), "blue"), ((65, 105, 225), "blue"), ((0, 128, 128), "blue"),
    ((135, 206, 235), "blue"), ((128, 0, 128), "purple"), ((147, 112, 219), "purple"), ((255, 192, 203), "pink"),
    ((255, 105, 180), "pink"), ((139, 69, 19), "brown"), ((210, 180, 140), "brown"), ((193, 154, 107), "brown"),
])
def test_colour_family(rgb, family):
    assert colour_family(rgb_to_lab(np.array(rgb, np.uint8))) == family


def test_colour_families_shape_and_membership():
    labs = rgb_to_lab(np.random.default_rng(0).integers(0, 256, size=(3, 40, 3)).astype(np.uint8))
    families = colour_families(labs)
    assert families.shape == (3, 40)
    assert set(families.ravel()) <= set(colour_names_module.COLOUR_FAMILIES)
    assert is_colour_family("Gray") and is_colour_family("red") and not is_colour_family("navy")


def test_palette_colour_filters():
    navy_white = Palette.from_rgb([[0, 0, 128], [255, 255, 255]], [0.7, 0.3])
    assert palette_has_colour(navy_white, "blue") and palette_has_colour(navy_white, "white")
    assert palette_has_colour(navy_white, "navy") and not palette_has_colour(navy_white, "red")
    assert not palette_has_colour(navy_white, "white", min_share=0.5)
    labs, shares = pack_palettes([navy_white, None, Palette.from_rgb([[200, 0, 0]])], k=3)
    assert palette_colour_mask(labs, shares, "red").tolist() == [False, False, True]
    with pytest.raises(ValueError):
        palette_colour_mask(labs, shares, "not-a-colour")


# ------------------------------------------------------------------------------------------ similarity
RED, DARK_RED, BLUE, WHITE = [200, 30, 40], [170, 25, 35], [30, 60, 200], [250, 250, 250]


def test_similarity_properties():
    a = Palette.from_rgb([RED, WHITE], [0.8, 0.2])
    b = Palette.from_rgb([BLUE, WHITE], [0.6, 0.4])
    assert palette_similarity(a, a) == pytest.approx(1.0, abs=1e-6)
    assert palette_similarity(a, b) == pytest.approx(palette_similarity(b, a), abs=1e-6)
    assert 0.0 <= palette_similarity(a, b) < 1.0
    red, dark_red, blue = (Palette.from_rgb([c]) for c in (RED, DARK_RED, BLUE))
    assert palette_similarity(red, dark_red) > palette_similarity(red, blue)
    expected = np.exp(-float(ciede2000(red.dominant_lab, dark_red.dominant_lab)) / colour_similarity.SIMILARITY_SIGMA)
    assert palette_similarity(red, dark_red) == pytest.approx(expected, abs=1e-5)  # one colour each: the kernel
    # Shares matter: mostly red with a little white is not mostly white with a little red.
    mostly_white = Palette.from_rgb([RED, WHITE], [0.1, 0.9])
    assert palette_similarity(a, mostly_white) < 0.4


def test_vectorised_similarity_matches_scalar_and_handles_padding():
    rng = np.random.default_rng(3)
    palettes = [Palette.from_rgb(rng.integers(0, 256, size=(n, 3)), rng.random(n) + 0.1) for n in (1, 2, 3, 5, 4)]
    labs, shares = pack_palettes(palettes + [None], k=5)
    query = palettes[2]
    many = palette_similarity_many(query, labs, shares)
    assert many.dtype == np.float32 and many.shape == (6,)
    assert np.allclose(many[:5], [palette_similarity(query, p) for p in palettes], atol=1e-5)
    assert many[5] == 0.0  # no palette at all
    precomputed = palette_similarity_many(query, labs, shares, self_match=colour_similarity.palette_self_match(labs, shares))
    assert np.allclose(precomputed, many)
    with pytest.raises(ValueError):
        palette_similarity_many(query, labs[0], shares[0])


def test_pack_and_unpack_round_trip():
    palette = extract_palette(draw_shirt((20, 30, 90), stripes=(250, 250, 250), background=(200, 200, 200)))
    labs, shares = pack_palettes([palette], k=6)
    assert labs.shape == (1, 6, 3) and shares.shape == (1, 6) and labs.dtype == np.float32
    back = unpack_palette(labs[0], shares[0])
    assert np.allclose(back.lab, palette.lab) and np.allclose(back.shares, palette.shares)
    assert np.abs(back.rgb.astype(int) - palette.rgb.astype(int)).max() <= 1
    first_only, first_share = pack_palettes([Palette.from_rgb([RED, BLUE], [0.75, 0.25])], k=1)
    assert first_share[0, 0] == pytest.approx(1.0)  # truncated palettes are renormalised
    with pytest.raises(ValueError):
        unpack_palette(np.zeros((3, 3)), np.zeros(3))


def test_delta_e_dominant_and_validation():
    red, blue = Palette.from_rgb([RED]), Palette.from_rgb([BLUE, RED], [0.9, 0.1])
    assert delta_e_dominant(red, red) == 0.0
    assert delta_e_dominant(red, blue) == pytest.approx(float(ciede2000(red.lab[0], blue.lab[0])))
    with pytest.raises(ValueError):
        Palette(lab=np.zeros((2, 3)), rgb=np.zeros((3, 3)), shares=np.ones(2))
    with pytest.raises(ValueError):
        Palette(lab=np.zeros((0, 3)), rgb=np.zeros((0, 3)), shares=np.zeros(0))


def test_nothing_heavy_happens_at_import():
    code = ("import sys, fashion.colour.palette, fashion.colour.similarity, fashion.colour.names as n, "
            "fashion.colour.spaces as s; "
            "assert n._css_lab.cache_info().currsize == 0 and s.linear_lut.cache_info().currsize == 0; "
            "assert 'colorthief' not in sys.modules and 'scipy.ndimage' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------------- the built-in sample
def _list_rows(path):
    """Rows of a DeepFashion list file (count and header lines skipped)."""
    return [line.split() for line in path.read_text().splitlines()[2:] if line.strip()]


def test_sample_truth_colours_are_recovered(tiny_sample):
    """On the generated sample (64 px, JPEG), the dominant colour is the true fill colour."""
    boxes = {row[0]: tuple(int(v) for v in row[1:5]) for row in _list_rows(tiny_sample / "Anno" / "list_bbox.txt")}
    truth = _list_rows(tiny_sample / "Anno" / "list_colour_truth.txt")
    assert len(truth) == 72
    errors = []
    for name, r, g, b, *_ in truth:
        with Image.open(tiny_sample / name) as image:
            palette = extract_palette(image.convert("RGB"), bbox=boxes[name])
        errors.append(float(ciede2000(palette.dominant_lab, rgb_to_lab(np.array([r, g, b], np.uint8)))))
    assert np.mean(np.array(errors) <= 10.0) >= 0.95


def _border_reachable_by_search(mask: np.ndarray) -> np.ndarray:
    """Reference: breadth-first search over 4-neighbours from the mask's border pixels."""
    from collections import deque

    height, width = mask.shape
    reached = np.zeros_like(mask)
    queue = deque((r, c) for r in range(height) for c in range(width)
                  if mask[r, c] and (r in (0, height - 1) or c in (0, width - 1)))
    for r, c in queue:
        reached[r, c] = True
    while queue:
        r, c = queue.popleft()
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < height and 0 <= cc < width and mask[rr, cc] and not reached[rr, cc]:
                reached[rr, cc] = True
                queue.append((rr, cc))
    return reached


def _border_search(labelling: str):
    """``_connected_to_border`` by numpy propagation or by scipy's labelling (the web workers')."""
    import scipy.ndimage

    from fashion.colour.palette import _connected_to_border, _connected_to_border_labelled

    if labelling == "numpy":
        return _connected_to_border
    return lambda mask: _connected_to_border_labelled(mask, scipy.ndimage)


@pytest.mark.parametrize("labelling", ["numpy", "scipy"])
@pytest.mark.parametrize("seed", range(40))
def test_connected_to_border_is_a_4_connected_search_from_the_border(seed, labelling):
    rng = np.random.default_rng(seed)
    height, width = rng.integers(1, 30, size=2)
    mask = rng.random((height, width)) < rng.uniform(0.3, 0.75)
    np.testing.assert_array_equal(_border_search(labelling)(mask), _border_reachable_by_search(mask))


@pytest.mark.parametrize("labelling", ["numpy", "scipy"])
def test_connected_to_border_leaves_enclosed_rings_and_islands(labelling):
    mask = np.zeros((21, 21), bool)
    for i in range(0, 10, 2):  # concentric square rings; only the outer one touches the border
        mask[i, i:21 - i] = mask[20 - i, i:21 - i] = mask[i:21 - i, i] = mask[i:21 - i, 20 - i] = True
    mask[10, 10] = True  # an island in the middle
    mask[2:5, 0:3] = True  # a bridge from the border to the second ring
    reached = _border_search(labelling)(mask)
    np.testing.assert_array_equal(reached, _border_reachable_by_search(mask))
    assert reached[0, 5] and reached[2, 10] and not reached[4, 10] and not reached[10, 10]
