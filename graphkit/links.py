"""Link scoring: account-account links from shared entities, scored per signal and combined.

For an entity signal ``s`` (IP, payment method, template, proxy provider, user agent) the
similarity of accounts ``a`` and ``b`` is

    sim_s(a, b) = sum over shared entities e of  sqrt(share_a(e) * share_b(e)) * idf(e)

* ``share_a(e)`` is the fraction of ``a``'s traffic that goes through ``e`` (uses below
  ``min_entity_share`` are incidental and dropped). Weighing by traffic share means camouflage
  neither dilutes nor creates ties: a fleet account that sends 30 % popular prompts still shares
  the other 70 % with its fleet, and shares only a small, hub-discounted amount with the
  strangers it imitates. The geometric mean (the Bhattacharyya coefficient of the two accounts'
  traffic distributions) is at most 1, equals the shared share when both accounts put the same
  share on ``e``, and is one sparse matrix product for all pairs at once.
* ``idf(e) = log(N / deg(e)) / log(N / 2)`` is 1 for an entity two accounts share and falls to 0
  for one every account uses, so carrier NAT pools, VPN exits and popular templates weigh little.

Synchrony comes from :mod:`graphkit.synchrony`. The combined score is a noisy-OR over weighted
evidence, so each signal's contribution stays visible (Splink style):

    score(a, b) = 1 - exp(-sum_s weight_s * sim_s(a, b))

Candidate pairs come from entities used by at most ``max_entity_degree`` accounts (all their
pairs, via the sparse product) and from synchrony LSH; entities above the cap (hubs) add their
evidence to those candidates only, so a NAT pool never generates millions of pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.progress import Progress, quiet
from graphkit.settings import SIGNALS, Settings

ENTITY_SIGNALS = ("ip", "payment", "template", "proxy", "user_agent")


@dataclass
class SignalMatrix:
    """Account x entity shares for one signal, with entity weights (idf) and degrees."""

    name: str
    shares: sp.csr_matrix  # accounts x entities, share of the account's traffic
    idf: np.ndarray
    degree: np.ndarray
    keys: np.ndarray  # entity key per column (for evidence)


@dataclass
class Links:
    """Scored account pairs. ``table`` has account_a, account_b (codes, a < b), score and one
    similarity column per signal; ``weights`` are the signal weights used."""

    table: pd.DataFrame
    n_accounts: int
    weights: dict[str, float] = field(default_factory=dict)

    def to_csr(self) -> sp.csr_matrix:
        """Symmetric account x account matrix of link scores."""
        t = self.table
        n = self.n_accounts
        m = sp.coo_matrix((t["score"].to_numpy(), (t["a"].to_numpy(), t["b"].to_numpy())), (n, n))
        return (m + m.T).tocsr()


def idf_weights(degree: np.ndarray, n_accounts: int) -> np.ndarray:
    """``log(N / deg) / log(N / 2)`` clipped to [0, 1]; 1 for an entity exactly two accounts share."""
    n = max(n_accounts, 3)
    deg = np.maximum(degree.astype(np.float64), 1.0)
    return np.clip(np.log(n / deg) / np.log(n / 2.0), 0.0, 1.0)


def signal_matrix(name: str, counts: sp.spmatrix, n_events: np.ndarray, keys: np.ndarray,
                  settings: Settings, floor_share: np.ndarray | None = None) -> SignalMatrix:
    """Turn an account x entity count matrix into shares, dropping incidental use.

    ``floor_share`` (optional, same shape) raises shares, e.g. a payment method declared in the
    accounts file pays for all of the account's traffic.
    """
    counts = sp.csr_matrix(counts, dtype=np.float64)
    inv = 1.0 / np.maximum(n_events.astype(np.float64), 1.0)
    shares = sp.diags(inv) @ counts
    if floor_share is not None:
        shares = shares.maximum(sp.csr_matrix(floor_share))
    shares = sp.csr_matrix(shares)
    shares.data = np.minimum(shares.data, 1.0)
    shares.data[shares.data < settings.min_entity_share] = 0.0
    shares.eliminate_zeros()
    degree = np.diff(shares.tocsc().indptr)
    return SignalMatrix(name, shares, idf_weights(degree, shares.shape[0]), degree, keys)


def _pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) << 32) | b.astype(np.int64)


def _weighted_roots(sig: SignalMatrix, columns: np.ndarray) -> sp.csr_matrix:
    """sqrt(share) * sqrt(idf): row products of this matrix are the similarities."""
    x = sig.shares[:, columns].tocsr()
    x.data = np.sqrt(x.data)
    return (x @ sp.diags(np.sqrt(sig.idf[columns]))).tocsr()


def _regular_similarity(sig: SignalMatrix, max_degree: int) -> sp.coo_matrix:
    """Similarity of every pair sharing an entity of degree in [2, max_degree]."""
    regular = np.flatnonzero((sig.degree >= 2) & (sig.degree <= max_degree))
    n = sig.shares.shape[0]
    if len(regular) == 0:
        return sp.coo_matrix((n, n))
    x = _weighted_roots(sig, regular)
    return sp.triu(x @ x.T, k=1).tocoo()


def _hub_similarity(sig: SignalMatrix, max_degree: int, i: np.ndarray, j: np.ndarray,
                    chunk: int = 1_000_000) -> np.ndarray:
    """Similarity through hub entities (degree > max_degree), for the given pairs only."""
    hubs = np.flatnonzero(sig.degree > max_degree)
    out = np.zeros(len(i))
    if len(hubs) == 0 or len(i) == 0:
        return out
    x = _weighted_roots(sig, hubs)
    for s in range(0, len(i), chunk):  # chunks bound memory; the work inside is vectorized
        rows_i, rows_j = x[i[s : s + chunk]], x[j[s : s + chunk]]
        out[s : s + chunk] = np.asarray(rows_i.multiply(rows_j).sum(axis=1)).ravel()
    return out


def score_links(signals: dict[str, SignalMatrix], sync, settings: Settings,
                progress: Progress | None = None) -> Links:
    """Score all candidate pairs on every signal and keep those above ``min_link_score``.

    ``signals`` maps entity-signal names to :class:`SignalMatrix`; ``sync`` is a
    :class:`graphkit.synchrony.WindowSignatures` or None.
    """
    progress = progress or quiet()
    n = next(iter(signals.values())).shares.shape[0] if signals else len(sync.n_windows)
    regular: dict[str, sp.coo_matrix] = {}
    keys = []
    with progress.step("links: shared entities"):
        for name, sig in signals.items():
            if settings.weight(name) <= 0:
                continue
            regular[name] = _regular_similarity(sig, settings.max_entity_degree)
            keys.append(_pair_keys(regular[name].row, regular[name].col))
    if sync is not None and settings.weight("synchrony") > 0:
        with progress.step("links: synchrony candidates"):
            cand = sync.candidate_pairs(settings)
            keys.append(_pair_keys(cand[:, 0], cand[:, 1]))
    with progress.step("links: scoring pairs"):
        all_keys = np.unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
        a = (all_keys >> 32).astype(np.int64)
        b = (all_keys & 0xFFFFFFFF).astype(np.int64)
        columns: dict[str, np.ndarray] = {}
        evidence = np.zeros(len(all_keys))
        for name in ENTITY_SIGNALS:
            if name not in regular:
                continue
            coo = regular[name]
            sim = np.zeros(len(all_keys))
            pos = np.searchsorted(all_keys, _pair_keys(coo.row, coo.col))
            sim[pos] = coo.data
            sim += _hub_similarity(signals[name], settings.max_entity_degree, a, b)
            columns[name] = np.clip(sim, 0.0, 1.0)
            evidence += settings.weight(name) * columns[name]
        if sync is not None and settings.weight("synchrony") > 0:
            columns["synchrony"] = sync.score(a, b, settings).astype(np.float64)
            evidence += settings.weight("synchrony") * columns["synchrony"]
        score = 1.0 - np.exp(-evidence)
        keep = score >= settings.min_link_score
        table = pd.DataFrame({"a": a[keep], "b": b[keep], "score": score[keep]})
        for name in SIGNALS:
            table[name] = columns[name][keep] if name in columns else 0.0
    return Links(table.reset_index(drop=True), n, dict(settings.signal_weights))
