"""Mergeable aggregate state of an event log: what the graph and feature stages sum over events.

A day of new logs should not make a daily run re-read the month before it. Every quantity the
graph stage (:func:`graphkit.graph.hetero.build_graph`) and the event-level features aggregate
from events is a *mergeable* aggregate: the aggregate of two disjoint event sets is a function of
the two aggregates. :func:`event_aggregates` computes them from a dataset's events in DuckDB;
:func:`merge_aggregates` merges two states; :func:`save_state` / :func:`load_state` keep them in a
result directory as Parquet with the digests of the input files they cover.

The tables (every key is a string id, never a run-specific code, so states from runs with
different account sets merge):

==================  ==========================================  ==============================
table               columns                                     merge
==================  ==========================================  ==============================
``accounts``        account_id, n_events, first_seen,           sum / min / max / sum / sum
                    last_seen, tokens_in, tokens_out
``edges_<column>``  s (account id, or IP for the proxy          sum of n, min of f, max of l
                    operator), k (the value), n, f, l
``hours``           account_id, hour (of the day), n           sum (hour-of-day entropy)
``seconds``         account_id, second (of the minute), n      sum (clock alignment)
``windows``         account_id, win (synchrony window           union (distinct)
                    number, epoch-based)
``models``          model, first_seen                           min (model releases)
==================  ==========================================  ==============================

``windows`` keeps the distinct (account, window) pairs rather than MinHash signatures: the
signature of a union is the slot-wise minimum of the *raw* signatures, but the number of
distinct windows (the synchrony score's set sizes) is not additive when two files share a
window, and the active-hour signatures follow from the windows. The pairs are far fewer than
the events (one per account and 90-second window it was active in).

Merging is exact: :func:`merge_aggregates` of the aggregates of two disjoint event sets equals
the aggregates of their union, table by table (``tests/test_state.py``).

>>> import graphkit
>>> ds = graphkit.load("fixtures/hand/events.csv")
>>> agg = event_aggregates(ds.con, window_seconds=90)
>>> sorted(agg)[:4]
['accounts', 'edges_ip', 'edges_model', 'edges_payment_id']
>>> int(agg["accounts"]["n_events"].sum()) == ds.n_events
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pandas as pd

from graphkit.errors import InputError
from graphkit.registry import ACCOUNT_LABEL, EDGE_TYPES, OPTIONAL_NODE_TYPES

STATE_DIR = "state"
STATE_MANIFEST = "state.json"
STATE_FORMAT = 1

# table -> (key columns, {value column: merge function}); "distinct" tables have no values.
_ACCOUNT_MERGE = {"n_events": "sum", "first_seen": "min", "last_seen": "max",
                  "tokens_in": "sum", "tokens_out": "sum"}
_EDGE_MERGE = {"n": "sum", "f": "min", "l": "max"}
_COUNT_MERGE = {"n": "sum"}


def _edge_sources() -> dict[str, str]:
    """Events column of each edge target -> events column of its source (account_id for the
    account edges, ip for the operator of an IP), from the registry."""
    columns = {dst_t: col for _, dst_t, col in EDGE_TYPES.values()}
    return {col: ("account_id" if src_t == ACCOUNT_LABEL else columns[src_t])
            for src_t, _, col in EDGE_TYPES.values()}


def _layout() -> dict[str, tuple[tuple[str, ...], dict[str, str]]]:
    out: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
        "accounts": (("account_id",), _ACCOUNT_MERGE)}
    for col in _edge_sources():
        out[f"edges_{col}"] = (("s", "k"), _EDGE_MERGE)
    out["hours"] = (("account_id", "hour"), _COUNT_MERGE)
    out["seconds"] = (("account_id", "second"), _COUNT_MERGE)
    out["windows"] = (("account_id", "win"), {})
    out["models"] = (("model",), {"first_seen": "min"})
    return out


def event_aggregates(con: duckdb.DuckDBPyConnection, window_seconds: int,
                     events: str = "events") -> dict[str, pd.DataFrame]:
    """The mergeable aggregates of the events in relation ``events`` of ``con``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection holding the canonical events (:attr:`graphkit.io.Dataset.con`).
    window_seconds : int
        The synchrony window (``Settings.sync_window_seconds``); windows are numbered from the
        epoch, so states of different days agree on them.
    events : str, default "events"
        The relation to aggregate.

    Returns
    -------
    dict of str to DataFrame
        One table per entry of the module's table list, sorted by its keys. Edge tables of
        optional columns (user agents, models) are empty when the events lack the column.
    """
    w_us = int(window_seconds) * 1_000_000
    present = {c: con.execute(f"SELECT count({c}) FROM {events}").fetchall()[0][0] > 0
               for c in OPTIONAL_NODE_TYPES.values()}
    sql = {
        "accounts": (f"SELECT account_id, count(*) AS n_events, min(ts) AS first_seen, "
                     f"max(ts) AS last_seen, CAST(sum(tokens_in) AS BIGINT) AS tokens_in, "
                     f"CAST(sum(tokens_out) AS BIGINT) AS tokens_out FROM {events} "
                     "GROUP BY ALL"),
        "hours": (f"SELECT account_id, CAST(hour(ts) AS INTEGER) AS hour, count(*) AS n "
                  f"FROM {events} GROUP BY ALL"),
        "seconds": (f"SELECT account_id, CAST(second(ts) AS INTEGER) AS second, count(*) AS n "
                    f"FROM {events} GROUP BY ALL"),
        "windows": (f"SELECT DISTINCT account_id, epoch_us(ts) // {w_us} AS win "
                    f"FROM {events}"),
        "models": (f"SELECT model, min(ts) AS first_seen FROM {events} "
                   "WHERE model IS NOT NULL GROUP BY ALL"),
    }
    for col, src in _edge_sources().items():
        where = f"{col} IS NOT NULL" + ("" if present.get(col, True) else " AND FALSE")
        sql[f"edges_{col}"] = (f"SELECT {src} AS s, {col} AS k, count(*) AS n, min(ts) AS f, "
                               f"max(ts) AS l FROM {events} WHERE {where} GROUP BY ALL")
    layout = _layout()
    return {name: _sorted(con.execute(sql[name]).df(), layout[name][0]) for name in layout}


def _sorted(df: pd.DataFrame, keys: Iterable[str]) -> pd.DataFrame:
    return df.sort_values(list(keys), kind="stable").reset_index(drop=True)


def merge_aggregates(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]
                     ) -> dict[str, pd.DataFrame]:
    """The aggregates of the union of two disjoint event sets, from theirs.

    Counts and token sums add, first sightings take the minimum, last sightings the maximum,
    window sets the union; one DuckDB ``GROUP BY`` per table.

    Examples
    --------
    >>> x = {"hours": pd.DataFrame({"account_id": ["a"], "hour": [3], "n": [2]})}
    >>> y = {"hours": pd.DataFrame({"account_id": ["a", "b"], "hour": [3, 4], "n": [1, 5]})}
    >>> merge_aggregates(x, y)["hours"].values.tolist()
    [['a', 3, 3], ['b', 4, 5]]
    """
    con = duckdb.connect()
    try:
        out: dict[str, pd.DataFrame] = {}
        for name, (keys, values) in _layout().items():
            if name not in a or name not in b:
                continue
            con.register("_a", a[name])
            con.register("_b", b[name])
            cols = ", ".join(keys)
            aggs = "".join(f", {fn}({v}) AS {v}" for v, fn in values.items())
            casts = "".join(f", CAST({v} AS BIGINT) AS {v}" if fn == "sum" else f", {v}"
                            for v, fn in values.items())
            df = con.execute(
                f"SELECT {cols}{casts} FROM (SELECT {cols}{aggs} FROM (SELECT * FROM _a "
                f"UNION ALL BY NAME SELECT * FROM _b) GROUP BY {cols})").df()
            con.unregister("_a")
            con.unregister("_b")
            out[name] = _sorted(df.astype({c: a[name][c].dtype for c in df.columns
                                           if c in a[name] and len(a[name])}), keys)
        return out
    finally:
        con.close()


def save_state(directory: str | os.PathLike[str], aggregates: dict[str, pd.DataFrame],
               digests: Iterable[str], window_seconds: int) -> Path:
    """Write ``aggregates`` to ``directory/state`` (one Parquet file per table) with
    ``state.json``: the format, the synchrony window and the sha256 digests of the input files
    the state covers. Returns the state directory."""
    out = Path(directory) / STATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, df in aggregates.items():
        df.to_parquet(out / f"{name}.parquet", index=False)
    (out / STATE_MANIFEST).write_text(json.dumps(
        {"format": STATE_FORMAT, "window_seconds": int(window_seconds),
         "digests": sorted(set(digests)), "tables": sorted(aggregates)}, indent=1) + "\n",
        encoding="utf-8")
    return out


def load_state(directory: str | os.PathLike[str]
               ) -> tuple[dict[str, pd.DataFrame], dict[str, object]]:
    """The aggregates and ``state.json`` saved by :func:`save_state` under ``directory``.

    Raises
    ------
    graphkit.errors.InputError
        When the directory holds no state, or one of another format.
    """
    src = Path(directory) / STATE_DIR
    meta_path = src / STATE_MANIFEST
    if not meta_path.is_file():
        raise InputError("no aggregate state (state/state.json) in the result directory",
                         file=str(directory))
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != STATE_FORMAT:
        raise InputError(f"aggregate state of format {meta.get('format')!r}, expected "
                         f"{STATE_FORMAT}", file=str(meta_path))
    return {name: pd.read_parquet(src / f"{name}.parquet") for name in meta["tables"]}, meta


def missing_digests(meta: dict[str, object], digests: Iterable[str]) -> list[str] | None:
    """The digests of ``digests`` not covered by a saved state, or None when the state covers a
    file that is no longer among the inputs (a state cannot forget events: rerun in full)."""
    have = set(meta.get("digests") or [])
    want = list(dict.fromkeys(digests))
    if not have <= set(want):
        return None
    return [d for d in want if d not in have]


__all__ = ["STATE_DIR", "event_aggregates", "load_state", "merge_aggregates", "missing_digests",
           "save_state"]
