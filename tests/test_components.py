"""Score components as a registry: the registry and ``Weights`` on their own, then a toy component
added inside a test (and removed after it) that is ranked, explained, stored in feedback and
served by the web API and the CLI without any other file knowing about it."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, TINY_MODEL, TINY_SAMPLE, overrides_args
from fashion.recommend.components import (
    ComponentError,
    ItemArrays,
    QueryArrays,
    component_names,
    components,
    default_weights,
    get_component,
    score_component,
    score_matrices,
    score_matrix,
    temporary_component,
    unregister,
)
from fashion.recommend.recommender import RecommendError, Weights, blend

BUILT_IN = ("visual", "category", "colour")


def items_of(n: int = 4, dim: int = 6, seed: int = 0) -> ItemArrays:
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, dim)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    probs = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    lab = np.zeros((n, 2, 3), np.float32)
    lab[:, 0] = [[50, 60, 40], [60, -40, 30], [30, 10, -50], [90, 0, 0]][:n]
    shares = np.tile(np.array([1.0, 0.0], np.float32), (n, 1))
    return ItemArrays(embeddings, probs, lab, shares)


def query_of(items: ItemArrays, row: int) -> QueryArrays:
    from fashion.colour.similarity import unpack_palette

    return QueryArrays(items.embeddings[row], items.category_probs[row], np.zeros(0),
                       unpack_palette(items.palette_lab[row], items.palette_shares[row]))


# ---------------------------------------------------------------------------------------------
# The registry and Weights


def test_the_built_in_components_in_order():
    assert component_names()[:3] == BUILT_IN
    assert default_weights() == {"visual": 0.6, "category": 0.25, "colour": 0.15}
    assert [c.label for c in components()] == ["Looks", "Category", "Colour"]
    assert all(c.describe for c in components())
    with pytest.raises(ComponentError, match="registered: visual, category, colour"):
        get_component("texture")


def test_built_in_scores_for_a_query_against_itself_and_others():
    items = items_of()
    matrix = score_matrix(query_of(items, 0), items)
    assert matrix.shape == (4, 3)
    np.testing.assert_allclose(matrix[0], [1.0, 1.0, 1.0], atol=1e-5)  # the item itself
    assert np.all(matrix[1:] < 1.0 - 1e-6) and np.all(matrix[:, 1:] >= 0) and np.all(matrix[:, 1:] <= 1)
    stacked = score_matrices([query_of(items, 0), query_of(items, 2)], items)
    assert stacked.shape == (3, 2, 4)
    np.testing.assert_allclose(stacked[:, 0, :], matrix.T)
    precomputed = score_matrix(query_of(items, 0), items, precomputed={"visual": np.full(4, 0.5)})
    np.testing.assert_allclose(precomputed[:, 0], 0.5)
    np.testing.assert_allclose(precomputed[:, 1:], matrix[:, 1:])
    no_palette = QueryArrays(items.embeddings[0], items.category_probs[0], np.zeros(0), None)
    np.testing.assert_allclose(score_matrix(no_palette, items, ["colour"])[:, 0], 0.0)


def test_registering_checks_names_and_weights_and_unregisters():
    with pytest.raises(ComponentError, match="already registered"):
        score_component("colour", default_weight=0.1, describe="twice")(lambda q, i: np.zeros(len(i)))
    for bad in ("Texture", "two words", "", "x" * 40):
        with pytest.raises(ComponentError, match="lower-case"):
            score_component(bad, default_weight=0.1, describe="bad name")(lambda q, i: np.zeros(len(i)))
    with pytest.raises(ComponentError, match="default_weight"):
        score_component("negative", default_weight=-1, describe="")(lambda q, i: np.zeros(len(i)))
    with temporary_component("wrong", lambda q, i: np.zeros(len(i) + 1), default_weight=0.0) as wrong:
        with pytest.raises(ComponentError, match="returned 5 scores for 4 items"):
            wrong.score(query_of(items_of(), 0), items_of())
    assert component_names() == BUILT_IN
    unregister("never-registered")  # harmless


def test_weights_are_a_mapping_checked_against_the_registry():
    weights = Weights(visual=2, colour=1)
    assert dict(weights) == {"visual": 2.0, "category": 0.0, "colour": 1.0} and list(weights) == list(BUILT_IN)
    assert Weights(2, 0, 1) == weights and hash(Weights(2, 0, 1)) == hash(weights)
    assert weights.normalised().as_dict() == pytest.approx({"visual": 2 / 3, "category": 0.0, "colour": 1 / 3})
    np.testing.assert_allclose(blend(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), weights), [2 / 3, 1 / 3])
    with pytest.raises(RecommendError, match="unknown score component 'texture'; registered: visual, category, colour"):
        Weights(texture=1)
    for bad in ({"visual": -1}, {"visual": math.nan}, {"visual": math.inf}, {"visual": 0}):
        with pytest.raises(RecommendError, match="finite, non-negative and not all zero"):
            Weights(**bad)
    with pytest.raises(RecommendError, match="4 weights given"):
        Weights(1, 1, 1, 1)
    with pytest.raises(RecommendError, match="--weights needs 3 numbers"):
        Weights.parse("1,1", weights)
    assert Weights.parse("colour=0.5, visual=1", Weights(1, 1, 1)) == Weights(1, 1, 0.5)


def test_weights_from_the_configuration(tmp_path):
    from fashion.config import load_config

    config = load_config(overrides=["recommend.weights.colour=0.3"])
    assert Weights.from_config(config.recommend) == Weights(0.6, 0.25, 0.3)
    old_key = load_config(overrides=["recommend.weight_colour=0.4"])  # the flat keys of earlier releases
    assert Weights.from_config(old_key.recommend) == Weights(0.6, 0.25, 0.4)
    typo = load_config(overrides=["recommend.weights.colur=0.4"])
    with pytest.raises(RecommendError, match="recommend.weights: unknown score component 'colur'; registered"):
        Weights.from_config(typo.recommend)
    yaml_file = tmp_path / "config.yaml"
    yaml_file.write_text("recommend:\n  weights: {visual: 1}\n")
    # A component the file does not name weighs its registered default.
    assert Weights.from_config(load_config(yaml_file).recommend) == Weights(1, 0.25, 0.15)


# ---------------------------------------------------------------------------------------------
# A toy component, added by this test alone


def overrides(sample: Path) -> list[str]:
    return TINY_SAMPLE + TINY_MODEL + [f"data.root={sample}", "recommend.dedupe_items=false"]


@pytest.fixture(scope="module")
def engine(tiny_run, tiny_sample, tmp_path_factory):
    from fashion.config import load_config
    from fashion.recommend.engine import Engine

    config = load_config(overrides=overrides(tiny_sample) + ["feedback.min_events=2"])
    return Engine.open(tiny_run / "best.pt", config=config, index_dir=tmp_path_factory.mktemp("toy") / "catalog",
                       device="cpu", progress=False, log=lambda message: None)


@pytest.fixture
def photo(tiny_sample) -> Path:
    rows = (tiny_sample / "Eval" / "list_eval_partition.txt").read_text().split("\n")[2:]
    return tiny_sample / next(r.split()[0] for r in rows if r.split() and r.split()[1] == "train")


@pytest.fixture
def toy(engine, photo):
    """``reference``: 1 for one chosen catalog item (the one ranked last by default), 0 for the others."""
    query = engine.describe([photo])[0]
    last = engine.recommend(query, top_k=len(engine.catalog))[-1]
    reference = np.asarray(engine.catalog.embeddings[last.row])

    def reference_item(query, items: ItemArrays) -> np.ndarray:
        return np.all(np.asarray(items.embeddings) == reference, axis=1).astype(np.float64)

    with temporary_component("reference", reference_item, default_weight=0.5, label="Reference",
                             describe="1 for the reference item") as component:
        yield component, last
    assert "reference" not in component_names()


def test_a_toy_component_is_ranked_and_explained(engine, photo, toy):
    from fashion.recommend.explain import format_results

    _, last = toy
    query = engine.describe([photo])[0]
    weights = Weights.from_config(engine.config.recommend)
    assert weights["reference"] == 0.5  # its registered default: no configuration file names it
    results = engine.recommend(query, top_k=3, weights=Weights.parse("reference=10", weights))
    assert results[0].key == last.key and results[0].scores["reference"] == 1.0
    assert all(r.scores["reference"] == 0.0 for r in results[1:])
    assert list(results[0].scores) == ["total", *BUILT_IN, "reference"]
    assert results[0].to_dict()["weights"]["reference"] == pytest.approx(10 / 11, abs=1e-4)
    text = format_results(results, engine.describe_catalog(), results[0].weights, {})
    assert "·reference" in text and "reference" in text.splitlines()[1]


def test_a_toy_component_is_stored_in_feedback_and_refitted(engine, photo, toy, tmp_path):
    from dataclasses import replace

    from fashion.feedback.session import FeedbackSession

    config = engine.config.replace(feedback=replace(engine.config.feedback, filename=str(tmp_path / "fb.sqlite")))
    session = FeedbackSession.open(replace(engine, config=config))
    query = engine.describe([photo])[0]
    keys = [r.key for r in engine.recommend(query, top_k=4)]
    weights = Weights.from_config(engine.config.recommend)
    assert session.record(query, weights, likes=keys[:2], dislikes=keys[2:4]) == 4
    events = session.store.event_list()
    assert all(set(e.scores) == {*BUILT_IN, "reference"} for e in events)
    assert events[0].weights["reference"] == pytest.approx(0.5 / 1.5)
    learned = session.store.load_weights(session.catalog_key)
    assert learned is not None and set(learned.weights) == {*BUILT_IN, "reference"}
    _, used, _ = session.adapt(query, None)
    assert used["reference"] == pytest.approx(learned.weights["reference"])
    session.store.close()


def test_a_toy_component_is_served_by_the_web_api(engine, photo, toy, tmp_path):
    from fastapi.testclient import TestClient

    from fashion.feedback.store import FeedbackStore
    from fashion.web.app import create_app

    _, last = toy
    store = tmp_path / "feedback.sqlite"
    with TestClient(create_app(engine, engine.config, feedback_store=store)) as client:
        listed = client.get("/components").json()["components"]
        assert [c["name"] for c in listed] == [*BUILT_IN, "reference"]
        assert listed[-1] == {"name": "reference", "label": "Reference", "describe": "1 for the reference item",
                              "default_weight": 0.5, "weight": 0.5}
        assert client.get("/health").json()["defaults"]["weights"]["reference"] == 0.5
        answer = client.post("/recommend", files={"image": ("p.jpg", photo.read_bytes(), "image/jpeg")},
                             data={"w_reference": "10", "top_k": "3"})
        assert answer.status_code == 200, answer.text
        payload = answer.json()
        assert payload["weights"]["reference"] == pytest.approx(10 / 11, abs=1e-4)
        results = payload["queries"][0]["results"]
        assert results[0]["key"] == last.key and results[0]["score"]["reference"] == 1.0
        by_text = client.post("/recommend", data={"query_id": payload["queries"][0]["query_id"],
                                                  "weights": "reference=10", "top_k": "3"}).json()
        assert by_text["queries"][0]["results"] == results
        unknown = client.post("/recommend", data={"query_id": payload["queries"][0]["query_id"], "w_texture": "1"})
        assert unknown.status_code == 422 and "registered: visual, category, colour, reference" in unknown.json()["error"]
        vote = client.post("/feedback", json={"query_id": payload["queries"][0]["query_id"], "item": last.key,
                                              "label": "like", "weights": {"reference": 10}})
        assert vote.status_code == 200, vote.text
        assert vote.json()["score"]["reference"] == 1.0
        page = client.get("/static/app.js").text
        assert "/components" in page and "reference" not in page  # sliders come from the API
    with FeedbackStore(store) as opened:
        [event] = opened.event_list()
    assert event.scores["reference"] == 1.0 and event.weights["reference"] == pytest.approx(10 / 11)


def test_a_toy_component_on_the_command_line(engine, photo, toy, tiny_run, tiny_sample, tmp_path):
    from typer.testing import CliRunner

    _, last = toy
    spec = importlib.util.spec_from_file_location("recommend_cli_for_components", ROOT / "recommend.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = [str(photo), "--no-progress", "--checkpoint", str(tiny_run / "best.pt"), "--index-dir",
            str(tmp_path / "catalog"), "--top-k", "2", "--weights", "reference=10",
            *overrides_args(overrides(tiny_sample) + ["feedback.enabled=false"])]
    result = CliRunner().invoke(module.app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    [first, _] = json.loads(result.stdout)["queries"][0]["results"]
    assert first["key"] == last.key and first["score"]["reference"] == 1.0
    table = CliRunner().invoke(module.app, args)
    assert table.exit_code == 0, table.output
    assert "·reference" in table.stdout
