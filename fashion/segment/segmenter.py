"""Photo in, garments out: :class:`Segmenter` (the network plus the plain-background fallback).

``Segmenter.load()`` reads the shipped weights (or a given file; a missing, damaged or foreign
file raises :class:`SegmenterWeightsError`). ``segment(image)`` runs the network on the photo
scaled to a longer side of 128 px, upsamples the class logits to a work size (longer side
:data:`WORK_LONGEST`) and takes the most likely class per pixel: a :class:`LabelMap`. Then:

* **person found** (the person test of :mod:`fashion.segment.person` says so, or, without one, skin
  covers at least :data:`MIN_SKIN_SHARE` and hair :data:`MIN_HAIR_SHARE` of the photo with the hair
  near the top (:data:`MAX_HAIR_ROW`); and some garment class is present): one :class:`Garment` per
  garment class (upper, lower, full, other) holding at least :data:`MIN_GARMENT_SHARE` of the
  garment pixels, largest first. The test decides alone because it was trained on both kinds of
  photo: on CCP's val split the rule refused 7 of 181 people the test keeps, and the dominant
  colour rose from 81.7% to 83.3% of val photos without the rule;
* **no person** (a product shot on a plain background, or the network sees no garment): one
  garment, ``part="garment"``, whose mask is everything the border-colour background model of
  :func:`fashion.colour.palette.foreground_mask` does not call background (the whole image when
  that leaves nothing), as the colour extraction did before segmentation existed.

Masks and boxes are at the input image's size. Nothing heavy happens at import time.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
from PIL import Image

from fashion.colour.palette import foreground_mask
from fashion.segment.labels import CLASSES, GARMENT_CLASSES
from fashion.segment.person import PersonTest, PersonTestError
from fashion.segment.weights import DEFAULT_WEIGHTS, INPUT_LONGEST, PERSON_TEST_FILE

if TYPE_CHECKING:
    import torch

    from fashion.colour.palette import Palette

try:
    from fashion.errors import FashionError
except ImportError:  # pragma: no cover - the errors module arrives with the lead's restructure
    class FashionError(Exception):  # type: ignore[no-redef]
        """Stand-in base class for expected failures."""

__all__ = [
    "FALLBACK_PART",
    "MAIN_PARTS",
    "MAX_HAIR_ROW",
    "MIN_GARMENT_SHARE",
    "MIN_HAIR_SHARE",
    "MIN_SKIN_SHARE",
    "OTHER_GARMENTS_WEIGHT",
    "WORK_LONGEST",
    "Garment",
    "LabelMap",
    "Segmentation",
    "Segmenter",
    "SegmenterWeightsError",
    "segmentation_palette",
]

#: Longer side of the label map the logits are upsampled to (masks are then scaled to the image).
WORK_LONGEST = 256
# A photo shows a person when the network finds at least this much skin and hair (shares of the
# photo). Tuned on CCP's val split (98% of photos pass), the generated sample (10% pass) and
# clothing-dataset-small's validation split (53% pass; some of its photos are worn garments).
#: Least share of skin for a photo of a person.
MIN_SKIN_SHARE = 0.01
#: Least share of hair for a photo of a person.
MIN_HAIR_SHARE = 0.005
#: A person's head is near the top: the hair's mean row lies in this top fraction of the photo.
#: Picked on CCP val (no photo there has it lower: the dominant colour stays 81.7%) and the
#: generated sample's half the bench does not read (product shots taken for people 10% -> 5%;
#: their dominant colour 98.4% -> 99.4% right; 0.2 gave 99.7% but lost a CCP photo).
MAX_HAIR_ROW = 0.25
#: A garment class must hold this share of all garment pixels to be reported as a garment.
MIN_GARMENT_SHARE = 0.05
#: ``Garment.part`` of the single garment of a photo without a person.
FALLBACK_PART = "garment"
#: Parts that can be a photo's main garment (what the photo shows off); accessories ("other":
#: shoes, bags, hats) only when nothing else was found.
MAIN_PARTS = ("upper", "lower", "full")
#: In a photo's palette the garments other than the main one count at this weight per pixel.
#: Chosen on CCP's val split (segmenter masks, 180 photos, MMCQ): dominant colour within dE 10 of
#: the largest garment's / garments (>= 10% of garment pixels) matched by a palette colour: main
#: garment only 81.1% / 72.9%, others at 0.1 80.0% / 82.7%, at 0.25 81.7% / 84.1%, at 0.5
#: 77.8% / 85.4%, all garments alike (1.0) 71.1% / 83.5%.
OTHER_GARMENTS_WEIGHT = 0.25
# Images smaller than this (either side) skip the network: there is nothing to segment.
_MIN_SIDE = 8


class SegmenterWeightsError(FashionError, ValueError):
    """The segmenter's weights file is missing, damaged or not a segmenter's weights."""


@dataclass(frozen=True, eq=False)
class Garment:
    """One garment in a photo: body part, pixel mask and box at the image's size, share of the garment pixels.

    ``part`` is ``"upper"``, ``"lower"``, ``"full"``, ``"other"`` (shoes, bags, hats, accessories) or
    ``"garment"`` (a photo without a person: the whole foreground). ``box`` is ``(x0, y0, x1, y1)``
    with exclusive ends (PIL's crop convention); ``share`` is its fraction of all garment pixels.
    """

    part: str
    mask: np.ndarray
    box: tuple[int, int, int, int]
    share: float


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Class index per pixel (``labels``: ``(h, w) uint8`` at the work size, indices into :data:`CLASSES`)
    for an image of ``size = (width, height)``."""

    labels: np.ndarray
    size: tuple[int, int]
    classes: tuple[str, ...] = CLASSES
    #: The person test's probability that the photo shows a person (None: no test was run).
    person_probability: float | None = None
    #: The probability at or above which the photo shows a person.
    person_threshold: float = 0.5

    def shares(self) -> dict[str, float]:
        """Fraction of the photo covered by each class."""
        counts = np.bincount(self.labels.ravel(), minlength=len(self.classes)) / max(1, self.labels.size)
        return {name: float(c) for name, c in zip(self.classes, counts)}

    def full_size(self) -> np.ndarray:
        """The label map scaled (nearest neighbour) to the image's size, ``(H, W) uint8``."""
        if self.labels.shape[::-1] == tuple(self.size):
            return self.labels
        return np.asarray(Image.fromarray(self.labels).resize(self.size, Image.Resampling.NEAREST))


@dataclass(frozen=True, eq=False)
class Segmentation:
    """What :meth:`Segmenter.segment` returns: the garments (largest first, at least one), the label
    map and how they were found (``"network"``, ``"plain-background"`` or ``"whole-image"``)."""

    garments: list[Garment]
    label_map: LabelMap
    method: str

    @property
    def person(self) -> bool:
        """Whether a person was found (the garments are body parts, not the whole foreground)."""
        return self.method == "network"

    @property
    def main_garment(self) -> Garment:
        """The garment the photo shows off: the largest of upper, lower and full body (an
        accessory only when there is nothing else); a product shot's single garment."""
        return next((g for g in self.garments if g.part in MAIN_PARTS), self.garments[0])

    def garment(self, part: str) -> Garment | None:
        """The garment of that part, or None."""
        return next((g for g in self.garments if g.part == part), None)

    def mask(self, part: str | None = None) -> np.ndarray:
        """``(H, W) bool``: the garment of ``part`` (``ValueError`` when absent), or all garments."""
        if part is None:
            union = np.zeros_like(self.garments[0].mask)
            for garment in self.garments:
                union |= garment.mask
            return union
        garment = self.garment(part)
        if garment is None:
            found = ", ".join(g.part for g in self.garments)
            raise ValueError(f"no {part!r} garment in this photo (found: {found})")
        return garment.mask


class Segmenter:
    """The garment segmenter: ``Segmenter.load()`` then ``segment(image)``."""

    def __init__(self, model: torch.nn.Module, input_longest: int = INPUT_LONGEST, threads: int | None = None,
                 source: str = "<memory>", person_test: PersonTest | None = None) -> None:
        self.model = model.eval()
        self.input_longest = input_longest
        self.threads = threads
        self.source = source
        self.person_test = person_test

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, threads: int | None = None,
             person_test: bool = True) -> Segmenter:
        """The segmenter with the weights at ``path`` (default: the file shipped in the package) and,
        with ``person_test``, the person test fitted on them (``person_test.json`` beside them;
        weights without one rely on the skin-and-hair rule alone)."""
        import torch

        from fashion.segment.network import ARCHITECTURE, SegNet, fold_batchnorm

        path = Path(DEFAULT_WEIGHTS if path is None else path)
        hint = "reinstall the package or rebuild it with `python scripts/train_segmenter.py`"
        if not path.is_file():
            raise SegmenterWeightsError(f"{path}: segmenter weights not found ({hint})")
        try:
            data = path.read_bytes()  # read once: loaded here, hashed for the person test's check
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - pickle, zip and unpickler errors all mean "damaged"
            raise SegmenterWeightsError(f"{path}: not a readable weights file ({type(error).__name__}: "
                                        f"{str(error).splitlines()[0] if str(error) else ''}; {hint})") from None
        if not isinstance(payload, dict) or payload.get("architecture") != ARCHITECTURE:
            found = payload.get("architecture") if isinstance(payload, dict) else type(payload).__name__
            raise SegmenterWeightsError(f"{path}: not segmenter weights (expected architecture {ARCHITECTURE!r}, "
                                        f"found {found!r}; {hint})")
        if list(payload.get("classes", [])) != list(CLASSES):
            raise SegmenterWeightsError(f"{path}: weights for classes {payload.get('classes')} but this version "
                                        f"uses {list(CLASSES)} ({hint})")
        model = SegNet(classes=len(CLASSES), widths=tuple(payload.get("widths", (16, 32, 64, 96))))
        try:
            model.load_state_dict(payload["state_dict"])
        except (KeyError, RuntimeError, TypeError) as error:
            raise SegmenterWeightsError(f"{path}: damaged segmenter weights ({str(error).splitlines()[0]}; "
                                        f"{hint})") from None
        fold_batchnorm(model.eval())  # inference only: the same labels for less CPU
        return cls(model, int(payload.get("input_longest", INPUT_LONGEST)), threads, str(path),
                   _person_test_beside(path, data, 2 * model.widths[3]) if person_test else None)

    def label_map(self, image: Image.Image) -> LabelMap:
        """The most likely class of every pixel, at the work size (longer side :data:`WORK_LONGEST`)."""
        return cast(LabelMap, self._label_map(image, stop_without_person=False))  # None only on a stop

    def _label_map(self, image: Image.Image, stop_without_person: bool) -> LabelMap | None:
        """:meth:`label_map`; with ``stop_without_person``, None as soon as the person test (run on
        the encoder's summary) refuses the photo: the decoder, two thirds of the network's cost,
        is skipped for a product shot."""
        import torch
        from torch.nn import functional as F

        width, height = image.size
        work = _scaled((width, height), min(WORK_LONGEST, max(width, height)))
        if min(width, height) < _MIN_SIDE:
            return LabelMap(np.zeros(work[::-1], dtype=np.uint8), (width, height))
        previous = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                tensor = self.network_input(image)
                encoded = self.model.encode(tensor)
                probability = None
                if self.person_test is not None:
                    probability = float(self.person_test.probability(self.model.summary(encoded)[0].numpy()))
                    if stop_without_person and probability < self.person_test.threshold:
                        return None
                logits = self.model.decode(encoded, tensor.shape[-2:])
                logits = F.interpolate(logits, size=work[::-1], mode="bilinear", align_corners=False)
                # numpy's argmax over the class axis is ~5x faster than torch's on CPU here
                labels = logits[0].numpy().argmax(axis=0).astype(np.uint8)
        finally:
            if self.threads is not None:
                torch.set_num_threads(previous)
        if probability is None:
            return LabelMap(labels, (width, height))
        return LabelMap(labels, (width, height), person_probability=probability,
                        person_threshold=self.person_test.threshold)

    def network_input(self, image: Image.Image) -> torch.Tensor:
        """``(1, 3, h, w)`` float in [0, 1]: the photo scaled to a longer side of ``input_longest``."""
        import torch

        rgb = image if image.mode == "RGB" else image.convert("RGB")
        small = rgb.resize(_scaled(rgb.size, self.input_longest), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1)[None].float().div_(255.0)

    def segment(self, image: Image.Image) -> Segmentation:
        """The garments in ``image`` (always at least one; see the module for the rules)."""
        label_map = self.label_map(image)
        found = _person_garments(label_map)
        return found if found is not None else _fallback(image, label_map)

    def segment_person(self, image: Image.Image) -> Segmentation | None:
        """The garments of the person in ``image``, or None when there is no person (then
        :meth:`segment` would fall back to the border model's foreground, which this skips, as it
        skips the segmenter's decoder once the person test refuses the photo: a caller with its own
        product-shot path saves that work)."""
        label_map = self._label_map(image, stop_without_person=True)
        return None if label_map is None else _person_garments(label_map)


