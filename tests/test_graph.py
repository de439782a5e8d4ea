"""The heterogeneous graph on the hand-built fixture (fixtures/hand/), every figure counted by hand.

fixtures/hand/events.csv has 20 events of accounts a1 (6), a2 (5), a3 (4) and a5 (5);
fixtures/hand/accounts.csv declares a1..a4 (a4 has no events, a5 is not declared). The expected
values below were worked out from those files with pencil and paper (see fixtures/hand/README.md),
not produced by graphkit.
"""

from __future__ import annotations

import json
from pathlib import Path

import igraph as ig
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import graphkit
from graphkit.cli import main
from graphkit.errors import ConfigError, InputError
from graphkit.graph.hetero import HeteroGraph, account_codes
from graphkit.io.templates import template_hash

HAND = Path(__file__).resolve().parent.parent / "fixtures" / "hand"
EVENTS, ACCOUNTS, SEEDS = HAND / "events.csv", HAND / "accounts.csv", HAND / "seeds.csv"

EXPECTED_SUMMARY = {
    "nodes": {"Account": 5, "IP": 5, "PaymentMethod": 4, "ProxyProvider": 2,
              "PromptTemplate": 4, "UserAgent": 2, "Model": 2},
    "edges": {"USED_IP": 9, "PAID_WITH": 7, "SENT": 11, "OPERATED_BY": 3, "USED_AGENT": 3,
              "CALLED": 7},
}

# One representative prompt per template; every other filling must hash the same.
T_SUM = template_hash("summarize order #1 for x@y.io")
T_TR = template_hash("translate 'x' into french")
T_GRADE = template_hash("grade answer 1 of 2")
T_HAIKU = template_hash("write a haiku about rain")


def _t(hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"2024-05-01 {hhmm}")


# (source key, target key) -> (count, first_seen, last_seen, share of the source's events)
EXPECTED_EDGES: dict[str, dict[tuple[str, str], tuple[int, str | None, str | None, float]]] = {
    "USED_IP": {
        ("a1", "10.0.0.1"): (3, "08:00", "12:00", 3 / 6),  # 14:00+02:00 is 12:00 UTC
        ("a1", "10.0.0.2"): (2, "10:00", "11:00", 2 / 6),
        ("a1", "198.51.100.7"): (1, "13:00", "13:00", 1 / 6),  # zone-less = UTC
        ("a2", "10.0.0.2"): (3, "08:30", "12:30", 3 / 5),
        ("a2", "198.51.100.7"): (2, "10:30", "11:30", 2 / 5),
        ("a3", "2001:db8::1"): (3, "07:00", "07:30", 3 / 4),  # 2001:DB8::1 is the same address
        ("a3", "10.0.0.1"): (1, "20:00", "20:00", 1 / 4),
        ("a5", "203.0.113.9"): (4, "09:00", "09:20", 4 / 5),
        ("a5", "10.0.0.1"): (1, "09:10", "09:10", 1 / 5),
    },
    "PAID_WITH": {
        ("a1", "pm_A"): (5, "08:00", "13:00", 5 / 6),
        ("a2", "pm_A"): (1, "11:30", "11:30", 1 / 5),
        ("a2", "pm_B"): (4, "08:30", "12:30", 4 / 5),
        ("a3", "pm_C"): (2, "07:30", "20:00", 2 / 4),
        ("a3", "pm_D"): (0, None, None, 0.0),  # accounts file only
        ("a4", "pm_A"): (0, None, None, 0.0),  # accounts file only, account without events
        ("a5", "pm_B"): (2, "09:00", "09:05", 2 / 5),
    },
    "SENT": {
        ("a1", T_SUM): (3, "08:00", "12:00", 3 / 6),
        ("a1", T_TR): (2, "10:00", "11:00", 2 / 6),
        ("a1", T_GRADE): (1, "13:00", "13:00", 1 / 6),
        ("a2", T_TR): (1, "08:30", "08:30", 1 / 5),
        ("a2", T_GRADE): (3, "09:30", "11:30", 3 / 5),
        ("a2", T_SUM): (1, "12:30", "12:30", 1 / 5),
        ("a3", T_HAIKU): (3, "07:00", "07:30", 3 / 4),
        ("a3", T_SUM): (1, "20:00", "20:00", 1 / 4),
        ("a5", T_GRADE): (2, "09:00", "09:05", 2 / 5),  # share counts the prompt-less event too
        ("a5", T_TR): (1, "09:15", "09:15", 1 / 5),
        ("a5", T_SUM): (1, "09:20", "09:20", 1 / 5),
    },
    "OPERATED_BY": {  # share = fraction of the IP's events
        ("10.0.0.2", "brightproxy"): (3, "09:30", "11:00", 3 / 5),
        ("198.51.100.7", "brightproxy"): (3, "10:30", "13:00", 3 / 3),
        ("2001:db8::1", "hydra-net"): (3, "07:00", "07:30", 3 / 3),
    },
    "USED_AGENT": {
        ("a1", "curl/8.0"): (5, "08:00", "13:00", 5 / 6),
        ("a2", "python-requests/2.31"): (4, "08:30", "12:30", 4 / 5),
        ("a3", "curl/8.0"): (4, "07:00", "20:00", 4 / 4),
    },
    "CALLED": {
        ("a1", "m-large"): (4, "08:00", "13:00", 4 / 6),
        ("a1", "m-small"): (2, "10:00", "11:00", 2 / 6),
        ("a2", "m-small"): (2, "08:30", "09:30", 2 / 5),
        ("a2", "m-large"): (2, "10:30", "11:30", 2 / 5),
        ("a3", "m-small"): (3, "07:00", "07:30", 3 / 4),
        ("a3", "m-large"): (1, "20:00", "20:00", 1 / 4),
        ("a5", "m-small"): (1, "09:20", "09:20", 1 / 5),
    },
}


