"""Hardening (issue 14): literal command-line values, non-finite numbers, damaged files, bad output paths.

Each CLI case runs the real command and asserts a non-zero exit, one clear ``error:`` line and no traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from fashion.config import ConfigError, command_line_overrides, load_config, parse_overrides
from tests.conftest import run_cli


def assert_one_clear_line(result, *needles: str) -> str:
    """A failed command: non-zero exit, no traceback, one ``error:`` line containing every needle."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for needle in needles:
        assert needle in errors[0], output
    return errors[0]


# ------------------------------------------------------------------ 1. command-line values are literal


@pytest.mark.parametrize("text", ["/data/shop #2", "yes", "no", "1.50", "null", "~", "[a", "{x: 1}", "a: b",
                                  "'quoted'", "&anchor", "*alias", "!!python/object x", "%TAG"])
def test_option_values_are_used_as_typed(text):
    name = text.replace("/", "_")  # a run name is one folder's name (below)
    config = load_config(overrides=command_line_overrides([], {"data.root": Path(text), "train.run_name": name}))
    assert config.data.root == text and config.train.run_name == name


NOT_ONE_FOLDER = "must be a folder name, not a path"


@pytest.mark.parametrize(("name", "problem"), [
    ("../../elsewhere", NOT_ONE_FOLDER), ("a/b", NOT_ONE_FOLDER), ("a\\b", NOT_ONE_FOLDER), ("..", NOT_ONE_FOLDER),
    (".", NOT_ONE_FOLDER), ("", "must not be empty"), ("  ", "must not be empty"),
    ("a\tb", "must not hold control characters"),
])
def test_a_run_name_that_is_not_one_folder_is_refused(name, problem):
    """train.run_name=../../x wrote the run (checkpoints included) outside train.run_dir; "" into it."""
    with pytest.raises(ConfigError, match=f"^train.run_name {problem}"):
        load_config(overrides=command_line_overrides([f"train.run_name={name}"]))


@pytest.mark.parametrize("text", ["/data/shop #2", "yes", "0.10", "null", "[a", "a: b", "x # y"])
def test_set_text_settings_take_the_text(text):
    assert parse_overrides([f"data.root={text}"])["data"]["root"] == text


def test_set_quoted_text_and_scalars():
    parsed = parse_overrides(["train.run_name='a b'", "train.lr=1e-3", "data.sample=no", "train.epochs=3"])
    assert parsed == {"train": {"run_name": "a b", "lr": "1e-3", "epochs": 3}, "data": {"sample": False}}
    config = load_config(overrides=["train.lr=1e-3"])
    assert config.train.lr == pytest.approx(0.001)


@pytest.mark.parametrize("value", ["[1,", "{a", "'open", "a: b: c", "@x"])
def test_set_yaml_syntax_error_names_the_key(value):
    with pytest.raises(ConfigError, match="train.lr") as info:
        load_config(overrides=[f"train.lr={value}"])
    assert "\n" not in str(info.value)


def test_train_data_path_with_hash_is_literal(tmp_path):
    missing = tmp_path / "shop #2"
    result = run_cli(["train.py", "--no-progress", "--data", str(missing)])
    assert_one_clear_line(result, "shop #2")
    result = run_cli(["train.py", "--no-progress", "--data", "yes"])
    assert_one_clear_line(result, "yes")


def test_train_set_syntax_error_is_one_line():
    assert_one_clear_line(run_cli(["train.py", "--set", "train.lr=[1,"]), "train.lr")


# ------------------------------------------------------------------ 2. non-finite numbers are refused


@pytest.mark.parametrize("value", ["nan", "NaN", ".nan", "inf", "-inf", ".inf", "-.Inf", "1e999"])
@pytest.mark.parametrize("key", ["train.lr", "recommend.weight_colour", "colour.match_delta_e", "web.max_upload_mb"])
def test_non_finite_numbers_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"{key} must be a finite number"):
        load_config(overrides=[f"{key}={value}"])


def test_non_finite_in_config_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: .nan\n")
    with pytest.raises(ConfigError, match="train.lr must be a finite number"):
        load_config(path)


