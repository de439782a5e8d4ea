"""Hydra successions: banned accounts and the accounts created to replace them.

A proxy reseller replaces each banned account at once: the successor is created within hours
of the ban and inherits the predecessor's exit IPs, card, templates and agents. For every
banned account, every account created within ``succession_window_hours`` of the ban (before or
after it) is a candidate; a candidate pair is scored on what the two accounts share, with the
link-scoring similarity per signal (:func:`graphkit.detection.links.pair_similarities`: traffic
shares, rare-value weights)::

    overlap = sum_s weight_s * sim_s(predecessor, successor)
    confidence = (1 - exp(-overlap)) * exp(-|gap| / window)

Only pairs holding an entity in common can overlap, so they are formed by joining each banned
account's entities with their holders created in its window
(:func:`overlapping_successors`), not by scoring every pair in the window.
Pairs below ``succession_min_overlap`` are dropped; the rest are matched one to one (a banned
account has one replacement, an account replaces one banned account): pairs that are each
other's best are kept, and the step repeats on the accounts still unmatched. Matched pairs
link into chains (connected components), numbered by their first account.

>>> import numpy as np, pandas as pd, scipy.sparse as sp
>>> from graphkit.detection.links import signal_matrix
>>> from graphkit.settings import Settings
>>> s = Settings()
>>> ip = signal_matrix("ip", sp.csr_matrix(np.array([[4.0, 0], [4, 0], [0, 4]])), np.full(3, 4),
...                    np.array(["10.0.0.1", "10.0.0.2"]), s)
>>> acc = pd.DataFrame({"account_id": ["a", "b", "c"],
...     "created_at": pd.to_datetime(["2026-09-01 00:00", "2026-09-03 00:10", "2026-09-03 00:20"]),
...     "banned_at": pd.to_datetime(["2026-09-03 00:00", None, None])})
>>> successions({"ip": ip}, acc, s)[["predecessor", "successor", "chain"]].to_dict("records")
[{'predecessor': 'a', 'successor': 'b', 'chain': 'a'}]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from graphkit.detection.links import SignalMatrix, pair_similarities, similarity_roots
from graphkit.errors import ConfigError
from graphkit.settings import Settings

COLUMNS = ("predecessor", "successor", "gap_hours", "overlap", "confidence", "shared", "chain",
           "position")
_MAX_ROUNDS = 8


def _seconds(values: pd.Series) -> np.ndarray:
    t = pd.to_datetime(values, utc=True, errors="coerce")
    secs = (t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return secs.to_numpy(dtype=np.float64, na_value=np.nan)


def _windows(created: np.ndarray, banned: np.ndarray, window_s: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Accounts with a creation time in creation order; the banned accounts; per banned
    account the range of positions in that order created within ``window_s`` of its ban."""
    order = np.flatnonzero(~np.isnan(created))
    order = order[np.argsort(created[order], kind="stable")]
    times = created[order]
    pred = np.flatnonzero(~np.isnan(banned))
    lo = np.searchsorted(times, banned[pred] - window_s, side="left")
    hi = np.searchsorted(times, banned[pred] + window_s, side="right")
    return order, pred, lo, hi


def _ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``start[i], start[i] + 1, .., start[i] + count[i] - 1`` for every i, concatenated."""
    return np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(
        start, count)


def candidate_successors(created: np.ndarray, banned: np.ndarray, window_s: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(predecessor, successor) codes: every banned account with every other account created
    within ``window_s`` seconds of its ban (vectorized over a creation-time sort), by
    predecessor, then successor creation."""
    order, pred, lo, hi = _windows(created, banned, window_s)
    count = hi - lo
    p = np.repeat(pred, count)
    s = order[_ranges(lo, count)]
    keep = s != p
    return p[keep], s[keep]


