"""Derived identifiers: values computed from the ones the input gives (docs/data-contract.md).

* the IP's network (``/24`` for IPv4, ``/48`` for IPv6 by default) via :mod:`ipaddress`;
* e-mail addresses canonicalized (lower case; dots and ``+tags`` dropped for providers that
  ignore them) and their domain, free-mail domains (``graphkit/data/freemail.txt``) excluded;
* phone numbers as E.164 via ``phonenumbers``;
* the network operator (ASN) of an IP from a table of CIDR blocks or start-end ranges,
  matched with sorted integer ranges and :func:`numpy.searchsorted` (IPv4 and IPv6).

Each works on distinct values (a log repeats few addresses many times) and returns arrays.

>>> ip_networks(np.array(["192.0.2.77", "2001:db8:1:2::9"])).tolist()
['192.0.2.0/24', '2001:db8:1::/48']
>>> e164(np.array(["(202) 555-0143", "+44 20 7946 0958", "call me"]), "US").tolist()
['+12025550143', '+442079460958', None]
>>> import duckdb
>>> con = duckdb.connect()
>>> con.execute("SELECT " + canonical_email_sql("' J.Doe+promo@GoogleMail.com '")).fetchone()
('jdoe@gmail.com',)
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from graphkit.errors import InputError, ParseError, SchemaError
from graphkit.io.tables import read_csv_strings

# Providers that deliver a.b@ and ab@ to the same mailbox, and those that ignore +tags.
DOT_BLIND_DOMAINS = ("gmail.com", "googlemail.com")
PLUS_TAG_DOMAINS = ("gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
                    "icloud.com", "me.com", "protonmail.com", "proton.me", "fastmail.com")
# Domains that are one mailbox namespace under two names.
DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


@lru_cache(maxsize=1)
def freemail_domains() -> frozenset[str]:
    """The shipped list of free-mail domains (package data ``graphkit/data/freemail.txt``)."""
    text = resources.files("graphkit").joinpath("data/freemail.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def canonical_email_sql(expr: str) -> str:
    """SQL for the canonical spelling of the e-mail in ``expr``: trimmed, lower case, the
    domain's alias resolved (googlemail.com -> gmail.com), ``+tag`` dropped and dots removed
    from the local part for the providers that ignore them. Values without ``@`` are kept
    (lower-cased)."""
    v = f"lower(trim({expr}))"
    local = f"split_part({v}, '@', 1)"
    dom = f"split_part({v}, '@', 2)"
    aliases = " ".join(f"WHEN {dom} = '{a}' THEN '{b}'" for a, b in DOMAIN_ALIASES.items())
    dom_c = f"(CASE {aliases} ELSE {dom} END)"
    untagged = (f"(CASE WHEN {dom} IN ({_sql_list(PLUS_TAG_DOMAINS)}) "
                f"THEN split_part({local}, '+', 1) ELSE {local} END)")
    undotted = (f"(CASE WHEN {dom} IN ({_sql_list(DOT_BLIND_DOMAINS)}) "
                f"THEN replace({untagged}, '.', '') ELSE {untagged} END)")
    return f"(CASE WHEN strpos({v}, '@') > 0 THEN {undotted} || '@' || {dom_c} ELSE {v} END)"


def email_domain_sql(expr: str) -> str:
    """SQL for the domain of the (canonical) e-mail in ``expr``; NULL for free-mail domains
    and values without a domain."""
    dom = f"nullif(split_part({expr}, '@', 2), '')"
    return (f"(CASE WHEN {dom} IN ({_sql_list(sorted(freemail_domains()))}) THEN NULL "
            f"ELSE {dom} END)")


def ip_networks(ips: np.ndarray, v4_prefix: int = 24, v6_prefix: int = 48) -> np.ndarray:
    """The network (CIDR text) of each canonical IP address; call it on distinct addresses."""
    def net(ip: str) -> str:
        addr = ipaddress.ip_address(ip)
        prefix = v4_prefix if addr.version == 4 else v6_prefix
        return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
    return np.array([net(ip) for ip in ips], dtype=object)


def e164(values: np.ndarray, region: str = "US") -> np.ndarray:
    """Phone numbers as E.164 (``+12025550143``); None where a value is not a possible number.
    Numbers without a country code are read in ``region``; call it on distinct values."""
    import phonenumbers

    def one(text: str) -> str | None:
        try:
            num = phonenumbers.parse(str(text), region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_possible_number(num):
            return None
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return np.array([one(v) for v in values], dtype=object)


# ------------------------------------------------------------------------------------------
# IP to network operator


@dataclass(frozen=True)
class AsnTable:
    """Sorted, non-overlapping address ranges per IP version, with their operator.

    ``starts``/``ends`` are fixed-width hex strings (8 characters for IPv4, 32 for IPv6), which
    sort like the integers they spell, so one :func:`numpy.searchsorted` finds each address's
    range."""

    v4: tuple[np.ndarray, np.ndarray, np.ndarray]  # starts, ends, operator value
    v6: tuple[np.ndarray, np.ndarray, np.ndarray]
    path: str

    def lookup(self, ips: np.ndarray) -> np.ndarray:
        """The operator (``AS<asn> <name>``) of each canonical IP; None where no range holds it."""
        out = np.full(len(ips), None, dtype=object)
        addrs = [ipaddress.ip_address(ip) for ip in ips]
        for version, (starts, ends, ops) in ((4, self.v4), (6, self.v6)):
            at = np.flatnonzero([a.version == version for a in addrs])
            if len(at) == 0 or len(starts) == 0:
                continue
            width = 8 if version == 4 else 32
            hexes = np.array([f"{int(addrs[i]):0{width}x}" for i in at])
            pos = np.searchsorted(starts, hexes, side="right") - 1
            ok = (pos >= 0) & (hexes <= ends[np.maximum(pos, 0)])
            out[at[ok]] = ops[pos[ok]]
        return out


def _range_of(row: pd.Series, file: str, line: int) -> tuple[int, int, int]:
    try:
        if isinstance(row.get("cidr"), str) and row["cidr"].strip():
            net = ipaddress.ip_network(row["cidr"].strip(), strict=False)
            return net.version, int(net.network_address), int(net.broadcast_address)
        lo = ipaddress.ip_address(str(row["start"]).strip())
        hi = ipaddress.ip_address(str(row["end"]).strip())
    except ValueError as exc:
        raise ParseError(f"invalid address range ({exc})", file=file, line=line,
                         column="cidr" if "cidr" in row else "start") from None
    if lo.version != hi.version or int(hi) < int(lo):
        raise ParseError(f"range {lo} - {hi} is empty or mixes IP versions", file=file,
                         line=line, column="end")
    return lo.version, int(lo), int(hi)


def read_asn(path: str | os.PathLike[str]) -> AsnTable:
    """Read an IP-to-operator table: CSV or Parquet with ``asn``, optional ``name``, and either
    ``cidr`` or ``start``/``end`` (the formats public IP-to-ASN datasets ship). Ranges are
    validated here (errors name file, line and column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "asn.csv"
    >>> _ = p.write_text("cidr,asn,name\\n203.0.113.0/24,64500,EXAMPLE-HOSTING\\n"
    ...                  "2001:db8::/32,64501,EXAMPLE-V6\\n")
    >>> read_asn(p).lookup(np.array(["203.0.113.9", "2001:db8::1", "8.8.8.8"])).tolist()
    ['AS64500 EXAMPLE-HOSTING', 'AS64501 EXAMPLE-V6', None]
    """
    file = os.fspath(path)
    if not Path(file).is_file():
        raise InputError("ASN file not found", file=file)
    frame = (pd.read_parquet(file) if file.endswith(".parquet")
             else read_csv_strings(file, all_strings=True))
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "asn" not in frame or not ("cidr" in frame or {"start", "end"} <= set(frame)):
        raise SchemaError("needs columns asn and either cidr or start, end", file=file)
    # One row per published range; a table of a few hundred thousand ranges is read once.
    spans = [_range_of(row, file, i + 2) for i, row in enumerate(frame.to_dict("records"))]
    asn = frame["asn"].astype(str).str.strip().str.upper().str.removeprefix("AS")
    bad = np.flatnonzero(~asn.str.fullmatch(r"\d+").to_numpy())
    if len(bad):
        raise ParseError(f"asn {frame['asn'].iat[bad[0]]!r} is not a number", file=file,
                         line=int(bad[0]) + 2, column="asn")
    names = frame["name"].astype(str).str.strip() if "name" in frame else pd.Series(
        [""] * len(frame))
    ops = ("AS" + asn + np.where(names != "", " " + names, "")).to_numpy(dtype=object)
    tables = {}
    for version, width in ((4, 8), (6, 32)):
        at = [i for i, s in enumerate(spans) if s[0] == version]
        starts = np.array([f"{spans[i][1]:0{width}x}" for i in at], dtype=f"U{width}")
        ends = np.array([f"{spans[i][2]:0{width}x}" for i in at], dtype=f"U{width}")
        order = np.argsort(starts, kind="stable")
        tables[version] = (starts[order], ends[order], ops[np.array(at, dtype=np.int64)][order])
    return AsnTable(tables[4], tables[6], file)
