"""The palette settings that shape stored palettes: plain values, no torch (the catalog
fingerprint is computed from them without loading the network)."""

from __future__ import annotations

from dataclasses import dataclass

from fashion.config import Config


@dataclass(frozen=True)
class ColourSettings:
    """The palette settings that shape stored palettes (part of the catalog fingerprint)."""

    palette_size: int
    max_pixels: int
    background_delta_e: float
    segment: bool = True  # segment photos of people (fashion.segment) for their garment pixels
    quantiser: str = "maxcoverage"  # fashion.colour.garment.DEFAULT_QUANTISER (recorded in catalog fingerprints)

    @classmethod
    def from_config(cls, config: Config) -> "ColourSettings":
        c = config.colour
        return cls(c.palette_size, c.max_pixels, c.background_delta_e, c.segment)
