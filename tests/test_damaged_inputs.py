"""Issue 14 (rest): damaged user data is named in a clear error and left untouched; reversed boxes
are bad rows; a one-category dataset is refused for training. All in-process and fast."""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


from test_datasets import CSV_TEXT, write_coarse, write_csv, write_fine  # noqa: E402 - tests/ is on sys.path

RANDOM = bytes(np.random.default_rng(14).integers(0, 256, 4000, dtype=np.uint8))
UNDECODABLE = b"3\nheader\n\xff\xfe\x80 1\n\xc3\x28 2\nabc 3\n"


def _damage(path: Path, kind: str, good: bytes = b"") -> bytes | None:
    """Put damage ``kind`` at ``path``; returns the bytes written (None for a folder)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    data = {"empty": b"", "random bytes": RANDOM, "undecodable": UNDECODABLE, "truncated": good[: len(good) // 2],
            "NUL bytes": b"\x00" * 512}.get(kind)
    if kind == "folder":
        path.mkdir()
        return None
    path.write_bytes(data)
    return data


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text and "Traceback" not in text
    return text


# --------------------------------------------------------------------------- feedback store


@pytest.fixture(scope="module")
def good_store(tmp_path_factory) -> bytes:
    from fashion.feedback.store import FeedbackEvent, FeedbackStore

    path = tmp_path_factory.mktemp("fb") / "feedback.sqlite"
    with FeedbackStore(path) as store:
        store.record([FeedbackEvent("c", f"q{i}", f"item{i}", 1, np.ones(8, np.float32), scores={"visual": 0.5})
                      for i in range(300)])
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["random bytes", "truncated", "NUL bytes", "folder"])
def test_damaged_feedback_store_says_damaged_and_is_untouched(tmp_path, good_store, kind):
    from fashion.feedback.store import FeedbackError, FeedbackStore

    path = tmp_path / "feedback.sqlite"
    written = _damage(path, kind, good_store)
    with pytest.raises(FeedbackError) as caught:
        with FeedbackStore(path) as store:
            store.summary()
    message = _one_line(caught.value)
    assert str(path) in message and ("damaged" in message or "not a feedback store" in message
                                     or "a folder" in message)
    if written is None:
        assert path.is_dir() and not any(path.iterdir())
    else:
        assert path.read_bytes() == written
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


def test_feedback_session_names_a_damaged_store_when_feedback_is_needed(tmp_path, capsys):
    """--like / --feedback with a damaged store: the store's own error, not 'feedback is switched off'."""
    from fashion.feedback.session import FeedbackSession
    from fashion.feedback.store import FeedbackError

    (tmp_path / "feedback.sqlite").write_bytes(RANDOM)
    engine = SimpleNamespace(config=SimpleNamespace(feedback=SimpleNamespace(enabled=True, filename="feedback.sqlite")),
                             catalog=SimpleNamespace(directory=tmp_path))
    with pytest.raises(FeedbackError, match="not a feedback store"):
        FeedbackSession.open(engine, required=True)
    assert FeedbackSession.open(engine) is None  # a plain ranking goes on, with one warning line
    assert "not a feedback store" in capsys.readouterr().err


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def checkpoint_payload():
    from fashion.config import load_config
    from fashion.model.checkpoint import build_payload
    from fashion.model.labels import Labels
    from fashion.model.network import FashionNet

    config = load_config(overrides=["model.image_size=32"])
    labels = Labels(["a", "b"], [1, 2], ["x", "y", "z"], [1, 1, 2])
    model = FashionNet(config.model.arch, 2, 3, weights="none")
    return build_payload(model, config, labels)


def _torch_bytes(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _edited(payload, edit):
    import copy

    clone = copy.deepcopy(payload)
    edit(clone)
    return _torch_bytes(clone)


CHECKPOINT_CASES = {
    "empty": (lambda p: b"", "empty file"),
    "random bytes": (lambda p: RANDOM, "not a readable fashion checkpoint"),
    "truncated": (lambda p: _torch_bytes(p)[:5000], "not a readable fashion checkpoint"),
    "text": (lambda p: b"hello\n", "not a readable fashion checkpoint"),
    "foreign state dict": (lambda p: _torch_bytes({"weight": np.zeros(3).tolist()}), "not a fashion checkpoint"),
    "no weights": (lambda p: _edited(p, lambda c: c.pop("model")), "'model' is missing"),
    "no labels": (lambda p: _edited(p, lambda c: c.pop("labels")), "'labels' is missing"),
    "labels of another shape": (lambda p: _edited(p, lambda c: c.__setitem__("labels", {"x": 1})), "labels."),
    "unknown arch": (lambda p: _edited(p, lambda c: c["model_args"].__setitem__("arch", "vgg99")), "vgg99"),
    "text count": (lambda p: _edited(p, lambda c: c["model_args"].__setitem__("num_categories", "2")),
                   "num_categories"),
    "text image size": (lambda p: _edited(p, lambda c: c["transform"].__setitem__("image_size", "x")), "image_size"),
    "label count mismatch": (lambda p: _edited(p, lambda c: c["labels"]["category_names"].append("c")),
                             "do not match"),
    "NaN weights": (lambda p: _edited(p, lambda c: next(v for v in c["model"].values()
                                                        if v.is_floating_point()).fill_(float("nan"))), "non-finite"),
}


@pytest.mark.parametrize("kind", list(CHECKPOINT_CASES))
def test_damaged_checkpoint_is_one_clear_error_and_untouched(tmp_path, checkpoint_payload, kind):
    from fashion.model.checkpoint import CheckpointError, load_model

    make, fragment = CHECKPOINT_CASES[kind]
    path = tmp_path / "best.pt"
    data = make(checkpoint_payload)
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as caught:
        load_model(path, "cpu")
    message = _one_line(caught.value)
    assert str(path) in message and fragment in message
    assert path.read_bytes() == data


def test_checkpoint_folder_and_good_checkpoint(tmp_path, checkpoint_payload):
    from fashion.model.checkpoint import CheckpointError, load_model

    folder = tmp_path / "run"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="a folder, not a checkpoint file"):
        load_model(folder, "cpu")
    (folder / "best.pt").write_bytes(_torch_bytes(checkpoint_payload))
    loaded = load_model(folder / "best.pt", "cpu")
    assert loaded.labels.category_names == ["a", "b"]


