"""Is there a person in the photo? A linear test on the segmenter's own summary of the photo.

Why: the segmenter was trained on Clothing Co-Parsing, where every photo shows a person, and its
coordinate channels taught it where a head usually is. On a flat-lay or a garment on a hanger it
paints a person-shaped silhouette, hair on top included: half of clothing-dataset-small's product
shots passed the skin-and-hair rule alone. This test has seen both kinds of photo: a logistic
regression on :meth:`fashion.segment.network.SegNet.summary` (the deepest encoder stage,
averaged and maximised over the frame), fitted by ``python
scripts/train_person_test.py`` on CCP's train split (people) against product shots
(clothing-dataset-small's train split and the generated sample's train split), its threshold
chosen on the validation splits. It costs a 192-term dot product per photo.

The file (``fashion/segment/weights/person_test.json``) is plain JSON (numbers, no code) and
records the SHA-256 of the segmenter weights whose features it was fitted on: with other weights
it is refused, since the summary means something else there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion.errors import FashionError

__all__ = ["PERSON_TEST_FORMAT", "PersonTest", "PersonTestError"]

#: ``format`` of the JSON file this release reads.
PERSON_TEST_FORMAT = "fashion.segment.PersonTest/v1"


class PersonTestError(FashionError, ValueError):
    """The person test's file is damaged, of another format, or fitted on other segmenter weights."""


@dataclass(frozen=True)
class PersonTest:
    """``probability(summary)``: logistic regression on standardised summaries; a person from ``threshold`` up."""

    mean: np.ndarray  # (F,) float64
    scale: np.ndarray  # (F,) float64, > 0
    coef: np.ndarray  # (F,) float64
    intercept: float
    threshold: float
    segmenter_sha256: str

    def probability(self, summary: np.ndarray) -> np.ndarray:
        """Probability of a person for each summary row ``(N, F)`` (or one ``(F,)`` row: a 0-d array)."""
        z = (np.asarray(summary, dtype=np.float64) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def to_dict(self) -> dict:
        """The JSON form (see :meth:`read`)."""
        return {"format": PERSON_TEST_FORMAT, "segmenter_sha256": self.segmenter_sha256,
                "threshold": self.threshold, "intercept": self.intercept, "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist()}

    @classmethod
    def read(cls, path: Path, segmenter_sha256: str, features: int) -> PersonTest:
        """The test stored at ``path``; :class:`PersonTestError` unless it is well formed, has
        ``features`` inputs and was fitted on the segmenter weights of ``segmenter_sha256``."""
        hint = "rebuild it with `python scripts/train_person_test.py`"
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise PersonTestError(f"{path}: not a readable person test ({type(error).__name__}; {hint})") from None
        if not isinstance(data, dict) or data.get("format") != PERSON_TEST_FORMAT:
            raise PersonTestError(f"{path}: not a person test of format {PERSON_TEST_FORMAT} ({hint})")
        if data.get("segmenter_sha256") != segmenter_sha256:
            raise PersonTestError(f"{path}: fitted on other segmenter weights than the ones loaded ({hint})")
        try:
            arrays = [np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "coef")]
            intercept, threshold = float(data["intercept"]), float(data["threshold"])
        except (KeyError, TypeError, ValueError):
            raise PersonTestError(f"{path}: damaged person test (missing or non-numeric values; {hint})") from None
        numbers = [*arrays, np.array([intercept, threshold])]
        if any(a.shape != (features,) for a in arrays) or not all(np.isfinite(a).all() for a in numbers) \
                or not (arrays[1] > 0).all() or not 0.0 < threshold < 1.0:
            raise PersonTestError(f"{path}: damaged person test (expected {features} finite weights, positive "
                                  f"scales and a threshold in (0, 1); {hint})")
        return cls(arrays[0], arrays[1], arrays[2], intercept, threshold, segmenter_sha256)

