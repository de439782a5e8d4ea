"""Identifiers beyond the built-in event columns: declared columns, the long identifiers file
and derived values, gathered into one table ``identifiers`` (docs/data-contract.md).

``identifiers`` has one row per (account, kind, value): ``account_id``, ``kind`` (a registry
kind name), ``value``, ``n_events`` (requests carrying the value; 0 for values known only from
a file), ``first_seen``, ``last_seen`` and ``from_file`` (the accounts or identifiers file
declares the value: it belongs to the account whatever its traffic, like a declared card).

Sources:

* a declared column (``Settings.identifiers``: column -> kind) of the events file, aggregated
  per account and value, or of the accounts file;
* the long file: ``account_id, kind, value`` and optional ``first_seen, last_seen``; any number
  of values per account and kind; exact duplicate rows collapse into one;
* derived values (each switchable in :class:`~graphkit.settings.Settings`): e-mails
  canonicalized, their non-free-mail domain (``email_domain``), phones as E.164, the IP's
  network (``ip_network``) and, with an ASN table, its operator (``asn``).

A declared column whose kind is one of the six built-in event kinds (``card:payment``) is read
as that canonical events column instead (:func:`column_aliases`).

>>> column_aliases({"card": "payment", "fp": "device"})
{'card': 'payment_id'}
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from graphkit.errors import InputError
from graphkit.io import derived
from graphkit.io.longfiles import load_long
from graphkit.io.schema import (
    _WS_SQL,
    EVENT_COLUMNS,
    SourceFile,
    _ident,
    _lit,
    check_text_columns,
)
from graphkit.io.validation import _Loader
from graphkit.registry import KINDS

IDENTIFIER_COLUMNS: dict[str, str] = {"account_id": "VARCHAR", "kind": "VARCHAR",
                                      "value": "VARCHAR", "first_seen": "TIMESTAMP",
                                      "last_seen": "TIMESTAMP"}
TABLE = "identifiers"
_STATIC_COLUMNS = {k.name: k.column for k in KINDS if k.column in EVENT_COLUMNS}


def column_aliases(identifiers: dict[str, str]) -> dict[str, str]:
    """Declared columns whose kind is a built-in event kind: column -> canonical column."""
    return {col: _STATIC_COLUMNS[k] for col, k in identifiers.items()
            if k in _STATIC_COLUMNS and col != _STATIC_COLUMNS[k]}


def declared_columns(identifiers: dict[str, str]) -> dict[str, str]:
    """Declared columns of kinds that are not built-in event kinds: column -> kind."""
    return {col: k for col, k in identifiers.items() if k not in _STATIC_COLUMNS}


def load_identifiers_file(loader: _Loader, path: Path) -> SourceFile:
    """Validate the long identifiers file into temp table ``_identifiers``."""
    return load_long(loader, path, "identifiers", IDENTIFIER_COLUMNS,
                     ("account_id", "kind", "value"))


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``table``."""
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {table}").fetchall()}


def _parts(con: duckdb.DuckDBPyConnection, declared: dict[str, str], has_accounts: bool,
           has_file: bool) -> list[str]:
    """SELECTs (account_id, kind, value, n_events, first_seen, last_seen, from_file)."""
    parts = []
    ev_cols = _columns(con, "events")
    acc_cols = _columns(con, "_accounts") if has_accounts else {}
    check_text_columns(ev_cols, declared, "the events")
    check_text_columns(acc_cols, declared, "the accounts file")
    for col, kind in declared.items():
        if col in ev_cols:
            v = _value_sql(_ident(col))
            parts.append(
                f"SELECT account_id, {_lit(kind)} AS kind, {v} AS value, "
                "count(*) AS n_events, min(ts) AS first_seen, max(ts) AS last_seen, "
                f"FALSE AS from_file FROM events WHERE {v} IS NOT NULL GROUP BY ALL")
        if col in acc_cols:
            v = _value_sql(_ident(col))
            parts.append(
                f"SELECT account_id, {_lit(kind)}, {v}, 0, "
                f"NULL::TIMESTAMP, NULL::TIMESTAMP, TRUE FROM _accounts WHERE {v} IS NOT NULL")
        if col not in ev_cols and col not in acc_cols:
            raise InputError(f"declared identifier column {col!r} is in neither the events nor "
                             "the accounts file", column=col)
    if has_file:
        parts.append(f"SELECT account_id, kind, {_value_sql('value')}, 0, first_seen, "
                     "last_seen, TRUE FROM _identifiers")
    return parts


def _value_sql(column: str) -> str:
    """An identifier value as text, trimmed of spaces, tabs and line breaks; blank is missing
    (NULL), so that accounts with a blank value are not tied to each other by it."""
    return f"NULLIF(trim(CAST({column} AS VARCHAR), {_WS_SQL}), '')"


