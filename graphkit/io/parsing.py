"""Values: how raw timestamps, IP addresses, numbers and text are converted, and the row
checks (SQL predicates) that find the values that do not convert.

Timestamps are ISO-8601 text or typed timestamps, read as UTC; epoch numbers are refused. IPs
are IPv4 or IPv6 (RFC 3986 grammar, case-insensitive), stored canonically (RFC 5952).

>>> import re
>>> bool(re.fullmatch(IP_REGEX, "10.0.0.1")), bool(re.fullmatch(IP_REGEX, "10.0.0.256"))
(True, False)
>>> bool(re.fullmatch(IP_REGEX, "2001:db8::1"))
True
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import duckdb
import pandas as pd

from graphkit.errors import InputError, ParseError, SchemaError
from graphkit.io.schema import _INTEGER, _TEMPORAL, _WS_SQL, _base_type, _ident, _lit

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H = "[0-9a-f]{1,4}"
_LS32 = f"({_H}:{_H}|{_IPV4})"
# RFC 3986 IPv6address, lower-case hex (values are lower-cased before matching).
_IPV6 = "|".join(
    [
        f"({_H}:){{6}}{_LS32}",
        f"::({_H}:){{5}}{_LS32}",
        f"({_H})?::({_H}:){{4}}{_LS32}",
        f"(({_H}:){{0,1}}{_H})?::({_H}:){{3}}{_LS32}",
        f"(({_H}:){{0,2}}{_H})?::({_H}:){{2}}{_LS32}",
        f"(({_H}:){{0,3}}{_H})?::{_H}:{_LS32}",
        f"(({_H}:){{0,4}}{_H})?::{_LS32}",
        f"(({_H}:){{0,5}}{_H})?::{_H}",
        f"(({_H}:){{0,6}}{_H})?::",
    ]
)
IP_REGEX = f"{_IPV4}|{_IPV6}"
# A group starting with 0: an IPv6 spelling that may not be canonical (RFC 5952).
_NONCANON = re.compile("(^|:)0")

# --------------------------------------------------------------------------------------------
# IP addresses


def canonical_ip(ip: str) -> str:
    """Canonical text of a valid IP: IPv6 compressed per RFC 5952, IPv4-mapped IPv6 as IPv4.

    >>> canonical_ip("2001:0DB8:0000:0000:0000:0000:0000:0001"), canonical_ip("::ffff:10.0.0.1")
    ('2001:db8::1', '10.0.0.1')
    """
    addr = ipaddress.ip_address(ip.strip())
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _canonicalize_ips(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the IPv6 spellings that may not be canonical, so one address is one IP node.

    Only distinct values with a group starting with 0 (leading zeros, uncompressed zero runs)
    or a dotted tail (IPv4-mapped / embedded) are candidates; the usual compressed spelling
    never is, so this touches no rows of a typical log.
    """
    cand = [r[0] for r in con.execute(
        "SELECT DISTINCT ip FROM events WHERE contains(ip, ':') AND "
        "(regexp_matches(ip, '(^|:)0') OR contains(ip, '.'))").fetchall()]
    pairs = [(ip, canonical_ip(ip)) for ip in cand]
    changed = pd.DataFrame([p for p in pairs if p[0] != p[1]], columns=["raw", "canon"])
    if changed.empty:
        return
    con.register("_ip_canon", changed)
    con.execute("UPDATE events SET ip = m.canon FROM _ip_canon m WHERE events.ip = m.raw")
    con.unregister("_ip_canon")


# --------------------------------------------------------------------------------------------
# Row checks: conversions of raw values and the SQL predicates that find bad rows


@dataclass(frozen=True)
class _Check:
    """One row check: rows where ``bad_sql`` holds are rejected for ``reason``."""

    reason: str
    column: str
    bad_sql: str  # SQL predicate over the converted relation (true = bad row)
    message_sql: str  # SQL expression giving the message for a bad row
    error: type[InputError] = ParseError