@pytest.fixture(scope="module")
def dataset() -> graphkit.io.Dataset:
    return graphkit.load(EVENTS, ACCOUNTS, SEEDS)


@pytest.fixture(scope="module")
def graph(dataset: graphkit.io.Dataset) -> HeteroGraph:
    return graphkit.build_graph(dataset)


def _keyed(graph: HeteroGraph, etype: str) -> dict[tuple[str, str], tuple]:
    """Edge table re-keyed by node keys, timestamps as HH:MM (None when missing)."""
    df = graph.edges[etype]
    src_t, dst_t, _ = graphkit.graph.hetero.EDGE_TYPES[etype]
    sk = graph.nodes[src_t]["key"].to_numpy(dtype=object)[df["src"].to_numpy()]
    dk = graph.nodes[dst_t]["key"].to_numpy(dtype=object)[df["dst"].to_numpy()]

    def hm(ts: pd.Timestamp) -> str | None:
        return None if pd.isna(ts) else ts.strftime("%H:%M")

    return {(s, d): (int(c), hm(f), hm(la), float(sh)) for s, d, c, f, la, sh in zip(
        sk, dk, df["count"], df["first_seen"], df["last_seen"], df["share"], strict=True)}


def test_summary_counts_by_hand(graph: HeteroGraph) -> None:
    assert graph.summary() == EXPECTED_SUMMARY
    assert graph.meta["n_events"] == 20


