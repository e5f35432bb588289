"""The evaluate job end to end on the tiny generated sample, through ``python -m fashion.cli.evaluate``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import run_cli

# random, each registered score component alone (registry order), the configured and the tuned blends
METHODS = ["random", "visual", "category", "colour", "blend", "tuned"]


@pytest.fixture(scope="module")
def evaluated(tiny_run, tmp_path_factory):
    """One CLI evaluation of the tiny run: (completed process, output folder)."""
    out = tmp_path_factory.mktemp("evaluation")
    result = run_cli(["-m", "fashion.cli.evaluate", "--checkpoint", str(tiny_run / "best.pt"), "--out", str(out),
                      "--no-progress", "--grid-step", "0.5"])
    assert result.returncode == 0, result.stdout + result.stderr
    return result, out


def test_table_on_screen(evaluated):
    result, _ = evaluated
    text = result.stdout
    assert "classification (test" in text and "category top-1" in text
    for title in ("cat P@k", "colour@k", "mean dE", "attr J@k", "item R@k", "mean"):
        assert title in text
    for method in METHODS:
        assert f"\n{method:<10}" in text
    assert "tuned = grid search on the val split" in text


def test_metrics_json_csv_and_plot_written(evaluated):
    _, out = evaluated
    report = json.loads((out / "metrics.json").read_text())
    assert list(report["retrieval"]) == METHODS  # the random baseline is there, in the same run
    for method in METHODS:
        assert set(report["retrieval"][method]) == {"category_precision", "colour_agreement", "mean_delta_e",
                                                    "attribute_overlap", "same_item_recall", "mean"}
        assert set(report["retrieval"][method]["category_precision"]) == {"1", "5", "10"}
    assert report["weights"]["visual"] == {"visual": 1.0, "category": 0.0, "colour": 0.0}
    assert report["protocol"]["queries"] == "test" and report["protocol"]["query_excluded_from_own_results"]
    assert "category_top1" in report["classification"]
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(METHODS) * 3
    assert {row["method"] for row in rows} == set(METHODS)
    assert (out / "metrics_vs_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "grid_search.csv").is_file()


def test_grid_search_used_the_validation_split(evaluated, tiny_sample):
    _, out = evaluated
    report = json.loads((out / "metrics.json").read_text())
    grid = report["grid_search"]
    partition = (tiny_sample / "Eval" / "list_eval_partition.txt").read_text().split()
    assert grid["split"] == "val"
    assert grid["queries"] == partition.count("val")  # (the in-process test below proves no test image is ranked)
    assert len(grid["table"]) == 6  # step 0.5: (1,0,0), (.5,.5,0), (.5,0,.5), (0,1,0), (0,.5,.5), (0,0,1)
    assert report["weights"]["tuned"] == grid["best_weights"]


def test_grid_search_never_ranks_test_images(tiny_run, monkeypatch):
    """In process: the weight search only ever ranks validation images."""
    from fashion.evaluate import run as evaluation
    from fashion.model.checkpoint import load_model
    from fashion.config import load_config
    from fashion.data.load import load_training_data

    loaded = load_model(tiny_run / "best.pt", device="cpu")
    data = load_training_data(loaded.config)
    config = load_config(overrides=["catalog.workers=0"]).replace(data=loaded.config.data)
    calls = []
    original = evaluation.rank_methods

    def spy(features, queries, gallery, methods, *args, **kwargs):
        calls.append(({str(s) for s in data.frame["split"].to_numpy()[features.rows[queries]]},
                      {str(s) for s in data.frame["split"].to_numpy()[features.rows[gallery]]},
                      [m.name for m in methods]))
        return original(features, queries, gallery, methods, *args, **kwargs)

    monkeypatch.setattr(evaluation, "rank_methods", spy)
    report = evaluation.evaluate(loaded, data, config, evaluation.EvalOptions(grid_step=0.5), progress=False,
                                 log=lambda _: None)
    (grid_q, grid_g, grid_methods), (test_q, test_g, test_methods) = calls
    assert grid_q == grid_g == {"val"} and "configured" in grid_methods
    assert test_q == test_g == {"test"} and test_methods == METHODS
    # Sanity of the figures themselves: the random baseline is a baseline, visual is exact cosine.
    for values in report["retrieval"]["visual"]["category_precision"].values():
        assert 0.0 <= values <= 1.0
    assert np.isfinite(report["retrieval"]["random"]["mean"][10])


def test_bad_input_is_one_clear_line(tiny_run, tmp_path, capsys):
    missing = run_cli(["-m", "fashion.cli.evaluate", "--checkpoint", str(tmp_path / "nope.pt")])
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error:") and "checkpoint not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    # The option checks in process (same code path, without another interpreter start-up).
    from fashion.cli.evaluate import main

    checkpoint = tiny_run / "best.pt"
    for kwargs, message in (({"queries": "tset"}, "unknown split 'tset'"),
                            ({"tune": "test"}, "tuned on other data"),
                            ({"ks": "1,five"}, "--ks must be comma-separated integers")):
        options = {"checkpoint": checkpoint, "data": None, "out": tmp_path, "config": None, "set_": [],
                   "queries": "test", "gallery": "test", "tune": "val", "ks": "1,5,10", "grid_step": 0.1,
                   "objective": "mean", "seed": 0, "pool": True, "progress": False, "device": "cpu", **kwargs}
        with pytest.raises(SystemExit) as exit_info:
            main(**options)
        assert exit_info.value.code == 1
        assert message in capsys.readouterr().err


# ------------------------------------------------------------------------------ the real-photo run


def test_real_run_without_data_says_so_and_exits_cleanly(tmp_path):
    result = run_cli(["scripts/real_run.py", "--data", str(tmp_path / "absent")])
    assert result.returncode == 0
    assert "real-photo data not found" in result.stdout


def test_real_run_sizes_epochs_to_the_budget():
    from scripts.real_run import MAX_EPOCHS, MIN_EPOCHS, plan_epochs

    # 30 img/s, 3,068 + 341 images: an epoch is 1.15 * (3068 + 341/3) / 30 = 122 s; 15 min of 20 train.
    plan = plan_epochs(30.0, 3068, 341, 20)
    assert plan.epochs == 7 and plan.expected_train_seconds <= 0.75 * 20 * 60
    assert plan_epochs(0.5, 3068, 341, 20).epochs == MIN_EPOCHS
    assert plan_epochs(1e6, 3068, 341, 20).epochs == MAX_EPOCHS


def test_real_run_end_to_end_on_a_tiny_folder_dataset(tiny_sample, tmp_path):
    """The part-3 pipeline (train, catalog, evaluate, RESULTS.md) on class folders made from the tiny sample."""
    import shutil

    from fashion.data.datasets import load_dataset

    data = load_dataset(tiny_sample)
    root = tmp_path / "clothes"
    folder = {"train": "train", "val": "validation", "test": "test"}
    for row in data.frame.itertuples():
        target = root / folder[row.split] / row.category_name.replace(" ", "_")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(row.path, target / f"{row.Index:03d}.jpg")
    result = run_cli(["scripts/real_run.py", "--data", str(root), "--epochs", "1", "--no-progress",
                      "--set", "model.image_size=32", "--set", f"train.run_dir={tmp_path / 'runs'}",
                      "--set", "train.workers=0", "--set", "catalog.batch_size=16", "--set", "catalog.workers=0"])
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = tmp_path / "runs" / "real-clothing"
    report = json.loads((run_dir / "evaluation" / "metrics.json").read_text())
    assert report["dataset"]["layout"] == "folders" and report["grid_search"]["split"] == "val"
    assert np.isnan(report["retrieval"]["visual"]["same_item_recall"]["10"] or np.nan)  # folders have no items
    assert (run_dir / "catalog" / "CURRENT").is_file()
    results = (run_dir / "RESULTS.md").read_text()
    assert f"python scripts/real_run.py --data {root} --epochs 1" in results and "| blend |" in results


def test_interrupted_feature_extraction_resumes_from_the_cache(tiny_run, tmp_path, monkeypatch):
    """Ctrl-C after two batches: their rows are on disk; the rerun embeds only the rest and its
    features equal an uninterrupted run's; the cache folder is gone once the features are complete."""
    from fashion.config import load_config
    from fashion.data.load import load_training_data
    from fashion.evaluate.run import extract_features
    from fashion.model import encoder as encoder_module
    from fashion.model.checkpoint import load_model

    loaded = load_model(tiny_run / "best.pt", device="cpu")
    data = load_training_data(loaded.config)
    config = load_config(overrides=["catalog.workers=0", "catalog.batch_size=4"]).replace(data=loaded.config.data)
    rows = data.frame.index.to_numpy()
    clean = extract_features(loaded, data, rows, config, progress=False)

    cache = tmp_path / "features-cache"
    original = encoder_module.Encoder.infer
    seen: list[int] = []

    def interrupted(self, tensor):
        seen.append(len(tensor))
        if len(seen) == 3:
            raise KeyboardInterrupt
        return original(self, tensor)

    monkeypatch.setattr(encoder_module.Encoder, "infer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract_features(loaded, data, rows, config, progress=False, cache_dir=cache)
    assert len(list(cache.glob("chunk-*.npz"))) == 1  # the two finished batches, saved on the way out

    seen.clear()
    monkeypatch.setattr(encoder_module.Encoder, "infer", lambda self, tensor: seen.append(len(tensor))
                        or original(self, tensor))
    resumed = extract_features(loaded, data, rows, config, progress=False, cache_dir=cache)
    assert sum(seen) == len(rows) - 8  # two batches of 4 were not embedded again
    np.testing.assert_array_equal(resumed.rows, clean.rows)
    for name in ("embeddings", "category_probs", "attribute_probs", "palette_lab", "palette_shares"):
        np.testing.assert_allclose(getattr(resumed, name), getattr(clean, name), atol=1e-6)
    assert not cache.exists()
