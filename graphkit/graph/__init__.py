"""Stage 2, graph: the heterogeneous account-entity graph built from a Dataset.

Modules: :mod:`~graphkit.graph.hetero` (:class:`HeteroGraph`, :func:`build_graph`),
:mod:`~graphkit.graph.coding` (node codes in sorted key order, in SQL),
:mod:`~graphkit.graph.persist` (Parquet tables plus a manifest).
"""

from graphkit.graph.hetero import HeteroGraph, account_codes, build_graph

__all__ = ["HeteroGraph", "account_codes", "build_graph"]