# --------------------------------------------------------------------------- annotation files

ANNOTATIONS = (
    [("coarse", f"Anno/{name}") for name in ("list_category_cloth.txt", "list_category_img.txt",
                                              "list_attr_cloth.txt", "list_attr_img.txt", "list_bbox.txt")]
    + [("coarse", "Eval/list_eval_partition.txt")]
    + [("fine", f"Anno_fine/{name}") for name in ("list_category_cloth.txt", "list_attr_cloth.txt", "train.txt",
                                                   "train_cate.txt", "train_attr.txt", "train_bbox.txt")]
    + [("csv", "labels.csv")]
)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("layouts")
    write_csv(base / "csv", CSV_TEXT, images=("a/1.jpg", "a/2.jpg", "b/3.png"))
    return {"coarse": write_coarse(base / "coarse"), "fine": write_fine(base / "fine"), "csv": base / "csv"}


@pytest.mark.parametrize("kind", ["empty", "random bytes", "undecodable", "NUL bytes", "folder"])
@pytest.mark.parametrize(("layout", "name"), ANNOTATIONS)
def test_damaged_annotation_file_is_named_in_a_clear_error(tmp_path, datasets, layout, name, kind):
    from fashion.data.datasets import DatasetError, load_dataset

    root = tmp_path / layout
    shutil.copytree(datasets[layout], root)
    written = _damage(root / name, kind)
    target = root / name if layout == "csv" else root
    with pytest.raises(DatasetError) as caught:
        load_dataset(target)
    message = _one_line(caught.value)
    assert str(root) in message
    if written is not None:
        assert (root / name).read_bytes() == written


def test_undecodable_csv_names_the_line(tmp_path):
    from fashion.data.datasets import DatasetError, load_dataset

    path = write_csv(tmp_path, CSV_TEXT)
    path.write_bytes(CSV_TEXT.encode().replace(b"b/3.png", b"b/\xff3.png"))
    with pytest.raises(DatasetError, match="line 4: not UTF-8 text"):
        load_dataset(path)


def test_damaged_csv_beside_class_folders_is_not_silent(tmp_path):
    from fashion.data.datasets import DatasetWarning, load_dataset

    path = write_csv(tmp_path, CSV_TEXT)
    path.write_bytes(RANDOM)
    with pytest.warns(DatasetWarning, match="not a readable CSV"):
        data = load_dataset(tmp_path)
    assert data.layout == "folders"


# --------------------------------------------------------------------------- reversed boxes, one category


def _box_edit(layout: str, root: Path) -> Path:
    if layout == "coarse":
        path = root / "Anno" / "list_bbox.txt"
        path.write_text(path.read_text().replace("1 2 7 8", "7 2 1 8"))
    elif layout == "fine":
        path = root / "Anno_fine" / "train_bbox.txt"
        path.write_text(path.read_text().replace("1 1 5 5", "1 5 5 1"))
    else:
        path = root / "labels.csv"
        path.write_text(CSV_TEXT.replace("1,2,5,6", "5,2,1,6"))
    return path


@pytest.mark.parametrize("layout", ["coarse", "fine", "csv"])
def test_reversed_box_is_a_bad_row(tmp_path, datasets, layout):
    from fashion.data.datasets import DatasetError, DatasetWarning, load_dataset

    root = tmp_path / layout
    shutil.copytree(datasets[layout], root)
    target = root / "labels.csv" if layout == "csv" else root
    complete = len(load_dataset(target).frame)
    path = _box_edit(layout, root)
    with pytest.raises(DatasetError, match="reversed bbox") as caught:
        load_dataset(target)
    assert str(path) in str(caught.value) and "line" in str(caught.value)
    with pytest.warns(DatasetWarning, match="reversed bbox"):
        data = load_dataset(target, on_bad_rows="warn")
    assert len(data.frame) == complete - 1


def test_empty_box_is_still_no_box(datasets):
    from fashion.data.datasets import load_dataset

    frame = load_dataset(datasets["coarse"]).frame
    assert frame["x1"].isna().sum() == 1  # the (3, 3, 3, 5) box: empty, kept as "no box"


def test_single_category_is_warned_about_and_refused_for_training(tmp_path):
    from fashion.cli.train import run_training
    from fashion.data.datasets import DatasetError, DatasetWarning, load_dataset

    path = write_csv(tmp_path / "one", "path,category\na/1.jpg,Tee\na/2.jpg,Tee\nb/3.png,Tee\n")
    with pytest.warns(DatasetWarning, match="one category \\('Tee'\\)"):
        load_dataset(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match="at least two categories"):
            run_training(None, [f"train.run_dir={tmp_path / 'runs'}"], path, resume=False, overwrite=False,
                      show_progress=False)
