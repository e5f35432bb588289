"""The shipped segmenter weights (``segmenter.pt``) and their provenance (``segmenter.json``).

Reproduce them with ``python scripts/train_segmenter.py`` (needs Clothing Co-Parsing beside the
project; see that script and ``README.md`` here).
"""

from __future__ import annotations

from pathlib import Path

#: The weights file shipped with the package.
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "segmenter.pt"
#: The network sees each photo scaled so that its longer side is this many pixels.
INPUT_LONGEST = 128
#: The person test fitted on these weights' features (:mod:`fashion.segment.person`), beside them.
PERSON_TEST_FILE = "person_test.json"
