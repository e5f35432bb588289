"""Text for people: a query's summary, the results table and the category/attribute lookup tables."""

from __future__ import annotations

import math
from typing import Any, Sequence

from fashion.recommend.recommender import Query, Result


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> str:
    """A plain aligned table; ``align`` has one of ``<`` / ``>`` per column."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        parts = [f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)]
        lines.append("  ".join(parts).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def format_query(query: Query) -> str:
    """The query's predicted categories (top 3), predicted attributes and colours."""
    categories = " · ".join(f"{c['name']} {c['probability']:.0%}" for c in query.categories) or "—"
    attributes = ", ".join(f"{a['name']} ({a['type']}) {a['probability']:.0%}" for a in query.attributes) or "—"
    colours = ", ".join(f"{c['name']} {c['share']:.0%}" for c in query.colours())
    return "\n".join([f"query: {query.name}", f"  category:   {categories}", f"  attributes: {attributes}",
                      f"  colours:    {colours}"])


def format_results(results: Sequence[Result], catalog: dict[str, Any], weights: dict[str, float],
                   filters: dict[str, Any]) -> str:
    """The results table: rank, total and component scores, category, colours, ΔE, shared attributes, item."""
    active = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "none"
    names = list(weights)  # the score components, registry order
    head = (f"top {len(results)} of {catalog['items']} catalog items · score = "
            + " + ".join(f"{weights[name]:.2f}·{name}" for name in names)
            + f" · filters: {active} · search: {catalog['search']}")
    if not results:
        return head + "\n  no catalog item passes the filters"
    rows = []
    for r in results:
        colours = ", ".join(c["name"] for c in r.colours[:2])
        shared = ", ".join(a["name"] for a in r.shared_attributes[:3]) or "—"
        delta = "—" if math.isnan(r.delta_e) else f"{r.delta_e:.1f}"
        rows.append([r.rank, f"{r.scores['total']:.3f}", *(f"{r.scores.get(n, math.nan):.3f}" for n in names),
                     r.category, colours, delta, shared, _shorten(r.key, 48)])
    # Component columns are headed by the name, abbreviated so that "category" stays apart from
    # the category name column.
    headers = ["#", "score", *(n if n != "category" else "categ" for n in names),
               "category", "colours", "ΔE", "shared attributes", "item"]
    table = _table(headers, rows, ">>" + ">" * len(names) + "<<<><")
    return head + "\n" + table


def format_categories(rows: Sequence[dict[str, Any]], text: str) -> str:
    """The category lookup table (id, name, body part, catalog items)."""
    if not rows:
        return f"no category name contains {text!r}"
    return _table(["id", "name", "body part", "catalog items"],
                  [[r["id"], r["name"], r["type"], r["items"]] for r in rows], "><<>")


def format_attributes(rows: Sequence[dict[str, Any]], text: str) -> str:
    """The attribute lookup table (id, name, type, catalog items predicting it)."""
    if not rows:
        return f"no attribute name or type contains {text!r}"
    return _table(["id", "name", "type", "catalog items"],
                  [[r["id"], r["name"], r["type"], r["items"]] for r in rows], "><<>")