def _person_garments(label_map: LabelMap) -> Segmentation | None:
    """The person's garments by the rules of the module, or None when the map shows no person."""
    shares = label_map.shares()
    if label_map.person_probability is not None:  # the person test, trained on both kinds of photo, decides
        person = label_map.person_probability >= label_map.person_threshold
    else:  # no test loaded: the skin-and-hair rule
        person = (shares["skin"] >= MIN_SKIN_SHARE and shares["hair"] >= MIN_HAIR_SHARE
                  and _mean_row(label_map.labels, CLASSES.index("hair")) <= MAX_HAIR_ROW)
    garment_share = sum(shares[CLASSES[c]] for c in GARMENT_CLASSES)
    if not (person and garment_share > 0):
        return None
    garments = _garments_from_labels(label_map.full_size())
    return Segmentation(garments, label_map, "network") if garments else None


def _person_test_beside(weights: Path, data: bytes, features: int) -> PersonTest | None:
    """The person test fitted on these weights (``person_test.json`` beside them; ``data``: the
    weights file's bytes), or None when there is none (weights trained by hand: the skin-and-hair
    rule alone decides); a damaged or foreign file raises :class:`SegmenterWeightsError`."""
    path = weights.with_name(PERSON_TEST_FILE)
    if not path.is_file():
        return None
    try:
        return PersonTest.read(path, hashlib.sha256(data).hexdigest(), features)
    except PersonTestError as error:
        raise SegmenterWeightsError(str(error)) from None


