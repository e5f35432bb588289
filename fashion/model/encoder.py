"""The one place that runs the network for features: images in, a batch of features out.

Used by the catalog builder (:mod:`fashion.index.builder`), the engine that answers queries
(:mod:`fashion.recommend.engine`, and through it the web app's describe workers) and the
evaluation run (:mod:`fashion.evaluate.run`). Per image (CPU, in DataLoader workers for files):
crop to the garment's box, eval transform, palette of the garment's pixels. Per batch (the
device): embedding, category probabilities, attribute probabilities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from fashion.colour.settings import ColourSettings  # noqa: F401  (re-exported: its old home)
from fashion.config import Config
from fashion.data.workers import worker_init
from fashion.errors import FashionError
from fashion.model.checkpoint import LoadedModel

BBox = tuple[int, int, int, int]
# Context kept around a garment's box when it is cropped for the network (a share of its size).
GARMENT_MARGIN = 0.05


class EncoderError(FashionError, ValueError):
    """An image cannot be described as asked (e.g. the garment asked for is not in the photo)."""


@dataclass
class Features:
    """Features of a batch of images, aligned row by row; palettes padded to ``k`` (share 0)."""

    embeddings: np.ndarray  # (N, D) float32, unit length
    category_probs: np.ndarray  # (N, C) float32
    attribute_probs: np.ndarray  # (N, A) float32
    palette_lab: np.ndarray  # (N, k, 3) float32, colours by share
    palette_rgb: np.ndarray  # (N, k, 3) uint8
    palette_shares: np.ndarray  # (N, k) float32
    # (N, 12) float32: the colour family network's probabilities (fashion.colour.family_net) where
    # it ran (product shots, colour.family_net on), else zeros.
    family_net_probs: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)  # decode, colour, model_cpu: CPU s; model: wall s

    def __len__(self) -> int:
        return len(self.embeddings)


@dataclass
class FileBatch:
    """One batch of :meth:`Encoder.encode_files`: which inputs it covers, their features, the failures."""

    index: list[int]  # positions (in the input list) of the rows of ``features``
    features: Features | None  # None when every image of the batch failed
    bad: list[tuple[int, str]]  # (position, why it could not be read)


def padded_palette(palette: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A palette as fixed-size (k, 3) Lab, (k, 3) RGB, (k,) shares; unused slots have share 0."""
    lab = np.zeros((k, 3), np.float32)
    rgb = np.zeros((k, 3), np.uint8)
    shares = np.zeros(k, np.float32)
    n = min(k, len(palette.shares))
    lab[:n], rgb[:n], shares[:n] = palette.lab[:n], palette.rgb[:n], palette.shares[:n]
    return lab, rgb, shares


_SEGMENTERS: dict[bool, Any] = {}  # one per process and setting (DataLoader workers load their own)


def shared_segmenter(person_test: bool = True) -> Any:
    """The shipped garment segmenter (:mod:`fashion.segment`), with or without its person test,
    loaded once per process."""
    if person_test not in _SEGMENTERS:
        from fashion.segment import Segmenter

        _SEGMENTERS[person_test] = Segmenter.load(person_test=person_test)
    return _SEGMENTERS[person_test]


def image_palette(image: Image.Image, bbox: BBox | None, colour: ColourSettings) -> Any:
    """The palette of the garment's pixels in one image (see :func:`image_colour`)."""
    return image_colour(image, bbox, colour)[0]


def image_colour(image: Image.Image, bbox: BBox | None, colour: ColourSettings) -> tuple[Any, bool]:
    """``(palette, person)``: the palette of the garment's pixels in one image, and whether it came
    from a photo of a person (the segmenter found one).

    Which pixels: a box from the annotations wins (the border-colour model inside it). Otherwise,
    with ``colour.segment``, the segmenter looks for a person: when it finds one, the garment
    pixels it found, led by the main garment (:func:`fashion.segment.segmentation_palette`; skin,
    hair and background never count); a product shot (no person) keeps the
    border-colour model's pixels, as before segmentation existed, with the light's colour divided
    out first (``colour.white_balance``: :mod:`fashion.colour.constancy`). The colours: the quantiser
    the settings record (:data:`fashion.colour.settings.DEFAULT_QUANTISER`, chosen by
    measurement: see :mod:`fashion.colour.garment` and ``python -m bench segment``).
    """
    from fashion.colour.garment import quantise
    from fashion.colour.palette import garment_pixels

    if bbox is None and colour.segment:
        from fashion.segment import segmentation_palette

        found = shared_segmenter(colour.person_test).segment_person(image)
        if found is not None:  # the outfit, led by its main garment
            return segmentation_palette(image, found, k=colour.palette_size, method=colour.quantiser), True
    pixels = garment_pixels(image, bbox, max_pixels=colour.max_pixels, background_delta_e=colour.background_delta_e,
                            white_balance=colour.white_balance)
    return quantise(pixels, k=colour.palette_size, method=colour.quantiser), False


