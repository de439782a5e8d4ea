"""Connecting to Neo4j: the URI schemes, the credentials and a verified driver.

Credentials come from :func:`graphkit.neo4j.auth.credentials` (``NEO4J_USER`` /
``NEO4J_PASSWORD``, else the local server's password file for a server on this machine).
Every message shows the URI masked (:func:`graphkit.neo4j.auth.mask_uri`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from graphkit.errors import ConfigError, ExportError
from graphkit.neo4j.auth import credentials, mask_secrets, mask_uri
from graphkit.neo4j.bolt import cypher_error_types

# Bolt, direct or routed, plain or TLS (+s verifies the certificate, +ssc accepts self-signed).
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def resolve_credentials(user: str | None, password: str | None, uri: str | None = None
                        ) -> tuple[str | None, str | None]:
    """Explicit values first, then :func:`graphkit.neo4j.auth.credentials` for ``uri``."""
    if password is None:
        found = credentials(uri=uri)
        if found is not None:
            return (user if user is not None else found.user), found.password
    return (user if user is not None else os.environ.get("NEO4J_USER")), password


def check_uri(uri: str) -> str:
    """``uri`` if its scheme is a Bolt one, else :class:`~graphkit.errors.ConfigError`.

    >>> check_uri("neo4j+s://db.example:7687")
    'neo4j+s://db.example:7687'
    """
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in BOLT_SCHEMES:
        raise ConfigError(f"invalid Neo4j URI {mask_uri(uri)!r}: the scheme must be one of "
                          f"{', '.join(BOLT_SCHEMES)}")
    if mask_uri(uri) != uri:
        raise ConfigError(f"invalid Neo4j URI {mask_uri(uri)!r}: do not put credentials in the "
                          "URI; set NEO4J_USER and NEO4J_PASSWORD")
    return uri


def _connect(uri: str, auth: tuple[str, str] | None) -> Any:
    """A driver whose connectivity was verified (closed again if that fails)."""
    import neo4j

    try:
        driver = neo4j.GraphDatabase.driver(uri, auth=auth)
    except (ValueError, neo4j.exceptions.ConfigurationError) as exc:
        raise ConfigError(f"invalid Neo4j URI {mask_uri(uri)!r}: "
                          f"{mask_secrets(str(exc), uri)}") from None
    try:
        driver.verify_connectivity()
    except BaseException:
        driver.close()
        raise
    return driver


def open_driver(uri: str, user: str | None = None, password: str | None = None, *,
                ask_credentials: Callable[[], tuple[str, str]] | None = None) -> Any:
    """A connected driver for ``uri`` (bolt://, neo4j://, and their +s / +ssc forms).

    Without credentials it connects unauthenticated; if the server then demands them, it calls
    ``ask_credentials`` (the CLI prompts with hidden input) or fails. Errors name the URI only,
    masked.
    """
    from neo4j.exceptions import AuthError, ServiceUnavailable

    check_uri(uri)
    user, password = resolve_credentials(user, password, uri)
    shown = mask_uri(uri)
    auth = (user or "neo4j", password) if password is not None else None
    try:
        try:
            return _connect(uri, auth)
        except AuthError:
            if auth is not None or ask_credentials is None:
                raise
            return _connect(uri, ask_credentials())
    except AuthError as exc:
        raise ExportError(f"Neo4j at {shown} refused the credentials (set NEO4J_USER and "
                          "NEO4J_PASSWORD)") from exc
    except (ServiceUnavailable, OSError) as exc:
        raise ExportError(f"cannot connect to Neo4j at {shown}: {type(exc).__name__}") from exc
    except cypher_error_types() as exc:
        detail = mask_secrets(str(getattr(exc, "message", None) or exc), uri)
        raise ExportError(f"Neo4j at {shown} failed: {type(exc).__name__}: {detail}") from exc


__all__ = ["BOLT_SCHEMES", "check_uri", "mask_uri", "open_driver", "resolve_credentials"]