def _mean_row(labels: np.ndarray, label: int) -> float:
    """Mean row of the pixels of ``label``, as a fraction of the height (1.0 when there are none)."""
    rows = np.count_nonzero(labels == label, axis=1)
    total = rows.sum()
    return float(rows @ np.arange(len(rows)) / total / len(rows)) if total else 1.0


def _garments_from_labels(full: np.ndarray) -> list[Garment]:
    counts = np.bincount(full.ravel(), minlength=len(CLASSES))
    total = int(sum(counts[c] for c in GARMENT_CLASSES))
    garments = []
    for c in GARMENT_CLASSES:
        if total == 0 or counts[c] < MIN_GARMENT_SHARE * total:
            continue
        mask = full == c
        garments.append(Garment(CLASSES[c], mask, _box(mask), counts[c] / total))
    kept = sum(g.share for g in garments)
    garments = [Garment(g.part, g.mask, g.box, float(g.share / kept)) for g in garments]
    return sorted(garments, key=lambda g: -g.share)


def _fallback(image: Image.Image, label_map: LabelMap) -> Segmentation:
    """One garment: the border model's foreground, or the whole image when that is empty."""
    width, height = image.size
    mask = foreground_mask(image) if min(width, height) >= _MIN_SIDE else np.ones((height, width), dtype=bool)
    method = "plain-background"
    if not mask.any():
        mask, method = np.ones((height, width), dtype=bool), "whole-image"
    return Segmentation([Garment(FALLBACK_PART, mask, _box(mask), 1.0)], label_map, method)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _scaled(size: tuple[int, int], longest: int) -> tuple[int, int]:
    width, height = size
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def segmentation_palette(image: Image.Image, segmentation: Segmentation, part: str | None = None, k: int = 5,
                         method: str | None = None) -> Palette:
    """The palette of the segmented garment pixels: of ``part``'s garment, or of the whole outfit.

    The outfit's palette (``part`` None) is led by the main garment (:attr:`Segmentation.main_garment`):
    the other garments' pixels count at :data:`OTHER_GARMENTS_WEIGHT` each, so the dominant colour
    is the main garment's while a jacket or skirt beside it still appears in the palette (shares
    are of these weighted pixels). For a photo without a person (``segmentation.person`` false)
    this is the border-model garment pixels' palette, as before segmentation existed (``part`` is
    then ignored: there is one garment).
    """
    from fashion.colour.garment import DEFAULT_QUANTISER, MASKED_MAX_PIXELS, garment_palette, masked_pixels, quantise

    method = DEFAULT_QUANTISER if method is None else method
    if not segmentation.person:
        return garment_palette(image, None, k=k, method=method)
    if part is not None:
        return garment_palette(image, segmentation.mask(part), k=k, method=method)
    main = segmentation.main_garment
    pixels = [masked_pixels(image, main.mask, MASKED_MAX_PIXELS)]
    others = [g for g in segmentation.garments if g is not main]
    if others:
        # Pixels drawn per unit area: the main garment's density times the weight.
        density = len(pixels[0]) / max(main.share, 1e-9)
        count = round(density * OTHER_GARMENTS_WEIGHT * sum(g.share for g in others))
        if count > 0:
            pixels.append(masked_pixels(image, segmentation.mask() & ~main.mask, count))
    return quantise(np.concatenate(pixels), k=k, method=method)
