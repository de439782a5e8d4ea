"""Mergeable aggregate state of an event log: what the graph and feature stages sum over events.

A day of new logs should not make a daily run re-read the month before it. Every quantity the
graph stage (:func:`graphkit.graph.hetero.build_graph`) and the event-level features aggregate
from events is a *mergeable* aggregate: the aggregate of two disjoint event sets is a function of
the two aggregates. :func:`event_aggregates` computes them from a dataset's events in DuckDB;
:func:`merge_aggregates` merges two states; :func:`save_state` / :func:`load_state` keep them in a
result directory as Parquet with the digests of the input files they cover.

The tables (every key is a string id as read: a table written with integer codes carries their
dictionaries and is decoded on reading, :func:`table_sql`, so states from runs with different
account sets merge):

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
``releases``        model, account_id, on_model / in_window     sum (only while every model's
                    (requests on the model / all requests in    first sighting stays the one
                    the release window after the model's first  the window was counted from)
                    sighting), before_on / before (the same
                    before it)
``proxy``           account_id, proxy_provider, n               sum (proxy signal and traffic)
``activity``        account_id, bucket (hour), model, n         sum (timelines of flagged
                                                                accounts)
``templates``       template_hash, template_text, n_events     any text / sum (near-duplicate
                                                                template families)
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
['accounts', 'activity', 'edges_ip', 'edges_model']
>>> int(agg["accounts"]["n_events"].sum()) == ds.n_events
True
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from graphkit.errors import InputError
from graphkit.io.coded import CODED_COLUMNS, CODED_EVENTS
from graphkit.registry import ACCOUNT_LABEL, EDGE_TYPES, OPTIONAL_NODE_TYPES
from graphkit.settings import Settings

STATE_DIR = "state"
STATE_MANIFEST = "state.json"
STATE_FORMAT = 3  # 3: large tables may be coded (coded.json); 2 (all decoded) is still read
_READABLE_FORMATS = (2, 3)
CODED_MAP = "coded.json"
# The width of the activity table's buckets (the report's timelines,
# graphkit.detection.activity.activity_table's default bin).
ACTIVITY_BIN = "INTERVAL '1 hour'"

# table -> (key columns, {value column: merge function}); "distinct" tables have no values.
_ACCOUNT_MERGE = {"n_events": "sum", "first_seen": "min", "last_seen": "max",
                  "tokens_in": "sum", "tokens_out": "sum"}
_EDGE_MERGE = {"n": "sum", "f": "min", "l": "max"}
_COUNT_MERGE = {"n": "sum"}
_RELEASE_MERGE = {"on_model": "sum", "in_window": "sum", "before_on": "sum", "before": "sum"}
_TEMPLATE_MERGE = {"template_text": "any_value", "n_events": "sum"}


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
    out["releases"] = (("model", "account_id"), _RELEASE_MERGE)
    out["proxy"] = (("account_id", "proxy_provider"), _COUNT_MERGE)
    out["activity"] = (("account_id", "bucket", "model"), _COUNT_MERGE)
    out["templates"] = (("template_hash",), _TEMPLATE_MERGE)
    return out


def event_aggregates(con: duckdb.DuckDBPyConnection, window_seconds: int,
                     events: str = "events", *, release_window_hours: float | None = None,
                     models: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The mergeable aggregates of the events in relation ``events`` of ``con``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A connection holding the canonical events (:attr:`graphkit.io.Dataset.con`).
    window_seconds : int
        The synchrony window (``Settings.sync_window_seconds``); windows are numbered from the
        epoch, so states of different days agree on them.
    events : str, default "events"
        The relation to aggregate. The ``templates`` table is read from relation ``templates``
        of ``con`` when it exists (:func:`graphkit.io.load` builds it), else from the events
        without text.
    release_window_hours : float, optional
        ``Settings.model_release_window_hours`` (the default settings' value when None).
    models : DataFrame, optional
        ``model, first_seen``: where each model's release window starts. None: at the first
        sighting in these events. An incremental run passes the merged first sightings, so the
        new events are counted in the windows of the whole log.

    Returns
    -------
    dict of str to DataFrame
        One table per entry of the module's table list, sorted by its keys. Edge tables of
        optional columns (user agents, models) are empty when the events lack the column.
    """
    return _each_table(con, window_seconds, events, release_window_hours, models,
                       lambda name, sql: _frame(con, sql), ordered=True)


