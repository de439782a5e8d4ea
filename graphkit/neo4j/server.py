"""The local Neo4j 5.26 server graphkit assembles from Maven Central and runs itself.

No Docker and no download from neo4j.com: ``install`` lays out Neo4j Community 5.26 LTS, Neo4j
Browser and OpenGDS 2.13 (the GDS line built for Neo4j 5.26) as jars under a server *home*
(``$GRAPHKIT_NEO4J_HOME`` or ``./.neo4j``) with Maven, using a Maven repository inside that home,
so a fresh machine needs only Java 17+ and Maven. ``start`` runs the server in the background
the way the official tarball does (``org.neo4j.server.CommunityEntryPoint``), with
authentication on (:mod:`graphkit.neo4j.auth`), CORS limited to Neo4j Browser's origin,
owner-only files (:mod:`graphkit.neo4j.permissions`) and listening on 127.0.0.1 only, and
waits until Bolt answers.
``admin_import`` runs the real ``neo4j-admin database import full`` from the same jars.

This module holds start, status and stop and is the one to import for the server's whole API:
it re-exports ``install`` (:mod:`graphkit.neo4j.maven`), ``admin_import``
(:mod:`graphkit.neo4j.admin`) and the result types (:mod:`graphkit.neo4j.local`).

An *instance* is a directory with its own ``conf/``, ``data/``, ``logs/`` and ``run/``; the home
is the default instance. Other instances (a temporary server over an imported store, say) share
the home's jars::

    from graphkit.neo4j import server as ns
    paths = ns.install()                     # minutes the first time; idempotent
    info = ns.start()                        # bolt://127.0.0.1:7687, http://127.0.0.1:7474
    ns.status().running                      # True
    ns.stop()

Community edition serves one user database (the instance's default database), so an imported
store is served by starting an instance whose ``database`` is the imported one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from graphkit.errors import ConfigError, Neo4jServerError
from graphkit.neo4j.admin import admin_import, set_initial_password
from graphkit.neo4j.auth import Credentials, credentials, ensure_password, initial_credentials
from graphkit.neo4j.instance import (
    _alive,
    _bolt_answers,
    _classpath,
    _clear_state,
    _info,
    _port_in_use,
    _read_state,
    _render_conf,
    _terminate,
)
from graphkit.neo4j.local import (
    _CONSOLE_LOG,
    _ENTRY_POINT,
    _JVM_FLAGS,
    _PID_FILE,
    _STATE_FILE,
    ImportReport,
    PathLike,
    ServerInfo,
    ServerPaths,
    ServerStatus,
    _home,
    _instance,
    _java,
    _require_installed,
    _tail,
    as_dict,
    default_home,
)
from graphkit.neo4j.maven import install
from graphkit.neo4j.permissions import modes, open_log, write_file

__all__ = [
    "ImportReport",
    "ServerInfo",
    "ServerPaths",
    "ServerStatus",
    "admin_import",
    "as_dict",
    "default_home",
    "install",
    "running",
    "start",
    "status",
    "stop",
]


# --------------------------------------------------------------------------------------------
# start, in pieces


def _already_running(
    state: dict[str, object], home_dir: Path, inst: Path, bolt_port: int, http_port: int,
    timeout: float, creds: Credentials | None,
) -> ServerInfo:
    """The info of this instance's live server, checked to be on the asked ports, with the
    asked authentication, to answer on Bolt and to accept the credentials."""
    if (state["bolt_port"], state["http_port"]) != (bolt_port, http_port):
        raise Neo4jServerError(
            f"the Neo4j server in {inst} is already running on Bolt port "
            f"{state['bolt_port']} and HTTP port {state['http_port']}, not "
            f"{bolt_port}/{http_port}; stop it first ('graphkit neo4j stop')"
        )
    if bool(state.get("auth", True)) != (creds is not None):
        running_as = "with" if state.get("auth", True) else "without"
        raise Neo4jServerError(
            f"the Neo4j server in {inst} is already running {running_as} authentication; "
            "stop it first ('graphkit neo4j stop')"
        )
    info = _info(state, home_dir, inst, started_now=False, startup_seconds=0.0)
    if not _bolt_answers(info.bolt_uri, timeout=max(1.0, min(timeout, 30.0))):
        raise Neo4jServerError(
            f"the Neo4j server in {inst} (pid {info.pid}) is running but Bolt does not "
            f"answer at {info.bolt_uri}; log: {info.log_path}\n{_tail(info.log_path)}"
        )
    if creds is not None:
        ensure_password(info.bolt_uri, creds)
    return replace(info, credentials_source=creds.source if creds else None)


def _check_ports_free(bolt_port: int, http_port: int) -> None:
    for port, what in ((bolt_port, "Bolt"), (http_port, "HTTP")):
        if _port_in_use(port):
            raise Neo4jServerError(
                f"port {port} on 127.0.0.1 ({what}) is already in use by another program; "
                f"stop it or choose another {what} port"
            )


def _server_argv(java: str, home_dir: Path, conf: Path, heap: str) -> list[str]:
    """The JVM command line of the server, as the official start script builds it."""
    return [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        "-cp",
        _classpath(home_dir),
        _ENTRY_POINT,
        f"--home-dir={home_dir}",
        f"--config-dir={conf.parent}",
        "--console-mode",
    ]


def _launch(argv: list[str], inst: Path, log_path: Path, shared: bool) -> subprocess.Popen[bytes]:
    """Start the server process in the background, its output to ``log_path``; what it
    creates gets the instance's modes (umask)."""
    log = open_log(log_path, shared)
    try:
        # A new session: the server outlives this process and ignores the terminal's Ctrl-C.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=inst,
            start_new_session=True,
            umask=modes(shared).umask,
        )
    finally:
        os.close(log)


