"""The heterogeneous graph: typed nodes and aggregated, integer-coded edges.

:func:`build_graph` turns a :class:`graphkit.io.Dataset` into a :class:`HeteroGraph`. Every
edge is an aggregate over events computed in DuckDB (``count``, ``first_seen``, ``last_seen``,
``share`` of the source node's events) and arrives as numpy arrays of integer node codes; nothing
loops over events or accounts in Python.

Node codes are positions in the node tables: accounts are coded 0..n-1 in ``graph.accounts``
order (the order of ``dataset.accounts`` and of the ``accounts`` table in ``dataset.con``), every
other node type in sorted key order.

>>> import tempfile, pathlib
>>> from graphkit.io import load
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "e.csv").write_text("account_id,ts,ip\\na,2024-01-01,10.0.0.1\\n"
...                              "b,2024-01-02,10.0.0.1\\nb,2024-01-03,10.0.0.2\\n")
>>> g = build_graph(load(d / "e.csv"))
>>> g.summary()["nodes"]["IP"], g.summary()["edges"]["USED_IP"]
(2, 3)
>>> m, ips = g.incidence("USED_IP")
>>> m.toarray().tolist(), list(ips["key"])
([[1, 0], [1, 1]], ['10.0.0.1', '10.0.0.2'])
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import igraph as ig
import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from graphkit.errors import ConfigError
from graphkit.graph import persist
from graphkit.graph.coding import code_keys_sql
from graphkit.io import CODED_EVENTS, Dataset
from graphkit.progress import Progress, quiet
from graphkit.registry import (
    ACCOUNT_LABEL,
    EDGE_TYPES,
    NODE_TYPES,
    OPTIONAL_NODE_TYPES,
    Registry,
)

# NODE_TYPES (registry order) is also the order of vertex blocks in to_igraph(); EDGE_TYPES maps
# edge type -> (source node type, target node type, events column of the target key);
# OPTIONAL_NODE_TYPES exist only when the events carry their column.
__all__ = ["EDGE_TYPES", "NODE_TYPES", "OPTIONAL_NODE_TYPES", "HeteroGraph", "account_codes",
           "build_graph"]
EDGE_COLUMNS = ("src", "dst", "count", "first_seen", "last_seen", "share")
MANIFEST = persist.MANIFEST
FORMAT = persist.FORMAT


@dataclass
class HeteroGraph:
    """Typed nodes and aggregated edges, integer-coded.

    ``nodes[type]`` is a DataFrame whose row position is the node code and whose ``key`` column is
    the node's identity (account id, IP address, payment id, ...). ``edges[type]`` is a DataFrame
    with ``src``/``dst`` node codes (int32, sorted), ``count``, ``first_seen``, ``last_seen`` and
    ``share`` (the edge's fraction of the source node's events); PAID_WITH adds ``from_events``
    and ``from_accounts_file``.
    """

    nodes: dict[str, pd.DataFrame]
    edges: dict[str, pd.DataFrame]
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        """The run's kinds: the static ones plus those declared in ``meta`` (``kinds``,
        ``relations``)."""
        return Registry.for_names(self.meta.get("kinds", []) or [],
                                  self.meta.get("relations", []) or [])

    # -- tables ---------------------------------------------------------------------------------

    @property
    def accounts(self) -> pd.DataFrame:
        """Account table; index = account code 0..n-1; totals and accounts-file attributes."""
        return self.nodes[ACCOUNT_LABEL]

    def node_table(self, node_type: str) -> pd.DataFrame:
        """The node table of ``node_type`` (row position = node code)."""
        self._check_node_type(node_type)
        return self.nodes[node_type]

    def edge_table(self, edge_type: str) -> pd.DataFrame:
        """The edge table of ``edge_type`` (``src``/``dst`` are node codes)."""
        self._check_edge_type(edge_type)
        return self.edges[edge_type]

    def summary(self) -> dict[str, dict[str, int]]:
        """Per-type node and edge counts: ``{"nodes": {...}, "edges": {...}}``."""
        return {
            "nodes": {t: len(df) for t, df in self.nodes.items()},
            "edges": {t: len(df) for t, df in self.edges.items()},
        }

    def incidence(self, edge_type: str) -> tuple[sp.csr_matrix, pd.DataFrame]:
        """Source x target sparse matrix of event counts, and the target node table.

        For Account edges this is the accounts x entities matrix the link stage scores. A
        PAID_WITH link known only from the accounts file has weight 1 (it has no events).
        """
        df = self.edge_table(edge_type)
        src_t, dst_t, _ = self.registry.edge_types[edge_type]
        weight = df["count"].to_numpy(np.int64)
        if edge_type == "PAID_WITH" or "from_file" in df or "from_accounts_file" in df:
            weight = np.maximum(weight, 1)
        shape = (len(self.nodes[src_t]), len(self.nodes[dst_t]))
        mat = sp.csr_matrix(
            (weight, (df["src"].to_numpy(), df["dst"].to_numpy())), shape=shape, dtype=np.int64
        )
        return mat, self.nodes[dst_t]

    def account_incidence(self, label: str) -> sp.csr_matrix | None:
        """Accounts x ``label`` nodes, request counts; ``None`` when the graph lacks the type.

        Entities that hang off another entity rather than an account (a proxy operator behind
        the IPs it runs) are reached through it: an account's count for an operator is the sum
        of its requests from the operator's IPs. Every stage that shows which accounts use which
        values (reports, shared indicators) reads this, so the route is defined once.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from graphkit.io import load
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "e.csv").write_text("account_id,ts,ip,proxy_provider\\n"
        ...     "a,2024-01-01,10.0.0.1,P\\nb,2024-01-02,10.0.0.2,P\\nb,2024-01-03,10.0.0.2,P\\n")
        >>> build_graph(load(d / "e.csv")).account_incidence("ProxyProvider").toarray().tolist()
        [[1], [2]]
        """
        kind = self.registry.kind_of_label(label)
        if kind.rel not in self.edges or label not in self.nodes:
            return None
        direct, _ = self.incidence(kind.rel)
        if kind.source == ACCOUNT_LABEL:
            return direct
        via = self.account_incidence(kind.source)
        if via is None:
            return None
        hop = direct.copy()
        hop.data[:] = 1  # an intermediate entity passes its requests on, not multiplied
        return (via @ hop).tocsr()

    # -- look-ups -------------------------------------------------------------------------------

    def code(self, node_type: str, key: str) -> int:
        """Node code of ``key`` in ``node_type``; raises ConfigError when absent."""
        table = self.node_table(node_type)
        hits = np.flatnonzero(table["key"].to_numpy(dtype=object) == key)
        if len(hits) == 0:
            raise ConfigError(f"no {node_type} node with key {key!r}")
        return int(hits[0])

    def neighbors(self, node_type: str, key: str) -> pd.DataFrame:
        """Every node adjacent to (``node_type``, ``key``), with the connecting edge's aggregates.

        Columns: ``edge_type``, ``direction`` (``out`` when the given node is the source),
        ``node_type``, ``key``, ``count``, ``first_seen``, ``last_seen``, ``share``.
        """
        code = self.code(node_type, key)
        parts: list[pd.DataFrame] = []
        for etype, (src_t, dst_t, _) in self.registry.edge_types.items():
            if etype not in self.edges:
                continue
            df = self.edges[etype]
            for side, other, other_t, direction in (("src", "dst", dst_t, "out"),
                                                    ("dst", "src", src_t, "in")):
                if (src_t if side == "src" else dst_t) != node_type:
                    continue
                hit = df[df[side].to_numpy() == code]
                if hit.empty:
                    continue
                keys = self.nodes[other_t]["key"].to_numpy(dtype=object)[hit[other].to_numpy()]
                parts.append(pd.DataFrame({
                    "edge_type": etype, "direction": direction, "node_type": other_t,
                    "key": keys, "count": hit["count"].to_numpy(),
                    "first_seen": hit["first_seen"].to_numpy(),
                    "last_seen": hit["last_seen"].to_numpy(), "share": hit["share"].to_numpy(),
                }))
        if not parts:
            return pd.DataFrame(columns=["edge_type", "direction", "node_type", "key", "count",
                                         "first_seen", "last_seen", "share"])
        return pd.concat(parts, ignore_index=True)

    # -- conversions ----------------------------------------------------------------------------

    def _offsets(self) -> dict[str, int]:
        offsets: dict[str, int] = {}
        total = 0
        for t in self.nodes:
            offsets[t] = total
            total += len(self.nodes[t])
        return offsets

    def _global_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source ids, target ids, edge-type index) over all edges, in global vertex ids."""
        offs = self._offsets()
        srcs, dsts, kinds = [], [], []
        edge_types = self.registry.edge_types
        for i, (etype, df) in enumerate(self.edges.items()):
            src_t, dst_t, _ = edge_types[etype]
            srcs.append(df["src"].to_numpy(np.int64) + offs[src_t])
            dsts.append(df["dst"].to_numpy(np.int64) + offs[dst_t])
            kinds.append(np.full(len(df), i, dtype=np.int32))
        if not srcs:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.int32)
        return np.concatenate(srcs), np.concatenate(dsts), np.concatenate(kinds)

    def to_igraph(self) -> ig.Graph:
        """The whole graph as a directed igraph Graph.

        Vertices are blocks per node type in :attr:`nodes` order (attributes ``type``, ``key``,
        ``code``); edges carry ``type``, ``count`` and ``share``.
        """
        n = sum(len(df) for df in self.nodes.values())
        src, dst, kind = self._global_edges()
        g = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=True)
        g.vs["type"] = np.repeat(list(self.nodes), [len(df) for df in self.nodes.values()]).tolist()
        g.vs["key"] = np.concatenate(
            [df["key"].to_numpy(dtype=object) for df in self.nodes.values()]).tolist() if n else []
        g.vs["code"] = np.concatenate(
            [np.arange(len(df)) for df in self.nodes.values()]).tolist() if n else []
        etypes = np.array(list(self.edges), dtype=object)
        g.es["type"] = etypes[kind].tolist()
        if len(src):
            g.es["count"] = np.concatenate(
                [df["count"].to_numpy(np.int64) for df in self.edges.values()]).tolist()
            g.es["share"] = np.concatenate(
                [df["share"].to_numpy(np.float64) for df in self.edges.values()]).tolist()
        return g

    def to_networkx(self, nodes: Iterable[str | tuple[str, str]], hops: int = 1) -> nx.DiGraph:
        """The subgraph within ``hops`` (ignoring direction) of the given nodes, as networkx.

        ``nodes`` are account ids or ``(node_type, key)`` pairs. networkx node ids are
        ``(node_type, key)``; nodes carry their table's columns, edges ``type`` and aggregates.
        """
        offs = self._offsets()
        n = sum(len(df) for df in self.nodes.values())
        seeds = [offs[t] + self.code(t, k)
                 for t, k in (((ACCOUNT_LABEL, x) if isinstance(x, str) else x) for x in nodes)]
        src, dst, kind = self._global_edges()
        adj = sp.csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n))
        adj = (adj + adj.T).tocsr()
        keep = np.zeros(n, dtype=bool)
        keep[seeds] = True
        frontier = np.asarray(seeds, dtype=np.int64)
        for _ in range(max(hops, 0)):
            if len(frontier) == 0:
                break
            reached = np.unique(adj[frontier].indices)
            frontier = reached[~keep[reached]]
            keep[frontier] = True
        out = nx.DiGraph()
        types = list(self.nodes)
        bounds = np.array([offs[t] for t in types] + [n])
        chosen = np.flatnonzero(keep)
        for gid in chosen.tolist():  # the chosen subgraph is small by construction
            ti = int(np.searchsorted(bounds, gid, side="right") - 1)
            t = types[ti]
            row = self.nodes[t].iloc[gid - offs[t]]
            out.add_node((t, row["key"]), type=t, code=gid - offs[t], **{
                k: v for k, v in row.items() if k != "key"})
        mask = keep[src] & keep[dst]
        etypes = list(self.edges)
        starts = np.cumsum([0] + [len(df) for df in self.edges.values()])
        edge_types = self.registry.edge_types
        for e in np.flatnonzero(mask).tolist():
            etype = etypes[kind[e]]
            src_t, dst_t, _ = edge_types[etype]
            s_code, d_code = int(src[e] - offs[src_t]), int(dst[e] - offs[dst_t])
            local = e - int(starts[kind[e]])
            rec = self.edges[etype].iloc[local]
            out.add_edge((src_t, self.nodes[src_t]["key"].iat[s_code]),
                         (dst_t, self.nodes[dst_t]["key"].iat[d_code]), type=etype,
                         **{k: v for k, v in rec.items() if k not in ("src", "dst")})
        return out

    # -- persistence ----------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write every table as Parquet plus ``manifest.json``; returns the directory."""
        return persist.save_tables(self.nodes, self.edges, self.meta, directory,
                                   self.registry.edge_types)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> HeteroGraph:
        """Read a graph written by :meth:`save`."""
        return cls(*persist.load_tables(directory))

    # -- checks ---------------------------------------------------------------------------------

    def _check_node_type(self, node_type: str) -> None:
        if node_type not in self.nodes:
            raise ConfigError(f"unknown node type {node_type!r} (have: {', '.join(self.nodes)})")

    def _check_edge_type(self, edge_type: str) -> None:
        if edge_type not in self.edges:
            raise ConfigError(f"unknown edge type {edge_type!r} (have: {', '.join(self.edges)})")


