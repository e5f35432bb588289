"""The sample's plan: which garments, with which category, attributes, colour and split (no drawing).

Made in the parent process from the seed, so the worker count never changes the output.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from fashion.errors import FashionError

GENERATOR_VERSION = 3  # 3: sample.hard (shop and consumer views)

# The real DeepFashion list (Anno/list_category_cloth.txt): name, type (1 upper, 2 lower, 3 full body).
DEEPFASHION_CATEGORIES: tuple[tuple[str, int], ...] = (
    ("Anorak", 1), ("Blazer", 1), ("Blouse", 1), ("Bomber", 1), ("Button-Down", 1), ("Cardigan", 1),
    ("Flannel", 1), ("Halter", 1), ("Henley", 1), ("Hoodie", 1), ("Jacket", 1), ("Jersey", 1),
    ("Parka", 1), ("Peacoat", 1), ("Poncho", 1), ("Sweater", 1), ("Tank", 1), ("Tee", 1), ("Top", 1),
    ("Turtleneck", 1), ("Capris", 2), ("Chinos", 2), ("Culottes", 2), ("Cutoffs", 2), ("Gauchos", 2),
    ("Jeans", 2), ("Jeggings", 2), ("Jodhpurs", 2), ("Joggers", 2), ("Leggings", 2), ("Sarong", 2),
    ("Shorts", 2), ("Skirt", 2), ("Sweatpants", 2), ("Sweatshorts", 2), ("Trunks", 2), ("Caftan", 3),
    ("Cape", 3), ("Coat", 3), ("Coverup", 3), ("Dress", 3), ("Jumpsuit", 3), ("Kaftan", 3),
    ("Kimono", 3), ("Nightdress", 3), ("Onesie", 3), ("Robe", 3), ("Romper", 3), ("Shirtdress", 3),
    ("Sundress", 3),
)
CATEGORY_INDEX = {name: i for i, (name, _) in enumerate(DEEPFASHION_CATEGORIES)}

# Categories the sample draws: each has its own silhouette, so a small CNN can tell them apart.
SAMPLE_CATEGORIES: tuple[str, ...] = (
    "Tee", "Tank", "Sweater", "Hoodie", "Jacket", "Cardigan",
    "Skirt", "Shorts", "Jeans", "Joggers", "Dress", "Jumpsuit",
)

# Attributes the sample uses: real names and types from DeepFashion's list_attr_cloth.txt
# (1 texture, 2 fabric, 3 shape, 4 part, 5 style), written in that file's alphabetical order.
# Every positive attribute is visible in the drawing.
SAMPLE_ATTRIBUTES: tuple[tuple[str, int], ...] = (
    ("a-line", 3), ("athletic", 5), ("button-front", 4), ("chevron", 1), ("colorblock", 1),
    ("crop", 3), ("denim", 2), ("drawstring", 4), ("floral", 1), ("grid", 1), ("hooded", 4),
    ("long-sleeve", 4), ("maxi", 3), ("midi", 3), ("mini", 3), ("pencil", 3), ("pleated", 2),
    ("pocket", 4), ("polka dot", 1), ("ribbed", 2), ("skinny", 3), ("sleeveless", 4),
    ("striped", 1), ("v-neck", 4),
)
ATTRIBUTE_NAMES = tuple(name for name, _ in SAMPLE_ATTRIBUTES)
TEXTURES = ("floral", "polka dot", "striped", "grid", "chevron", "colorblock")
LENGTHS = ("mini", "midi", "maxi")

# CSS4 named colours used for garments (name -> sRGB).
GARMENT_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "white": (255, 255, 255), "navy": (0, 0, 128), "royalblue": (65, 105, 225),
    "steelblue": (70, 130, 180), "skyblue": (135, 206, 235), "red": (255, 0, 0), "crimson": (220, 20, 60),
    "maroon": (128, 0, 0), "pink": (255, 192, 203), "hotpink": (255, 105, 180), "orange": (255, 165, 0),
    "gold": (255, 215, 0), "olive": (128, 128, 0), "forestgreen": (34, 139, 34), "teal": (0, 128, 128),
    "beige": (245, 245, 220), "khaki": (240, 230, 140), "tan": (210, 180, 140),
    "saddlebrown": (139, 69, 19), "gray": (128, 128, 128), "lightgray": (211, 211, 211),
    "purple": (128, 0, 128), "lavender": (230, 230, 250),
}
# Denim comes in blues, black and grey only.
DENIM_COLOURS = ("navy", "royalblue", "steelblue", "black", "gray")
# Colours that only serve as pattern / accent colours (never the truth colour).
STITCH_COLOUR = (218, 165, 32)  # goldenrod: denim topstitching

JPEG_QUALITY = 90
SPLIT_PATTERN = ("train", "train", "train", "train", "val", "train", "train", "train", "train", "test")
_SUPERSAMPLE = 2  # draw at 2x, box-downsample: anti-aliasing with exact coverage
_PAD = 4  # pixels of empty border around a garment's own canvas (at 2x)


class SampleError(FashionError, ValueError):
    """The sample cannot be generated where asked (e.g. the folder holds something else)."""


# ----------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class ItemSpec:
    """Everything fixed for one item: what it is and how it looks (all views share it)."""

    index: int                      # 0-based item number
    folder: str                     # e.g. "Striped_Tee_0001"
    category: str                   # one of SAMPLE_CATEGORIES
    attributes: frozenset[str]      # positive attributes (names from SAMPLE_ATTRIBUTES)
    colour_name: str                # CSS4 name of the fill colour
    rgb: tuple[int, int, int]       # fill colour (the dominant garment colour)
    pattern_rgb: tuple[int, int, int]
    accent_rgb: tuple[int, int, int]
    sleeve: str                     # "none" | "short" | "long" (dresses and jumpsuits)
    stripe_vertical: bool
    pattern_seed: int
    split: str                      # train | val | test

    @property
    def texture(self) -> str | None:
        """The drawn texture pattern, or None for a plain garment."""
        found = [t for t in TEXTURES if t in self.attributes]
        return found[0] if found else None


def _contrast(a: Sequence[int], b: Sequence[int]) -> float:
    return float(math.dist(a, b))


def _pick_other_colour(rng: np.random.Generator, base: tuple[int, int, int], min_distance: float = 150.0
                       ) -> tuple[int, int, int]:
    """A palette colour clearly different from ``base`` (patterns and accents must be visible)."""
    options = [rgb for rgb in GARMENT_COLOURS.values() if _contrast(rgb, base) >= min_distance]
    return options[int(rng.integers(len(options)))]


def _maybe(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


@dataclass(frozen=True)
class _Rule:
    """How one category's items are dressed: attributes always drawn, optional ones, print chance."""

    always: tuple[str, ...]
    optional: tuple[tuple[str, float], ...]
    texture_p: float
    sleeve: str = "none"  # "choose": dresses and jumpsuits pick none / short / long
    print_first: bool = True  # decide the print before the optional details (they compete for room)


