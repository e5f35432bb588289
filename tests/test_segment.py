"""Garment segmentation (fashion.segment) and colour from garment pixels (fashion.colour.garment).

Generated images everywhere; CCP photos where ``../shared/data/clothing-co-parsing`` exists.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from fashion.colour.garment import QUANTISERS, garment_palette, masked_pixels, quantise
from fashion.colour.palette import Palette
from fashion.colour.spaces import ciede2000, rgb_to_lab
from fashion.segment import (
    CLASSES,
    FALLBACK_PART,
    PARTS,
    Segmenter,
    SegmenterWeightsError,
    segmentation_palette,
)
from fashion.segment.ccp import (
    ccp_available,
    ccp_items,
    label_names,
    read_groundtruth,
    split_of,
)
from fashion.segment.labels import CCP_GROUPS, GARMENT_CLASSES, ccp_lookup
from fashion.segment.weights import DEFAULT_WEIGHTS

from conftest import SHARED

RED = (200, 30, 40)
NAVY = (30, 40, 110)
SKIN = (224, 172, 140)
HAIR = (60, 40, 30)


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    """The shipped segmenter without its person test: the drawn figure below is no photo of a
    person to that test (tests of the test itself use :func:`with_person_test`)."""
    return Segmenter.load(threads=1, person_test=False)


@pytest.fixture(scope="module")
def with_person_test() -> Segmenter:
    return Segmenter.load(threads=1)


def _de(lab, rgb) -> float:
    return float(ciede2000(lab, rgb_to_lab(np.array(rgb, np.uint8))))


def person_figure(size=(220, 330), seed=0) -> tuple[Image.Image, np.ndarray]:
    """A person-like figure on a textured background: skin head, hair, red top, navy trousers, skin
    arms; returns the image and the top's mask."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = np.array([120, 140, 110], np.int16) + rng.integers(-35, 36, size=(height // 6 + 1, width // 6 + 1, 3))
    background = np.kron(base, np.ones((6, 6, 1), np.int16))[:height, :width]
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    cx = width // 2
    draw.ellipse([cx - 24, 18, cx + 24, 80], fill=SKIN)
    draw.pieslice([cx - 27, 12, cx + 27, 70], 180, 360, fill=HAIR)
    draw.rectangle([cx - 62, 95, cx - 44, 200], fill=SKIN)  # arms
    draw.rectangle([cx + 44, 95, cx + 62, 200], fill=SKIN)
    draw.rectangle([cx - 10, 78, cx + 10, 92], fill=SKIN)  # neck
    top = [cx - 42, 90, cx + 42, 190]
    draw.rectangle(top, fill=RED)
    draw.rectangle([cx - 38, 190, cx - 3, 310], fill=NAVY)
    draw.rectangle([cx + 3, 190, cx + 38, 310], fill=NAVY)
    mask = np.zeros((height, width), bool)
    mask[top[1]:top[3] + 1, top[0]:top[2] + 1] = True
    return image, mask


def product_shot(size=(200, 240), colour=NAVY) -> Image.Image:
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.polygon([(w * .3, h * .15), (w * .7, h * .15), (w * .85, h * .35), (w * .72, h * .42), (w * .72, h * .88),
                  (w * .28, h * .88), (w * .28, h * .42), (w * .15, h * .35)], fill=colour)
    return image


# --- labels ----------------------------------------------------------------------------------


def test_ccp_groups_cover_each_label_once():
    names = [name for group in CCP_GROUPS.values() for name in group]
    assert len(names) == len(set(names)) == 59
    assert set(CCP_GROUPS) == set(CLASSES)
    table = ccp_lookup(names)
    assert [CLASSES[c] for c in table[:3]] == [next(g for g, n in CCP_GROUPS.items() if names[i] in n) for i in range(3)]
    assert PARTS == ("upper", "lower", "full", "other")
    with pytest.raises(ValueError, match="without a segment class"):
        ccp_lookup(["null", "cardigan", "spacesuit"])


