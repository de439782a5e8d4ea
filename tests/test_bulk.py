"""The bulk path: `graphkit export --format neo4j-admin` CSVs imported with the real
`neo4j-admin database import full` from the server's own jars into a fresh database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _neo4j_expect import dump, expected_export, label_counts, rel_counts, top
from click.testing import CliRunner
from neo4j import Driver, GraphDatabase

from graphkit.cli import main
from graphkit.neo4j import server as ns
from graphkit.neo4j.selection import SUSPICION_BANDS

pytestmark = pytest.mark.neo4j


def test_bulk_files_import_with_the_real_tool_and_match_the_bolt_export(
    neo4j_server: ns.ServerInfo, neo4j_driver: Driver, neo4j_auth: tuple[str, str],
    sim_detection: Path, tmp_path: Path, free_port: Callable[[], int],
) -> None:
    exp = expected_export(sim_detection, top(sim_detection, 4))
    out = tmp_path / "bulk"
    res = CliRunner().invoke(main, ["export", str(sim_detection), "--communities", "top:4",
                                    "--format", "neo4j-admin", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "import.sh").is_file()
    nodes = sorted(out.glob("nodes/*.csv"))
    rels = sorted(out.glob("relationships/*.csv"))
    assert {p.stem for p in nodes} == set(exp.node_counts())
    assert {p.stem for p in rels} == set(exp.rel_counts())

    inst = tmp_path / "imported"
    report = ns.admin_import(neo4j_server.home, "graphkit", [(None, p) for p in nodes],
                             [(None, p) for p in rels], instance=inst,
                             multiline_fields=True)  # evidence Cypher spans lines
    assert report.nodes == sum(exp.node_counts().values())
    assert report.relationships == sum(exp.rel_counts().values())

    # The same scenario over Bolt, for comparison.
    res = CliRunner().invoke(main, ["export", str(sim_detection), "--communities", "top:4"],
                             env={"NEO4J_URI": neo4j_server.bolt_uri})
    assert res.exit_code == 0, res.output
    bolt = dump(neo4j_driver)

    with ns.running(neo4j_server.home, free_port(), free_port(), instance=inst,
                    database="graphkit") as second, \
            GraphDatabase.driver(second.bolt_uri, auth=neo4j_auth) as driver:
        labels = label_counts(driver)
        assert {k: v for k, v in labels.items() if k not in dict(SUSPICION_BANDS)} == \
            exp.node_counts()
        assert rel_counts(driver) == exp.rel_counts()
        # Both paths give the same graph: every node and relationship, every property and type.
        assert dump(driver) == bolt