def overlapping_successors(roots: dict[str, sp.csr_matrix], weights: dict[str, float],
                           created: np.ndarray, banned: np.ndarray, window_s: float,
                           minimum: float, block: int = 1 << 21
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of :func:`candidate_successors` (in its order) whose overlap
    ``sum_s weights[s] * clip(sim_s, 0, 1)`` reaches ``minimum`` (> 0), with the overlap; the
    similarities are the row products of ``roots`` (:func:`graphkit.detection.links.
    similarity_roots`), summed over the entities each pair holds in common.

    Every banned account's entities are joined with the accounts holding them, each entity's
    holders in creation order, so that one binary search per (banned account, entity) finds
    the holders created in its window: pairs that share nothing (overlap 0) are never formed.
    A million accounts with 7,500 bans give 13M pairs in the window, 4M sharing anything.
    Banned accounts go ``block`` window pairs at a time, which bounds the join.

    >>> import scipy.sparse as sp
    >>> x = sp.csr_matrix(np.array([[1.0, 0], [1, 0], [0, 1], [1, 1]]))
    >>> created, banned = np.array([0.0, 10, 20, 500]), np.array([5.0, np.nan, np.nan, np.nan])
    >>> [v.tolist() for v in overlapping_successors({"ip": x}, {"ip": 1.0}, created, banned,
    ...                                             30.0, 0.5)]
    [[0], [1], [1.0]]
    """
    order, pred, lo, hi = _windows(created, banned, window_s)
    n = len(order)
    none = (pred[:0], pred[:0], np.zeros(0))
    if not n or not len(pred) or not roots:  # no weighted identifier: nothing overlaps
        return none
    held = []  # per signal: the holders of every entity in creation order, as sorted keys
    for name, x in roots.items():  # a handful of signals
        y = sp.csc_matrix(x[order])
        y.sort_indices()
        held.append((weights[name], x, y.data, y.indices.astype(np.int64) + np.repeat(
            np.arange(y.shape[1], dtype=np.int64) * n, np.diff(y.indptr))))
    total = np.cumsum(hi - lo)
    bounds = np.unique(np.r_[0, np.searchsorted(total, np.arange(block, total[-1], block),
                                                side="right"), len(pred)])
    out = []
    for b0, b1 in itertools.pairwise(bounds):  # blocks of banned accounts
        overlap = sp.csr_matrix((b1 - b0, n))
        for weight, x, data, key in held:
            rows = x[pred[b0:b1]]
            i = np.repeat(np.arange(b1 - b0), np.diff(rows.indptr))
            at = rows.indices.astype(np.int64) * n
            start = np.searchsorted(key, at + lo[b0 + i])
            count = np.searchsorted(key, at + hi[b0 + i]) - start
            pos = _ranges(start, count)
            sim = _summed_rows(np.repeat(i, count), key[pos] % n,
                               np.repeat(rows.data, count) * data[pos], (b1 - b0, n))
            sim.data = weight * np.clip(sim.data, 0.0, 1.0)
            overlap = overlap + sim
        pair = overlap.tocoo()  # canonical: by banned account, then creation rank
        p, s = pred[b0 + pair.row], order[pair.col]
        ok = (pair.data >= minimum) & (s != p)
        out.append((p[ok], s[ok], pair.data[ok]))
    return tuple(np.concatenate(parts) for parts in zip(*out, strict=True)) if out else none


def _summed_rows(row: np.ndarray, col: np.ndarray, value: np.ndarray, shape: tuple[int, int]
                 ) -> sp.csr_matrix:
    """The CSR matrix of ``value`` at (``row``, ``col``), duplicates summed, every row's
    columns in order; ``row`` nondecreasing.

    Two transpositions (counting sorts, linear) order every row's columns, so the duplicates
    are summed without the comparison sort of a general CSR build: a banned account's window
    holds thousands of accounts.

    >>> m = _summed_rows(np.array([0, 0, 0, 1]), np.array([2, 0, 2, 1]), np.ones(4), (2, 3))
    >>> m.indptr.tolist(), m.indices.tolist(), m.data.tolist()
    ([0, 2, 3], [0, 2, 1], [1.0, 2.0, 1.0])
    """
    indptr = np.r_[0, np.cumsum(np.bincount(row, minlength=shape[0]))]
    out = sp.csr_matrix((value, col, indptr), shape=shape).tocsc().tocsr()
    out.sum_duplicates()
    return out


def _overlapping(signals: dict[str, SignalMatrix], p: np.ndarray, s: np.ndarray,
                 settings: Settings, block: int = 1 << 21
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs whose weighted identifier overlap reaches
    ``succession_min_overlap``, in their order, with that overlap; scored ``block`` pairs at
    a time (tens of millions of candidates would take GBs of per-signal similarities)."""
    roots = similarity_roots(signals, settings)
    keep_p, keep_s, keep_overlap = [], [], []
    for lo in range(0, len(p), block):  # blocks of pairs, each vectorized
        bp, bs = p[lo:lo + block], s[lo:lo + block]
        overlap = np.zeros(len(bp))
        for name, sim in pair_similarities(signals, bp, bs, settings, roots).items():
            overlap += settings.weight(name) * sim
        ok = overlap >= settings.succession_min_overlap
        keep_p.append(bp[ok])
        keep_s.append(bs[ok])
        keep_overlap.append(overlap[ok])
    if not keep_p:
        return p[:0], s[:0], np.zeros(0)
    return np.concatenate(keep_p), np.concatenate(keep_s), np.concatenate(keep_overlap)


def _one_to_one(p: np.ndarray, s: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of pairs kept by repeated mutual-best matching (a few rounds, each vectorized)."""
    alive = np.ones(len(p), bool)
    kept = []
    for _ in range(_MAX_ROUNDS):  # rounds of matching, not pairs
        idx = np.flatnonzero(alive)
        if not len(idx):
            break
        df = pd.DataFrame({"i": idx, "p": p[idx], "s": s[idx], "w": score[idx]})
        df = df.sort_values(["w", "i"], ascending=[False, True], kind="stable")
        best_p = df.drop_duplicates("p")["i"].to_numpy()
        best_s = df.drop_duplicates("s")["i"].to_numpy()
        mutual = np.intersect1d(best_p, best_s)
        if not len(mutual):
            break
        kept.append(mutual)
        alive &= ~np.isin(p, p[mutual]) & ~np.isin(s, s[mutual])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)


def shared_identifiers(signals: dict[str, SignalMatrix], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair: the identifier of each signal carrying most of what the two share
    ("ip 10.0.0.1; payment pm_x"), vectorized over pairs."""
    parts = []
    for name, sig in signals.items():  # a handful of signals
        prod = sig.shares[a].multiply(sig.shares[b]).tocoo()
        col = np.full(len(a), -1)
        if prod.nnz and len(sig.keys):
            df = pd.DataFrame({"r": prod.row, "c": prod.col,
                               "w": prod.data * sig.idf[prod.col]})
            df = df[df["w"] > 0].sort_values(["r", "w"], ascending=[True, False])
            top = df.drop_duplicates("r")
            col[top["r"].to_numpy()] = top["c"].to_numpy()
        if (col < 0).all():
            continue
        keys = np.where(col >= 0, sig.keys[np.maximum(col, 0)].astype(str), "")
        parts.append(np.where(col >= 0, np.char.add(f"{name} ", keys.astype(str)), ""))
    joined = np.full(len(a), "", dtype=object)
    for part in parts:  # one column per signal, joined column-wise
        part = part.astype(object)
        joined = np.where(joined == "", part, np.where(part == "", joined, joined + "; " + part))
    return joined


def successions(signals: dict[str, SignalMatrix], accounts: pd.DataFrame,
                settings: Settings | None = None) -> pd.DataFrame | None:
    """Banned accounts linked to their replacements, as chains.

    Parameters
    ----------
    signals : dict of str to SignalMatrix
        Account x entity shares (:func:`graphkit.detection.signals.signal_matrices`), rows in
        ``accounts`` order.
    accounts : DataFrame
        ``account_id``, ``created_at`` (or ``activated_at``, read first when present:
        :func:`graphkit.detection.features.activation_times`), ``banned_at`` (one row per
        account code).
    settings : Settings, optional
        ``succession_window_hours``, ``succession_min_overlap``, ``signal_weights``.

    Returns
    -------
    DataFrame or None
        None when no account has a ban time, or none a creation (activation) time. Otherwise one row per succession:
        predecessor, successor (account ids), gap_hours (successor created minus predecessor
        banned), overlap, confidence, shared (the main shared identifier per signal), chain
        (id of the chain's first account) and position (0 for the chain's first succession).
    """
    settings = settings or Settings()
    born = "activated_at" if "activated_at" in accounts else "created_at"
    if "banned_at" not in accounts or born not in accounts:
        return None
    banned = _seconds(accounts["banned_at"])
    if np.isnan(banned).all():
        return None
    created = _seconds(accounts[born])
    if np.isnan(created).all():  # no account with a known creation (or activation)
        return None
    window = settings.succession_window_hours * 3600.0
    if settings.succession_min_overlap > 0:  # pairs sharing nothing (overlap 0) never formed
        roots = similarity_roots(signals, settings)
        p, s, overlap = overlapping_successors(
            roots, {name: settings.weight(name) for name in roots}, created, banned, window,
            settings.succession_min_overlap)
    else:
        p, s = candidate_successors(created, banned, window)
        p, s, overlap = _overlapping(signals, p, s, settings)
    gap = created[s] - banned[p]
    conf = (1.0 - np.exp(-overlap)) * np.exp(-np.abs(gap) / window)
    kept = _one_to_one(p, s, conf)
    p, s, gap, overlap, conf = p[kept], s[kept], gap[kept], overlap[kept], conf[kept]
    ids = accounts["account_id"].to_numpy()
    label = _chains(p, s, len(ids))
    # A chain is named by its earliest-created account; position orders a chain by ban time.
    first = pd.DataFrame({"c": label[p], "t": created[p], "a": ids[p]}).sort_values(
        ["c", "t", "a"]).drop_duplicates("c").set_index("c")["a"]
    order = np.lexsort((banned[p], label[p]))
    position = np.empty(len(p), np.int64)
    lab_sorted = label[p][order]
    position[order] = np.arange(len(p)) - np.searchsorted(lab_sorted, lab_sorted)
    out = pd.DataFrame({"predecessor": ids[p], "successor": ids[s],
                        "gap_hours": np.round(gap / 3600.0, 3), "overlap": np.round(overlap, 4),
                        "confidence": np.round(conf, 4),
                        "shared": shared_identifiers(signals, p, s),
                        "chain": first.reindex(label[p]).to_numpy(), "position": position})
    return out.sort_values(["chain", "position"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class SuccessionUnits:
    """:func:`succession_units`: per account code, its hydra chain and whether it replaced a
    banned account."""

    chain: np.ndarray  # chain label (an account in no succession is a chain of its own)
    replaced: np.ndarray  # bool: the successor of a succession


def succession_units(table: pd.DataFrame | None, account_ids: np.ndarray,
                     min_confidence: float) -> SuccessionUnits | None:
    """Per account code (``account_ids`` order), over the successions of ``table``
    (:func:`successions`) at least ``min_confidence`` sure: its succession chain, and whether
    it replaced a banned account (is a successor). None without successions.

    Raises
    ------
    graphkit.errors.ConfigError
        When ``table`` names accounts that are not in ``account_ids`` (successions of another
        run's accounts).

    >>> t = pd.DataFrame({"predecessor": ["a", "b", "x"], "successor": ["b", "c", "y"],
    ...                   "confidence": [0.9, 0.8, 0.2]})
    >>> units = succession_units(t, np.array(["a", "b", "c", "x", "y"]), 0.5)
    >>> units.chain.tolist(), units.replaced.tolist()
    ([0, 0, 0, 1, 2], [False, True, True, False, False])
    """
    if table is None or not len(table):
        return None
    p, s = _strong_codes(table, account_ids, min_confidence)
    replaced = np.zeros(len(account_ids), bool)
    replaced[s] = True
    return SuccessionUnits(_chains(p, s, len(account_ids)), replaced)


def chain_units(table: pd.DataFrame | None, account_ids: np.ndarray, min_confidence: float
                ) -> np.ndarray | None:
    """Per account code, its succession chain (:attr:`SuccessionUnits.chain` of
    :func:`succession_units`); None without successions.

    >>> t = pd.DataFrame({"predecessor": ["a"], "successor": ["b"], "confidence": [0.9]})
    >>> chain_units(t, np.array(["a", "b", "c"]), 0.5).tolist()
    [0, 0, 1]
    """
    units = succession_units(table, account_ids, min_confidence)
    return None if units is None else units.chain


def _strong_codes(table: pd.DataFrame, account_ids: np.ndarray, min_confidence: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Predecessor and successor codes of the successions at least ``min_confidence`` sure;
    ConfigError when one names an account outside ``account_ids``."""
    strong = table[table["confidence"].to_numpy(np.float64) >= min_confidence]
    code = pd.Index(account_ids).get_indexer
    p, s = code(strong["predecessor"].to_numpy()), code(strong["successor"].to_numpy())
    if (p < 0).any() or (s < 0).any():
        unknown = np.concatenate([strong["predecessor"].to_numpy()[p < 0],
                                  strong["successor"].to_numpy()[s < 0]])
        raise ConfigError(f"successions name {len(unknown)} account(s) not in the accounts, "
                          f"e.g. {unknown[0]!r}")
    return p, s


def _chains(p: np.ndarray, s: np.ndarray, n: int) -> np.ndarray:
    """Per account code (``n`` accounts), its chain: the connected components of the
    successions ``p -> s``."""
    graph = sp.coo_matrix((np.ones(len(p)), (p, s)), shape=(n, n))
    return connected_components(graph, directed=False)[1]