@pytest.mark.parametrize("number, split", [(5, "test"), (900, "test"), (1, "val"), (11, "val"), (2, "train"), (904, "train")])
def test_split_is_fixed_by_photo_number(number, split):
    assert split_of(number) == split


# --- colour from garment pixels ------------------------------------------------------------------


@pytest.mark.parametrize("method", QUANTISERS)
def test_quantisers_find_the_main_colour_and_shares(method):
    pixels = np.array([RED] * 700 + [NAVY] * 300, np.uint8)
    palette = quantise(pixels, k=5, method=method)
    assert isinstance(palette, Palette)
    assert _de(palette.dominant_lab, RED) < 2.0
    assert palette.shares[0] == pytest.approx(0.7, abs=0.02)
    assert min(_de(lab, NAVY) for lab in palette.lab) < 2.0


def test_garment_palette_ignores_pixels_outside_the_mask():
    image, mask = person_figure()
    palette = garment_palette(image, mask)
    assert _de(palette.dominant_lab, RED) < 3.0
    assert palette.shares[0] > 0.9  # skin, hair and background never count


def test_garment_palette_thin_and_tiny_masks():
    image, _ = person_figure()
    mask = np.zeros((image.height, image.width), bool)
    mask[200:300, 100] = True  # one pixel wide: no interior block, its touched blocks are used
    assert len(garment_palette(image, mask)) >= 1
    mask[:] = False
    mask[5, 5] = True
    assert len(garment_palette(image, mask)) >= 1


def test_garment_palette_rejects_empty_or_misfit_masks():
    image, mask = person_figure()
    with pytest.raises(ValueError, match="no pixel"):
        garment_palette(image, np.zeros_like(mask))
    with pytest.raises(ValueError, match="does not match"):
        garment_palette(image, mask[:-1])
    with pytest.raises(ValueError, match="unknown quantiser"):
        quantise(masked_pixels(image, mask), method="kmeans")


# --- segmenter ---------------------------------------------------------------------------------


def test_shipped_weights_are_small_and_documented():
    assert DEFAULT_WEIGHTS.is_file()
    assert DEFAULT_WEIGHTS.stat().st_size <= 10_000_000
    provenance = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert provenance["sha256"] == hashlib.sha256(DEFAULT_WEIGHTS.read_bytes()).hexdigest()
    assert "Apache-2.0" in provenance["data"] and "train_segmenter.py" in provenance["command"]


def test_person_figure_garment_colour(segmenter):
    image, _ = person_figure()
    found = segmenter.segment(image)
    assert found.garments and all(g.mask.shape == (image.height, image.width) for g in found.garments)
    assert sum(g.share for g in found.garments) == pytest.approx(1.0)
    palette = segmentation_palette(image, found)
    assert min(_de(lab, RED) for lab in palette.lab) < 10.0
    assert _de(palette.dominant_lab, RED) < 10.0 or _de(palette.dominant_lab, NAVY) < 10.0


def test_product_shot_is_one_garment(segmenter):
    image = product_shot()
    found = segmenter.segment(image)
    assert not found.person and found.method == "plain-background"
    assert [g.part for g in found.garments] == [FALLBACK_PART]
    garment = found.garments[0]
    x0, y0, x1, y1 = garment.box
    assert abs(x0 - 30) <= 3 and abs(x1 - 170) <= 3 and abs(y0 - 36) <= 3 and abs(y1 - 212) <= 3
    assert _de(segmentation_palette(image, found).dominant_lab, NAVY) < 5.0


@pytest.mark.parametrize("image", [
    Image.new("RGB", (120, 90), (128, 128, 128)),
    Image.new("RGB", (1, 1), (10, 200, 10)),
    Image.new("RGB", (3, 2), (255, 255, 255)),
    Image.new("L", (64, 64), 30),
    Image.new("RGB", (300, 20), (255, 255, 255)),
], ids=["grey", "1x1", "3x2-white", "mode-L", "strip"])
def test_degenerate_images_give_one_garment(segmenter, image):
    found = segmenter.segment(image)
    assert len(found.garments) >= 1
    union = found.mask()
    assert union.shape == (image.height, image.width) and union.any()
    assert len(segmentation_palette(image, found)) >= 1