def _map_distinct(con: duckdb.DuckDBPyConnection, table: str, fn) -> None:
    """Replace ``value`` of ``table`` through ``fn`` applied to its distinct values (rows whose
    new value is None are dropped)."""
    values = con.execute(f"SELECT DISTINCT value FROM {table}").df()["value"].to_numpy(object)
    mapping = pd.DataFrame({"old": values, "new": fn(values) if len(values) else values})
    con.register("_gk_value_map", mapping)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT t.* REPLACE (m.new AS value) "
                    f"FROM {table} t JOIN _gk_value_map m ON m.old = t.value "
                    "WHERE m.new IS NOT NULL")
    finally:
        con.unregister("_gk_value_map")


def _derive(con: duckdb.DuckDBPyConnection, settings, asn: derived.AsnTable | None,
            has_events: bool) -> None:
    """Canonical e-mails and phones in place; derived kinds appended to ``_ids_raw``."""
    if settings.canonical_email:
        con.execute(f"UPDATE _ids_raw SET value = {derived.canonical_email_sql('value')} "
                    "WHERE kind = 'email'")
    if settings.derive_email_domain:
        con.execute(f"INSERT INTO _ids_raw SELECT account_id, 'email_domain', "
                    f"{derived.email_domain_sql('value')} AS d, n_events, first_seen, last_seen, "
                    "from_file FROM _ids_raw WHERE kind = 'email' AND "
                    f"{derived.email_domain_sql('value')} IS NOT NULL")
    if settings.canonical_phone:
        con.execute("CREATE OR REPLACE TEMP TABLE _ids_phone AS SELECT * FROM _ids_raw "
                    "WHERE kind = 'phone'")
        _map_distinct(con, "_ids_phone",
                      lambda v: derived.e164(v, settings.phone_region))
        con.execute("DELETE FROM _ids_raw WHERE kind = 'phone'")
        con.execute("INSERT INTO _ids_raw SELECT * FROM _ids_phone")
    if has_events and (settings.derive_ip_network or asn is not None):
        con.execute("CREATE OR REPLACE TEMP TABLE _ids_ip AS SELECT account_id, ip AS value, "
                    "count(*) AS n_events, min(ts) AS first_seen, max(ts) AS last_seen "
                    "FROM events GROUP BY ALL")
        for kind, fn in (("ip_network", lambda v: derived.ip_networks(
                v, settings.ipv4_network_prefix, settings.ipv6_network_prefix)
                if settings.derive_ip_network else None),
                ("asn", (lambda v: asn.lookup(v)) if asn is not None else None)):
            if fn is None or (kind == "ip_network" and not settings.derive_ip_network):
                continue
            con.execute("CREATE OR REPLACE TEMP TABLE _ids_derived AS SELECT * FROM _ids_ip")
            _map_distinct(con, "_ids_derived", fn)
            con.execute(f"INSERT INTO _ids_raw SELECT account_id, {_lit(kind)}, value, "
                        "sum(n_events), min(first_seen), max(last_seen), FALSE "
                        "FROM _ids_derived GROUP BY ALL")


def build_identifiers(con: duckdb.DuckDBPyConnection, settings, *, has_accounts: bool,
                      has_file: bool, has_events: bool,
                      asn: derived.AsnTable | None = None) -> list[str]:
    """Create table ``identifiers`` from every source; returns the kinds present (sorted).

    One row per (account, kind, value): ``n_events`` summed, first and last seen widened,
    ``from_file`` true when any source is a file.
    """
    parts = _parts(con, declared_columns(settings.identifiers), has_accounts, has_file)
    cols = ("account_id VARCHAR, kind VARCHAR, value VARCHAR, n_events BIGINT, "
            "first_seen TIMESTAMP, last_seen TIMESTAMP, from_file BOOLEAN")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ids_raw ({cols})")
    for part in parts:
        con.execute(f"INSERT INTO _ids_raw {part}")
    _derive(con, settings, asn, has_events)
    con.execute(
        f"CREATE OR REPLACE TABLE {TABLE} AS SELECT account_id, kind, value, "
        "CAST(sum(n_events) AS BIGINT) AS n_events, min(first_seen) AS first_seen, "
        "max(last_seen) AS last_seen, bool_or(from_file) AS from_file FROM _ids_raw "
        "WHERE value IS NOT NULL AND value <> '' GROUP BY account_id, kind, value "
        "ORDER BY kind, account_id, value")
    kinds = con.execute(f"SELECT DISTINCT kind FROM {TABLE} ORDER BY kind").fetchall()
    return [k[0] for k in kinds] + sorted(set(declared_columns(settings.identifiers).values())
                                          - {k[0] for k in kinds})


def identifier_kinds(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Kinds present in table ``identifiers`` (empty when there is none)."""
    try:
        return [r[0] for r in con.execute(
            f"SELECT DISTINCT kind FROM {TABLE} ORDER BY kind").fetchall()]
    except duckdb.CatalogException:
        return []


__all__ = ["IDENTIFIER_COLUMNS", "build_identifiers", "column_aliases", "declared_columns",
           "identifier_kinds",
           "load_identifiers_file"]
