"""Seed expansion, attribution, successions and model releases, on hand-built logs and the
small simulated scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import graphkit
from graphkit.cli import main
from graphkit.detection.features import parse_releases
from graphkit.detection.pipeline import detect
from graphkit.errors import ConfigError, InputError
from graphkit.investigate.attribution import read_indicators
from graphkit.investigate.expand import expand
from graphkit.settings import Settings

SIM = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _write_log(tmp: Path, rows: list[tuple], accounts: list[tuple]) -> tuple[Path, Path]:
    ev = pd.DataFrame(rows, columns=["account_id", "ts", "ip", "payment_id", "template_hash",
                                     "user_agent", "model"])
    acc = pd.DataFrame(accounts, columns=["account_id", "created_at", "status", "banned_at"])
    ev.to_csv(tmp / "events.csv", index=False)
    acc.to_csv(tmp / "accounts.csv", index=False)
    return tmp / "events.csv", tmp / "accounts.csv"


def _events(account: str, start: str, hours: int, ip: str, card: str, tpl: str,
            model: str = "m1", agent: str = "bot/1") -> list[tuple]:
    t0 = pd.Timestamp(start)
    return [(account, (t0 + pd.Timedelta(hours=h)).isoformat(), ip, card, tpl, agent, model)
            for h in range(hours)]


def _chain_log(tmp: Path) -> tuple[Path, Path]:
    """A reseller chain r1 -> r2 -> r3 (each replaced 10 minutes after its ban, inheriting the
    exit IP, card and template); d1 is created right after r1's ban but shares nothing; d2
    shares r1's exit but is created two days later; 12 unrelated customers."""
    rows = (_events("r1", "2026-09-01T00:00", 20, "9.9.9.1", "pm_r", "t_r")
            + _events("r2", "2026-09-02T00:10", 20, "9.9.9.1", "pm_r", "t_r")
            + _events("r3", "2026-09-03T00:10", 20, "9.9.9.1", "pm_r", "t_r")
            + _events("d1", "2026-09-02T00:20", 20, "5.5.5.5", "pm_d", "t_d")
            + _events("d2", "2026-09-04T00:00", 5, "9.9.9.1", "pm_x", "t_x"))
    for i in range(12):
        rows += _events(f"c{i}", "2026-09-01T00:00", 10, f"7.7.7.{i}", f"pm_c{i}", f"t_c{i}")
    accounts = [("r1", "2026-08-31T23:00:00Z", "banned", "2026-09-02T00:00:00Z"),
                ("r2", "2026-09-02T00:10:00Z", "banned", "2026-09-03T00:00:00Z"),
                ("r3", "2026-09-03T00:10:00Z", "active", ""),
                ("d1", "2026-09-02T00:20:00Z", "active", ""),
                ("d2", "2026-09-04T00:00:00Z", "active", "")]
    accounts += [(f"c{i}", "2026-01-01T00:00:00Z", "active", "") for i in range(12)]
    return _write_log(tmp, rows, accounts)


def test_successions_follow_a_hand_built_chain(tmp_path: Path) -> None:
    events, accounts = _chain_log(tmp_path)
    res = detect(graphkit.load(str(events), accounts=str(accounts)))
    succ = res.extra_tables["successions.csv"]
    assert list(zip(succ["predecessor"], succ["successor"])) == [("r1", "r2"), ("r2", "r3")]
    assert set(succ["chain"]) == {"r1"} and succ["position"].tolist() == [0, 1]
    assert np.allclose(succ["gap_hours"], 10 / 60, atol=1e-3)
    assert all("ip 9.9.9.1" in s and "payment pm_r" in s for s in succ["shared"])
    assert (succ["confidence"] > 0.5).all()
    res.write(tmp_path / "out")
    assert (tmp_path / "out" / "successions.csv").is_file()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["outputs"]["successions"] == 2


