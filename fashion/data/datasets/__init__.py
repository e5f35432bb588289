"""Dataset readers: every layout becomes the same :class:`LabelledData` (see docs/ARCHITECTURE.md).

Layouts: DeepFashion coarse (``deepfashion``), DeepFashion fine (``deepfashion_fine``), folder per
class (``folders``) and CSV (``csv``); :func:`load_dataset` picks the reader.
"""

from fashion.data.datasets.common import (
    ATTRIBUTE_TYPE_NAMES,
    CATEGORY_TYPE_NAMES,
    IMAGE_SUFFIXES,
    LAYOUTS,
    DatasetError,
    DatasetWarning,
    LabelledData,
    box_from_values,
)
from fashion.data.datasets.layout import detect_layout, load_dataset
from fashion.data.datasets.lists import read_deepfashion_list

__all__ = [
    "ATTRIBUTE_TYPE_NAMES",
    "CATEGORY_TYPE_NAMES",
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "DatasetError",
    "DatasetWarning",
    "LabelledData",
    "detect_layout",
    "load_dataset",
    "read_deepfashion_list",
    "box_from_values",
]
