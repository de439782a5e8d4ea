"""Connected components of the account-link graph as stage SQL, for link graphs too large to
collect for Leiden.

Min-label propagation, written once in DuckDB's dialect and run by DuckDB as written or by
Spark transpiled (:func:`graphkit.engine.stages.transpile`): every linked account starts with
the smaller of its own code and its neighbours', then takes the smallest label among itself and
its neighbours until no label changes. The label is then the smallest account code of the
component, so the partition is exactly :mod:`graphkit.detection.communities`' ``components``
method (igraph), renumbered the same way (:func:`~graphkit.detection.communities.
relabel_by_size`). Rounds are bounded by the longest shortest path inside a component; each
round is one join over the links.

>>> import pandas as pd
>>> from graphkit.detection.links import Links
>>> t = pd.DataFrame({"a": [0, 1, 3], "b": [1, 2, 4], "score": [0.9, 0.9, 0.9]})
>>> c = components(Links(t, 6), duckdb_tables())
>>> c.membership.tolist(), c.method
([0, 0, 0, 1, 1, 2], 'components (stage SQL)')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from graphkit.detection.communities import Communities, relabel_by_size
from graphkit.detection.links import Links

EDGES_SQL = "SELECT a, b FROM cc_links UNION ALL SELECT b AS a, a AS b FROM cc_links"
INIT_SQL = "SELECT a AS node, least(a, min(b)) AS label FROM cc_edges GROUP BY a"
ROUND_SQL = ("SELECT l.node AS node, least(min(l.label), min(n.label)) AS label "
             "FROM cc_labels l JOIN cc_edges e ON e.a = l.node "
             "JOIN cc_labels n ON n.node = e.b GROUP BY l.node")
CHANGED_SQL = ("SELECT count(*) AS changed FROM cc_next x JOIN cc_labels l ON l.node = x.node "
               "WHERE x.label <> l.label")


class Tables(Protocol):
    """What the propagation needs of an engine: relations from frames, materialized query
    results under a name, and collected results."""

    def register(self, name: str, frame: pd.DataFrame) -> None: ...

    def materialize(self, name: str, sql: str) -> None: ...

    def collect(self, sql: str) -> pd.DataFrame: ...

    def close(self) -> None: ...


@dataclass
class _DuckDBTables:
    con: Any

    def register(self, name: str, frame: pd.DataFrame) -> None:
        self.con.register(name, frame)

    def materialize(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def collect(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def close(self) -> None:
        self.con.close()


def duckdb_tables() -> Tables:
    """The propagation on a fresh in-memory DuckDB connection."""
    import duckdb

    return _DuckDBTables(duckdb.connect())


def components(links: Links, tables: Tables) -> Communities:
    """Connected components of ``links`` (every kept link ties its two accounts), computed by
    ``tables`` (:func:`duckdb_tables` or :func:`graphkit.engine.spark.spark_tables`); accounts
    without links are singletons. The tables are closed afterwards."""
    try:
        tables.register("cc_links", links.table[["a", "b"]].astype(np.int64))
        tables.materialize("cc_edges", EDGES_SQL)
        tables.materialize("cc_labels", INIT_SQL)
        rounds = 0
        while True:  # rounds of propagation (the graph's diameter at most), not rows
            tables.materialize("cc_next", ROUND_SQL)
            rounds += 1
            if int(tables.collect(CHANGED_SQL)["changed"].iloc[0]) == 0:
                break
            tables.materialize("cc_labels", "SELECT node, label FROM cc_next")
        labels = tables.collect("SELECT node, label FROM cc_labels")
    finally:
        tables.close()
    raw = np.arange(links.n_accounts, dtype=np.int64)
    raw[labels["node"].to_numpy(np.int64)] = labels["label"].to_numpy(np.int64)
    membership = relabel_by_size(raw)
    return Communities(membership, np.bincount(membership), "components (stage SQL)", None)