def spill_aggregates(con: duckdb.DuckDBPyConnection, window_seconds: int,
                     directory: str | os.PathLike[str], events: str = "events", *,
                     release_window_hours: float | None = None) -> dict[str, int]:
    """:func:`event_aggregates` written by DuckDB straight to ``directory/<table>.parquet``
    (``COPY``: streamed, nothing held in Python; at a million accounts the tables take
    several GB as DataFrames); the number of rows of every table.

    Written as they are grouped: in DuckDB's group order (:func:`load_state` sorts), and over
    integer-coded events the large tables keep their codes, with the dictionaries they need
    (``dict_<column>.parquet``) and ``coded.json`` naming each table's coded columns
    (:func:`table_sql` decodes them). Decoding and sorting would cost more than the grouping.

    >>> import graphkit, tempfile
    >>> ds = graphkit.load("fixtures/hand/events.csv")
    >>> rows = spill_aggregates(ds.con, 90, tempfile.mkdtemp())
    >>> rows["accounts"] == len(event_aggregates(ds.con, 90)["accounts"])
    True
    """
    out = Path(directory)
    keep = _spill_coded() if _coded(con, events) else frozenset()
    rows = _each_table(con, window_seconds, events, release_window_hours, None,
                       lambda name, sql: _copy(con, sql, out / f"{name}.parquet"),
                       ordered=False, keep_codes=keep)
    if keep:
        keys = _coded_keys(con)
        coded = {name: [list(k) if isinstance(k, tuple) else [k, k] for k in keys[name]]
                 for name in sorted(keep)}
        for col in sorted({col for pairs in coded.values() for _, col in pairs}):
            _copy(con, f"SELECT code, value FROM _dict_{col}", out / f"dict_{col}.parquet")
        (out / CODED_MAP).write_text(json.dumps(coded, indent=1) + "\n", encoding="utf-8")
    return rows


def _spill_coded() -> frozenset[str]:
    """The tables a spilled state keeps coded: the ones with many rows (per account and hour,
    second, window or value). ``accounts`` and ``models``, read directly by an incremental run,
    and the small ``releases`` and ``templates`` are written decoded."""
    return frozenset(["hours", "seconds", "windows", "proxy", "activity",
                      *(f"edges_{col}" for col in _edge_sources())])


def table_sql(directory: str | os.PathLike[str], name: str,
              coded_map: dict[str, list[list[str]]] | None = None) -> str:
    """SQL reading table ``name`` of a spilled or saved state in ``directory``, decoded when
    it was written with codes (``coded.json``; ``coded_map``: its content, read once by a
    caller reading every table)."""
    d = Path(directory)
    sql = f"SELECT * FROM {_parquet(d / f'{name}.parquet')}"
    coded = (_coded_map(d) if coded_map is None else coded_map).get(name)
    if not coded:
        return sql
    return _decode(sql, tuple(tuple(p) for p in coded),
                   lambda col: _parquet(d / f"dict_{col}.parquet"))


def coded_table(directory: str | os.PathLike[str], name: str
                ) -> tuple[str, dict[str, str]] | None:
    """Table ``name`` of a spilled state in ``directory`` as written, over its codes: (SQL
    reading it, coded column -> SQL relation of its dictionary's ``code, value``); None when
    the table was written decoded."""
    d = Path(directory)
    pairs = _coded_map(d).get(name)
    if not pairs:
        return None
    return (f"SELECT * FROM {_parquet(d / f'{name}.parquet')}",
            {out: _parquet(d / f"dict_{col}.parquet") for out, col in pairs})


def coded_edge_relations(directory: str | os.PathLike[str]) -> dict[str, str]:
    """Events column -> SQL relation of the ``edges_<column>`` tables a spilled state in
    ``directory`` holds with codes (``s, k, n, f, l`` over the run's codes), for
    :func:`graphkit.graph.hetero.build_graph`'s ``coded_aggregates``."""
    d = Path(directory)
    return {name.removeprefix("edges_"): _parquet(d / f"{name}.parquet")
            for name in _coded_map(d) if name.startswith("edges_")}