def _two_chains_log(tmp: Path) -> tuple[Path, Path]:
    """Two resellers banned at the same moments, each account replaced within minutes by one
    inheriting its exit, card and template: a1 -> a2 -> a3 -> a4 and b1 -> b2 -> b3, the
    replacements of both created in the same minutes (each is a candidate for both bans). e1,
    created between them, shares only the agent everybody uses; a5 shares everything with
    chain a but is created 8 hours after the last ban (outside the 6-hour window)."""
    rows: list[tuple] = []
    accounts: list[tuple] = []
    for day in range(4):
        start = pd.Timestamp("2026-09-01T00:00") + pd.Timedelta(days=day)
        for chain, minutes, ip in (("a", 5, "9.9.9.1"), ("b", 8, "9.9.9.2")):
            if chain == "b" and day == 3:
                continue
            acc = f"{chain}{day + 1}"
            created = start + pd.Timedelta(minutes=minutes if day else -60)
            last = (day == 3) or (chain == "b" and day == 2)
            rows += _events(acc, created.isoformat(), 20, ip, f"pm_{chain}", f"t_{chain}")
            banned = "" if last else (start + pd.Timedelta(days=1)).isoformat() + "Z"
            accounts.append((acc, created.isoformat() + "Z", "active" if last else "banned",
                             banned))
    rows += _events("e1", "2026-09-02T00:06", 20, "5.5.5.5", "pm_e", "t_e")
    rows += _events("a5", "2026-09-04T08:05", 20, "9.9.9.1", "pm_a", "t_a")
    accounts += [("e1", "2026-09-02T00:06:00Z", "active", ""),
                 ("a5", "2026-09-04T08:05:00Z", "active", "")]
    for i in range(12):
        rows += _events(f"c{i}", "2026-09-01T00:00", 10, f"7.7.7.{i}", f"pm_c{i}", f"t_c{i}")
        accounts.append((f"c{i}", "2026-01-01T00:00:00Z", "active", ""))
    return _write_log(tmp, rows, accounts)


def test_successions_separate_two_interleaved_chains(tmp_path: Path) -> None:
    events, accounts = _two_chains_log(tmp_path)
    ds = graphkit.load(str(events), accounts=str(accounts))
    succ = detect(ds).extra_tables["successions.csv"]
    got = list(zip(succ["chain"], succ["position"], succ["predecessor"], succ["successor"]))
    assert got == [("a1", 0, "a1", "a2"), ("a1", 1, "a2", "a3"), ("a1", 2, "a3", "a4"),
                   ("b1", 0, "b1", "b2"), ("b1", 1, "b2", "b3")]
    gaps = succ.set_index("successor")["gap_hours"]
    assert gaps.loc[["a2", "a3", "a4"]].tolist() == pytest.approx([5 / 60] * 3, abs=1e-3)
    assert gaps.loc[["b2", "b3"]].tolist() == pytest.approx([8 / 60] * 2, abs=1e-3)
    assert all("payment pm_a" in t for t in succ.loc[succ["chain"] == "a1", "shared"])
    # Expansion follows the chain (succession edges) before a5, which shares as much but
    # replaced nobody; the other reseller's chain shares nothing with a1.
    top = expand(ds, ["a1"], top=6).results["account_id"].tolist()
    assert set(top[:3]) == {"a2", "a3", "a4"} and top[3] == "a5"
    assert not {"b1", "b2", "b3"} & set(top)


def test_successions_from_first_requests_when_the_log_has_no_creation_times(
        tmp_path: Path) -> None:
    """The same two chains with every created_at removed: each replacement's first request
    (minutes after its predecessor's ban) stands for its creation; off, none is found."""
    events, accounts = _two_chains_log(tmp_path)
    acc = pd.read_csv(accounts, dtype=str)
    acc.drop(columns=["created_at"]).to_csv(accounts, index=False)
    ds = graphkit.load(str(events), accounts=str(accounts))
    succ = detect(ds).extra_tables["successions.csv"]
    got = set(zip(succ["predecessor"], succ["successor"]))
    assert got == {("a1", "a2"), ("a2", "a3"), ("a3", "a4"), ("b1", "b2"), ("b2", "b3")}
    off = detect(graphkit.load(str(events), accounts=str(accounts)),
                 Settings(first_request_activation=False))
    assert "successions.csv" not in off.extra_tables


