"""The built-in sample generator: layout, determinism, exact bboxes, splits, colour truth, regeneration."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion.data import sample
import fashion.data.sample.write  # noqa: F401 - monkeypatched below
from fashion.config import SampleConfig
from fashion.data.sample import (
    ATTRIBUTE_NAMES, DEEPFASHION_CATEGORIES, GARMENT_COLOURS, SAMPLE_ATTRIBUTES, SAMPLE_CATEGORIES, SampleError,
    ensure_sample, generate_sample, plan_sample, render_view,
)

from conftest import SHARED, run_cli

TINY = {"items": 12, "views": 2, "image_size": 64, "seed": 0}
LIST_FILES = {
    "Anno/list_category_img.txt": "image_name  category_label",
    "Anno/list_attr_img.txt": "image_name  attribute_labels",
    "Anno/list_bbox.txt": "image_name  x_1  y_1  x_2  y_2",
    "Eval/list_eval_partition.txt": "image_name  evaluation_status",
    "Anno/list_colour_truth.txt": "image_name  r  g  b  colour_name",
}
ALL_FILES = [*LIST_FILES, "Anno/list_category_cloth.txt", "Anno/list_attr_cloth.txt"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny sample: 12 items x 2 views at 64 px (one item per category)."""
    return generate_sample(tmp_path_factory.mktemp("a") / "sample", workers=1, **TINY)


def rows(root: Path, rel: str) -> list[list[str]]:
    """Data rows of a DeepFashion list file, split on whitespace (count and header checked)."""
    lines = (root / rel).read_text(encoding="utf-8").splitlines()
    assert int(lines[0]) == len(lines) - 2, rel
    return [line.split() for line in lines[2:]]


def table(root: Path, rel: str) -> dict[str, list[str]]:
    return {r[0]: r[1:] for r in rows(root, rel)}


# ------------------------------------------------------------------------------------- layout
def test_every_file_has_a_count_and_the_deepfashion_header(tiny: Path) -> None:
    for rel, header in LIST_FILES.items():
        lines = (tiny / rel).read_text(encoding="utf-8").splitlines()
        assert lines[1] == header
        assert int(lines[0]) == len(lines) - 2 == TINY["items"] * TINY["views"]
    assert (tiny / "Anno/list_category_cloth.txt").read_text().splitlines()[1] == "category_name  category_type"
    assert (tiny / "Anno/list_attr_cloth.txt").read_text().splitlines()[1] == "attribute_name  attribute_type"


def test_category_list_is_the_real_deepfashion_list(tiny: Path) -> None:
    listed = [(r[0], int(r[1])) for r in rows(tiny, "Anno/list_category_cloth.txt")]
    assert listed == list(DEEPFASHION_CATEGORIES)
    assert [sum(1 for _, t in listed if t == k) for k in (1, 2, 3)] == [20, 16, 14]
    reference = SHARED / "reference" / "list_category_cloth.txt"
    if reference.is_file():  # byte-identical to the real file
        assert (tiny / "Anno/list_category_cloth.txt").read_text() == reference.read_text()


def test_attribute_list_names_types_and_labels(tiny: Path) -> None:
    listed = [(" ".join(r[:-1]), int(r[-1])) for r in rows(tiny, "Anno/list_attr_cloth.txt")]
    assert listed == list(SAMPLE_ATTRIBUTES)
    assert listed == sorted(listed)  # DeepFashion's file is alphabetical
    assert {t for _, t in listed} == {1, 2, 3, 4, 5}
    for values in table(tiny, "Anno/list_attr_img.txt").values():
        assert len(values) == len(ATTRIBUTE_NAMES)
        assert set(values) <= {"1", "-1"}
        assert 2 <= values.count("1") <= 4  # a few visible positives per image


def test_all_files_list_the_same_images_in_the_same_order(tiny: Path) -> None:
    names = [r[0] for r in rows(tiny, "Anno/list_category_img.txt")]
    assert len(names) == len(set(names)) == TINY["items"] * TINY["views"]
    for rel in LIST_FILES:
        assert [r[0] for r in rows(tiny, rel)] == names
    on_disk = sorted(str(p.relative_to(tiny)) for p in (tiny / "img").rglob("*.jpg"))
    assert on_disk == sorted(names)
    for name in names:
        assert re.fullmatch(r"img/[A-Z][A-Za-z-]*_[A-Z][A-Za-z-]*_\d{4}/img_\d{8}\.jpg", name), name


