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

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphkit.detection.features import (
    AccountActivity,
    hour_vectors,
    released_models,
    traffic_from_rows,
)
from graphkit.detection.synchrony import (
    WindowSignatures,
    clock_alignment_from_counts,
    row_entropy,
    windows_signatures,
)
from graphkit.engine.stages import Stage, release_traffic_sql, stages, transpile
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


def run_stages(plan_: list[Stage], execute: Callable[[Stage], pd.DataFrame],
               register: Callable[[str, pd.DataFrame], None] | None = None,
               settings: Settings | None = None,
               releases: dict[str, dt.datetime] | None = None) -> Outputs:
    """Run every stage with ``execute`` (which keeps the stage's result under its name) and
    return the collected results; raises InputError when validation finds bad rows.

    With ``register`` (which makes a frame a relation of the engine), the releases are then
    found from the collected first requests per model (:func:`releases_from_outputs`, plus the
    given ``releases``), registered as ``releases`` and the ``release_traffic`` stage runs.
    """
    out: Outputs = {}
    for stage in plan_:  # a dozen stages, each a set operation over all rows
        out[stage.name] = execute(stage)
        if stage.name == "validation":
            check_validation(out[stage.name])
    if register is not None and "account_hours" in out:
        settings = settings or Settings()
        found = releases_from_outputs(out, settings, releases)
        if found:
            register("releases", pd.DataFrame({
                "model": pd.Series(list(found), dtype=object),
                "released": pd.Series(list(found.values())).astype("datetime64[us]")}))
            out["release_traffic"] = execute(Stage(
                "release_traffic", release_traffic_sql(settings), ("events", "releases")))
    return out


def _us(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).astype("datetime64[us]").to_numpy().astype(np.int64)


def releases_from_outputs(out: Outputs, settings: Settings,
                          given: dict[str, dt.datetime] | None = None
                          ) -> dict[str, dt.datetime]:
    """The models released inside the period (:func:`graphkit.detection.features.
    released_models` on the ``model_firsts`` stage), then the ``given`` ones."""
    found: dict[str, dt.datetime] = {}
    firsts = out.get("model_firsts")
    if firsts is not None and len(firsts):
        firsts = firsts.sort_values("model", kind="stable")
        found = released_models(firsts["model"].to_numpy(object), _us(firsts["first_seen"]),
                                int(_us(out["account_totals"]["first_seen"]).min()), settings)
    return {**found, **(given or {})}


@dataclass
class StagedActivity:
    """What the driver reads instead of the events: account features, the distinct (account,
    window) pairs and the clock alignment of synchrony, and the releases."""

    activity: AccountActivity
    windows: tuple[np.ndarray, np.ndarray]  # account code, window number; sorted
    clock_aligned: np.ndarray
    releases: dict[str, dt.datetime]
    proxy_counts: pd.DataFrame | None = None  # account_id, provider, n (the proxy signal)

    def signatures(self, settings: Settings) -> WindowSignatures:
        """Synchrony's window signatures, as :func:`graphkit.detection.synchrony.
        window_signatures` computes them from the events."""
        return windows_signatures(*self.windows, len(self.clock_aligned), settings,
                                  self.clock_aligned)


def activity_from_outputs(out: Outputs, account_ids: np.ndarray, settings: Settings,
                          releases: dict[str, dt.datetime] | None = None) -> StagedActivity:
    """:class:`StagedActivity` for the accounts ``account_ids`` (codes in that order) from the
    activity stages' collected outputs; ``releases`` are the given ones (``--release``)."""
    index = pd.Index(account_ids)
    n = len(index)

    def histogram(frame: pd.DataFrame, width: int) -> np.ndarray:
        counts = np.zeros((n, width), np.int64)
        counts[index.get_indexer(frame["account_id"]), frame["bucket"].to_numpy(np.int64)] = (
            frame["n"].to_numpy(np.int64))
        return counts

    def per_account(name: str, col: str) -> np.ndarray:
        if name not in out:
            return np.zeros(n)
        return np.bincount(index.get_indexer(out[name]["account_id"]),
                           weights=out[name][col].to_numpy(np.float64), minlength=n)

    windows = out["account_windows"]
    acc = index.get_indexer(windows["account_id"]).astype(np.int64)
    win = windows["win"].to_numpy(np.int64)
    order = np.lexsort((win, acc))
    found = releases_from_outputs(out, settings, releases)
    hours = histogram(out["account_hours"], 24)
    activity = AccountActivity(
        per_account("account_proxy", "n"), row_entropy(hours)[0] / np.log(24),
        traffic_from_rows(out.get("release_traffic"), index, tuple(found)), hour_vectors(hours))
    return StagedActivity(activity, (acc[order], win[order]),
                          clock_alignment_from_counts(histogram(out["account_seconds"], 60)),
                          found, out.get("account_proxy"))


def check_validation(counts: pd.DataFrame) -> None:
    """Raise :class:`~graphkit.errors.InputError` when the validation stage counted bad rows."""
    row = counts.iloc[0]
    for col in counts.columns:
        if col.startswith("missing_") and int(row[col]):
            raise InputError(f"{int(row[col])} events have no {col.removeprefix('missing_')}",
                             column=col.removeprefix("missing_"))


def run_duckdb(dataset: Dataset, settings: Settings,
               releases: dict[str, dt.datetime] | None = None) -> Outputs:
    """Run the stages on the dataset's own DuckDB connection (the local engine)."""
    con = dataset.con
    con.register("declared_payments", declared_payments(dataset))

    def execute(stage: Stage) -> pd.DataFrame:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stage.name} AS {transpile(stage.sql, 'duckdb')}")
        return con.execute(f"SELECT * FROM {stage.name}").df()

    try:
        return run_stages(plan(dataset, settings), execute, con.register, settings, releases)
    finally:
        con.unregister("declared_payments")
        if "releases" in {r[0] for r in con.execute("SHOW TABLES").fetchall()}:
            con.unregister("releases")


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
