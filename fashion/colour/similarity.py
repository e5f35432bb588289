"""How alike two palettes are (a kernel over CIEDE2000 between their colours, weighted by shares),
whether a palette holds a named colour, and the fixed-size arrays a catalog stores palettes in."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from fashion.colour.names import family_key, colour_families, is_colour_family, lab_for_name
from fashion.colour.palette import Palette
from fashion.colour.spaces import ciede2000, lab_to_rgb


#: Scale of the colour kernel ``exp(-dE / sigma)`` used by :func:`palette_similarity`:
#: dE 2 (barely visible) -> 0.85, dE 10 (clearly different shade) -> 0.43, dE 30 -> 0.08.
SIMILARITY_SIGMA = 12.0

# --- Named colours in palettes ---


def palette_colour_mask(labs: np.ndarray, shares: np.ndarray, name: str, min_share: float = 0.15,
                        max_delta_e: float = 15.0) -> np.ndarray:
    """Which packed palettes ``(N, k, 3)`` / ``(N, k)`` contain the colour ``name``: ``(N,) bool``.

    A family name (:data:`COLOUR_FAMILIES`) matches palettes whose colours of that family hold at
    least ``min_share`` together; any other CSS4 name matches palettes whose colours within
    ``max_delta_e`` (CIEDE2000) of it hold at least ``min_share``. Unknown names raise
    ``ValueError`` (see :func:`lab_for_name`).
    """
    labs = np.asarray(labs, dtype=np.float64)
    shares = np.asarray(shares, dtype=np.float64)
    if labs.ndim == 2:  # one palette
        labs, shares = labs[None], shares[None]
    if labs.ndim != 3 or labs.shape[-1] != 3 or shares.shape != labs.shape[:2]:
        raise ValueError(f"labs must be (N, k, 3) and shares (N, k), got {labs.shape} and {shares.shape}")
    if is_colour_family(name):
        hit = colour_families(labs) == family_key(name)
    else:
        hit = ciede2000(labs, lab_for_name(name)) <= max_delta_e
    return (np.where(hit, shares, 0.0).sum(axis=1) >= min_share) & (shares.sum(axis=1) > 0)


def palette_has_colour(palette: Palette, name: str, min_share: float = 0.15, max_delta_e: float = 15.0) -> bool:
    """Whether ``palette`` contains the colour ``name`` (see :func:`palette_colour_mask`)."""
    return bool(palette_colour_mask(palette.lab[None], palette.shares[None], name, min_share, max_delta_e)[0])


# --- Palette similarity -----------------------------------------------------------------------


def _kernel(delta_e: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-delta_e / sigma)


def palette_similarity(a: Palette, b: Palette, sigma: float = SIMILARITY_SIGMA) -> float:
    """Similarity of two palettes in [0, 1]: a share-weighted soft match of their colours.

    With ``K(x, y) = exp(-CIEDE2000(x, y) / sigma)`` (1 for equal colours, ``sigma`` =
    :data:`SIMILARITY_SIGMA`) and shares ``p`` (of ``a``) and ``q`` (of ``b``)::

        match(a, b) = sum_ij p_i q_j K(a_i, b_j)
        similarity  = match(a, b) / sqrt(match(a, a) * match(b, b))

    i.e. the cosine of the two palettes as share-weighted mixtures of soft colours. Identical
    palettes give 1; it is symmetric; for one-colour palettes it is exactly ``K``, so it falls
    as the colours move apart; shares matter (90% navy + 10% white vs 10% navy + 90% white is
    about 0.2, not 1). Clipped to [0, 1] (CIEDE2000 is not a Euclidean distance, so the kernel
    is not guaranteed positive definite).
    """
    return float(palette_similarity_many(a, b.lab[None], b.shares[None], sigma=sigma)[0])


def palette_similarity_many(query: Palette, labs: np.ndarray, shares: np.ndarray, sigma: float = SIMILARITY_SIGMA,
                            self_match: np.ndarray | None = None) -> np.ndarray:
    """:func:`palette_similarity` of ``query`` with each packed palette: ``(N,) float32``.

    ``labs (N, k, 3)`` and ``shares (N, k)`` as made by :func:`pack_palettes`; padded colours have
    share 0 and count for nothing; a row with no colour at all scores 0. ``self_match`` is
    :func:`palette_self_match` of the same rows, to pass when scoring many queries against one
    catalog (it is half the work).
    """
    labs, p = _packed(labs, shares)
    q_lab = query.lab.astype(np.float64)
    q_shares = query.shares.astype(np.float64) / query.shares.sum()
    cross = _kernel(ciede2000(q_lab[None, :, None, :], labs[:, None, :, :]), sigma)  # (N, kq, k)
    match = np.einsum("i,nij,nj->n", q_shares, cross, p)
    self_q = q_shares @ _kernel(ciede2000(q_lab[:, None], q_lab[None]), sigma) @ q_shares
    self_n = palette_self_match(labs, p, sigma) if self_match is None else np.asarray(self_match, np.float64)
    denominator = np.sqrt(self_q * self_n)
    similarity = np.where(denominator > 0, match / np.where(denominator > 0, denominator, 1.0), 0.0)
    return np.clip(similarity, 0.0, 1.0).astype(np.float32)


def palette_self_match(labs: np.ndarray, shares: np.ndarray, sigma: float = SIMILARITY_SIGMA) -> np.ndarray:
    """``match(b, b)`` of each packed palette (see :func:`palette_similarity`): ``(N,) float64``."""
    labs, p = _packed(labs, shares)
    kernel = _kernel(ciede2000(labs[:, :, None, :], labs[:, None, :, :]), sigma)
    return np.einsum("ni,nij,nj->n", p, kernel, p)


def _packed(labs: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 ``labs (N, k, 3)`` and shares normalised per row (all-zero rows stay 0)."""
    labs = np.asarray(labs, dtype=np.float64)
    shares = np.asarray(shares, dtype=np.float64)
    if labs.ndim != 3 or labs.shape[-1] != 3 or shares.shape != labs.shape[:2]:
        raise ValueError(f"labs must be (N, k, 3) and shares (N, k), got {labs.shape} and {shares.shape}")
    totals = shares.sum(axis=1)
    return labs, shares / np.where(totals > 0, totals, 1.0)[:, None]


