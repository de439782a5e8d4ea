"""Export of a detected simulated scenario to the real local Neo4j, and the investigator kit.

Expected counts and rows are computed from the detection output files (tests/_neo4j_expect.py),
never from graphkit.neo4j.export.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from _neo4j_expect import (
    ACCOUNT_RELS,
    Expected,
    dump,
    expected_export,
    label_counts,
    rel_counts,
    top,
)
from click.testing import CliRunner
from neo4j import Driver

from graphkit.cli import main
from graphkit.errors import ConfigError, ExportError
from graphkit.investigate.cypher import COMMUNITY_QUERY
from graphkit.neo4j import server as ns
from graphkit.neo4j.credentials import open_driver
from graphkit.neo4j.cypher import SCHEMA_STATEMENTS
from graphkit.neo4j.export import export_to_neo4j
from graphkit.neo4j.selection import SUSPICION_BANDS

pytestmark = pytest.mark.neo4j

CYPHER = Path(__file__).resolve().parent.parent / "cypher"


def expected_labels(exp: Expected) -> dict[str, int]:
    out = exp.node_counts()
    suspicion = exp.members["suspicion"]
    upper = float("inf")
    for band, floor in SUSPICION_BANDS:  # highest band first
        n = int(((suspicion >= floor) & (suspicion < upper)).sum())
        if n:
            out[band] = n
        upper = floor
    return out


def export_cli(result_dir: Path, uri: str, *args: str) -> str:
    res = CliRunner().invoke(main, ["export", str(result_dir), *args], env={"NEO4J_URI": uri})
    assert res.exit_code == 0, res.output
    return res.output


def assert_graph_is(driver: Driver, exp: Expected) -> None:
    assert label_counts(driver) == expected_labels(exp)
    assert rel_counts(driver) == exp.rel_counts()


@pytest.fixture
def exported(neo4j_server: ns.ServerInfo, neo4j_driver: Driver, sim_detection: Path) -> Expected:
    """The four most suspicious communities of the simulated scenario, exported by the CLI."""
    chosen = top(sim_detection, 4)
    out = export_cli(sim_detection, neo4j_server.bolt_uri, "--communities", "top:4")
    assert f"exported {len(chosen)} communities" in out
    return expected_export(sim_detection, chosen)


def test_export_writes_exactly_the_selected_graph(neo4j_driver: Driver, exported: Expected,
                                                  sim_detection: Path) -> None:
    exp = exported
    assert_graph_is(neo4j_driver, exp)
    # Relationship aggregates travel unchanged.
    for rel in ACCOUNT_RELS:
        records, _, _ = neo4j_driver.execute_query(
            f"MATCH ()-[r:{rel}]->() RETURN sum(r.count) AS n, sum(r.share) AS share")
        assert records[0]["n"] == int(exp.rels[rel]["count"].sum())
        assert records[0]["share"] == pytest.approx(float(exp.rels[rel]["share"].sum()))
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account)-[r:SIMILAR_TO]->(b:Account) "
        "RETURN a.account_id AS a, b.account_id AS b, r.score AS score, r.payment AS payment, "
        "r.run_id AS run_id")
    got = {(r["a"], r["b"]): (r["score"], r["payment"]) for r in records}
    sim = exp.rels["SIMILAR_TO"]
    assert got == {(a, b): (s, p) for a, b, s, p in zip(sim["s"], sim["e"], sim["score"],
                                                        sim["payment"], strict=True)}
    assert {r["run_id"] for r in records} == {exp.run_id}
    # Accounts: scores from accounts.csv, facts from the graph, band labels by suspicion.
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account)-[m:MEMBER_OF]->(c:Community) RETURN a.account_id AS id, "
        "a.suspicion AS s, a.status AS status, a.created_at AS created, m.membership AS m, "
        "c.community_id AS c, c.run_id AS run, labels(a) AS labels")
    members = exp.members.set_index("account_id")
    facts = exp.account_facts.set_index("key")
    for r in records:
        row = members.loc[r["id"]]
        assert (r["s"], r["m"], r["c"], r["run"]) == (
            row["suspicion"], row["membership"], row["community_id"], exp.run_id)
        assert r["status"] == facts.loc[r["id"], "status"]
        created = pd.Timestamp(facts.loc[r["id"], "created_at"]).tz_localize("UTC")
        assert pd.Timestamp(r["created"].to_native()) == created
        bands = [b for b, floor in SUSPICION_BANDS if row["suspicion"] >= floor][:1]
        assert sorted(r["labels"]) == sorted(["Account", *bands])
    # Community nodes carry the detection's scores and evidence.
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (c:Community) RETURN c.community_id AS id, c.suspicion AS s, c.evidence AS ev, "
        "c.actor AS actor, c.size AS size")
    comms = exp.communities.set_index("community_id")
    assert {r["id"] for r in records} == set(comms.index)
    for r in records:
        assert (r["s"], r["ev"], r["size"]) == (comms.loc[r["id"], "suspicion"],
                                                comms.loc[r["id"], "evidence"],
                                                comms.loc[r["id"], "size"])
        actor = comms.loc[r["id"], "actor"]
        assert r["actor"] == (None if pd.isna(actor) else actor)
    assert any(r["actor"] for r in records)  # seeded campaigns are attributed


def test_second_export_changes_nothing(neo4j_server: ns.ServerInfo, neo4j_driver: Driver,
                                       exported: Expected, sim_detection: Path) -> None:
    before = dump(neo4j_driver)
    export_cli(sim_detection, neo4j_server.bolt_uri, "--communities", "top:4")
    assert_graph_is(neo4j_driver, exported)
    assert dump(neo4j_driver) == before


def test_replace_removes_the_previous_run(neo4j_server: ns.ServerInfo, neo4j_driver: Driver,
                                          exported: Expected, sim_detection_other: Path) -> None:
    other = expected_export(sim_detection_other, top(sim_detection_other, 2))
    assert other.run_id != exported.run_id
    assert not exported.ids <= other.ids  # some accounts belong to the old run only
    # Without --replace the two runs live side by side: one Community node per run.
    export_cli(sim_detection_other, neo4j_server.bolt_uri, "--communities", "top:2")
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (c:Community) RETURN c.run_id AS run, count(*) AS n")
    assert {r["run"]: r["n"] for r in records} == {
        exported.run_id: len(exported.communities), other.run_id: len(other.communities)}
    records, _, _ = neo4j_driver.execute_query(
        "MATCH ()-[r:SIMILAR_TO]->() RETURN r.run_id AS run, count(*) AS n")
    assert {r["run"]: r["n"] for r in records} == {
        exported.run_id: len(exported.rels["SIMILAR_TO"]),
        other.run_id: len(other.rels["SIMILAR_TO"])}
    # With --replace only the new run is left, exactly as if exported alone.
    export_cli(sim_detection_other, neo4j_server.bolt_uri, "--communities", "top:2",
               "--replace")
    assert_graph_is(neo4j_driver, other)
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (n) WHERE n.run_id = $old RETURN count(n) AS n", old=exported.run_id)
    assert records[0]["n"] == 0
    records, _, _ = neo4j_driver.execute_query(
        "MATCH ()-[r]->() WHERE r.run_id = $old RETURN count(r) AS n", old=exported.run_id)
    assert records[0]["n"] == 0


def test_selection_options(neo4j_server: ns.ServerInfo, neo4j_driver: Driver,
                           sim_detection: Path) -> None:
    comms = pd.read_csv(sim_detection / "communities.csv")
    ranked = comms.sort_values(["suspicion", "size"], ascending=False)
    top2 = top(sim_detection, 2)
    report = export_to_neo4j(sim_detection, neo4j_server.bolt_uri, communities="top:2",
                             batch_size=7)  # many small transactions give the same graph
    assert sorted(report.community_ids) == sorted(top2)
    assert_graph_is(neo4j_driver, expected_export(sim_detection, top2))
    # --community IDs and --min-suspicion, with --replace.
    low = int(ranked["community_id"].iloc[-1])
    export_cli(sim_detection, neo4j_server.bolt_uri, "--community", str(top2[1]),
               "--community", str(low), "--min-suspicion",
               str(float(ranked["suspicion"].iloc[1])), "--replace")
    assert_graph_is(neo4j_driver, expected_export(sim_detection, [top2[1]]))


def test_schema_file_is_what_export_applies(neo4j_driver: Driver, exported: Expected) -> None:
    text = (CYPHER / "schema.cypher").read_text()
    statements = [s.strip() for s in re.sub(r"//.*", "", text).split(";") if s.strip()]
    assert statements == [" ".join(s.split()) for s in SCHEMA_STATEMENTS]
    records, _, _ = neo4j_driver.execute_query(
        "SHOW CONSTRAINTS YIELD name, type WHERE name STARTS WITH 'graphkit_' RETURN name, type")
    assert len(records) == sum(s.startswith("CREATE CONSTRAINT") for s in statements)
    assert {r["type"] for r in records} == {"UNIQUENESS"}


def test_bad_targets_are_clear_errors(sim_detection: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-not-to-be-shown"
    monkeypatch.setenv("NEO4J_USER", "investigator")
    monkeypatch.setenv("NEO4J_PASSWORD", secret)
    with socket_closed() as port:
        # neo4j+s:// is accepted (TLS to a managed server); nothing listens there.
        with pytest.raises(ExportError, match=f"cannot connect to Neo4j at neo4j\\+s://127.0.0.1:{port}"):
            open_driver(f"neo4j+s://127.0.0.1:{port}")
        res = CliRunner().invoke(main, ["export", str(sim_detection)],
                                 env={"NEO4J_URI": f"bolt+s://127.0.0.1:{port}"})
    assert res.exit_code == 2 and secret not in res.output and "Traceback" not in res.output
    with pytest.raises(ConfigError, match="invalid Neo4j URI"):
        open_driver("http://127.0.0.1:7474")
    monkeypatch.delenv("NEO4J_URI", raising=False)
    with pytest.raises(ConfigError, match="no Neo4j URI"):
        export_to_neo4j(sim_detection)
    res = CliRunner().invoke(main, ["export", str(tmp_path), "--neo4j-uri", "bolt://x:1"])
    assert res.exit_code == 2 and "manifest.json" in res.output
    res = CliRunner().invoke(main, ["export", str(sim_detection), "--neo4j-uri", "bolt://x:1",
                                    "--community", "99999"])
    assert res.exit_code == 2 and "no community 99999" in res.output
    res = CliRunner().invoke(main, ["export", str(sim_detection), "--neo4j-uri", "bolt://x:1",
                                    "--communities", "best:3"])
    assert res.exit_code == 2 and "invalid community selection" in res.output


class socket_closed:
    """A port on 127.0.0.1 that refuses connections."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        return self.port

    def __exit__(self, *exc: object) -> None:
        return None


