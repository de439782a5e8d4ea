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
* ``idf(e) = (log(N / deg(e)) / log(R)) ** idf_power`` (see :func:`idf_weights`) is 1 for an
  entity few accounts share and falls towards 0 for one many use, so carrier NAT pools, VPN
  exits and popular templates weigh little; hubs (see ``Settings.hub_degree``) weigh 0.

Synchrony comes from :mod:`graphkit.detection.synchrony`. The combined score is a noisy-OR over weighted
evidence, so each signal's contribution stays visible (Splink style):

    score(a, b) = 1 - exp(-sum_s weight_s * sim_s(a, b))

Candidate pairs come from the specific signals (IP, payment, template, cohort): all the pairs of each
entity while they fit ``max_candidate_pairs``, else a seeded random ring of ``k_e`` co-members
per member inside the large entities (:func:`ring_neighbours`, :func:`ring_sizes`); synchrony
LSH adds pairs only when timing may stand alone. Every candidate is scored exactly, and its
``inclusion`` probability is kept for the link weights: a drawn pair stands in for the
``1 / inclusion`` pairs it was drawn among, at most ``max_expansion`` (a trimmed
Horvitz-Thompson factor, :meth:`Links.edge_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection.minhash import mix64, sorted_unique
from graphkit.parallel import thread_map
from graphkit.progress import Progress, quiet
from graphkit.registry import Registry
from graphkit.settings import Settings

# Signals specific enough to tie two accounts on their own (SPECIFIC_SIGNALS: IP, payment,
# template, the derived sign-up cohort) propose candidates; the others (SUPPORTING_SIGNALS: timing, a proxy operator, a user
# agent) are shared by many unrelated customers: they only corroborate.


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
    similarity column per signal, and ``inclusion``, the probability the pair was drawn as a
    candidate; ``weights`` are the signal weights used."""

    table: pd.DataFrame
    n_accounts: int
    weights: dict[str, float] = field(default_factory=dict)
    # Neighbours per member drawn inside entities too large to expand (None: every pair kept).
    ring_neighbours: int | None = None
    # Most pairs one drawn pair stands in for (``Settings.max_expansion``); None: no limit
    # (plain Horvitz-Thompson).
    max_expansion: float | None = None
    # The run's supporting signals (shared by unrelated customers by design: a proxy operator,
    # a user agent, an address block; :attr:`graphkit.registry.Registry.supporting_signals`).
    supporting: tuple[str, ...] = ()

    def edge_weights(self) -> np.ndarray:
        """Weight of each link for communities and membership: ``score * min(1 / inclusion,
        max_expansion)``.

        A drawn pair stands in for the ``1 / inclusion`` pairs of its entities it was drawn
        among. Plain Horvitz-Thompson (``max_expansion`` None) weighs it ``score /
        inclusion``: unbiased for any fixed group's total tie weight, but Leiden maximizes over
        partitions, and a weak tie drawn with probability 0.002 weighing ~100 on one pair lets
        it build communities on the few heavy pairs the draw happened to pick (a crowd sharing
        a popular template gathers in stars around the fleet accounts it was drawn with, and
        the fleet dissolves). Trimming the factor (weight trimming, a standard bound on the
        variance of Horvitz-Thompson weights) keeps a sampled group's density above the
        resolution while no single drawn pair outweighs a fleet member's own ties.
        Expanded pairs (inclusion 1) weigh their score."""
        t = self.table
        score = t["score"].to_numpy(dtype=np.float64)
        if "inclusion" not in t:
            return score
        factor = 1.0 / np.clip(t["inclusion"].to_numpy(dtype=np.float64), 1e-12, 1.0)
        if self.max_expansion is not None:
            factor = np.minimum(factor, self.max_expansion)
        return score * factor

    def to_csr(self) -> sp.csr_matrix:
        """Symmetric account x account matrix of link weights (:meth:`edge_weights`)."""
        t = self.table
        n = self.n_accounts
        m = sp.coo_matrix((self.edge_weights(), (t["a"].to_numpy(), t["b"].to_numpy())), (n, n))
        return (m + m.T).tocsr()


def idf_weights(degree: np.ndarray, n_accounts: int, max_degree: float | None = None,
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
                  entity_factor: np.ndarray | None = None,
                  hub_cap: int | None = None,
                  weight_degree: np.ndarray | None = None) -> SignalMatrix:
    """Turn an account x entity count matrix into shares, dropping incidental use.

    ``floor_share`` (optional, same shape) raises shares, e.g. a payment method declared in the
    accounts file pays for all of the account's traffic. ``entity_factor`` (optional, one per
    entity) scales entity weights, e.g. addresses that a VPN or proxy operator shares by design.
    ``hub_cap`` (the kind's own hub cap, see :class:`graphkit.registry.Kind`) lowers the hub
    cut for this signal. ``weight_degree`` (optional, one per entity, NaN: none) is the number
    of users an entity's idf is computed from instead of its own (a template library weighs as
    one of its templates, :mod:`graphkit.detection.template_libraries`); the hub cut still
    uses its own.
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
    max_degree = settings.hub_degree(shares.shape[0])
    if hub_cap is not None:
        max_degree = min(max_degree, float(hub_cap))
    weighed = degree if weight_degree is None else np.where(np.isnan(weight_degree), degree,
                                                            weight_degree)
    idf = idf_weights(weighed, shares.shape[0], None, settings.idf_power,
                      settings.idf_reference)
    idf[degree > max_degree] = 0.0
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


def _used_entities(sig: SignalMatrix) -> np.ndarray:
    """Entities that can tie two accounts: shared by 2+ accounts, weight > 0 (hubs drop out)."""
    return np.flatnonzero((sig.degree >= 2) & (sig.idf > 0))


def ring_sizes(k: int, weight: np.ndarray) -> np.ndarray:
    """Neighbours per member inside each sampled entity: ``k`` scaled by the entity's weight
    (even, at least 2). A template a tenth of all accounts use (weight ~0.1) ties few pairs
    above ``min_link_score``; the budget goes where the evidence is."""
    return np.maximum(2, 2 * np.round(k * np.asarray(weight, np.float64) / 2)).astype(np.int64)


def ring_neighbours(degrees: np.ndarray, budget: int, minimum: int = 10,
                    weights: np.ndarray | None = None) -> int | None:
    """Neighbours per member ``k`` for entities too large to expand into all their pairs.

    An entity of degree ``d`` yields ``d (d - 1) / 2`` pairs when expanded and ``d k_e / 2``
    when its members are linked to ``k_e`` others in a random ring (``d - 1 > k_e``), with
    ``k_e = ring_sizes(k, weights)`` (``k`` itself without weights). Returns the largest even
    ``k`` whose total stays within ``budget`` pairs (never below ``minimum``), or None when
    every entity can be expanded within the budget (exact projection).

    >>> ring_neighbours(np.array([3, 4, 1000]), budget=10**6) is None
    True
    >>> ring_neighbours(np.array([3, 4, 1000]), budget=20_000)
    38
    """
    d = np.asarray(degrees, dtype=np.int64)
    w = np.ones(len(d)) if weights is None else np.asarray(weights, np.float64)
    full = d * (d - 1) // 2

    def total(k: int) -> int:
        return int(np.minimum(full, d * ring_sizes(k, w) // 2).sum())

    if len(d) == 0 or int(full.sum()) <= budget:
        return None
    lo, hi = max(2, minimum), max(2, int(d.max()))
    if total(lo) > budget:
        return lo + lo % 2
    while hi - lo > 1:  # largest k with total(k) <= budget
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if total(mid) <= budget else (lo, mid)
    return lo - lo % 2


def ring_order(x: sp.spmatrix, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray]:
    """The seeded ring of each column of ``x``: members (rows) sorted by column, then by a hash
    of (row, column); returns rows, columns, each member's position on its column's ring and
    the column's degree (the ring's length), in that order.

    >>> ring_order(sp.csr_matrix(np.ones((3, 1))), seed=0)[2].tolist()
    [0, 1, 2]
    """
    csc = x.tocsc()
    deg = np.diff(csc.indptr)
    col = np.repeat(np.arange(len(deg)), deg)
    row = csc.indices.astype(np.int64)
    order = np.lexsort((mix64((row.astype(np.uint64) << np.uint64(32)) | col.astype(np.uint64),
                              seed), col))
    row_s, col_s = row[order], col[order]
    pos = np.arange(len(row_s)) - csc.indptr[:-1][col_s]
    return row_s, col_s, pos, deg[col_s]


def _ring_pairs(x: sp.csr_matrix, sizes: np.ndarray, seed: int) -> np.ndarray:
    """Pair keys linking every member of column ``e`` of ``x`` to ``sizes[e]`` others: members
    in a random order per entity (seeded), each tied to its ``sizes[e] / 2`` successors on the
    ring.

    Any two members of an entity of degree ``d`` end up paired with probability
    ``sizes[e] / (d - 1)``, independently across entities: the inclusion probability the link
    weights correct for."""
    row_s, col_s, pos, d = ring_order(x, seed)
    start = np.arange(len(row_s)) - pos
    reach = sizes[col_s] // 2
    out = []
    for j in range(1, int(reach.max(initial=0)) + 1):  # a loop over ring offsets, not pairs
        at = np.flatnonzero(reach >= j)
        partner = row_s[start[at] + (pos[at] + j) % d[at]]
        out.append(_pair_keys(np.minimum(row_s[at], partner), np.maximum(row_s[at], partner)))
    return np.concatenate(out) if out else np.empty(0, np.int64)


def _rowwise_dot(x: sp.csr_matrix, a: np.ndarray, b: np.ndarray,
                 column_values: np.ndarray | None = None, chunk: int = 1_000_000
                 ) -> tuple[np.ndarray, np.ndarray]:
    """For each pair (a[i], b[i]): the dot product of rows a[i] and b[i] of ``x``, and the sum
    of ``column_values`` over the columns both rows hold (a masked sparse product, chunked so
    memory stays bounded)."""
    dot = np.zeros(len(a))
    tally = np.zeros(len(a))
    filled = np.diff(x.indptr) > 0
    both = np.flatnonzero(filled[a] & filled[b])  # pairs with an empty row share nothing
    for s in range(0, len(both), chunk):
        at = both[s:s + chunk]
        prod = x[a[at]].multiply(x[b[at]]).tocsr()
        rows = np.repeat(np.arange(prod.shape[0]), np.diff(prod.indptr))
        dot[at] = np.bincount(rows, weights=prod.data, minlength=prod.shape[0])
        if column_values is not None:
            tally[at] = np.bincount(rows, weights=column_values[prod.indices],
                                    minlength=prod.shape[0])
    return dot, tally


def pair_similarities(signals: dict[str, SignalMatrix], a: np.ndarray, b: np.ndarray,
                      settings: Settings, roots: dict[str, sp.csr_matrix] | None = None
                      ) -> dict[str, np.ndarray]:
    """Per weighted entity signal: the similarity of each given pair ``(a[i], b[i])`` (the
    idf-weighted Bhattacharyya sum of link scoring, clipped to [0, 1]), for pairs chosen by
    other means than candidate generation (e.g. a banned account and its replacements).

    >>> s = Settings()
    >>> ip = signal_matrix("ip", sp.csr_matrix(np.array([[5.0], [5.0], [0.0]])),
    ...                    np.array([5, 5, 4]), np.array(["10.0.0.1"]), s)
    >>> pair_similarities({"ip": ip}, np.array([0, 0]), np.array([1, 2]), s)["ip"].tolist()
    [1.0, 0.0]

    ``roots`` (:func:`similarity_roots` of the same signals and settings) saves building
    them again when pairs come in blocks.
    """
    roots = similarity_roots(signals, settings) if roots is None else roots
    return {name: np.clip(_rowwise_dot(x, np.asarray(a), np.asarray(b))[0], 0.0, 1.0)
            for name, x in roots.items()}  # a handful of signals


def similarity_roots(signals: dict[str, SignalMatrix], settings: Settings
                     ) -> dict[str, sp.csr_matrix]:
    """Per weighted signal, the accounts x entities matrix whose row products are
    :func:`pair_similarities` (before clipping)."""
    return {name: _weighted_roots(sig, _used_entities(sig))
            for name, sig in _weighted_signals(signals, settings).items()}


@dataclass
class _Projection:
    """One signal's weighted-roots matrix split by entity size, for candidates and scoring."""

    small: sp.csr_matrix  # entities expanded into all their pairs
    large: sp.csr_matrix  # entities sampled through a ring (may have no columns)
    ring: np.ndarray  # per large entity: neighbours per member
    log_miss: np.ndarray  # per large entity: log(1 - inclusion probability of a member pair)


def _project(sig: SignalMatrix, k: int | None) -> _Projection:
    used = _used_entities(sig)
    x = _weighted_roots(sig, used)
    d = sig.degree[used]
    sizes = ring_sizes(k or 0, sig.idf[used])
    big = np.zeros(len(used), bool) if k is None else (d - 1 > sizes)
    p = sizes[big] / np.maximum(d[big] - 1, 1)
    return _Projection(x[:, np.flatnonzero(~big)].tocsr(), x[:, np.flatnonzero(big)].tocsr(),
                       sizes[big], np.log1p(-np.minimum(p, 1.0 - 1e-12)))


@dataclass
class Candidates:
    """Candidate pairs (sorted pair keys ``a << 32 | b``, a < b) and how they were drawn."""

    keys: np.ndarray
    projections: dict[str, _Projection]  # per specific signal
    expanded: dict[str, sp.coo_matrix]  # per specific signal: similarities of expanded pairs
    ring_neighbours: int | None  # k of the ring sampling (None: every pair expanded)

    @property
    def a(self) -> np.ndarray:
        return (self.keys >> 32).astype(np.int64)

    def block(self, lo: int, hi: int) -> Candidates:
        """The candidates ``lo:hi`` (in key order) with the expanded pairs among them: every
        pair is scored on its own, so blocks of pairs scored one after the other give what
        all of them at once give."""
        keys = self.keys[lo:hi]
        expanded = {}
        for name, coo in self.expanded.items():  # three signals, not pairs
            key = _pair_keys(coo.row, coo.col)
            at = np.flatnonzero((key >= keys[0]) & (key <= keys[-1])) if len(keys) else []
            expanded[name] = sp.coo_matrix((coo.data[at], (coo.row[at], coo.col[at])),
                                           shape=coo.shape)
        return Candidates(keys, self.projections, expanded, self.ring_neighbours)

    @property
    def b(self) -> np.ndarray:
        return (self.keys & 0xFFFFFFFF).astype(np.int64)


@dataclass
class Similarities:
    """Per-signal similarity of every candidate pair, and the evidence sums built from them."""

    columns: dict[str, np.ndarray]  # signal -> similarity in [0, 1]
    footprint: np.ndarray  # weighted specific evidence: shared IP, card, template
    supporting: np.ndarray  # weighted evidence that only corroborates
    inclusion: np.ndarray  # probability the pair was drawn as a candidate


def _weighted_signals(signals: dict[str, SignalMatrix], settings: Settings
                      ) -> dict[str, SignalMatrix]:
    return {name: sig for name, sig in signals.items() if settings.weight(name) > 0}


def candidate_plan(signals: dict[str, SignalMatrix], settings: Settings,
                   registry: Registry | None = None
                   ) -> tuple[dict[str, SignalMatrix], list[str], int | None]:
    """The weighted signals, the specific ones among them (in registry order: the ring seed of
    the ``i``-th is ``seed + i``) and the ring size ``k`` (None: every pair expanded)."""
    weighted = _weighted_signals(signals, settings)
    specific = [name for name in (registry or Registry.static()).specific_signals
                if name in weighted]
    used = {s: _used_entities(weighted[s]) for s in specific}
    k = ring_neighbours(
        np.concatenate([weighted[s].degree[used[s]] for s in specific] or [np.zeros(0)]),
        settings.max_candidate_pairs, minimum=settings.min_ring_neighbours,
        weights=np.concatenate([weighted[s].idf[used[s]] for s in specific] or [np.zeros(0)]))
    return weighted, specific, k


def candidate_pairs(signals: dict[str, SignalMatrix], settings: Settings,
                    sync=None, registry: Registry | None = None) -> Candidates:
    """Candidate pairs: accounts sharing a specific entity (IP, payment method, template).

    Each entity is expanded into all its member pairs while the total fits
    ``max_candidate_pairs``; beyond that, entities larger than ``k_e + 1`` link each member to
    ``k_e`` random co-members (:func:`ring_neighbours`, :func:`ring_sizes`). When
    ``sync_corroboration`` is 0 (timing taken as evidence on its own), synchrony LSH adds the
    lock-step pairs of ``sync`` too. Only signals with a positive weight take part.
    """
    weighted, specific, k = candidate_plan(signals, settings, registry)
    projections = {name: _project(weighted[name], k) for name in specific}
    expanded: dict[str, sp.coo_matrix] = {}
    keys = []
    for i, name in enumerate(specific):  # three signals, not pairs
        proj = projections[name]
        expanded[name] = sp.triu(proj.small @ proj.small.T, k=1).tocoo()
        keys.append(_pair_keys(expanded[name].row, expanded[name].col))
        if proj.large.shape[1]:
            keys.append(_ring_pairs(proj.large, proj.ring, settings.seed + i))
    if _use_sync(sync, settings) and settings.sync_corroboration <= 0:
        # Timing taken as evidence on its own: LSH proposes lock-step pairs that share nothing.
        cand = sync.candidate_pairs(settings)
        keys.append(_pair_keys(cand[:, 0], cand[:, 1]))
    all_keys = sorted_unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)
    return Candidates(all_keys, projections, expanded, k)


def _use_sync(sync, settings: Settings) -> bool:
    return sync is not None and settings.weight("synchrony") > 0


def entity_similarities(signals: dict[str, SignalMatrix], cand: Candidates,
                        settings: Settings, registry: Registry | None = None) -> Similarities:
    """Similarity of every candidate pair on every weighted entity signal.

    Specific signals read the expanded pairs' products and add the sampled entities' row
    products (whose miss probabilities give each pair's ``inclusion``); supporting signals
    generate no pairs and are scored on the candidates only.
    """
    weighted = _weighted_signals(signals, settings)
    n_pairs = len(cand.keys)
    columns: dict[str, np.ndarray] = {}
    footprint = np.zeros(n_pairs)
    supporting = np.zeros(n_pairs)
    expanded_pair = np.zeros(n_pairs, bool)
    log_miss = np.zeros(n_pairs)
    registry = registry or Registry.static()
    specific = set(registry.specific_signals)
    names = [name for name in registry.entity_signals if name in weighted]
    # One signal per thread (scipy's sparse kernels release the GIL); summed in signal order.
    found = thread_map(lambda name: _signal_similarity(name, weighted[name], cand), names)
    for name, (sim, expanded, miss) in zip(names, found, strict=True):  # a handful of signals
        if expanded is not None:
            expanded_pair[expanded] = True
        if miss is not None:
            log_miss += miss
        columns[name] = np.clip(sim, 0.0, 1.0)
        if name in specific:
            footprint += settings.weight(name) * columns[name]
        else:
            supporting += settings.weight(name) * columns[name]
    drawn = -np.expm1(log_miss)
    inclusion = np.where(expanded_pair | (drawn <= 0), 1.0, drawn)
    return Similarities(columns, footprint, supporting, inclusion)


def _signal_similarity(name: str, sig: SignalMatrix, cand: Candidates
                       ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One signal's similarity of every candidate pair: (similarity before clipping, the
    positions of the pairs expanded from its entities or None, each pair's log miss
    probability over its sampled entities or None)."""
    if name not in cand.projections:
        roots = _weighted_roots(sig, _used_entities(sig))
        return _rowwise_dot(roots, cand.a, cand.b)[0], None, None
    coo, proj = cand.expanded[name], cand.projections[name]
    sim = np.zeros(len(cand.keys))
    where = np.searchsorted(cand.keys, _pair_keys(coo.row, coo.col))
    sim[where] = coo.data
    miss = None
    if proj.large.shape[1]:
        dot, miss = _rowwise_dot(proj.large, cand.a, cand.b, proj.log_miss)
        sim += dot
    return sim, where, miss


def corroboration_gate(footprint: np.ndarray, settings: Settings) -> np.ndarray:
    """How far supporting evidence counts: ``clip(footprint / sync_corroboration, 0, 1)`` (1
    everywhere when ``sync_corroboration`` is 0).

    >>> corroboration_gate(np.array([0.0, 0.25, 2.0]), Settings()).tolist()
    [0.0, 0.5, 1.0]
    """
    if settings.sync_corroboration > 0:
        return np.clip(footprint / settings.sync_corroboration, 0.0, 1.0)
    return np.ones(len(footprint))


def add_synchrony(sims: Similarities, cand: Candidates, gate: np.ndarray, sync,
                  settings: Settings) -> None:
    """Estimate synchrony where it can matter and add it to ``sims`` (in place).

    Only pairs that would reach ``min_link_score`` in perfect lock-step are estimated (most
    pairs sharing only a popular template cannot).
    """
    if not _use_sync(sync, settings):
        return
    a, b = cand.a, cand.b
    sync_sim = np.zeros(len(cand.keys))
    best = sims.footprint + gate * (sims.supporting + settings.weight("synchrony"))
    scored = np.flatnonzero((gate > 0) & (1.0 - np.exp(-best) >= settings.min_link_score))
    sync_sim[scored] = sync.score(a[scored], b[scored], settings)
    sims.columns["synchrony"] = sync_sim * gate
    sims.supporting += settings.weight("synchrony") * sync_sim


def link_table(sims: Similarities, cand: Candidates, gate: np.ndarray,
               settings: Settings, registry: Registry | None = None) -> pd.DataFrame:
    """Combine the evidence (noisy-OR), keep pairs above ``min_link_score``: columns a, b,
    score, one column per signal in :data:`~graphkit.registry.SIGNALS` order, inclusion."""
    return _link_frame(link_columns(sims, cand, gate, settings, registry))


def link_columns(sims: Similarities, cand: Candidates, gate: np.ndarray,
                 settings: Settings, registry: Registry | None = None
                 ) -> dict[str, np.ndarray | None]:
    """The columns of :func:`link_table` as arrays of the kept pairs (None: a signal the
    run does not weigh, all 0)."""
    registry = registry or Registry.static()
    columns = dict(sims.columns)
    for name in registry.supporting_signals:  # report what each supporting signal actually contributed
        if name in columns and name != "synchrony":
            columns[name] = columns[name] * gate
    evidence = sims.footprint + gate * sims.supporting
    score = 1.0 - np.exp(-evidence)
    keep = score >= settings.min_link_score
    out: dict[str, np.ndarray | None] = {"a": cand.a[keep], "b": cand.b[keep],
                                         "score": score[keep]}
    for name in registry.signals:
        out[name] = columns[name][keep] if name in columns else None
    out["inclusion"] = sims.inclusion[keep]
    return out


def _link_frame(columns: dict[str, np.ndarray | None]) -> pd.DataFrame:
    """The link table of :func:`link_columns`' arrays (the first three make the frame)."""
    names = list(columns)
    table = pd.DataFrame({name: columns[name] for name in names[:3]})
    for name in names[3:]:
        table[name] = 0.0 if columns[name] is None else columns[name]
    return table.reset_index(drop=True)


def _concat_columns(blocks: list[dict[str, np.ndarray | None]]
                    ) -> dict[str, np.ndarray | None]:
    """The blocks' columns end to end, each block's column dropped once copied (so the
    blocks and the result together hold little more than the result)."""
    out: dict[str, np.ndarray | None] = {}
    for name in list(blocks[0]):  # a dozen columns
        parts = [block.pop(name) for block in blocks]
        out[name] = None if parts[0] is None else np.concatenate(parts)
        del parts
    return out


def score_links(signals: dict[str, SignalMatrix], sync, settings: Settings,
                progress: Progress | None = None, registry: Registry | None = None,
                block: int = 1 << 21) -> Links:
    """Score all candidate pairs on every signal and keep those above ``min_link_score``.

    Candidates are the pairs sharing a specific entity (IP, payment method, template). An entity
    is expanded into all its member pairs while the total stays within
    ``max_candidate_pairs``; beyond that, entities larger than ``k_e + 1`` (see
    :func:`ring_neighbours` and :func:`ring_sizes`) link each member to ``k_e`` random
    co-members instead, so a 5,000-account fleet costs 5,000 k_e / 2 pairs, not 12.5 million.
    Every candidate is then scored exactly, on all its shared entities of every signal (the
    Bhattacharyya coefficient of the two accounts' traffic over an entity kind, weighted by
    idf). Supporting signals count as far as specific evidence corroborates them. The
    ``inclusion`` column is the probability that the pair was drawn (1 for expanded pairs);
    communities and membership weigh a link by ``score * min(1 / inclusion, max_expansion)``
    (a trimmed Horvitz-Thompson factor, :meth:`Links.edge_weights`), so a sampled fleet keeps
    a density above the resolution while a weak crowd drawn through a popular value does not
    weigh ~100 per drawn pair.

    The steps are :func:`candidate_pairs`, :func:`entity_similarities`,
    :func:`corroboration_gate` with :func:`add_synchrony`, and :func:`link_table`.

    Parameters
    ----------
    signals : dict of str to SignalMatrix
        Entity-signal name -> account x entity shares (:func:`signal_matrix`); all with the same
        number of accounts.
    sync : graphkit.detection.synchrony.WindowSignatures or None
        Window signatures for the synchrony signal; None leaves it at 0.
    settings : Settings
        ``signal_weights``, ``min_link_score``, ``max_candidate_pairs``,
        ``min_ring_neighbours``, ``sync_corroboration``, ``seed`` and the synchrony knobs.
    progress : Progress, optional
        Receives the timed steps.
    registry : Registry, optional
        The run's kinds (declared kinds and relations add signals); the static registry by
        default.
    block : int, default 2**21
        Candidate pairs scored at once (the results do not depend on it; memory does).

    Returns
    -------
    Links
        ``table`` with a, b (account codes, a < b, sorted), score, one similarity column per
        signal of :data:`graphkit.registry.SIGNALS` and inclusion; ``ring_neighbours`` is the
        ring size used (None when every pair was expanded).

    Raises
    ------
    StopIteration
        When ``signals`` is empty and ``sync`` is None (no accounts to score).

    Examples
    --------
    Two accounts that send all their traffic through one IP (idf 1) and nothing else:

    >>> import scipy.sparse as sp
    >>> from graphkit.settings import Settings
    >>> s = Settings()
    >>> ip = signal_matrix("ip", sp.csr_matrix(np.array([[5.0], [5.0], [0.0]])),
    ...                    np.array([5, 5, 4]), np.array(["10.0.0.1"]), s)
    >>> t = score_links({"ip": ip}, None, s).table
    >>> t[["a", "b", "score", "ip", "inclusion"]].round(4).to_dict("records")
    [{'a': 0, 'b': 1, 'score': 0.7769, 'ip': 1.0, 'inclusion': 1.0}]

    References
    ----------
    .. [1] A. Bhattacharyya, "On a measure of divergence between two statistical populations
       defined by their probability distributions", Bull. Calcutta Math. Soc. 35, 1943.
    .. [2] D. G. Horvitz and D. J. Thompson, "A generalization of sampling without replacement
       from a finite universe", JASA 47(260), 1952.
    .. [3] Q. Cao, X. Yang, J. Yu and C. Palow, "Uncovering large groups of active malicious
       accounts in online social networks" (SynchroTrap), ACM CCS 2014.
    """
    progress = progress or quiet()
    n = next(iter(signals.values())).shares.shape[0] if signals else len(sync.n_windows)
    with progress.step("links: candidate pairs"):
        cand = candidate_pairs(signals, settings, sync, registry)
    # Blocks of pairs, so that the dozen per-pair arrays are those of one block: the kept
    # links are what is held.
    kept = []
    for lo in range(0, max(len(cand.keys), 1), block):  # a few blocks, each vectorized
        part = cand.block(lo, lo + block)
        with progress.step("links: scoring pairs"):
            sims = entity_similarities(signals, part, settings, registry)
            gate = corroboration_gate(sims.footprint, settings)
        with progress.step("links: synchrony of pairs"):
            add_synchrony(sims, part, gate, sync, settings)
            kept.append(link_columns(sims, part, gate, settings, registry))
        del part, sims, gate
    table = _link_frame(_concat_columns(kept))
    return Links(table, n, dict(settings.signal_weights), ring_neighbours=cand.ring_neighbours,
                 max_expansion=settings.max_expansion,
                 supporting=(registry or Registry.static()).supporting_signals)
