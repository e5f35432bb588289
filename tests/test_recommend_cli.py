"""``recommend.py`` end to end: train (tiny) → index → recommend; lookups; bad queries fail cleanly."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import ROOT, run_cli


def _load_cli():
    spec = importlib.util.spec_from_file_location("recommend_cli", ROOT / "recommend.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


APP = _load_cli()


def invoke(args: list[str]):
    """Run the CLI in-process (fast); returns typer's Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(APP, [str(a) for a in args])


def test_images(sample: Path, split: str = "test") -> list[Path]:
    rows = pd.read_csv(sample / "Eval" / "list_eval_partition.txt", sep=r"\s+", skiprows=2, header=None)
    return [sample / name for name in rows[rows[1] == split][0]]


test_images.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("index") / "catalog"


def test_recommend_json_ranks_the_query_image_first(tiny_run, tiny_sample, index_dir):
    queries = test_images(tiny_sample)[:2]
    result = run_cli(["recommend.py", *map(str, queries), "--json", "--no-progress", "--checkpoint",
                      str(tiny_run / "best.pt"), "--index-dir", str(index_dir)])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    payload = json.loads(result.stdout)
    assert payload["catalog"]["items"] == len(test_images(tiny_sample))
    assert payload["weights"] == pytest.approx({"visual": 0.6, "category": 0.25, "colour": 0.15})
    assert len(payload["queries"]) == 2
    for query_path, answer in zip(queries, payload["queries"]):
        query = answer["query"]
        probabilities = [c["probability"] for c in query["categories"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert query["colours"] and query["attributes"]
        assert query["catalog_key"] == query_path.relative_to(tiny_sample).as_posix()
        first = answer["results"][0]
        assert Path(first["path"]) == query_path.resolve()
        assert first["score"]["visual"] == pytest.approx(1.0, abs=1e-3)
        assert first["delta_e"] == pytest.approx(0.0, abs=1.0)
        for result_row in answer["results"]:
            parts = result_row["score"]
            assert parts["total"] == pytest.approx(
                0.6 * parts["visual"] + 0.25 * parts["category"] + 0.15 * parts["colour"], abs=2e-3)
        item_ids = [r["item_id"] for r in answer["results"]]
        assert len(item_ids) == len(set(item_ids))  # one view per item


def test_text_table_and_contact_sheet(tiny_run, tiny_sample, index_dir, tmp_path):
    query = test_images(tiny_sample)[0]
    sheet = tmp_path / "sheet.png"
    result = invoke([query, "--checkpoint", tiny_run / "best.pt", "--index-dir", index_dir, "--no-progress",
                     "--sheet", sheet, "--top-k", "2", "--weights", "1,0,0"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"query: {query}" in out and "category:" in out and "colours:" in out
    assert "1.00·visual + 0.00·category + 0.00·colour" in out
    assert "shared attributes" in out and query.relative_to(tiny_sample).as_posix() in out
    assert "indexing" not in result.stderr  # the catalog built by the first test is up to date
    with Image.open(sheet) as image:
        assert image.format == "PNG" and image.width > 3 * 180


def test_filters_through_the_cli(tiny_run, tiny_sample, index_dir):
    query = test_images(tiny_sample)[0]
    base = [query, "--checkpoint", tiny_run / "best.pt", "--index-dir", index_dir, "--no-progress", "--json"]
    same = json.loads(invoke(base + ["--same-category"]).stdout)
    predicted = same["queries"][0]["query"]["categories"][0]["name"]
    assert all(predicted in (r["label"], r["predicted_category"]) for r in same["queries"][0]["results"])
    colour = json.loads(invoke(base + ["--colour", "red", "--exclude-query"]).stdout)
    for row in colour["queries"][0]["results"]:
        assert row["key"] != query.relative_to(tiny_sample).as_posix()
        assert sum(c["share"] for c in row["colours"] if c["family"] == "red") >= 0.2
    bad = invoke(base + ["--category", "spacesuit"])
    assert bad.exit_code == 1 and "unknown category 'spacesuit'" in bad.stderr


def test_combined_query_and_weight_options(tiny_run, tiny_sample, index_dir):
    first, second = test_images(tiny_sample)[:2]
    result = invoke([first, second, "--combine", "--exclude-query", "--json", "--w-colour", "1", "--w-visual", "0",
                     "--w-category", "0", "--checkpoint", tiny_run / "best.pt", "--index-dir", index_dir,
                     "--no-progress"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["weights"] == {"visual": 0.0, "category": 0.0, "colour": 1.0}
    [answer] = payload["queries"]
    assert answer["query"]["name"] == f"{first} + {second}"
    keys = {first.relative_to(tiny_sample).as_posix(), second.relative_to(tiny_sample).as_posix()}
    assert not keys & {r["key"] for r in answer["results"]}
    totals = [r["score"]["total"] for r in answer["results"]]
    assert totals == [r["score"]["colour"] for r in answer["results"]] and totals == sorted(totals, reverse=True)


def test_category_and_attribute_lookup(tiny_run, tiny_sample, index_dir):
    common = ["--checkpoint", tiny_run / "best.pt", "--index-dir", index_dir, "--no-progress"]
    result = invoke(["--categories", "JACK", *common])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "body", "part", "catalog", "items"]
    assert any(line.split()[1:3] == ["Jacket", "upper"] for line in lines[2:])
    listed = json.loads(invoke(["--categories", "--json", *common]).stdout)["categories"]
    assert len(listed) == 50 and sum(r["items"] for r in listed) == len(test_images(tiny_sample))
    attributes = json.loads(invoke(["--attributes", "shape", "--json", *common]).stdout)["attributes"]
    assert attributes and all(r["type"] == "shape" or "shape" in r["name"] for r in attributes)
    assert "no category name contains 'zzz'" in invoke(["--categories", "zzz", *common]).stdout


def test_default_catalog_lives_in_the_run_folder(tiny_run, tiny_sample, tmp_path):
    run = tmp_path / "runs" / "tiny"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("catalog*"))
    query = test_images(tiny_sample)[1]
    result = invoke([query, "--no-progress", "--set", f"train.run_dir={tmp_path / 'runs'}",
                     "--set", "train.run_name=tiny"])
    assert result.exit_code == 0, result.output
    assert (run / "catalog" / "CURRENT").is_file()
    assert "indexing" in result.stderr  # built on first use, with a message


def test_no_trained_model_says_to_train_first(tmp_path):
    image = tmp_path / "q.png"
    Image.effect_noise((20, 20), 60).convert("RGB").save(image)
    result = invoke([image, "--set", f"train.run_dir={tmp_path / 'nothing'}"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "run `python train.py` first" in result.stderr


@pytest.mark.parametrize("case", ["missing", "not an image", "empty", "huge", "directory", "flat", "tiny"])
def test_bad_queries_exit_with_one_line(case, tiny_run, tmp_path):
    path = tmp_path / "query.jpg"
    extra: list[str] = []
    if case == "not an image":
        path.write_text("hello, I am text")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "huge":
        Image.new("RGB", (64, 64)).save(path, format="JPEG")
        extra = ["--set", "data.max_image_pixels=1000"]
    elif case == "directory":
        path.mkdir()
    elif case == "flat":  # a black camera frame: refused, not described as a garment
        Image.new("RGB", (64, 64)).save(path, format="JPEG")
    elif case == "tiny":
        Image.effect_noise((64, 8), 60).convert("RGB").save(path, format="JPEG")
    result = invoke([path, "--checkpoint", tiny_run / "best.pt", *extra])
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error: ") and str(path) in message
    assert "Traceback" not in result.output


def test_bad_query_in_a_real_process_has_no_traceback(tmp_path):
    result = run_cli(["recommend.py", str(tmp_path / "nope.jpg")])
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "nope.jpg" in result.stderr
    assert "Traceback" not in result.stderr


def test_like_and_dislike_change_the_next_ranking(tiny_run, tiny_sample, tmp_path):
    """--like/--dislike record events in the catalog's store and re-rank: liked up, disliked down."""
    index = tmp_path / "catalog"
    query = test_images(tiny_sample)[0]
    # Every view counts as a result: the tiny test split holds only a few items.
    common = [query, "--json", "--no-progress", "--exclude-query", "--top-k", "6", "--checkpoint",
              tiny_run / "best.pt", "--index-dir", index, "--set", "recommend.dedupe_items=false"]
    def ranking(result) -> dict[str, float]:
        assert result.exit_code == 0, result.output
        return {r["key"]: r["score"]["total"] for r in json.loads(result.stdout)["queries"][0]["results"]}

    before = ranking(invoke(common))
    ranked = list(before)
    liked, disliked = ranked[-1], ranked[0]
    after = ranking(invoke(common + ["--like", liked, "--dislike", disliked]))
    reranked = list(after)
    # The query moves towards the liked item and away from the disliked one (Rocchio), and the
    # disliked item is not shown again for this photo (one dislike is too few for the item prior).
    assert after[liked] > before[liked]
    assert disliked not in after or after[disliked] < before[disliked]
    # The events persist: a later plain query is adapted too, and the summary counts them.
    again = invoke(common)
    assert list(ranking(again)) == reranked
    summary = invoke(["--feedback", "--json", "--checkpoint", tiny_run / "best.pt", "--index-dir", index])
    assert summary.exit_code == 0, summary.output
    counts = json.loads(summary.stdout)
    assert (counts["likes"], counts["dislikes"]) == (1, 1)
    exported = invoke(["--feedback-export", tmp_path / "fb.csv", "--checkpoint", tiny_run / "best.pt",
                       "--index-dir", index])
    assert exported.exit_code == 0 and len(pd.read_csv(tmp_path / "fb.csv")) == 2
    reset = invoke(["--feedback-reset", "--checkpoint", tiny_run / "best.pt", "--index-dir", index])
    assert reset.exit_code == 0
    assert ranking(invoke(common)) == pytest.approx(before)


def test_unknown_liked_item_is_a_clear_error(tiny_run, tiny_sample, tmp_path):
    result = invoke([test_images(tiny_sample)[0], "--no-progress", "--checkpoint", tiny_run / "best.pt",
                     "--index-dir", tmp_path / "catalog", "--like", "no/such/item.jpg"])
    assert result.exit_code == 1
    assert "no single catalog item matches" in result.output


@pytest.mark.parametrize(("device", "fragment"), [
    ("tpu", "device must be one of auto, cpu, cuda, mps"), ("cuda:x", "device must be one of"),
    ("cpu:1", "device must be one of"), ("mps", "no Apple GPU"),
])
def test_an_unusable_device_is_one_line(device, fragment, tiny_run, tiny_sample):
    """--device tpu was torch's RuntimeError with a traceback."""
    from fashion.model.checkpoint import mps_available

    if device == "mps" and mps_available():
        pytest.skip("this machine has MPS")
    result = invoke([test_images(tiny_sample)[0], "--checkpoint", tiny_run / "best.pt", "--device", device])
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and fragment in message and "Traceback" not in result.output
