"""Search by words (fashion.recommend.words): reading words, ranking a hand-made catalog, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from fashion.colour.names import colour_families
from fashion.colour.palette import Palette
from fashion.colour.spaces import rgb_to_lab
from fashion.config import load_config
from fashion.index.catalog import Catalog
from fashion.model.labels import Labels
from fashion.recommend.recommender import Filters, Query, Recommender
from fashion.recommend.words import (
    Vocabulary,
    WordsError,
    colour_term_scores,
    explain_rows,
    refine_photo_query,
    search,
)

LABELS = Labels(["Tee", "Jeans", "Dress", "Skirt", "Button-Down"], [1, 2, 3, 2, 1],
                ["striped", "midi", "polka dot", "long-sleeve", "denim"], [1, 3, 1, 4, 2])
SMALL = Labels(["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt"],
               [0] * 10, [], [])
RED, BLUE, WHITE, NAVY = (210, 20, 30), (30, 60, 220), (250, 250, 250), (0, 0, 128)


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(LABELS)


def kinds(words) -> list[tuple[str, str]]:
    return [(t.kind, t.target) for t in words.terms]


# ----------------------------------------------------------------------------- reading words


def test_words_become_a_structured_query(vocabulary):
    words = vocabulary.parse("Red striped MIDI dresses, please")
    assert kinds(words) == [("colour", "red"), ("attribute", "striped"), ("attribute", "midi"), ("category", "Dress")]
    assert words.unknown == [] and words.ignored == ["please"]
    assert words.of_kind("colour")[0].family
    assert words.of_kind("attribute")[0].detail == "texture attribute"
    assert words.category_ids == (2,)


@pytest.mark.parametrize("text, expected", [
    ("light blue", [("colour", "lightblue")]),
    ("lightblue", [("colour", "lightblue")]),
    ("polka-dot", [("attribute", "polka dot")]),
    ("long sleeve", [("attribute", "long-sleeve")]),
    ("button down", [("category", "Button-Down")]),
    ("gray", [("colour", "grey")]),
    ("navy", [("colour", "navy")]),
    ("burgundy", [("colour", "maroon")]),
    ("tees", [("category", "Tee")]),
])
def test_phrases_spellings_and_plurals(vocabulary, text, expected):
    assert kinds(vocabulary.parse(text)) == expected


def test_synonyms_resolve_to_the_models_own_categories(vocabulary):
    small = Vocabulary(SMALL)
    assert kinds(small.parse("tee")) == [("category", "t-shirt")]
    assert kinds(vocabulary.parse("t-shirt")) == [("category", "Tee")]
    assert kinds(small.parse("jeans")) == [("category", "pants")]
    assert kinds(vocabulary.parse("jeans")) == [("category", "Jeans")]  # an exact name means only itself
    assert vocabulary.parse("trousers").category_ids == (1,)  # Jeans is the only trousers this model knows
    assert kinds(small.parse("sneakers")) == [("category", "shoes")]
    assert vocabulary.parse("trousers").terms[0].detail == "synonym"


def test_a_typo_is_read_as_the_close_name_and_said(vocabulary):
    words = vocabulary.parse("stripd dres")
    assert kinds(words) == [("attribute", "striped"), ("category", "Dress")]
    assert all(t.corrected for t in words.terms)
    assert "did you mean 'striped'" in words.notes()[0]


def test_unknown_words_are_reported_with_suggestions(vocabulary):
    words = vocabulary.parse("bleu xyzzy skirt")
    assert kinds(words) == [("category", "Skirt")]
    assert [u["word"] for u in words.unknown] == ["bleu", "xyzzy"]
    assert "blue" in words.unknown[0]["suggestions"] and words.unknown[1]["suggestions"] == []
    assert "unknown word 'bleu' (did you mean blue" in words.unknown_message()
    assert any("not used" in note for note in words.notes())


@pytest.mark.parametrize("text, message", [
    ("", "empty search"),
    ("   ", "empty search"),
    ("xyzzy qwop", "unknown word 'xyzzy'"),
    ("the a with", "only common words"),
    ("\x00", "no words, only symbols"),  # said "only common words ()"
    ("👗 !!", "no words, only symbols"),
])
def test_nothing_searchable_is_a_clear_error(vocabulary, text, message):
    with pytest.raises(WordsError, match=message):
        vocabulary.parse(text).require_terms()


# ----------------------------------------------------------------------------- ranking a catalog


def _catalog(rows: list[tuple[str, list[tuple[int, int, int]], list[float], dict[int, float]]]) -> Catalog:
    """rows: (category, colours, shares, {attribute: probability})."""
    n, k, t = len(rows), 3, 3
    lab = np.zeros((n, k, 3), np.float32)
    rgb = np.zeros((n, k, 3), np.uint8)
    shares = np.zeros((n, k), np.float32)
    probs = np.full((n, len(LABELS.category_names)), 0.05, np.float32)
    attr_index = np.zeros((n, t), np.int32)
    attr_probs = np.zeros((n, t), np.float16)
    for row, (category, colours, weights, attributes) in enumerate(rows):
        rgb[row, :len(colours)] = colours
        lab[row, :len(colours)] = rgb_to_lab(np.array(colours, np.uint8))
        shares[row, :len(colours)] = weights
        probs[row, LABELS.category_names.index(category)] = 0.8
        for slot, (attribute, p) in enumerate(attributes.items()):
            attr_index[row, slot], attr_probs[row, slot] = attribute, p
    embeddings = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    items = pd.DataFrame({"key": [f"img/{i}.jpg" for i in range(n)], "path": [f"/x/{i}.jpg" for i in range(n)],
                          "label": [""] * n, "item_id": [f"item{i}" for i in range(n)],
                          "name": [f"item {i}" for i in range(n)]})
    return Catalog(Path("/tmp/none"), Path("/tmp/none/v"), {"model_checksum": "x"}, items, embeddings,
                   probs, attr_index, attr_probs, lab, rgb, shares)


ROWS = [
    ("Dress", [BLUE], [1.0], {1: 0.9}),                      # 0 blue midi dress
    ("Dress", [RED], [1.0], {0: 0.2}),                       # 1 red dress
    ("Skirt", [RED], [1.0], {0: 0.9}),                       # 2 red striped skirt
    ("Dress", [RED, WHITE], [0.6, 0.4], {0: 0.9, 1: 0.8}),   # 3 red striped midi dress
    ("Tee", [WHITE], [1.0], {}),                             # 4 white tee
    ("Dress", [NAVY], [1.0], {}),                            # 5 navy dress
    ("Jeans", [BLUE, WHITE], [0.5, 0.5], {4: 0.9}),           # 6 blue denim jeans
]


@pytest.fixture()
def recommender() -> Recommender:
    """Colour families by the rules (the share of the palette), whose arithmetic these tests check;
    the learned model (the default) has its own test below."""
    config = load_config(overrides=["colour.family_model=rules"])
    return Recommender(_catalog(ROWS), LABELS, config.recommend, config.colour)


def rows_of(results) -> list[int]:
    return [r.result.row for r in results]


def test_red_dress_returns_red_dresses_first(recommender, vocabulary):
    results = search(recommender, vocabulary.parse("red dress"), top_k=3)
    assert rows_of(results)[:2] == [1, 3]  # all-red dress, then the 60%-red dress
    first = results[0]
    assert first.result.scores["category"] == pytest.approx(0.8, abs=1e-6)
    assert first.result.scores["red"] == pytest.approx(1.0)
    assert first.result.scores["total"] == pytest.approx(0.9, abs=1e-6)
    assert first.matched == ["Dress 80%", "red: 100% of the garment"]


def test_the_learned_family_model_ranks_colour_words_by_probability(vocabulary):
    """The default: the probability that a person names the garment red (the shipped model)."""
    config = load_config()
    assert config.colour.family_model == "builtin"
    learned = Recommender(_catalog(ROWS), LABELS, config.recommend, config.colour)
    results = search(learned, vocabulary.parse("red dress"), top_k=3)
    assert rows_of(results)[:2] == [1, 3]  # all-red dress, then the 60%-red dress
    red = [r.result.scores["red"] for r in results[:2]]
    assert 1.0 >= red[0] > red[1] > 0.0
    assert results[0].matched == ["Dress 80%", f"red: {red[0]:.0%} likely"]
    white = search(learned, vocabulary.parse("white"), top_k=1)
    assert rows_of(white) == [4]  # the all-white tee


def test_the_catalog_s_family_network_output_joins_the_ranking(vocabulary):
    """Where the catalog stores the colour family network's probabilities (product shots), colour
    words average them with the palette model's, by the weight the manifest records."""
    from dataclasses import replace

    from fashion.colour.family_model import MODEL_CLASSES

    config = load_config()
    catalog = _catalog(ROWS)
    net = np.zeros((len(ROWS), len(MODEL_CLASSES)), np.float32)
    net[5, MODEL_CLASSES.index("blue")] = 1.0  # the navy dress: the network saw blue
    net[0, MODEL_CLASSES.index("black")] = 1.0  # the blue dress: the network saw black
    with_net = replace(catalog, family_net_probs=net, manifest={**catalog.manifest, "family_net_palette_weight": 0.25})
    plain = Recommender(catalog, LABELS, config.recommend, config.colour)
    blended = Recommender(with_net, LABELS, config.recommend, config.colour)
    assert plain.family_net_weight is None and blended.family_net_weight == 0.25
    before = {r.result.row: r.result.scores["blue"] for r in search(plain, vocabulary.parse("blue"), top_k=7)}
    after = {r.result.row: r.result.scores["blue"] for r in search(blended, vocabulary.parse("blue"), top_k=7)}
    assert after[5] == pytest.approx(0.25 * before[5] + 0.75, abs=1e-6)
    assert after[0] == pytest.approx(0.25 * before[0], abs=1e-6)
    assert after[6] == pytest.approx(before[6])  # a row of zeros: the palette model alone
    assert rows_of(search(blended, vocabulary.parse("blue"), top_k=1)) == [5]
    # A manifest without a usable weight (none recorded, or out of range): the palette model alone.
    for weight in (None, 1.5, True):
        odd = replace(with_net, manifest={**catalog.manifest, "family_net_palette_weight": weight})
        assert Recommender(odd, LABELS, config.recommend, config.colour).family_net_weight is None


