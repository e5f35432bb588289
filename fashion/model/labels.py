"""The names and types of what a model predicts: plain lists, no torch (the recommender, the
catalog and the label lookups use them without loading the network)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Labels:
    """Names and types of the categories and attributes a model predicts."""

    category_names: list[str]
    category_types: list[int]
    attribute_names: list[str]
    attribute_types: list[int]

    def to_dict(self) -> dict[str, list]:
        return asdict(self)