def prepare_image(image: Image.Image, bbox: BBox | None, transform: Any, colour: ColourSettings) -> dict[str, Any]:
    """The network input (cropped to the garment), the palette (garment pixels) and, for a product
    shot with ``colour.family_net`` on, the colour family network's input of one image.

    A module-level function of picklable arguments: it runs in DataLoader worker processes.
    """
    from fashion.data.images import crop_to_bbox

    start = time.process_time()
    cropped = crop_to_bbox(image, bbox)
    tensor = transform(cropped)
    transformed = time.process_time()
    palette, person = image_colour(image, bbox, colour)
    lab, rgb, shares = padded_palette(palette, colour.palette_size)
    return {"tensor": tensor, "lab": lab, "rgb": rgb, "shares": shares, "decode_s": transformed - start,
            "family_input": _family_input(cropped, person, colour), "colour_s": time.process_time() - transformed}


def _family_input(cropped: Image.Image, person: bool, colour: ColourSettings) -> np.ndarray | None:
    """The colour family network's input, or None where it does not run: no network, or a photo
    of a person (it would see the whole outfit, skin and street; the palette model reads those)."""
    if colour.family_net == "none" or person:
        return None
    from fashion.colour.family_net import network_input

    return network_input(cropped)


class Encoder:
    """A loaded model plus colour settings: images (PIL or files) → :class:`Features`."""

    def __init__(self, loaded: LoadedModel, colour: ColourSettings, max_image_pixels: int) -> None:
        self.loaded = loaded
        self.colour = colour
        self.max_image_pixels = max_image_pixels
        # The network's pass through ONNX Runtime (:meth:`use_onnx_runtime`); None: torch.
        self.onnx: Any = None

    @classmethod
    def from_config(cls, loaded: LoadedModel, config: Config, family_net: bool = False) -> "Encoder":
        """The encoder with the colour and image-size settings of ``config``; ``family_net``: run the
        colour family network ``colour.family_net`` names too (a catalog build: only the catalog's
        rows are ranked by colour words, so queries and evaluations skip its cost)."""
        colour = ColourSettings.from_config(config)
        return cls(loaded, colour if family_net else replace(colour, family_net="none"), config.data.max_image_pixels)

    def prepare(self, image: Image.Image, bbox: BBox | None) -> dict[str, Any]:
        """The per-image CPU work: see :func:`prepare_image`."""
        return prepare_image(image, bbox, self.loaded.transform, self.colour)

    # -- per batch (the device)

    def use_onnx_runtime(self, threads: int) -> None:
        """Run the network through ONNX Runtime from now on (:mod:`fashion.model.onnx_runtime`: the
        same outputs, less CPU per image; about 1.3 s to export, so for long-lived processes).

        Raises :class:`~fashion.model.onnx_runtime.OnnxRuntimeError` (and keeps torch) when it
        cannot: onnxruntime missing, a model not on the CPU, outputs that differ from torch's.
        """
        from fashion.model.onnx_runtime import OnnxNetwork

        self.onnx = OnnxNetwork.export(self.loaded.model, self.loaded.config.model.image_size, threads)

    def infer(self, tensor: torch.Tensor) -> dict[str, np.ndarray]:
        """Embeddings, category probabilities and attribute probabilities of a batch of inputs."""
        with torch.inference_mode():
            if self.onnx is not None:
                embedding, category_logits, attribute_logits = map(torch.from_numpy, self.onnx(tensor.numpy()))
            else:
                embedding, category_logits, attribute_logits = self.loaded.model.infer(tensor.to(self.loaded.device))
            category_probs = torch.softmax(category_logits.float(), dim=1)
            attribute_probs = torch.sigmoid(attribute_logits.float())
        return {"embeddings": embedding.float().cpu().numpy(),
                "category_probs": category_probs.cpu().numpy().astype(np.float32),
                "attribute_probs": attribute_probs.cpu().numpy().astype(np.float32)}

    def family_probs(self, prepared: Sequence[dict[str, Any]]) -> np.ndarray:
        """``(N, 12)`` the colour family network's probabilities for the prepared images that have
        its input (zeros for the others; all zeros with ``colour.family_net=none``)."""
        from fashion.colour.family_model import MODEL_CLASSES

        probs = np.zeros((len(prepared), len(MODEL_CLASSES)), np.float32)
        rows = [i for i, p in enumerate(prepared) if p.get("family_input") is not None]
        if rows:
            from fashion.colour.family_net import configured_family_net

            network = configured_family_net(self.colour.family_net)
            if network is not None:
                probs[rows] = network.probabilities(np.stack([prepared[i]["family_input"] for i in rows]))
        return probs

    def _features(self, prepared: Sequence[dict[str, Any]]) -> Features:
        tensor = torch.stack([p["tensor"] for p in prepared])
        start, wall = time.process_time(), time.perf_counter()
        outputs = self.infer(tensor)
        family_probs = self.family_probs(prepared)
        return Features(outputs["embeddings"], outputs["category_probs"], outputs["attribute_probs"],
                        np.stack([p["lab"] for p in prepared]), np.stack([p["rgb"] for p in prepared]),
                        np.stack([p["shares"] for p in prepared]), family_probs,
                        seconds={"decode": sum(p["decode_s"] for p in prepared),
                                 "colour": sum(p["colour_s"] for p in prepared),
                                 "model_cpu": time.process_time() - start,
                                 "model": time.perf_counter() - wall})

    # -- entry points

    def encode_images(self, images: Sequence[Image.Image], bboxes: Sequence[BBox | None] | None = None) -> Features:
        """Features of decoded images (one network batch), each cropped to its box where given."""
        if not images:
            raise ValueError("encode_images needs at least one image")
        boxes = list(bboxes) if bboxes is not None else [None] * len(images)
        return self._features([self.prepare(image, box) for image, box in zip(images, boxes)])

    def encode_garments(self, image: Image.Image, part: str | None = None) -> tuple[list[Any], Features]:
        """Each garment of a photo as its own row ("shop the look"): ``(garments, features)``.

        The segmenter finds the garments (:class:`fashion.segment.Garment`: part, mask, box, share;
        a product shot is one garment); each row is the garment's crop through the network and
        the palette of its own pixels. ``part`` keeps only that body part (``upper``, ``lower``,
        ``full``, ``other``); a part the photo does not show is an :class:`EncoderError` naming
        what was found.
        """
        from fashion.colour.garment import garment_palette
        from fashion.data.images import crop_to_bbox

        found = shared_segmenter(self.colour.person_test).segment(image)
        garments = [g for g in found.garments if part is None or g.part == part]
        if not garments:
            seen = ", ".join(g.part for g in found.garments)
            raise EncoderError(f"no {part} garment found in the photo (found: {seen})")
        prepared = []
        for garment in garments:
            start = time.process_time()
            cropped = crop_to_bbox(image, garment.box, margin=GARMENT_MARGIN)
            tensor = self.loaded.transform(cropped)
            transformed = time.process_time()
            if found.person:
                palette = garment_palette(image, garment.mask, k=self.colour.palette_size,
                                          method=self.colour.quantiser)
            else:  # a product shot: the border-colour model, as for the catalog (already segmented)
                palette = image_palette(image, None, replace(self.colour, segment=False))
            lab, rgb, shares = padded_palette(palette, self.colour.palette_size)
            prepared.append({"tensor": tensor, "lab": lab, "rgb": rgb, "shares": shares,
                             "family_input": _family_input(cropped, found.person, self.colour),
                             "decode_s": transformed - start, "colour_s": time.process_time() - transformed})
        return garments, self._features(prepared)

    def encode_files(self, paths: Sequence[str], bboxes: Sequence[BBox | None], *, batch_size: int,
                     workers: int) -> Iterator[FileBatch]:
        """Features of image files in batches, in input order; unreadable files are reported, not raised.

        Decoding, cropping, the transform and the palette run in ``workers`` DataLoader processes
        (0: this process); the network runs here, one batch at a time.
        """
        dataset = _ImageFiles(list(paths), list(bboxes), self.loaded.transform, self.colour, self.max_image_pixels)
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_collate, shuffle=False,
                            worker_init_fn=worker_init())
        for good, bad in loader:
            features = self._features([p for _, p in good]) if good else None
            yield FileBatch([i for i, _ in good], features, bad)


