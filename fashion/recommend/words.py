"""Search by words: ``"red striped midi dress"`` → a structured query → the catalog ranked by it.

Words are read against the model's own vocabularies only (nothing is learned here):

* **categories**: the model's category names (``Dress``, ``Tee``; ``t-shirt`` for a model trained
  on clothing-dataset-small), plus :data:`CATEGORY_SYNONYMS` (``tee`` → Tee or t-shirt,
  ``trousers`` → pants / Chinos / Jeans ...), of which only the names the model knows are used;
* **attributes**: the model's attribute names, with their type (texture, fabric, shape, part,
  style): ``striped``, ``midi``, ``polka dot``;
* **colours**: the eleven colour families (``red``, ``grey`` ...: the ``--colour`` filter's
  families) and the 148 CSS4 colour names (``navy``, ``light blue``), plus a few everyday names
  in :data:`COLOUR_SYNONYMS` (``burgundy`` → maroon).

Reading (:meth:`Vocabulary.parse`): the text is lower-cased and split into words (``-``, ``_``
and punctuation separate words); at each position the longest run of up to
:data:`MAX_PHRASE_WORDS` words that names something wins, written with or without spaces
(``light blue`` = ``lightblue``, ``t shirt`` = ``t-shirt`` = ``tshirt``), also with a plural
``s``/``es`` dropped (``dresses``). An exact category name wins over an attribute of the same
name, which wins over a colour, which wins over a synonym. A word that names nothing is matched
fuzzily (:mod:`difflib`): a close match (similarity >= :data:`AUTOCORRECT_CUTOFF`) is used and
reported as ``"stripd" read as "striped"``; otherwise the word is reported as unknown with the
closest names as "did you mean". Common words (:data:`STOP_WORDS`: "a", "with", "but" ...) are
reported as ignored. No word is dropped silently.

Ranking (:func:`score_catalog`), from what the catalog index stores per item (no network):

* categories (all category words together, so ``dress skirt`` means either): the item's predicted
  probability of those categories, summed;
* each attribute word: the item's stored probability of that attribute (0 when it is not among
  the item's ``catalog.top_attributes`` most likely ones);
* each colour word: for a family, the probability that a person names the garment's main colour
  so, from its palette (:mod:`fashion.colour.family_model`, learned from photos judged by eye;
  ``colour.family_model``), or with ``colour.family_model=rules`` the share of the palette whose
  colours the rules name that family (:func:`fashion.colour.names.colour_families`); for a named
  colour, the palette's share-weighted closeness ``exp(-CIEDE2000 / 12)`` to it.

The item's score is the mean of those parts (each in [0, 1]); ties go to the lower catalog row.
:func:`search` ranks the whole catalog by it (filters and one-item-per-product as in the
recommender); :func:`refine_photo_query` applies words to a photo query ("like this, but in
blue"). Numpy only: no torch here.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from fashion.colour.names import COLOUR_FAMILIES, CSS4_COLOURS
from fashion.data.datasets import ATTRIBUTE_TYPE_NAMES, CATEGORY_TYPE_NAMES
from fashion.model.labels import Labels
from fashion.recommend.recommender import Filters, Query, RecommendError, Result, dedupe_by_item

#: The longest phrase looked up (DeepFashion has attribute names of four words).
MAX_PHRASE_WORDS = 4
#: difflib similarity at which an unknown word is read as the close name (and reported as such).
AUTOCORRECT_CUTOFF = 0.8
#: difflib similarity of the names offered as "did you mean" for an unknown word.
SUGGEST_CUTOFF = 0.6
#: CIEDE2000 scale of a named colour's closeness kernel (as the palette similarity's sigma).
COLOUR_SIGMA = 12.0
#: Words that carry no search meaning; reported as ignored, never as unknown.
STOP_WORDS = frozenset("""
    a an the and or but with without in on of for to by from this that these those it its
    like similar same please show me find i want need some any something one ones kind look
    looking colour color coloured colored shade tone style item items piece pieces clothes
    clothing garment garments