_RULES: dict[str, _Rule] = {
    "Tee": _Rule((), (("v-neck", 0.35), ("crop", 0.3), ("pocket", 0.25)), 0.85, "short"),
    "Tank": _Rule(("sleeveless",), (("v-neck", 0.3), ("crop", 0.3), ("athletic", 0.2)), 0.8),
    "Sweater": _Rule(("long-sleeve", "ribbed"), (("v-neck", 0.25),), 0.7, "long"),
    "Hoodie": _Rule(("long-sleeve", "hooded"), (("pocket", 0.5), ("drawstring", 0.4)), 0.4, "long"),
    "Jacket": _Rule(("long-sleeve",), (("button-front", 0.5), ("pocket", 0.5), ("denim", 0.35)), 0.3, "long"),
    "Cardigan": _Rule(("long-sleeve", "v-neck", "button-front"), (), 0.5, "long"),
    "Skirt": _Rule((), (("pleated", 0.55), ("denim", 0.15)), 0.6, print_first=False),
    "Shorts": _Rule((), (("denim", 0.35), ("pocket", 0.4), ("athletic", 0.3), ("drawstring", 0.3)), 0.45),
    "Jeans": _Rule(("denim", "pocket"), (("skinny", 0.5),), 0.0),
    "Joggers": _Rule((), (("drawstring", 0.6), ("athletic", 0.5), ("pocket", 0.3)), 0.35),
    "Dress": _Rule((), (("v-neck", 0.35), ("pleated", 0.2)), 0.7, "choose"),
    "Jumpsuit": _Rule((), (("v-neck", 0.4), ("pocket", 0.3), ("drawstring", 0.2)), 0.5, "choose"),
}
# Three positives per image at most (a print may be a cardigan's fourth): every positive can then
# be found in the top 3, which keeps the paper's attribute top-3 recall a meaningful target here.
MAX_POSITIVES = 3


