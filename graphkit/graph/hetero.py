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

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import igraph as ig
import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from graphkit.errors import ConfigError, InputError
from graphkit.io import CODED_EVENTS, Dataset
from graphkit.progress import Progress, quiet

# Node types in code order (also the order of vertex blocks in to_igraph()).
NODE_TYPES: tuple[str, ...] = (
    "Account", "IP", "PaymentMethod", "ProxyProvider", "PromptTemplate", "UserAgent", "Model",
)
# Edge type -> (source node type, target node type, events column of the target key).
EDGE_TYPES: dict[str, tuple[str, str, str]] = {
    "USED_IP": ("Account", "IP", "ip"),
    "PAID_WITH": ("Account", "PaymentMethod", "payment_id"),
    "SENT": ("Account", "PromptTemplate", "template_hash"),
    "OPERATED_BY": ("IP", "ProxyProvider", "proxy_provider"),
    "USED_AGENT": ("Account", "UserAgent", "user_agent"),
    "CALLED": ("Account", "Model", "model"),
}
# Node types that exist only when the events carry their column.
OPTIONAL_NODE_TYPES = {"UserAgent": "user_agent", "Model": "model"}
EDGE_COLUMNS = ("src", "dst", "count", "first_seen", "last_seen", "share")
MANIFEST = "manifest.json"
FORMAT = "graphkit.heterograph/1"


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

    # -- tables ---------------------------------------------------------------------------------

    @property
    def accounts(self) -> pd.DataFrame:
        """Account table; index = account code 0..n-1; totals and accounts-file attributes."""
        return self.nodes["Account"]

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
        src_t, dst_t, _ = EDGE_TYPES[edge_type]
        weight = df["count"].to_numpy(np.int64)
        if edge_type == "PAID_WITH":
            weight = np.maximum(weight, 1)
        shape = (len(self.nodes[src_t]), len(self.nodes[dst_t]))
        mat = sp.csr_matrix(
            (weight, (df["src"].to_numpy(), df["dst"].to_numpy())), shape=shape, dtype=np.int64
        )
        return mat, self.nodes[dst_t]

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
        for etype, (src_t, dst_t, _) in EDGE_TYPES.items():
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
        for i, (etype, df) in enumerate(self.edges.items()):
            src_t, dst_t, _ = EDGE_TYPES[etype]
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
                 for t, k in ((("Account", x) if isinstance(x, str) else x) for x in nodes)]
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
        for e in np.flatnonzero(mask).tolist():
            etype = etypes[kind[e]]
            src_t, dst_t, _ = EDGE_TYPES[etype]
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
        out = Path(directory)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory ({exc.strerror})",
                              file=str(out)) from None
        manifest: dict[str, object] = {"format": FORMAT, "nodes": {}, "edges": {},
                                       "meta": self.meta}
        for t, df in self.nodes.items():
            name = f"nodes_{t}.parquet"
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out / name)
            manifest["nodes"][t] = {"file": name, "count": len(df)}  # type: ignore[index]
        for t, df in self.edges.items():
            name = f"edges_{t}.parquet"
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out / name)
            src_t, dst_t, _ = EDGE_TYPES[t]
            manifest["edges"][t] = {  # type: ignore[index]
                "file": name, "count": len(df), "src": src_t, "dst": dst_t}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> HeteroGraph:
        """Read a graph written by :meth:`save`."""
        root = Path(directory)
        try:
            manifest = json.loads((root / MANIFEST).read_text())
        except FileNotFoundError:
            raise InputError("not a saved graph (no manifest.json)", file=str(root)) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"broken manifest.json ({exc.msg})", file=str(root / MANIFEST),
                             line=exc.lineno) from None
        if manifest.get("format") != FORMAT:
            raise InputError(f"unsupported graph format {manifest.get('format')!r}",
                             file=str(root / MANIFEST))
        nodes = {t: pq.read_table(root / m["file"]).to_pandas()
                 for t, m in manifest["nodes"].items()}
        edges = {t: pq.read_table(root / m["file"]).to_pandas()
                 for t, m in manifest["edges"].items()}
        return cls(nodes, edges, dict(manifest.get("meta", {})))

    # -- checks ---------------------------------------------------------------------------------

    def _check_node_type(self, node_type: str) -> None:
        if node_type not in self.nodes:
            raise ConfigError(f"unknown node type {node_type!r} (have: {', '.join(self.nodes)})")

    def _check_edge_type(self, edge_type: str) -> None:
        if edge_type not in self.edges:
            raise ConfigError(f"unknown edge type {edge_type!r} (have: {', '.join(self.edges)})")