def test_segment_person_skips_the_fallback_but_agrees(segmenter):
    person, _ = person_figure()
    found, quick = segmenter.segment(person), segmenter.segment_person(person)
    assert found.person and quick is not None
    assert [g.part for g in quick.garments] == [g.part for g in found.garments]
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(quick.garments, found.garments))
    assert segmenter.segment_person(product_shot()) is None


def test_loaded_segmenter_is_folded_and_labels_like_the_plain_network(segmenter):
    from fashion.segment.network import SegNet

    payload = torch.load(DEFAULT_WEIGHTS, map_location="cpu", weights_only=True)
    plain = SegNet(classes=len(CLASSES), widths=tuple(payload["widths"]))
    plain.load_state_dict(payload["state_dict"])
    plain.eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in segmenter.model.modules())
    image, _ = person_figure()
    tensor = torch.from_numpy(np.asarray(image.resize((86, 128))).copy()).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        torch.testing.assert_close(segmenter.model(tensor), plain(tensor), rtol=1e-4, atol=1e-4)


def test_shipped_person_test_matches_the_weights_and_refuses_product_shots(with_person_test):
    from fashion.segment.weights import PERSON_TEST_FILE

    test = with_person_test.person_test
    assert test is not None and 0 < test.threshold < 1
    provenance = json.loads(DEFAULT_WEIGHTS.with_name(PERSON_TEST_FILE).read_text())["provenance"]
    assert "train_person_test.py" in provenance["command"] and "Apache-2.0" in provenance["data"]["people"]
    # A flat product shot and a grey frame are no person, whatever the skin-and-hair rule says.
    for image in (product_shot(), Image.new("RGB", (120, 160), (128, 128, 128))):
        found = with_person_test.segment(image)
        assert not found.person and found.label_map.person_probability < test.threshold
        assert with_person_test.segment_person(image) is None


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(format="other"), "not a person test"),
    (lambda d: d.update(segmenter_sha256="0" * 64), "other segmenter weights"),
    (lambda d: d.update(coef=d["coef"][:-1]), "damaged person test"),
    (lambda d: d.update(threshold=float("nan")), "damaged person test"),
    (lambda d: d.update(scale=[0.0] * len(d["scale"])), "damaged person test"),
    (lambda d: d.pop("intercept"), "damaged person test"),
])
def test_damaged_or_foreign_person_test_is_a_clear_error(tmp_path, edit, message):
    from fashion.segment.weights import PERSON_TEST_FILE

    weights = tmp_path / "segmenter.pt"
    weights.write_bytes(DEFAULT_WEIGHTS.read_bytes())
    data = json.loads(DEFAULT_WEIGHTS.with_name(PERSON_TEST_FILE).read_text())
    edit(data)
    (tmp_path / PERSON_TEST_FILE).write_text(json.dumps(data))
    with pytest.raises(SegmenterWeightsError, match=message):
        Segmenter.load(weights)
    (tmp_path / PERSON_TEST_FILE).write_text("{not json")
    with pytest.raises(SegmenterWeightsError, match="not a readable person test"):
        Segmenter.load(weights)
    assert Segmenter.load(weights, person_test=False).person_test is None


def test_weights_without_a_person_test_use_the_rule_alone(tmp_path):
    weights = tmp_path / "segmenter.pt"
    weights.write_bytes(DEFAULT_WEIGHTS.read_bytes())
    assert Segmenter.load(weights).person_test is None


def test_missing_part_is_a_clear_error(segmenter):
    found = segmenter.segment(product_shot())
    with pytest.raises(ValueError, match="no 'upper' garment"):
        found.mask("upper")


