"""Colour constancy for product photos: white patch (the brightest surface is white).

Photos of clothes laid on a bed or hung on a wall are often taken under warm indoor light: a white
pair of shorts is then beige in its pixels (sRGB 191, 166, 144) and named brown, while a
shopper, whose vision discounts the light, calls it white. The white-patch estimate takes the
light's colour from the brightest pixels (a percentile, not the maximum: specular glints and
noise) and divides it out in linear light, which also sets the lightness scale (Gilchrist's
anchoring: the brightest surface looks white). It is skipped when the brightest pixels are
themselves strongly coloured (a yellow shirt filling the frame is not a white patch lit yellow),
tinted off the blue-yellow axis along which real light varies (a pink backdrop), or too dark to
say anything (a night shot), and the lift in lightness is capped.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from fashion.colour.spaces import linear_lut, linear_to_srgb, rgb_to_lab

#: Share of the brightest pixels taken as the white patch.
WHITE_PATCH_SHARE = 0.01
#: Pixels the estimate looks at (a regular subsample of larger images).
ESTIMATE_PIXELS = 20_000
#: The patch must be this neutral (CIELAB chroma) to be taken for a white lit by a coloured light.
MAX_PATCH_CHROMA = 25.0
#: Real light sources tint along the blue-yellow axis (daylight, shade, tungsten: near the Planckian
#: locus): a patch is taken for a lit white only when its CIELAB hue (degrees) lies in one of these
#: ranges, or it is nearly neutral. On clothing-dataset-small's validation photos 57 of the 63 tinted
#: patches do; the generated sample's pink, green and cyan backdrops do not.
LIGHT_HUES = ((30.0, 110.0), (220.0, 290.0))
NEUTRAL_CHROMA = 4.0
#: ... and at least this light (CIELAB L): darker photos keep their pixels.
MIN_PATCH_LIGHTNESS = 40.0
#: Largest gain of a channel, in linear light (all three are scaled down together to respect it).
MAX_GAIN = 2.5


def white_patch_gains(pixels: np.ndarray) -> np.ndarray | None:
    """Per-channel gains in linear light ``(3,)`` that make the brightest pixels white, or None
    when the photo has no usable white patch. ``pixels``: ``(..., 3) uint8`` sRGB."""
    rgb = np.asarray(pixels, dtype=np.uint8).reshape(-1, 3)
    if len(rgb) == 0:
        return None
    if len(rgb) > ESTIMATE_PIXELS:  # a regular subsample estimates a percentile as well, 3-4x cheaper
        rgb = rgb[:: len(rgb) // ESTIMATE_PIXELS]
    # The brightest by the sum of the 8-bit values (cheap; the order differs from linear light's
    # only among near-ties), then averaged in linear light.
    brightness = rgb.sum(axis=1, dtype=np.uint16)
    count = max(1, int(round(len(rgb) * WHITE_PATCH_SHARE)))
    threshold = np.partition(brightness, len(brightness) - count)[len(brightness) - count]
    patch = linear_lut()[rgb[brightness >= threshold]].mean(axis=0)
    patch_srgb = np.clip(np.rint(linear_to_srgb(patch) * 255.0), 0, 255)
    lab = rgb_to_lab(patch_srgb)
    chroma = float(np.hypot(lab[1], lab[2]))
    if lab[0] < MIN_PATCH_LIGHTNESS or chroma > MAX_PATCH_CHROMA:
        return None
    hue = float(np.degrees(np.arctan2(lab[2], lab[1])) % 360.0)
    if chroma > NEUTRAL_CHROMA and not any(low <= hue <= high for low, high in LIGHT_HUES):
        return None  # pink, green or cyan: a tinted surface (a pastel backdrop), not a white under real light
    gains = 1.0 / np.maximum(patch, 1e-6)
    # Capped as a whole: the light's colour is always divided out in full, only the lift in
    # lightness of a dim photo is limited (a per-channel cap would leave a tint).
    return gains * min(1.0, MAX_GAIN / float(gains.max()))


def balance(pixels: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``pixels`` (``(..., 3) uint8`` sRGB) with each channel's linear light times its gain, clipped."""
    luts = np.stack([np.clip(np.rint(linear_to_srgb(np.minimum(linear_lut() * gain, 1.0)) * 255.0), 0, 255)
                     for gain in gains]).astype(np.uint8)
    rgb = np.asarray(pixels, dtype=np.uint8)
    if rgb.ndim == 3:  # an image: PIL applies a per-channel table in C, several times faster than numpy
        return np.asarray(Image.fromarray(rgb, "RGB").point(luts.reshape(-1).tolist()))
    return np.stack([luts[channel][rgb[..., channel]] for channel in range(3)], axis=-1)


def white_balanced(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` corrected by :func:`white_patch_gains`, or unchanged when it finds no white patch."""
    gains = white_patch_gains(pixels)
    return pixels if gains is None else balance(pixels, gains)