def test_every_word_counts(recommender, vocabulary):
    results = search(recommender, vocabulary.parse("red striped midi dress"), top_k=2)
    assert rows_of(results)[0] == 3
    assert results[0].result.shared_attributes == [{"name": "striped", "type": "texture"},
                                                   {"name": "midi", "type": "shape"}]
    assert "striped 90% (texture)" in results[0].matched


def test_named_colour_ranks_by_closeness(recommender, vocabulary):
    results = search(recommender, vocabulary.parse("navy"), top_k=2)
    assert rows_of(results)[0] == 5
    assert results[0].result.delta_e == pytest.approx(0.0, abs=0.5)


def test_filters_and_exclusions_apply(recommender, vocabulary):
    results = search(recommender, vocabulary.parse("red"), top_k=5, filters=Filters(category="Skirt"))
    assert rows_of(results) == [2]
    results = search(recommender, vocabulary.parse("red dress"), top_k=1, exclude=["img/1.jpg"])
    assert rows_of(results) == [3]


def test_colour_family_score_is_the_share_of_that_family():
    words = Vocabulary(LABELS).parse("white")
    catalog = _catalog(ROWS)
    scores = colour_term_scores(words.terms[0], catalog.palette_lab, catalog.palette_shares)
    assert scores == pytest.approx([0, 0, 0, 0.4, 1.0, 0, 0.5], abs=1e-6)