# --- the investigator kit ------------------------------------------------------------------------

def kit(name: str) -> str:
    (path,) = CYPHER.glob(f"queries/*{name}.cypher")
    text = path.read_text()
    assert text.startswith("// ") and "Parameters:" in text  # a header comment
    return text


def account_graph(exp: Expected) -> nx.Graph:
    g = nx.Graph()
    for rel in ("SIMILAR_TO", "USED_IP", "PAID_WITH", "SENT"):
        df = exp.rels[rel]
        end = "Account" if rel == "SIMILAR_TO" else ACCOUNT_RELS[rel][0]
        g.add_edges_from((("Account", s), (end, e))
                         for s, e in zip(df["s"], df["e"], strict=True))
    return g


def test_kit_top_communities(neo4j_driver: Driver, exported: Expected) -> None:
    records, _, _ = neo4j_driver.execute_query(kit("top_communities"), run_id=exported.run_id,
                                               limit=3)
    ranked = exported.communities.sort_values(["suspicion", "size", "community_id"],
                                              ascending=[False, False, True])
    assert [r["community_id"] for r in records] == list(ranked["community_id"].head(3))
    assert [r["evidence"] for r in records] == list(ranked["evidence"].head(3))


def run_community_query(driver: Driver, text: str, params: dict[str, object]
                        ) -> tuple[set[str], set[str]]:
    records, _, _ = driver.execute_query(text, **params)
    accounts = {r["a"]["account_id"] for r in records}
    keys = {next(iter(r["e"][k] for k in ("ip", "payment_id", "template_hash", "user_agent")
                      if k in r["e"])) for r in records if r["e"] is not None}
    return accounts, keys


