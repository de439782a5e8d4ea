"""Sign-up cohorts and the exclusive client: a fleet that shares nothing but its tooling."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from graphkit.detection.cohorts import cohort_incidence, main_client
from graphkit.detection.pipeline import detect
from graphkit.io import load
from graphkit.settings import Settings

T0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _one_client_each(clients: np.ndarray, n_clients: int) -> sp.csr_matrix:
    n = len(clients)
    return sp.csr_matrix((np.full(n, 3), (np.arange(n), clients)), shape=(n, n_clients))


def test_a_tools_batch_is_a_cohort_a_browsers_rush_is_not() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    created = pd.Series(T0 - pd.to_timedelta(rng.uniform(0, 400, n), unit="D"))
    clients = rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2])  # browsers everyone uses
    # a hackathon: 200 sign-ups in one hour, on the browsers in their usual shares
    created[:200] = T0 + pd.to_timedelta(rng.uniform(0, 3600, 200), unit="s")
    # a tool's batch: 20 sign-ups in 30 minutes on client 3, which 10 others also use
    created[200:220] = T0 + pd.to_timedelta(10 * 86400 + rng.uniform(0, 1800, 20), unit="s")
    clients[200:230] = 3
    ua = _one_client_each(clients, 4)
    counts, keys = cohort_incidence(ua, created, np.array(["b0", "b1", "b2", "tool"]),
                                    Settings())
    members = set(counts.tocoo().row.tolist())
    assert members == set(range(200, 220))
    assert {k.split(" @ ")[0] for k in keys} == {"tool"}


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200)), min_size=1, max_size=60))
@hsettings(max_examples=60, deadline=None)
def test_every_cohort_holds_one_client_in_one_window(rows: list[tuple[int, int]]) -> None:
    clients = np.array([c for c, _ in rows])
    minutes = np.array([m for _, m in rows])
    created = pd.Series(pd.Timestamp(T0) + pd.to_timedelta(minutes * 10, unit="min"))
    s = Settings(cohort_min_accounts=2, cohort_lift=1.0)
    counts, keys = cohort_incidence(_one_client_each(clients, 4), created,
                                    np.array(["a", "b", "c", "d"]), s)
    assert counts.shape == (len(rows), len(keys))
    assert (np.asarray(counts.sum(axis=1)).ravel() <= 1).all()  # one cohort per account
    main, _ = main_client(_one_client_each(clients, 4))
    coo = counts.tocsc()
    for j in range(counts.shape[1]):  # test code: a loop over a few cohorts
        members = coo.indices[coo.indptr[j]:coo.indptr[j + 1]]
        assert len(members) >= s.cohort_min_accounts
        assert len(set(main[members].tolist())) == 1
        span = created.iloc[members].max() - created.iloc[members].min()
        assert span < pd.Timedelta(hours=s.cohort_window_hours)


def _stealth(tmp_path: Path) -> tuple[Path, Path, set[str], set[str]]:
    """A fleet of 60 accounts signed up in three batches (each within 30 minutes) from its own
    tool, each with its own card, templates and residential address, sending 120 requests in
    working hours; 25 developers use the same open-source tool; 2,000 ordinary customers."""
    rng = np.random.default_rng(5)
    events, accounts = [], []
    fleet = [f"s{i:02d}" for i in range(60)]
    devs = [f"dev{i:02d}" for i in range(25)]
    public = [f"u{i:04d}" for i in range(2000)]
    batches = [T0 - dt.timedelta(days=d) for d in (20, 12, 5)]
    tool, browsers = "relaykit/0.7.2 (httpx/0.26.0)", ["Mozilla/5.0 A", "Mozilla/5.0 B"]

    def add(acct: str, created: dt.datetime, n: int, ua: str, ip: str) -> None:
        accounts.append((acct, created.strftime("%Y-%m-%dT%H:%M:%SZ"), f"pm_{acct}"))
        for _ in range(n):
            t = T0 + dt.timedelta(days=int(rng.integers(0, 25)), hours=int(rng.integers(9, 18)),
                                  seconds=int(rng.integers(0, 3600)))
            events.append((acct, t.strftime("%Y-%m-%dT%H:%M:%SZ"), ip, f"pm_{acct}", "",
                           f"tpl_{acct}_{rng.integers(0, 3)}", ua))

    for k, acct in enumerate(fleet):
        created = batches[k // 20] + dt.timedelta(seconds=int(rng.integers(0, 1800)))
        add(acct, created, 120, tool, f"198.18.{k}.7")
    for k, acct in enumerate(devs):
        add(acct, T0 - dt.timedelta(days=int(rng.integers(30, 700))), int(rng.integers(5, 40)),
            tool, f"100.70.{k}.1")
    for k, acct in enumerate(public):
        add(acct, T0 - dt.timedelta(days=int(rng.integers(1, 700))), int(rng.integers(3, 12)),
            browsers[k % 2], f"100.80.{k // 200}.{k % 200}")
    ev = pd.DataFrame(events, columns=["account_id", "ts", "ip", "payment_id", "proxy_provider",
                                       "template_hash", "user_agent"])
    acc = pd.DataFrame(accounts, columns=["account_id", "created_at", "payment_id"])
    acc["status"] = "active"
    ev_path, acc_path = tmp_path / "events.csv", tmp_path / "accounts.csv"
    ev.to_csv(ev_path, index=False)
    acc.to_csv(acc_path, index=False)
    return ev_path, acc_path, set(fleet), set(devs) | set(public)


def test_a_fleet_tied_only_by_its_tool_and_its_batches_is_found(tmp_path: Path) -> None:
    ev, acc, fleet, _legit = _stealth(tmp_path)
    ds = load(ev, accounts=acc)
    result = detect(ds)
    a = result.accounts.set_index("account_id")
    flagged = set(a.index[a["flagged"]])
    assert flagged == fleet
    row = result.communities.set_index("community_id").loc[a.loc["s00", "community_id"]]
    assert "used almost only by this group" in row["evidence"]
    links = result.links
    assert (links.loc[links["account_a"].isin(fleet), "cohort"] > 0).any()
    # each piece is needed: without the cohorts nothing ties the batch; without the client
    # the batch is one fact (its creation), and one fact never flags
    for off in (Settings(signup_cohorts=False), Settings(client_signals=())):
        b = detect(ds, off).accounts
        assert not b["flagged"].any()


def test_a_batch_both_layings_hold_whole_is_one_cohort() -> None:
    # 10 sign-ups between 00:30 and 01:00: inside [00:00, 02:00) and [23:00, 01:00) alike
    created = pd.Series(pd.Timestamp("2026-09-01T00:30Z") + pd.to_timedelta(
        np.r_[np.arange(10) * 180, np.arange(200) * 86400 + 40000], unit="s"))
    clients = np.r_[np.zeros(10, int), np.ones(200, int)]
    counts, _ = cohort_incidence(_one_client_each(clients, 2), created,
                                 np.array(["tool", "browser"]), Settings())
    assert counts.shape[1] == 1 and counts.getnnz() == 10
    assert (np.asarray(counts.sum(axis=1)).ravel() <= 1).all()


def test_the_steady_uptake_of_a_new_release_is_no_cohort() -> None:
    # a new SDK release: 6 sign-ups every 2 hours for a week, among 20,000 older accounts
    rng = np.random.default_rng(2)
    n_old = 20_000
    steady = pd.Timestamp(T0) + pd.to_timedelta(np.repeat(np.arange(84) * 7200, 6)
                                                  + rng.uniform(0, 7000, 504), unit="s")
    old = pd.Timestamp(T0) - pd.to_timedelta(rng.uniform(1, 700, n_old), unit="D")
    created = pd.Series(np.r_[steady.to_numpy(), old.to_numpy()])
    clients = np.r_[np.zeros(504, int), np.ones(n_old, int)]
    counts, _ = cohort_incidence(_one_client_each(clients, 2), created,
                                 np.array(["sdk/2.0", "browser"]), Settings())
    assert counts.getnnz() == 0
    # the population lift alone would have kept them: the client's own rate is what clears it
    loose, _ = cohort_incidence(_one_client_each(clients, 2), created,
                                np.array(["sdk/2.0", "browser"]), Settings(cohort_own_lift=0.0))
    assert loose.getnnz() > 0


def test_a_kind_cannot_take_the_derived_signals_name() -> None:
    import pytest

    from graphkit.errors import ConfigError
    from graphkit.registry import Registry
    with pytest.raises(ConfigError, match="reserved"):
        Registry.for_names(["cohort"], [])
