"""The built-in sample catalog: drawn clothes in the DeepFashion Category-and-Attribute (coarse) layout.

Split by job, each step feeding the next: :mod:`.plan` (which garments: category, attributes,
colour, split; from the seed), :mod:`.designs` (each category's outline as polygons), :mod:`.draw`
(a garment rendered on a background as one photographed view) and :mod:`.write` (the image files,
DeepFashion annotation lists and ``sample.json``; ``generate_sample`` / ``ensure_sample``). The
command line is ``python -m fashion.cli.sample``.
"""

from fashion.data.sample.draw import MIN_FILL_SHARE, RenderedView, fill_share, render_garment, render_view
from fashion.data.sample.plan import (
    ATTRIBUTE_NAMES,
    DEEPFASHION_CATEGORIES,
    GARMENT_COLOURS,
    GENERATOR_VERSION,
    SAMPLE_ATTRIBUTES,
    SAMPLE_CATEGORIES,
    ItemSpec,
    SampleError,
    plan_sample,
)
from fashion.data.sample.write import ensure_sample, generate_sample, image_name, read_manifest

__all__ = [
    "ATTRIBUTE_NAMES", "DEEPFASHION_CATEGORIES", "GARMENT_COLOURS", "GENERATOR_VERSION", "MIN_FILL_SHARE",
    "SAMPLE_ATTRIBUTES", "SAMPLE_CATEGORIES", "ItemSpec", "RenderedView", "SampleError", "ensure_sample",
    "fill_share", "generate_sample", "image_name", "plan_sample", "read_manifest", "render_garment", "render_view",
]