def test_kit_community_infrastructure_and_evidence_cypher(neo4j_driver: Driver,
                                                          exported: Expected) -> None:
    text = kit("community_infrastructure")
    # The query communities.csv points investigators to is the kit's query.
    assert " ".join(re.sub(r"//.*", "", text).split()) == " ".join(COMMUNITY_QUERY.split())
    for community, cypher in zip(exported.communities["community_id"],
                                 exported.communities["cypher"], strict=True):
        want_accounts, want_keys = exported.community_view(int(community))
        assert want_keys  # every suspicious community shares something
        got = run_community_query(neo4j_driver, text,
                                  {"run_id": exported.run_id, "community_id": int(community)})
        assert got == (want_accounts, want_keys)
        # The evidence's own Cypher (":param" lines, then the query) shows the same.
        params = {m[0]: json.loads(m[1]) for m in
                  re.findall(r"^:param (\w+) => (.*)$", cypher, re.MULTILINE)}
        query = "\n".join(line for line in cypher.splitlines() if not line.startswith(":param"))
        assert params == {"run_id": exported.run_id, "community_id": int(community)}
        assert run_community_query(neo4j_driver, query, params) == got


def test_kit_account_neighbourhood(neo4j_driver: Driver, exported: Expected) -> None:
    g = account_graph(exported)
    members = exported.members.set_index("account_id")
    text = kit("account_neighbourhood")
    for account in list(members.index[:5]):
        hops = nx.single_source_shortest_path_length(g, ("Account", account), cutoff=2)
        want = {k[1]: d for k, d in hops.items() if k[0] == "Account" and k[1] != account}
        records, _, _ = neo4j_driver.execute_query(text, account_id=account)
        assert {r["account_id"]: r["hops"] for r in records} == want
        assert all(r["community_id"] == members.loc[r["account_id"], "community_id"]
                   for r in records)


