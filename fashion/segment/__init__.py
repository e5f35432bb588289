"""Garment segmentation: a photo in, garments (body part, mask, box, share) and a label map out.

    from fashion.segment import Segmenter, segmentation_palette
    segmenter = Segmenter.load()                 # the shipped weights (fashion/segment/weights/)
    found = segmenter.segment(pil_image)         # Segmentation: .garments, .label_map, .method, .person
    for garment in found.garments:               # Garment: .part, .mask, .box, .share (largest first)
        ...
    palette = segmentation_palette(pil_image, found)            # the outfit, led by its main garment
    upper = segmentation_palette(pil_image, found, part="upper")

Stage modules: ``labels`` (classes, CCP's 59 labels grouped), ``network`` (the tiny encoder-decoder),
``segmenter`` (weights loading, inference, the plain-background fallback), ``ccp`` (the Clothing
Co-Parsing reader and its fixed split), ``weights`` (the shipped file and its provenance).
"""

from fashion.segment.labels import CLASSES, GARMENT_CLASSES, PARTS
from fashion.segment.segmenter import (
    FALLBACK_PART,
    Garment,
    LabelMap,
    Segmentation,
    Segmenter,
    SegmenterWeightsError,
    segmentation_palette,
)

__all__ = [
    "CLASSES",
    "FALLBACK_PART",
    "GARMENT_CLASSES",
    "PARTS",
    "Garment",
    "LabelMap",
    "Segmentation",
    "Segmenter",
    "SegmenterWeightsError",
    "segmentation_palette",
]
