"""Run the stage SQL of :mod:`graphkit.engine.stages` on DuckDB or on Spark, and turn the
collected aggregates into the :class:`~graphkit.graph.hetero.HeteroGraph` the driver-side stages
read.

Both engines execute the same :class:`~graphkit.engine.stages.Stage` texts: DuckDB as written,
Spark through :func:`~graphkit.engine.stages.transpile`. Each stage's result is kept as a view
(DuckDB) or a temporary view (Spark) under the stage's name, so later stages read it.

>>> import graphkit
>>> from graphkit.settings import Settings
>>> ds = graphkit.load("fixtures/hand/events.csv", "fixtures/hand/accounts.csv")
>>> out = run_duckdb(ds, Settings())
>>> int(out["validation"]["n_rows"][0]), len(out["edges_USED_IP"])
(20, 9)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from graphkit.engine.stages import Stage, stages, transpile
from graphkit.errors import InputError
from graphkit.graph.hetero import HeteroGraph
from graphkit.io import Dataset
from graphkit.registry import ACCOUNT_LABEL, EDGE_TYPES, KINDS, NODE_TYPES
from graphkit.settings import Settings

Outputs = dict[str, pd.DataFrame]
_TIME_COLUMNS = ("first_seen", "last_seen")


def event_columns(dataset: Dataset) -> list[str]:
    """Columns of the dataset's events that hold at least one value."""
    cols = [r[0] for r in dataset.con.execute("DESCRIBE events").fetchall()]
    counts = dataset.con.execute(
        "SELECT " + ", ".join(f"count({c})" for c in cols) + " FROM events").fetchall()[0]
    return [c for c, n in zip(cols, counts, strict=True) if n > 0]


def declared_payments(dataset: Dataset) -> pd.DataFrame:
    """(account_id, payment_id) pairs the accounts file declares."""
    return dataset.con.execute(
        "SELECT account_id, payment_id FROM accounts WHERE payment_id IS NOT NULL").df()


def plan(dataset: Dataset, settings: Settings) -> list[Stage]:
    """The stages for ``dataset``: its accounts and the columns its events carry."""
    return stages(settings, len(dataset.accounts), event_columns(dataset))


def run_stages(plan_: list[Stage], execute: Callable[[Stage], pd.DataFrame]) -> Outputs:
    """Run every stage with ``execute`` (which keeps the stage's result under its name) and
    return the collected results; raises InputError when validation finds bad rows."""
    out: Outputs = {}
    for stage in plan_:  # a dozen stages, each a set operation over all rows
        out[stage.name] = execute(stage)
        if stage.name == "validation":
            check_validation(out[stage.name])
    return out


def check_validation(counts: pd.DataFrame) -> None:
    """Raise :class:`~graphkit.errors.InputError` when the validation stage counted bad rows."""
    row = counts.iloc[0]
    for col in counts.columns:
        if col.startswith("missing_") and int(row[col]):
            raise InputError(f"{int(row[col])} events have no {col.removeprefix('missing_')}",
                             column=col.removeprefix("missing_"))


def run_duckdb(dataset: Dataset, settings: Settings) -> Outputs:
    """Run the stages on the dataset's own DuckDB connection (the local engine)."""
    con = dataset.con
    con.register("declared_payments", declared_payments(dataset))

    def execute(stage: Stage) -> pd.DataFrame:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stage.name} AS {transpile(stage.sql, 'duckdb')}")
        return con.execute(f"SELECT * FROM {stage.name}").df()

    try:
        return run_stages(plan(dataset, settings), execute)
    finally:
        con.unregister("declared_payments")


def _times(frame: pd.DataFrame) -> pd.DataFrame:
    for col in _TIME_COLUMNS:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    return frame


def graph_from_outputs(dataset: Dataset, out: Outputs) -> HeteroGraph:
    """The heterogeneous graph from the collected stage outputs, coded as
    :func:`graphkit.graph.hetero.build_graph` codes it: accounts in the dataset's order, every
    other node type in sorted key order, edges sorted by (src, dst)."""
    accounts = dataset.con.execute("SELECT * FROM accounts ORDER BY account_idx").df()
    accounts.insert(0, "key", accounts["account_id"])
    nodes: dict[str, pd.DataFrame] = {ACCOUNT_LABEL: accounts.drop(columns=["account_idx"])}
    edges: dict[str, pd.DataFrame] = {}
    ordered = sorted(KINDS, key=lambda k: k.source != ACCOUNT_LABEL)
    for k in ordered:  # the registry's kinds
        if f"edges_{k.rel}" not in out:
            continue
        node = _times(out[f"nodes_{k.label}"].sort_values("key", kind="stable")
                      .reset_index(drop=True))
        node["key"] = node["key"].astype(nodes[ACCOUNT_LABEL]["key"].dtype)
        for col in node.columns[1:]:
            if col not in _TIME_COLUMNS:
                node[col] = node[col].astype(np.int64)
        nodes[k.label] = node
        src_keys = nodes[k.source]["key"]
        edge = _times(out[f"edges_{k.rel}"].copy())
        frame = pd.DataFrame({
            "src": pd.Index(src_keys).get_indexer(edge["source"]).astype(np.int32),
            "dst": np.searchsorted(node["key"].to_numpy(object),
                                   edge["key"].to_numpy(object)).astype(np.int32),
            "count": edge["count"].to_numpy(np.int64),
            "first_seen": edge["first_seen"], "last_seen": edge["last_seen"],
            "share": edge["share"].to_numpy(np.float64)})
        for col in ("from_events", "from_accounts_file"):
            if col in edge:
                frame[col] = edge[col].to_numpy(bool)
        edges[k.rel] = frame.sort_values(["src", "dst"], kind="stable").reset_index(drop=True)
    return HeteroGraph({t: nodes[t] for t in NODE_TYPES if t in nodes},
                       {t: edges[t] for t in EDGE_TYPES if t in edges},
                       {"n_events": dataset.n_events,
                        "sources": [f.path for f in dataset.files]})
