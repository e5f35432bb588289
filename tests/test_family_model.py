"""The colour family model (fashion/colour/family_model.py), its training script, and the word search using it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fashion.colour.family_model import (
    BUILTIN_MODEL,
    MODEL_CLASSES,
    FamilyModel,
    FamilyModelError,
    configured_family_model,
    fit_family_model,
    palette_features,
)
from fashion.colour.spaces import rgb_to_lab

# Canonical colours of six families, each with a darker and a lighter shade.
SHADES = {"red": [(200, 30, 40), (150, 20, 30)], "blue": [(30, 60, 200), (20, 30, 110)],
          "white": [(250, 250, 250), (235, 235, 230)], "black": [(10, 10, 12), (30, 30, 30)],
          "green": [(40, 150, 60), (30, 100, 40)], "yellow": [(240, 210, 40), (220, 200, 60)]}


def packed(rgbs: list[list[tuple[int, int, int]]], shares: list[list[float]], k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Packed palettes ``(N, k, 3)`` Lab and ``(N, k)`` shares from RGB colours and their shares."""
    lab, share = np.zeros((len(rgbs), k, 3)), np.zeros((len(rgbs), k))
    for i, (colours, weights) in enumerate(zip(rgbs, shares)):
        lab[i, :len(colours)] = rgb_to_lab(np.array(colours, np.uint8))
        share[i, :len(colours)] = weights
    return lab, share


@pytest.fixture(scope="module")
def model() -> FamilyModel:
    """Fitted on one-colour palettes (jittered shades) and two-colour halves labelled multi."""
    rng = np.random.default_rng(0)
    rgbs, shares, labels = [], [], []
    for family, shades in SHADES.items():
        for _ in range(30):
            shade = np.clip(np.array(shades[rng.integers(2)]) + rng.integers(-12, 13, 3), 0, 255)
            rgbs.append([tuple(shade)])
            shares.append([1.0])
            labels.append(family)
    names = list(SHADES)
    for _ in range(40):
        a, b = rng.choice(len(names), 2, replace=False)
        rgbs.append([SHADES[names[a]][0], SHADES[names[b]][0]])
        shares.append([0.5, 0.5])
        labels.append("multi")
    lab, share = packed(rgbs, shares)
    return fit_family_model(palette_features(lab, share), np.array(labels), strength=1.0)


def test_features_of_packed_palettes():
    lab, share = packed([[(200, 30, 40)], [(30, 60, 200), (250, 250, 250)]], [[1.0], [0.6, 0.4]])
    features = palette_features(lab, share)
    assert features.shape[0] == 2 and np.isfinite(features).all()
    assert features[0, list(MODEL_CLASSES).index("red")] == pytest.approx(1.0)  # the rules' family shares lead
    assert features[1, list(MODEL_CLASSES).index("blue")] == pytest.approx(0.6)
    narrow = palette_features(lab[:, :2], share[:, :2])  # a 2-colour palette is padded, same features
    assert np.allclose(narrow, features)
    with pytest.raises(ValueError, match="palettes must be"):
        palette_features(lab[0], share[0])


def test_the_model_names_canonical_colours_and_mixtures(model):
    lab, share = packed([[shades[0]] for shades in SHADES.values()] + [[(200, 30, 40), (30, 60, 200)]],
                        [[1.0]] * len(SHADES) + [[0.5, 0.5]])
    probs = model.probabilities(lab, share)
    assert probs.shape == (len(SHADES) + 1, len(model.classes)) and np.allclose(probs.sum(axis=1), 1.0)
    assert [model.classes[i] for i in probs.argmax(axis=1)] == [*SHADES, "multi"]
    red = model.family_probability("red", lab, share)
    assert red[0] > 0.5 and red[0] > red[1:].max()
    empty = model.probabilities(np.zeros((1, 5, 3)), np.zeros((1, 5)))
    assert (empty == 0).all()  # no palette: no family
    broken = lab.copy()
    broken[0, 0, 0] = np.nan
    probs = model.probabilities(broken, share)
    assert (probs[0] == 0).all() and np.allclose(probs[1:].sum(axis=1), 1.0)  # a non-finite palette names nothing
    with pytest.raises(ValueError, match="unknown colour family"):
        model.family_probability("mauve", lab, share)


