"""Exports into a database that already holds part of the graph, against the real local Neo4j.

The Bolt writer creates what is missing and updates what exists (found by key for nodes, by
(start, end) for relationships, by run for SIMILAR_TO): these check that the result is always
exactly the selected graph, whatever was there before.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from _neo4j_expect import Expected, dump, expected_export, rel_counts, top
from neo4j import Driver
from test_export import assert_graph_is, export_cli

from graphkit.neo4j import server as ns
from graphkit.neo4j.bolt import apply_schema, write_selection
from graphkit.neo4j.selection import END, START, Selection

pytestmark = pytest.mark.neo4j


def test_export_restores_what_was_deleted_or_changed_by_hand(
        neo4j_server: ns.ServerInfo, neo4j_driver: Driver, sim_detection: Path) -> None:
    exp = expected_export(sim_detection, top(sim_detection, 4))
    export_cli(sim_detection, neo4j_server.bolt_uri, "--communities", "top:4")
    before = dump(neo4j_driver)
    for query in (
        "MATCH ()-[r:USED_IP]->() WITH r LIMIT 3 DELETE r",
        "MATCH ()-[r:SIMILAR_TO]->() WITH r LIMIT 2 DELETE r",
        "MATCH (a:Account)-[r:MEMBER_OF]->() WITH a LIMIT 1 MATCH (a)-[r:MEMBER_OF]->() DELETE r",
        "MATCH ()-[r:SENT]->() WITH r LIMIT 5 SET r.count = -1, r.run_id = 'stale'",
        "MATCH (i:IP)<-[:USED_IP]-() WITH DISTINCT i LIMIT 1 DETACH DELETE i",
        "MATCH (a:SuspicionHigh) WITH a LIMIT 2 REMOVE a:SuspicionHigh SET a:SuspicionMedium",
        "MATCH (a:Account) WITH a LIMIT 3 SET a.suspicion = -1.0",
        "MATCH (c:Community) WITH c LIMIT 1 SET c.evidence = 'edited'",
    ):
        neo4j_driver.execute_query(query)
    assert dump(neo4j_driver) != before
    export_cli(sim_detection, neo4j_server.bolt_uri, "--communities", "top:4")
    assert_graph_is(neo4j_driver, exp)
    assert dump(neo4j_driver) == before


def test_export_over_a_graph_that_holds_part_of_it(
        neo4j_server: ns.ServerInfo, neo4j_driver: Driver, sim_detection: Path) -> None:
    exp: Expected = expected_export(sim_detection, top(sim_detection, 2))
    used_ip = exp.rels["USED_IP"].iloc[0]
    sim = exp.rels["SIMILAR_TO"].iloc[0]
    # By hand, before any export: an account and an IP with a relationship between them (no
    # run_id, a property of its own), and two SIMILAR_TO between a linked pair: one of this run
    # with a wrong score, one of another run.
    neo4j_driver.execute_query(
        "CREATE (a:Account {account_id: $a, note: 'hand'})-[:USED_IP {note: 'hand'}]->"
        "(:IP {ip: $ip})", a=used_ip["s"], ip=used_ip["e"])
    neo4j_driver.execute_query(
        "MERGE (a:Account {account_id: $a}) MERGE (b:Account {account_id: $b}) "
        "CREATE (a)-[:SIMILAR_TO {run_id: $run, score: -1.0}]->(b) "
        "CREATE (a)-[:SIMILAR_TO {run_id: 'another-run', score: 0.5}]->(b)",
        a=sim["s"], b=sim["e"], run=exp.run_id)
    export_cli(sim_detection, neo4j_server.bolt_uri, "--communities", "top:2")

    want = exp.rel_counts()
    want["SIMILAR_TO"] += 1  # the other run's is not this run's to touch
    assert rel_counts(neo4j_driver) == want
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account {account_id: $a})-[r:USED_IP]->(:IP {ip: $ip}) "
        "RETURN properties(r) AS r, properties(a) AS a", a=used_ip["s"], ip=used_ip["e"])
    assert len(records) == 1  # updated, not created a second time
    props = records[0]["r"]
    assert (props["note"], props["run_id"], props["count"]) == (
        "hand", exp.run_id, int(used_ip["count"]))
    assert records[0]["a"]["note"] == "hand"  # properties the export does not write are kept
    assert "suspicion" in records[0]["a"]
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (:Account {account_id: $a})-[r:SIMILAR_TO]->(:Account {account_id: $b}) "
        "RETURN r.run_id AS run, r.score AS score ORDER BY run", a=sim["s"], b=sim["e"])
    assert [(r["run"], r["score"]) for r in records] == sorted(
        [("another-run", 0.5), (exp.run_id, float(sim["score"]))])
    # And a second export changes nothing (dump keys relationships by type and ends: without
    # the other run's).
    neo4j_driver.execute_query("MATCH ()-[r:SIMILAR_TO {run_id: 'another-run'}]->() DELETE r")
    before = dump(neo4j_driver)
    export_cli(sim_detection, neo4j_server.bolt_uri, "--communities", "top:2")
    assert dump(neo4j_driver) == before


def _tiny_selection() -> Selection:
    t = pd.Timestamp("2026-09-01 12:00:00.123456789", tz="UTC")
    run_id = "tiny-run"
    accounts = pd.DataFrame({
        "account_id": ["a1", "a2", "a3"], "suspicion": [0.9, 0.4, 0.1],
        "created_at": pd.Series([t, pd.NaT, t], dtype="datetime64[ns, UTC]"),
        "run_id": run_id})
    ips = pd.DataFrame({"ip": ["10.0.0.1", "10.0.0.2"]})
    used_ip = pd.DataFrame({
        START: ["a1", "a1", "a2", "a3"], END: ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.9.9.9"],
        "count": [1, 2, 3, 4],
        "first_seen": pd.Series([t, t, pd.NaT, t], dtype="datetime64[ns, UTC]"),
        "run_id": run_id})
    similar = pd.DataFrame({START: ["a1"], END: ["a2"], "score": [0.7], "run_id": run_id})
    return Selection(run_id=run_id, nodes={"Account": accounts, "IP": ips},
                     relationships={"USED_IP": used_ip, "SIMILAR_TO": similar})


@pytest.mark.parametrize("batch_size", [1, 2, 10_000])
def test_write_selection_rows_it_cannot_write_twice(neo4j_driver: Driver,
                                                    batch_size: int) -> None:
    """A repeated (start, end) row gives one relationship with the last row's properties, as
    MERGE then SET did; a row whose end is not a selected node gives none; null datetimes are
    left unset; the band labels follow suspicion."""
    selection = _tiny_selection()
    apply_schema(neo4j_driver)
    for _ in range(2):
        write_selection(neo4j_driver, selection, batch_size=batch_size)
        records, _, _ = neo4j_driver.execute_query(
            "MATCH (a:Account)-[r:USED_IP]->(i:IP) RETURN a.account_id AS a, i.ip AS ip, "
            "properties(r) AS r ORDER BY a")
        got = [(r["a"], r["ip"], r["r"]["count"], "first_seen" in r["r"], r["r"]["run_id"])
               for r in records]
        assert got == [("a1", "10.0.0.1", 2, True, "tiny-run"),
                       ("a2", "10.0.0.2", 3, False, "tiny-run")]
        first = records[0]["r"]["first_seen"].to_native()
        assert pd.Timestamp(first) == pd.Timestamp("2026-09-01 12:00:00.123456", tz="UTC")
        assert records[0]["r"]["first_seen"].nanosecond == 123456789
        records, _, _ = neo4j_driver.execute_query(
            "MATCH (a:Account) RETURN a.account_id AS a, labels(a) AS labels, "
            "a.created_at IS NULL AS no_created ORDER BY a")
        assert [(r["a"], sorted(r["labels"]), r["no_created"]) for r in records] == [
            ("a1", ["Account", "SuspicionHigh"], False),
            ("a2", ["Account", "SuspicionMedium"], True),
            ("a3", ["Account"], False)]
        assert rel_counts(neo4j_driver) == {"USED_IP": 2, "SIMILAR_TO": 1}
        records, _, _ = neo4j_driver.execute_query("MATCH (n:IP) RETURN count(n) AS n")
        assert records[0]["n"] == 2
