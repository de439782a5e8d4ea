"""The purpose test: groups run together but doing nothing extraction takes are not flagged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _logs import write_log

from graphkit.detection.indicators import Groups
from graphkit.detection.pipeline import detect
from graphkit.detection.purpose import PURPOSE_MARKS, purpose_marks, purpose_pvalues
from graphkit.io import load
from graphkit.settings import Settings

T0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _accounts(n: int) -> pd.DataFrame:
    """``n`` accounts: the first 40 quiet (60 requests, no proxy, a human day, no move to the
    released model, active); among the others, busier ones, and every tenth through a proxy,
    round the clock, moved to the released model and banned (each mark has a background)."""
    rest = np.arange(n) >= 40
    tenth = rest & (np.arange(n) % 10 == 0)
    return pd.DataFrame({"n_events": np.where(rest, np.linspace(60, 200, n), 60.0),
                         "proxy_events": np.where(tenth, 60.0, 0.0),
                         "tokens": np.where(rest, np.linspace(1e3, 1e5, n), 1e3),
                         "hour_entropy": np.where(tenth, 0.99, 0.5),
                         "release_shift": np.where(tenth, 0.9, 0.0),
                         "release_background": np.zeros(n),
                         "release_window_events": np.full(n, 20.0),
                         "status": np.where(tenth, "banned", "active")})


def _marked(mark: str, acc: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``acc`` with ``rows`` showing ``mark`` and nothing else."""
    acc = acc.copy()
    col = {"heavy": "n_events", "heavy_tokens": "tokens", "egress": "proxy_events",
           "round_the_clock": "hour_entropy", "model_jump": "release_shift",
           "banned": "status"}[mark]
    value = {"heavy": 1000.0, "heavy_tokens": 1e7, "egress": 60.0, "round_the_clock": 0.99,
             "model_jump": 0.9, "banned": "banned"}[mark]
    acc.loc[rows, col] = value
    return acc


@pytest.mark.parametrize("mark", PURPOSE_MARKS)
def test_any_one_mark_alone_passes_and_none_is_needed(mark: str) -> None:
    # 400 accounts; community 0 (20 members) shows the mark, community 1 (20) and the rest
    # do not. Every mark alone is enough: none is load-bearing.
    n = 400
    membership = np.r_[np.zeros(20, int), np.ones(20, int), np.full(n - 40, 2)]
    acc = _marked(mark, _accounts(n), np.arange(20))
    shows, known = purpose_marks(acc, Settings())[mark]
    assert shows[:20].all() and not shows[20:40].any() and known[:20].all()
    p = purpose_pvalues(acc, Groups(membership, 3), np.ones(3, bool), np.zeros(3), Settings())
    alpha = Settings().purpose_alpha
    assert p[0] <= alpha < p[1]


def test_light_local_group_fails_and_seeds_pass() -> None:
    n = 400
    membership = np.r_[np.zeros(20, int), np.full(n - 20, 1)]
    acc = _accounts(n)
    groups, tested, s = Groups(membership, 2), np.ones(2, bool), Settings()
    assert purpose_pvalues(acc, groups, tested, np.zeros(2), s)[0] > 0.5
    assert purpose_pvalues(acc, groups, tested, np.array([1, 0]), s)[0] == 0.0


def test_without_a_request_log_the_test_is_open_whatever_the_bans() -> None:
    n = 100
    acc = _accounts(n)
    acc[["n_events", "tokens", "proxy_events", "release_window_events"]] = 0.0
    acc.loc[50:, "status"] = "banned"  # bans alone do not make the test: they are not traffic
    membership = np.r_[np.zeros(50, int), np.ones(50, int)]
    p = purpose_pvalues(acc, Groups(membership, 2), np.array([True, False]), np.zeros(2),
                        Settings())
    assert p.tolist() == [0.0, 1.0]