def test_saved_models_load_the_same_and_damaged_ones_are_named(model, tmp_path):
    path = tmp_path / "model.json"
    path.write_text(model.to_json(command="test"))
    loaded = FamilyModel.load(path)
    lab, share = packed([[(200, 30, 40)], [(10, 10, 12)]], [[1.0], [1.0]])
    assert loaded.classes == model.classes
    assert np.allclose(loaded.probabilities(lab, share), model.probabilities(lab, share))
    stored = json.loads(path.read_text())
    cases = {"missing.json": None, "truncated.json": path.read_text()[:100], "binary.json": b"\x00\xff\x00",
             "version.json": json.dumps({**stored, "feature_version": 99}),
             "shapes.json": json.dumps({**stored, "mean": stored["mean"][:-1]}),
             "classes.json": json.dumps({**stored, "classes": ["red", "mauve", *stored["classes"][2:]]}),
             "nan.json": json.dumps({**stored, "coef": [[float("nan")] * len(stored["mean"])] * len(stored["classes"])}),
             "zero-scale.json": json.dumps({**stored, "scale": [0.0] * len(stored["mean"])})}
    for name, content in cases.items():
        bad = tmp_path / name
        if isinstance(content, bytes):
            bad.write_bytes(content)
        elif content is not None:
            bad.write_text(content)
        with pytest.raises(FamilyModelError, match="colour family model"):
            FamilyModel.load(bad)


def test_the_setting_names_a_model_or_the_rules(tmp_path):
    assert configured_family_model("rules") is None
    with pytest.raises(FamilyModelError, match="empty"):
        configured_family_model(" ")
    with pytest.raises(FamilyModelError, match="does not exist"):
        configured_family_model(str(tmp_path / "none.json"))


def test_the_builtin_model_ships_and_names_plain_colours():
    """The shipped model (scripts/train_colour_families.py) loads and names unambiguous colours."""
    builtin = configured_family_model("builtin")
    assert set(builtin.classes) == set(MODEL_CLASSES)
    provenance = json.loads(BUILTIN_MODEL.read_text())["provenance"]
    assert provenance["command"] == "python scripts/train_colour_families.py"
    plain = {"red": (200, 30, 40), "blue": (30, 60, 200), "white": (250, 250, 250), "black": (10, 10, 12),
             "green": (40, 150, 60), "pink": (255, 105, 180)}
    lab, share = packed([[rgb] for rgb in plain.values()], [[1.0]] * len(plain))
    probs = builtin.probabilities(lab, share)
    families = [c for c in builtin.classes if c != "multi"]
    named = [families[i] for i in probs[:, [builtin.classes.index(f) for f in families]].argmax(axis=1)]
    assert named == list(plain)


def test_training_script_fits_on_judged_photos_and_chooses_on_validation(tmp_path, capsys):
    from scripts.train_colour_families import main

    data = tmp_path / "clothing-dataset-small"
    rows = ["# judged", "key,family,note,earlier"]
    rng = np.random.default_rng(1)
    for split, count in (("train", 6), ("validation", 3)):
        for family, shades in SHADES.items():
            folder = data / split / "shirt"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = np.full((48, 40, 3), 245, np.uint8)  # a light backdrop, the garment in the middle
                image[10:38, 8:32] = np.clip(np.array(shades[i % 2]) + rng.integers(-8, 9, 3), 0, 255)
                name = f"{family}-{i}.jpg"
                Image.fromarray(image).save(folder / name, quality=95)
                rows.append(f"{split}/shirt/{name},{family},,")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    out = tmp_path / "model.json"
    assert main(["--data", str(data), "--labels", str(labels), "--out", str(out), "--strengths", "0.1,1"]) == 0
    printed = capsys.readouterr().out
    assert "chosen strength" in printed and f"wrote {out}" in printed
    model = FamilyModel.load(out)
    assert set(model.classes) == set(SHADES)
    assert json.loads(out.read_text())["provenance"]["photos"] == {"train": 36, "validation": 18}


@pytest.mark.parametrize("script, bad_option", [("train_colour_families", ["--strengths", "0,nan"]),
                                                ("train_colour_net", ["--epochs", "0"])])
def test_training_scripts_without_data_or_with_bad_labels(tmp_path, capsys, script, bad_option):
    """Both colour scripts (the family model's and the network's) share these checks."""
    import importlib

    main = importlib.import_module(f"scripts.{script}").main
    assert main(["--data", str(tmp_path / "absent")]) == 0
    assert "nothing to do" in capsys.readouterr().out
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "validation").mkdir()
    labels = tmp_path / "labels.csv"
    labels.write_text("key,family\ntrain/a/b.jpg,mauve\n")
    assert main(["--data", str(tmp_path / "d"), "--labels", str(labels), "--out", str(tmp_path / "m.json")]) == 2
    assert "mauve" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(bad_option)
