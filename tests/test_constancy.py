"""White patch colour constancy: a white garment under warm light is white again; coloured or dark
photos are left alone; the catalog's product-shot palettes follow colour.white_balance."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fashion.colour.constancy import MAX_GAIN, balance, white_balanced, white_patch_gains
from fashion.colour.names import colour_families
from fashion.colour.palette import extract_palette
from fashion.colour.spaces import rgb_to_lab
from fashion.colour.settings import ColourSettings
from fashion.config import load_config


def warm_lit_shorts() -> np.ndarray:
    """White shorts on a tan bedspread under warm indoor light, as clothing-dataset-small's
    photos show them: the shorts' pixels are beige (214, 188, 160), the bedspread (147, 120, 99)."""
    image = np.empty((120, 120, 3), dtype=np.uint8)
    image[:] = (147, 120, 99)
    image[30:90, 35:85] = (214, 188, 160)
    return image


def test_a_white_garment_under_warm_light_is_white_again():
    image = warm_lit_shorts()
    plain = extract_palette(Image.fromarray(image)).dominant_lab
    balanced = extract_palette(Image.fromarray(image), white_balance=True).dominant_lab
    assert colour_families(plain) == "brown"  # the raw pixels read as a brown: the defect
    assert colour_families(balanced) == "white"
    # The bedspread stays a warm colour darker than the shorts: the correction is one gain per channel.
    bedspread = rgb_to_lab(white_balanced(image)[0, 0])
    assert bedspread[0] < rgb_to_lab(white_balanced(image)[60, 60])[0]


def test_gains_make_the_brightest_pixels_neutral_and_are_capped():
    gains = white_patch_gains(warm_lit_shorts())
    assert gains is not None and gains[0] < gains[1] < gains[2]  # a warm light: blue boosted most
    patch = balance(np.array([[214, 188, 160]], dtype=np.uint8), gains)[0]
    assert np.ptp(patch.astype(int)) <= 2 and patch.min() >= 235  # neutral and light
    dim = np.full((50, 50, 3), (120, 100, 80), dtype=np.uint8)  # a dim warm grey: the lift would exceed the cap
    capped = white_patch_gains(dim)
    assert capped is not None and capped.max() == pytest.approx(MAX_GAIN)
    dim_patch = balance(dim[:1, :1], capped)[0, 0].astype(int)
    assert np.ptp(dim_patch) <= 2  # still neutral: the cap limits the lift, not the colour correction


@pytest.mark.parametrize("colour", [(250, 220, 30), (230, 40, 40), (40, 60, 200)])
def test_a_strongly_coloured_bright_patch_is_no_white_patch(colour):
    """A yellow shirt filling the frame is not a white lit yellow: nothing is corrected."""
    image = np.full((60, 60, 3), colour, dtype=np.uint8)
    assert white_patch_gains(image) is None
    assert white_balanced(image) is image


@pytest.mark.parametrize("backdrop", [(236, 216, 217), (216, 236, 222), (214, 232, 236)])
def test_a_pastel_backdrop_off_the_light_axis_is_no_white_patch(backdrop):
    """Pink, green and cyan tints are surfaces, not white under real light (which tints along the
    blue-yellow axis): a light grey garment in front of them keeps its colour."""
    image = np.full((80, 80, 3), backdrop, dtype=np.uint8)
    image[20:60, 20:60] = (208, 206, 208)
    assert white_patch_gains(image) is None


def test_a_cool_daylight_cast_is_corrected_too():
    """Shade and overcast light tint whites blue: on the light axis, so corrected."""
    image = np.full((80, 80, 3), (120, 130, 150), dtype=np.uint8)
    image[20:60, 20:60] = (200, 215, 240)
    gains = white_patch_gains(image)
    assert gains is not None and gains[0] > gains[2]  # red boosted, blue held back
    assert colour_families(rgb_to_lab(balance(image[30:31, 30:31], gains)[0, 0])) == "white"


def test_a_dark_photo_is_left_alone():
    image = np.full((60, 60, 3), (40, 35, 30), dtype=np.uint8)
    assert white_patch_gains(image) is None
    assert white_patch_gains(np.zeros((0, 3), dtype=np.uint8)) is None


def test_a_white_background_changes_nothing():
    """Studio shots (the sample's white backgrounds): the patch is already white, the gains 1."""
    image = np.full((80, 80, 3), 255, dtype=np.uint8)
    image[20:60, 20:60] = (200, 30, 40)
    gains = white_patch_gains(image)
    assert gains is not None and np.allclose(gains, 1.0)
    assert np.array_equal(balance(image, gains), image)


def test_the_setting_reaches_the_catalog_fingerprint_and_can_be_turned_off():
    on = ColourSettings.from_config(load_config())
    off = ColourSettings.from_config(load_config(overrides=["colour.white_balance=false"]))
    assert on.white_balance and not off.white_balance
    assert on.__dict__ != off.__dict__  # catalogs built with the other setting are rebuilt