# ------------------------------------------------------------------------------------------------
# Building


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A query's result as a DataFrame through Arrow: the frame DuckDB's ``df()`` gives
    (decimals and 128-bit sums as floats, as it converts them), 2.3 s sooner on a 600k-account
    graph."""
    with warnings.catch_warnings():  # DuckDB's note on the copy an execute() result makes:
        # the statements before this one leave results that con.sql() would refuse to pass,
        # and the copy costs little (the same 2.3 s saved, measured both ways)
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        tbl = con.execute(sql).to_arrow_table()
    floats = [i for i, f in enumerate(tbl.schema) if pa.types.is_decimal(f.type)]
    for i in floats:  # a handful of columns
        tbl = tbl.set_column(i, tbl.schema.field(i).name, tbl.column(i).cast(pa.float64()))
    # Arrow buffers freed column by column as they are converted: the million-account
    # graph's stage peak +0.58 GB over what it held, against +1.05 GB converting whole.
    return tbl.to_pandas(split_blocks=True, self_destruct=True)


def _edges_from(con: duckdb.DuckDBPyConnection, agg: str, src_codes: str, src_key: str,
                dst_codes: str, totals: str, extra: str = "") -> pd.DataFrame:
    """Join aggregate ``agg`` (columns s, k, n, f, l) to node codes; sorted by (src, dst)."""
    return _fetch(con, (
        f"SELECT CAST(sc.code AS INTEGER) AS src, CAST(dc.code AS INTEGER) AS dst, "
        f"CAST(g.n AS BIGINT) AS count, g.f AS first_seen, g.l AS last_seen, "
        f"CASE WHEN t.n_events > 0 THEN g.n / t.n_events ELSE 0.0 END AS share{extra} "
        f"FROM {agg} g JOIN {src_codes} sc ON sc.{src_key} = g.s "
        f"JOIN {dst_codes} dc ON dc.key = g.k JOIN {totals} t ON t.{src_key} = g.s "
        "ORDER BY src, dst"))


def _aggregate_sql(dataset: Dataset, src: str, dst: str, source: str | None = None,
                   coded_source: str | None = None) -> str:
    """SQL aggregating events per (``src``, ``dst``) value: columns s, k, n, f, l.

    On dictionary-coded events the group-by runs over integer codes and only the aggregate's
    rows are decoded to keys. ``source`` names a relation holding the aggregate already (an
    aggregate state's ``edges_<dst>`` table, :mod:`graphkit.graph.state`); ``coded_source``
    the same over the loaded events' codes (a full run's spilled state)."""
    if source is not None:
        return f"SELECT s, k, n, f, l FROM {source}"
    if not dataset.coded:
        return (f"SELECT {src} AS s, {dst} AS k, count(*) AS n, min(ts) AS f, max(ts) AS l "
                f"FROM events WHERE {dst} IS NOT NULL GROUP BY ALL")
    return (f"SELECT ds.value AS s, dk.value AS k, g.n, g.f, g.l FROM "
            f"({_coded_group_sql(src, dst, coded_source)}) g JOIN _dict_{src} ds "
            f"ON ds.code = g.s JOIN _dict_{dst} dk ON dk.code = g.k")


def _coded_group_sql(src: str, dst: str, coded_source: str | None) -> str:
    """s, k, n, f, l per (``src``, ``dst``) code pair: grouped from the coded events, or read
    from ``coded_source`` when an aggregate state holds it already."""
    if coded_source is not None:
        return f"SELECT s, k, n, f, l FROM {coded_source}"
    return (f"SELECT {src} AS s, {dst} AS k, count(*) AS n, min(ts) AS f, max(ts) AS l "
            f"FROM {CODED_EVENTS} WHERE {dst} IS NOT NULL GROUP BY ALL")


def _entity_codes(con: duckdb.DuckDBPyConnection, agg: str, codes: str, n_src: str) -> None:
    """Table ``codes``: one row per target key of aggregate ``agg``, coded in key order, with
    its totals (``n_events``, ``n_src`` distinct sources, first and last seen)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {codes} AS " + code_keys_sql(
        f"SELECT k AS key, CAST(sum(n) AS BIGINT) AS n_events, count(*) AS {n_src}, "
        f"min(f) AS first_seen, max(l) AS last_seen FROM {agg} GROUP BY k"))