""".split())

#: Everyday garment words → the category names they stand for. Only the names a model knows
#: are used (a DeepFashion model knows ``Tee``, a clothing-dataset-small model ``t-shirt``), and
#: a word that is itself one of the model's category names means that category only (``jeans``
#: is ``Jeans`` for a DeepFashion model and ``pants`` for clothing-dataset-small's). The lists
#: stay narrow: a word maps to garments a shopper would accept for it, not to everything near.
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    # tops
    "tee": ("Tee", "t-shirt"),
    "t shirt": ("Tee", "t-shirt"),
    "tshirt": ("Tee", "t-shirt"),
    "t-shirt": ("Tee", "t-shirt"),
    "tank top": ("Tank",),
    "vest": ("Tank",),
    "camisole": ("Tank",),
    "shirt": ("shirt", "Button-Down", "Flannel", "Blouse"),
    "button up": ("Button-Down", "shirt"),
    "polo": ("shirt", "Tee", "t-shirt"),
    "long sleeve": ("longsleeve",),
    "top": ("t-shirt", "shirt", "longsleeve"),  # a DeepFashion model has its own "Top"
    "blouse": ("Blouse", "shirt"),
    "sweater": ("Sweater", "longsleeve"),
    "jumper": ("Sweater", "longsleeve"),
    "pullover": ("Sweater", "longsleeve"),
    "sweatshirt": ("Hoodie", "Sweater", "longsleeve"),
    "hoody": ("Hoodie",),
    # outerwear
    "jacket": ("Jacket", "Blazer", "Bomber", "Anorak", "outwear"),
    "coat": ("Coat", "Peacoat", "Parka", "outwear"),
    "outerwear": ("outwear", "Jacket", "Coat", "Parka", "Anorak", "Bomber", "Peacoat", "Blazer"),
    "outwear": ("outwear", "Jacket", "Coat", "Parka", "Anorak", "Bomber", "Peacoat", "Blazer"),
    "parka": ("Parka", "outwear"),
    "anorak": ("Anorak", "outwear"),
    "blazer": ("Blazer", "outwear"),
    "raincoat": ("Anorak", "Parka", "outwear"),
    # bottoms
    "pants": ("pants", "Chinos", "Jeans", "Joggers", "Sweatpants"),
    "trousers": ("pants", "Chinos", "Jeans", "Joggers", "Sweatpants"),
    "slacks": ("pants", "Chinos"),
    "jeans": ("Jeans", "Jeggings", "pants"),
    "denims": ("Jeans", "pants"),
    "chinos": ("Chinos", "pants"),
    "khakis": ("Chinos", "pants"),
    "joggers": ("Joggers", "Sweatpants", "pants"),
    "sweatpants": ("Sweatpants", "Joggers", "pants"),
    "tracksuit bottoms": ("Sweatpants", "Joggers", "pants"),
    "leggings": ("Leggings", "Jeggings", "pants"),
    "capri": ("Capris", "pants"),
    "shorts": ("shorts", "Shorts", "Cutoffs", "Sweatshorts"),
    "miniskirt": ("Skirt", "skirt"),
    # full body
    "gown": ("Dress", "dress"),
    "frock": ("Dress", "dress"),
    "sundress": ("Sundress", "Dress", "dress"),
    "shirtdress": ("Shirtdress", "Dress", "dress"),
    "overalls": ("Jumpsuit",),
    "dungarees": ("Jumpsuit",),
    "playsuit": ("Romper",),
    "bathrobe": ("Robe",),
    "dressing gown": ("Robe",),
    "nightie": ("Nightdress",),
    "nightgown": ("Nightdress",),
    # other things clothing-dataset-small knows
    "shoe": ("shoes",),
    "sneakers": ("shoes",),
    "trainers": ("shoes",),
    "boots": ("shoes",),
    "sandals": ("shoes",),
    "heels": ("shoes",),
    "cap": ("hat",),
    "beanie": ("hat",),
}

#: Everyday colour words that are not CSS4 names → the CSS4 name they mean.
COLOUR_SYNONYMS: dict[str, str] = {
    "burgundy": "maroon", "wine": "maroon", "bordeaux": "maroon", "scarlet": "red",
    "cream": "ivory", "offwhite": "ivory", "off white": "ivory", "ecru": "linen",
    "camel": "tan", "mustard": "goldenrod", "rust": "sienna", "mint": "mediumaquamarine",
    "lilac": "plum", "mauve": "thistle", "fuchsia pink": "fuchsia", "charcoal": "darkslategrey",
    "nude": "peachpuff", "sand": "tan", "denim blue": "steelblue", "sky blue": "skyblue",
    "dark grey": "dimgrey", "dark gray": "dimgray", "light grey": "lightgrey",
}


class WordsError(RecommendError):
    """Words that cannot be searched (empty, or nothing recognised); the message says why."""


# ------------------------------------------------------------------------------ reading words


@dataclass(frozen=True)
class Term:
    """One thing a query's words were read as.

    ``kind``: "category" | "attribute" | "colour"; ``words``: the words as typed; ``target``:
    what they name ("Dress", "striped", "red"); ``ids``: category ids / the attribute id (empty
    for colours); ``detail``: how they were read ("category, full body", "texture attribute",
    "colour family", "CSS4 colour", "synonym of ..."); ``corrected``: read fuzzily (a typo).
    """

    kind: str
    words: str
    target: str
    ids: tuple[int, ...] = ()
    detail: str = ""
    corrected: bool = False
    family: bool = False  # colours: a family (red) rather than one CSS4 colour (navy)

    def describe(self) -> str:
        """``"striped" → striped (texture attribute)``, ``"stripd" → striped (read as; did you mean it?)``."""
        text = f"{self.words!r} → {self.target} ({self.detail})"
        return text + (f" [did you mean {self.target!r}? read as that]" if self.corrected else "")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "words": self.words, "target": self.target, "ids": list(self.ids),
                "detail": self.detail, "corrected": self.corrected}


@dataclass
class WordQuery:
    """Words read into terms, plus what was not used (unknown words with suggestions, ignored words)."""

    text: str
    terms: list[Term] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)  # {"word": w, "suggestions": [...]}
    ignored: list[str] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Term]:
        return [t for t in self.terms if t.kind == kind]

    @property
    def category_ids(self) -> tuple[int, ...]:
        """All categories named (the union of every category word's categories)."""
        ids: list[int] = []
        for term in self.of_kind("category"):
            ids += [i for i in term.ids if i not in ids]
        return tuple(ids)

    def unknown_message(self) -> str:
        """``unknown word 'xyz' (did you mean a, b?)`` for each unknown word, ``; ``-joined."""
        parts = []
        for entry in self.unknown:
            hint = f" (did you mean {', '.join(entry['suggestions'])}?)" if entry["suggestions"] else ""
            parts.append(f"unknown word {entry['word']!r}{hint}")
        return "; ".join(parts)

    def notes(self) -> list[str]:
        """Lines explaining the reading: what each term matched, then unknown and ignored words."""
        lines = [f"matched {t.describe()}" for t in self.terms]
        if self.unknown:
            lines.append(self.unknown_message() + " — not used")
        if self.ignored:
            lines.append(f"ignored common word(s): {', '.join(self.ignored)}")
        return lines

    def require_terms(self) -> "WordQuery":
        """Itself; a :class:`WordsError` when no word names anything searchable."""
        if not self.text.strip():
            raise WordsError("empty search: give words such as \"red striped dress\" (categories, attributes, "
                             "colours; list them with --categories / --attributes)")
        if not self.terms:
            what = (self.unknown_message()
                    or (f"only common words ({', '.join(self.ignored)})" if self.ignored
                        else "no words, only symbols or punctuation"))  # "\x00" or "👗" has no word
            raise WordsError(f"nothing to search for in {self.text!r}: {what}. Use category, attribute or colour "
                             "names (python recommend.py --categories / --attributes list them)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "terms": [t.to_dict() for t in self.terms], "unknown": self.unknown,
                "ignored": self.ignored}


def _words(text: str) -> list[str]:
    """Lower-case words; ``-``, ``_`` and punctuation separate them."""
    return re.findall(r"[^\W_]+", text.casefold())


def _key(text: str) -> str:
    return " ".join(_words(text))


class Vocabulary:
    """The phrases a model's labels (plus colours and synonyms) give, ready to read queries."""

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        # phrase key -> (priority, Term template); lower priority wins.
        self._table: dict[str, tuple[int, Term]] = {}
        categories = {_key(name): i for i, name in enumerate(labels.category_names)}
        for name, i in categories.items():
            kind = CATEGORY_TYPE_NAMES.get(labels.category_types[i], "") if i < len(labels.category_types) else ""
            self._add(name, 0, Term("category", "", labels.category_names[i], (i,),
                                    f"category{', ' + kind + ' body' if kind else ''}"))
        for i, name in enumerate(labels.attribute_names):
            kind = ATTRIBUTE_TYPE_NAMES.get(labels.attribute_types[i], "other") if i < len(labels.attribute_types) else "other"
            self._add(name, 1, Term("attribute", "", name, (i,), f"{kind} attribute"))
        for family in COLOUR_FAMILIES:
            self._add(family, 2, Term("colour", "", family, (), "colour family", family=True))
        self._add("gray", 2, Term("colour", "", "grey", (), "colour family", family=True))
        for name, _ in CSS4_COLOURS:
            self._add(name, 3, Term("colour", "", name, (), "CSS4 colour"))
        for word, names in CATEGORY_SYNONYMS.items():
            ids = tuple(dict.fromkeys(categories[_key(n)] for n in names if _key(n) in categories))
            if ids:
                targets = " / ".join(labels.category_names[i] for i in ids)
                self._add(word, 4, Term("category", "", targets, ids, "synonym"))
        for word, name in COLOUR_SYNONYMS.items():
            self._add(word, 5, Term("colour", "", name, (), "colour synonym"))
        self._fuzzy_keys = sorted({k for k in self._table if " " not in k and len(k) > 2})

    def _add(self, phrase: str, priority: int, term: Term) -> None:
        key = _key(phrase)
        if not key:
            return
        for variant in {key, key.replace(" ", "")}:
            held = self._table.get(variant)
            if held is None or priority < held[0]:
                self._table[variant] = (priority, term)

    def lookup(self, words: Sequence[str]) -> Term | None:
        """The term a run of words names (spaced or joined, or with a plural dropped), or None."""
        spaced, joined = " ".join(words), "".join(words)
        candidates = [spaced, joined]
        last = words[-1]
        for cut in ("es", "s"):
            if last.endswith(cut) and len(last) > len(cut) + 2:
                stem = list(words[:-1]) + [last[: -len(cut)]]
                candidates += [" ".join(stem), "".join(stem)]
        found = [self._table[c] for c in candidates if c in self._table]
        return min(found, key=lambda held: held[0])[1] if found else None

    def parse(self, text: str) -> WordQuery:
        """Read ``text`` (see the module docstring); never raises (see :meth:`WordQuery.require_terms`)."""
        words = _words(text or "")
        query = WordQuery(text=text or "")
        i = 0
        while i < len(words):
            for n in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
                term = self.lookup(words[i:i + n])
                if term is not None:
                    self._keep(query, dataclasses.replace(term, words=" ".join(words[i:i + n])))
                    i += n
                    break
            else:
                self._unmatched(query, words[i])
                i += 1
        return query

    @staticmethod
    def _keep(query: WordQuery, term: Term) -> None:
        same = [t for t in query.terms if (t.kind, t.target) == (term.kind, term.target)]
        if not same:
            query.terms.append(term)

    def _unmatched(self, query: WordQuery, word: str) -> None:
        if word in STOP_WORDS:
            query.ignored.append(word)
            return
        scored = sorted(((difflib.SequenceMatcher(None, word, key).ratio(), key) for key in
                         difflib.get_close_matches(word, self._fuzzy_keys, n=5, cutoff=SUGGEST_CUTOFF)),
                        key=lambda pair: -pair[0])
        if scored and scored[0][0] >= AUTOCORRECT_CUTOFF and (len(scored) == 1 or scored[1][0] < scored[0][0]):
            term = self._table[scored[0][1]][1]
            self._keep(query, dataclasses.replace(term, words=word, corrected=True))
            return
        suggestions = list(dict.fromkeys(self._table[key][1].target for _, key in scored))[:3]
        query.unknown.append({"word": word, "suggestions": suggestions})


# ------------------------------------------------------------------------------ scoring


#: The families without hue, and how their colour words break ties (see colour_term_scores).
ACHROMATIC_FAMILIES = frozenset({"black", "grey", "white"})
ACHROMATIC_TIE_BREAK = 0.1
ACHROMATIC_CHROMA_SCALE = 10.0


def colour_term_scores(term: Term, palette_lab: np.ndarray, palette_shares: np.ndarray,
                       family_model: Any = None, family_net_probs: np.ndarray | None = None,
                       palette_weight: float | None = None) -> np.ndarray:
    """(N,) in [0, 1]: how much of each packed palette is the term's colour (see the module
    docstring); a family with ``family_model`` (:class:`fashion.colour.family_model.FamilyModel`):
    the probability that a person names the garment's main colour so, averaged where the colour
    family network ran (``family_net_probs``' non-zero rows) with its probability, the palette
    model weighing ``palette_weight`` (:func:`fashion.colour.family_net.family_probability`)."""
    from fashion.colour.names import colour_families, lab_for_name
    from fashion.colour.spaces import ciede2000

    if term.family and family_model is not None:
        from fashion.colour.family_net import family_probability

        return family_probability(term.target, palette_lab, palette_shares, family_model, family_net_probs,
                                  palette_weight)

    lab = np.asarray(palette_lab, dtype=np.float64)
    shares = np.asarray(palette_shares, dtype=np.float64)
    totals = shares.sum(axis=1, keepdims=True)
    shares = shares / np.where(totals > 0, totals, 1.0)
    if term.family:
        hit = colour_families(lab) == term.target
        weight = np.ones(lab.shape[:-1])
        if term.target in ACHROMATIC_FAMILIES:
            # Many garments are wholly "grey" (or black, or white) by the family rules, from neutral
            # grey to greyish lilac or olive: among them, the more neutral a colour the higher it
            # ranks, by at most ACHROMATIC_TIE_BREAK of its share (the share stays the main order).
            chroma = np.hypot(lab[..., 1], lab[..., 2])
            weight = 1.0 - ACHROMATIC_TIE_BREAK * (1.0 - np.exp(-chroma / ACHROMATIC_CHROMA_SCALE))
        return np.where(hit, shares * weight, 0.0).sum(axis=1)
    closeness = np.exp(-ciede2000(lab, lab_for_name(term.target)) / COLOUR_SIGMA)
    return np.clip((closeness * shares).sum(axis=1), 0.0, 1.0)


def attribute_term_scores(attribute: int, attribute_index: np.ndarray, attribute_probs: np.ndarray) -> np.ndarray:
    """(N,): each item's stored probability of ``attribute`` (0 when not among its top attributes)."""
    index = np.asarray(attribute_index)
    probs = np.asarray(attribute_probs, dtype=np.float64)
    if index.size == 0:
        return np.zeros(len(index))
    return np.where(index == attribute, probs, 0.0).sum(axis=1)


def score_catalog(query: WordQuery, category_probs: np.ndarray, attribute_index: np.ndarray,
                  attribute_probs: np.ndarray, palette_lab: np.ndarray, palette_shares: np.ndarray,
                  family_model: Any = None, family_net_probs: np.ndarray | None = None,
                  palette_weight: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(total (N,), parts {label: (N,)})``: each part in [0, 1], total their mean (colour
    families by ``family_model`` and the network's ``family_net_probs`` when given, see
    :func:`colour_term_scores`).

    Part labels: ``"category"`` (all category words), then each attribute and colour by name.
    """
    parts: dict[str, np.ndarray] = {}
    ids = list(query.category_ids)
    if ids:
        parts["category"] = np.clip(np.asarray(category_probs, dtype=np.float64)[:, ids].sum(axis=1), 0.0, 1.0)
    for term in query.of_kind("attribute"):
        parts[term.target] = attribute_term_scores(term.ids[0], attribute_index, attribute_probs)
    for term in query.of_kind("colour"):
        parts[term.target] = colour_term_scores(term, palette_lab, palette_shares, family_model, family_net_probs,
                                                palette_weight)
    if not parts:
        return np.zeros(len(category_probs)), parts
    return np.mean(np.stack(list(parts.values())), axis=0), parts


def score_rows(query: WordQuery, recommender: Any, rows: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`score_catalog` on the recommender's catalog (all rows, or ``rows``), colour families by
    its ``family_model`` and the catalog's stored colour family network probabilities."""
    catalog = recommender.catalog
    take = (lambda a: np.asarray(a)) if rows is None else (lambda a: np.asarray(a)[rows])
    weight = recommender.family_net_weight
    return score_catalog(query, take(catalog.category_probs), take(catalog.attribute_index),
                         take(catalog.attribute_probs), take(catalog.palette_lab), take(catalog.palette_shares),
                         recommender.family_model, take(catalog.family_net_probs) if weight is not None else None,
                         weight)


def explain_parts(query: WordQuery, parts: dict[str, float], learned_families: bool = False) -> list[str]:
    """Why an item matched, one phrase per part: ``dress 82%``, ``striped 64% (texture)``, ``red: 71% of the
    garment`` (``red: 71% likely`` with ``learned_families``: a family model's probability)."""
    names = " / ".join(t.target for t in query.of_kind("category"))
    lines = []
    for label, value in parts.items():
        if label == "category":
            lines.append(f"{names} {value:.0%}")
            continue
        term = next(t for t in query.terms if t.target == label and t.kind != "category")
        if term.kind == "attribute":
            lines.append(f"{label} {value:.0%} ({term.detail.replace(' attribute', '')})")
        elif term.family:
            lines.append(f"{label}: {value:.0%} likely" if learned_families else f"{label}: {value:.0%} of the garment")
        else:
            lines.append(f"{label}: closeness {value:.0%}")
    return lines


# ------------------------------------------------------------------------------ searching


@dataclass
class WordResult:
    """One catalog item found by words: the recommender's :class:`Result` plus what matched."""

    result: Result
    matched: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "matched": self.matched}


def search(recommender: Any, query: WordQuery, top_k: int | None = None, filters: Filters | None = None,
           exclude: Iterable[str] = ()) -> list[WordResult]:
    """The catalog's ``top_k`` best items for the words (filters, exclusions and one item per
    product as in :meth:`fashion.recommend.recommender.Recommender.recommend`)."""
    query.require_terms()
    top_k = top_k or recommender.config.top_k
    catalog = recommender.catalog
    totals, parts = score_rows(query, recommender)
    learned = recommender.family_model is not None
    allowed = recommender.allowed(None, filters, exclude)
    rows = np.arange(len(catalog)) if allowed is None else np.flatnonzero(allowed)
    order = rows[np.lexsort((rows, -totals[rows]))]
    if recommender.config.dedupe_items:
        order = np.asarray(dedupe_by_item(order.tolist(), recommender.item_ids), dtype=np.int64)
    return [WordResult(describe_row(recommender, query, int(row), float(totals[row]),
                                    {k: float(v[row]) for k, v in parts.items()}, rank),
                       explain_parts(query, {k: float(v[row]) for k, v in parts.items()}, learned))
            for rank, row in enumerate(order[:top_k], start=1)]


def describe_row(recommender: Any, query: WordQuery, row: int, total: float, parts: dict[str, float],
                 rank: int) -> Result:
    """A :class:`Result` for one catalog row found by words (scores: ``total`` and each part)."""
    from fashion.colour.names import lab_for_name
    from fashion.colour.spaces import ciede2000
    from fashion.recommend.recommender import predicted_attributes, row_colours

    catalog, labels, config = recommender.catalog, recommender.labels, recommender.config
    item = catalog.items.iloc[row]
    lab, colours = row_colours(catalog, row)
    wanted = query.of_kind("colour")
    delta_e = (float(ciede2000(lab[0], lab_for_name(wanted[0].target))) if wanted and len(lab) else float("nan"))
    probs = np.asarray(catalog.category_probs[row], dtype=np.float32)
    predicted = int(np.argmax(probs)) if len(probs) else -1
    item_attrs = set(predicted_attributes(catalog.attribute_index[row], catalog.attribute_probs[row],
                                          config.attribute_threshold, config.explain_attributes))
    shared = [t for t in query.of_kind("attribute") if t.ids[0] in item_attrs]
    return Result(
        rank=rank, row=row, key=str(item["key"]), path=str(item["path"]), name=str(item["name"]),
        item_id=str(item["item_id"]), label=str(item["label"]),
        predicted_category=labels.category_names[predicted] if predicted >= 0 else "",
        predicted_probability=float(probs[predicted]) if predicted >= 0 else 0.0,
        scores={"total": total, **parts}, weights={k: 1.0 / len(parts) for k in parts}, colours=colours,
        delta_e=delta_e, shared_attributes=[{"name": t.target, "type": t.detail.replace(" attribute", "")}
                                            for t in shared])


# ------------------------------------------------------------------------------ words + a photo

#: Weight of the words' score added to a photo query's blended total ("like this, but in blue").
PHOTO_WORDS_WEIGHT = 0.5


def refine_photo_query(recommender: Any, query: Query, words: WordQuery, top_k: int,
                       weight: float = PHOTO_WORDS_WEIGHT, totals: np.ndarray | None = None
                       ) -> tuple[Query, np.ndarray, dict[str, float]]:
    """Words applied to a photo query: ``(query', allowed rows (N,) bool, adjustments {key: bonus})``.
    ``totals``: the words' score of every catalog row (``score_rows(words, recommender)[0]``), when the
    caller applies the same words to several queries (it does not depend on the photo; 27 ms for
    5,000 items).

    * colour words replace the query's palette (the colour component then measures closeness to
      blue, not to the photo's colour) and category words its category distribution (uniform
      over the named categories);
    * the candidate pool is restricted to the items that match the words well: those scoring at
      least half the catalog's best word score (at least ``top_k`` items, the best by word score,
      when fewer do), so the photo's look ranks within what the words ask for;
    * each item's word score times ``weight`` is added to its blended total (the adjustments the
      recommender adds, like the feedback item prior).
    """
    from fashion.colour.names import lab_for_name
    from fashion.colour.palette import Palette
    from fashion.colour.spaces import lab_to_rgb

    words.require_terms()
    if totals is None:
        totals, _ = score_rows(words, recommender)
    colours = words.of_kind("colour")
    if colours:
        lab = np.array([lab_for_name(t.target) for t in colours])
        query = dataclasses.replace(query, palette=Palette(lab=lab, rgb=lab_to_rgb(lab),
                                                           shares=np.full(len(lab), 1.0 / len(lab))))
    ids = list(words.category_ids)
    if ids and np.size(query.category_probs):
        probs = np.zeros_like(np.asarray(query.category_probs, dtype=np.float32))
        probs[ids] = 1.0 / len(ids)
        query = dataclasses.replace(query, category_probs=probs)
    keep = max(1, top_k)
    allowed = totals >= 0.5 * float(totals.max(initial=0.0))
    if allowed.sum() < keep:
        allowed[np.argsort(-totals, kind="stable")[:keep]] = True
    adjustments = {key: weight * float(value) for key, value in zip(recommender.keys, totals)}
    return query, allowed, adjustments


def apply_words_to_photo(recommender: Any, query: Query, words: WordQuery, top_k: int | None,
                         exclude: Sequence[str] = (), adjustments: dict[str, float] | None = None,
                         totals: np.ndarray | None = None) -> tuple[Query, list[str], dict[str, float]]:
    """A photo query refined by words ("like this, but in blue"), as ``recommender.recommend``
    takes it: ``(query', exclude + the keys the words rule out, adjustments + the word bonuses)``.
    The one way the CLI (``--query`` with a photo) and the web (``q`` with a photo) apply words;
    ``totals``: see :func:`refine_photo_query`."""
    refined, allowed, bonus = refine_photo_query(recommender, query, words, top_k or recommender.config.top_k,
                                                 totals=totals)
    ruled_out = [key for key, ok in zip(recommender.keys, allowed) if not ok]
    merged = dict(bonus)
    for key, value in (adjustments or {}).items():
        merged[key] = merged.get(key, 0.0) + value
    return refined, list(exclude) + ruled_out, merged


def explain_rows(recommender: Any, words: WordQuery, rows: Sequence[int]) -> list[list[str]]:
    """What the words matched in each of the given catalog rows (for results of a photo query)."""
    rows = np.asarray(list(rows), dtype=np.int64)
    if len(rows) == 0:
        return []
    _, parts = score_rows(words, recommender, rows)
    learned = recommender.family_model is not None
    return [explain_parts(words, {k: float(v[i]) for k, v in parts.items()}, learned) for i in range(len(rows))]


def format_word_results(words: WordQuery, results: Sequence[WordResult], catalog: dict[str, Any],
                        filters: dict[str, Any]) -> str:
    """The word search's table: rank, score, the parts, category, colours, what matched, item."""
    active = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "none"
    lines = [f"words: {words.text!r}"] + [f"  {note}" for note in words.notes()]
    lines.append(f"top {len(results)} of {catalog['items']} catalog items · score = mean of the matched parts "
                 f"· filters: {active}")
    if not results:
        return "\n".join(lines + ["  no catalog item passes the filters"])
    rows = [[r.result.rank, f"{r.result.scores['total']:.3f}", r.result.category,
             ", ".join(c["name"] for c in r.result.colours[:2]), "; ".join(r.matched), _shorten(r.result.key, 48)]
            for r in results]
    headers = ["#", "score", "category", "colours", "matched", "item"]
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = "><<<<<"
    table = []
    for number, row in enumerate(cells):
        table.append("  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip())
        if number == 0:
            table.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + table)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]