# ------------------------------------------------------------------------------------------------
# Building


def _fetch(con, sql: str) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return con.execute(sql).df()


def _edges_from(con, agg: str, src_codes: str, src_key: str, dst_codes: str,  # type: ignore[no-untyped-def]
                totals: str, extra: str = "") -> pd.DataFrame:
    """Join aggregate ``agg`` (columns s, k, n, f, l) to node codes; sorted by (src, dst)."""
    df = _fetch(con, (
        f"SELECT CAST(sc.code AS INTEGER) AS src, CAST(dc.code AS INTEGER) AS dst, "
        f"CAST(g.n AS BIGINT) AS count, g.f AS first_seen, g.l AS last_seen, "
        f"CASE WHEN t.n_events > 0 THEN g.n / t.n_events ELSE 0.0 END AS share{extra} "
        f"FROM {agg} g JOIN {src_codes} sc ON sc.{src_key} = g.s "
        f"JOIN {dst_codes} dc ON dc.key = g.k JOIN {totals} t ON t.{src_key} = g.s "
        "ORDER BY src, dst"))
    return df


def _aggregate_sql(dataset: Dataset, src: str, dst: str) -> str:
    """SQL aggregating events per (``src``, ``dst``) value: columns s, k, n, f, l.

    On dictionary-coded events the group-by runs over integer codes and only the aggregate's
    rows are decoded to keys."""
    if not dataset.coded:
        return (f"SELECT {src} AS s, {dst} AS k, count(*) AS n, min(ts) AS f, max(ts) AS l "
                f"FROM events WHERE {dst} IS NOT NULL GROUP BY ALL")
    return (f"SELECT ds.value AS s, dk.value AS k, g.n, g.f, g.l FROM (SELECT {src} AS s, "
            f"{dst} AS k, count(*) AS n, min(ts) AS f, max(ts) AS l FROM {CODED_EVENTS} "
            f"WHERE {dst} IS NOT NULL GROUP BY ALL) g JOIN _dict_{src} ds ON ds.code = g.s "
            f"JOIN _dict_{dst} dk ON dk.code = g.k")


def _coded_edges(con, src: str, dst: str, n_src: str  # type: ignore[no-untyped-def]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        f"m.n_events AS t FROM (SELECT {src} AS s, {dst} AS k, count(*) AS n, min(ts) AS f, "
        f"max(ts) AS l FROM {CODED_EVENTS} WHERE {dst} IS NOT NULL GROUP BY ALL) g "
        f"JOIN ({srcmap}) m ON m.k = g.s")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _codes_{dst} AS SELECT CAST(row_number() OVER "
        "(ORDER BY g.k) - 1 AS INTEGER) AS code, g.k, d.value AS key, g.n_events, "
        f"g.{n_src}, g.first_seen, g.last_seen FROM (SELECT k, CAST(sum(n) AS BIGINT) AS "
        f"n_events, count(*) AS {n_src}, min(f) AS first_seen, max(l) AS last_seen "
        f"FROM _agg_{dst} GROUP BY k) g JOIN _dict_{dst} d ON d.code = g.k")
    node_df = _fetch(con, f"SELECT key, n_events, {n_src}, first_seen, last_seen "
                     f"FROM _codes_{dst} ORDER BY code")
    edge_df = _fetch(con, (
        "SELECT CAST(g.s AS INTEGER) AS src, c.code AS dst, CAST(g.n AS BIGINT) AS count, "
        "g.f AS first_seen, g.l AS last_seen, "
        "CASE WHEN g.t > 0 THEN g.n / g.t ELSE 0.0 END AS share "
        f"FROM _agg_{dst} g JOIN _codes_{dst} c USING (k) ORDER BY src, dst"))
    return node_df, edge_df