def _coded_edges(con: duckdb.DuckDBPyConnection, src: str, dst: str, n_src: str,
                 coded_source: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node table of ``dst`` and its edges from ``src`` nodes, from dictionary-coded events.

    Every join is on integers: the group-by over events, source codes (account index, or IP
    node code from table ``_codes_ip``) and destination codes. Dictionaries are sorted, so
    ordering by dictionary code is ordering by key. Leaves table ``_codes_<dst>`` (k = the
    dictionary code, code = the node code).
    """
    if src == "account_id":
        srcmap = ("SELECT d.code AS k, a.account_idx AS code, a.n_events FROM _dict_account_id d "
                  "JOIN accounts a ON a.account_id = d.value")
    else:
        srcmap = f"SELECT k, code, n_events FROM _codes_{src}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _agg_{dst} AS SELECT m.code AS s, g.k, g.n, g.f, g.l, "
        f"m.n_events AS t FROM ({_coded_group_sql(src, dst, coded_source)}) g "
        f"JOIN ({srcmap}) m ON m.k = g.s")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _codes_{dst} AS " + code_keys_sql(
        f"SELECT g.k, d.value AS key, g.n_events, g.{n_src}, g.first_seen, g.last_seen "
        f"FROM (SELECT k, CAST(sum(n) AS BIGINT) AS n_events, count(*) AS {n_src}, "
        f"min(f) AS first_seen, max(l) AS last_seen FROM _agg_{dst} GROUP BY k) g "
        f"JOIN _dict_{dst} d ON d.code = g.k", order_by="k"))
    node_df = _fetch(con, f"SELECT key, n_events, {n_src}, first_seen, last_seen "
                     f"FROM _codes_{dst} ORDER BY code")
    edge_df = _fetch(con, (
        "SELECT CAST(g.s AS INTEGER) AS src, c.code AS dst, CAST(g.n AS BIGINT) AS count, "
        "g.f AS first_seen, g.l AS last_seen, "
        "CASE WHEN g.t > 0 THEN g.n / g.t ELSE 0.0 END AS share "
        f"FROM _agg_{dst} g JOIN _codes_{dst} c USING (k) ORDER BY src, dst"))
    return node_df, edge_df


def _account_nodes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The Account node table (``key`` = account id, in ``account_idx`` order); leaves view
    ``_acc_codes`` (account_id, code)."""
    accounts = _fetch(con, "SELECT * FROM accounts ORDER BY account_idx")
    accounts.insert(0, "key", accounts["account_id"])
    accounts = accounts.drop(columns=["account_idx"])
    con.execute("CREATE OR REPLACE TEMP VIEW _acc_codes AS "
                "SELECT account_id, account_idx AS code FROM accounts")
    return accounts


def _with_declared(con: duckdb.DuckDBPyConnection, agg: str, kind: str, payments: bool) -> str:
    """Add the values files declare (the accounts file's payment method when ``payments``, the
    identifiers file's rows of ``kind``) to aggregate ``agg``, marking each link's source;
    returns the extra edge columns."""
    declared = []
    if payments:
        declared.append("SELECT account_id, payment_id AS value FROM accounts "
                        "WHERE payment_id IS NOT NULL")
    declared.append(f"SELECT account_id, value FROM identifiers WHERE kind = '{kind}' "
                    "AND from_file")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {agg} AS SELECT coalesce(e.s, a.account_id) "
        "AS s, coalesce(e.k, a.value) AS k, coalesce(e.n, 0) AS n, e.f, e.l, "
        "e.s IS NOT NULL AS from_events, a.account_id IS NOT NULL AS "
        f"from_accounts_file FROM {agg} e FULL OUTER JOIN (SELECT DISTINCT * FROM "
        f"({' UNION ALL '.join(declared)})) a ON e.s = a.account_id AND e.k = a.value")
    return ", g.from_events, g.from_accounts_file"


