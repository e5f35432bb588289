"""Colour families learned from photos judged by eye: ``P(family | a garment's palette)``.

The rules of :func:`fashion.colour.names.colour_families` name a colour by where it sits in CIELAB,
as if every photo were lit like a colour chart. Real photos are not: a white shirt on a bed under
a lamp is a dim beige, navy is nearly black, faded denim nearly grey. People still name them
white, blue and blue. This model maps a stored palette (the catalog's ``palette_lab`` and
``palette_shares``: no image is needed) to the probability of each family a person would name
for the garment's main colour, or ``multi`` (no one family: stripes, prints, colour-blocking).

It is a multinomial logistic regression on :func:`palette_features` (the rules' family shares,
the three largest colours' coordinates and shares, the share-weighted means), fitted by
``scripts/train_colour_families.py`` on clothing-dataset-small's training photos as judged by eye
(``bench/judged/``), its strength chosen on the validation split. The word search ranks a colour
family by it (``colour.family_model``); the rules stay the names shown and the ``--colour``
filter. Stored as JSON (:data:`BUILTIN_MODEL`, plain numbers: nothing is unpickled).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion.colour.names import COLOUR_FAMILIES, colour_families, oklab_hue
from fashion.errors import FashionError

#: What the model can answer: the eleven families, and ``multi`` (no one main colour).
MODEL_CLASSES: tuple[str, ...] = (*COLOUR_FAMILIES, "multi")
#: Bumped whenever :func:`palette_features` changes: a stored model must match it.
FEATURE_VERSION = 1
#: How many of the palette's largest colours enter one by one.
TOP_COLOURS = 3
#: The model that ships, made by ``python scripts/train_colour_families.py``.
BUILTIN_MODEL = Path(__file__).resolve().parent / "family_model.json"


class FamilyModelError(FashionError, ValueError):
    """A family model file that cannot be used (missing, damaged, another feature version)."""


def _colour_columns(lab: np.ndarray) -> np.ndarray:
    """(..., 6) per colour: L, a, b, chroma scaled to about [-1, 1], and the hue as a unit vector
    faded toward 0 for near-neutral colours (their hue is noise)."""
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = np.radians(oklab_hue(lab))
    fade = np.minimum(chroma / 10.0, 1.0)
    return np.stack([lab[..., 0] / 100.0, lab[..., 1] / 50.0, lab[..., 2] / 50.0, chroma / 50.0,
                     np.cos(hue) * fade, np.sin(hue) * fade], axis=-1)


def palette_features(palette_lab: np.ndarray, palette_shares: np.ndarray) -> np.ndarray:
    """``(N, F)`` features of packed palettes (``(N, k, 3)`` Lab sorted by share, ``(N, k)`` shares;
    unused slots have share 0): the share of each rule family, the :data:`TOP_COLOURS` largest
    colours' columns and shares, and the share-weighted mean columns."""
    lab = np.asarray(palette_lab, dtype=np.float64)
    shares = np.asarray(palette_shares, dtype=np.float64)
    if lab.ndim != 3 or lab.shape[-1] != 3 or shares.shape != lab.shape[:2]:
        raise ValueError(f"palettes must be (N, k, 3) Lab and (N, k) shares, got {lab.shape} and {shares.shape}")
    if lab.shape[1] < TOP_COLOURS:  # a narrower palette: pad with unused slots
        pad = TOP_COLOURS - lab.shape[1]
        lab = np.pad(lab, ((0, 0), (0, pad), (0, 0)))
        shares = np.pad(shares, ((0, 0), (0, pad)))
    totals = shares.sum(axis=1, keepdims=True)
    shares = shares / np.where(totals > 0, totals, 1.0)
    families = colour_families(lab)
    family_shares = np.stack([np.where(families == name, shares, 0.0).sum(axis=1) for name in COLOUR_FAMILIES], axis=1)
    columns = _colour_columns(lab) * (shares[..., None] > 0)  # unused slots read as zeros
    top = columns[:, :TOP_COLOURS].reshape(len(lab), -1)
    mean = (columns * shares[..., None]).sum(axis=1)
    return np.concatenate([family_shares, top, shares[:, :TOP_COLOURS], mean], axis=1)