def test_missing_weights(tmp_path):
    with pytest.raises(SegmenterWeightsError, match="not found.*train_segmenter"):
        Segmenter.load(tmp_path / "absent.pt")


def test_damaged_weights(tmp_path):
    path = tmp_path / "damaged.pt"
    path.write_bytes(DEFAULT_WEIGHTS.read_bytes()[:5000])
    with pytest.raises(SegmenterWeightsError, match="not a readable weights file"):
        Segmenter.load(path)


def test_foreign_weights(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(SegmenterWeightsError, match="not segmenter weights"):
        Segmenter.load(path)
    payload = torch.load(DEFAULT_WEIGHTS, weights_only=True)
    del payload["state_dict"]["head.weight"]
    torch.save(payload, path)
    with pytest.raises(SegmenterWeightsError, match="damaged"):
        Segmenter.load(path)


# --- on CCP photos ---------------------------------------------------------------------------------

needs_ccp = pytest.mark.skipif(not ccp_available(), reason="Clothing Co-Parsing not present (../shared/data)")


@needs_ccp
def test_ccp_split_sizes():
    assert [len(ccp_items(split=s)) for s in ("train", "val", "test")] == [543, 181, 180]


@needs_ccp
def test_ccp_test_photos_segment_to_garments(with_person_test):
    from fashion.data.images import load_image

    lookup = ccp_lookup(label_names())
    ious = []
    for item in ccp_items(split="test")[:6]:
        image = load_image(item.photo)
        found = with_person_test.segment(image)
        assert found.person and {g.part for g in found.garments} <= set(PARTS)
        quick = with_person_test.segment_person(image)  # the encoder-first path agrees
        assert quick is not None and [g.part for g in quick.garments] == [g.part for g in found.garments]
        assert all(np.array_equal(a.mask, b.mask) for a, b in zip(quick.garments, found.garments))
        truth = np.isin(lookup[read_groundtruth(item.annotation)], GARMENT_CLASSES)
        union = found.mask()
        ious.append((union & truth).sum() / (union | truth).sum())
        assert len(segmentation_palette(image, found)) >= 1
    assert np.mean(ious) > 0.5


@pytest.mark.skipif(not (SHARED / "data" / "clothing-dataset-small" / "test").is_dir(), reason="clothing-dataset-small absent")
def test_real_product_shots_are_not_people(with_person_test):
    """clothing-dataset-small's test photos (flat-lays, hangers; never fitted or tuned on): the
    skin-and-hair rule alone takes about half of them for people, the person test very few."""
    from fashion.data.images import load_image

    photos = sorted((SHARED / "data" / "clothing-dataset-small" / "test").rglob("*.jpg"))[::12]
    taken = [with_person_test.segment(load_image(photo)).person for photo in photos]
    assert len(photos) >= 25 and sum(taken) <= 0.1 * len(photos)


def _label_map_with_hair_at(row: slice, size=(60, 100)):
    from fashion.segment.segmenter import LabelMap

    width, height = size
    labels = np.zeros((height, width), np.uint8)
    labels[30:70, 10:50] = CLASSES.index("upper")
    labels[70:75, 20:40] = CLASSES.index("skin")
    labels[row, 25:35] = CLASSES.index("hair")
    return LabelMap(labels, size)


@pytest.mark.parametrize("hair_rows, person", [(slice(2, 12), True), (slice(85, 95), False)])
def test_a_person_has_hair_near_the_top(segmenter, monkeypatch, hair_rows, person):
    """Skin and hair somewhere are not a person: a product shot's shading can look like both."""
    label_map = _label_map_with_hair_at(hair_rows)
    monkeypatch.setattr(segmenter, "label_map", lambda image: label_map)
    image = Image.new("RGB", label_map.size, (240, 240, 240))
    found = segmenter.segment(image)
    assert found.person is person
    assert [g.part for g in found.garments] == (["upper"] if person else [FALLBACK_PART])
