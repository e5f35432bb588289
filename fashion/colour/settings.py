"""The palette settings that shape stored palettes: plain values, no torch (the catalog
fingerprint is computed from them without loading the network)."""

from __future__ import annotations

from dataclasses import dataclass

from fashion.config import Config

#: The palette quantiser (fashion.colour.garment.QUANTISERS) chosen by measurement; defined here,
#: beside the settings that record it, so the catalog fingerprint needs no image code.
DEFAULT_QUANTISER = "mmcq"


@dataclass(frozen=True)
class ColourSettings:
    """The palette settings that shape stored palettes (part of the catalog fingerprint)."""

    palette_size: int
    max_pixels: int
    background_delta_e: float
    segment: bool = True  # segment photos of people (fashion.segment) for their garment pixels
    quantiser: str = DEFAULT_QUANTISER  # the palette quantiser (recorded in catalog fingerprints)
    person_test: bool = True  # with segment: the segmenter's person test decides who is a person
    white_balance: bool = True  # product shots: divide out the light's colour (fashion.colour.constancy)
    family_net: str = "none"  # product shots' colour family from the photo (fashion.colour.family_net): builtin | none | path

    @classmethod
    def from_config(cls, config: Config) -> "ColourSettings":
        c = config.colour
        return cls(c.palette_size, c.max_pixels, c.background_delta_e, c.segment, person_test=c.person_test,
                   white_balance=c.white_balance, family_net=c.family_net)
