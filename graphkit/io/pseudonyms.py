"""Keyed pseudonyms (HMAC-SHA256) for identifier values: one helper for ingest and sharing.

``graphkit build/detect --pseudonymize KIND`` (``Settings.pseudonymize``) replaces every value
of the chosen kinds right after validation, before the graph is built: nothing a run writes
(accounts.csv, links.csv, communities.csv, graph/, activity.parquet, the report, the Neo4j
export, a STIX bundle) holds the raw values. A value ``v`` of kind ``k`` becomes
``k:<hex>`` where ``<hex>`` is HMAC-SHA256 of ``v`` (UTF-8) under the key in the environment
variable :data:`KEY_ENV`: the same key gives the same pseudonyms in every run (days still
join, ``--previous`` still matches), nobody without the key can reverse or recompute them,
and a partner holding the key can match its own raw values (``graphkit share`` writes the
bare ``<hex>`` as ``ip_hmac`` / ``payment_hmac`` indicators, the digests ``share
--pseudonymize`` gives for the raw values).

Kinds: ``account`` (account ids in every file), a built-in event kind (``ip``, ``payment``,
``template``, ``proxy``, ``user_agent``, ``model``) or any declared, file or derived kind
(``email``, ``device``, ``ip_network``, ...). Derived identifiers are computed from the raw
values first (an IP's network, an e-mail's canonical form and domain, an IP's operator) and
are pseudonymized only when their own kind is chosen: ``--pseudonymize ip`` keeps the
``ip_network`` values (``203.0.113.0/24``) readable; add ``--pseudonymize ip_network`` to hide
them too.

Each distinct value is hashed once; rows are rewritten by joins in DuckDB (or a code remap of
the Parquet fast path's dictionaries), never a loop over rows.

>>> key = b"k"
>>> pseudonyms(np.array(["10.0.0.1", None, "10.0.0.1"], object), key, "ip").tolist()[1:]
[None, 'ip:eec09bde120b24cba4bf009a63ff51952e3698baa288e5542ddb24c1f47d0492']
>>> hmac_hex(np.array(["10.0.0.1"], object), key)[0][:8]
'eec09bde'
"""

from __future__ import annotations

import hashlib
import hmac
import os

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from graphkit.errors import ConfigError
from graphkit.io.schema import _ident, _lit
from graphkit.registry import ACCOUNT_FILE_KINDS, declared_kind

KEY_ENV = "GRAPHKIT_PSEUDONYM_KEY"
ACCOUNT = "account"  # the pseudonymize kind of account ids


def pseudonym_key(required: bool = True) -> bytes | None:
    """The pseudonym key from :data:`KEY_ENV`; a one-line :class:`ConfigError` when it is unset
    and ``required`` (else None). The key itself is never printed or recorded."""
    key = os.environ.get(KEY_ENV)
    if not key:
        if required:
            raise ConfigError(f"--pseudonymize needs a key in the environment variable {KEY_ENV}")
        return None
    return key.encode("utf-8", "surrogatepass")


def hmac_hex(values: np.ndarray | pd.Series, key: bytes) -> np.ndarray:
    """HMAC-SHA256 hex digests of ``values`` (None stays None), each distinct value hashed
    once."""
    arr = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(pd.Series(arr, dtype=object), use_na_sentinel=True)
    base = hmac.new(key, digestmod=hashlib.sha256)

    def one(v: object) -> str:
        h = base.copy()
        h.update(str(v).encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    digests = np.array([one(v) for v in uniques] + [None], dtype=object)  # distinct values
    return digests[codes]  # -1 (missing) -> the trailing None


def pseudonyms(values: np.ndarray | pd.Series, key: bytes, kind: str) -> np.ndarray:
    """``kind:<hmac hex>`` of each value (None stays None)."""
    hexes = hmac_hex(values, key)
    out = np.full(len(hexes), None, dtype=object)
    ok = pd.notna(hexes)
    out[ok] = np.char.add(f"{kind}:", hexes[ok].astype(str)).astype(object)
    return out


def strip_pseudonym(values: pd.Series, kind: str) -> pd.Series:
    """The bare digests of ``kind:<hex>`` pseudonyms (as ``share`` publishes them)."""
    prefix = f"{kind}:"
    s = values.astype(str)
    return s.where(~s.str.startswith(prefix), s.str.slice(len(prefix)))


def pseudonymize_frame(frame: pd.DataFrame, column: str, key: bytes, kind: str
                       ) -> pd.DataFrame:
    """A copy of ``frame`` with ``column`` pseudonymized as ``kind``."""
    out = frame.copy()
    out[column] = pseudonyms(out[column].to_numpy(object), key, kind)
    return out


def pseudonymize_rows(frame: pd.DataFrame, kinds: tuple[str, ...], key: bytes, *,
                     kind_column: str = "kind", value_column: str = "value") -> pd.DataFrame:
    """A copy of a (kind, value) table (e.g. ``detect --indicators``) whose rows of a chosen
    kind hold that kind's pseudonyms, so they match a pseudonymized run."""
    out = frame.copy()
    for kind in kinds:  # a handful of kinds, each vectorized over its rows
        sel = (out[kind_column] == kind).to_numpy()
        if sel.any():
            out.loc[sel, value_column] = pseudonyms(
                out.loc[sel, value_column].to_numpy(object), key, kind)
    return out


# --- the tables of a load (graphkit.io.dataset) ----------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _map_column(con: duckdb.DuckDBPyConnection, table: str, column: str, key: bytes,
                kind: str, where: str = "TRUE") -> None:
    """Rewrite ``table.column`` (rows matching ``where``) in place: one UPDATE joined with
    the pseudonyms of its distinct values."""
    col = _ident(column)
    values = con.execute(f"SELECT DISTINCT {col} FROM {_ident(table)} WHERE {col} IS NOT NULL "
                         f"AND {where}").fetchnumpy()[column]
    if not len(values):
        return
    values = np.asarray(values, dtype=object)
    con.register("_gk_pseudonyms", pa.table({
        "old": pa.array(values, pa.string()),
        "new": pa.array(pseudonyms(values, key, kind), pa.string())}))
    try:
        con.execute(f"UPDATE {_ident(table)} SET {col} = m.new FROM _gk_pseudonyms m "
                    f"WHERE {_ident(table)}.{col} = m.old AND {where}")
    finally:
        con.unregister("_gk_pseudonyms")


