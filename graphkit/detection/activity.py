"""Per-account request counts over time: the data behind the report's timelines.

The detection output directory does not keep the events, so the report either reads
``activity.parquet`` from it or computes the table from the event files with
:func:`activity_table`. Everything is one DuckDB aggregate; nothing loops over events.

>>> import pandas as pd
>>> ev = pd.DataFrame({"account_id": ["a", "a", "b", "c"],
...                    "ts": pd.to_datetime(["2024-01-01 00:10", "2024-01-01 00:50",
...                                          "2024-01-01 02:00", "2024-01-01 03:00"]),
...                    "model": ["m1", "m1", "m2", "m1"]})
>>> activity_table(ev, ["a", "b"]).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
[{'account_id': 'a', 'bucket': Timestamp('2024-01-01 00:00:00'), 'model': 'm1', 'n': 2},
 {'account_id': 'b', 'bucket': Timestamp('2024-01-01 02:00:00'), 'model': 'm2', 'n': 1}]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.errors import ConfigError, InputError
from graphkit.io.schema import _lit

COLUMNS = ("account_id", "bucket", "model", "n")
NO_MODEL = "(any model)"
_UNITS = {"s": "second", "sec": "second", "second": "second", "min": "minute", "m": "minute",
          "minute": "minute", "h": "hour", "hour": "hour", "d": "day", "day": "day",
          "w": "week", "week": "week"}


def bin_interval(bin: str) -> str:
    """A DuckDB interval literal for a bin like ``"1h"``, ``"15min"`` or ``"1d"``.

    >>> bin_interval("1h"), bin_interval("15min"), bin_interval("2 days")
    ("INTERVAL '1 hour'", "INTERVAL '15 minute'", "INTERVAL '2 day'")
    """
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]+?)s?\s*", bin or "")
    if not m or m.group(2).lower() not in _UNITS or int(m.group(1)) <= 0:
        raise ConfigError(f"bin {bin!r} is not a time span like '1h', '15min' or '1d'")
    return f"INTERVAL '{int(m.group(1))} {_UNITS[m.group(2).lower()]}'"


def _events_source(con_or_events, con: duckdb.DuckDBPyConnection) -> str:  # type: ignore[no-untyped-def]
    """Register the events with ``con`` and return the relation name to read them from."""
    src = con_or_events
    if isinstance(src, pd.DataFrame | pa.Table):
        con.register("_report_events", src)
        return "_report_events"
    if isinstance(src, str | os.PathLike):
        src = [src]
    paths = [Path(p) for p in src]
    if not paths:
        raise ConfigError("no event files given")
    for p in paths:
        if not p.exists():
            raise InputError(f"event file not found: {p}", file=str(p))
    suffixes = {p.suffix.lower() for p in paths}
    listed = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
    if suffixes <= {".parquet", ".pq"}:
        reader = f"read_parquet({listed}, union_by_name = true)"
    elif suffixes <= {".csv", ".tsv", ".txt", ".gz"}:
        # Text as written: ids such as NA, null or 007 must not become NULL or numbers.
        reader = f"read_csv({listed}, union_by_name = true, all_varchar = true)"
    else:
        raise InputError(f"event files must be all Parquet or all CSV: {', '.join(map(str, paths))}",
                         file=str(paths[0]))
    con.execute(f"CREATE OR REPLACE TEMP VIEW _report_events AS SELECT * FROM {reader}")
    return "_report_events"


def activity_table(con_or_events, account_ids: Iterable[str] | Sequence[str],  # type: ignore[no-untyped-def]
                   bin: str = "1h") -> pd.DataFrame:
    """Requests per account, time bucket and model for the given accounts.

    Parameters
    ----------
    con_or_events
        A DuckDB connection holding an ``events`` table or view (as
        :func:`graphkit.io.load` leaves it), one or more Parquet or CSV event files, or
        an in-memory pandas DataFrame / Arrow table. Columns ``account_id`` and ``ts`` are
        required, ``model`` is optional (without it every row has model ``"(any model)"``).
    account_ids
        The accounts to keep (typically the members of flagged communities).
    bin
        The bucket width: ``"1h"``, ``"15min"``, ``"1d"``...

    Returns
    -------
    pandas.DataFrame
        ``account_id``, ``bucket`` (naive UTC timestamp, start of the bucket), ``model`` and
        ``n`` (requests), sorted by account, bucket and model.
    """
    interval = bin_interval(bin)
    if isinstance(con_or_events, duckdb.DuckDBPyConnection):
        con, own = con_or_events, False
        relation = "events"
    else:
        con, own = duckdb.connect(), True
        con.execute("SET TimeZone = 'UTC'")
        relation = _events_source(con_or_events, con)
    try:
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        except duckdb.Error as exc:
            raise InputError(f"cannot read the events: {exc}") from exc
        types = {row[0].lower(): str(row[1]).upper() for row in described}
        for col in ("account_id", "ts"):
            if col not in types:
                raise InputError(f"the events have no {col!r} column", column=col)
        ts = "ts"
        if "TIME ZONE" in types["ts"]:
            ts = "timezone('UTC', ts)"
        elif types["ts"] == "VARCHAR":
            ts = "CAST(try_cast(ts AS TIMESTAMPTZ) AS TIMESTAMP)"
        elif not types["ts"].startswith("TIMESTAMP"):
            ts = "CAST(ts AS TIMESTAMP)"
        model = (f"coalesce(CAST(e.model AS VARCHAR), '{NO_MODEL}')" if "model" in types
                 else f"'{NO_MODEL}'")
        df = _grouped(con, account_ids, relation, f"time_bucket({interval}, {ts})", model,
                      "count(*)", f"{ts} IS NOT NULL")
    finally:
        if own:
            con.close()
    return df


def hourly_activity(con: duckdb.DuckDBPyConnection, path: str | os.PathLike[str],
                    account_ids: Iterable[str] | Sequence[str]) -> pd.DataFrame:
    """:func:`activity_table` (hourly bins) of the given accounts from stored hourly counts:
    a Parquet file of ``account_id, bucket, model, n`` such as the aggregate state's
    ``activity`` table (:mod:`graphkit.graph.state`), read by ``con``. The counts of the
    requests of an account, hour and model add up to what the events give.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "activity.parquet"
    >>> pd.DataFrame({"account_id": ["a", "a", "b"], "bucket": pd.to_datetime(
    ...     ["2024-01-01 00:00"] * 3), "model": ["m1", None, "m1"], "n": [2, 1, 5]}
    ...     ).to_parquet(f)
    >>> hourly_activity(duckdb.connect(), f, ["a"])[["model", "n"]].values.tolist()
    [['(any model)', 1], ['m1', 2]]
    """
    return stored_activity(con, "read_parquet('" + os.fspath(path).replace("'", "''") + "')",
                           account_ids)


def stored_activity(con: duckdb.DuckDBPyConnection, relation: str,
                    account_ids: Iterable[str] | Sequence[str]) -> pd.DataFrame:
    """:func:`hourly_activity` over ``relation`` (SQL: a table name, a table function or a
    parenthesized query) of ``account_id, bucket, model, n``."""
    model = f"coalesce(CAST(e.model AS VARCHAR), '{NO_MODEL}')"
    return _grouped(con, account_ids, relation, "e.bucket", model, "sum(e.n)",
                    "e.bucket IS NOT NULL", block=8192)


def coded_activity(con: duckdb.DuckDBPyConnection, relation: str, accounts: str, models: str,
                   account_ids: Iterable[str] | Sequence[str]) -> pd.DataFrame | None:
    """:func:`stored_activity` over hourly counts held as integer codes: ``relation`` (SQL) of
    ``account_id, bucket, model, n`` whose account and model are codes into the dictionaries
    ``accounts`` and ``models`` (SQL relations of ``code, value``), as a full run's spilled
    aggregate state keeps them (:mod:`graphkit.graph.state`).

    The rows are filtered, summed and sorted on the codes and only the rows kept are decoded:
    at 600,000 accounts (32,000 flagged, 4.2M rows) 6.4 s -> 3.0 s, the decoded strings of
    the whole table never built. Account codes number the sorted account ids
    (:mod:`graphkit.io.coded`), so their order is the ids' order; models are few and ranked
    by their text. None when a dictionary is not so numbered, a model is missing from it or
    spelled ``(any model)`` (it merges with the rows without a model), or nothing is found:
    the caller then decodes first."""
    acc = con.sql(f"SELECT code, value FROM {accounts} ORDER BY code").to_arrow_table()
    values = acc.column("value").combine_chunks()
    codes = acc.column("code").to_numpy()
    if (len(values) and (values.null_count or not np.array_equal(codes, np.arange(len(codes)))
                         or not pc.all(pc.less(values[:-1], values[1:])).as_py())):
        return None
    model = con.sql(f"SELECT code, value FROM {models} ORDER BY code").df()
    if (not np.array_equal(model["code"].to_numpy(), np.arange(len(model)))
            or model["value"].isna().any() or (model["value"] == NO_MODEL).any()):
        return None  # a model spelled "(any model)" merges with the missing ones: decode first
    names = np.array([*model["value"].astype(str), NO_MODEL], dtype=object)  # -1: no model
    rank = np.argsort(np.argsort(names, kind="stable"), kind="stable")
    # The accounts' codes from the dictionary already read (ids not in it match nothing).
    wanted = pc.index_in(pa.array(_id_strings(account_ids).to_numpy(object), pa.string()),
                         value_set=values)
    con.register("_activity_codes", pa.table({"code": pc.drop_null(wanted)}))
    con.register("_activity_models", pa.table({
        "code": pa.array([*model["code"].to_numpy(np.int64), -1], pa.int64()),
        "r": pa.array(rank, pa.int64())}))
    try:
        grouped = (f"SELECT e.account_id AS a, e.bucket, coalesce(e.model, -1) AS m, "
                   f"CAST(sum(e.n) AS BIGINT) AS n FROM {relation} e WHERE e.bucket IS NOT NULL "
                   f"AND e.account_id IN (SELECT code FROM _activity_codes) GROUP BY ALL")
        rows = con.sql(f"SELECT g.* FROM ({grouped}) g JOIN _activity_models r ON r.code = g.m "
                       "ORDER BY g.a, g.bucket, r.r").to_arrow_table()
    except duckdb.Error as exc:
        raise InputError(f"cannot aggregate the stored activity: {exc}") from exc
    finally:
        con.unregister("_activity_codes")
        con.unregister("_activity_models")
    if not rows.num_rows:  # nothing found: the decoding path's empty table (its dtypes)
        return None
    m = rows.column("m").to_numpy()
    df = pd.DataFrame({
        "account_id": pd.Series(values.take(rows.column("a").combine_chunks()), dtype="str"),
        "bucket": pd.to_datetime(rows.column("bucket").to_pandas()).astype("datetime64[us]"),
        "model": pd.Series(names[np.where(m < 0, len(names) - 1, m)], dtype="str"),
        "n": rows.column("n").to_numpy().astype(np.int64)})
    return df[list(COLUMNS)]


def _id_strings(account_ids: Iterable[str] | Sequence[str]) -> pd.Series:
    """The given account ids as a Series of ``str`` (any iterable or array of ids)."""
    return pd.Series(list(account_ids) if not hasattr(account_ids, "__array__")
                     else account_ids, dtype=object).astype(str)


def _grouped(con: duckdb.DuckDBPyConnection, account_ids: Iterable[str] | Sequence[str],
             relation: str, bucket: str, model: str, count: str, where: str,
             block: int | None = None) -> pd.DataFrame:
    """Requests per account, ``bucket`` and ``model`` (SQL over ``e``, rows of ``relation``
    where ``where``), ``count`` (SQL) summing them, for the given accounts; sorted.

    ``block``: that many accounts per query, in account order, each query reading only its
    range of ``e.account_id`` (a relation sorted by account, such as the aggregate state,
    skips the rest): the parts, in order, are the sorted whole, and the query's working
    memory is that of one part."""
    ids = _id_strings(account_ids)
    blocks = [ids.to_numpy(object)]
    if block is not None and len(ids):
        unique = np.sort(ids.unique().astype(object))
        blocks = [unique[lo:lo + block] for lo in range(0, len(unique), block)]
    parts = [_grouped_part(con, part, relation, bucket, model, count,
                           where if block is None or not len(part) else
                           f"{where} AND e.account_id BETWEEN {_lit(part[0])} AND "
                           f"{_lit(part[-1])}")
             for part in blocks]  # a few blocks of accounts, not accounts
    df = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    del parts
    df["bucket"] = pd.to_datetime(df["bucket"]).astype("datetime64[us]")
    return df[list(COLUMNS)].reset_index(drop=True)


def _grouped_part(con: duckdb.DuckDBPyConnection, ids: np.ndarray, relation: str, bucket: str,
                  model: str, count: str, where: str) -> pd.DataFrame:
    """One query of :func:`_grouped` over the accounts ``ids``."""
    con.register("_report_ids", pa.table({"account_id": pa.array(ids, pa.string())}))
    try:
        return con.execute(
            f"SELECT CAST(e.account_id AS VARCHAR) AS account_id, {bucket} AS bucket, "
            f"{model} AS model, CAST({count} AS BIGINT) AS n "
            f"FROM {relation} e SEMI JOIN (SELECT DISTINCT account_id FROM _report_ids) i "
            f"ON CAST(e.account_id AS VARCHAR) = i.account_id "
            f"WHERE {where} GROUP BY ALL ORDER BY 1, 2, 3"
        ).df()
    except duckdb.Error as exc:
        raise InputError(f"cannot aggregate the events: {exc}") from exc
    finally:
        con.unregister("_report_ids")


def read_activity(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a stored activity table (``activity.parquet``) and check its columns."""
    df = pd.read_parquet(path)
    missing = [c for c in ("account_id", "bucket", "n") if c not in df.columns]
    if missing:
        raise InputError(f"activity table lacks column(s) {', '.join(missing)}", file=str(path),
                         column=missing[0])
    if "model" not in df.columns:
        df["model"] = NO_MODEL
    df["account_id"] = df["account_id"].astype(str)
    df["bucket"] = pd.to_datetime(df["bucket"])
    if getattr(df["bucket"].dt, "tz", None) is not None:
        df["bucket"] = df["bucket"].dt.tz_convert("UTC").dt.tz_localize(None)
    df["model"] = df["model"].fillna(NO_MODEL).astype(str)
    return df[list(COLUMNS)]
