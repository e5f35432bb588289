"""The segmenter's classes and how Clothing Co-Parsing's 59 labels map onto them (torch-free).

Classes (index: name): 0 background, 1 skin, 2 hair, 3 upper (tops, jackets, coats), 4 lower
(trousers, skirts, shorts, tights), 5 full (dresses, jumpsuits, suits, swimwear), 6 other
(shoes, bags, hats, belts, scarves, jewellery, glasses). Classes 3-6 are garments.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CCP_GROUPS", "CLASSES", "GARMENT_CLASSES", "PARTS", "ccp_lookup", "class_index"]

CLASSES: tuple[str, ...] = ("background", "skin", "hair", "upper", "lower", "full", "other")
#: Indices of the classes that are garments (their pixels make a garment's colour).
GARMENT_CLASSES: tuple[int, ...] = (3, 4, 5, 6)
#: Garment part names, in class order (what :class:`fashion.segment.Garment.part` holds).
PARTS: tuple[str, ...] = tuple(CLASSES[i] for i in GARMENT_CLASSES)

# CCP label names (label_list.mat, index = position) per class; every one of the 59 appears once.
CCP_GROUPS: dict[str, tuple[str, ...]] = {
    "background": ("null",),
    "skin": ("skin",),
    "hair": ("hair",),
    "upper": ("blazer", "blouse", "bra", "cape", "cardigan", "coat", "hoodie", "intimate", "jacket",
              "jumper", "shirt", "sweater", "sweatshirt", "t-shirt", "top", "vest"),
    "lower": ("jeans", "leggings", "panties", "pants", "shorts", "skirt", "stockings", "tights"),
    "full": ("bodysuit", "dress", "romper", "suit", "swimwear"),
    "other": ("accessories", "bag", "belt", "boots", "bracelet", "clogs", "earrings", "flats", "glasses",
              "gloves", "hat", "heels", "loafers", "necklace", "pumps", "purse", "ring", "sandals", "scarf",
              "shoes", "sneakers", "socks", "sunglasses", "tie", "wallet", "watch", "wedges"),
}


def class_index(name: str) -> int:
    """Index of a class name (``ValueError`` listing the names for an unknown one)."""
    try:
        return CLASSES.index(name)
    except ValueError:
        raise ValueError(f"unknown segment class {name!r}; one of {', '.join(CLASSES)}") from None


def ccp_lookup(label_names: list[str] | tuple[str, ...]) -> np.ndarray:
    """``uint8`` table mapping CCP label indices (positions in ``label_names``) to class indices.

    A name in no group raises ``ValueError``: a changed label list must not be mapped silently.
    """
    group_of = {name: CLASSES.index(group) for group, names in CCP_GROUPS.items() for name in names}
    unknown = [name for name in label_names if name not in group_of]
    if unknown:
        raise ValueError(f"CCP labels without a segment class: {', '.join(unknown)}")
    return np.array([group_of[name] for name in label_names], dtype=np.uint8)