def _write_state(inst: Path, state: dict[str, object]) -> None:
    shared = bool(state.get("shared", False))
    write_file(inst / "run" / _PID_FILE, f"{state['pid']}\n", shared)
    write_file(inst / "run" / _STATE_FILE, json.dumps(state, indent=2) + "\n", shared)


def _http_accepts(url: str, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at ``url``'s host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for_bolt(
    proc: subprocess.Popen[bytes], info: ServerInfo, inst: Path, deadline: float, timeout: float
) -> None:
    """Poll until Bolt answers and the HTTP connector (Neo4j Browser, the HTTP API) accepts
    connections, which it may start doing a moment after Bolt; stop the server and raise if it
    exits or ``deadline`` passes."""
    while True:
        if proc.poll() is not None:
            _clear_state(inst)
            raise Neo4jServerError(
                f"Neo4j exited during start-up (exit {proc.returncode}); log: {info.log_path}\n"
                f"{_tail(info.log_path)}"
            )
        if _bolt_answers(info.bolt_uri, timeout=2.0) and _http_accepts(info.http_url):
            return
        if time.perf_counter() > deadline:
            _terminate(proc.pid, inst, grace=20)
            raise Neo4jServerError(
                f"Neo4j did not answer on {info.bolt_uri} within {timeout:.0f}s and was "
                f"stopped; log: {info.log_path}\n{_tail(info.log_path)}"
            )
        time.sleep(0.5)


# --------------------------------------------------------------------------------------------
# start / status / stop