def test_a_setting_given_as_a_shortcut_and_by_set_is_refused():
    """`--epochs -1 --set train.epochs=1` trained with the --set value and said nothing of the other."""
    assert_one_clear_line(run_cli(["train.py", "--epochs", "-1", "--set", "train.epochs=1"]),
                          "--epochs and --set train.epochs are both given")
    from fashion.cli.train import shortcut_overrides

    assert shortcut_overrides({"train.epochs": 2, "train.run_name": None}, ["train.lr=0.1"]) == \
        ["train.epochs=2", "train.lr=0.1"]


def test_train_cli_refuses_nan():
    assert_one_clear_line(run_cli(["train.py", "--set", "train.lr=nan"]), "train.lr", "finite")


@pytest.mark.parametrize(("setting", "value", "bound"), [
    ("train.seed", "-1", ">= 0"), ("train.seed", str(2**32), "<="), ("sample.seed", "-1", ">= 0"),
    ("train.batch_size", "99999999999999999999", "<= 65536"), ("catalog.batch_size", "100000", "<= 65536"),
    ("sample.items", "999999999999", "<= 1000000"), ("sample.views", "1000", "<= 100")])
def test_values_past_what_the_code_can_take_are_refused(setting, value, bound):
    """The probe's cases: a seed of -1 was a numpy traceback after loading the data, a batch size of
    1e20 an islice traceback after training began, 999999999999 sample items a silent runaway."""
    with pytest.raises(ConfigError, match=f"{setting} must be {bound}"):
        load_config(overrides=[f"{setting}={value}"])


@pytest.mark.parametrize(("option", "message"), [
    ({"grid_step": 1e-9}, "weightings to search"), ({"grid_step": 0.001}, "weightings to search"),
    ({"ks": (1, 99999999999999999999)}, "from 1 to 10,000"), ({"seed": -1}, "from 0 to"), ({"seed": 2**64}, "from 0 to")])
def test_evaluation_options_that_cannot_finish_are_refused(option, message):
    """--grid-step 1e-9 divides 1 and hung the grid search; --ks 1e20 and --seed -1 were tracebacks."""
    from fashion.evaluate.run import EvalOptions, EvaluationError, grid_size, weight_grid

    with pytest.raises(EvaluationError, match=message):
        EvalOptions(**option).check()
    assert grid_size(0.1) == len(weight_grid(0.1)) and grid_size(0.05) == len(weight_grid(0.05))
    EvalOptions(grid_step=0.01, ks=(1, 10_000), seed=2**32 - 1).check()  # the largest still taken

# ------------------------------------------------------------------ 3. damaged config files


DAMAGE = {
    "empty": b"",
    "random bytes": bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)),
    "undecodable": b"train:\n  lr: \xff\xfe\n",
    "truncated yaml": b"train:\n  lr: [0.1,\n",
    "json list": b"[1, 2, 3]\n",
    "nul bytes": b"\x00" * 64,
    "nested 5,000 deep": b"train: " + b"[" * 5000 + b"]" * 5000 + b"\n",  # was a RecursionError traceback
    "a section twice": b"train:\n  epochs: 3\nmodel:\n  image_size: 32\ntrain:\n  lr: 0.1\n",  # the last one won
    "a key twice": b"train:\n  epochs: 3\n  epochs: 4\n",
}