def _choose_attributes(category: str, rng: np.random.Generator) -> tuple[set[str], str]:
    """Positive attributes for one item of ``category`` and its sleeve kind; all of them are drawn."""
    rule = _RULES[category]
    attrs = set(rule.always)
    sleeve = rule.sleeve
    if sleeve == "choose":
        sleeve = str(rng.choice(["none", "short", "long"], p=[0.5, 0.3, 0.2]))
        attrs |= {"none": {"sleeveless"}, "short": set(), "long": {"long-sleeve"}}[sleeve]
    if category in ("Skirt", "Dress"):
        attrs.add(LENGTHS[int(rng.integers(3))])
        attrs.add("a-line" if _maybe(rng, 0.65) else "pencil")
    # Pleats are drawn as folds of a flared skirt only.
    optional = [(name, p) for name, p in rule.optional if name != "pleated" or "a-line" in attrs]
    if rule.print_first:  # prints are the most visible attributes, and each texture is rare
        _maybe_print(attrs, rule, rng, room=max(MAX_POSITIVES, len(attrs) + 1))
    room = max(MAX_POSITIVES, len(attrs))
    for name, p in optional:
        if len(attrs) < room and _maybe(rng, p) and not (name == "denim" and attrs & set(TEXTURES)):
            attrs.add(name)  # denim is drawn plain, with topstitching: never printed
    if not rule.print_first:
        _maybe_print(attrs, rule, rng, room=MAX_POSITIVES)
    # Two or more visible positives per image: top up from the optional ones not drawn yet.
    printed = bool(attrs & set(TEXTURES))
    spare = [name for name, _ in optional if name not in attrs and not (printed and name == "denim")]
    rng.shuffle(spare)
    while len(attrs) < 2 and spare:
        attrs.add(spare.pop())
    return attrs, sleeve


def _maybe_print(attrs: set[str], rule: _Rule, rng: np.random.Generator, room: int) -> None:
    """Add one texture with the rule's chance (never on denim, nor beyond ``room`` positives)."""
    if _maybe(rng, rule.texture_p) and "denim" not in attrs and "pleated" not in attrs and len(attrs) < room:
        attrs.add(TEXTURES[int(rng.integers(len(TEXTURES)))])


def _choose_colour(rng: np.random.Generator, attrs: set[str]) -> str:
    names = DENIM_COLOURS if "denim" in attrs else tuple(GARMENT_COLOURS)
    # White and black garments are common in catalogs and the hardest for colour extraction.
    weights = np.array([3.0 if n in ("white", "black") else 1.0 for n in names])
    return str(rng.choice(names, p=weights / weights.sum()))


def _folder_name(index: int, category: str, attrs: set[str], colour: str) -> str:
    texture = [t for t in TEXTURES if t in attrs]
    fabric = [f for f in ("denim", "pleated", "ribbed") if f in attrs]
    word = (texture or fabric or [colour])[0]
    descriptor = "-".join(part.capitalize() for part in word.split())
    return f"{descriptor}_{category}_{index + 1:04d}"


def _assign_splits(categories: Sequence[str], seed: int) -> list[str]:
    """Split BY ITEM, stratified: items ordered by (category, random key), then the 8/1/1 pattern."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    keys = rng.random(len(categories))
    order = sorted(range(len(categories)), key=lambda i: (SAMPLE_CATEGORIES.index(categories[i]), keys[i]))
    splits = [""] * len(categories)
    for position, item in enumerate(order):
        splits[item] = SPLIT_PATTERN[position % len(SPLIT_PATTERN)]
    return splits


def plan_sample(items: int, seed: int = 0) -> list[ItemSpec]:
    """The deterministic plan of ``items`` items: category, attributes, colours and split of each."""
    if items < 1:
        raise SampleError(f"items must be at least 1 (got {items})")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    # Balanced categories: round-robin over shuffled rounds of all categories.
    categories: list[str] = []
    while len(categories) < items:
        categories += [SAMPLE_CATEGORIES[i] for i in rng.permutation(len(SAMPLE_CATEGORIES))]
    categories = categories[:items]
    splits = _assign_splits(categories, seed)
    specs = []
    for index, category in enumerate(categories):
        item_rng = np.random.default_rng(np.random.SeedSequence([seed, 2, index]))
        attrs, sleeve = _choose_attributes(category, item_rng)
        colour = _choose_colour(item_rng, attrs)
        rgb = GARMENT_COLOURS[colour]
        specs.append(ItemSpec(
            index=index, folder=_folder_name(index, category, attrs, colour), category=category,
            attributes=frozenset(attrs), colour_name=colour, rgb=rgb,
            pattern_rgb=_pick_other_colour(item_rng, rgb), accent_rgb=_pick_other_colour(item_rng, rgb, 120.0),
            sleeve=sleeve, stripe_vertical=_maybe(item_rng, 0.4),
            pattern_seed=int(item_rng.integers(2**31)), split=splits[index]))
    return specs