def test_categories_are_the_drawn_ones_with_real_indices(tiny: Path) -> None:
    labels = {int(v[0]) for v in table(tiny, "Anno/list_category_img.txt").values()}
    names = [name for name, _ in DEEPFASHION_CATEGORIES]
    assert {names[i - 1] for i in labels} == set(SAMPLE_CATEGORIES)  # 12 items: one per category
    for name, values in table(tiny, "Anno/list_category_img.txt").items():
        assert f"_{names[int(values[0]) - 1]}_" in name  # the folder names the category


def test_manifest_records_settings_and_counts(tiny: Path) -> None:
    manifest = json.loads((tiny / "sample.json").read_text())
    assert manifest["settings"] == {**TINY, "generator_version": sample.GENERATOR_VERSION}
    counts = manifest["counts"]
    assert counts["images"] == 24 and counts["items"] == 12 and counts["attributes"] == len(ATTRIBUTE_NAMES)
    splits = [v[0] for v in table(tiny, "Eval/list_eval_partition.txt").values()]
    assert counts["splits"] == {s: splits.count(s) for s in ("train", "val", "test")}
    attrs = table(tiny, "Anno/list_attr_img.txt").values()
    positives = {a: sum(v[i] == "1" for v in attrs) for i, a in enumerate(ATTRIBUTE_NAMES)}
    assert counts["images_per_attribute"] == positives


def test_images_are_jpegs_with_the_longest_side_image_size(tiny: Path) -> None:
    for name in table(tiny, "Anno/list_bbox.txt"):
        with Image.open(tiny / name) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert max(image.size) == TINY["image_size"]


# -------------------------------------------------------------------------------- determinism
def test_same_seed_is_byte_identical_and_another_seed_differs(tiny: Path, tmp_path: Path) -> None:
    again = generate_sample(tmp_path / "again", workers=1, **TINY)
    other = generate_sample(tmp_path / "other", workers=1, **{**TINY, "seed": 1})
    for rel in [*ALL_FILES, "sample.json"]:
        assert (again / rel).read_bytes() == (tiny / rel).read_bytes(), rel
    first = sorted((tiny / "img").rglob("*.jpg"))[0]
    assert (again / first.relative_to(tiny)).read_bytes() == first.read_bytes()
    for rel in LIST_FILES:
        assert (other / rel).read_bytes() != (tiny / rel).read_bytes(), rel


def test_worker_count_does_not_change_the_output(tmp_path: Path) -> None:
    settings = {"items": 32, "views": 2, "image_size": 48, "seed": 3}  # 64 images: the pool is used
    serial = generate_sample(tmp_path / "serial", workers=1, **settings)
    pooled = generate_sample(tmp_path / "pooled", workers=2, **settings)
    for path in sorted(serial.rglob("*")):
        if path.is_file():
            assert (pooled / path.relative_to(serial)).read_bytes() == path.read_bytes(), path


def test_plan_is_balanced_and_deterministic() -> None:
    plan = plan_sample(400, seed=0)
    assert plan == plan_sample(400, seed=0) and plan != plan_sample(400, seed=1)
    per_category = [sum(item.category == c for item in plan) for c in SAMPLE_CATEGORIES]
    assert max(per_category) - min(per_category) <= 1
    assert all(2 <= len(item.attributes) <= 4 for item in plan)
    for attribute in ATTRIBUTE_NAMES:  # every attribute is used
        assert any(attribute in item.attributes for item in plan), attribute


# ----------------------------------------------------------------------------------- bboxes
def test_bboxes_are_exact_for_the_drawn_mask() -> None:
    """Before JPEG: nothing outside the bbox but background; garment pixels on all four bbox edges."""
    for item in plan_sample(24, seed=2):
        for view in range(2):
            shot = render_view(item, view, image_size=64, seed=2)
            coverage = np.asarray(shot.coverage)
            x1, y1, x2, y2 = shot.bbox
            inside = np.zeros_like(coverage, dtype=bool)
            inside[y1:y2, x1:x2] = True
            assert not coverage[~inside].any()
            assert np.array_equal(np.asarray(shot.image)[~inside], shot.background[~inside])
            box = coverage[y1:y2, x1:x2]
            assert box[0].any() and box[-1].any() and box[:, 0].any() and box[:, -1].any()


def _row_background(image: np.ndarray, bbox: list[int]) -> np.ndarray:
    """Per-row background estimate from the pixels left and right of the bbox (backgrounds vary by row only)."""
    x1, _, x2, _ = bbox
    outside = np.concatenate([image[:, :x1], image[:, x2:]], axis=1)
    return np.median(outside, axis=1)  # (H, 3)


