"""Shared pytest fixtures: the real local Neo4j server (never a mock).

``neo4j_server`` installs the server if needed (the first time that resolves the jars from Maven
Central, minutes) and starts it once per test session; it is stopped at the end only if this
session started it. Ports come from ``GRAPHKIT_TEST_BOLT_PORT`` / ``GRAPHKIT_TEST_HTTP_PORT``
(default 7687 / 7474), the home from ``GRAPHKIT_NEO4J_HOME`` (default ``./.neo4j``).
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


@pytest.fixture
def neo4j_driver(neo4j_server: ns.ServerInfo) -> Iterator[Driver]:
    """A driver on the server's default database, emptied of nodes and GDS graphs.

    Indexes and constraints are kept (dropping and rebuilding them is what makes a reset slow);
    create them with ``IF NOT EXISTS``.
    """
    driver = GraphDatabase.driver(neo4j_server.bolt_uri, auth=None)
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
