"""Account x entity share matrices, one per link signal, read from the heterogeneous graph.

Which signals exist and which graph edge carries each comes from :mod:`graphkit.registry`:
every signal kind whose relationship starts at an account is read from that edge; the proxy
provider, which hangs off an IP, is counted from the events separately.

>>> SIGNAL_EDGES
{'ip': 'USED_IP', 'payment': 'PAID_WITH', 'template': 'SENT', 'user_agent': 'USED_AGENT'}
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection import links as links_mod
from graphkit.detection.cohorts import cohort_incidence
from graphkit.detection.links import SignalMatrix
from graphkit.detection.near_duplicates import family_incidence, template_families
from graphkit.detection.template_libraries import fold_libraries
from graphkit.graph.coding import code_keys_sql
from graphkit.graph.hetero import HeteroGraph
from graphkit.io import Dataset
from graphkit.registry import ACCOUNT_LABEL, signal_kinds
from graphkit.settings import Settings

# Entity signals and the graph edge that carries them (registry order).
SIGNAL_EDGES: dict[str, str] = {k.name: k.rel for k in signal_kinds()
                                if k.source == ACCOUNT_LABEL}
# The DuckDB relation (account_id, account_idx) that detect registers for the run.
ACCOUNT_CODES = "gk_account_codes"


def signal_matrices(graph: HeteroGraph, dataset: Dataset, settings: Settings,
                    account_codes: str = ACCOUNT_CODES,
                    proxy_counts: pd.DataFrame | None = None) -> dict[str, SignalMatrix]:
    """Account x entity share matrices for every entity signal present in the graph.

    ``account_codes`` names a relation registered on ``dataset.con`` with columns
    ``account_id`` and ``account_idx`` (needed for the proxy signal only). ``proxy_counts``
    (account_id, provider, n: events per account and provider, computed elsewhere, e.g. on
    Spark) replaces reading the events for the proxy signal.
    """
    n_events = graph.accounts["n_events"].to_numpy(dtype=np.float64)
    out: dict[str, SignalMatrix] = {}
    for name, edge in SIGNAL_EDGES.items():  # a handful of signals, not rows
        if edge not in graph.edges:
            continue
        counts, entities = graph.incidence(edge)
        keys = entities["key"].to_numpy()
        if name == "template" and dataset.has_prompt:
            # Link through families of near-identical templates, not only exact ones.
            family = template_families(dataset.con, keys, settings)
            counts = family_incidence(counts, family)
            keys = pd.Series(keys).groupby(family).first().to_numpy()
        weight_degree = None
        if name == "template":
            folded = fold_libraries(counts, keys, settings)
            counts, keys, weight_degree = folded.counts, folded.keys, folded.weight_degree
        floor = factor = None
        if "from_accounts_file" in graph.edges[edge]:
            # A declared card pays for everything; a declared value is the account's own.
            floor = _declared_payments(graph, edge)
        if edge == "USED_IP" and "OPERATED_BY" in graph.edges:
            # A VPN, proxy or hosting operator shares its addresses among customers by design.
            factor = np.ones(len(keys))
            factor[graph.edges["OPERATED_BY"]["src"].to_numpy()] = settings.operated_ip_factor
        out[name] = links_mod.signal_matrix(name, counts, n_events, keys, settings,
                                            floor_share=floor, entity_factor=factor,
                                            weight_degree=weight_degree)
    if "ProxyProvider" in graph.nodes and len(graph.nodes["ProxyProvider"]):
        counts, keys = (_account_proxy_incidence(graph, dataset, account_codes)
                        if proxy_counts is None else _proxy_incidence(graph, proxy_counts))
        out["proxy"] = links_mod.signal_matrix("proxy", counts, n_events, keys, settings)
    out.update(declared_signal_matrices(graph, settings))
    cohorts = cohort_matrix(graph, settings)
    if cohorts is not None:
        out["cohort"] = cohorts
    return out


def cohort_matrix(graph: HeteroGraph, settings: Settings) -> SignalMatrix | None:
    """The sign-up cohort signal (:mod:`graphkit.detection.cohorts`): accounts created together
    on one rare client; None when off or when the graph has no clients or creation times."""
    if (not settings.signup_cohorts or "USED_AGENT" not in graph.edges
            or "created_at" not in graph.accounts):
        return None
    ua, clients = graph.incidence("USED_AGENT")
    counts, keys = cohort_incidence(ua, graph.accounts["created_at"],
                                    clients["key"].to_numpy(), settings)
    n_events = graph.accounts["n_events"].to_numpy(dtype=np.float64)
    # A cohort is the account's own (its sign-up), whatever its traffic: share 1.
    return links_mod.signal_matrix("cohort", counts, n_events, keys, settings,
                                   floor_share=counts)


def declared_signal_matrices(graph: HeteroGraph, settings: Settings) -> dict[str, SignalMatrix]:
    """Share matrices of the run's declared kinds and relation kinds (see
    :class:`graphkit.registry.Registry`). A value declared in a file belongs to the account
    whatever its traffic (share 1, like a declared card); a value seen in events counts by
    its share of the account's traffic. A relation is an entity of the two accounts it
    joins (weight 1), so two related accounts have similarity 1 on that relation's signal."""
    registry = graph.registry
    n_events = graph.accounts["n_events"].to_numpy(dtype=np.float64)
    out: dict[str, SignalMatrix] = {}
    for k in registry.signal_kinds():  # a handful of kinds, not rows
        if not k.declared or k.rel not in graph.edges:
            continue
        counts, entities = graph.incidence(k.rel)
        edges = graph.edges[k.rel]
        declared = edges[edges["from_file"].fillna(False).to_numpy(bool)]
        floor = sp.csr_matrix((np.ones(len(declared)), (declared["src"].to_numpy(),
                                                         declared["dst"].to_numpy())),
                              shape=counts.shape)
        out[k.name] = links_mod.signal_matrix(k.name, counts, n_events,
                                              entities["key"].to_numpy(), settings,
                                              floor_share=floor, hub_cap=k.hub_cap)
    ids = graph.accounts["account_id"].to_numpy(dtype=object)
    for r in registry.relations:
        if r.rel in graph.edges:
            out[r.name] = relation_matrix(r.name, graph.edges[r.rel], ids)
    return out