def test_among_wholly_grey_garments_the_more_neutral_ranks_first():
    """Ties at 100% grey were broken by catalog order; the neutral grey now leads the greyish lilac,
    while the share stays the main order (a half-grey garment stays below both)."""
    grey, lilac_grey, half = (128, 128, 128), (132, 128, 137), (125, 125, 125)
    lab = rgb_to_lab(np.array([[lilac_grey, lilac_grey], [grey, grey], [half, (200, 30, 30)]], np.uint8))
    shares = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    term = Vocabulary(LABELS).parse("grey").terms[0]
    assert list(colour_families(lab[:, 0])) == ["grey", "grey", "grey"]  # all three grey by the family rules
    scores = colour_term_scores(term, lab, shares)
    assert scores[1] == pytest.approx(1.0, abs=1e-3)
    assert scores[1] > scores[0] > 0.9 > scores[2]
    assert list(np.argsort(-scores)) == [1, 0, 2]


def test_words_refine_a_photo_query(recommender, vocabulary):
    """'like this, but in blue': a red dress photo + "blue" ranks blue items first."""
    probs = np.zeros(5, np.float32)
    probs[2] = 1.0
    photo = Query("q.jpg", "0" * 64, np.asarray(recommender.catalog.embeddings[1]), probs, np.zeros(5, np.float32),
                  Palette.from_rgb([RED]))
    query, allowed, bonus = refine_photo_query(recommender, photo, vocabulary.parse("blue"), top_k=1)
    assert query.palette.families == ["blue"]
    assert bonus["img/0.jpg"] == pytest.approx(0.5) and bonus["img/1.jpg"] == 0.0
    excluded = [key for key, ok in zip(recommender.keys, allowed) if not ok]
    results = recommender.recommend(query, top_k=2, exclude=excluded, adjustments=bonus)
    assert results[0].row == 0  # the blue dress: same category as the photo, and blue
    assert all(recommender.catalog.palette_rgb[r.row][0][2] > 100 for r in results)  # blue items only
    assert explain_rows(recommender, vocabulary.parse("blue"), [0]) == [["blue: 100% of the garment"]]