def test_saved_bboxes_are_inside_and_tight(tiny: Path) -> None:
    """On the saved JPEGs: outside the bbox is background; each bbox edge line holds garment pixels."""
    for name, values in table(tiny, "Anno/list_bbox.txt").items():
        image = np.asarray(Image.open(tiny / name).convert("RGB")).astype(np.int16)
        height, width = image.shape[:2]
        x1, y1, x2, y2 = bbox = [int(v) for v in values]
        assert 0 < x1 < x2 < width and 0 < y1 < y2 < height  # inside, with background all round
        diff = np.abs(image - _row_background(image, bbox)[:, None, :]).max(axis=2)
        outside = np.ones_like(diff, dtype=bool)
        outside[y1:y2, x1:x2] = False
        assert np.mean(diff[outside] <= 32) >= 0.99, name  # JPEG ringing near edges, noisy backgrounds
        assert diff[outside].mean() < 6, name
        edges = [diff[y1:y1 + 2, x1:x2], diff[y2 - 2:y2, x1:x2], diff[y1:y2, x1:x1 + 2], diff[y1:y2, x2 - 2:x2]]
        assert all(edge.max() > 12 for edge in edges), name


# ----------------------------------------------------------------------------------- splits
def test_splits_are_by_item(tiny: Path) -> None:
    by_item: dict[str, set[str]] = defaultdict(set)
    for name, values in table(tiny, "Eval/list_eval_partition.txt").items():
        by_item[name.split("/")[1]].add(values[0])
    assert all(len(splits) == 1 for splits in by_item.values())
    assert set().union(*by_item.values()) == {"train", "val", "test"}


def test_default_split_is_80_10_10_and_every_category_is_in_every_split() -> None:
    plan = plan_sample(SampleConfig().items, seed=0)
    counts = {s: sum(item.split == s for item in plan) for s in ("train", "val", "test")}
    assert SampleConfig().items == 1000 and counts == {"train": 800, "val": 100, "test": 100}
    for category in SAMPLE_CATEGORIES:
        assert {item.split for item in plan if item.category == category} == {"train", "val", "test"}


# ------------------------------------------------------------------------------- colour truth
def test_truth_colours_are_the_named_fill_colours(tiny: Path) -> None:
    per_item: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for name, (r, g, b, colour) in table(tiny, "Anno/list_colour_truth.txt").items():
        assert GARMENT_COLOURS[colour] == (int(r), int(g), int(b))
        per_item[name.split("/")[1]].add((r, g, b, colour))
    assert all(len(colours) == 1 for colours in per_item.values())  # fixed per item


@pytest.mark.parametrize("image_size", [64, 256])
def test_fill_colour_covers_most_of_the_garment(image_size: int) -> None:
    """The truth colour is the dominant garment colour: exactly in the drawing, closely in the image."""
    for item in plan_sample(36, seed=4):
        shot = render_view(item, 0, image_size=image_size, seed=4)
        assert shot.base_share >= sample.MIN_FILL_SHARE, item.folder
        full = np.asarray(shot.coverage) == 255
        pixels = np.asarray(shot.image).astype(np.int16)[full]
        near = np.abs(pixels - np.array(item.rgb)).max(axis=1) <= 12
        assert near.mean() > 0.5, (item.folder, near.mean())


