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
from graphkit.detection.links import SignalMatrix
from graphkit.detection.near_duplicates import family_incidence, template_families
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
                    account_codes: str = ACCOUNT_CODES) -> dict[str, SignalMatrix]:
    """Account x entity share matrices for every entity signal present in the graph.

    ``account_codes`` names a relation registered on ``dataset.con`` with columns
    ``account_id`` and ``account_idx`` (needed for the proxy signal only).
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
        floor = factor = None
        if edge == "PAID_WITH":
            floor = _declared_payments(graph)  # the accounts file's card pays for everything
        if edge == "USED_IP" and "OPERATED_BY" in graph.edges:
            # A VPN, proxy or hosting operator shares its addresses among customers by design.
            factor = np.ones(len(keys))
            factor[graph.edges["OPERATED_BY"]["src"].to_numpy()] = settings.operated_ip_factor
        out[name] = links_mod.signal_matrix(name, counts, n_events, keys, settings,
                                            floor_share=floor, entity_factor=factor)
    if "ProxyProvider" in graph.nodes and len(graph.nodes["ProxyProvider"]):
        counts, keys = _account_proxy_incidence(graph, dataset, account_codes)
        out["proxy"] = links_mod.signal_matrix("proxy", counts, n_events, keys, settings)
    return out


def _declared_payments(graph: HeteroGraph) -> sp.csr_matrix:
    """Accounts x payment methods, 1 where the accounts file declares the payment method.

    A declared card pays for all of the account's traffic, whatever the events say, so its
    share is floored at 1."""
    edges = graph.edges["PAID_WITH"]
    declared = edges[edges["from_accounts_file"].fillna(False).to_numpy(bool)]
    shape = (len(graph.accounts), len(graph.nodes["PaymentMethod"]))
    return sp.csr_matrix((np.ones(len(declared)), (declared["src"].to_numpy(),
                                                    declared["dst"].to_numpy())), shape=shape)


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
