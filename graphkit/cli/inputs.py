"""Command-line options shared by ``build`` and ``detect``: declared identifier columns, the
identifiers, relations and ASN files, the kinds to pseudonymize, and events made optional."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import click

from graphkit.errors import ConfigError
from graphkit.io.pseudonyms import pseudonym_key
from graphkit.registry import normalize_kind_name
from graphkit.settings import Settings


def identifier_options(func: Callable) -> Callable:
    """Add ``--identifier``, ``--identifiers``, ``--relations``, ``--asn`` and
    ``--pseudonymize``."""
    for decorator in reversed((
        click.option("--identifier", "identifier", multiple=True, metavar="COLUMN[:KIND]",
                     help="a column of the events or accounts file that holds an identifier "
                          "of KIND (device, api_key, org, email, phone, address, "
                          "tls_fingerprint, metadata, a built-in event kind such as payment, "
                          "or any other name); KIND defaults to the column name; repeatable"),
        click.option("--identifiers", "identifiers_file", type=click.Path(dir_okay=False),
                     help="long identifiers file: account_id, kind, value[, first_seen, "
                          "last_seen]"),
        click.option("--relations", "relations_file", type=click.Path(dir_okay=False),
                     help="relations file: src_account, dst_account, kind[, ts, amount]"),
        click.option("--asn", "asn_file", type=click.Path(dir_okay=False),
                     help="IP-to-network-operator table: cidr (or start, end), asn, name"),
        click.option("--pseudonymize", "pseudonymize", multiple=True, metavar="KIND[,KIND]",
                     help="replace the values of KIND (account, ip, payment, email, device, "
                          "any identifier kind) by keyed HMAC-SHA256 pseudonyms before "
                          "anything is written; key from GRAPHKIT_PSEUDONYM_KEY; repeatable"),
    )):
        func = decorator(func)
    return func


def parse_identifiers(specs: tuple[str, ...]) -> dict[str, str]:
    """``COLUMN[:KIND]`` options as a column -> kind mapping.

    >>> parse_identifiers(("fp:device", "api_key"))
    {'fp': 'device', 'api_key': 'api_key'}
    """
    out: dict[str, str] = {}
    for spec in specs:
        column, _, kind = spec.rpartition(":") if ":" in spec else (spec, "", spec)
        if not column.strip():
            raise ConfigError(f"--identifier {spec!r}: expected COLUMN[:KIND]")
        out[column.strip()] = normalize_kind_name(kind)
    return out


def with_identifiers(settings: Settings, specs: tuple[str, ...],
                     pseudonymize: tuple[str, ...] = ()) -> Settings:
    """``settings`` with the declared columns of ``specs`` added to ``identifiers`` and the
    kinds of ``pseudonymize`` (each ``KIND[,KIND]``) added to ``pseudonymize``.

    A missing pseudonym key is reported here, before any output directory is touched.
    """
    declared = parse_identifiers(specs)
    kinds = tuple(k for spec in pseudonymize for k in spec.split(",") if k.strip())
    if declared:
        settings = dataclasses.replace(settings,
                                       identifiers={**settings.identifiers, **declared})
    if kinds:
        settings = dataclasses.replace(settings,
                                       pseudonymize=(*settings.pseudonymize, *kinds))
    if settings.pseudonymize:
        pseudonym_key()
    return settings


def events_spec(events: tuple[str, ...], *others: str | None):
    """The events argument for :func:`graphkit.io.load`: None when no events are given (then
    one of ``others`` must be), one path, or the list."""
    if not events:
        if not any(others):
            raise click.UsageError("give EVENTS, or --accounts / --identifiers / --relations "
                                   "to run without a request log")
        return None
    return list(events) if len(events) > 1 else events[0]


def skipped_rows_line(rejects) -> str | None:
    """The line a command prints when ``--on-bad-rows skip`` skipped rows (None: none were):
    how many, per reason, and where ``--rejects`` wrote them (a :class:`RejectSummary`)."""
    if not rejects.total:
        return None
    reasons = ", ".join(f"{k}={v}" for k, v in rejects.by_reason.items())
    where = f" -> {rejects.path}" if rejects.path else ""
    return f"skipped {rejects.total} bad rows ({reasons}){where}"
