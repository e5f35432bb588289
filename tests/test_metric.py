"""The metric-learning embedding head: P x K sampler, batch-hard triplet and proxy losses, the
fallback without item ids, end to end through train.py into the catalog and engine; the
pretrained (ImageNet) start from a local torch.hub cache; per-rank random streams."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_MODEL, TINY_SAMPLE, overrides_args, run_cli
from fashion.config import ConfigError, load_config
from fashion.data.loaders import ItemViewSampler, item_codes, multi_view_items
from fashion.model.checkpoint import load_model, read_checkpoint
from fashion.model.network import FashionNet, WeightsError, imagenet_cache_path, resolve_weights
from fashion.train.loop import (
    FashionLoss,
    batch_hard_triplet_loss,
    plan_metric_loss,
    proxy_loss,
    rank_seed,
    seed_everything,
)

METRIC = ["model.embedding=metric", "model.embedding_dim=16"]


# ------------------------------------------------------------------------------ sampler


@pytest.mark.parametrize("views_per_item,p,k", [(3, 4, 2), (2, 3, 3), (5, 2, 4)])
@pytest.mark.parametrize("world", [1, 2])
def test_item_view_sampler_batches_hold_k_views_of_p_distinct_items(views_per_item, p, k, world):
    rng = np.random.default_rng(0)
    counts = rng.integers(1, views_per_item + 1, size=11)  # some items have fewer than K images
    items = rng.permutation(np.repeat(np.arange(11), counts))
    shards = []
    for rank in range(world):
        sampler = ItemViewSampler(items, p, k, seed=3, rank=rank, world=world)
        sampler.set_epoch(1)
        indices = list(sampler)
        assert len(indices) == len(sampler) == sampler.batches * p * k and sampler.batches >= 1
        for start in range(0, len(indices), p * k):
            batch = np.asarray(indices[start:start + p * k])
            chunks = items[batch].reshape(p, k)
            assert (chunks == chunks[:, :1]).all()  # K consecutive views of one item
            assert len(set(chunks[:, 0])) == p  # P distinct items
            for chunk, rows in zip(chunks, batch.reshape(p, k)):  # distinct images where the item has K
                assert len(set(rows)) == min(k, int((items == chunk[0]).sum()))
        shards.append(indices)
        again = ItemViewSampler(items, p, k, seed=3, rank=rank, world=world)
        again.set_epoch(1, skip_samples=p * k)  # a resumed run skips the batches it trained
        assert list(again) == indices[p * k:]
    if world == 2:
        assert shards[0] != shards[1] and len(shards[0]) == len(shards[1])


def test_item_codes_treat_missing_ids_as_single_items():
    codes = item_codes(["a", "b", None, "a", float("nan"), ""])
    assert codes[0] == codes[3] and len(set(codes)) == 5
    assert multi_view_items(codes) == 1


# ------------------------------------------------------------------------------- losses


def _reference_triplet(embeddings: np.ndarray, items: list[int], margin: float) -> float:
    losses = []
    for a in range(len(items)):
        positives = [np.linalg.norm(embeddings[a] - embeddings[p]) for p in range(len(items))
                     if p != a and items[p] == items[a]]
        negatives = [np.linalg.norm(embeddings[a] - embeddings[n]) for n in range(len(items)) if items[n] != items[a]]
        if positives and negatives:
            losses.append(max(0.0, max(positives) - min(negatives) + margin))
    return float(np.mean(losses))


def test_batch_hard_triplet_loss_equals_a_reference_computation():
    # Hand-made: 3 items on the unit circle, two views each, plus one item with a single view
    # (an anchor without a positive: it counts only as a negative).
    angles = [0.0, 0.3, 1.6, 2.2, 3.1, 3.0, 1.0]
    items = [0, 0, 1, 1, 2, 2, 3]
    embeddings = np.array([[np.cos(a), np.sin(a)] for a in angles], dtype=np.float32)
    got = batch_hard_triplet_loss(torch.tensor(embeddings), torch.tensor(items), margin=0.5)
    assert float(got) == pytest.approx(_reference_triplet(embeddings, items, 0.5), abs=1e-5)
    # By hand: four unit vectors at right angles, items {e0, e1} and {e2, e3} placed so every anchor's
    # farthest positive and nearest negative are both sqrt(2) away: each hinge is the margin.
    square = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [-1.0, 0.0]])
    assert float(batch_hard_triplet_loss(square, torch.tensor([0, 0, 1, 1]), 0.5)) == pytest.approx(0.5, abs=1e-6)
    # Well separated items give zero loss; no positives anywhere give zero, with a gradient graph.
    separated = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], requires_grad=True)
    assert float(batch_hard_triplet_loss(separated, torch.tensor([0, 0, 1, 1]), 0.5).detach()) == 0.0
    lonely = batch_hard_triplet_loss(separated, torch.tensor([0, 1, 2, 3]), 0.5)
    assert float(lonely.detach()) == 0.0 and lonely.requires_grad
    # Gradients are finite even with identical views (distance 0).
    batch_hard_triplet_loss(separated, torch.tensor([0, 0, 1, 1]), 3.0).backward()
    assert torch.isfinite(separated.grad).all()


def test_proxy_loss_is_normalised_softmax_over_category_proxies():
    torch.manual_seed(0)
    embeddings, proxies = F.normalize(torch.randn(5, 8), dim=1), torch.randn(3, 8)
    categories = torch.tensor([0, 2, 1, -1, 2])
    logits = embeddings @ F.normalize(proxies, dim=1).T / 0.05
    expected = F.cross_entropy(logits[categories >= 0], categories[categories >= 0])
    assert float(proxy_loss(embeddings, proxies, categories)) == pytest.approx(float(expected), rel=1e-5)


def test_fashion_loss_adds_the_weighted_metric_term():
    torch.manual_seed(0)
    logits, attributes = torch.randn(4, 3), torch.zeros(4, 0, dtype=torch.int8)
    categories, items = torch.tensor([0, 0, 1, 2]), torch.tensor([0, 0, 1, 1])
    embeddings = F.normalize(torch.randn(4, 8), dim=1)
    plain = FashionLoss(torch.zeros(0), 1.0, 0.0)(logits, torch.zeros(4, 0), categories, attributes)
    triplet = FashionLoss(torch.zeros(0), 1.0, 0.0, metric="triplet", metric_weight=2.0, triplet_margin=0.3)
    total = triplet(logits, torch.zeros(4, 0), categories, attributes, embeddings=embeddings, items=items)
    assert float(total) == pytest.approx(float(plain + 2.0 * batch_hard_triplet_loss(embeddings, items, 0.3)), rel=1e-5)


# ------------------------------------------------------------------ config and fallback


@pytest.mark.parametrize("override,key", [
    ("model.embedding=pca", "model.embedding"), ("model.embedding_dim=0", "model.embedding_dim"),
    ("model.embedding_dim=big", "model.embedding_dim"), ("train.metric_loss=arcface", "train.metric_loss"),
    ("train.metric_weight=-1", "train.metric_weight"), ("train.triplet_margin=0", "train.triplet_margin"),
    ("train.triplet_margin=5", "train.triplet_margin"), ("train.triplet_views=1", "train.triplet_views"),
])
def test_nonsense_metric_settings_are_config_errors_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides=[override])


def _frame(item_ids):
    return pd.DataFrame({"item_id": pd.Series(item_ids, dtype=object), "split": "train"})


@pytest.mark.parametrize("item_ids,why", [
    ([None] * 12, "no item ids"),
    ([f"i{n}" for n in range(12)], "only 0 training items have two or more views"),
    (["a", "a", "b", "b"] + [f"i{n}" for n in range(8)], "only 2 training items"),
])
def test_data_without_multi_view_items_falls_back_to_the_proxy_loss_and_says_so(item_ids, why):
    config = load_config(overrides=METRIC + ["train.batch_size=8", "train.triplet_views=2"])
    plan = plan_metric_loss(config, _frame(item_ids), num_categories=5)
    assert plan.loss == "proxy" and why in plan.message and "proxy loss" in plan.message
    good = plan_metric_loss(config, _frame([f"i{n // 2}" for n in range(12)]), num_categories=5)
    assert good.loss == "triplet" and good.items_per_batch == 4 and "4 items x 2 views" in good.message
    assert plan_metric_loss(load_config(), _frame(item_ids), 5).loss is None  # penultimate: no metric loss


def test_proxy_fallback_trains_end_to_end(tiny_sample, tmp_path, capsys):
    from fashion.data.load import load_training_data
    from fashion.train.loop import fit

    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + METRIC + [
        f"data.root={tiny_sample}", f"train.run_dir={tmp_path}", "train.run_name=proxy", "train.max_train_batches=1"])
    data = load_training_data(config)
    data = replace(data, frame=data.frame.assign(item_id=None))  # a dataset without item ids
    result = fit(config, data, show_progress=False)
    assert "no item ids" in capsys.readouterr().out
    saved = read_checkpoint(result.run_dir / "best.pt")
    assert saved["training"]["metric_loss"] == "proxy" and saved["model_args"]["metric_proxies"] == len(data.category_names)
    assert result.metrics["embedding"]["metric_loss"] == "proxy"


# -------------------------------------------------------------- end to end: train.py → engine


def test_metric_head_trains_through_train_py_and_the_engine_uses_it(tiny_sample, tmp_path):
    from fashion.index.catalog import load_catalog, read_manifest
    from fashion.recommend.engine import Engine

    result = run_cli(["train.py", "--no-progress", *overrides_args(TINY_SAMPLE + TINY_MODEL + METRIC + [
        f"data.root={tiny_sample}", f"train.run_dir={tmp_path}", "train.run_name=metric", "train.epochs=2",
        "train.max_train_batches=2"])])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stdout.count("batch-hard triplet loss") == 1 and "8 items x 2 views" in result.stdout
    run = tmp_path / "metric"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["embedding"]["kind"] == "metric" and metrics["embedding"]["metric_loss"] == "triplet"
    assert metrics["init"] == {"requested": "auto", "used": "none"}  # the sample: random init, offline
    history = pd.read_csv(run / "history.csv")
    assert history["train_metric_loss"].notna().all() and (history["train_metric_loss"] >= 0).all()
    saved = read_checkpoint(run / "best.pt")
    assert saved["model_args"]["embedding"] == "metric" and saved["model_args"]["embedding_dim"] == 16
    assert saved["training"]["init"]["used"] == "none"

    loaded = load_model(run / "best.pt", device="cpu")
    assert loaded.model.embedding_dim == 16 and loaded.model.embedding_head is not None
    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + ["catalog.workers=0", "colour.max_pixels=256"])
    engine = Engine.open(run / "best.pt", None, config, index_dir=tmp_path / "index", device="cpu",
                         progress=False, log=lambda message: None)
    catalog = load_catalog(tmp_path / "index")
    manifest = read_manifest(tmp_path / "index")
    assert manifest["embedding"] == "metric" and manifest["settings"]["embedding"] == "metric"
    assert catalog.embeddings.shape == (len(catalog), 16)
    np.testing.assert_allclose(np.linalg.norm(catalog.embeddings, axis=1), 1.0, atol=1e-4)
    # A query is embedded by the metric head too, and ranked against the metric rows.
    [query] = engine.describe([Path(catalog.items["path"].iloc[0])])
    assert query.embedding.shape == (16,) and np.linalg.norm(query.embedding) == pytest.approx(1.0, abs=1e-4)
    results = engine.recommend(query, top_k=3)
    assert results and all(-1.0 - 1e-4 <= r.scores["visual"] <= 1.0 + 1e-4 for r in results)


def test_catalog_fingerprint_changes_with_the_embedding(tmp_path):
    from fashion.index.builder import extraction_settings, fingerprint_of
    from fashion.model.checkpoint import LoadedModel

    config = load_config(overrides=["model.image_size=32"])
    prints = []
    for kind in ("penultimate", "metric"):
        model = FashionNet("resnet18", 3, 0, embedding=kind, embedding_dim=32)
        loaded = LoadedModel(model, object(), None, config, "same-checksum", torch.device("cpu"), {})
        settings = extraction_settings(loaded, config)
        assert settings["embedding"] == kind
        prints.append(fingerprint_of(settings))
    assert prints[0] != prints[1]


# ------------------------------------------------------------------- pretrained start


@pytest.fixture()
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_imagenet_weights_load_offline_from_a_torch_hub_cache(torch_home, monkeypatch):
    from torchvision import models

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    cached = imagenet_cache_path("resnet18")
    assert cached == torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    torch.manual_seed(5)
    state = models.resnet18(weights=None).state_dict()  # correctly shaped stand-in for the real file
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    assert resolve_weights("auto", "resnet18", builtin_sample=False) == ("imagenet", None)
    assert resolve_weights("auto", "resnet18", builtin_sample=True) == ("none", None)  # the demo stays offline
    model = FashionNet("resnet18", 3, 2, weights="imagenet")
    assert torch.equal(model.trunk.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.trunk.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_auto_weights_offline_fall_back_to_random_init_with_one_line(torch_home, monkeypatch):
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    used, note = resolve_weights("auto", "resnet18", builtin_sample=False)
    assert used == "none" and "\n" not in note and "random initialisation" in note and "resnet18-f37072fd.pth" in note
    assert resolve_weights("none", "resnet18", builtin_sample=False) == ("none", None)
    with pytest.raises(WeightsError, match="could not download"):  # asked for explicitly: an error
        FashionNet("resnet18", 3, 0, weights="imagenet")


# ------------------------------------------------------------------------- torchrun ranks


def test_each_rank_draws_its_own_random_stream():
    assert rank_seed(7, 0) == 7  # one process: unchanged
    seeds = {rank_seed(7, rank) for rank in range(4)} | {rank_seed(7, 1, step=10)}
    assert len(seeds) == 5 and all(0 <= s < 2**32 for s in seeds)
    draws = []
    for rank in range(2):
        seed_everything(rank_seed(7, rank))
        draws.append((torch.rand(3), np.random.rand()))
    assert not torch.equal(draws[0][0], draws[1][0]) and draws[0][1] != draws[1][1]


# ------------------------------------------------------------------------- the harder sample


def test_hard_sample_has_a_clean_shop_view_and_varied_consumer_views():
    from fashion.data.sample import plan_sample, render_view
    from fashion.data.sample.write import _settings

    item = plan_sample(3, seed=0)[1]
    easy = [np.asarray(render_view(item, view, 64, 0).image) for view in range(3)]
    hard = [render_view(item, view, 64, 0, hard=True) for view in range(3)]
    shop = np.asarray(hard[0].image)
    corners = np.concatenate([shop[:2, :2], shop[:2, -2:], shop[-2:, :2], shop[-2:, -2:]]).reshape(-1, 3)
    assert (corners >= 250).all()  # the shop photo: plain white background
    for view in (1, 2):  # consumer photos differ from the default sample's views of the item
        assert np.abs(np.asarray(hard[view].image).astype(int) - easy[view]).mean() > 5
        x1, y1, x2, y2 = hard[view].bbox
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
    # Same seed, same pictures; the default sample is unchanged by the hard mode's existence.
    assert np.array_equal(np.asarray(render_view(item, 1, 64, 0, hard=True).image), np.asarray(hard[1].image))
    assert _settings(1, 2, 64, 0)["generator_version"] >= 3 and "hard" not in _settings(1, 2, 64, 0)
    assert _settings(1, 2, 64, 0, hard=True)["hard"] is True
    assert load_config(overrides=["sample.hard=true"]).sample.hard