def _raw_repr_sql(col: str) -> str:
    """SQL giving a short quoted rendering of raw value ``col`` for messages."""
    return (f"'''' || left(CAST({col} AS VARCHAR), 80) || "
            f"CASE WHEN length(CAST({col} AS VARCHAR)) > 80 THEN '...' ELSE '' END || ''''")


def _ts_conv(raw: str, duck_type: str, file: str, column: str) -> str:
    base = _base_type(duck_type)
    if base == "VARCHAR":
        return f"CAST(try_cast(trim({raw}, {_WS_SQL}) AS TIMESTAMPTZ) AS TIMESTAMP)"
    if base.startswith(_TEMPORAL):
        return f"CAST({raw} AS TIMESTAMP)"
    raise SchemaError(
        f"has type {duck_type}; expected ISO-8601 text or a timestamp "
        "(epoch numbers are not accepted)", file=file, column=column)


def _ts_checks(column: str, raw: str, required: bool) -> list[_Check]:
    msg = (f"CASE WHEN trim(CAST({raw} AS VARCHAR), {_WS_SQL}) "
           "SIMILAR TO '[+-]?[0-9]+(\\.[0-9]*)?' "
           f"THEN 'epoch number ' || {_raw_repr_sql(raw)} || ' is not accepted; use ISO-8601' "
           f"ELSE 'unparsable timestamp ' || {_raw_repr_sql(raw)} END")
    checks = [_Check("bad_timestamp", column,
                     f"({raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR), {_WS_SQL}) <> '' "
                     f"AND {_ident(column)} IS NULL)", msg)]
    if required:
        checks.insert(0, _Check("bad_timestamp", column,
                                f"({raw} IS NULL OR trim(CAST({raw} AS VARCHAR), {_WS_SQL}) = '')",
                                "'missing timestamp'"))
    return checks


def _text_conv(raw: str, duck_type: str) -> str:
    """Optional text: empty or whitespace-only means missing; anything else is kept verbatim."""
    if _base_type(duck_type) == "VARCHAR":
        return f"CASE WHEN trim({raw}, {_WS_SQL}) <> '' THEN {raw} END"
    return f"CAST({raw} AS VARCHAR)"


def _nonempty_check(reason: str, column: str) -> _Check:
    c = _ident(column)
    return _Check(reason, column, f"({c} IS NULL OR trim({c}, {_WS_SQL}) = '')",
                  f"'empty {column}'")


def _token_conv(raw: str, src_col: str, duck_type: str, file: str, column: str
                ) -> tuple[str, _Check]:
    """A token count: a non-negative integer, from text or any numeric type.

    Returns the conversion (NULL for a bad value) and the check that reports bad values.
    """
    base = _base_type(duck_type)
    if base == "VARCHAR":
        conv = f"try_cast(trim({src_col}, {_WS_SQL}) AS BIGINT)"
        given = f"({raw} IS NOT NULL AND trim({raw}, {_WS_SQL}) <> '')"
    elif base in _INTEGER or base in ("FLOAT", "DOUBLE") or base.startswith("DECIMAL"):
        conv = f"try_cast({src_col} AS BIGINT)"
        given = f"({raw} IS NOT NULL)"
    else:
        raise SchemaError(f"has type {duck_type}; expected integers", file=file, column=column)
    check = _Check("bad_number", column, f"({given} AND {column} IS NULL)",
                   f"'not a non-negative integer: ' || {_raw_repr_sql(raw)}")
    return f"CASE WHEN {conv} >= 0 THEN {conv} END AS {column}", check


def _ip_checks(raw: str) -> list[_Check]:
    """Checks of the converted ``ip`` column: present and an IPv4 or IPv6 address."""
    return [_Check("bad_ip", "ip", "(ip IS NULL OR ip = '')", "'missing ip address'"),
            _Check("bad_ip", "ip", f"NOT regexp_full_match(ip, {_lit(IP_REGEX)})",
                   f"'invalid IP address ' || {_raw_repr_sql(raw)}")]