@dataclass(frozen=True)
class FamilyModel:
    """A fitted multinomial logistic regression over :func:`palette_features` (standardised)."""

    classes: tuple[str, ...]
    mean: np.ndarray  # (F,) feature means
    scale: np.ndarray  # (F,) feature standard deviations
    coef: np.ndarray  # (C, F)
    intercept: np.ndarray  # (C,)

    def probabilities(self, palette_lab: np.ndarray, palette_shares: np.ndarray) -> np.ndarray:
        """``(N, C)`` probability of each of :attr:`classes`; rows of an empty palette (or one with
        non-finite numbers: never a made-up colour) are all 0."""
        features = palette_features(palette_lab, palette_shares)
        unusable = ~np.isfinite(features).all(axis=1) | ~(np.asarray(palette_shares, dtype=np.float64).sum(axis=1) > 0)
        features[unusable] = 0.0
        logits = ((features - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[unusable] = 0.0
        return probs

    def family_probability(self, family: str, palette_lab: np.ndarray, palette_shares: np.ndarray) -> np.ndarray:
        """``(N,)`` probability that a person names ``family`` (one of :data:`MODEL_CLASSES`)."""
        if family not in self.classes:
            raise ValueError(f"unknown colour family {family!r}; one of {', '.join(self.classes)}")
        return self.probabilities(palette_lab, palette_shares)[:, self.classes.index(family)]

    def to_json(self, **provenance: object) -> str:
        """The model as JSON text (plain numbers), with ``provenance`` (how it was made) beside it."""
        import json

        return json.dumps({"feature_version": FEATURE_VERSION, "classes": list(self.classes),
                           "mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                           "intercept": self.intercept.tolist(), "provenance": provenance}, indent=1) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> "FamilyModel":
        """Read a model written with :meth:`to_json`; :class:`FamilyModelError` naming what is wrong otherwise."""
        import json

        path = Path(path)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            version, classes = stored["feature_version"], tuple(str(name) for name in stored["classes"])
            numbers = [np.asarray(stored[name], dtype=np.float64) for name in ("mean", "scale", "coef", "intercept")]
        except FileNotFoundError:
            raise FamilyModelError(f"colour family model {path} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise FamilyModelError(f"colour family model {path} is damaged or not a family model ({error})") from None
        if version != FEATURE_VERSION:
            raise FamilyModelError(f"colour family model {path} has feature version {version}, this code reads "
                                   f"{FEATURE_VERSION}: retrain it (python scripts/train_colour_families.py)")
        mean, scale, coef, intercept = numbers
        n_features = palette_features(np.zeros((1, TOP_COLOURS, 3)), np.ones((1, TOP_COLOURS))).shape[1]
        shapes_ok = (mean.shape == scale.shape == (n_features,) and coef.shape == (len(classes), n_features)
                     and intercept.shape == (len(classes),))
        if len(classes) < 2 or len(set(classes)) != len(classes) or not set(classes) <= set(MODEL_CLASSES) or not shapes_ok:
            raise FamilyModelError(f"colour family model {path} has unexpected classes or array shapes")
        if not all(np.isfinite(array).all() for array in numbers) or not (scale > 0).all():
            raise FamilyModelError(f"colour family model {path} holds non-finite numbers or a zero scale")
        return cls(classes, mean, scale, coef, intercept)


def fit_family_model(features: np.ndarray, labels: np.ndarray, strength: float = 1.0, seed: int = 0) -> FamilyModel:
    """Fit a :class:`FamilyModel` to ``(N, F)`` features and ``(N,)`` judged labels (in
    :data:`MODEL_CLASSES`); ``strength``: the inverse L2 penalty (scikit-learn's ``C``)."""
    from sklearn.linear_model import LogisticRegression

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=str)
    unknown = set(labels) - set(MODEL_CLASSES)
    if unknown:
        raise ValueError(f"labels outside the model's classes: {sorted(unknown)}")
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    regression = LogisticRegression(C=strength, max_iter=5000, random_state=seed)
    regression.fit((features - mean) / scale, labels)
    coef, intercept = regression.coef_.astype(np.float64), regression.intercept_.astype(np.float64)
    if len(regression.classes_) == 2:  # scikit-learn keeps one row for two classes: the softmax needs both
        coef, intercept = np.stack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return FamilyModel(tuple(str(c) for c in regression.classes_), mean, scale, coef, intercept)


@functools.lru_cache(maxsize=4)
def load_family_model(path: str) -> FamilyModel:
    """:meth:`FamilyModel.load`, once per path and process (the word search asks on every query)."""
    return FamilyModel.load(path)


def configured_family_model(setting: str) -> FamilyModel | None:
    """The model ``colour.family_model`` names: ``"builtin"`` (:data:`BUILTIN_MODEL`), ``"rules"``
    (None: rank by the rules' family shares), or a model file's path."""
    if setting == "rules":
        return None
    if not setting.strip():
        raise FamilyModelError('colour.family_model is empty; use "builtin", "rules" or a model file\'s path')
    return load_family_model(str(BUILTIN_MODEL if setting == "builtin" else Path(setting)))
