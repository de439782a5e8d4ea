"""Synchrony by hand, corroboration, scoring (fleet vs office vs periphery), detect end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.detection import links
from graphkit.detection.pipeline import detect
from graphkit.detection.synchrony import window_signatures
from graphkit.investigate.evaluate import adjusted_rand_index, read_truth, roc_auc, score_method
from graphkit.io import load
from graphkit.settings import Settings

S = Settings()
T0 = dt.datetime(2026, 9, 1)
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _con(rows: list[tuple[str, dt.datetime]]) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    con = duckdb.connect()
    df = pd.DataFrame(rows, columns=["account_id", "ts"])
    con.register("events_df", df)
    con.execute("CREATE TABLE events AS SELECT account_id, ts::TIMESTAMP AS ts FROM events_df")
    ids = sorted(df["account_id"].unique())
    con.register("codes", pd.DataFrame({"account_id": ids, "account_idx": np.arange(len(ids))}))
    return con, ids


def test_synchrony_matches_hand_computation():
    # a and b act in the same 50 windows, one per hour on 50 different hours, on distinct
    # seconds of the minute (not clock-aligned). O = 50, H_ab = 50, 1 window per active hour:
    # E = 50 * 1 * 1 / 40 = 1.25 and sync = (50 - 1.25) / (50 + 8).
    rows = []
    for h in range(50):
        t = T0 + dt.timedelta(hours=3 * h, seconds=h % 60 + 60 * (h % 20))
        rows += [("a", t), ("b", t + dt.timedelta(seconds=1))]
    con, _ = _con(rows)
    sig = window_signatures(con, "codes", 2, S)
    assert sig.n_windows.tolist() == [50, 50] and sig.n_hours.tolist() == [50, 50]
    score = sig.score(np.array([0]), np.array([1]), S)[0]
    assert score == pytest.approx((50 - 1.25) / (50 + 8), rel=1e-6)


def test_clock_aligned_jobs_are_not_synchronized():
    # Two cron jobs firing at second 0 of the same minutes: the wall clock explains them.
    rows = []
    for k in range(60):
        t = T0 + dt.timedelta(minutes=7 * k)
        rows += [("cron1", t), ("cron2", t)]
    con, _ = _con(rows)
    sig = window_signatures(con, "codes", 2, S)
    assert sig.clock_aligned.tolist() == pytest.approx([1.0, 1.0])
    assert sig.score(np.array([0]), np.array([1]), S)[0] == 0.0


def _matrix(name: str, rows: list[tuple[int, int, int]], n: int, m: int) -> links.SignalMatrix:
    a, e, c = (np.array(x) for x in zip(*rows))
    counts = sp.csr_matrix((c, (a, e)), shape=(n, m))
    n_events = np.asarray(counts.sum(axis=1)).ravel()
    keys = np.array([f"{name}{i}" for i in range(m)])
    return links.signal_matrix(name, counts, n_events, keys, S)


def test_weak_signals_corroborate_but_never_link_alone():
    n = 400
    # Accounts 0 and 1 share a rare user agent and a proxy provider, nothing specific.
    ua = _matrix("user_agent", [(0, 0, 10), (1, 0, 10)] + [(i, 1, 10) for i in range(2, n)], n, 2)
    proxy = _matrix("proxy", [(0, 0, 10), (1, 0, 10)] + [(i, 1, 10) for i in range(2, n)], n, 2)
    alone = links.score_links({"user_agent": ua, "proxy": proxy}, None, S).table
    assert len(alone) == 0
    # With a shared IP (a specific footprint above the corroboration level) they count in full.
    ip = _matrix("ip", [(0, 0, 10), (1, 0, 10)] + [(i, 1 + i, 10) for i in range(2, n)], n, n + 1)
    t = links.score_links({"ip": ip, "user_agent": ua, "proxy": proxy}, None, S).table
    row = t.set_index(["a", "b"]).loc[(0, 1)]
    footprint = S.weight("ip") * row["ip"]
    assert footprint >= S.sync_corroboration
    assert row["user_agent"] == pytest.approx(ua.idf[0])
    expected = 1 - np.exp(-(footprint + S.weight("user_agent") * row["user_agent"]
                            + S.weight("proxy") * row["proxy"]))
    assert row["score"] == pytest.approx(expected)


def _scenario(tmp_path: Path) -> tuple[Path, Path, Path, set[str], set[str], set[str]]:
    """A fleet, an office, a VPN crowd and the fleet's proxy neighbours, as CSV files.

    Fleet: 24 accounts created within a day, 2 cards, 6 own templates, hosting addresses,
    requests in lock-step waves. Office: 24 employees behind one NAT with one company card and
    a declared org_id, internal templates, business hours. Neighbours: 10 customers who exit
    through one of the fleet's addresses but bring their own cards and prompts.
    """
    rng = np.random.default_rng(7)
    events, accounts = [], []
    fleet = [f"fleet{i:02d}" for i in range(24)]
    office = [f"office{i:02d}" for i in range(24)]
    crowd = [f"vpn{i:03d}" for i in range(200)]
    neighbours = [f"nb{i:02d}" for i in range(10)]
    waves = np.sort(rng.choice(25 * 24 * 40, 300, replace=False))  # 90-second windows
    for k, acct in enumerate(fleet):
        accounts.append((acct, "2026-08-28T10:00:00Z", f"pm_fleet{k % 2}", "", "active"))
        for w in waves:
            t = T0 + dt.timedelta(seconds=90 * int(w) + int(rng.integers(0, 80)))
            events.append((acct, t, f"203.0.113.{k % 4}", f"pm_fleet{k % 2}", "HostCo",
                           f"tpl_cot_{rng.integers(0, 6)}", "python-httpx/0.27"))
    for k, acct in enumerate(office):
        created = T0 - dt.timedelta(days=int(rng.integers(100, 700)))
        accounts.append((acct, created.isoformat() + "Z", "pm_company", "org_acme", "active"))
        for _ in range(60):
            day = int(rng.integers(0, 25))
            t = T0 + dt.timedelta(days=day, hours=int(rng.integers(9, 17)),
                                  seconds=int(rng.integers(0, 3600)))
            events.append((acct, t, "198.51.100.7", "pm_company", "",
                           f"tpl_acme_{rng.integers(0, 3)}", "Mozilla/5.0"))
    for k, acct in enumerate(crowd):
        created = T0 - dt.timedelta(days=int(rng.integers(30, 700)))
        accounts.append((acct, created.isoformat() + "Z", f"pm_v{k}", "", "active"))
        for _ in range(15):
            t = T0 + dt.timedelta(seconds=int(rng.integers(0, 25 * 86400)))
            events.append((acct, t, f"192.0.2.{rng.integers(0, 3)}", f"pm_v{k}", "VpnCo",
                           f"tpl_popular_{rng.integers(0, 20)}", "Mozilla/5.0"))
    for k, acct in enumerate(neighbours):
        created = T0 - dt.timedelta(days=int(rng.integers(30, 700)))
        accounts.append((acct, created.isoformat() + "Z", f"pm_nb{k}", "", "active"))
        for _ in range(30):
            t = T0 + dt.timedelta(seconds=int(rng.integers(0, 25 * 86400)))
            events.append((acct, t, "203.0.113.0", f"pm_nb{k}", "HostCo",
                           f"tpl_own_{k}_{rng.integers(0, 3)}", "Mozilla/5.0"))
    ev = pd.DataFrame(events, columns=["account_id", "ts", "ip", "payment_id", "proxy_provider",
                                       "template_hash", "user_agent"])
    ev["ts"] = pd.to_datetime(ev["ts"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    acc = pd.DataFrame(accounts, columns=["account_id", "created_at", "payment_id", "org_id",
                                          "status"])
    ev_path, acc_path, seeds_path = (tmp_path / "events.csv", tmp_path / "accounts.csv",
                                     tmp_path / "seeds.csv")
    ev.to_csv(ev_path, index=False)
    acc.to_csv(acc_path, index=False)
    pd.DataFrame({"account_id": [fleet[0]], "actor": ["acme-distill"]}).to_csv(seeds_path,
                                                                            index=False)
    return ev_path, acc_path, seeds_path, set(fleet), set(office) | set(crowd), set(neighbours)


def test_fleet_flagged_office_crowd_and_neighbours_not(tmp_path):
    ev, acc, seeds, fleet, legit, neighbours = _scenario(tmp_path)
    result = detect(load(ev, accounts=acc, seeds=seeds))
    a = result.accounts.set_index("account_id")
    assert set(a.index[a["flagged"]]) == fleet
    assert a.loc[sorted(legit | neighbours), "suspicion"].max() < S.flag_threshold
    # The fleet is one community, with its actor and evidence naming what ties it.
    c = result.communities.set_index("community_id").loc[a.loc[sorted(fleet), "community_id"]]
    assert c.index.nunique() == 1
    row = c.iloc[0]
    assert row["actor"] == "acme-distill" and row["n_flagged_accounts"] == 24
    assert f"{row['size']} accounts, " in row["evidence"]
    assert "accounts pay with 12 payment methods" in row["evidence"]  # fleet's 2 + neighbours'
    assert "attributed to acme-distill" in row["evidence"]
    assert "same 90-second windows" in row["evidence"]
    assert ":param community_id => " in row["cypher"]
    # The office is tight but explained by its declared organisation.
    office_c = result.communities.set_index("community_id").loc[a.loc["office00",
                                                                      "community_id"]]
    assert office_c["org_share"] == 1.0 and not office_c["flagged"]
    # Neighbours share one of the fleet's addresses only: weak, peripheral ties, so whichever
    # community they land in they stay unflagged.
    assert (a.loc[sorted(neighbours), "membership"] < S.min_membership).all()


def test_detect_is_deterministic_and_accounts_every_input_account(tmp_path):
    ds = load(FIXTURE / "events.parquet", accounts=FIXTURE / "accounts.csv",
              seeds=FIXTURE / "seeds.csv")
    r1, r2 = detect(ds), detect(ds)
    pd.testing.assert_frame_equal(r1.accounts, r2.accounts)
    pd.testing.assert_frame_equal(r1.links, r2.links)
    listed = pd.read_csv(FIXTURE / "accounts.csv", dtype=str)["account_id"]
    assert set(listed) <= set(r1.accounts["account_id"])
    assert r1.accounts["account_id"].is_unique
    assert r1.accounts["suspicion"].between(0, 1).all()


def test_cli_detect_then_evaluate(tmp_path):
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(main, ["detect", str(FIXTURE / "events.parquet"), "--accounts",
                               str(FIXTURE / "accounts.csv"), "--seeds",
                               str(FIXTURE / "seeds.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    accounts = pd.read_csv(out / "accounts.csv")
    assert {"account_id", "community_id", "suspicion", "flagged", "membership"} <= set(
        accounts.columns)
    communities = pd.read_csv(out / "communities.csv")
    assert {"community_id", "size", "suspicion", "flagged", "evidence"} <= set(
        communities.columns)
    link_cols = set(pd.read_csv(out / "links.csv", nrows=1).columns)
    assert {"account_a", "account_b", "score", "ip", "payment", "template", "proxy",
            "user_agent", "synchrony"} <= link_cols
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"] == Settings().to_dict()
    assert manifest["run_id"]
    # Same settings reproduce the same accounts.csv.
    again = tmp_path / "again"
    res = runner.invoke(main, ["detect", str(FIXTURE / "events.parquet"), "--accounts",
                               str(FIXTURE / "accounts.csv"), "--seeds",
                               str(FIXTURE / "seeds.csv"), "--out", str(again), "--settings",
                               str(out / "manifest.json")])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(accounts, pd.read_csv(again / "accounts.csv"))
    res = runner.invoke(main, ["evaluate", str(out), "--truth", str(FIXTURE / "truth.csv")])
    assert res.exit_code == 0, res.output
    assert "graphkit" in res.output and "naive" in res.output
    truth = read_truth(FIXTURE / "truth.csv")
    m = score_method("graphkit", accounts, truth)
    assert f"{m.precision:.4f}" in res.output and f"{m.auc:.4f}" in res.output


def test_metrics_by_hand():
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1])) == pytest.approx(0.75)
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([5, 5, 7, 7])) == 1.0
    truth = pd.DataFrame({"account_id": list("abcd"), "campaign": ["x", "x", "", ""],
                          "actor": ["", "", "", ""], "kind": ["f", "f", "home", "office"]})
    acc = pd.DataFrame({"account_id": list("abcd"), "community_id": [0, 0, 1, 2],
                        "suspicion": [0.9, 0.2, 0.8, 0.1], "flagged": [True, False, True, False]})
    m = score_method("m", acc, truth)
    assert (m.precision, m.recall) == (0.5, 0.5)
    assert m.recall_per_campaign == {"x": 0.5}
    assert m.fpr_per_kind == {"home": 1.0, "office": 0.0}


def test_event_arrays_agree_between_the_coded_and_the_row_by_row_paths(tmp_path):
    # Parquet with only contract columns takes the coded fast path; the same events as CSV go
    # row by row through DuckDB. Both must hand the detection identical per-event arrays.
    coded = load(FIXTURE / "events.parquet", accounts=FIXTURE / "accounts.csv")
    assert coded.coded
    csv = tmp_path / "events.csv"
    coded.events().to_csv(csv, index=False)
    plain = load(csv, accounts=FIXTURE / "accounts.csv")
    assert not plain.coded
    assert coded.accounts["account_id"].tolist() == plain.accounts["account_id"].tolist()
    a, b = coded.event_arrays(), plain.event_arrays()
    assert a.models.tolist() == b.models.tolist()

    def rows(e):
        return pd.DataFrame({"a": e.account, "us": e.us, "p": e.proxied, "m": e.model}) \
            .sort_values(["a", "us", "p", "m"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(a), rows(b))
    assert len(a.account) == coded.n_events and (a.account >= 0).all()


def test_model_release_is_found_and_counted_per_account():
    from graphkit.detection.pipeline import account_features, model_releases
    from graphkit.graph.hetero import build_graph

    ds = load(FIXTURE / "events.parquet", accounts=FIXTURE / "accounts.csv")
    ev = ds.event_arrays()
    releases = model_releases(ev)
    first = ds.con.execute("SELECT model, min(ts) FROM events WHERE model IS NOT NULL "
                           "GROUP BY model HAVING min(ts) >= (SELECT min(ts) FROM events) "
                           "+ INTERVAL 48 HOUR").fetchall()
    assert releases == {m: t for m, t in first}
    feats = account_features(build_graph(ds), ds, ev, releases, S)
    (model, t0), = releases.items()
    want = ds.con.execute(
        "SELECT account_id, count(*) FILTER (WHERE model = $m), count(*) FROM events "
        "WHERE ts >= $t AND ts < $t + INTERVAL 24 HOUR GROUP BY 1", {"m": model, "t": t0}).df()
    got = feats.set_index("account_id").loc[want["account_id"]]
    assert got["release_events"].tolist() == want.iloc[:, 1].tolist()
    assert got["release_window_events"].tolist() == want.iloc[:, 2].tolist()
