"""The colour family network (fashion/colour/family_net.py), its training script, its place in the
catalog (run on product shots at build, stored per row) and in the word search."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fashion.colour.family_model import MODEL_CLASSES
from fashion.colour.family_net import (
    ARCHITECTURE,
    BUILTIN_WEIGHTS,
    INPUT_SIZE,
    FamilyNet,
    FamilyNetError,
    build_network,
    configured_family_net,
    network_input,
    save_family_net,
)


def product_shot(garment: tuple[int, int, int], backdrop: tuple[int, int, int] = (245, 245, 242),
                 size: tuple[int, int] = (90, 120)) -> Image.Image:
    """A garment-coloured block in the middle of a plain backdrop."""
    pixels = np.full((size[1], size[0], 3), backdrop, np.uint8)
    pixels[size[1] // 6: -size[1] // 6, size[0] // 5: -size[0] // 5] = garment
    return Image.fromarray(pixels)


@pytest.fixture()
def saved(tmp_path):
    """An untrained network saved as the training script saves one."""
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    save_family_net(path, build_network(), 0.25, command="test")
    return path


def test_network_input_is_the_photo_squashed_by_a_box_filter():
    image = product_shot((200, 30, 40), size=(90, 200))
    pixels = network_input(image)
    assert pixels.shape == (3, INPUT_SIZE, INPUT_SIZE) and pixels.dtype == np.uint8
    assert tuple(pixels[:, INPUT_SIZE // 2, INPUT_SIZE // 2]) == (200, 30, 40)  # the garment, unblurred
    assert tuple(pixels[:, 0, 0]) == (245, 245, 242)
    grey = network_input(Image.new("L", (10, 10), 128))  # any mode becomes RGB
    assert (grey == 128).all()


def test_saved_weights_load_the_same_probabilities(saved):
    network = FamilyNet.load(saved)
    assert network.classes == MODEL_CLASSES and network.palette_weight == 0.25 and len(network.checksum) == 64
    inputs = np.stack([network_input(product_shot(c)) for c in ((200, 30, 40), (20, 30, 110))])
    probs = network.probabilities(inputs)
    assert probs.shape == (2, len(MODEL_CLASSES)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(FamilyNet.load(saved).probabilities(inputs), probs)  # no randomness at inference
    assert network.probabilities(np.zeros((0, 3, INPUT_SIZE, INPUT_SIZE), np.uint8)).shape == (0, len(MODEL_CLASSES))


def _write_payload(path, **changes):
    payload = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "architecture", "classes", "weight",
                                    "weight_nan", "widths", "huge_widths", "nan_weights", "missing_tensor"])
def test_damaged_weights_are_one_clear_error(saved, damage):
    data = saved.read_bytes()
    if damage == "missing":
        saved.unlink()
    elif damage == "garbage":
        saved.write_bytes(b"not a weights file")
    elif damage == "truncated":
        saved.write_bytes(data[: len(data) // 2])
    elif damage == "architecture":
        _write_payload(saved, architecture="fashion.segment.SegNet/v1")
    elif damage == "classes":
        _write_payload(saved, classes=["red", "blue"])
    elif damage == "weight":
        _write_payload(saved, palette_weight=1.5)
    elif damage == "weight_nan":
        _write_payload(saved, palette_weight=float("nan"))
    elif damage == "widths":
        _write_payload(saved, widths=[32, 64])
    elif damage == "huge_widths":
        _write_payload(saved, widths=[10**9, 64, 128, 128])
    else:
        payload = torch.load(io.BytesIO(data), weights_only=True)
        name = next(iter(payload["state_dict"]))
        if damage == "nan_weights":
            payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], float("nan"))
        else:
            del payload["state_dict"][name]
        torch.save(payload, saved)
    with pytest.raises(FamilyNetError, match="colour family network"):
        FamilyNet.load(saved)


def test_the_setting_names_a_network_or_none(saved):
    assert configured_family_net("none") is None
    assert configured_family_net(str(saved)).palette_weight == 0.25
    with pytest.raises(FamilyNetError, match="empty"):
        configured_family_net(" ")
    with pytest.raises(FamilyNetError, match="does not exist"):
        configured_family_net(str(saved.with_name("absent.pt")))


def test_the_builtin_network_ships_and_names_plain_product_shots():
    """The shipped weights (scripts/train_colour_net.py) load and name unambiguous product shots."""
    builtin = configured_family_net("builtin")
    payload = torch.load(io.BytesIO(BUILTIN_WEIGHTS.read_bytes()), weights_only=True)
    assert payload["architecture"] == ARCHITECTURE
    assert payload["provenance"]["command"] == "python scripts/train_colour_net.py"
    plain = {"red": (190, 25, 35), "blue": (30, 60, 170), "black": (15, 15, 17), "green": (40, 130, 60),
             "yellow": (235, 200, 40)}
    probs = builtin.probabilities(np.stack([network_input(product_shot(rgb)) for rgb in plain.values()]))
    named = [MODEL_CLASSES[i] for i in probs.argmax(axis=1)]
    assert named == list(plain)


def test_colour_words_blend_the_network_where_it_ran():
    from fashion.colour.family_model import configured_family_model
    from fashion.colour.spaces import rgb_to_lab
    from fashion.recommend.words import Term, colour_term_scores

    model = configured_family_model("builtin")
    lab = np.zeros((3, 5, 3))
    lab[:, 0] = rgb_to_lab(np.array([[20, 20, 30]] * 3, np.float64) / 255.0)  # nearly black: navy or black?
    shares = np.zeros((3, 5))
    shares[:, 0] = 1.0
    net = np.zeros((3, len(MODEL_CLASSES)))
    net[0, MODEL_CLASSES.index("blue")] = 1.0  # the network saw navy
    net[1, MODEL_CLASSES.index("black")] = 1.0  # ... black
    # row 2: all zeros, the network did not run (a photo of a person)
    term = Term("colour", "blue", "blue", family=True)
    palette_only = colour_term_scores(term, lab, shares, model)
    blended = colour_term_scores(term, lab, shares, model, net, 0.25)
    np.testing.assert_allclose(blended[0], 0.25 * palette_only[0] + 0.75)
    np.testing.assert_allclose(blended[1], 0.25 * palette_only[1])
    np.testing.assert_allclose(blended[2], palette_only[2])
    assert blended[0] > palette_only[0] > blended[1]
    np.testing.assert_allclose(colour_term_scores(term, lab, shares, model, net, None), palette_only)


def test_training_script_trains_and_chooses_the_palette_weight_on_validation(tmp_path, capsys):
    from scripts.train_colour_net import main

    data = tmp_path / "clothing-dataset-small"
    rows = ["key,family,note,earlier"]
    shades = {"red": (200, 30, 40), "blue": (30, 60, 200), "white": (250, 250, 250), "black": (10, 10, 12)}
    for split, count in (("train", 4), ("validation", 2)):
        folder = data / split / "shirt"
        folder.mkdir(parents=True, exist_ok=True)
        for family, rgb in shades.items():
            for i in range(count):
                name = f"{family}-{i}.png"
                product_shot(rgb, backdrop=(230, 228, 225) if family == "white" else (245, 245, 242)).save(folder / name)
                rows.append(f"{split}/shirt/{name},{family},,")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    out = tmp_path / "net.pt"
    assert main(["--data", str(data), "--labels", str(labels), "--out", str(out), "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "train: 16 judged photos, 0 of people" in printed
    assert "chosen palette weight" in printed and f"wrote {out}" in printed
    network = FamilyNet.load(out)
    assert network.palette_weight in (0.0, 0.25, 0.5, 0.75)
    provenance = torch.load(io.BytesIO(out.read_bytes()), weights_only=True)["provenance"]
    assert provenance["epochs"] == "2" and "validation" in json.dumps(provenance["figures"])


def test_the_network_runs_on_product_shots_only():
    """A photo of a person keeps the palette model alone: the network would see the whole outfit."""
    from fashion.colour.settings import ColourSettings
    from fashion.model.encoder import prepare_image
    from tests.test_segment import person_figure

    def family_input(image, **settings):
        colour = ColourSettings(5, 4096, 12.0, segment=True, person_test=False, **settings)
        return prepare_image(image, None, lambda cropped: torch.zeros(1), colour)["family_input"]

    person, _ = person_figure()  # a person to the skin-and-hair rule (person_test=False)
    shot = product_shot((200, 30, 40))
    assert family_input(person, family_net="builtin") is None
    np.testing.assert_array_equal(family_input(shot, family_net="builtin"), network_input(shot))
    assert family_input(shot) is None  # family_net="none"