def _remap_coded(con: duckdb.DuckDBPyConnection, coded: pa.Table, columns: dict[str, str],
                 key: bytes) -> pa.Table:
    """The Parquet fast path: pseudonymize the dictionaries of ``columns`` (column -> kind),
    keep them sorted (codes remapped with one numpy take per column) and re-register the
    ``events`` view; returns the new coded table."""
    from graphkit.io.coded import CODED_COLUMNS, _register_coded

    arrays = {n: coded.column(n).combine_chunks() for n in coded.column_names}
    dicts: dict[str, np.ndarray] = {}
    for name in CODED_COLUMNS:
        dicts[name] = np.asarray(con.execute(f"SELECT value FROM _dict_{name} ORDER BY code")
                                 .fetchnumpy()["value"], dtype=object)
    for name, kind in columns.items():
        new = pseudonyms(dicts[name], key, kind)
        order = np.argsort(new.astype(str), kind="stable")
        rank = np.empty(len(order), np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        old = arrays[name]
        codes = old.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        remapped = rank[codes] if len(rank) else codes.astype(np.int32)
        arrays[name] = pa.array(remapped, mask=old.is_null().to_numpy(zero_copy_only=False)
                                if old.null_count else None, type=pa.int32())
        dicts[name] = new[order]
    return _register_coded(con, arrays, dicts)


def pseudonymize_tables(con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...], key: bytes,
                        declared: dict[str, str], coded: pa.Table | None) -> pa.Table | None:
    """Pseudonymize the chosen ``kinds`` in every table of a load, in place.

    Runs after validation and the derived identifiers, before the accounts, templates and
    graph are built. ``declared`` is ``Settings.identifiers`` (column -> kind): declared
    columns of a chosen kind are rewritten where they stand (events and accounts file) as
    well as in table ``identifiers``. Returns the coded events table (remapped when the
    Parquet fast path coded a chosen column).
    """
    from graphkit.io.coded import CODED_COLUMNS

    tables = _tables(con)
    targets: list[tuple[str, str, str]] = []  # (table, column, kind)
    for kind in kinds:
        if kind == ACCOUNT:
            cols = {"events": ("account_id",), "_accounts": ("account_id",),
                    "_seeds": ("account_id",), "seeds": ("account_id",),
                    "identifiers": ("account_id",), "_identifiers": ("account_id",),
                    "relations": ("src_account", "dst_account"),
                    "_relations": ("src_account", "dst_account")}
            targets += [(t, c, kind) for t, cs in cols.items() for c in cs]
            continue
        column = declared_kind(kind).column
        targets += [("events", column, kind)]
        targets += [("_accounts", c, kind) for c, k in ACCOUNT_FILE_KINDS.items() if k == kind]
        targets += [(t, c, kind) for c, k in declared.items() if k == kind
                    for t in ("events", "_accounts")]
    coded_columns: dict[str, str] = {}
    for table, column, kind in dict.fromkeys(targets):
        if coded is not None and table == "events" and column in CODED_COLUMNS:
            coded_columns[column] = kind
        elif column in tables.get(table, ()):
            if table == "events" and coded is not None:
                continue  # the coded events view has only canonical, coded columns
            _map_column(con, table, column, key, kind)
    for kind in kinds:
        if kind != ACCOUNT and "identifiers" in tables:
            _map_column(con, "identifiers", "value", key, kind, f"kind = {_lit(kind)}")
    if coded_columns:
        coded = _remap_coded(con, coded, coded_columns, key)
    for table in ("_ids_raw", "_ids_ip", "_ids_derived", "_ids_phone"):  # raw leftovers
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return coded


__all__ = ["ACCOUNT", "KEY_ENV", "hmac_hex", "pseudonym_key", "pseudonymize_frame",
           "pseudonymize_rows", "pseudonymize_tables", "pseudonyms", "strip_pseudonym"]