def _has_declared_values(con: duckdb.DuckDBPyConnection, kind: str) -> bool:
    """Whether the identifiers file gives values of built-in kind ``kind``."""
    try:
        return con.execute(f"SELECT count(*) FROM identifiers WHERE kind = '{kind}' "
                           "AND from_file").fetchall()[0][0] > 0
    except duckdb.CatalogException:  # a dataset built without graphkit.io.load
        return False


def _account_edges(dataset: Dataset, etype: str, col: str, kind: str,
                   source: str | None = None, coded_source: str | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node table of the entity in column ``col`` and its edges from accounts (``etype``);
    ``source``, ``coded_source``: the relation holding the events' aggregate (see
    :func:`_aggregate_sql`)."""
    con = dataset.con
    declared = _has_declared_values(con, kind)
    if dataset.coded and etype != "PAID_WITH" and not declared and source is None:
        return _coded_edges(con, "account_id", col, "n_accounts", coded_source)
    agg = f"_agg_{col}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {agg} AS "
                + _aggregate_sql(dataset, "account_id", col, source, coded_source))
    # Payment links also come from the accounts file, and any built-in kind's from the
    # identifiers file; keep both and mark the source.
    extra = (_with_declared(con, agg, kind, etype == "PAID_WITH")
             if etype == "PAID_WITH" or declared else "")
    codes = f"_codes_{col}"
    _entity_codes(con, agg, codes, "n_accounts")
    nodes = _fetch(con, f"SELECT * EXCLUDE (code) FROM {codes} ORDER BY code")
    return nodes, _edges_from(con, agg, "_acc_codes", "account_id", codes, "accounts", extra)


def _entity_edges(dataset: Dataset, src_col: str, col: str, source: str | None = None,
                  coded_source: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node table of the entity in column ``col`` and its edges from the entity in column
    ``src_col`` (coded before: table ``_codes_<src_col>``), e.g. IP -> proxy operator."""
    con = dataset.con
    n_src = f"n_{src_col}s"
    if dataset.coded and source is None:
        return _coded_edges(con, src_col, col, n_src, coded_source)
    agg = f"_agg_{col}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {agg} AS "
                + _aggregate_sql(dataset, src_col, col, source))
    codes = f"_codes_{col}"
    _entity_codes(con, agg, codes, n_src)
    nodes = _fetch(con, f"SELECT * EXCLUDE (code) FROM {codes} ORDER BY code")
    src_codes = f"_src_codes_{src_col}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {src_codes} AS SELECT key AS {src_col}, code, "
                f"n_events FROM _codes_{src_col}")
    return nodes, _edges_from(con, agg, src_codes, src_col, codes, src_codes)


