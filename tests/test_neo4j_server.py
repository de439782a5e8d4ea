"""The local Neo4j 5.26 server, for real: Bolt, OpenGDS, Neo4j Browser, lifecycle, bulk import."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from neo4j import Driver, GraphDatabase

from graphkit.cli import main
from graphkit.errors import ConfigError, InputError, Neo4jServerError
from graphkit.neo4j import server as ns

pytestmark = pytest.mark.neo4j


def test_bolt_answers(neo4j_server: ns.ServerInfo, neo4j_driver: Driver) -> None:
    neo4j_driver.verify_connectivity()
    records, _, _ = neo4j_driver.execute_query("RETURN $x + 1 AS y", x=41)
    assert records[0]["y"] == 42
    records, _, _ = neo4j_driver.execute_query(
        "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition"
    )
    assert records[0]["edition"] == "community"
    assert records[0]["versions"][0] == ns.install(neo4j_server.home).neo4j_version


def test_driver_fixture_gives_an_empty_database(neo4j_driver: Driver) -> None:
    records, _, _ = neo4j_driver.execute_query("MATCH (n) RETURN count(n) AS n")
    assert records[0]["n"] == 0
    neo4j_driver.execute_query("UNWIND range(1, 3) AS i CREATE (:Leftover {i: i})")


def test_gds_version(neo4j_server: ns.ServerInfo, neo4j_driver: Driver) -> None:
    records, _, _ = neo4j_driver.execute_query("RETURN gds.version() AS v")
    assert records[0]["v"] == ns.install(neo4j_server.home).gds_version


def test_gds_leiden_on_an_undirected_projection(neo4j_driver: Driver) -> None:
    # Two 4-cliques joined by one bridge: Leiden must find exactly the two cliques.
    neo4j_driver.execute_query("UNWIND range(0, 7) AS i CREATE (:Acct {id: i, side: i / 4})")
    neo4j_driver.execute_query(
        "MATCH (a:Acct), (b:Acct) WHERE a.side = b.side AND a.id < b.id CREATE (a)-[:LINK]->(b)"
    )
    neo4j_driver.execute_query("MATCH (a:Acct {id: 3}), (b:Acct {id: 4}) CREATE (a)-[:LINK]->(b)")
    neo4j_driver.execute_query(
        "CALL gds.graph.project($name, 'Acct', {LINK: {orientation: 'UNDIRECTED'}})",
        name="leiden_test",
    )
    records, _, _ = neo4j_driver.execute_query(
        "CALL gds.leiden.stream($name, {randomSeed: 7, concurrency: 1}) "
        "YIELD nodeId, communityId "
        "RETURN gds.util.asNode(nodeId).side AS side, collect(DISTINCT communityId) AS c",
        name="leiden_test",
    )
    by_side = {r["side"]: r["c"] for r in records}
    assert set(by_side) == {0, 1}
    assert len(by_side[0]) == 1 and len(by_side[1]) == 1
    assert by_side[0] != by_side[1]


def test_browser_and_discovery_answer(neo4j_server: ns.ServerInfo) -> None:
    with urllib.request.urlopen(neo4j_server.browser_url, timeout=30) as resp:
        assert resp.status == 200
        assert b"<title>Neo4j Browser</title>" in resp.read()
    with urllib.request.urlopen(neo4j_server.http_url + "/", timeout=30) as resp:
        discovery = json.loads(resp.read())
    assert discovery["bolt_direct"] == neo4j_server.bolt_uri


def test_start_and_status_are_idempotent(neo4j_server: ns.ServerInfo) -> None:
    port = int(neo4j_server.bolt_uri.rsplit(":", 1)[1])
    http_port = int(neo4j_server.http_url.rsplit(":", 1)[1])
    again = ns.start(neo4j_server.home, port, http_port, instance=neo4j_server.instance)
    assert again.pid == neo4j_server.pid and not again.started_now
    for _ in range(2):
        st = ns.status(neo4j_server.home, instance=neo4j_server.instance)
        assert st.running and st.pid == neo4j_server.pid and st.bolt_uri == neo4j_server.bolt_uri
    with pytest.raises(Neo4jServerError, match="already running on Bolt port"):
        ns.start(neo4j_server.home, port + 1, http_port, instance=neo4j_server.instance)


def test_cli_status_and_errors(neo4j_server: ns.ServerInfo, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["neo4j", "status", "--json", "--home", str(neo4j_server.home)])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["pid"] == neo4j_server.pid
    res = runner.invoke(main, ["neo4j", "status", "--home", str(tmp_path)])
    assert res.exit_code == 1 and "not running" in res.output
    res = runner.invoke(main, ["neo4j", "start", "--home", str(tmp_path)])
    assert res.exit_code == 2
    assert "graphkit neo4j install" in res.output and "Traceback" not in res.output


def test_a_taken_port_is_a_clear_error(
    neo4j_server: ns.ServerInfo, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(Neo4jServerError, match=rf"port {taken} on 127.0.0.1 \(Bolt\)"):
            ns.start(neo4j_server.home, taken, free_port(), instance=tmp_path / "inst")
    assert not ns.status(neo4j_server.home, instance=tmp_path / "inst").process_alive


def test_connections_lingering_after_a_stop_do_not_count_as_a_taken_port() -> None:
    # A server that closed its connections first leaves them in TIME_WAIT on its port for a
    # minute; restarting it at once must not be refused (the server binds with SO_REUSEADDR).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    client.recv(1)
    client.close()
    assert ns._port_in_use(port)  # still listening
    listener.close()
    assert not ns._port_in_use(port)


def test_start_up_failure_reports_the_log(
    neo4j_server: ns.ServerInfo, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    inst = tmp_path / "inst"
    with pytest.raises(Neo4jServerError) as err:
        ns.start(neo4j_server.home, free_port(), free_port(), instance=inst, heap="lots")
    message = str(err.value)
    assert "exited during start-up" in message
    assert str(inst / "logs" / "console.log") in message
    assert "Invalid" in message  # the JVM's own complaint, from the log tail
    assert not ns.status(neo4j_server.home, instance=inst).process_alive


def test_missing_java_and_maven_are_clear_errors(
    neo4j_server: ns.ServerInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(Neo4jServerError, match="'mvn' was not found"):
        ns.install(tmp_path / "home")
    with pytest.raises(Neo4jServerError, match="'java' was not found"):
        ns.start(neo4j_server.home, 1, 2, instance=tmp_path / "inst")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_admin_import_into_a_second_server(
    neo4j_server: ns.ServerInfo, tmp_path: Path, free_port: Callable[[], int]
) -> None:
    accounts = _write(
        tmp_path / "accounts.csv",
        "account_id:ID(Account),score:float,:LABEL\n"
        "a1,0.9,Account;Suspicious\na2,0.8,Account;Suspicious\na3,0.1,Account\n",
    )
    ips = _write(tmp_path / "ips.csv", "ip:ID(IP)\n10.0.0.1\n10.0.0.2\n")
    ip_header = _write(tmp_path / "used_ip_header.csv", ":START_ID(Account),:END_ID(IP),count:long")
    used_ip = _write(tmp_path / "used_ip.csv", "a1,10.0.0.1,3\na2,10.0.0.1,5\na3,10.0.0.2,1\n")
    linked = _write(
        tmp_path / "linked.csv", ":START_ID(Account),:END_ID(Account),:TYPE\na1,a2,LINKED\n"
    )
    inst = tmp_path / "imported"
    home = neo4j_server.home
    nodes = [(None, accounts), ("IP", ips)]
    rels = [("USED_IP", [ip_header, used_ip]), (None, linked)]

    report = ns.admin_import(home, "graphkit", nodes, rels, instance=inst)
    # 5 nodes; 4 relationships; properties: 3 ids + 3 scores + 2 ips + 3 counts.
    assert (report.nodes, report.relationships, report.properties) == (5, 4, 11)
    assert (inst / "data" / "databases" / "graphkit").is_dir()

    with pytest.raises(Neo4jServerError, match="already exists"):
        ns.admin_import(home, "graphkit", nodes, rels, instance=inst)

    with ns.running(home, free_port(), free_port(), instance=inst, database="graphkit") as second:
        assert second.started_now and second.bolt_uri != neo4j_server.bolt_uri
        with GraphDatabase.driver(second.bolt_uri, auth=None) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n ORDER BY label"
            )
            assert {r["label"]: r["n"] for r in records} == {"Account": 3, "IP": 2, "Suspicious": 2}
            records, _, _ = driver.execute_query(
                "MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS n, sum(r.count) AS total"
            )
            counts = {r["t"]: (r["n"], r["total"]) for r in records}
            assert counts == {"USED_IP": (3, 9), "LINKED": (1, 0)}
            records, _, _ = driver.execute_query(
                "MATCH (a:Account {account_id: $id})-[:USED_IP]->(ip:IP) RETURN ip.ip AS ip",
                id="a2",
            )
            assert [r["ip"] for r in records] == ["10.0.0.1"]
        with pytest.raises(Neo4jServerError, match="stop it before importing"):
            ns.admin_import(home, "graphkit", nodes, rels, instance=inst, overwrite=True)
    assert not ns.status(home, instance=inst).process_alive

    again = ns.admin_import(home, "graphkit", [(None, accounts)], [], instance=inst, overwrite=True)
    assert (again.nodes, again.relationships) == (3, 0)


def test_admin_import_bad_input_is_an_error(neo4j_server: ns.ServerInfo, tmp_path: Path) -> None:
    home = neo4j_server.home
    inst = tmp_path / "imported"
    with pytest.raises(ConfigError, match="nodes file not found") as err:
        ns.admin_import(home, "graphkit", [("A", tmp_path / "missing.csv")], [], instance=inst)
    assert err.value.file == str(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="not a valid database name"):
        ns.admin_import(home, "x y", [("A", tmp_path)], [], instance=inst)

    nodes = _write(tmp_path / "a.csv", "id:ID,n:int\nx,1\ny,2\n")
    dangling = _write(tmp_path / "r.csv", ":START_ID,:END_ID,w:int\nx,y,1\ny,nowhere,2\n")
    with pytest.raises(InputError, match="missing node nowhere") as err:
        ns.admin_import(home, "graphkit", [("A", nodes)], [("R", dangling)], instance=inst)
    assert (err.value.file, err.value.line, err.value.column) == (str(dangling), 3, ":END_ID")
    assert str(inst / "logs" / "import-graphkit.log") in str(err.value)
    assert not (inst / "data" / "databases" / "graphkit").exists()  # no broken store left

    # Header in its own file: lines count within the data file.
    header = _write(tmp_path / "h.csv", "id:ID,n:int")
    data = _write(tmp_path / "d.csv", "x,1\ny,2\nz,notanint\n")
    with pytest.raises(InputError, match="Not an integer") as err:
        ns.admin_import(home, "graphkit", [("A", [header, data])], [], instance=inst)
    assert (err.value.file, err.value.line, err.value.column) == (str(data), 3, "n:int")

    dup = _write(tmp_path / "dup.csv", "id:ID\nq\nx\n")
    with pytest.raises(InputError, match="'x' is defined more than once"):
        ns.admin_import(home, "graphkit", [("A", nodes), ("B", dup)], [], instance=inst)
