"""Who may use the local server: its password, the credentials clients use, masked URIs.

``graphkit neo4j start`` runs the server with authentication on. The user is ``neo4j``; its
password is ``NEO4J_PASSWORD`` when that is set, else one generated on first start
(:func:`secrets.token_urlsafe`) and kept in ``HOME/conf/graphkit-password`` (mode 0600, the
home's directories 0700). The server learns it over Bolt through the supported route, ``ALTER
CURRENT USER SET PASSWORD FROM 'neo4j' TO $new`` from Neo4j's initial password, right after the
first start with authentication; that also upgrades a home that ran without authentication
(its ``neo4j`` user still has the initial password). The password never travels in argv.

:func:`credentials` is the one place clients (the CLI's ``export`` and ``neo4j status``, the
tests, the README) get credentials from: ``NEO4J_USER`` / ``NEO4J_PASSWORD`` from the
environment, else the password file, which is only offered to a server on this machine.

:func:`mask_uri` and :func:`mask_secrets` hide the credentials a URI may embed in every
message graphkit prints or raises.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from graphkit.errors import ConfigError, Neo4jServerError
from graphkit.neo4j.local import PathLike, _home

DEFAULT_USER = "neo4j"
PASSWORD_FILE = "graphkit-password"  # in HOME/conf
INITIAL_PASSWORD = "neo4j"  # Neo4j's own initial password, changed on first start
MIN_PASSWORD_LENGTH = 8  # Neo4j's dbms.security.auth_minimum_password_length default
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})
_MASK = "***"


@dataclass(frozen=True)
class Credentials:
    """A user and password for Neo4j, and where the password came from (never printed).

    >>> Credentials("neo4j", "hunter22", "environment")
    Credentials(user='neo4j', source='environment')
    """

    user: str
    password: str = field(repr=False)
    source: str  # "environment" or the password file's path

    @property
    def auth(self) -> tuple[str, str]:
        """``(user, password)`` as the driver takes it."""
        return self.user, self.password


def password_file(home: PathLike | None = None) -> Path:
    """Where the home keeps a generated password: ``HOME/conf/graphkit-password``."""
    return _home(home) / "conf" / PASSWORD_FILE


def is_local(uri: str) -> bool:
    """Whether ``uri`` names a server on this machine (loopback).

    A loopback *address* (``127.0.0.0/8``, ``::1``) or a loopback name; a host name that only
    starts like one (``127.attacker.example``) is not local.

    >>> is_local("bolt://localhost:7687"), is_local("neo4j+s://db.example:7687")
    (True, False)
    >>> is_local("bolt://127.0.0.2:7687"), is_local("bolt://127.attacker.example:7687")
    (True, False)
    """
    try:
        host = urlsplit(uri).hostname or ""
    except ValueError:
        return False
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


def _from_environment() -> Credentials | None:
    password = os.environ.get("NEO4J_PASSWORD")
    if password is None:
        return None
    return Credentials(os.environ.get("NEO4J_USER") or DEFAULT_USER, password, "environment")


def _read_password(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the Neo4j password file: {exc.strerror}",
                          file=str(path)) from exc
    return text or None


def credentials(home: PathLike | None = None, *, uri: str | None = None) -> Credentials | None:
    """The credentials for a graphkit Neo4j server, or None (connect unauthenticated).

    ``NEO4J_USER`` (default ``neo4j``) / ``NEO4J_PASSWORD`` from the environment first; else,
    when ``uri`` is None or names this machine, the password ``graphkit neo4j start`` wrote
    into ``home`` (default ``$GRAPHKIT_NEO4J_HOME`` or ``./.neo4j``). A remote server never
    gets the local password.

    Examples
    --------
    A driver for the local server (``tests/conftest.py`` does this)::

        from neo4j import GraphDatabase
        creds = credentials()
        driver = GraphDatabase.driver("bolt://127.0.0.1:7687", auth=creds and creds.auth)
    """
    found = _from_environment()
    if found is not None or (uri is not None and not is_local(uri)):
        return found
    path = password_file(home)
    password = _read_password(path)
    return Credentials(DEFAULT_USER, password, str(path)) if password else None


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 (refusing to follow or reuse an existing file)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def initial_credentials(home: PathLike | None = None) -> Credentials:
    """The credentials the server is set up with: :func:`credentials` for this home, else a
    generated password written to :func:`password_file` (0600). The user is ``neo4j``.
    """
    found = credentials(home)
    if found is None:
        path = password_file(home)
        try:
            _write_private(path, _generated_password())
        except FileExistsError:
            pass  # written a moment ago by a concurrent start, or an empty file
        except OSError as exc:
            raise ConfigError(f"cannot write the Neo4j password file: {exc.strerror}",
                              file=str(path)) from exc
        found = credentials(home)
        if found is None:
            raise ConfigError("the Neo4j password file is empty; delete it to generate a new "
                              "password", file=str(path))
    if found.user != DEFAULT_USER:
        raise ConfigError(f"the local server's user is '{DEFAULT_USER}', not NEO4J_USER "
                          f"'{found.user}' (unset NEO4J_USER)")
    if len(found.password) < MIN_PASSWORD_LENGTH or found.password == INITIAL_PASSWORD:
        raise ConfigError(f"the Neo4j password (from {found.source}) must have at least "
                          f"{MIN_PASSWORD_LENGTH} characters and differ from '{INITIAL_PASSWORD}'")
    return found


def _generated_password() -> str:
    """32 URL-safe characters (``secrets.token_urlsafe(24)``), not starting with ``-``: such a
    password is set before the first start (:func:`graphkit.neo4j.admin.set_initial_password`,
    whose argument file would read a leading ``-`` as an option).

    >>> p = _generated_password()
    >>> len(p), p[0] != "-"
    (32, True)
    """
    while (password := secrets.token_urlsafe(24)).startswith("-"):
        pass  # one draw in 64
    return password


def _login(bolt_uri: str, auth: tuple[str, str], query: str | None = None,
           **params: str) -> None:
    """Log in (and run ``query`` on the system database); AuthError when refused."""
    from neo4j import GraphDatabase

    with GraphDatabase.driver(bolt_uri, auth=auth, connection_timeout=10) as driver:
        if query is None:
            driver.verify_connectivity()
            return
        with driver.session(database="system") as session:
            session.run(query, **params).consume()


def ensure_password(bolt_uri: str, creds: Credentials) -> bool:
    """Make the running server accept ``creds``: True when it already did, False when the
    password was just set from Neo4j's initial one (first start, or a home that ran without
    authentication). :class:`~graphkit.errors.Neo4jServerError` when the server has another
    password."""
    from neo4j.exceptions import AuthError, ClientError

    try:
        _login(bolt_uri, creds.auth)
        return True
    except AuthError:
        pass
    try:
        _login(bolt_uri, (DEFAULT_USER, INITIAL_PASSWORD),
               "ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
               old=INITIAL_PASSWORD, new=creds.password)
    except (AuthError, ClientError) as exc:
        raise Neo4jServerError(
            f"the Neo4j server at {bolt_uri} has another password than the one from "
            f"{creds.source} ({type(exc).__name__}); set NEO4J_PASSWORD to its password") from exc
    _login(bolt_uri, creds.auth)
    return False


# --- masking ------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def _split(uri: str) -> tuple[str, str | None, str]:
    """(scheme with ``://``, user info or None, the rest from the ``@`` on)."""
    match = _SCHEME.match(uri)
    scheme = match.group(0) if match else ""
    rest = uri[len(scheme):]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]  # the user info ends at its last '@'
    if "@" not in authority:
        return scheme, None, rest
    at = authority.rindex("@")
    return scheme, rest[:at], rest[at:]