def build_graph(dataset: Dataset, progress: Progress | None = None) -> HeteroGraph:
    """Aggregate the dataset's events into a :class:`HeteroGraph` (see module docstring)."""
    progress = progress or quiet()
    con = dataset.con
    with progress.step("graph: accounts"):
        accounts = _fetch(con, "SELECT * FROM accounts ORDER BY account_idx")
        accounts.insert(0, "key", accounts["account_id"])
        accounts = accounts.drop(columns=["account_idx"])
        con.execute("CREATE OR REPLACE TEMP VIEW _acc_codes AS "
                    "SELECT account_id, account_idx AS code FROM accounts")
    nodes: dict[str, pd.DataFrame] = {"Account": accounts}
    edges: dict[str, pd.DataFrame] = {}
    present = {c: con.execute(f"SELECT count({c}) FROM events").fetchall()[0][0] > 0
               for c in OPTIONAL_NODE_TYPES.values()}
    for etype, (src_t, dst_t, col) in EDGE_TYPES.items():
        if src_t != "Account":
            continue
        if dst_t in OPTIONAL_NODE_TYPES and not present[col]:
            continue
        with progress.step(f"graph: {etype}"):
            if dataset.coded and etype != "PAID_WITH":
                nodes[dst_t], edges[etype] = _coded_edges(con, "account_id", col, "n_accounts")
                continue
            agg = f"_agg_{col}"
            con.execute(f"CREATE OR REPLACE TEMP TABLE {agg} AS "
                        + _aggregate_sql(dataset, "account_id", col))
            extra = ""
            if etype == "PAID_WITH":
                # Payment links also come from the accounts file; keep both and mark the source.
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {agg} AS SELECT coalesce(e.s, a.account_id) "
                    "AS s, coalesce(e.k, a.payment_id) AS k, coalesce(e.n, 0) AS n, e.f, e.l, "
                    "e.s IS NOT NULL AS from_events, a.account_id IS NOT NULL AS "
                    f"from_accounts_file FROM {agg} e FULL OUTER JOIN (SELECT account_id, "
                    "payment_id FROM accounts WHERE payment_id IS NOT NULL) a "
                    "ON e.s = a.account_id AND e.k = a.payment_id")
                extra = ", g.from_events, g.from_accounts_file"
            codes = f"_codes_{col}"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {codes} AS SELECT CAST(row_number() OVER "
                "(ORDER BY k) - 1 AS INTEGER) AS code, k AS key, CAST(sum(n) AS BIGINT) AS n_events, "
                "count(*) AS n_accounts, min(f) AS first_seen, max(l) AS last_seen "
                f"FROM {agg} GROUP BY k")
            nodes[dst_t] = _fetch(con, f"SELECT * EXCLUDE (code) FROM {codes} ORDER BY code")
            edges[etype] = _edges_from(con, agg, "_acc_codes", "account_id", codes,
                                       "accounts", extra)
    with progress.step("graph: OPERATED_BY"):
        if dataset.coded:
            nodes["ProxyProvider"], edges["OPERATED_BY"] = _coded_edges(
                con, "ip", "proxy_provider", "n_ips")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE _agg_proxy AS "
                        + _aggregate_sql(dataset, "ip", "proxy_provider"))
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _codes_proxy_provider AS SELECT CAST(row_number() "
                "OVER (ORDER BY k) - 1 AS INTEGER) AS code, k AS key, CAST(sum(n) AS BIGINT) AS "
                "n_events, count(*) AS n_ips, min(f) AS first_seen, max(l) AS last_seen "
                "FROM _agg_proxy GROUP BY k")
            nodes["ProxyProvider"] = _fetch(
                con, "SELECT * EXCLUDE (code) FROM _codes_proxy_provider ORDER BY code")
            con.execute("CREATE OR REPLACE TEMP VIEW _ip_codes AS SELECT key AS ip, code, "
                        "n_events FROM _codes_ip")
            edges["OPERATED_BY"] = _edges_from(con, "_agg_proxy", "_ip_codes", "ip",
                                               "_codes_proxy_provider", "_ip_codes")
    ordered_nodes = {t: nodes[t] for t in NODE_TYPES if t in nodes}
    ordered_edges = {t: edges[t].reset_index(drop=True) for t in EDGE_TYPES if t in edges}
    return HeteroGraph(ordered_nodes, ordered_edges, {
        "n_events": dataset.n_events,
        "sources": [f.path for f in dataset.files],
    })


def account_codes(graph: HeteroGraph, account_ids: Sequence[str]) -> np.ndarray:
    """Account codes of ``account_ids`` (vectorized; -1 where unknown)."""
    index = pd.Index(graph.accounts["account_id"])
    return index.get_indexer(pd.Index(list(account_ids)))
