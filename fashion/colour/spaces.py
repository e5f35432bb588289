"""Colour spaces and colour difference: sRGB <-> CIELAB (D65) and CIEDE2000 (Sharma, Wu & Dalal 2005).

Vectorised and broadcasting; nothing is computed at import time.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np



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


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """sRGB companding: linear light (clipped to [0, 1]) -> sRGB values in [0, 1]."""
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1.0 / 2.4) - 0.055)


@functools.cache
def linear_lut() -> np.ndarray:
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
        linear = linear_lut()[arr]
    elif np.issubdtype(arr.dtype, np.integer):
        linear = linear_lut()[np.clip(arr, 0, 255)]
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
    srgb = linear_to_srgb(xyz @ np.linalg.inv(_RGB_TO_XYZ).T)
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
