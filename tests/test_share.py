"""graphkit share: a STIX 2.1 bundle that parses, is reproducible and round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import stix2
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.graph.hetero import HeteroGraph
from graphkit.share.stix import account_values, match_indicators, read_indicators

SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("share") / "run"
    res = CliRunner().invoke(main, ["detect", str(SMALL / "events.parquet"), "--accounts",
                                    str(SMALL / "accounts.csv"), "--seeds",
                                    str(SMALL / "seeds.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _share(result: Path, out: Path, *extra: str, env=None):
    return CliRunner().invoke(main, ["share", str(result), "--format", "stix", "--out", str(out),
                                     *extra], env=env)


def test_bundle_parses_and_is_reproducible(result, tmp_path):
    assert _share(result, tmp_path / "a.json").exit_code == 0
    assert _share(result, tmp_path / "b.json").exit_code == 0
    text = (tmp_path / "a.json").read_text()
    assert text == (tmp_path / "b.json").read_text()
    bundle = stix2.parse(text, allow_custom=True)
    types = pd.Series([o.type for o in bundle.objects]).value_counts()
    comm = pd.read_csv(result / "communities.csv")
    assert types["identity"] == 1
    assert types["grouping"] == int(comm["flagged"].sum())
    groupings = [o for o in bundle.objects if o.type == "grouping"]
    for g in groupings:
        assert g.context == "suspicious-activity"
        row = comm[comm["community_id"] == g.x_graphkit_community_id].iloc[0]
        # Attribution leaves the actor empty when none is likely; the grouping then has none.
        assert getattr(g, "x_graphkit_actor", None) == (
            row["actor"] if isinstance(row["actor"], str) else None)
        assert abs(g.x_graphkit_suspicion - row["suspicion"]) < 1e-9
    patterns = {o.pattern.split(":")[0] for o in bundle.objects if o.type == "indicator"}
    assert {"[ipv4-addr", "[x-graphkit-payment", "[x-graphkit-template"} <= patterns


def test_round_trip_attributes_the_members(result, tmp_path):
    assert _share(result, tmp_path / "a.json").exit_code == 0
    ind = read_indicators(tmp_path / "a.json")
    assert set(ind.columns) >= {"actor", "kind", "value"}
    flagged = pd.read_csv(result / "communities.csv").query("flagged")
    # A community without an attributed actor is named after itself.
    named = flagged["actor"].where(flagged["actor"].notna(),
                                   "graphkit community " + flagged["community_id"].astype(str))
    assert set(ind["actor"]) == set(named)
    graph = HeteroGraph.load(result / "graph")
    matched = match_indicators(ind, graph)
    # Expected, independently: flagged members using a value shared by >= 2 members.
    acc = pd.read_csv(result / "accounts.csv", dtype={"account_id": str})
    comm = pd.read_csv(result / "communities.csv").query("flagged")
    members = acc[acc["community_id"].isin(comm["community_id"])]
    vals = account_values(graph).merge(members[["account_id", "community_id"]])
    n = vals.groupby(["community_id", "kind", "raw"])["account_id"].transform("nunique")
    expected = set(vals.loc[n >= 2, "account_id"])
    assert expected and expected <= set(matched["account_id"])
    # Restricted to the non-operator indicators, matches are the members plus outsiders that
    # used the same IP, card or template: every flagged member found has its own actor.
    by_actor = matched.merge(members[["account_id", "community_id"]])
    actor = comm.set_index("community_id")["actor"]
    actor = actor.where(actor.notna(), "graphkit community " + actor.index.astype(str))
    own = by_actor[by_actor["actor"] == by_actor["community_id"].map(actor)]
    assert set(own["account_id"]) == expected


def test_pseudonymized_round_trip(result, tmp_path):
    res = _share(result, tmp_path / "p.json", "--pseudonymize",
                 env={"GRAPHKIT_PSEUDONYM_KEY": "s3cret"})
    assert res.exit_code == 0, res.output
    text = (tmp_path / "p.json").read_text()
    some_ip = pd.read_parquet(result / "graph" / "nodes_IP.parquet")["key"].iloc[0]
    assert some_ip not in text and "x-graphkit-ip:value_hmac_sha256" in text
    ind = read_indicators(tmp_path / "p.json")
    assert {"ip_hmac", "payment_hmac"} <= set(ind["kind"])
    plain = read_indicators(_write_plain(result, tmp_path))
    with_key = match_indicators(ind, result / "graph", key=b"s3cret")
    assert set(with_key["account_id"]) == set(match_indicators(plain, result / "graph")
                                               ["account_id"])
    wrong = match_indicators(ind[ind["kind"].isin(["ip_hmac", "payment_hmac"])],
                             result / "graph", key=b"other")
    assert wrong.empty


def _write_plain(result: Path, tmp_path: Path) -> Path:
    assert _share(result, tmp_path / "plain.json").exit_code == 0
    return tmp_path / "plain.json"


def test_missing_key_is_one_line_exit_2(result, tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHKIT_PSEUDONYM_KEY", raising=False)
    res = _share(result, tmp_path / "p.json", "--pseudonymize")
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "GRAPHKIT_PSEUDONYM_KEY" in res.output
    assert not (tmp_path / "p.json").exists()


def test_missing_dir_is_one_line_exit_2(tmp_path):
    res = _share(tmp_path / "nothing", tmp_path / "b.json")
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "not found" in res.output


def test_manifest_timestamp_used(result, tmp_path):
    assert _share(result, tmp_path / "a.json").exit_code == 0
    created = json.loads((result / "manifest.json").read_text())["created_at"]
    objs = json.loads((tmp_path / "a.json").read_text())["objects"]
    assert {o["created"][:19] for o in objs} == {created[:19]}