def _agency_and_fleet(tmp_path: Path) -> tuple[Path, Path, set[str], set[str]]:
    """An agency (30 client accounts on its card, created in one batch, its templates, its
    office address, a dozen batch runs over all its clients) and a fleet (24 accounts on two cards, created in
    one day, shared templates, 200 requests each through a hosting operator), among 300
    ordinary customers."""
    rng = np.random.default_rng(3)
    events, accounts = [], []
    agency = [f"client{i:02d}" for i in range(30)]
    fleet = [f"fleet{i:02d}" for i in range(24)]
    public = [f"user{i:03d}" for i in range(300)]
    runs = T0 + pd.to_timedelta(np.sort(rng.integers(0, 25 * 86400, 12)), unit="s")
    for acct in agency:  # the agency's script walks over its clients within 40 minutes
        accounts.append((acct, "2026-08-20T09:00:00Z", "pm_agency", "active"))
        for run in runs:
            t = run + dt.timedelta(seconds=int(rng.integers(0, 2400)))
            events.append((acct, t, "198.51.100.9", "pm_agency", "",
                           f"tpl_agency_{rng.integers(0, 3)}", "AgencyTool/2.1"))
    for k, acct in enumerate(fleet):
        accounts.append((acct, "2026-08-28T10:00:00Z", f"pm_fleet{k % 2}", "active"))
        for _ in range(200):
            t = T0 + dt.timedelta(seconds=int(rng.integers(0, 25 * 86400)))
            events.append((acct, t, f"203.0.113.{k % 4}", f"pm_fleet{k % 2}", "HostCo",
                           f"tpl_cot_{rng.integers(0, 4)}", "python-httpx/0.27"))
    for k, acct in enumerate(public):
        created = T0 - dt.timedelta(days=int(rng.integers(30, 700)))
        accounts.append((acct, created.isoformat(), f"pm_u{k}", "active"))
        for _ in range(int(rng.integers(3, 60))):
            t = T0 + dt.timedelta(days=int(rng.integers(0, 25)), hours=int(rng.integers(8, 23)))
            events.append((acct, t, f"100.64.{k // 200}.{k % 200}", f"pm_u{k}",
                           "VpnCo" if k % 5 == 0 else "", f"tpl_pub_{rng.integers(0, 40)}",
                           "Mozilla/5.0"))
    columns = ["account_id", "ts", "ip", "payment_id", "proxy_provider",
               "template_hash", "user_agent"]
    ev_path, acc_path = write_log(tmp_path, events, columns, accounts)
    return ev_path, acc_path, set(agency), set(fleet)


def test_agency_run_together_is_not_flagged_the_fleet_is(tmp_path: Path) -> None:
    ev, acc, agency, fleet = _agency_and_fleet(tmp_path)
    ds = load(ev, accounts=acc)
    without = detect(ds, Settings(purpose_test=False)).accounts.set_index("account_id")
    # the cut alone finds both: the agency is run together as surely as the fleet
    assert agency | fleet <= set(without.index[without["flagged"]])
    result = detect(ds)
    a = result.accounts.set_index("account_id")
    assert set(a.index[a["flagged"]]) == fleet
    comms = result.communities.set_index("community_id")
    agency_c = comms.loc[a.loc["client00", "community_id"]]
    fleet_c = comms.loc[a.loc["fleet00", "community_id"]]
    assert agency_c["q_value"] <= Settings().flag_fdr < agency_c["purpose_p"]
    assert fleet_c["purpose_p"] <= Settings().purpose_alpha and fleet_c["flagged"]
    assert "benign explanation: run together, but its members do no more" in agency_c["evidence"]
    assert "benign explanation" not in fleet_c["evidence"]


def test_a_fleet_of_a_third_of_the_accounts_is_still_heavy() -> None:
    n_fleet, n_users = 300, 700
    acc = _accounts(n_fleet + n_users)
    acc["n_events"] = np.r_[np.full(n_fleet, 500.0), np.linspace(1, 60, n_users)]
    shows, _ = purpose_marks(acc, Settings())["heavy"]
    assert shows[:n_fleet].all() and not shows[n_fleet:].any()


def test_a_community_with_no_requests_yet_is_not_cleared() -> None:
    n = 400
    acc = _accounts(n)
    acc.loc[:19, ["n_events", "tokens", "proxy_events", "release_window_events"]] = 0.0
    membership = np.r_[np.zeros(20, int), np.full(n - 20, 1)]
    p = purpose_pvalues(acc, Groups(membership, 2), np.ones(2, bool), np.zeros(2), Settings())
    assert p[0] == 0.0


def test_the_benign_line_is_not_written_when_the_test_is_off(tmp_path: Path) -> None:
    from graphkit.detection.evidence import evidence_table
    row = {"size": 30, "n_events": 400, "ind_seeds": 0.0, "actor": None,
           "ind_shared_payment": 0.9, "n_payment_methods": 1, "n_paying_accounts": 30,
           "n_exclusive_templates": 0, "model_jump_share": 0.0, "org_share": 0.0,
           "release_model": None, "model_jump_background": 0.0, "q_value": 1e-9,
           "purpose_p": 0.6, "suspicion": 0.8,
           **{f"ind_{k}": 0.0 for k in ("exclusive_templates", "synchrony", "infrastructure",
                                         "creation_burst", "new_accounts", "volume",
                                         "automation", "model_jump", "banned")}}
    frame = pd.DataFrame([row])
    assert "benign explanation: run together" in evidence_table(frame, Settings()).iloc[0]
    off = evidence_table(frame, Settings(purpose_test=False)).iloc[0]
    assert "benign explanation" not in off
