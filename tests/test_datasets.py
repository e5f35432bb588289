"""fashion.data.datasets: every layout on tiny generated trees, exact values, every bad-row case."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import fashion.data.datasets.lists as lists
from fashion.data.datasets import (
    DatasetError,
    DatasetWarning,
    LabelledData,
    detect_layout,
    load_dataset,
    read_deepfashion_list,
)
from fashion.data.datasets.common import item_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE_CATEGORIES = SHARED / "reference" / "list_category_cloth.txt"
CLOTHING_SMALL = SHARED / "data" / "clothing-dataset-small"

CATEGORIES = [("Blouse", 1), ("Jeans", 2), ("Dress", 3)]
ATTRIBUTES = [("abstract chevron print", 1), ("denim", 2), ("a-line", 3)]
# name, 1-based category, attributes, bbox, split
IMAGES = [
    ("img/Red_Blouse/img_00000001.jpg", 1, (1, -1, -1), (1, 2, 7, 8), "train"),
    ("img/Red_Blouse/img_00000002.jpg", 1, (1, -1, 0), (0, 0, 8, 8), "train"),
    ("img/Blue_Jeans/img_00000001.jpg", 2, (-1, 1, -1), (2, 1, 6, 7), "val"),
    ("img/Long_Dress/img_00000001.jpg", 3, (-1, -1, 1), (3, 3, 3, 5), "test"),  # empty box -> <NA>
]


def _image(path: Path, suffix_format: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, suffix_format)


def _list(count: int, header: str, rows: list[str], blank_first: bool = False) -> str:
    return ("\n" if blank_first else "") + f"{count}\n{header}\n" + "".join(row + "\n" for row in rows)


def write_coarse(root: Path, images=IMAGES, *, attributes: bool = True, bbox: bool = True, partition: bool = True,
                 blank_first: bool = False, anno: str = "Anno", make_images: bool = True) -> Path:
    """A tiny DeepFashion coarse tree; returns the root."""
    (root / anno).mkdir(parents=True, exist_ok=True)
    (root / "Eval").mkdir(exist_ok=True)

    def write(rel: str, header: str, rows: list[str]) -> None:
        (root / rel).write_text(_list(len(rows), header, rows, blank_first))

    write(f"{anno}/list_category_cloth.txt", "category_name  category_type",
          [f"{name:<15}{kind}" for name, kind in CATEGORIES])
    write(f"{anno}/list_category_img.txt", "image_name  category_label", [f"{n}  {c}" for n, c, *_ in images])
    if attributes:
        write(f"{anno}/list_attr_cloth.txt", "attribute_name  attribute_type",
              [f"{name:<29}{kind}" for name, kind in ATTRIBUTES])
        write(f"{anno}/list_attr_img.txt", "image_name  attribute_labels",
              [f"{n}  " + " ".join(f"{v:>2}" for v in a) for n, _, a, *_ in images])
    if bbox:
        write(f"{anno}/list_bbox.txt", "image_name  x_1  y_1  x_2  y_2",
              [f"{n}  " + " ".join(map(str, b)) for n, _, _, b, _ in images])
    if partition:
        write("Eval/list_eval_partition.txt", "image_name  evaluation_status", [f"{n}  {s}" for n, *_, s in images])
    if make_images:
        for name, *_ in images:
            _image(root / name)
    return root


def _replace_line(path: Path, line: int, text: str | None) -> None:
    """Replace (or, with None, delete) 1-based ``line`` of a file."""
    rows = path.read_text().split("\n")
    if text is None:
        del rows[line - 1]
    else:
        rows[line - 1] = text
    path.write_text("\n".join(rows))


def _edit(rel: str, line: int, text: str):
    """A damage function for the error table: replace one line of one file of the tree."""
    return lambda root: _replace_line(root / rel, line, text)


def _load_warn(root: Path, **kwargs) -> tuple[LabelledData, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_dataset(root, on_bad_rows="warn", **kwargs)
    return data, [w for w in caught if issubclass(w.category, DatasetWarning)]


# --------------------------------------------------------------------------- DeepFashion coarse


@pytest.mark.parametrize("blank_first, anno", [(False, "Anno"), (True, "Anno"), (False, "Anno_coarse")])
def test_coarse_exact_values(tmp_path, blank_first, anno):
    root = write_coarse(tmp_path / "df", blank_first=blank_first, anno=anno)
    assert detect_layout(root) == "deepfashion"
    data = load_dataset(root)
    frame = data.frame
    assert list(frame.columns) == ["path", "category", "category_name", "split", "item_id", "x1", "y1", "x2", "y2"]
    assert list(frame.index) == [0, 1, 2, 3]
    assert frame["path"].tolist() == [str(root.resolve() / n) for n, *_ in IMAGES]
    assert frame["category"].tolist() == [0, 0, 1, 2]
    assert frame["category_name"].tolist() == ["Blouse", "Blouse", "Jeans", "Dress"]
    assert frame["split"].tolist() == ["train", "train", "val", "test"]
    assert frame["item_id"].tolist() == ["Red_Blouse", "Red_Blouse", "Blue_Jeans", "Long_Dress"]
    for column in ("x1", "y1", "x2", "y2"):
        assert frame[column].dtype == "Int64"
    assert frame.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [1, 2, 7, 8]
    assert frame["x1"].isna().tolist() == [False, False, False, True]
    assert data.attributes.dtype == np.int8
    assert data.attributes.tolist() == [[1, -1, -1], [1, -1, 0], [-1, 1, -1], [-1, -1, 1]]
    assert data.category_names == ["Blouse", "Jeans", "Dress"] and data.category_types == [1, 2, 3]
    assert data.attribute_names == ["abstract chevron print", "denim", "a-line"]
    assert data.attribute_types == [1, 2, 3]
    assert data.layout == "deepfashion" and data.root == root.resolve()


def test_coarse_optional_files_and_item_split(tmp_path):
    images = [(f"img/Item_{i // 3:02d}/img_{i:08d}.jpg", 1 + i % 3, (1, 1, 1), (0, 0, 1, 1), "train")
              for i in range(60)]
    root = write_coarse(tmp_path / "df", images, attributes=False, bbox=False, partition=False)
    data = load_dataset(root, val_fraction=0.2, test_fraction=0.1, seed=3)
    frame = data.frame
    assert data.attributes is None and data.attribute_names == [] and data.attribute_types == []
    assert frame[["x1", "y1", "x2", "y2"]].isna().all().all()
    per_item = frame.groupby("item_id")["split"].nunique()
    assert (per_item == 1).all()  # views of one item never cross splits
    items_per_split = frame.groupby("split")["item_id"].nunique().to_dict()
    assert items_per_split == {"train": 14, "val": 4, "test": 2}
    again = load_dataset(root, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert again.frame["split"].tolist() == frame["split"].tolist()
    other = load_dataset(root, val_fraction=0.2, test_fraction=0.1, seed=4)
    assert other.frame["split"].tolist() != frame["split"].tolist()


def test_coarse_files_are_aligned_by_name_not_position(tmp_path):
    root = write_coarse(tmp_path / "df")
    anno = root / "Anno"
    for name in ("list_attr_img.txt", "list_bbox.txt"):
        lines = (anno / name).read_text().splitlines()
        (anno / name).write_text("\n".join(lines[:2] + lines[2:][::-1]) + "\n")
    lines = (root / "Eval/list_eval_partition.txt").read_text().splitlines()
    (root / "Eval/list_eval_partition.txt").write_text("\n".join(lines[:2] + [lines[3], lines[5], lines[2], lines[4]]))
    data = load_dataset(root)
    assert data.attributes.tolist() == [[1, -1, -1], [1, -1, 0], [-1, 1, -1], [-1, -1, 1]]
    assert data.frame["split"].tolist() == ["train", "train", "val", "test"]
    assert data.frame.loc[2, ["x1", "y1", "x2", "y2"]].tolist() == [2, 1, 6, 7]


def test_coarse_attribute_file_without_names_fails(tmp_path):
    root = write_coarse(tmp_path / "df")
    (root / "Anno/list_attr_cloth.txt").unlink()
    with pytest.raises(DatasetError, match=r"list_attr_cloth.txt: file not found"):
        load_dataset(root)


BLOUSE_1, BLOUSE_2, JEANS, DRESS = (name for name, *_ in IMAGES)


def _rewrite(rel: str, count: int, rows: list[str]):
    """A damage function for the error table: rewrite one list file with these rows."""
    return lambda root: (root / rel).write_text(_list(count, "header", rows))


# Each case: how to damage the tree, the error message (regex), the rows left in warn mode.
COARSE_ERRORS = {
    "count": (_edit("Anno/list_category_img.txt", 1, "5"),
              r"list_category_img.txt: line 1 says 5 rows but the file has 4", [0, 1, 2, 3]),
    "too-few-values": (_edit("Anno/list_attr_img.txt", 4, f"{BLOUSE_2} 1 -1"),
                       r"list_attr_img.txt: line 4: expected an image name and 3 values, found 2", [0, 2, 3]),
    "too-many-values": (_edit("Anno/list_bbox.txt", 5, f"{JEANS} 2 1 6 7 9"),
                        r"list_bbox.txt: line 5: expected an image name and 4 values, found 5", [0, 1, 3]),
    "not-a-number": (_edit("Anno/list_bbox.txt", 3, f"{BLOUSE_1} 1 2 x 8"),
                     r"list_bbox.txt: line 3: not an integer value: 'x'", [1, 2, 3]),
    "category-zero": (_edit("Anno/list_category_img.txt", 3, f"{BLOUSE_1} 0"),
                      r"list_category_img.txt: line 3: unknown category number 0 "
                      r"\(list_category_cloth.txt defines 1..3\)", [1, 2, 3]),
    "category-too-big": (_edit("Anno/list_category_img.txt", 6, f"{DRESS} 4"),
                         r"list_category_img.txt: line 6: unknown category number 4", [0, 1, 2]),
    "attribute-value": (_edit("Anno/list_attr_img.txt", 5, f"{JEANS} 2 1 1"),
                        r"list_attr_img.txt: line 5: attribute label 2 \(expected 1, -1 or 0\)", [0, 1, 3]),
    "split-value": (_edit("Eval/list_eval_partition.txt", 6, f"{DRESS} dev"),
                    r"list_eval_partition.txt: line 6: unexpected value 'dev'", [0, 1, 2]),
    "missing-image": (lambda root: (root / JEANS).unlink(),
                      r"list_category_img.txt: line 5: image file not found: .*Blue_Jeans/img_00000001.jpg", [0, 1, 3]),
    "duplicate": (_rewrite("Anno/list_category_img.txt", 5, [f"{n} {c}" for n, c, *_ in IMAGES] + [f"{BLOUSE_2} 3"]),
                  rf"list_category_img.txt: line 7: duplicated row for '{BLOUSE_2}'", [0, 1, 2, 3]),
    "bbox-lacks-image": (_rewrite("Anno/list_bbox.txt", 3,
                                  [f"{n} " + " ".join(map(str, b)) for n, _, _, b, _ in IMAGES[1:]]),
                         rf"list_category_img.txt: line 3: '{BLOUSE_1}' is not listed in "
                         r".*list_bbox.txt \(the files disagree\)", [1, 2, 3]),
    "partition-has-extra": (_rewrite("Eval/list_eval_partition.txt", 5,
                                     [f"{n} {s}" for n, *_, s in IMAGES] + ["img/Other/img_00000009.jpg train"]),
                            r"list_eval_partition.txt: line 7: 'img/Other/img_00000009.jpg' is not listed in "
                            r".*list_category_img.txt", [0, 1, 2, 3]),
}


@pytest.mark.parametrize("damage, message, kept", COARSE_ERRORS.values(), ids=COARSE_ERRORS.keys())
def test_coarse_bad_rows(tmp_path, damage, message, kept):
    root = write_coarse(tmp_path / "df")
    damage(root)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root)
    data, caught = _load_warn(root)
    assert len(caught) == 1, [str(w.message) for w in caught]
    text = str(caught[0].message)
    assert f"skipped {4 - len(kept)} bad rows" in text or (len(kept) == 4 and "skipped" in text), text
    assert data.frame["path"].tolist() == [str(root.resolve() / IMAGES[i][0]) for i in kept]
    if data.attributes is not None:  # attributes stay aligned with the rows that are left
        assert data.attributes.tolist() == [list(IMAGES[i][2]) for i in kept]
    assert data.frame["split"].tolist() == [IMAGES[i][4] for i in kept]


def test_coarse_check_files_off_skips_the_file_check(tmp_path):
    root = write_coarse(tmp_path / "df", make_images=False)
    assert len(load_dataset(root, check_files=False).frame) == 4
    with pytest.raises(DatasetError, match="image file not found"):
        load_dataset(root)


def test_no_usable_rows_is_an_error(tmp_path):
    root = write_coarse(tmp_path / "df", make_images=False)
    with pytest.raises(DatasetError, match="no usable images"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_dataset(root, on_bad_rows="warn")


# --------------------------------------------------------------------------- list files


def test_read_list_names_with_spaces_blank_lines_and_crlf(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"\r\n3\r\nname  type\r\nabstract chevron print  1\r\n\r\na-line 3\r\npolka   dot\t2")
    table = read_deepfashion_list(path, 1)
    assert table.names == ["abstract chevron print", "a-line", "polka   dot"]
    assert table.values[:, 0].tolist() == [1, 3, 2]
    assert table.lines.tolist() == [4, 6, 7] and table.total_rows == 3


def test_read_list_across_chunks_keeps_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(lists, "CHUNK_BYTES", 64)  # force many chunks and lines cut between reads
    rows = [f"img/Item_{i:03d}/img_{i:08d}.jpg " + " ".join(str(v) for v in (i % 3 - 1, 1, -1, 10 + i))
            for i in range(40)]
    rows[17] = "img/Item_017/img_00000017.jpg 1 1"
    path = tmp_path / "long.txt"
    path.write_text(_list(40, "h", rows))
    with pytest.raises(DatasetError, match=r"long.txt: line 20: expected an image name and 4 values, found 2"):
        read_deepfashion_list(path, 4, image_names=True)
    from fashion.data.datasets.common import BadRows

    bad = BadRows("warn")
    table = read_deepfashion_list(path, 4, image_names=True, bad=bad)
    assert len(table) == 39 and bad.skipped == 1
    assert table.values[:, 3].tolist() == [10 + i for i in range(40) if i != 17]
    assert table.lines.tolist() == [i + 3 for i in range(40) if i != 17]
    assert table.names[18] == "img/Item_019/img_00000019.jpg"


@pytest.mark.parametrize("content, message", [
    ("", r"empty file"),
    ("images\nheader\n", r"line 1: expected the number of rows"),
    ("3\n", r"no header line"),
])
def test_read_list_bad_headers(tmp_path, content, message):
    path = tmp_path / "x.txt"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        read_deepfashion_list(path, 1)


def test_read_list_extra_values_only_for_image_lists(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text(_list(2, "h", ["size 2  1", "img/a.jpg 1 2"]))
    assert read_deepfashion_list(path, 1).names == ["size 2", "img/a.jpg 1"]
    with pytest.raises(DatasetError, match=r"line 3: expected an image name and 1 value, found 2"):
        read_deepfashion_list(path, 1, image_names=True)


def test_read_list_parses_multi_digit_and_signed_values(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text(_list(2, "h", ["a 123456 -42 +7 0", "b 0 0 0 99"]))
    assert read_deepfashion_list(path, 4).values.tolist() == [[123456, -42, 7, 0], [0, 0, 0, 99]]


def test_reference_category_list():
    if not REFERENCE_CATEGORIES.is_file():
        pytest.skip(f"{REFERENCE_CATEGORIES} not present")
    table = read_deepfashion_list(REFERENCE_CATEGORIES, 1)
    assert len(table.names) == 50 and len(set(table.names)) == 50
    assert set(table.values[:, 0].tolist()) == {1, 2, 3}
    assert table.names[0] == "Anorak" and table.names[-1] == "Sundress"


# --------------------------------------------------------------------------- DeepFashion fine

FINE_SPLITS = {
    "train": [("img/Sheer_Blouse/img_00000001.jpg", 1, (1, 0, 0), (1, 1, 5, 5)),
              ("img/Sheer_Blouse/img_00000002.jpg", 1, (0, 1, 0), (0, 0, 8, 8))],
    "val": [("img/Skinny_Jeans/img_00000001.jpg", 2, (0, 0, 1), (2, 2, 6, 6))],
    "test": [("img/Maxi_Dress/img_00000001.jpg", 3, (1, 1, 0), (0, 1, 2, 3))],
}


def write_fine(root: Path, *, with_images: bool = True) -> Path:
    anno = root / "Anno_fine"
    anno.mkdir(parents=True)
    (anno / "list_category_cloth.txt").write_text(_list(3, "category_name  category_type",
                                                        [f"{n} {t}" for n, t in CATEGORIES]))
    (anno / "list_attr_cloth.txt").write_text(_list(3, "attribute_name  attribute_type",
                                                    ["floral  1", "cotton  2", "long sleeve  6"]))
    for split, rows in FINE_SPLITS.items():
        (anno / f"{split}.txt").write_text("".join(f"{n}\n" for n, *_ in rows))
        (anno / f"{split}_cate.txt").write_text("".join(f"{c}\n" for _, c, *_ in rows))
        (anno / f"{split}_attr.txt").write_text("".join(" ".join(map(str, a)) + "\n" for _, _, a, _ in rows))
        (anno / f"{split}_bbox.txt").write_text("".join(" ".join(map(str, b)) + "\n" for *_, b in rows))
        if with_images:
            for name, *_ in rows:
                _image(root / name)
    return root


def test_fine_exact_values(tmp_path):
    root = write_fine(tmp_path / "fine")
    assert detect_layout(root) == "deepfashion_fine"
    data = load_dataset(root)
    frame = data.frame
    assert frame["path"].tolist() == [str(root.resolve() / r[0]) for rows in FINE_SPLITS.values() for r in rows]
    assert frame["split"].tolist() == ["train", "train", "val", "test"]
    assert frame["category"].tolist() == [0, 0, 1, 2]
    assert frame["category_name"].tolist() == ["Blouse", "Blouse", "Jeans", "Dress"]
    assert frame["item_id"].tolist() == ["Sheer_Blouse", "Sheer_Blouse", "Skinny_Jeans", "Maxi_Dress"]
    assert frame.loc[3, ["x1", "y1", "x2", "y2"]].tolist() == [0, 1, 2, 3]
    assert data.attributes.dtype == np.int8
    assert data.attributes.tolist() == [[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]]
    assert data.attribute_names == ["floral", "cotton", "long sleeve"] and data.attribute_types == [1, 2, 6]
    assert data.layout == "deepfashion_fine"


def test_fine_without_optional_files(tmp_path):
    root = write_fine(tmp_path / "fine")
    for split in FINE_SPLITS:
        (root / f"Anno_fine/{split}_attr.txt").unlink()
        (root / f"Anno_fine/{split}_bbox.txt").unlink()
    data = load_dataset(root)
    assert data.attributes is None and data.attribute_names == []
    assert data.frame["x1"].isna().all()


def test_fine_row_count_mismatch_is_always_fatal(tmp_path):
    root = write_fine(tmp_path / "fine")
    (root / "Anno_fine/train_cate.txt").write_text("1\n")
    for mode in ("error", "warn"):
        with pytest.raises(DatasetError, match=r"train_cate.txt: has 1 rows but .*train.txt has 2"):
            load_dataset(root, on_bad_rows=mode)


@pytest.mark.parametrize("file, line, text, message", [
    ("train_attr.txt", 2, "0 1", r"train_attr.txt: line 2: expected 3 values, found 2"),
    ("train_cate.txt", 1, "0", r"train_cate.txt: line 1: unknown category number 0"),
    ("train_bbox.txt", 2, "0 0 8 y", r"train_bbox.txt: line 2: not an integer value: 'y'"),
])
def test_fine_bad_row_drops_that_line_in_every_file(tmp_path, file, line, text, message):
    root = write_fine(tmp_path / "fine")
    _replace_line(root / "Anno_fine" / file, line, text)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root)
    data, caught = _load_warn(root)
    assert len(caught) == 1 and "skipped 1 bad rows" in str(caught[0].message)
    remaining = FINE_SPLITS["train"][2 - line]  # the other train row
    assert data.frame["path"].tolist()[0] == str(root.resolve() / remaining[0])
    assert data.attributes[0].tolist() == [1 if v else -1 for v in remaining[2]]
    assert len(data.frame) == 3


def test_fine_image_in_two_splits(tmp_path):
    root = write_fine(tmp_path / "fine")
    anno = root / "Anno_fine"
    (anno / "test.txt").write_text("img/Sheer_Blouse/img_00000001.jpg\n")
    with pytest.raises(DatasetError, match=r"test.txt: line 1: .*already listed in .*train.txt line 1"):
        load_dataset(root)
    data, caught = _load_warn(root)
    assert len(caught) == 1 and data.frame["split"].tolist() == ["train", "train", "val"]


def test_fine_missing_image(tmp_path):
    root = write_fine(tmp_path / "fine")
    (root / "img/Skinny_Jeans/img_00000001.jpg").unlink()
    with pytest.raises(DatasetError, match=r"val.txt: line 1: image file not found"):
        load_dataset(root)
    data, caught = _load_warn(root)
    assert data.frame["split"].tolist() == ["train", "train", "test"] and len(caught) == 1
    assert data.attributes.tolist() == [[1, -1, -1], [-1, 1, -1], [1, 1, -1]]


# --------------------------------------------------------------------------- folders


def test_folders_flat(tmp_path):
    root = tmp_path / "flat"
    for cls, count in (("shirt", 6), ("pants", 4)):
        for i in range(count):
            _image(root / cls / f"{i}.{'JPG' if i % 2 else 'png'}", "PNG")
    (root / "shirt" / "notes.txt").write_text("not an image")
    (root / "shirt" / ".hidden.jpg").write_bytes(b"")
    assert detect_layout(root) == "folders"
    data = load_dataset(root, val_fraction=0.2, test_fraction=0.2)
    frame = data.frame
    assert data.category_names == ["pants", "shirt"] and data.category_types == [0, 0]
    assert len(frame) == 10 and frame["category"].tolist() == [0] * 4 + [1] * 6
    assert frame["category_name"].tolist() == ["pants"] * 4 + ["shirt"] * 6
    assert frame["path"].iloc[0] == str(root.resolve() / "pants" / "0.png")
    assert frame["split"].value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
    assert frame["item_id"].isna().all() and frame["x1"].isna().all()
    assert data.attributes is None and data.attribute_names == [] and data.layout == "folders"


def test_folders_with_split_folders_and_no_val(tmp_path):
    root = tmp_path / "split"
    for split, n in (("train", 10), ("test", 2)):
        for cls in ("hat", "dress"):
            for i in range(n):
                _image(root / split / cls / f"{i}.jpeg", "JPEG")
    data = load_dataset(root, val_fraction=0.2, test_fraction=0.3)
    counts = data.frame["split"].value_counts().to_dict()
    assert counts == {"train": 16, "val": 4, "test": 4}  # val from train; test folder kept as is
    assert data.category_names == ["dress", "hat"]
    test_paths = data.frame.loc[data.frame["split"] == "test", "path"]
    assert test_paths.str.contains("/test/").all()


def test_folders_under_a_lone_train_folder(tmp_path):
    """The README's layout with train/ alone: it was 'cannot tell the dataset layout' (bad-input probe).
    A lone folder that holds images itself stays a class, even when called train."""
    root = tmp_path / "only-train"
    for cls in ("hat", "dress"):
        for i in range(5):
            _image(root / "train" / cls / f"{i}.png", "PNG")
    assert detect_layout(root) == "folders"
    data = load_dataset(root, val_fraction=0.2, test_fraction=0.2)
    assert data.category_names == ["dress", "hat"]
    assert data.frame["split"].value_counts().to_dict() == {"train": 6, "val": 2, "test": 2}
    lone_class = tmp_path / "one-class"
    for i in range(3):
        _image(lone_class / "train" / f"{i}.png", "PNG")
    with pytest.warns(DatasetWarning, match="one category"):
        assert load_dataset(lone_class, val_fraction=0.0, test_fraction=0.0).category_names == ["train"]

def test_real_clothing_dataset_small():
    if not CLOTHING_SMALL.is_dir():
        pytest.skip(f"{CLOTHING_SMALL} not present")
    data = load_dataset(CLOTHING_SMALL)
    assert data.layout == "folders" and len(data.category_names) == 10
    assert set(data.frame["split"]) == {"train", "val", "test"}
    assert data.frame["path"].map(lambda p: Path(p).is_file()).all()


# --------------------------------------------------------------------------- CSV


def write_csv(folder: Path, text: str, images=("a/1.jpg", "a/2.jpg", "b/3.png")) -> Path:
    for name in images:
        _image(folder / name)
    path = folder / "labels.csv"
    path.write_text(text)
    return path


CSV_TEXT = """path,category,item_id,split,x1,y1,x2,y2,attr:striped,attr:v neck
a/1.jpg,Tee,t1,train,1,2,5,6,1,-1
a/2.jpg,Tee,t1,train,,,,,0,1
b/3.png,Skirt,s1,validation,0,0,4,4,-1,
"""


def test_csv_exact_values(tmp_path):
    path = write_csv(tmp_path / "csv", CSV_TEXT)
    assert detect_layout(path) == "csv" and detect_layout(path.parent) == "csv"
    data = load_dataset(path)
    frame = data.frame
    assert frame["path"].tolist() == [str(path.parent.resolve() / n) for n in ("a/1.jpg", "a/2.jpg", "b/3.png")]
    assert data.category_names == ["Skirt", "Tee"]
    assert frame["category"].tolist() == [1, 1, 0]
    assert frame["category_name"].tolist() == ["Tee", "Tee", "Skirt"]
    assert frame["split"].tolist() == ["train", "train", "val"]
    assert frame["item_id"].tolist() == ["t1", "t1", "s1"]
    assert frame["x1"].tolist()[0] == 1 and frame["x1"].isna().tolist() == [False, True, False]
    assert data.attributes.tolist() == [[1, -1], [0, 1], [-1, 0]] and data.attributes.dtype == np.int8
    assert data.attribute_names == ["striped", "v neck"] and data.attribute_types == [0, 0]
    assert data.layout == "csv"


def test_csv_minimal_with_image_column_and_random_split(tmp_path):
    text = "image,category\n" + "".join(f"x/{i}.png,{'ab'[i % 2]}\n" for i in range(10)) + "x/10.png,\n"
    path = write_csv(tmp_path / "csv", text, images=[f"x/{i}.png" for i in range(11)])
    data = load_dataset(path, val_fraction=0.2, test_fraction=0.1)
    assert data.frame["category"].tolist() == [0, 1] * 5 + [-1]
    assert data.frame["category_name"].tolist()[-1] == ""
    assert data.frame["split"].value_counts().to_dict() == {"train": 8, "val": 2, "test": 1}
    assert data.attributes is None


@pytest.mark.parametrize("row, message", [
    ("a/2.jpg,Tee,t1,dev,,,,,0,1", r"labels.csv: line 3: split must be"),
    ("a/2.jpg,Tee,t1,train,,,,,2,1", r"labels.csv: line 3: attribute values must be"),
    ("a/2.jpg,Tee,t1,train,1,1,x,2,0,1", r"labels.csv: line 3: bbox values"),
    ("a/9.jpg,Tee,t1,train,,,,,0,1", r"labels.csv: line 3: image file not found"),
    ("a/1.jpg,Tee,t1,train,,,,,0,1", r"labels.csv: line 3: duplicated image path"),
])
def test_csv_bad_rows(tmp_path, row, message):
    lines = CSV_TEXT.splitlines()
    lines[2] = row
    path = write_csv(tmp_path / "csv", "\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)
    data, caught = _load_warn(path)
    assert len(caught) == 1 and "skipped 1 bad rows" in str(caught[0].message)
    assert data.frame["path"].str.endswith(("a/1.jpg", "b/3.png")).tolist() == [True, True]
    assert data.attributes.tolist() == [[1, -1], [-1, 0]]


def test_csv_without_required_columns(tmp_path):
    path = write_csv(tmp_path / "csv", "file,label\na/1.jpg,Tee\n")
    with pytest.raises(DatasetError, match=r"needs a 'path' \(or 'image'\) column and a 'category' column"):
        load_dataset(path)


# --------------------------------------------------------------------------- layout detection and splits


def test_detect_layout_failures(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        detect_layout(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="cannot tell the dataset layout"):
        detect_layout(tmp_path / "empty")
    with pytest.raises(DatasetError, match="unknown layout"):
        load_dataset(tmp_path / "empty", layout="coco")
    with pytest.raises(ValueError, match="on_bad_rows"):
        load_dataset(write_coarse(tmp_path / "df"), on_bad_rows="ignore")


def test_item_split_is_deterministic_and_order_free():
    items = [f"item{i % 20}" for i in range(100)]
    splits = item_split(items, 0.1, 0.2, seed=7)
    by_item = pd.Series(splits).groupby(pd.Series(items)).nunique()
    assert (by_item == 1).all()
    assert pd.Series(splits).groupby(pd.Series(items)).first().value_counts().to_dict() == \
        {"train": 14, "test": 4, "val": 2}
    reordered = item_split(items[::-1], 0.1, 0.2, seed=7)
    assert reordered[::-1].tolist() == splits.tolist()
    tiny = item_split(["a", "b", "c"], 0.1, 0.1, seed=0)
    assert sorted(tiny) == ["test", "train", "val"]