def pack_palettes(palettes: Iterable[Palette | None], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-size arrays for a catalog: ``labs (N, k, 3) float32``, ``shares (N, k) float32``.

    Shorter palettes are padded with share 0; longer ones keep their ``k`` largest colours
    (shares renormalised); ``None`` (no palette) gives an all-zero row.
    """
    palettes = list(palettes)
    labs = np.zeros((len(palettes), k, 3), dtype=np.float32)
    shares = np.zeros((len(palettes), k), dtype=np.float32)
    for row, palette in enumerate(palettes):
        if palette is None:
            continue
        n = min(k, len(palette))
        labs[row, :n] = palette.lab[:n]
        shares[row, :n] = palette.shares[:n] / palette.shares[:n].sum()
    return labs, shares


def unpack_palette(lab_row: np.ndarray, share_row: np.ndarray) -> Palette:
    """The :class:`Palette` in one packed row (padding dropped); ``ValueError`` for an empty row."""
    lab_row = np.asarray(lab_row, dtype=np.float64).reshape(-1, 3)
    share_row = np.asarray(share_row, dtype=np.float64).reshape(-1)
    keep = share_row > 0
    if not keep.any():
        raise ValueError("the packed row holds no palette (all shares are 0)")
    lab, weights = lab_row[keep], share_row[keep]
    order = np.argsort(-weights, kind="stable")
    lab, weights = lab[order], weights[order]
    return Palette(lab=lab, rgb=lab_to_rgb(lab), shares=weights / weights.sum())


def delta_e_dominant(a: Palette, b: Palette) -> float:
    """CIEDE2000 between the dominant colours of two palettes."""
    return float(ciede2000(a.dominant_lab, b.dominant_lab))