def start(
    home: PathLike | None = None,
    bolt_port: int = 7687,
    http_port: int = 7474,
    timeout: float = 180,
    *,
    instance: PathLike | None = None,
    database: str = "neo4j",
    heap: str = "1g",
    pagecache: str = "256m",
    tx_memory: str = "1g",
    auth: bool = True,
    shared: bool = False,
) -> ServerInfo:
    """Start the server in the background and wait until Bolt answers (or ``timeout`` s).

    Idempotent: if this instance is already running on the same ports its info is returned.
    Logs go to ``INSTANCE/logs`` (``console.log`` is the server's output), the pid to
    ``INSTANCE/run/neo4j.pid``. ``database`` is the default database; it is fixed when the
    instance's data directory is first created (Neo4j's ``initial.`` setting).

    With ``auth`` (the default) the server demands the password of user ``neo4j``
    (:func:`graphkit.neo4j.auth.initial_credentials`: ``NEO4J_PASSWORD``, else generated
    into ``HOME/conf/graphkit-password``), set right after the first start; clients find it
    with :func:`graphkit.neo4j.auth.credentials`. ``auth=False`` lets anyone on this machine
    in (the CLI warns). ``shared`` makes the instance's files readable by the owner's group
    (:mod:`graphkit.neo4j.permissions`); by default they are owner-only.

    For example (on this machine's local Neo4j home)::

        info = start()
        info.bolt_uri  # -> 'bolt://127.0.0.1:7687'
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    _require_installed(home_dir)
    if bolt_port == http_port:
        raise ConfigError(f"the Bolt and HTTP ports must differ (both are {bolt_port})")

    creds = initial_credentials(home_dir) if auth else None

    state = _read_state(inst)
    if state and _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        return _already_running(state, home_dir, inst, bolt_port, http_port, timeout, creds)
    _clear_state(inst)

    java = _java()
    _check_ports_free(bolt_port, http_port)
    conf = _render_conf(
        home_dir,
        inst,
        bolt_port=bolt_port,
        http_port=http_port,
        database=database,
        pagecache=pagecache,
        tx_memory=tx_memory,
        auth=auth,
        shared=shared,
    )
    began = time.perf_counter()
    if creds is not None:  # on a store that never started: no moment with neo4j/neo4j
        set_initial_password(java, home_dir, inst, conf, creds.password)
    proc = _launch(_server_argv(java, home_dir, conf, heap), inst, inst / "logs" / _CONSOLE_LOG,
                   shared)
    state = {
        "pid": proc.pid,
        "bolt_port": bolt_port,
        "http_port": http_port,
        "database": database,
        "home": str(home_dir),
        "auth": auth,
        "shared": shared,
    }
    _write_state(inst, state)
    info = _info(state, home_dir, inst, started_now=True, startup_seconds=0.0)
    _wait_for_bolt(proc, info, inst, began + timeout, timeout)
    if creds is not None:
        try:
            ensure_password(info.bolt_uri, creds)
        except BaseException:
            _terminate(proc.pid, inst, grace=20)  # never leave a server nobody can log in to
            raise
    return replace(
        info, startup_seconds=time.perf_counter() - began,
        credentials_source=creds.source if creds else None,
    )


def status(home: PathLike | None = None, *, instance: PathLike | None = None) -> ServerStatus:
    """Whether this instance's server runs and answers on Bolt, with its addresses.

    For example (on this machine's local Neo4j home)::

        status().running  # -> False
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    log_path = inst / "logs" / _CONSOLE_LOG
    state = _read_state(inst)
    if not state or not _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        return ServerStatus(False, False, None, None, None, None, None, home_dir, inst, log_path)
    info = _info(state, home_dir, inst, started_now=False, startup_seconds=0.0)
    answers = _bolt_answers(info.bolt_uri)
    return ServerStatus(
        running=answers,
        process_alive=True,
        pid=info.pid,
        bolt_uri=info.bolt_uri,
        http_url=info.http_url,
        browser_url=info.browser_url,
        database=info.database,
        home=home_dir,
        instance=inst,
        log_path=log_path,
        auth=info.auth,
        credentials_accepted=_accepts(info.bolt_uri, home_dir) if answers and info.auth else None,
    )


def _accepts(bolt_uri: str, home_dir: Path) -> bool:
    """Whether the server accepts :func:`~graphkit.neo4j.auth.credentials` (False if none)."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError

    creds = credentials(home_dir, uri=bolt_uri)
    if creds is None:
        return False
    try:
        with GraphDatabase.driver(bolt_uri, auth=creds.auth, connection_timeout=5) as driver:
            driver.verify_connectivity()
    except AuthError:
        return False
    return True


def stop(
    home: PathLike | None = None, *, instance: PathLike | None = None, timeout: float = 60
) -> bool:
    """Stop this instance's server (SIGTERM, then SIGKILL after ``timeout`` s).

    Returns False when it was not running.
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    state = _read_state(inst)
    if not state or not _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        _clear_state(inst)
        return False
    _terminate(int(state["pid"]), inst, grace=timeout)  # type: ignore[arg-type]
    return True


@contextmanager
def running(
    home: PathLike | None = None,
    bolt_port: int = 7687,
    http_port: int = 7474,
    timeout: float = 180,
    **options: str | PathLike,
) -> Iterator[ServerInfo]:
    """Run a server for the ``with`` block; stop it afterwards only if this block started it.

    ``options`` are ``start``'s keyword options (``instance``, ``database``, ``heap``, ...).

    For example (on this machine's local Neo4j home)::

        with running(instance="/tmp/imported", bolt_port=7690, http_port=7477,
                     database="graphkit") as info:
            print(info.bolt_uri)  # -> bolt://127.0.0.1:7690
    """
    info = start(home, bolt_port, http_port, timeout, **options)  # type: ignore[arg-type]
    try:
        yield info
    finally:
        if info.started_now:
            stop(home, instance=info.instance)