def test_palette_has_white_and_black_garments_and_varied_backgrounds(tmp_path: Path) -> None:
    plan = plan_sample(120, seed=0)
    assert {"white", "black"} <= {item.colour_name for item in plan}
    corners = set()
    for item in plan[:40]:
        background = render_view(item, 0, image_size=48, seed=0).background
        corners.add(tuple(background[0, 0] // 8))
    assert len(corners) >= 8


# ---------------------------------------------------------------------------- ensure_sample
def test_ensure_sample_regenerates_only_when_settings_differ(tmp_path: Path) -> None:
    root = tmp_path / "sample"
    cfg = SampleConfig(items=4, views=1, image_size=48, seed=0)
    messages: list[str] = []
    ensure_sample(root, cfg, announce=messages.append)
    assert messages[0].startswith("generating the built-in sample (4 items x 1 views)")
    assert messages[1].startswith("sample ready in")
    (root / "marker").write_text("kept")  # survives only if the folder is left alone
    ensure_sample(root, cfg, announce=messages.append)
    assert (root / "marker").exists() and len(messages) == 2  # nothing generated, nothing said
    ensure_sample(root, SampleConfig(items=4, views=1, image_size=48, seed=1))
    assert not (root / "marker").exists()
    assert json.loads((root / "sample.json").read_text())["settings"]["seed"] == 1


def test_ensure_sample_fills_an_empty_folder_but_never_replaces_other_data(tmp_path: Path) -> None:
    cfg = SampleConfig(items=2, views=1, image_size=48, seed=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (ensure_sample(empty, cfg) / "sample.json").is_file()
    (empty / "sample.json").unlink()  # now it looks like someone's DeepFashion copy: hands off
    with pytest.raises(SampleError, match="not a generated sample"):
        ensure_sample(empty, cfg)
    assert (empty / "Anno/list_bbox.txt").is_file()


def test_interrupted_generation_leaves_no_half_sample(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "sample"
    generate_sample(root, items=3, views=1, image_size=48)
    before = (root / "Anno/list_bbox.txt").read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sample.write, "_annotation_files", crash)
    with pytest.raises(KeyboardInterrupt):
        generate_sample(root, items=5, views=1, image_size=48, seed=9)
    assert (root / "Anno/list_bbox.txt").read_bytes() == before  # the old sample is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample"]  # no temporary folder left


def test_refuses_to_replace_a_folder_that_is_not_a_sample(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "photo.jpg").write_bytes(b"user data")
    with pytest.raises(SampleError, match="not a generated sample"):
        generate_sample(root, items=2, views=1, image_size=48)
    assert (root / "photo.jpg").read_bytes() == b"user data"


@pytest.mark.parametrize("settings", [{"items": 0}, {"views": 0}, {"image_size": 16}])
def test_bad_settings_fail_clearly(tmp_path: Path, settings: dict) -> None:
    with pytest.raises(SampleError):
        generate_sample(tmp_path / "s", **{"items": 2, "views": 1, "image_size": 48, **settings})


def test_cli_writes_the_sample_and_reports_time(tmp_path: Path) -> None:
    result = run_cli(["-m", "fashion.cli.sample", "--root", str(tmp_path / "s"), "--items", "3", "--views", "2",
                      "--image-size", "48", "--seed", "5"])
    assert result.returncode == 0, result.stderr
    assert re.search(r"wrote 6 images .* to .*s in \d+\.\d s", result.stdout)
    assert json.loads((tmp_path / "s/sample.json").read_text())["settings"]["seed"] == 5


def test_bbox_crops_hold_the_whole_garment(tiny: Path) -> None:
    """PIL crop with the written bbox keeps every garment pixel (x_2/y_2 exclusive)."""
    plan = {item.folder: item for item in plan_sample(TINY["items"], TINY["seed"])}
    for name, values in list(table(tiny, "Anno/list_bbox.txt").items())[:6]:
        folder, view = name.split("/")[1], int(name[-12:-4]) - 1
        shot = render_view(plan[folder], view, TINY["image_size"], TINY["seed"])
        assert list(shot.bbox) == [int(v) for v in values]
        crop = shot.coverage.crop(tuple(int(v) for v in values))
        assert int(np.asarray(crop).astype(np.int64).sum()) == int(np.asarray(shot.coverage).astype(np.int64).sum())
        assert math.isclose(max(shot.image.size), TINY["image_size"])


def test_the_dataset_reader_reads_back_what_the_generator_wrote(tiny: Path) -> None:
    datasets = pytest.importorskip("fashion.data.datasets")
    data = datasets.load_dataset(tiny)
    assert data.layout == "deepfashion"
    assert data.category_names == [name for name, _ in DEEPFASHION_CATEGORIES]
    assert data.category_types == [kind for _, kind in DEEPFASHION_CATEGORIES]
    assert data.attribute_names == list(ATTRIBUTE_NAMES)
    assert data.attribute_types == [kind for _, kind in SAMPLE_ATTRIBUTES]
    frame = data.frame
    assert len(frame) == TINY["items"] * TINY["views"] and frame["item_id"].nunique() == TINY["items"]
    categories = table(tiny, "Anno/list_category_img.txt")
    attributes = table(tiny, "Anno/list_attr_img.txt")
    bboxes = table(tiny, "Anno/list_bbox.txt")
    splits = table(tiny, "Eval/list_eval_partition.txt")
    for row, labels in zip(frame.itertuples(), data.attributes):
        name = Path(row.path).relative_to(tiny.resolve()).as_posix()
        assert row.category == int(categories[name][0]) - 1
        assert row.split == splits[name][0] and row.item_id == name.split("/")[1]
        assert [row.x1, row.y1, row.x2, row.y2] == [int(v) for v in bboxes[name]]
        assert labels.tolist() == [int(v) for v in attributes[name]]
