"""Command-line options shared by ``build`` and ``detect``: declared identifier columns, the
identifiers, relations and ASN files, and events made optional."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import click

from graphkit.errors import ConfigError
from graphkit.registry import normalize_kind_name
from graphkit.settings import Settings


def identifier_options(func: Callable) -> Callable:
    """Add ``--identifier``, ``--identifiers``, ``--relations`` and ``--asn``."""
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


def with_identifiers(settings: Settings, specs: tuple[str, ...]) -> Settings:
    """``settings`` with the declared columns of ``specs`` added to ``identifiers``."""
    declared = parse_identifiers(specs)
    if not declared:
        return settings
    return dataclasses.replace(settings, identifiers={**settings.identifiers, **declared})


def events_spec(events: tuple[str, ...], *others: str | None):
    """The events argument for :func:`graphkit.io.load`: None when no events are given (then
    one of ``others`` must be), one path, or the list."""
    if not events:
        if not any(others):
            raise click.UsageError("give EVENTS, or --accounts / --identifiers / --relations "
                                   "to run without a request log")
        return None
    return list(events) if len(events) > 1 else events[0]