def test_no_successions_without_bans(tmp_path: Path) -> None:
    rows = _events("a", "2026-09-01T00:00", 5, "1.1.1.1", "pm_a", "t")
    rows += _events("b", "2026-09-01T00:00", 5, "1.1.1.1", "pm_a", "t")
    events, accounts = _write_log(tmp_path, rows, [("a", "2026-08-01T00:00:00Z", "active", ""),
                                                   ("b", "2026-08-01T00:00:00Z", "active", "")])
    res = detect(graphkit.load(str(events), accounts=str(accounts)))
    assert "successions.csv" not in res.extra_tables


def test_expansion_from_a_banned_account_reaches_its_chain(tmp_path: Path) -> None:
    events, accounts = _chain_log(tmp_path)
    res = expand(graphkit.load(str(events), accounts=str(accounts)), ["r1"], top=3)
    assert set(res.results["account_id"]) >= {"r2", "r3"}
    first = res.results.iloc[0]
    assert first["account_id"] in {"r2", "r3"} and first["seed"] == "r1" and first["linked"]
    assert "payment pm_r" in first["shared"]
    assert "d1" not in set(res.results["account_id"].head(2))


def test_expand_cli_writes_results_and_manifest(tmp_path: Path) -> None:
    events, accounts = _chain_log(tmp_path)
    out = tmp_path / "exp"
    r = CliRunner().invoke(main, ["expand", str(events), "--accounts", str(accounts),
                                  "--seed", "r1", "--top", "5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out / "expansion.csv")
    assert table["rank"].tolist() == list(range(1, len(table) + 1))
    assert table["account_id"].iloc[0] in {"r2", "r3"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "expand" and manifest["outputs"]["seeds"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".exp.")]
    bad = CliRunner().invoke(main, ["expand", str(events), "--seed", "nobody", "--out",
                                    str(tmp_path / "x")])
    assert bad.exit_code == 2 and "not in the data" in bad.output
    none = CliRunner().invoke(main, ["expand", str(events), "--out", str(tmp_path / "y")])
    assert none.exit_code == 2


@pytest.fixture(scope="module")
def sim_attributed() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    ds = graphkit.load(str(SIM / "events.parquet"), accounts=str(SIM / "accounts.csv"),
                       seeds=str(SIM / "seeds.csv"))
    res = detect(ds)
    truth = pd.read_csv(SIM / "truth.csv", keep_default_na=False)
    return res.accounts, res.communities, truth, res.extra_outputs["attribution"]


def test_attribution_on_the_small_scenario(sim_attributed) -> None:
    # Two seeds per actor in a 166-account log: the fleets tied together are attributed, the
    # hydra's separate chains only partly; what is named is right.
    accounts, communities, truth, info = sim_attributed
    m = accounts.merge(truth, on="account_id", suffixes=("", "_true"))
    named = m[m["actor"] != ""]
    assert (named["actor"] == named["actor_true"]).mean() >= 0.95
    assert (named["actor_confidence"] >= Settings().attribution_threshold).all()
    assert named["actor_evidence"].str.len().min() > 0
    for actor in ("meridian", "quarry", "tessellate"):
        mine = m[m["actor_true"] == actor]
        assert (mine["actor"] == actor).all()
    assert {"actor", "actor_confidence", "actor_evidence"} <= set(communities.columns)
    comm = communities.set_index("community_id")
    for actor in ("meridian", "quarry", "tessellate"):
        (main_community,) = m.loc[m["actor_true"] == actor, "community_id"].mode()
        assert comm.loc[main_community, "actor"] == actor
        assert comm.loc[main_community, "actor_confidence"] >= Settings().attribution_threshold
    assert info["folds"] == Settings().attribution_folds and info["reliability"]


def test_attribution_with_a_tenth_of_each_campaign_as_seeds(tmp_path: Path) -> None:
    from graphkit.simulate import simulate

    res = simulate(tmp_path / "sim", scale=0.05, seed=1)
    truth = pd.read_csv(res.paths["truth"], keep_default_na=False)
    rng = np.random.default_rng(0)
    seeds = pd.concat(
        [g.sample(max(1, round(0.1 * len(g))), random_state=rng)
         for _, g in truth[truth["actor"] != ""].groupby("actor")])[["account_id", "actor"]]
    seeds.to_csv(tmp_path / "seeds.csv", index=False)
    ds = graphkit.load(str(res.paths["events"]), accounts=str(res.paths["accounts"]),
                       seeds=str(tmp_path / "seeds.csv"))
    out = detect(ds)
    m = out.accounts.merge(truth, on="account_id", suffixes=("", "_true"))
    others = m[(m["actor_true"] != "") & ~m["account_id"].isin(seeds["account_id"])]
    assert (others["actor"] == others["actor_true"]).mean() >= 0.95
    legit = m[m["actor_true"] == ""]
    assert (legit["actor_confidence"] < Settings().attribution_threshold).all()


def test_indicators_alone_attribute_a_campaign(tmp_path: Path) -> None:
    truth = pd.read_csv(SIM / "truth.csv", keep_default_na=False)
    acc = pd.read_csv(SIM / "accounts.csv", dtype=str)
    hydra = truth.loc[truth["actor"] == "relayhub", "account_id"]
    cards = acc.loc[acc["account_id"].isin(hydra), "payment_id"].value_counts().index[:3]
    ind = pd.DataFrame({"actor": "relayhub", "kind": "card", "value": cards})
    ds = graphkit.load(str(SIM / "events.parquet"), accounts=str(SIM / "accounts.csv"))
    res = detect(ds, indicators=read_indicators(ind))
    named = res.accounts.loc[res.accounts["actor"] == "relayhub", "account_id"]
    assert len(named) >= 0.5 * len(hydra)
    assert named.isin(hydra).mean() >= 0.95


def test_read_indicators_validates(tmp_path: Path) -> None:
    good = read_indicators(pd.DataFrame({"actor": ["a", "a"], "kind": ["CIDR", "metadata"],
                                         "value": ["10.0.0.0/8", "curl"]}))
    assert good["kind"].tolist() == ["network", "user_agent"]
    path = tmp_path / "ind.csv"
    path.write_text("actor,kind,value\nx,ip,1.2.3.4\nx,colour,blue\n")
    with pytest.raises(InputError) as err:
        read_indicators(path)
    assert err.value.row == 2 and err.value.column == "kind"
    path.write_text("actor,kind,value\nx,network,10.0.0.0/99\n")
    with pytest.raises(InputError, match="bad network"):
        read_indicators(path)
    path.write_text("actor,value\nx,1\n")
    with pytest.raises(InputError, match="missing"):
        read_indicators(path)


def _release_log(tmp: Path) -> tuple[Path, Path]:
    """Six accounts active for five days; m2 first appears on day 3 at 00:00; the three
    accounts of one fleet (shared card, IP, template) move all their traffic to it at once."""
    rows: list[tuple] = []
    for i in range(6):
        fleet = i < 3
        for h in range(0, 120, 2):
            t = pd.Timestamp("2026-09-01T00:00") + pd.Timedelta(hours=h, minutes=i)
            model = "m2" if fleet and h >= 48 else "m1"
            rows.append((f"a{i}", t.isoformat(), "6.6.6.6" if fleet else f"8.8.8.{i}",
                         "pm_f" if fleet else f"pm_{i}", "t_f" if fleet else f"t_{i}",
                         "bot/1", model))
    accounts = [(f"a{i}", "2026-08-01T00:00:00Z", "active", "") for i in range(6)]
    return _write_log(tmp, rows, accounts)


def test_release_shift_found_in_the_data_and_given(tmp_path: Path) -> None:
    events, accounts = _release_log(tmp_path)
    ds = graphkit.load(str(events), accounts=str(accounts))
    found = detect(ds)
    assert found.releases == {"m2": "2026-09-03T00:00:00"}
    fleet = found.accounts.loc[found.accounts["account_id"] == "a0", "community_id"].item()
    comm = found.communities.set_index("community_id")
    assert comm.loc[fleet, "model_jump_share"] == 1.0
    assert comm.loc[fleet, "ind_model_jump"] > 0
    given = detect(ds, releases=parse_releases(["m2@2026-09-03T00:00Z"]))
    assert given.releases == {"m2": "2026-09-03T00:00:00"}
    with pytest.raises(ConfigError):
        parse_releases(["m2@yesterday"])


def _adoption_log(tmp: Path, preview: bool) -> tuple[Path, Path]:
    """Three weeks of hourly requests from 13 accounts; m2 is released on day 7 at 00:00.

    A fleet of four (shared card, exit and template) moves 90% of its traffic to m2 two hours
    after the release; six customers adopt it over two weeks (their share of requests on m2
    rises by a tenth every 1.4 days). With ``preview``, three more customers already send half
    their traffic to m2 from the first day (an early-access model: first seen at the start, so
    only ``--release`` says when it was released); otherwise they stay on m1.
    """
    release = pd.Timestamp("2026-09-08T00:00")
    rows: list[tuple] = []
    accounts = [f"f{i}" for i in range(4)] + [f"s{i}" for i in range(6)] + \
        [f"p{i}" for i in range(3)]
    for k, acc in enumerate(accounts):
        fleet, slow = acc[0] == "f", acc[0] == "s"
        for h in range(21 * 24):
            t = pd.Timestamp("2026-09-01T00:00") + pd.Timedelta(hours=h, minutes=k)
            since = (t - release) / pd.Timedelta(days=1)
            if fleet:
                on_m2 = since >= 2 / 24 and h % 10 != 0
            elif slow:
                on_m2 = since > 0 and h % 10 < min(10.0, since / 1.4)
            else:
                on_m2 = preview and h % 2 == 0
            rows.append((acc, t.isoformat(), "6.6.6.6" if fleet else f"8.8.8.{k}",
                         "pm_f" if fleet else f"pm_{k}", "t_f" if fleet else f"t_{k}",
                         "bot/1", "m2" if on_m2 else "m1"))
    return _write_log(tmp, rows, [(a, "2026-08-01T00:00:00Z", "active", "") for a in accounts])


def test_release_shift_fleet_within_hours_against_adoption_over_weeks(tmp_path: Path) -> None:
    events, accounts = _adoption_log(tmp_path, preview=False)
    res = detect(graphkit.load(str(events), accounts=str(accounts)))
    ev = pd.read_csv(events)
    first = pd.Timestamp(ev.loc[ev["model"] == "m2", "ts"].min())  # found as a release
    assert pd.Timestamp("2026-09-08T02:00") <= first < pd.Timestamp("2026-09-08T03:00")
    assert res.releases == {"m2": first.isoformat()}
    acc = res.accounts.set_index("account_id")
    fleet = [f"f{i}" for i in range(4)]
    slow = [f"s{i}" for i in range(6)]
    # In the 24 hours from the first sighting the fleet sends 9 requests in 10 to m2, the
    # customers 3 of their 24 (h % 10 == 0 during the first 1.4 days).
    assert (acc.loc[fleet, "release_model"] == "m2").all()
    assert (acc.loc[fleet, "release_shift"] >= 0.75).all()
    assert (acc.loc[fleet, "release_background"] < 0.3).all()
    assert (acc.loc[slow, "release_shift"] == 3 / 24).all()
    assert (acc.loc[slow, "release_background"] > 0.25).all()  # the fleet's move
    comm = res.communities.set_index("community_id")
    c = acc.loc["f0", "community_id"]
    assert (acc.loc[fleet, "community_id"] == c).all()
    row = comm.loc[c]
    assert row["release_model"] == "m2" and row["ind_model_jump"] == 1.0
    # 22 of the fleet's 24 window requests each; the others: 6 customers x 3 of 24, 3 none.
    assert row["model_jump_share"] == pytest.approx(22 / 24, abs=1e-4)
    assert row["model_jump_background"] == pytest.approx(18 / 216, abs=1e-4)
    share, bg = round(100 * row["model_jump_share"]), round(100 * row["model_jump_background"])
    assert (f"{share}% of traffic moved to m2 within 24 hours of its release "
            f"(other accounts: {bg}%)") in row["evidence"]
    others = comm.drop(index=c)
    assert (others["ind_model_jump"] == 0).all()
    assert not others["evidence"].str.contains("moved to").any()


def test_release_given_for_a_model_seen_from_the_start(tmp_path: Path) -> None:
    events, accounts = _adoption_log(tmp_path, preview=True)
    ds = graphkit.load(str(events), accounts=str(accounts))
    assert detect(ds).releases == {}  # m2 is first seen at the start: not found as a release
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["detect", str(events), "--accounts", str(accounts),
                                  "--release", "m2@2026-09-08T00:00Z", "--out", str(out)])
    assert r.exit_code == 0, r.output
    acc = pd.read_csv(out / "accounts.csv").set_index("account_id")
    fleet, preview = [f"f{i}" for i in range(4)], [f"p{i}" for i in range(3)]
    assert (acc.loc[fleet, "release_shift"] >= 0.75).all()
    # Half of the preview users' traffic is on m2 in the window, as before it: no move.
    assert (acc.loc[preview, "release_shift"] == 0).all()
    assert (acc.loc[preview, "release_model"] == "m2").all()
    comm = pd.read_csv(out / "communities.csv").set_index("community_id")
    c = acc.loc["f0", "community_id"]
    assert comm.loc[c, "release_model"] == "m2" and comm.loc[c, "ind_model_jump"] == 1.0
    assert (comm.drop(index=c)["ind_model_jump"] == 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outputs"]["model_releases"] == {"m2": "2026-09-08T00:00:00"}
    # A release of a model the log never mentions measures nothing and stops nothing.
    none = detect(ds, releases=parse_releases(["m9@2026-09-08T00:00Z"]))
    assert none.accounts["release_shift"].eq(0).all()
    assert none.communities["ind_model_jump"].eq(0).all()


def test_simulated_successions_truth(tmp_path: Path) -> None:
    from graphkit.simulate import simulate

    res = simulate(tmp_path, scale=0.002, seed=3)
    pairs = pd.read_csv(res.paths["successions_truth"])
    acc = pd.read_csv(res.paths["accounts"]).set_index("account_id")
    truth = pd.read_csv(res.paths["truth"], keep_default_na=False).set_index("account_id")
    assert len(pairs)
    assert (acc.loc[pairs["predecessor"], "status"] == "banned").all()
    assert (truth.loc[pairs["successor"], "actor"] == "relayhub").all()
    gap = (pd.to_datetime(acc.loc[pairs["successor"], "created_at"]).to_numpy()
           - pd.to_datetime(acc.loc[pairs["predecessor"], "banned_at"]).to_numpy())
    hours = pd.to_timedelta(gap) / pd.Timedelta(hours=1)
    assert (hours > 0).all() and (hours < 1).all()


def _random_walk_graph(rng: np.random.Generator, n: int, m: int):
    import scipy.sparse as sp

    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = a != b
    w = rng.gamma(1.0, 2.0, keep.sum())
    upper = sp.coo_matrix((w, (a[keep], b[keep])), shape=(n, n))
    return a[keep], b[keep], w, (upper + upper.T).tocsr(), sp


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_pagerank_matches_igraph_prpack(seed: int) -> None:
    """The block power iteration gives igraph's PRPACK personalized PageRank, column by
    column, on random weighted graphs with isolated vertices and parallel edges."""
    import igraph as ig

    from graphkit.investigate.walk import block_pagerank

    rng = np.random.default_rng(seed)
    n = 300
    a, b, w, adj, sp = _random_walk_graph(rng, n, 500)  # sparse: some vertices isolated
    g = ig.Graph(n=n, edges=np.column_stack([a, b]).tolist(), directed=False)
    g.es["weight"] = w.tolist()
    resets = np.zeros((n, 4))
    resets[rng.integers(0, n, 5), 0] = 1.0
    resets[::2, 1] = rng.random(n)[::2]  # half the vertices: the others can be leaves
    resets[np.flatnonzero(np.asarray(adj.sum(axis=1)).ravel() == 0)[:2], 2] = 1.0  # isolated
    resets[rng.integers(0, n, 3), 3] = rng.random(3) * 5
    from graphkit.investigate.walk import WalkOperator

    leaves = WalkOperator(a, b, w, n, 0.7).leaf
    assert leaves.sum() > 10 and (resets[leaves] > 0).any()  # eliminated, some with a reset
    for damping in (0.5, 0.7, 0.85):
        got = block_pagerank(adj, sp.csc_matrix(resets), damping, block_elements=2 * n)
        for j in range(resets.shape[1]):
            want = g.personalized_pagerank(directed=False, damping=damping,
                                           reset=resets[:, j].tolist(), weights="weight",
                                           implementation="prpack")
            assert np.abs(got[:, j] - np.asarray(want)).max() < 1e-9
        assert np.allclose(got.sum(axis=0), 1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_fold_walks_mix_into_the_walk_from_their_union(seed: int) -> None:
    """Attribution solves one walk per fold and derives every other walk by mixing them: the
    mix of any subset of folds equals igraph's PRPACK walk from the union of their resets,
    also when starts sit on vertices without edges."""
    import igraph as ig

    from graphkit.investigate.attribution import _fold_walk
    from graphkit.investigate.walk import WalkGraph, WalkOperator

    rng = np.random.default_rng(seed)
    n = 300
    a, b, w, adj, _ = _random_walk_graph(rng, n, 500)
    isolated = np.flatnonzero(np.asarray(adj.sum(axis=1)).ravel() == 0)
    assert len(isolated) >= 2
    g = ig.Graph(n=n, edges=np.column_stack([a, b]).tolist(), directed=False)
    g.es["weight"] = w.tolist()
    folds, actors = 3, 2
    resets = np.zeros((n, folds * actors))
    for j in range(folds * actors):
        resets[rng.integers(0, n, 4), j] = rng.random(4) + 0.5
    resets[isolated[0], 1] = 2.0  # a start without edges
    wg = WalkGraph(WalkOperator(a, b, w, n, 0.7), n, {}, {}, 0.7, tolerance=1e-12)
    parts = wg.pagerank_many(resets).reshape(n, folds, actors)
    mass = wg.mixing_weights(resets).reshape(folds, actors)
    for use in (np.array([True, False, True]), np.ones(folds, bool)):
        mixed = _fold_walk(parts, mass, use)
        for actor in range(actors):
            union = resets.reshape(n, folds, actors)[:, use, actor].sum(axis=1)
            want = g.personalized_pagerank(directed=False, damping=0.7, reset=union.tolist(),
                                           weights="weight", implementation="prpack")
            assert np.abs(mixed[:, actor] - np.asarray(want)).max() < 1e-9


@pytest.mark.parametrize("seed", [0, 1])
def test_walks_ordered_by_group_match_prpack(seed: int) -> None:
    """Ordering the walk system by community (accounts by group, entities by their accounts'
    smallest group) changes where vertices sit, not the walks: igraph's PRPACK walk for every
    column, over more columns than one block holds."""
    import igraph as ig

    from graphkit.investigate.walk import BLOCK_COLUMNS, WalkOperator, vertex_groups

    rng = np.random.default_rng(seed)
    n, k = 300, 200  # vertices 0..199 are accounts with a group; the rest entities
    a, b, w, _, _ = _random_walk_graph(rng, n, 700)
    groups = rng.integers(0, 12, k)
    op = WalkOperator(a, b, w, n, 0.7, groups)
    key = vertex_groups(a, b, groups, n)
    assert (np.diff(key[op.core]) >= 0).all() and sorted(op.core) == sorted(
        np.flatnonzero(~op.leaf))
    assert (op.position[op.core] == np.arange(len(op.core))).all()
    g = ig.Graph(n=n, edges=np.column_stack([a, b]).tolist(), directed=False)
    g.es["weight"] = w.tolist()
    resets = np.zeros((n, BLOCK_COLUMNS + 3))
    for j in range(resets.shape[1]):
        resets[rng.integers(0, n, 3), j] = rng.random(3) + 0.5
    # A buffer budget of two columns: blocks of BLOCK_COLUMNS (the cache's width), two blocks.
    got = op.solve(resets, 1e-12, block_elements=2 * len(op.core))
    for j in range(resets.shape[1]):
        want = g.personalized_pagerank(directed=False, damping=0.7, reset=resets[:, j].tolist(),
                                       weights="weight", implementation="prpack")
        assert np.abs(got[:, j] - np.asarray(want)).max() < 1e-9


def test_block_pagerank_zero_reset_and_rows() -> None:
    from graphkit.investigate.walk import block_pagerank

    rng = np.random.default_rng(3)
    _, _, _, adj, _ = _random_walk_graph(rng, 50, 200)
    resets = np.zeros((50, 2))
    resets[7, 1] = 2.0
    got = block_pagerank(adj, resets, 0.7, rows=10)
    assert got.shape == (10, 2)
    assert not got[:, 0].any()
    assert got[7, 1] >= 0.3  # the walk restarts at its seed 30% of the time


def test_succession_overlaps_in_blocks_equal_one_pass() -> None:
    """Candidate successors scored a few pairs at a time keep the same pairs and overlaps as
    all pairs at once (every pair's overlap is its own)."""
    import scipy.sparse as sp

    from graphkit.detection.links import pair_similarities, signal_matrix
    from graphkit.investigate.successions import _overlapping

    rng = np.random.default_rng(5)
    settings = Settings()
    counts = sp.random(60, 12, density=0.2, random_state=3, format="csr") * 10
    ip = signal_matrix("ip", counts, np.full(60, 10), np.arange(12).astype(str), settings)
    p, s = rng.integers(0, 60, 500), rng.integers(0, 60, 500)
    sims = pair_similarities({"ip": ip}, p, s, settings)["ip"] * settings.weight("ip")
    ok = sims >= settings.succession_min_overlap
    assert 0 < ok.sum() < len(p)
    for block in (7, 1000):
        bp, bs, overlap = _overlapping({"ip": ip}, p, s, settings, block=block)
        np.testing.assert_array_equal(bp, p[ok])
        np.testing.assert_array_equal(bs, s[ok])
        np.testing.assert_array_equal(overlap, sims[ok])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_successors_joined_on_shared_entities_equal_every_window_pair(seed: int) -> None:
    """Successor pairs formed from shared entities (a join per banned account and entity) keep
    the pairs, order and overlaps of scoring every pair created in the window, in blocks of
    any size; accounts without a creation time are never successors."""
    import scipy.sparse as sp

    from graphkit.detection.links import signal_matrix, similarity_roots
    from graphkit.investigate.successions import (
        _overlapping,
        candidate_successors,
        overlapping_successors,
    )

    rng = np.random.default_rng(seed)
    n, settings = 400, Settings(succession_min_overlap=0.2)
    signals = {name: signal_matrix(name, sp.random(n, cols, density=dens, random_state=seed + i,
                                                   format="csr") * 10,
                                   np.full(n, 10), np.arange(cols).astype(str), settings)
               for i, (name, cols, dens) in enumerate([("ip", 40, 0.03), ("payment", 80, 0.01),
                                                       ("user_agent", 3, 0.5)])}
    created = rng.uniform(0, 1000, n)
    created[rng.random(n) < 0.05] = np.nan
    banned = np.where(rng.random(n) < 0.2, rng.uniform(0, 1000, n), np.nan)
    p, s = candidate_successors(created, banned, 60.0)
    want = _overlapping(signals, p, s, settings)
    assert 0 < len(want[0]) < len(p)
    roots = similarity_roots(signals, settings)
    weights = {name: settings.weight(name) for name in roots}
    for block in (1, 50, 1 << 21):
        got = overlapping_successors(roots, weights, created, banned, 60.0,
                                     settings.succession_min_overlap, block=block)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12)
    # A similarity above 1 counts as 1, as in link scoring.
    x = sp.csr_matrix(np.array([[2.0], [2.0]]))
    got = overlapping_successors({"ip": x}, {"ip": 0.5}, np.array([0.0, 10.0]),
                                 np.array([5.0, np.nan]), 30.0, 0.1)
    assert [v.tolist() for v in got] == [[0], [1], [0.5]]


def test_successions_without_a_weighted_signal_are_empty() -> None:
    """No signal, or every signal weighted 0: no pair overlaps, and the table is empty."""
    import scipy.sparse as sp

    from graphkit.detection.links import signal_matrix
    from graphkit.investigate.successions import COLUMNS, successions

    acc = pd.DataFrame({"account_id": ["a", "b"],
                        "created_at": pd.to_datetime(["2026-09-01 00:00", "2026-09-02 00:10"]),
                        "banned_at": pd.to_datetime(["2026-09-02", None])})
    ip = signal_matrix("ip", sp.csr_matrix(np.array([[4.0], [4.0]])), np.full(2, 4),
                       np.array(["10.0.0.1"]), Settings())
    for signals, settings in (({}, Settings()), ({"ip": ip}, Settings(signal_weights={
            name: 0.0 for name in Settings().signal_weights}))):
        out = successions(signals, acc, settings)
        assert out is not None and len(out) == 0 and list(out.columns) == list(COLUMNS)
