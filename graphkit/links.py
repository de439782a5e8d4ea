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

from graphkit.minhash import sorted_unique
from graphkit.progress import Progress, quiet
from graphkit.settings import SIGNALS, Settings

ENTITY_SIGNALS = ("ip", "payment", "template", "proxy", "user_agent")
# Signals specific enough to tie two accounts on their own. The others (timing, a proxy
# operator, a user agent) are shared by many unrelated customers: they only corroborate.
CORROBORATING = ("ip", "payment", "template")
SUPPORTING = ("synchrony", "proxy", "user_agent")


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


def idf_weights(degree: np.ndarray, n_accounts: int, max_degree: int | None = None,
                power: float = 1.0, reference: float = 1000.0) -> np.ndarray:
    """Entity weight from its degree: ``(log(N / deg) / log(R)) ** power`` clipped to [0, 1].

    ``N / deg`` is the likelihood ratio of two accounts sharing the entity by coordination
    rather than by chance; an entity used by at most one account in ``R = min(reference, N/2)``
    gets full weight, one every account uses gets 0. The fixed reference keeps weights
    comparable across dataset sizes: a fleet holding the same fraction of a twice larger
    population is tied exactly as strongly (normalizing by ``log(N/2)`` would weaken it).
    ``power`` > 1 makes the fall steeper. Entities used by more than ``max_degree`` accounts
    are hubs (carrier NAT pools, VPN exits, the most popular templates): weight 0, so they
    never tie two accounts together however much of their traffic they carry.
    """
    n = max(n_accounts, 3)
    ref = min(reference, n / 2.0)
    deg = np.maximum(degree.astype(np.float64), 1.0)
    w = np.clip(np.log(n / deg) / np.log(ref), 0.0, 1.0) ** power
    if max_degree is not None:
        w[deg > max_degree] = 0.0
    return w


def signal_matrix(name: str, counts: sp.spmatrix, n_events: np.ndarray, keys: np.ndarray,
                  settings: Settings, floor_share: sp.spmatrix | None = None,
                  entity_factor: np.ndarray | None = None) -> SignalMatrix:
    """Turn an account x entity count matrix into shares, dropping incidental use.

    ``floor_share`` (optional, same shape) raises shares, e.g. a payment method declared in the
    accounts file pays for all of the account's traffic. ``entity_factor`` (optional, one per
    entity) scales entity weights, e.g. addresses that a VPN or proxy operator shares by design.
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
    idf = idf_weights(degree, shares.shape[0], settings.max_entity_degree, settings.idf_power)
    if entity_factor is not None:
        idf = idf * entity_factor
    return SignalMatrix(name, shares, idf, degree, keys)


def _pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a.astype(np.int64) << 32) | b.astype(np.int64)


def _weighted_roots(sig: SignalMatrix, columns: np.ndarray) -> sp.csr_matrix:
    """sqrt(share) * sqrt(idf): row products of this matrix are the similarities."""
    x = sig.shares[:, columns].tocsr()
    x.data = np.sqrt(x.data)
    return (x @ sp.diags(np.sqrt(sig.idf[columns]))).tocsr()


def _entity_similarity(sig: SignalMatrix) -> sp.coo_matrix:
    """Similarity of every pair sharing a weighted entity (hubs have weight 0 and drop out)."""
    used = np.flatnonzero((sig.degree >= 2) & (sig.idf > 0))
    n = sig.shares.shape[0]
    if len(used) == 0:
        return sp.coo_matrix((n, n))
    x = _weighted_roots(sig, used)
    return sp.triu(x @ x.T, k=1).tocoo()


def score_links(signals: dict[str, SignalMatrix], sync, settings: Settings,
                progress: Progress | None = None) -> Links:
    """Score all candidate pairs on every signal and keep those above ``min_link_score``.

    ``signals`` maps entity-signal names to :class:`SignalMatrix`; ``sync`` is a
    :class:`graphkit.synchrony.WindowSignatures` or None.
    """
    progress = progress or quiet()
    n = next(iter(signals.values())).shares.shape[0] if signals else len(sync.n_windows)
    pair_sims: dict[str, sp.coo_matrix] = {}
    keys = []
    with progress.step("links: shared entities"):
        for name, sig in signals.items():
            if settings.weight(name) <= 0:
                continue
            pair_sims[name] = _entity_similarity(sig)
            keys.append(_pair_keys(pair_sims[name].row, pair_sims[name].col))
    use_sync = sync is not None and settings.weight("synchrony") > 0
    if use_sync and settings.sync_corroboration <= 0:
        # Timing taken as evidence on its own: LSH proposes lock-step pairs that share nothing.
        with progress.step("links: synchrony candidates"):
            cand = sync.candidate_pairs(settings)
            keys.append(_pair_keys(cand[:, 0], cand[:, 1]))
    with progress.step("links: scoring pairs"):
        all_keys = sorted_unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
        a = (all_keys >> 32).astype(np.int64)
        b = (all_keys & 0xFFFFFFFF).astype(np.int64)
        columns: dict[str, np.ndarray] = {}
        footprint = np.zeros(len(all_keys))  # specific evidence: shared IP, card, template
        supporting = np.zeros(len(all_keys))  # evidence that only corroborates
        for name in ENTITY_SIGNALS:
            if name not in pair_sims:
                continue
            coo = pair_sims[name]
            sim = np.zeros(len(all_keys))
            sim[np.searchsorted(all_keys, _pair_keys(coo.row, coo.col))] = coo.data
            columns[name] = np.clip(sim, 0.0, 1.0)
            if name in CORROBORATING:
                footprint += settings.weight(name) * columns[name]
            else:
                supporting += settings.weight(name) * columns[name]
        gate = (np.clip(footprint / settings.sync_corroboration, 0.0, 1.0)
                if settings.sync_corroboration > 0 else np.ones(len(all_keys)))
        if use_sync:
            sync_sim = np.zeros(len(all_keys))
            # Synchrony is estimated only where it can matter: pairs that would reach
            # min_link_score if they were in perfect lock-step (most pairs sharing only a
            # popular template cannot).
            best = footprint + gate * (supporting + settings.weight("synchrony"))
            scored = np.flatnonzero((gate > 0)
                                    & (1.0 - np.exp(-best) >= settings.min_link_score))
            sync_sim[scored] = sync.score(a[scored], b[scored], settings)
            columns["synchrony"] = sync_sim * gate
            supporting += settings.weight("synchrony") * sync_sim
        for name in SUPPORTING:  # report what each supporting signal actually contributed
            if name in columns and name != "synchrony":
                columns[name] = columns[name] * gate
        evidence = footprint + gate * supporting
        score = 1.0 - np.exp(-evidence)
        keep = score >= settings.min_link_score
        table = pd.DataFrame({"a": a[keep], "b": b[keep], "score": score[keep]})
        for name in SIGNALS:
            table[name] = columns[name][keep] if name in columns else 0.0
    return Links(table.reset_index(drop=True), n, dict(settings.signal_weights))