def relation_matrix(name: str, edges: pd.DataFrame, account_ids: np.ndarray) -> SignalMatrix:
    """Accounts x related pairs: one column per unordered pair of related accounts holding
    both (share 1, weight 1), keyed ``a <-> b``.

    >>> e = pd.DataFrame({"src": [0, 1, 2], "dst": [1, 0, 0]})
    >>> m = relation_matrix("transfer", e, np.array(["x", "y", "z"]))
    >>> m.shares.toarray().tolist(), m.keys.tolist()
    ([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]], ['x <-> y', 'x <-> z'])
    """
    src, dst = edges["src"].to_numpy(np.int64), edges["dst"].to_numpy(np.int64)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    pairs = np.unique(np.column_stack([lo, hi]), axis=0) if len(lo) else np.zeros((0, 2), int)
    n_pairs, n = len(pairs), len(account_ids)
    cols = np.repeat(np.arange(n_pairs), 2)
    shares = sp.csr_matrix((np.ones(2 * n_pairs), (pairs.reshape(-1), cols)), shape=(n, n_pairs))
    keys = np.array([f"{a} <-> {b}" for a, b in zip(account_ids[pairs[:, 0]],
                                                    account_ids[pairs[:, 1]], strict=True)],
                    dtype=object)
    return SignalMatrix(name, shares, np.ones(n_pairs), np.full(n_pairs, 2), keys)


def _declared_payments(graph: HeteroGraph, edge: str = "PAID_WITH") -> sp.csr_matrix:
    """Accounts x values of ``edge``, 1 where a file (the accounts file, the identifiers file)
    declares the value (a payment method, by default).

    A declared card pays for all of the account's traffic, whatever the events say, so its
    share is floored at 1."""
    edges = graph.edges[edge]
    declared = edges[edges["from_accounts_file"].fillna(False).to_numpy(bool)]
    shape = (len(graph.accounts), len(graph.nodes[graph.registry.edge_types[edge][1]]))
    return sp.csr_matrix((np.ones(len(declared)), (declared["src"].to_numpy(),
                                                    declared["dst"].to_numpy())), shape=shape)


def _proxy_incidence(graph: HeteroGraph, counts: pd.DataFrame
                     ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Accounts x proxy providers event counts from (account_id, provider, n) rows."""
    keys = graph.nodes["ProxyProvider"]["key"].to_numpy()
    rows = pd.Index(graph.accounts["account_id"]).get_indexer(counts["account_id"])
    cols = pd.Index(keys).get_indexer(counts["provider"])
    mat = sp.csr_matrix((counts["n"].to_numpy(np.float64), (rows, cols)),
                        shape=(len(graph.accounts), len(keys)))
    return mat, keys


def _account_proxy_incidence(graph: HeteroGraph, dataset: Dataset,
                             account_codes: str = ACCOUNT_CODES
                             ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Accounts x proxy providers event counts (an account's traffic through each provider)."""
    keys = graph.nodes["ProxyProvider"]["key"].to_numpy()
    df = dataset.con.execute(
        f"""
        SELECT c.account_idx AS a, p.code AS p, count(*) AS n
        FROM events e JOIN {account_codes} c USING (account_id)
        JOIN ({code_keys_sql("SELECT DISTINCT proxy_provider AS key FROM events "
                             "WHERE proxy_provider IS NOT NULL")}) p ON p.key = e.proxy_provider
        GROUP BY ALL
        """
    ).df()
    mat = sp.csr_matrix((df["n"].to_numpy(np.float64), (df["a"].to_numpy(), df["p"].to_numpy())),
                        shape=(len(graph.accounts), len(keys)))
    return mat, keys
