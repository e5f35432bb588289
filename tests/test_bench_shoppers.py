"""The shopper simulation on a catalog (bench/bench_feedback.py), on a hand-made catalog: fast, values asserted."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_feedback import (
    CatalogCase,
    FeedbackPool,
    Taste,
    draw_tastes,
    item_identities,
    simulate_catalog,
    simulate_catalog_shopper,
    word_precision,
)
from fashion.config import load_config
from fashion.recommend.recommender import Recommender
from test_words import BLUE, LABELS, RED, WHITE, _catalog

# 12 items: dresses and skirts in red, blue and white (two of each).
ROWS = [(category, [colour], [1.0], {}) for category in ("Dress", "Skirt") for colour in (RED, BLUE, WHITE)] * 2


@pytest.fixture(scope="module")
def case() -> CatalogCase:
    config = load_config(overrides=["recommend.dedupe_items=false"])
    recommender = Recommender(_catalog(ROWS), LABELS, config.recommend, config.colour)
    category = np.array([row[0] for row in ROWS], dtype=object)
    family = np.array(["red", "blue", "white"] * 4, dtype=object)
    return CatalogCase("hand-made", "none.pt", recommender, config, category, family, None, None)


def test_draw_tastes_only_targets_with_enough_items(case):
    rng = np.random.default_rng(0)
    tastes = draw_tastes(case, "category", 5, rng, min_items=6)
    assert {t.describe for t in tastes} <= {"Dress", "Skirt"} and all(t.fits.sum() == 6 for t in tastes)
    assert draw_tastes(case, "colour", 3, rng, min_items=5) == []  # 4 items of each colour
    pairs = draw_tastes(case, "category+colour", 4, rng, min_items=4)
    assert all(t.fits.sum() == 2 for t in pairs)
    noise = draw_tastes(case, "noise", 2, rng)
    assert [t.kind for t in noise] == ["noise", "noise"]


def test_a_shopper_gets_one_precision_per_round(case):
    taste = Taste("colour", case.family == "red", "red")
    none = simulate_catalog_shopper(case, taste, 0, "none", np.random.default_rng(0), rounds=5, k=3)
    assert len(none) == 6 and len(set(none)) == 1 and 0.0 <= none[0] <= 1.0
    pool = FeedbackPool()
    everything = simulate_catalog_shopper(case, taste, 0, "all", np.random.default_rng(0), pool, rounds=5, k=3)
    assert len(everything) == 6 and everything[0] == none[0]  # round 0: no feedback yet
    assert len(pool.labels) >= 3 and set(pool.labels) <= {-1, 1}
    assert np.array(pool.scores).shape[1] == 3  # one score per registered component
    assert sum(pool.likes.values()) == sum(label > 0 for label in pool.labels)
    # The session refinement alone: disliked items leave the list, items like the liked ones come in.
    session = simulate_catalog_shopper(case, taste, 0, "session", np.random.default_rng(0), rounds=5, k=3)
    assert session[0] == none[0] and session[-1] == 1.0 > none[-1]


@pytest.mark.parametrize("kind", ["noise", "noise likes"])
def test_noise_shoppers_judge_at_random_and_only_one_dislikes(case, kind):
    [taste] = draw_tastes(case, kind, 1, np.random.default_rng(0))
    pool = FeedbackPool()
    simulate_catalog_shopper(case, taste, 0, "all", np.random.default_rng(3), pool, rounds=4, k=3)
    assert 1 in pool.labels  # some likes, at random
    if kind == "noise":
        assert -1 in pool.labels  # the rest disliked (hidden from then on)
    else:
        assert set(pool.labels) == {1} and not pool.dislikes  # the rest left unjudged


def test_simulate_catalog_covers_every_taste_and_mode(case):
    results = simulate_catalog(case, shoppers=2, rounds=2, k=3)
    assert set(results) == {"category", "colour", "category+colour", "noise", "noise likes"}
    for modes in results.values():
        assert set(modes) == {"none", "session", "weights", "all"}
        assert all(values.shape in {(2, 3), (0,)} for values in modes.values())


def test_table_says_when_a_taste_has_no_target(case):
    from bench.bench_feedback import shopper_table

    results = {"colour": {"none": np.zeros((0,))}, "category": {"none": np.full((2, 3), 0.5)}}
    table = shopper_table(results)
    assert "no target with enough items" in table and "| category | none | 0.500 | 0.500 | 0.500 |" in table


def test_word_precision_against_labels(case):
    precision, n, items = word_precision(case, "red", case.family == "red", k=10)
    assert (precision, n, items) == (1.0, 4, 4)
    precision, n, items = word_precision(case, "dress", case.category == "Dress", k=4)
    assert (precision, n, items) == (1.0, 4, 6)
    assert len(set(item_identities(case.recommender))) == 12


def test_colour_words_are_scored_against_judged_families(case):
    """The judged truth, not the palette: families with fewer than k judged items are listed but not
    targets, a result nobody judged counts as a miss, and a wrong truth lowers the precision."""
    from bench.bench_feedback import judged_colour_lines
    from bench.judged_colours import judged_key

    paths = case.recommender.catalog.items["path"]
    truth = {judged_key(path): family for path, family in zip(paths, case.family)}
    lines, values = judged_colour_lines(case, truth, k=4)
    assert values == {"blue": 1.0, "red": 1.0, "white": 1.0}  # 4 items each
    _, values = judged_colour_lines(case, truth, k=5)
    assert values == {}  # no family has 5 judged items: no target
    assert any(line.startswith("| red | 1.00 | 4 | 4 |") for line in lines)
    blue_rows = [judged_key(path) for path, family in zip(paths, case.family) if family == "blue"]
    mixed = {**truth, blue_rows[0]: "multi"}
    del mixed[blue_rows[1]]  # one blue item not judged: a miss, and named
    lines, values = judged_colour_lines(case, mixed, k=2)
    # Two blue items judged blue are left, but the search's top 2 (equal palettes: catalog order) are
    # the one judged multi and the one not judged.
    assert values["red"] == 1.0 and values["blue"] == 0.0
    assert any(blue_rows[1] in line for line in lines if line.startswith("| blue"))


def test_judged_colour_file_loads_and_matches_the_dataset(tmp_path):
    from bench.common import SHARED_DATA
    from bench.judged_colours import load_judged_colours
    from fashion.colour.names import COLOUR_FAMILIES

    assert load_judged_colours(tmp_path) is None  # no judged file for an unknown dataset
    judged = load_judged_colours(SHARED_DATA)
    assert len(judged) == 3781 and set(judged.values()) <= set(COLOUR_FAMILIES) | {"multi"}
    assert {key.split("/")[0] for key in judged} == {"train", "validation", "test"}
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    on_disk = {f"{p.parent.parent.name}/{p.parent.name}/{p.name}" for split in ("train", "validation", "test")
               for p in (SHARED_DATA / split).glob("*/*") if p.is_file()}
    assert set(judged) == on_disk  # every photo judged, once


def test_judged_photo_section_skips_without_the_data(monkeypatch, tmp_path):
    import bench.common
    from bench.bench_colour import judged_photo_section

    monkeypatch.setattr(bench.common, "SHARED_DATA", tmp_path / "clothing-dataset-small")
    assert "skipped" in judged_photo_section(quick=True)