def _present_columns(con: duckdb.DuckDBPyConnection, aggregates: Mapping[str, str] | None = None
                     ) -> dict[str, bool]:
    """Whether the events (or their aggregates) carry any value of each optional node type's
    column."""
    def sql(c: str) -> str:
        return (f"SELECT count({c}) FROM events" if aggregates is None
                else f"SELECT count(*) FROM {aggregates[c]}")
    return {c: con.execute(sql(c)).fetchall()[0][0] > 0 for c in OPTIONAL_NODE_TYPES.values()}


def _declared_edges(con: duckdb.DuckDBPyConnection, kind: str
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node table of declared kind ``kind`` and its edges from accounts, from table
    ``identifiers`` (``from_file``: the value is declared in a file, not only seen in events)."""
    sel = f"SELECT * FROM identifiers WHERE kind = '{kind}'"  # kind: a registry-checked name
    codes = f"_codes_kind_{kind}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {codes} AS " + code_keys_sql(
        f"SELECT value AS key, CAST(sum(n_events) AS BIGINT) AS n_events, count(*) AS "
        f"n_accounts, min(first_seen) AS first_seen, max(last_seen) AS last_seen FROM ({sel}) "
        "GROUP BY value"))
    nodes = _fetch(con, f"SELECT * EXCLUDE (code) FROM {codes} ORDER BY code")
    edges = _fetch(con, (
        "SELECT CAST(a.code AS INTEGER) AS src, c.code AS dst, i.n_events AS count, "
        "i.first_seen, i.last_seen, CASE WHEN t.n_events > 0 THEN i.n_events / t.n_events "
        f"ELSE 0.0 END AS share, i.n_events > 0 AS from_events, i.from_file FROM ({sel}) i "
        f"JOIN _acc_codes a USING (account_id) JOIN {codes} c ON c.key = i.value "
        "JOIN accounts t USING (account_id) ORDER BY src, dst"))
    return nodes, edges


def _relation_edges(con: duckdb.DuckDBPyConnection, kind: str) -> pd.DataFrame:
    """Account -> account edges of relation kind ``kind``: one per ordered pair with the
    number of relations, first and last time, summed amount."""
    return _fetch(con, (
        "SELECT CAST(s.code AS INTEGER) AS src, CAST(d.code AS INTEGER) AS dst, "
        "CAST(count(*) AS BIGINT) AS count, min(r.ts) AS first_seen, max(r.ts) AS last_seen, "
        "0.0 AS share, sum(r.amount) AS amount FROM relations r "
        "JOIN _acc_codes s ON s.account_id = r.src_account "
        f"JOIN _acc_codes d ON d.account_id = r.dst_account WHERE r.kind = '{kind}' "
        "GROUP BY ALL ORDER BY src, dst"))


def build_graph(dataset: Dataset, progress: Progress | None = None,
                aggregates: Mapping[str, str] | None = None,
                coded_aggregates: Mapping[str, str] | None = None) -> HeteroGraph:
    """Aggregate a dataset's events into the heterogeneous account-entity graph.

    Each node type of the registry (:data:`graphkit.registry.NODE_TYPES`) becomes a node
    table: accounts in ``dataset.accounts`` order, every other type in sorted key order, so a
    node's code is its row position. Each edge type (:data:`graphkit.registry.EDGE_TYPES`)
    becomes an edge table aggregated over events in DuckDB: ``count``, ``first_seen``,
    ``last_seen`` and ``share`` of the source node's events. Payment links from the accounts
    file are kept with ``from_accounts_file``. Optional node types (user agents, models) exist
    only when the events carry their column. Nothing loops over events or accounts in Python.

    Parameters
    ----------
    dataset : graphkit.io.Dataset
        Validated input from :func:`graphkit.io.load`. Coded Parquet input
        (``dataset.coded``) is aggregated over integer codes.
    progress : Progress, optional
        Receives one step per edge type; quiet by default.
    aggregates : mapping of str to str, optional
        Events column of each edge target -> a relation of ``dataset.con`` holding its
        aggregate (``s, k, n, f, l``: an aggregate state's ``edges_<column>`` tables, see
        :mod:`graphkit.graph.state`). Given, the edges are built from these instead of the
        ``events`` table, and the ``accounts`` table must hold the totals of the same events
        (what an incremental run does, :mod:`graphkit.detection.incremental`).
    coded_aggregates : mapping of str to str, optional
        The same over the integer codes of coded Parquet events (``dataset.coded``): a full
        run's spilled state (:func:`graphkit.graph.state.spill_aggregates`), so the events are
        not grouped a second time.

    Returns
    -------
    HeteroGraph
        Node and edge tables in registry order, and ``meta`` (``n_events``, ``sources``).

    Raises
    ------
    duckdb.Error
        ``dataset.con`` was closed or its tables were changed after :func:`graphkit.io.load`.

    See Also
    --------
    graphkit.io.load : the validated input.
    HeteroGraph.incidence : an edge type as a sparse source x target matrix.

    Examples
    --------
    >>> from graphkit.io import load
    >>> from graphkit.graph import build_graph
    >>> g = build_graph(load("fixtures/hand/events.csv", "fixtures/hand/accounts.csv"))
    >>> g.summary()["nodes"]  # doctest: +NORMALIZE_WHITESPACE
    {'Account': 5, 'IP': 5, 'PaymentMethod': 4, 'PromptTemplate': 4, 'ProxyProvider': 2,
     'UserAgent': 2, 'Model': 2}
    >>> g.summary()["edges"]["USED_IP"], g.summary()["edges"]["OPERATED_BY"]
    (9, 3)
    >>> n = g.neighbors("Account", "a1")
    >>> n[n["edge_type"] == "USED_IP"][["key", "count"]].values.tolist()
    [['10.0.0.1', 3], ['10.0.0.2', 2], ['198.51.100.7', 1]]

    Coded Parquet input gives the same kind of graph:

    >>> g = build_graph(load("fixtures/sim-small/events.parquet"))
    >>> g.summary()["nodes"]["Account"], g.summary()["edges"]["SENT"]
    (165, 1283)

    References
    ----------
    .. [1] Y. Sun and J. Han, "Mining Heterogeneous Information Networks: Principles and
       Methodologies", Morgan & Claypool, 2012 (typed nodes and edges, one network schema).
    """
    progress = progress or quiet()
    con = dataset.con
    with progress.step("graph: accounts"):
        nodes: dict[str, pd.DataFrame] = {ACCOUNT_LABEL: _account_nodes(con)}
    edges: dict[str, pd.DataFrame] = {}
    present = _present_columns(con, aggregates)
    source = aggregates or {}
    coded = coded_aggregates if dataset.coded and coded_aggregates else {}
    kinds_by_rel = {k.rel: k.name for k in Registry.static().kinds}
    columns = {dst_t: col for _, dst_t, col in EDGE_TYPES.values()}
    # Account edges first: other entities hang off entity nodes coded by them (IP -> operator).
    for etype, (src_t, dst_t, col) in sorted(EDGE_TYPES.items(),
                                             key=lambda e: e[1][0] != ACCOUNT_LABEL):
        if dst_t in OPTIONAL_NODE_TYPES and not present[col]:
            continue
        with progress.step(f"graph: {etype}"):
            if src_t == ACCOUNT_LABEL:
                nodes[dst_t], edges[etype] = _account_edges(
                    dataset, etype, col, kinds_by_rel[etype], source.get(col), coded.get(col))
            else:
                nodes[dst_t], edges[etype] = _entity_edges(dataset, columns[src_t], col,
                                                           source.get(col), coded.get(col))
    registry = Registry.for_names(dataset.identifier_kinds, dataset.relation_kinds)
    for k in registry.kinds:
        if k.declared:
            with progress.step(f"graph: {k.rel}"):
                nodes[k.label], edges[k.rel] = _declared_edges(con, registry.kind(k.name).name)
    for r in registry.relations:
        with progress.step(f"graph: {r.rel}"):
            edges[r.rel] = _relation_edges(con, r.name)
    ordered_nodes = {t: nodes[t] for t in registry.node_types if t in nodes}
    ordered_edges = {t: edges[t].reset_index(drop=True) for t in registry.edge_types
                     if t in edges}
    _drop_intermediates(con)
    n_events = (dataset.n_events if aggregates is None else int(
        con.execute("SELECT coalesce(sum(n_events), 0) FROM accounts").fetchall()[0][0]))
    meta: dict[str, object] = {"n_events": n_events,
                               "sources": [f.path for f in dataset.files]}
    if registry.declared_names or registry.relation_names:
        meta.update(kinds=registry.declared_names, relations=registry.relation_names,
                    has_events=dataset.has_events)
    return HeteroGraph(ordered_nodes, ordered_edges, meta)


def _drop_intermediates(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the per-edge-type aggregate and coding tables (``_agg_*``, ``_codes_*``) once the
    graph holds their results: at a million accounts they keep about a GB in DuckDB."""
    rows = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                       "WHERE table_name LIKE '\\_agg\\_%' ESCAPE '\\' "
                       "OR table_name LIKE '\\_codes\\_%' ESCAPE '\\' "
                       "OR table_name LIKE '\\_src\\_codes\\_%' ESCAPE '\\'").fetchall()
    for name, kind in sorted(rows, key=lambda r: r[1] != "VIEW"):  # views first
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS \"{name}\"")


def account_codes(graph: HeteroGraph, account_ids: Sequence[str]) -> np.ndarray:
    """Account codes of ``account_ids`` (vectorized; -1 where unknown)."""
    index = pd.Index(graph.accounts["account_id"])
    return index.get_indexer(pd.Index(list(account_ids)))