def test_kit_payment_method_users(neo4j_driver: Driver, exported: Expected) -> None:
    paid = exported.rels["PAID_WITH"]
    users = paid.groupby("e")["s"].nunique().sort_values(ascending=False)
    for payment in users.index[:3]:
        assert users[payment] >= 2
        records, _, _ = neo4j_driver.execute_query(kit("payment_method_users"),
                                                   payment_id=payment)
        want = paid[paid["e"] == payment]
        assert {r["account_id"]: r["requests"] for r in records} == dict(
            zip(want["s"], want["count"], strict=True))


def test_kit_banned_replacements(neo4j_driver: Driver, exported: Expected) -> None:
    facts = exported.account_facts.set_index("key")
    infra = pd.concat([exported.rels["USED_IP"][["s", "e"]], exported.rels["PAID_WITH"][["s", "e"]]])
    by_account = infra.groupby("s")["e"].agg(set)
    hours = 72
    text = kit("banned_replacements")
    banned = facts[facts["banned_at"].notna()]
    found = 0
    for account, row in banned.iterrows():
        window_end = row["banned_at"] + pd.Timedelta(hours=hours)
        later = facts[(facts["created_at"] >= row["banned_at"])
                      & (facts["created_at"] < window_end) & (facts.index != account)]
        mine = by_account.get(account, set())
        want = {a for a in later.index if by_account.get(a, set()) & mine}
        records, _, _ = neo4j_driver.execute_query(text, account_id=account, hours=hours)
        assert {r["account_id"] for r in records} == want, account
        for r in records:
            assert set(r["shared"]) == by_account[r["account_id"]] & mine
        found += len(want)
    assert found > 0  # the hydra campaign replaces banned accounts


def test_kit_model_release_movers(neo4j_driver: Driver, exported: Expected) -> None:
    assert exported.releases  # the scenario releases a model mid-way
    called = exported.rels["CALLED"]
    text = kit("model_release_movers")
    movers = 0
    for model, released in exported.releases.items():
        start = pd.Timestamp(released)
        want = called[(called["e"] == model) & (called["first_seen"] < start + pd.Timedelta(hours=24))
                      & (called["share"] >= 0.2)]
        records, _, _ = neo4j_driver.execute_query(text, model=model, hours=24, min_share=0.2)
        assert {r["account_id"]: r["requests"] for r in records} == dict(
            zip(want["s"], want["count"], strict=True))
        movers += len(want)
    assert movers > 0


def test_kit_succession_chain(neo4j_driver: Driver, exported: Expected) -> None:
    succ = exported.rels["SUCCEEDED_BY"]
    assert len(succ)  # the hydra's chains are among the exported communities
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (a:Account)-[r:SUCCEEDED_BY]->(b:Account) RETURN a.account_id AS a, "
        "b.account_id AS b, r.confidence AS c")
    assert {(r["a"], r["b"]): r["c"] for r in records} == {
        (s, e): c for s, e, c in zip(succ["s"], succ["e"], succ["confidence"], strict=True)}
    g = nx.DiGraph(list(zip(succ["s"], succ["e"], strict=True)))
    chain = max(nx.weakly_connected_components(g), key=len)
    path = nx.dag_longest_path(g.subgraph(chain))
    middle = path[len(path) // 2]
    records, _, _ = neo4j_driver.execute_query(kit("succession_chain"), account_id=middle)
    assert [(r["predecessor"], r["successor"]) for r in records] == [
        (path[i], path[i + 1]) for i in range(len(path) - 1)]