class _ImageFiles(Dataset):
    """Image files for a DataLoader: each item is ``(index, prepared)`` or ``(index, error text)``.

    A bad image is an item with its error, not an exception, so one broken file does not stop a
    build of thousands.
    """

    def __init__(self, paths: list[str], bboxes: list[BBox | None], transform: Any, colour: ColourSettings,
                 max_image_pixels: int) -> None:
        self.paths, self.bboxes = paths, bboxes
        self.transform, self.colour, self.max_image_pixels = transform, colour, max_image_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, dict[str, Any] | str]:
        from fashion.data.images import ImageLoadError, load_image

        start = time.process_time()
        try:
            image = load_image(self.paths[index], max_pixels=self.max_image_pixels)
        except (ImageLoadError, OSError) as error:
            return index, str(error)
        decoded = time.process_time() - start
        prepared = prepare_image(image, self.bboxes[index], self.transform, self.colour)
        prepared["decode_s"] += decoded
        return index, prepared


def _collate(batch: list[tuple[int, dict[str, Any] | str]]) -> tuple[list, list]:
    """Split a batch into good ``(index, prepared)`` and bad ``(index, error)`` items."""
    good = [(i, p) for i, p in batch if isinstance(p, dict)]
    bad = [(i, p) for i, p in batch if isinstance(p, str)]
    return good, bad