def mask_uri(uri: str) -> str:
    """``uri`` with any credentials it embeds replaced by ``***``.

    >>> mask_uri("bolt://neo4j:s3cret@db.example:7687")
    'bolt://***@db.example:7687'
    >>> mask_uri("neo4j+s://db.example:7687"), mask_uri("user:pw@host")
    ('neo4j+s://db.example:7687', '***@host')
    """
    scheme, info, rest = _split(str(uri))
    return str(uri) if info is None else scheme + _MASK + rest


def mask_secrets(text: str, uri: str | None) -> str:
    """``text`` with ``uri`` shown masked and its embedded user info nowhere (a message of
    the driver may quote it in pieces).

    >>> mask_secrets("bad URI 'bolt://u:pw123456@h:1' (pw123456)", "bolt://u:pw123456@h:1")
    "bad URI 'bolt://***@h:1' (***)"
    """
    if not uri:
        return text
    text = text.replace(uri, mask_uri(uri))
    info = _split(uri)[1]
    if info:
        for secret in sorted({info, *info.split(":", 1)[1:]}, key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, _MASK)
    return text


__all__ = ["DEFAULT_USER", "PASSWORD_FILE", "Credentials", "credentials", "ensure_password",
           "initial_credentials", "is_local", "mask_secrets", "mask_uri", "password_file"]