@pytest.mark.parametrize("kind", [k for k in DAMAGE if k != "empty"])
def test_damaged_config_file_is_one_clear_error(tmp_path, kind):
    path = tmp_path / "config.yaml"
    path.write_bytes(DAMAGE[kind])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_config_file_odd_keys_and_folder(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("1: 2\n")
    with pytest.raises(ConfigError, match="unknown key 1"):
        load_config(path)
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_train_cli_damaged_config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(DAMAGE["random bytes"])
    assert_one_clear_line(run_cli(["train.py", "--config", str(path)]), str(path))


# ------------------------------------------------------------------ 3. damaged catalog files are rebuilt


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from fashion.model.checkpoint import load_model
    from tests.test_catalog import make_checkpoint

    return load_model(make_checkpoint(tmp_path_factory.mktemp("run") / "best.pt"), device="cpu")


@pytest.fixture(scope="module")
def built_catalog(tiny_model, tmp_path_factory):
    """A small folder of images and its built index (copied per test)."""
    from tests.test_catalog import COLOURS, SETTINGS, write_image
    from fashion.index.builder import open_catalog

    base = tmp_path_factory.mktemp("catalog")
    for name, rgb in COLOURS.items():
        write_image(base / "shop" / f"{name}.png", rgb)
    config = load_config(overrides=SETTINGS)
    open_catalog(tiny_model, config, base / "index", base / "shop", progress=False, log=lambda m: None)
    return base, config


CATALOG_FILES = ["CURRENT", "manifest.json", "items.csv", "embeddings.npy", "category_probs.npy",
                 "attribute_index.npy", "attribute_probs.npy", "palette_lab.npy", "palette_rgb.npy",
                 "palette_shares.npy"]
FILE_DAMAGE = ["empty", "random bytes", "truncated", "folder", "missing", "wrong json", "foreign pointer"]


def damage(path: Path, kind: str) -> None:
    """Damage one file in place."""
    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random bytes":
        path.write_bytes(DAMAGE["random bytes"])
    elif kind == "truncated":
        path.write_bytes(data[: max(1, len(data) // 2)])
    elif kind == "folder":
        path.unlink()
        path.mkdir()
    elif kind == "missing":
        path.unlink()
    elif kind == "wrong json":
        path.write_text('{"format": "fashion-catalog/1", "fingerprint": [], "files": 3, "skipped": "x"}')
    elif kind == "foreign pointer":
        path.write_text("../../etc\n")


CATALOG_CASES = ([(name, kind) for name in ("CURRENT", "manifest.json") for kind in FILE_DAMAGE]
                 + [(name, kind) for name in ("items.csv", "embeddings.npy") for kind in FILE_DAMAGE[:5]]
                 + [(name, "empty") for name in CATALOG_FILES[4:]] + [("palette_rgb.npy", "truncated")])


@pytest.mark.parametrize(("name", "kind"), CATALOG_CASES)
def test_damaged_catalog_is_rebuilt_with_a_message(built_catalog, tiny_model, tmp_path, name, kind):
    import shutil

    from fashion.index.builder import open_catalog
    from fashion.index.catalog import load_catalog, read_current

    base, config = built_catalog
    shutil.copytree(base / "shop", tmp_path / "shop")
    shutil.copytree(base / "index", tmp_path / "index")
    index = tmp_path / "index"
    before = load_catalog(index, mmap=False)  # a mapped file truncated in place would fault
    target = index / "CURRENT" if name == "CURRENT" else read_current(index) / name
    damage(target, kind)
    messages: list[str] = []
    catalog = open_catalog(tiny_model, config, index, tmp_path / "shop", progress=False, log=messages.append)
    assert len(catalog) == len(before)
    np.testing.assert_allclose(np.asarray(catalog.embeddings), np.asarray(before.embeddings), atol=1e-6)
    if kind in ("wrong json", "foreign pointer") and name not in ("CURRENT", "manifest.json"):
        return  # text written into an array/CSV file: covered by the other kinds
    assert any("rebuil" in m or "damaged" in m for m in messages), messages


FLOAT_ARRAYS = ["embeddings.npy", "category_probs.npy", "attribute_probs.npy", "palette_lab.npy", "palette_shares.npy"]


@pytest.mark.parametrize("kind", ["nan", "inf", "fewer columns"])
@pytest.mark.parametrize("name", FLOAT_ARRAYS)
def test_catalog_values_that_cannot_be_right_are_damage(built_catalog, tiny_model, tmp_path, name, kind):
    """The probe's cases: NaN in an array gave `nan` scores (CLI, exit 0) and a 500 on the web, and an
    array with fewer columns a traceback. Both are damage: rebuilt, said once (it was said twice)."""
    import shutil

    from fashion.index.builder import open_catalog
    from fashion.index.catalog import CatalogError, load_catalog, read_current

    base, config = built_catalog
    shutil.copytree(base / "shop", tmp_path / "shop")
    shutil.copytree(base / "index", tmp_path / "index")
    index = tmp_path / "index"
    before = load_catalog(index, mmap=False)
    path = read_current(index) / name
    array = np.load(path)
    if kind == "fewer columns":
        array = array[:, :-1]
    else:
        array.reshape(-1)[len(array.reshape(-1)) // 2] = np.nan if kind == "nan" else np.inf
    np.save(path, array)
    with pytest.raises(CatalogError, match="damaged catalog index"):
        load_catalog(index)
    messages: list[str] = []
    catalog = open_catalog(tiny_model, config, index, tmp_path / "shop", progress=False, log=messages.append)
    np.testing.assert_allclose(np.asarray(catalog.embeddings), np.asarray(before.embeddings), atol=1e-6)
    assert all(np.isfinite(np.asarray(getattr(catalog, n.removesuffix(".npy")))).all() for n in FLOAT_ARRAYS)
    damaged = [m for m in messages if "damaged" in m]
    assert len(damaged) == 1 and damaged[0].endswith("; rebuilding it"), messages
    assert "delete" not in damaged[0], messages  # it is rebuilt: no advice to do it by hand

@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"not json", b"[]", b'{"fingerprint": 1}'])
def test_damaged_partial_build_state_starts_afresh(tmp_path, content):
    from fashion.index.builder import PartialBuild

    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "state.json").write_bytes(content)
    (folder / "chunk-000000.npz").write_bytes(content)
    partial = PartialBuild(folder, "abc")
    assert list(partial.chunks()) == []
    assert json.loads((folder / "state.json").read_text()) == {"fingerprint": "abc"}


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", DAMAGE["random bytes"]])
def test_damaged_partial_chunk_is_ignored(tmp_path, content):
    from fashion.index.builder import PartialBuild

    partial = PartialBuild(tmp_path / "partial", "abc")
    (tmp_path / "partial" / "chunk-000000.npz").write_bytes(content)
    assert list(partial.chunks()) == []


# ------------------------------------------------------------------ 4. bad output paths: one clear line


def bad_outputs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a_file").write_text("x")
    return {"folder": tmp_path, "read-only folder": Path("/sys/out.png"), "under a file": tmp_path / "a_file" / "o.png"}


@pytest.mark.parametrize("kind", ["folder", "read-only folder", "under a file"])
def test_bad_output_file_is_one_clear_error(tmp_path, kind):
    from fashion.io_utils import OutputPathError, atomic_write_text, check_output_file

    target = bad_outputs(tmp_path)[kind]
    with pytest.raises(OutputPathError, match=str(target)):
        check_output_file(target, "--sheet")
    with pytest.raises(OutputPathError, match=str(target)):
        atomic_write_text(target, "text")


def test_missing_output_folder_is_created(tmp_path):
    from fashion.io_utils import atomic_write_text, check_output_file

    target = tmp_path / "new" / "deeper" / "sheet.png"
    check_output_file(target)
    atomic_write_text(target, "x")
    assert target.read_text() == "x"


@pytest.mark.parametrize("option", ["--sheet", "--feedback-export"])
def test_recommend_bad_output_path_is_one_line(tmp_path, option):
    image = tmp_path / "q.png"
    from tests.test_catalog import garment

    garment((200, 20, 30)).save(image)
    args = ["recommend.py", str(image), "--sheet", str(tmp_path)] if option == "--sheet" else \
        ["recommend.py", "--feedback-export", str(tmp_path)]
    assert_one_clear_line(run_cli(args), option, str(tmp_path))



def test_outputs_never_replace_inputs_or_take_another_kinds_name(tmp_path):
    """The probe's cases: `--sheet` wrote a PNG over the query photo, the checkpoint or any name, and
    `--feedback-export` wrote CSV over feedback.sqlite; each is now one line, and nothing changes."""
    from tests.test_catalog import garment

    image, checkpoint, store = tmp_path / "q.png", tmp_path / "best.pt", tmp_path / "feedback.sqlite"
    garment((200, 20, 30)).save(image)
    checkpoint.write_bytes(b"weights")
    store.write_bytes(b"SQLite format 3\0")
    before = {path: path.read_bytes() for path in (image, checkpoint, store)}
    cases = [
        (["recommend.py", str(image), "--sheet", str(image)], "which this command reads"),
        (["recommend.py", str(image), "--checkpoint", str(checkpoint), "--sheet", str(checkpoint)], "ending in .png"),
        (["recommend.py", str(image), "--sheet", str(tmp_path / "sheet.txt")], "ending in .png"),
        (["recommend.py", "--feedback-export", str(store)], "ending in .csv"),
    ]
    for args, reason in cases:
        assert_one_clear_line(run_cli(args), args[-2], reason)
    assert {path: path.read_bytes() for path in before} == before
    assert not (tmp_path / "sheet.txt").exists()

def test_recommend_options_that_contradict_or_say_nothing_are_one_line(tmp_path):
    """The probe's cases: an empty --category or --colour was ignored (every item shown), --like and
    --dislike of one item recorded both, and a file given as --catalog was 'not found'."""
    from tests.test_catalog import garment

    image = tmp_path / "q.png"
    garment((200, 20, 30)).save(image)
    assert_one_clear_line(run_cli(["recommend.py", str(image), "--category", ""]), "--category is empty")
    assert_one_clear_line(run_cli(["recommend.py", "--query", "red", "--colour", " "]), "--colour is empty")
    assert_one_clear_line(run_cli(["recommend.py", str(image), "--like", "a.jpg", "--dislike", "a.jpg"]),
                          "--like and --dislike both name a.jpg")
    from fashion.index.catalog import CatalogError
    from fashion.index.sources import folder_source

    with pytest.raises(CatalogError, match="a file, not a folder of images"):
        folder_source(image)


def test_train_and_evaluate_bad_output_folder_is_one_line(tmp_path):
    (tmp_path / "runs").write_text("a file where the run folder should be")
    result = run_cli(["train.py", "--set", f"train.run_dir={tmp_path / 'runs'}"])
    assert_one_clear_line(result, "run folder", str(tmp_path / "runs"))
    result = run_cli(["-m", "fashion.cli.evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--out",
                      str(tmp_path / "runs")])
    assert_one_clear_line(result, "--out", str(tmp_path / "runs"))


# ------------------------------------------------------------------ 5. web server: address, SIGTERM, docs, health


def _busy_port():
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.mark.parametrize("args, fragment", [
    (["--port", "99999"], "out of range"),
    (["--port", "-5"], "out of range"),
    (["--host", "no.such.host.invalid"], "does not resolve"),
    (["--host", "10.255.255.1"], "does not belong"),
    (["--set", "web.port=70000"], "web.port"),
])
def test_serve_bad_address_is_one_line_within_seconds(args, fragment):
    import time

    started = time.perf_counter()
    result = run_cli(["recommend.py", "--serve", *args], timeout=60)
    assert_one_clear_line(result, fragment)
    assert time.perf_counter() - started < 20  # no model or catalog was loaded (1 s when the machine is idle)


def test_serve_port_in_use_is_one_line():
    sock = _busy_port()
    try:
        port = sock.getsockname()[1]
        assert_one_clear_line(run_cli(["recommend.py", "--serve", "--port", str(port)], timeout=60), "in use")
    finally:
        sock.close()


def test_serve_stops_cleanly_on_sigterm(tiny_run, tiny_sample, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT, TINY_MODEL, TINY_SAMPLE, overrides_args

    args = [sys.executable, "recommend.py", "--serve", "--port", "0", "--no-progress", "--device", "cpu",
            "--checkpoint", str(tiny_run / "best.pt"), "--index-dir", str(tmp_path / "index"),
            *overrides_args(TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", "web.describe_workers=1"])]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "serving" in line:
            break
    assert any("serving" in line for line in lines), "".join(lines)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 0, output
    assert "server stopped (SIGTERM)" in output.strip().splitlines()[-1], output
    assert "Traceback" not in output and "leaked" not in output, output


from tests.test_web import client, config, engine, feedback_path, index_dir, photo, upload  # noqa: E402,F401


def test_docs_page_is_self_contained_and_health_has_no_paths(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/recommend" in page.text and "/openapi.json" in page.text
    assert "cdn" not in page.text.lower() and "<script" not in page.text.lower()
    assert client.get("/redoc").status_code == 404
    health = client.get("/health").text
    assert '"/' not in health and "/tmp" not in health and "\\\\" not in health


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
@pytest.mark.parametrize("field", ["w_visual", "w_category", "w_colour"])
def test_web_non_finite_numbers_are_refused(client, photo, field, value):
    response = upload(client, photo, **{field: value})
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text


# ------------------------------------------------------------------ 6. interrupted catalog builds resume


def _interrupting_infer(monkeypatch, at_call: int, action, seen: list):
    from fashion.model import encoder as encoder_module

    original = encoder_module.Encoder.infer
    calls = {"n": 0}

    def infer(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            seen.append(action())
        return original(*args, **kwargs)

    monkeypatch.setattr(encoder_module.Encoder, "infer", infer)
    return original


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_sigterm_and_ctrl_c_save_finished_rows(built_catalog, tiny_model, tmp_path, monkeypatch, how):
    import shutil
    import signal

    from fashion.index.builder import BuildTerminated, build_catalog
    from fashion.index.catalog import load_catalog, read_manifest
    from fashion.index.sources import folder_source
    from fashion.model import encoder as encoder_module
    from tests.test_catalog import COLOURS

    base, config = built_catalog
    shutil.copytree(base / "shop", tmp_path / "shop")
    index = tmp_path / "index"

    def interrupt():
        if how == "SIGTERM":
            os.kill(os.getpid(), signal.SIGTERM)  # the handler raises at once, inside this call
        raise KeyboardInterrupt

    original = _interrupting_infer(monkeypatch, 3, interrupt, [])
    source = folder_source(tmp_path / "shop", skip=index.resolve())
    with pytest.raises(BuildTerminated if how == "SIGTERM" else KeyboardInterrupt):
        build_catalog(source, tiny_model, index, config, progress=False, log=lambda m: None)
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None) or callable(signal.getsignal(signal.SIGTERM))
    assert read_manifest(index) is None
    assert len(list((index / "partial").glob("chunk-*.npz"))) == 2  # two finished batches of 2

    monkeypatch.setattr(encoder_module.Encoder, "infer", original)
    report = build_catalog(source, tiny_model, index, config, progress=False, log=lambda m: None)
    assert (report.resumed, report.processed) == (4, len(COLOURS) - 4)
    np.testing.assert_allclose(np.asarray(load_catalog(index).embeddings),
                               np.asarray(load_catalog(base / "index").embeddings), atol=1e-6)


def test_finished_rows_are_on_disk_within_seconds_without_any_handler(built_catalog, tiny_model, tmp_path,
                                                                      monkeypatch):
    """What a kill -9 leaves: chunks already written by time, not only every catalog.chunk_images rows."""
    import shutil

    from fashion.index import builder
    from fashion.index.sources import folder_source

    base, config = built_catalog
    shutil.copytree(base / "shop", tmp_path / "shop")
    index = tmp_path / "index"
    config = config.replace(catalog=config.catalog.__class__(**{**config.catalog.__dict__, "chunk_images": 10_000}))
    monkeypatch.setattr(builder, "FLUSH_SECONDS", 0.0)
    on_disk: list[int] = []

    def count_then_stop():
        on_disk.append(len(list((index / "partial").glob("chunk-*.npz"))))
        raise KeyboardInterrupt

    _interrupting_infer(monkeypatch, 3, count_then_stop, [])
    with pytest.raises(KeyboardInterrupt):
        builder.build_catalog(folder_source(tmp_path / "shop", skip=index.resolve()), tiny_model, index, config,
                              progress=False, log=lambda m: None)
    assert on_disk == [2]  # both finished batches were saved before the "kill", by time alone


# ------------------------------------------------------------------ datasets with nothing held out


def test_training_on_a_dataset_with_nothing_held_out_finishes_and_says_so(tmp_path):
    """4 items x 1 view leave the validation and test splits empty: training ended in a traceback
    ('need at least one array to concatenate') after the epochs, and wrote no metrics."""
    from fashion.data.sample import generate_sample
    from tests.conftest import TINY_MODEL, overrides_args

    generate_sample(tmp_path / "data", items=4, views=1, image_size=64, seed=0, workers=1)
    result = run_cli(["train.py", "--no-progress", "--data", str(tmp_path / "data"), *overrides_args(
        TINY_MODEL + [f"train.run_dir={tmp_path / 'runs'}", "train.run_name=small"])])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no test or validation images" in result.stdout
    assert json.loads((tmp_path / "runs" / "small" / "metrics.json").read_text())["test"] == {"images": 0}


def test_evaluating_where_no_query_can_have_a_result_is_one_line(tiny_run, tmp_path):
    """A folder dataset of 6 photos leaves one test image, so its query (never its own result) had none:
    a ZeroDivisionError in the plot, after metrics.json was written with nothing in it."""
    from tests.test_catalog import garment

    for index in range(6):
        folder = tmp_path / "data" / ("hat" if index % 2 else "shoes")
        folder.mkdir(parents=True, exist_ok=True)
        garment((40 * index, 20, 30)).save(folder / f"{index}.png")
    result = run_cli(["-m", "fashion.cli.evaluate", "--no-progress", "--checkpoint", str(tiny_run / "best.pt"),
                      "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                      "--set", "model.image_size=32"])
    assert_one_clear_line(result, "nothing to measure")
    assert not (tmp_path / "out" / "metrics.json").exists()
