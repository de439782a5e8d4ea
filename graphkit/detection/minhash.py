"""MinHash signatures and LSH candidate pairs, vectorized with numpy.

Used twice: accounts' sets of active time windows (temporal synchrony) and prompt templates'
word shingles (near-duplicate templates). One-permutation hashing with densification gives
``k`` signature slots from a single hash per item, so the cost is one sort of the items rather
than ``k`` passes.

>>> import numpy as np
>>> groups = np.array([0, 0, 0, 1, 1, 1, 2])
>>> items = np.array([10, 11, 12, 10, 11, 12, 99], dtype=np.uint64)
>>> sig = signatures(groups, items, n_groups=3, k=8, seed=1)
>>> bool((sig[0] == sig[1]).all()), bool((sig[0] == sig[2]).all())
(True, False)
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.uint64(np.iinfo(np.uint64).max)


def mix64(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """SplitMix64 finalizer: a fast, well-mixed 64-bit hash of integer keys."""
    z = np.asarray(x, dtype=np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (seed + 1)) % 2**64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def signatures(
    groups: np.ndarray, items: np.ndarray, *, n_groups: int, k: int, seed: int = 0
) -> np.ndarray:
    """MinHash signatures (``n_groups x k``, uint64) of the item sets ``{items[groups == g]}``.

    One-permutation hashing: each item's hash picks a bin and a value; a bin keeps its minimum.
    Empty bins borrow from the next non-empty bin (circularly) with an offset so that two sets
    agree on a borrowed slot only when they agree on the donor: the estimate stays unbiased
    enough for candidate generation and for the similarity estimates used downstream.
    Groups with no items get an all-empty row (never equal to a non-empty one).
    """
    groups = np.asarray(groups, dtype=np.int64)
    h = mix64(np.asarray(items, dtype=np.uint64), seed)
    bins = (h % np.uint64(k)).astype(np.int64)
    values = h // np.uint64(k)
    sig = np.full((n_groups, k), _EMPTY, dtype=np.uint64)
    # Unbuffered group-min into the slots (numpy >= 1.25 runs ufunc.at at C speed; a sort-based
    # group-min is thirty times slower on tens of millions of items).
    np.minimum.at(sig.reshape(-1), groups * k + bins, values)
    return _densify(sig)


def _densify(sig: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Fill the empty slots of partly empty rows, in place, ``chunk`` rows at a time (rows are
    independent; a million accounts at once would take several GB of row temporaries)."""
    empty = sig == _EMPTY
    partly = np.flatnonzero(empty.any(axis=1) & ~empty.all(axis=1))
    del empty
    # Only rows with some empty slots need work: busy accounts fill every slot.
    for s in range(0, len(partly), chunk):  # a loop over blocks of rows, not rows
        rows = partly[s:s + chunk]
        sig[rows] = _densify_rows(sig[rows])
    return sig


def _densify_rows(sig: np.ndarray) -> np.ndarray:
    n, k = sig.shape
    empty = sig == _EMPTY
    has_any = ~empty.all(axis=1)
    # For each slot, the distance to the next non-empty slot to the right (circular).
    idx = np.where(~empty, np.arange(k)[None, :], k * 2)
    doubled = np.concatenate([idx, idx + k], axis=1)
    nxt = np.minimum.accumulate(doubled[:, ::-1], axis=1)[:, ::-1][:, :k]
    donor = nxt % k
    offset = (nxt - np.arange(k)[None, :]).astype(np.uint64)
    rows = np.arange(n)[:, None]
    filled = sig[rows, donor]
    with np.errstate(over="ignore"):
        filled = mix64(filled + offset * np.uint64(0x9E3779B1))
    out = np.where(empty & has_any[:, None], filled, sig)
    return out


