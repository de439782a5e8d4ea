"""One server instance's files and process: its neo4j.conf, its state file, its liveness.

An instance's ``run/`` holds ``neo4j.pid`` and ``graphkit-neo4j.json`` (pid, ports, default
database, home) while its server runs; a recorded pid counts as the instance's server only
while that process runs Neo4j's entry point with the instance's ``conf/``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path
from string import Template

import psutil

from graphkit.neo4j.local import (
    _CONSOLE_LOG,
    _ENTRY_POINT,
    _PID_FILE,
    _STATE_FILE,
    ServerInfo,
    _asset,
)
from graphkit.neo4j.permissions import secure_instance, write_file


def _render_conf(
    home_dir: Path,
    inst: Path,
    *,
    bolt_port: int,
    http_port: int,
    database: str,
    pagecache: str,
    tx_memory: str,
    auth: bool = True,
    shared: bool = False,
) -> Path:
    """Write the instance's neo4j.conf (its directories created with the instance's modes)."""
    secure_instance(home_dir, inst, shared)
    text = Template(_asset("neo4j.conf")).substitute(
        bolt_port=bolt_port,
        http_port=http_port,
        auth_enabled="true" if auth else "false",
        allow_origin=browser_origin(http_port),
        database=database,
        data_dir=inst / "data",
        logs_dir=inst / "logs",
        run_dir=inst / "run",
        import_dir=inst / "import",
        plugins_dir=home_dir / "plugins",
        pagecache=pagecache,
        tx_memory=tx_memory,
    )
    conf = inst / "conf" / "neo4j.conf"
    write_file(conf, text, shared)
    return conf


def browser_origin(http_port: int) -> str:
    """The web origin Neo4j Browser is served from (the only one CORS allows).

    >>> browser_origin(7474)
    'http://127.0.0.1:7474'
    """
    return f"http://127.0.0.1:{http_port}"


def _classpath(home_dir: Path) -> str:
    # Java expands these wildcards itself; GDS must be on the main classpath *and* in plugins.
    return f"{home_dir / 'plugins'}/*{os.pathsep}{home_dir / 'lib'}/*"


def _read_state(inst: Path) -> dict[str, object] | None:
    path = inst / "run" / _STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int, inst: Path) -> bool:
    """Is ``pid`` a live Neo4j server process of this instance (not a recycled pid)?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return _ENTRY_POINT in cmdline and f"--config-dir={inst / 'conf'}" in cmdline


def _clear_state(inst: Path) -> None:
    for name in (_STATE_FILE, _PID_FILE):
        (inst / "run" / name).unlink(missing_ok=True)


def _port_in_use(port: int) -> bool:
    """Whether another program listens on ``port``. SO_REUSEADDR as the server itself binds:
    connections of a server stopped a moment ago linger in TIME_WAIT and must not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _bolt_answers(bolt_uri: str, timeout: float = 5.0) -> bool:
    """Whether a Neo4j server answers on Bolt (refusing an unauthenticated client counts)."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import AuthError, DriverError, Neo4jError

    try:
        with GraphDatabase.driver(bolt_uri, auth=None, connection_timeout=timeout) as driver:
            driver.verify_connectivity()
        return True
    except AuthError:
        return True
    except (DriverError, Neo4jError, OSError):
        return False


def _info(state: dict[str, object], home_dir: Path, inst: Path, **extra: object) -> ServerInfo:
    bolt_port, http_port = state["bolt_port"], state["http_port"]
    return ServerInfo(
        pid=int(state["pid"]),  # type: ignore[arg-type]
        bolt_uri=f"bolt://127.0.0.1:{bolt_port}",
        http_url=f"http://127.0.0.1:{http_port}",
        browser_url=f"http://127.0.0.1:{http_port}/browser/",
        database=str(state["database"]),
        home=home_dir,
        instance=inst,
        log_path=inst / "logs" / _CONSOLE_LOG,
        auth=bool(state.get("auth", True)),
        **extra,  # type: ignore[arg-type]
    )


def _terminate(pid: int, inst: Path, grace: float) -> None:
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)  # Neo4j shuts down cleanly on SIGTERM
        try:
            proc.wait(grace)  # also reaps it when it is our own child
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    except psutil.NoSuchProcess:
        pass
    _clear_state(inst)