def _coded_map(directory: Path) -> dict[str, list[list[str]]]:
    path = directory / CODED_MAP
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _parquet(path: Path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def _each_table(con: duckdb.DuckDBPyConnection, window_seconds: int, events: str,
                release_window_hours: float | None, models: pd.DataFrame | None,
                sink: Callable[[str, str], Any], ordered: bool,
                keep_codes: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``sink(name, sql)`` of every aggregate table's query, sorted by its keys when
    ``ordered``; the release windows start at ``models`` (None: the first sightings in these
    events)."""
    layout = _layout()

    def query(name: str, q: str) -> str:
        return f"SELECT * FROM ({q}) ORDER BY {_order(layout[name][0])}" if ordered else q

    sql = aggregate_sql(con, window_seconds, events, keep_codes=keep_codes)
    out = {name: sink(name, query(name, q)) for name, q in sql.items()}
    _register_starts(con, _frame(con, sql["models"]) if models is None else models,
                     release_window_hours)
    try:
        out["releases"] = sink("releases", query("releases", _release_sql(events, con)))
    finally:
        con.unregister(_RELEASE_STARTS)
    return {name: out[name] for name in layout}


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    """``COPY (sql) TO path`` as Parquet; the rows written."""
    target = str(path).replace("'", "''")
    return int(con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)").fetchall()[0][0])


def aggregate_sql(con: duckdb.DuckDBPyConnection, window_seconds: int, events: str = "events",
                  *, keep_codes: frozenset[str] = frozenset()) -> dict[str, str]:
    """The SQL of every table of :func:`event_aggregates` but ``releases``, over relation
    ``events`` of ``con``.

    When ``events`` is the decoding view of integer-coded events (:mod:`graphkit.io.coded`),
    every table is grouped on the codes and only its result decoded: the strings of 30M rows
    are never built. The tables named in ``keep_codes`` keep their codes (a full run's spilled
    state, :func:`spill_aggregates`)."""
    coded = _coded(con, events)
    sql = _aggregate_sql(con, window_seconds, CODED_EVENTS if coded else events)
    if not coded:
        return sql
    keys = _coded_keys(con)
    return {name: q if name in keep_codes else _decode(q, keys[name]) for name, q in sql.items()}


def _coded_keys(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Each table's coded keys (from the layout): the coded columns among its keys, and the
    edge tables' source and target; the templates table is read as it is when it exists."""
    keys: dict[str, tuple] = {name: tuple(k for k in key if k in CODED_COLUMNS)
                              for name, (key, _) in _layout().items()}
    keys["templates"] = () if _has_templates(con) else ("template_hash",)
    for col, src in _edge_sources().items():
        keys[f"edges_{col}"] = (("s", src), ("k", col))
    return keys


def _coded(con: duckdb.DuckDBPyConnection, events: str) -> bool:
    """Whether relation ``events`` is the decoding view over ``_events_coded``."""
    if events != "events":
        return False
    try:
        con.execute(f"SELECT 1 FROM {CODED_EVENTS} LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _decode(sql: str, keys: tuple, dictionary: Callable[[str], str] | None = None) -> str:
    """``sql`` (over codes) with its coded key columns replaced by their values, in place.
    ``keys``: coded column names, or ``(output column, coded column)`` pairs; ``dictionary``:
    the relation (code, value) of a coded column (default: the loaded ``_dict_<column>``)."""
    pairs = [k if isinstance(k, (tuple, list)) else (k, k) for k in keys]
    if not pairs:
        return sql
    rel = dictionary or (lambda col: f"_dict_{col}")
    replace = ", ".join(f"d{i}.value AS {out}" for i, (out, _) in enumerate(pairs))
    joins = " ".join(f"LEFT JOIN {rel(col)} d{i} ON d{i}.code = a.{out}"
                     for i, (out, col) in enumerate(pairs))
    return f"SELECT a.* REPLACE ({replace}) FROM ({sql}) a {joins}"


def _aggregate_sql(con: duckdb.DuckDBPyConnection, window_seconds: int, events: str
                   ) -> dict[str, str]:
    w_us = int(window_seconds) * 1_000_000
    present = {c: con.execute(f"SELECT count({c}) FROM {events}").fetchall()[0][0] > 0
               for c in OPTIONAL_NODE_TYPES.values()}
    sql = {
        "accounts": (f"SELECT account_id, count(*) AS n_events, min(ts) AS first_seen, "
                     f"max(ts) AS last_seen, coalesce(CAST(sum(tokens_in) AS BIGINT), 0) AS "
                     f"tokens_in, coalesce(CAST(sum(tokens_out) AS BIGINT), 0) AS tokens_out "
                     f"FROM {events} GROUP BY ALL"),
        "hours": (f"SELECT account_id, CAST(hour(ts) AS INTEGER) AS hour, count(*) AS n "
                  f"FROM {events} GROUP BY ALL"),
        "seconds": (f"SELECT account_id, CAST(second(ts) AS INTEGER) AS second, count(*) AS n "
                    f"FROM {events} GROUP BY ALL"),
        "windows": (f"SELECT DISTINCT account_id, epoch_us(ts) // {w_us} AS win "
                    f"FROM {events}"),
        "models": (f"SELECT model, min(ts) AS first_seen FROM {events} "
                   "WHERE model IS NOT NULL GROUP BY ALL"),
        "proxy": (f"SELECT account_id, proxy_provider, count(*) AS n FROM {events} "
                  "WHERE proxy_provider IS NOT NULL GROUP BY ALL"),
        "activity": (f"SELECT account_id, time_bucket({ACTIVITY_BIN}, ts) AS bucket, model, "
                     f"count(*) AS n FROM {events} GROUP BY ALL"),
        "templates": _templates_sql(con, events),
    }
    for col, src in _edge_sources().items():
        where = f"{col} IS NOT NULL" + ("" if present.get(col, True) else " AND FALSE")
        sql[f"edges_{col}"] = (f"SELECT {src} AS s, {col} AS k, count(*) AS n, min(ts) AS f, "
                               f"max(ts) AS l FROM {events} WHERE {where} GROUP BY ALL")
    return sql


def _has_templates(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.execute("SELECT template_hash, template_text, n_events FROM templates LIMIT 0")
    except duckdb.CatalogException:
        return False
    return True


def _templates_sql(con: duckdb.DuckDBPyConnection, events: str) -> str:
    if not _has_templates(con):
        return (f"SELECT template_hash, CAST(NULL AS VARCHAR) AS template_text, count(*) AS "
                f"n_events FROM {events} WHERE template_hash IS NOT NULL GROUP BY ALL")
    return "SELECT template_hash, template_text, n_events FROM templates"


_RELEASE_STARTS = "_gk_release_starts"


def _register_starts(con: duckdb.DuckDBPyConnection, models: pd.DataFrame,
                     hours: float | None) -> None:
    """Relation ``_gk_release_starts`` (model, t0, t1): each model's release window."""
    if hours is None:
        hours = Settings().model_release_window_hours
    window = pd.Timedelta(microseconds=int(hours * 3600 * 1_000_000))
    starts = pd.DataFrame({"model": models["model"].astype(object),
                           "t0": models["first_seen"].astype("datetime64[us]")})
    starts["t1"] = (starts["t0"] + window).astype("datetime64[us]")
    con.register(_RELEASE_STARTS, starts)


def _release_sql(events: str, con: duckdb.DuckDBPyConnection | None = None) -> str:
    # The four counts of graphkit.detection.features.ReleaseTraffic: in the window after the
    # release (on the model / all) and before it (on the model / all). Over coded events the
    # model names of the windows are coded first and the account codes decoded after.
    coded = con is not None and _coded(con, events)
    # LEFT JOIN: a model of the merged first sightings that these events never use still
    # counts their window traffic (in_window, before) with no request on it.
    starts = (f"(SELECT s.*, d.code FROM {_RELEASE_STARTS} s LEFT JOIN _dict_model d "
              "ON d.value = s.model)" if coded else _RELEASE_STARTS)
    on = "r.code" if coded else "r.model"
    sql = ("SELECT r.model, e.account_id, "
           f"count(*) FILTER (WHERE e.ts >= r.t0 AND e.model = {on}) AS on_model, "
           "count(*) FILTER (WHERE e.ts >= r.t0) AS in_window, "
           f"count(*) FILTER (WHERE e.ts < r.t0 AND e.model = {on}) AS before_on, "
           "count(*) FILTER (WHERE e.ts < r.t0) AS before "
           f"FROM {CODED_EVENTS if coded else events} e JOIN {starts} r ON e.ts < r.t1 "
           "GROUP BY ALL")
    return _decode(sql, ("account_id",)) if coded else sql


def release_counts(con: duckdb.DuckDBPyConnection, models: pd.DataFrame,
                   hours: float | None, events: str = "events") -> pd.DataFrame:
    """Per model and account: requests on the model (``on_model``) and all requests
    (``in_window``) in the ``hours`` after ``models.first_seen``, and the same before it
    (``before_on``, ``before``) (the window
    :func:`graphkit.detection.features.account_features` counts a release's traffic in), from
    the events of relation ``events``; one range join."""
    _register_starts(con, models, hours)
    try:
        return _frame(con, f"SELECT * FROM ({_release_sql(events, con)}) "
                           f"ORDER BY {_order(('model', 'account_id'))}")
    finally:
        con.unregister(_RELEASE_STARTS)


def merge_saved_state(con: duckdb.DuckDBPyConnection, directory: str | os.PathLike[str],
                      window_seconds: int, release_window_hours: float, models: pd.DataFrame,
                      events: str = "events") -> dict[str, pd.DataFrame]:
    """The state saved under ``directory`` merged with the aggregates of the events in relation
    ``events`` of ``con``: :func:`merge_aggregates` of :func:`load_state` and
    :func:`event_aggregates` (``models``: the merged first sightings), computed in one DuckDB
    query per table that reads the saved Parquet files and the events directly."""
    src = Path(directory) / STATE_DIR
    coded = _coded_map(src)
    saved = {name: f"({table_sql(src, name, coded)})" for name in _layout()}
    new = {name: f"({q})" for name, q in aggregate_sql(con, window_seconds, events).items()}
    new["releases"] = f"({_release_sql(events, con)})"
    _register_starts(con, models, release_window_hours)
    try:
        return {name: _merge_table(con, name, saved[name], new[name]) for name in _layout()}
    finally:
        con.unregister(_RELEASE_STARTS)


def _merge_table(con: duckdb.DuckDBPyConnection, name: str, a: str, b: str) -> pd.DataFrame:
    """Table ``name`` of the merge of relations ``a`` and ``b`` (SQL), sorted by its keys."""
    keys, values = _layout()[name]
    cols = ", ".join(keys)
    aggs = "".join(f", {fn}({v}) AS {v}" for v, fn in values.items())
    casts = "".join(f", CAST({v} AS BIGINT) AS {v}" if fn == "sum" else f", {v}"
                    for v, fn in values.items())
    return _frame(con, f"SELECT {cols}{casts} FROM (SELECT {cols}{aggs} FROM (SELECT * FROM {a} "
                       f"UNION ALL BY NAME SELECT * FROM {b}) GROUP BY {cols}) "
                       f"ORDER BY {_order(keys)}")


def _order(keys: Iterable[str]) -> str:
    """ORDER BY list of a table's keys: ascending, missing values last (as pandas sorts)."""
    return ", ".join(f"{k} NULLS LAST" for k in keys)


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """A query's result as a DataFrame through Arrow (text columns stay Arrow strings: several
    times faster than building them row by row)."""
    return con.sql(sql).to_arrow_table().to_pandas()


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
        for name in _layout():
            if name not in a or name not in b:
                continue
            con.register("_a", pa.Table.from_pandas(a[name], preserve_index=False))
            con.register("_b", pa.Table.from_pandas(b[name], preserve_index=False))
            df = _merge_table(con, name, "_a", "_b")
            con.unregister("_a")
            con.unregister("_b")
            out[name] = df.astype({c: a[name][c].dtype for c in df.columns
                                   if c in a[name] and len(a[name])
                                   and df[c].dtype != a[name][c].dtype})
        return out
    finally:
        con.close()


def save_state(directory: str | os.PathLike[str], aggregates: dict[str, pd.DataFrame] | Path,
               digests: Iterable[str], window_seconds: int,
               extra: dict[str, object] | None = None) -> Path:
    """Write ``aggregates`` to ``directory/state`` (one Parquet file per table) with
    ``state.json``: the format, the synchrony window, the sha256 digests of the input files
    the state covers and ``extra`` (the release window, per-file rows, ...). ``aggregates``
    may be a directory of table files already written (:func:`spill_aggregates`), copied into
    place. Returns the state directory."""
    out = Path(directory) / STATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(aggregates, Path):
        names = sorted(_layout())
        extra_files = [p.name for p in sorted(aggregates.glob("dict_*.parquet"))]
        if (aggregates / CODED_MAP).is_file():
            extra_files.append(CODED_MAP)
        for name in [*(f"{n}.parquet" for n in names), *extra_files]:
            shutil.copyfile(aggregates / name, out / name)
    else:
        names = sorted(aggregates)
        for name, df in aggregates.items():
            df.to_parquet(out / f"{name}.parquet", index=False)
    (out / STATE_MANIFEST).write_text(json.dumps(
        {"format": STATE_FORMAT, "window_seconds": int(window_seconds),
         "digests": sorted(set(digests)), "tables": names, **(extra or {})},
        indent=1) + "\n",
        encoding="utf-8")
    return out


def load_state(directory: str | os.PathLike[str]
               ) -> tuple[dict[str, pd.DataFrame], dict[str, object]]:
    """The aggregates and ``state.json`` saved by :func:`save_state` under ``directory``, each
    table sorted by its keys.

    Raises
    ------
    graphkit.errors.InputError
        When the directory holds no state, or one of another format.
    """
    meta = read_state_meta(directory)
    src = Path(directory) / STATE_DIR
    layout = _layout()
    coded = _coded_map(src)
    con = duckdb.connect()
    try:
        tables = {name: _frame(con, table_sql(src, name, coded)) if name in coded
                  else pd.read_parquet(src / f"{name}.parquet") for name in meta["tables"]}
    finally:
        con.close()
    return {name: _sorted(df, layout[name][0]) for name, df in tables.items()}, meta


def _sorted(df: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """A table sorted by its keys (a full run writes its tables in DuckDB's group order)."""
    return df.sort_values(list(keys), kind="stable", na_position="last", ignore_index=True)


def read_state_meta(directory: str | os.PathLike[str]) -> dict[str, object]:
    """``state.json`` of the state saved under ``directory`` (see :func:`load_state`)."""
    meta_path = Path(directory) / STATE_DIR / STATE_MANIFEST
    if not meta_path.is_file():
        raise InputError("no aggregate state (state/state.json) in the result directory",
                         file=str(directory))
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if (meta.get("format") not in _READABLE_FORMATS
            or sorted(meta.get("tables", [])) != sorted(_layout())):
        raise InputError(f"aggregate state of format {meta.get('format')!r}, expected "
                         f"{STATE_FORMAT}", file=str(meta_path))
    return meta


def missing_digests(meta: dict[str, object], digests: Iterable[str]) -> list[str] | None:
    """The digests of ``digests`` not covered by a saved state, or None when the state covers a
    file that is no longer among the inputs (a state cannot forget events: rerun in full)."""
    have = set(meta.get("digests") or [])
    want = list(dict.fromkeys(digests))
    if not have <= set(want):
        return None
    return [d for d in want if d not in have]


__all__ = [
    "STATE_DIR",
    "aggregate_sql",
    "coded_edge_relations",
    "event_aggregates",
    "load_state",
    "merge_aggregates",
    "merge_saved_state",
    "missing_digests",
    "read_state_meta",
    "release_counts",
    "save_state",
    "table_sql",
]