def lsh_candidate_pairs(
    sig: np.ndarray, *, bands: int, active: np.ndarray | None = None, max_bucket: int = 200
) -> np.ndarray:
    """Candidate pairs ``(i, j)``, ``i < j``, whose signatures agree on at least one band.

    A bucket larger than ``max_bucket`` (e.g. a whole fleet with identical signatures) is not
    expanded into all its pairs: its members are linked to their ``max_bucket // 2`` successors
    in a hashed order, which keeps the bucket connected at a linear cost.
    """
    n, k = sig.shape
    rows = k // bands
    members = np.arange(n) if active is None else np.flatnonzero(active)
    if len(members) < 2:
        return np.empty((0, 2), dtype=np.int64)
    out: list[np.ndarray] = []
    for b in range(bands):  # a handful of bands, each fully vectorized
        block = sig[members, b * rows : (b + 1) * rows]
        key = np.zeros(len(members), dtype=np.uint64)
        for r in range(rows):
            key = mix64(key ^ block[:, r], seed=r)
        out.append(_pairs_in_equal_keys(key, members, max_bucket))
    pairs = np.concatenate(out) if out else np.empty((0, 2), dtype=np.int64)
    return unique_pairs(pairs)


def _pairs_in_equal_keys(key: np.ndarray, members: np.ndarray, max_bucket: int) -> np.ndarray:
    # Order by key, then by a hash of the member so that capped buckets link pseudo-random peers.
    order = np.lexsort((mix64(members.astype(np.uint64), seed=7), key))
    k_sorted, m_sorted = key[order], members[order]
    run_start = np.ones(len(k_sorted), dtype=bool)
    run_start[1:] = k_sorted[1:] != k_sorted[:-1]
    run_id = np.cumsum(run_start) - 1
    sizes = np.bincount(run_id)
    in_multi = sizes[run_id] >= 2
    k_sorted, m_sorted, run_id = k_sorted[in_multi], m_sorted[in_multi], run_id[in_multi]
    if len(m_sorted) < 2:
        return np.empty((0, 2), dtype=np.int64)
    reach = min(max(1, max_bucket // 2), len(m_sorted) - 1)
    chunks = []
    for d in range(1, reach + 1):  # loop over offsets, not over pairs
        same = run_id[d:] == run_id[:-d]
        if not same.any():
            break
        chunks.append(np.stack([m_sorted[:-d][same], m_sorted[d:][same]], axis=1))
    return np.concatenate(chunks) if chunks else np.empty((0, 2), dtype=np.int64)


def sorted_unique(values: np.ndarray, in_place: bool = False) -> np.ndarray:
    """Sorted distinct values of an integer array (``in_place``: sorting ``values`` itself
    instead of a copy, for a large array the caller no longer needs).

    Sort-based on purpose: numpy 2's hash-based ``np.unique`` is tens of times slower on
    millions of 64-bit pair keys. The default (SIMD quicksort) kind: equal keys need no
    stability, and a stable sort takes 3x (int64) to 15x (uint32) longer on 30M keys."""
    if in_place:
        values.sort()
        out = values
    else:
        out = np.sort(values)
    if len(out) < 2:
        return out
    keep = np.empty(len(out), dtype=bool)
    keep[0] = True
    np.not_equal(out[1:], out[:-1], out=keep[1:])
    return out[keep]


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Deduplicate pairs as unordered ``(min, max)`` rows, sorted."""
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    lo = np.minimum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    hi = np.maximum(pairs[:, 0], pairs[:, 1]).astype(np.int64)
    keep = lo != hi
    keys = sorted_unique((lo[keep] << 32) | hi[keep])
    return np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1)


def estimated_jaccard(sig: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 250_000):
    """Fraction of signature slots on which rows ``i`` and ``j`` agree (Jaccard estimate).

    Works on full (uint64) and folded (uint32, see :func:`fold32`) signatures; the largest
    value of the dtype marks an empty slot."""
    empty = np.iinfo(sig.dtype).max
    out = np.empty(len(i), dtype=np.float32)
    for s in range(0, len(i), chunk):  # chunks bound memory to chunk x k values
        a, b = sig[i[s : s + chunk]], sig[j[s : s + chunk]]
        agree = (a == b) & (a != empty)
        out[s : s + chunk] = agree.sum(axis=1, dtype=np.int32) / sig.shape[1]
    return out


def fold32(sig: np.ndarray) -> np.ndarray:
    """Signatures folded to 32 bits (half the memory and gather traffic when millions of pairs
    are compared); empty slots stay empty. Two different values collide with probability
    2^-32 per slot, far below the estimate's own noise."""
    folded = ((sig ^ (sig >> np.uint64(32))) & np.uint64(0xFFFFFFFE)).astype(np.uint32)
    return np.where(sig == _EMPTY, np.uint32(0xFFFFFFFF), folded)