def test_words_module_never_imports_torch():
    import ast

    import fashion.recommend.words as module

    tree = ast.parse(Path(module.__file__).read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(n == "torch" or n.startswith("torch.") for n in names)
    assert "fashion.recommend.engine" not in names and "fashion.model.checkpoint" not in names


# ----------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("words-index") / "catalog"


def test_cli_query_prints_an_explained_table_and_json(tiny_run, index_dir):
    base = ["recommend.py", "--no-progress", "--checkpoint", str(tiny_run / "best.pt"), "--index-dir", str(index_dir)]
    result = run_cli([*base, "--query", "red striped dress", "--json", "--top-k", "3"])
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [t["target"] for t in payload["words"]["terms"]] == ["red", "striped", "Dress"]
    assert 1 <= len(payload["results"]) <= 3  # the tiny sample's test split holds few items
    totals = [r["score"]["total"] for r in payload["results"]]
    assert totals == sorted(totals, reverse=True)
    assert set(payload["results"][0]["score"]) == {"total", "category", "striped", "red"}
    assert payload["results"][0]["matched"][0].startswith("Dress ")
    table = run_cli([*base, "--query", "red strped dress xyzzy"])
    assert table.returncode == 0, table.stderr
    assert "matched 'strped' → striped" in table.stdout and "did you mean 'striped'" in table.stdout
    assert "unknown word 'xyzzy'" in table.stdout and "unknown word 'xyzzy'" in table.stderr
    assert "score = mean of the matched parts" in table.stdout


@pytest.mark.parametrize("text, message", [("", "empty search"), ("xyzzy", "unknown word 'xyzzy'")])
def test_cli_query_without_usable_words_fails_clearly(tiny_run, index_dir, text, message):
    result = run_cli(["recommend.py", "--no-progress", "--checkpoint", str(tiny_run / "best.pt"),
                      "--index-dir", str(index_dir), "--query", text])
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_photo_plus_words(tiny_run, tiny_sample, index_dir):
    photo = next((tiny_sample / "img").rglob("*.jpg"))
    result = run_cli(["recommend.py", str(photo), "--no-progress", "--checkpoint", str(tiny_run / "best.pt"),
                      "--index-dir", str(index_dir), "--query", "blue", "--json", "--top-k", "3"])
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["words"]["terms"][0]["target"] == "blue"
    results = payload["queries"][0]["results"]
    assert results and all(r["matched"][0].startswith("blue: ") for r in results)
    assert payload["queries"][0]["query"]["colours"][0]["family"] == "blue"  # the words' colour replaced the photo's