def test_cli_build_json_matches_hand_counts() -> None:
    res = CliRunner().invoke(main, ["build", str(EVENTS), "--accounts", str(ACCOUNTS), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == EXPECTED_SUMMARY
    assert res.stdout.count("\n") == 1  # exactly one JSON object, one line


def test_cli_build_text_and_out(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["build", str(EVENTS), "--accounts", str(ACCOUNTS),
                                    "--seeds", str(SEEDS), "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    assert "events: 20" in res.stdout
    assert "  SENT            11" in res.stdout
    saved = HeteroGraph.load(tmp_path / "g")
    assert saved.summary() == EXPECTED_SUMMARY


@pytest.mark.parametrize("etype", list(EXPECTED_EDGES))
def test_edge_aggregates_by_hand(graph: HeteroGraph, etype: str) -> None:
    got = _keyed(graph, etype)
    want = EXPECTED_EDGES[etype]
    assert set(got) == set(want)
    for key, (count, first, last, share) in want.items():
        g_count, g_first, g_last, g_share = got[key]
        assert (g_count, g_first, g_last) == (count, first, last), key
        assert g_share == pytest.approx(share, abs=1e-12), key


def test_edges_sorted_and_integer_coded(graph: HeteroGraph) -> None:
    for etype, df in graph.edges.items():
        assert df["src"].dtype == np.int32 and df["dst"].dtype == np.int32, etype
        assert df["count"].dtype == np.int64, etype
        pairs = list(zip(df["src"], df["dst"], strict=True))
        assert pairs == sorted(pairs) and len(set(pairs)) == len(pairs), etype


def test_paid_with_marks_its_source(graph: HeteroGraph) -> None:
    df = graph.edges["PAID_WITH"]
    acc = graph.accounts["key"].to_numpy(dtype=object)[df["src"].to_numpy()]
    pm = graph.nodes["PaymentMethod"]["key"].to_numpy(dtype=object)[df["dst"].to_numpy()]
    flags = {(a, p): (bool(e), bool(f)) for a, p, e, f in zip(
        acc, pm, df["from_events"], df["from_accounts_file"], strict=True)}
    assert flags == {
        ("a1", "pm_A"): (True, True), ("a2", "pm_A"): (True, False),
        ("a2", "pm_B"): (True, False), ("a3", "pm_C"): (True, False),
        ("a3", "pm_D"): (False, True), ("a4", "pm_A"): (False, True),
        ("a5", "pm_B"): (True, False),
    }


def test_node_tables(graph: HeteroGraph) -> None:
    acc = graph.accounts
    assert list(acc["key"]) == ["a1", "a2", "a3", "a4", "a5"]
    assert list(acc["n_events"]) == [6, 5, 4, 0, 5]
    assert list(acc["tokens_in"]) == [60, 35, 20, 0, 1]
    assert list(acc["tokens_out"]) == [405, 350, 200, 0, 10]
    assert acc["tokens_in"].dtype.kind == "i" and acc["n_events"].dtype.kind == "i"
    assert list(acc["status"].fillna("")) == ["active", "active", "banned", "banned", ""]
    assert list(acc["org_id"].fillna("")) == ["", "org-1", "", "org-1", ""]
    assert acc["first_seen"].iloc[0] == _t("08:00") and acc["last_seen"].iloc[2] == _t("20:00")
    assert pd.isna(acc["first_seen"].iloc[3])  # a4: declared, never seen in events
    ip = graph.nodes["IP"].set_index("key")
    assert ip.loc["10.0.0.1", "n_events"] == 5 and ip.loc["10.0.0.1", "n_accounts"] == 3
    assert ip["n_events"].dtype.kind == "i"
    assert list(graph.nodes["IP"]["key"]) == sorted(ip.index)
    pm = graph.nodes["PaymentMethod"].set_index("key")
    assert pm["n_events"].to_dict() == {"pm_A": 6, "pm_B": 6, "pm_C": 2, "pm_D": 0}
    assert pm["n_accounts"].to_dict() == {"pm_A": 3, "pm_B": 2, "pm_C": 1, "pm_D": 1}
    tpl = graph.nodes["PromptTemplate"].set_index("key")["n_events"].to_dict()
    assert tpl == {T_SUM: 6, T_TR: 4, T_GRADE: 6, T_HAIKU: 3}
    proxy = graph.nodes["ProxyProvider"].set_index("key")
    assert proxy["n_ips"].to_dict() == {"brightproxy": 2, "hydra-net": 1}


def test_templates_table(dataset: graphkit.io.Dataset) -> None:
    got = dict(dataset.con.execute(
        "SELECT template_text, n_events FROM templates").fetchall())
    assert got == {"summarize order #<num> for <email>": 6, "translate <str> into french": 4,
                   "grade answer <num> of <num>": 6, "write a haiku about rain": 3}


def test_seeds(dataset: graphkit.io.Dataset) -> None:
    assert dataset.seeds is not None
    assert dataset.seeds.values.tolist() == [["a1", "fleet-x"], ["a2", "fleet-x"]]


def test_incidence(graph: HeteroGraph) -> None:
    mat, ips = graph.incidence("USED_IP")
    assert mat.shape == (5, 5)
    col = {k: i for i, k in enumerate(ips["key"])}
    assert mat[0, col["10.0.0.1"]] == 3 and mat[4, col["203.0.113.9"]] == 4
    assert mat.sum() == 20  # every event has exactly one IP
    pay, pms = graph.incidence("PAID_WITH")
    pcol = {k: i for i, k in enumerate(pms["key"])}
    assert pay[3, pcol["pm_A"]] == 1  # file-only link weighs 1
    assert pay.sum() == 5 + 1 + 4 + 2 + 1 + 1 + 2
    with pytest.raises(ConfigError):
        graph.incidence("NOPE")


def test_neighbors(graph: HeteroGraph) -> None:
    nb = graph.neighbors("Account", "a5")
    got = {(r.edge_type, r.node_type, r.key, r.count) for r in nb.itertuples()}
    assert got == {("USED_IP", "IP", "203.0.113.9", 4), ("USED_IP", "IP", "10.0.0.1", 1),
                   ("PAID_WITH", "PaymentMethod", "pm_B", 2),
                   ("SENT", "PromptTemplate", T_GRADE, 2), ("SENT", "PromptTemplate", T_TR, 1),
                   ("SENT", "PromptTemplate", T_SUM, 1), ("CALLED", "Model", "m-small", 1)}
    assert set(nb["direction"]) == {"out"}
    ip = graph.neighbors("IP", "10.0.0.2")
    got_ip = {(r.edge_type, r.direction, r.key, r.count) for r in ip.itertuples()}
    assert got_ip == {("USED_IP", "in", "a1", 2), ("USED_IP", "in", "a2", 3),
                      ("OPERATED_BY", "out", "brightproxy", 3)}
    assert set(graph.neighbors("PaymentMethod", "pm_A")["key"]) == {"a1", "a2", "a4"}
    with pytest.raises(ConfigError):
        graph.neighbors("Account", "nobody")
    with pytest.raises(ConfigError):
        graph.neighbors("Planet", "a1")


def test_account_codes(graph: HeteroGraph) -> None:
    assert account_codes(graph, ["a5", "a1", "zz"]).tolist() == [4, 0, -1]


def test_to_igraph(graph: HeteroGraph) -> None:
    g = graph.to_igraph()
    assert isinstance(g, ig.Graph) and g.is_directed()
    assert g.vcount() == sum(EXPECTED_SUMMARY["nodes"].values())
    assert g.ecount() == sum(EXPECTED_SUMMARY["edges"].values())
    assert dict(pd.Series(g.vs["type"]).value_counts()) == EXPECTED_SUMMARY["nodes"]
    assert dict(pd.Series(g.es["type"]).value_counts()) == EXPECTED_SUMMARY["edges"]
    a3 = g.vs.find(type="Account", key="a3")
    ipv6 = g.vs.find(type="IP", key="2001:db8::1")
    e = g.es[g.get_eid(a3.index, ipv6.index)]
    assert (e["type"], e["count"], e["share"]) == ("USED_IP", 3, 0.75)
    hydra = g.vs.find(type="ProxyProvider", key="hydra-net")
    assert g.es[g.get_eid(ipv6.index, hydra.index)]["type"] == "OPERATED_BY"


def test_to_networkx_subgraph(graph: HeteroGraph) -> None:
    sub = graph.to_networkx(["a3"], hops=1)
    assert set(sub.nodes) == {
        ("Account", "a3"), ("IP", "2001:db8::1"), ("IP", "10.0.0.1"),
        ("PaymentMethod", "pm_C"), ("PaymentMethod", "pm_D"),
        ("PromptTemplate", T_HAIKU), ("PromptTemplate", T_SUM),
        ("UserAgent", "curl/8.0"), ("Model", "m-small"), ("Model", "m-large")}
    # hydra-net is two hops away, so the subgraph holds exactly a3's own edges (and no edge of
    # a neighbour's other neighbours).
    assert sub.number_of_edges() == 2 + 2 + 2 + 1 + 2
    edge = sub.edges[("Account", "a3"), ("IP", "2001:db8::1")]
    assert (edge["type"], edge["count"], edge["share"]) == ("USED_IP", 3, 0.75)
    assert sub.nodes[("Account", "a3")]["status"] == "banned"
    two = graph.to_networkx([("ProxyProvider", "hydra-net")], hops=2)
    assert set(two.nodes) == {("ProxyProvider", "hydra-net"), ("IP", "2001:db8::1"),
                              ("Account", "a3")}
    assert set(two.edges) == {(("IP", "2001:db8::1"), ("ProxyProvider", "hydra-net")),
                              (("Account", "a3"), ("IP", "2001:db8::1"))}
    assert set(graph.to_networkx(["a4"], hops=0).nodes) == {("Account", "a4")}


def test_save_load_round_trip(graph: HeteroGraph, tmp_path: Path) -> None:
    out = graph.save(tmp_path / "graph")
    back = HeteroGraph.load(out)
    assert back.summary() == graph.summary()
    assert back.meta == json.loads(json.dumps(graph.meta, default=str))
    for t in graph.nodes:
        pd.testing.assert_frame_equal(back.nodes[t], graph.nodes[t], check_dtype=True)
    for t in graph.edges:
        pd.testing.assert_frame_equal(back.edges[t], graph.edges[t], check_dtype=True)
    assert _keyed(back, "SENT") == _keyed(graph, "SENT")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["edges"]["OPERATED_BY"] == {
        "file": "edges_OPERATED_BY.parquet", "count": 3, "src": "IP", "dst": "ProxyProvider"}


def test_load_rejects_what_is_not_a_graph(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no manifest.json"):
        HeteroGraph.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(InputError, match="manifest.json: line 1"):
        HeteroGraph.load(tmp_path)


def test_optional_node_types_absent(tmp_path: Path) -> None:
    """Without user_agent/model columns there are no UserAgent/Model nodes; the rest stays."""
    src = pd.read_csv(EVENTS, dtype=str, keep_default_na=False)
    src.drop(columns=["user_agent", "model"]).to_csv(tmp_path / "e.csv", index=False)
    g = graphkit.build_graph(graphkit.load(tmp_path / "e.csv"))
    assert set(g.nodes) == {"Account", "IP", "PaymentMethod", "ProxyProvider", "PromptTemplate"}
    assert set(g.edges) == {"USED_IP", "PAID_WITH", "SENT", "OPERATED_BY"}
    assert g.summary()["nodes"]["Account"] == 4  # no accounts file: a4 is unknown
    assert g.summary()["edges"]["PAID_WITH"] == 5  # events only
