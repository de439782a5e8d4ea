"""Shared pytest fixtures: the real local Neo4j server (never a mock).

``neo4j_server`` installs the server if needed (the first time that resolves the jars from Maven
Central, minutes) and starts it once per test session; it is stopped at the end only if this
session started it. Ports come from ``GRAPHKIT_TEST_BOLT_PORT`` / ``GRAPHKIT_TEST_HTTP_PORT``
(default 7687 / 7474), the home from ``GRAPHKIT_NEO4J_HOME`` (default ``./.neo4j``). The server
runs with authentication, as ``graphkit neo4j start`` does; every driver a test opens logs in
with :func:`graphkit.neo4j.auth.credentials` (the ``neo4j_auth`` fixture).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from neo4j import Driver, GraphDatabase

from graphkit.cli import main
from graphkit.neo4j import server as ns
from graphkit.neo4j.auth import credentials

SIM_SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> Callable[[], int]:
    """Call it for a TCP port on 127.0.0.1 that nothing listens on right now."""
    return _free_port


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[ns.ServerInfo]:
    """The running local server (``.bolt_uri``, ``.http_url``, ``.browser_url``, ``.home``)."""
    home = ns.default_home()
    ns.install(home)
    info = ns.start(
        home,
        bolt_port=int(os.environ.get("GRAPHKIT_TEST_BOLT_PORT", "7687")),
        http_port=int(os.environ.get("GRAPHKIT_TEST_HTTP_PORT", "7474")),
        timeout=300,
    )
    try:
        yield info
    finally:
        if info.started_now:
            ns.stop(home, instance=info.instance)


@pytest.fixture(scope="session")
def neo4j_auth(neo4j_server: ns.ServerInfo) -> tuple[str, str]:
    """``(user, password)`` of the test server (and of other instances of its home)."""
    creds = credentials(neo4j_server.home, uri=neo4j_server.bolt_uri)
    assert creds is not None and neo4j_server.auth
    return creds.auth


@pytest.fixture
def neo4j_driver(neo4j_server: ns.ServerInfo, neo4j_auth: tuple[str, str]) -> Iterator[Driver]:
    """A driver on the server's default database, emptied of nodes and GDS graphs.

    Indexes and constraints are kept (dropping and rebuilding them is what makes a reset slow);
    create them with ``IF NOT EXISTS``.
    """
    driver = GraphDatabase.driver(neo4j_server.bolt_uri, auth=neo4j_auth)
    with driver.session() as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()
        session.run(
            "CALL gds.graph.list() YIELD graphName "
            "CALL gds.graph.drop(graphName, false) YIELD graphName AS dropped "
            "RETURN count(dropped)"
        ).consume()
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture
def declared_constraints_dropped(neo4j_driver: Driver) -> Iterator[Driver]:
    """Drop the declared kinds' constraints afterwards: the server is shared by the session (and
    by later sessions on the same home), and other tests count graphkit's constraints."""
    yield neo4j_driver
    from graphkit.neo4j.cypher import SCHEMA_STATEMENTS

    static = {s.split()[2] for s in SCHEMA_STATEMENTS if s.startswith("CREATE CONSTRAINT")}
    records, _, _ = neo4j_driver.execute_query(
        "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'graphkit_' RETURN name")
    for name in {r["name"] for r in records} - static:
        neo4j_driver.execute_query(f"DROP CONSTRAINT {name} IF EXISTS")  # names from the server


def _detect(out: Path, *extra: str) -> Path:
    """Run `graphkit detect` on the checked-in simulated scenario into ``out``."""
    res = CliRunner().invoke(main, [
        "detect", str(SIM_SMALL / "events.parquet"), "--accounts", str(SIM_SMALL / "accounts.csv"),
        "--seeds", str(SIM_SMALL / "seeds.csv"), "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def sim_detection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detection output directory for fixtures/sim-small (default settings)."""
    return _detect(tmp_path_factory.mktemp("detect") / "out")


@pytest.fixture(scope="session")
def sim_detection_other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second detection run over the same scenario with other settings (another run id)."""
    return _detect(tmp_path_factory.mktemp("detect-other") / "out", "--flag-threshold", "0.45")
