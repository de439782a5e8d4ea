"""Identifier groups: what accounts hold, tested apart from the crowd they were found in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _logs import write_log

from graphkit.detection.identifier_groups import crowd_ties, dense_cores, held_split
from graphkit.detection.links import Links
from graphkit.detection.pipeline import detect
from graphkit.io import load
from graphkit.registry import Registry
from graphkit.settings import Settings

T0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _links(rows: list[tuple[int, int, float, float]], n: int) -> Links:
    """Links from (a, b, ip, device) rows, scored 0.5."""
    t = pd.DataFrame(rows, columns=["a", "b", "ip", "device"])
    t["score"] = 0.5
    return Links(t, n)


def test_flagged_communities_and_shared_services_do_not_make_groups() -> None:
    # community 0: accounts 0-3, tied by addresses only, and 4-6 tied by a device;
    # community 1 (flagged): 7-9 on one device.
    links = _links([(0, 1, 0.3, 0), (1, 2, 0.3, 0), (2, 3, 0.3, 0), (3, 4, 0.3, 0),
                    (4, 5, 0.2, 0.9), (5, 6, 0.0, 0.9), (7, 8, 0, 0.9), (8, 9, 0, 0.9)], 10)
    membership = np.r_[np.zeros(7, int), np.ones(3, int)]
    split = held_split(links, membership, np.array([False, True]), ("device",), 3)
    assert split is not None
    # the address ties (not held) make no group; the flagged community is left as it is
    assert split.grouped.tolist() == [False] * 4 + [True] * 3 + [False] * 3
    assert len(set(split.membership[4:7])) == 1
    assert set(split.membership[:4]) == {0} and set(split.membership[7:]) == {1}
    # groups below min_community_size, or no group apart from its community: no split
    assert held_split(links, membership, np.array([False, True]), ("device",), 4) is None
    assert held_split(links, np.r_[np.zeros(4, int), np.ones(3, int), np.full(3, 2)],
                      np.zeros(3, bool), ("device",), 3) is None


def test_crowd_ties_are_the_groups_ties_out_without_a_held_identifier() -> None:
    links = _links([(0, 1, 0.3, 0), (3, 4, 0.3, 0), (4, 5, 0.2, 0.9), (5, 6, 0.0, 0.9),
                    (6, 7, 0.0, 0.9)], 8)
    membership = np.r_[np.zeros(7, int), np.ones(1, int)]
    split = held_split(links, membership, np.zeros(2, bool), ("device",), 3)
    assert split is not None and split.grouped[4:8].all()
    # 0-1: both outside any group; 3-4: into the group on addresses only (a crowd tie);
    # the device ties, inside the group, count
    assert crowd_ties(links, split).tolist() == [False, True, False, False, False]
    # a tie from the group into a community the cut flagged still counts (an attachment):
    # community 0 (0-3) flagged, the group 4-7 split out of community 1 (4-8)
    links = _links([(3, 4, 0.3, 0), (4, 5, 0, 0.9), (5, 6, 0, 0.9), (6, 7, 0, 0.9),
                    (7, 8, 0.3, 0)], 9)
    split = held_split(links, np.r_[np.zeros(4, int), np.ones(5, int)], np.array([True, False]),
                       ("device",), 3)
    assert split is not None and split.grouped[4:8].all()
    assert crowd_ties(links, split).tolist() == [False, False, False, False, True]


def test_a_group_can_join_pieces_of_several_cleared_communities() -> None:
    # a device chain 2-3-4-5 across communities {0..3} and {4..7}: one group of four; what
    # is left of each community (two accounts) is below min_community_size, not tested again
    links = _links([(0, 1, 0.3, 0), (2, 3, 0, 0.9), (3, 4, 0, 0.9), (4, 5, 0, 0.9),
                    (6, 7, 0.3, 0)], 8)
    membership = np.r_[np.zeros(4, int), np.ones(4, int)]
    split = held_split(links, membership, np.zeros(2, bool), ("device",), 3)
    assert split is not None
    assert len(set(split.membership[2:6])) == 1 and split.grouped[2:6].all()
    assert set(split.membership[:2]) == {0} and set(split.membership[6:]) == {1}


def _ring_in_a_crowd() -> tuple[Links, np.ndarray]:
    """One cleared community: a ring 0-8 tied completely (score 0.95; its three cards 0-2,
    3-5, 6-8 as device ties) and a crowd 9-20 tied to the ring and to itself at 0.3."""
    ring = [(i, j, 0.95, 0.9 if i // 3 == j // 3 else 0.0)
            for i in range(9) for j in range(i + 1, 9)]
    crowd = [(i, j, 0.3, 0.0) for i in range(9, 21) for j in range(i + 1, 21)]
    crowd += [(i, 9 + (i * 5 + k) % 12, 0.3, 0.0) for i in range(9) for k in range(3)]
    t = pd.DataFrame(ring + crowd, columns=["a", "b", "score", "device"])
    return Links(t, 21), np.zeros(21, int)


def test_a_dense_core_is_found_inside_its_crowd_and_joins_its_card_groups() -> None:
    links, membership = _ring_in_a_crowd()
    cleared = np.zeros(1, bool)
    cores = dense_cores(links, membership, cleared, 0.5, 3, 0)
    assert cores is not None
    assert len(set(cores[:9])) == 1 and cores[0] >= 0 and (cores[9:] == -1).all()
    # without the core: three card groups of three, each tested alone
    alone = held_split(links, membership, cleared, ("device",), 3)
    assert len(set(alone.membership[:9])) == 3
    # with it: one group of nine, the crowd left as it was
    split = held_split(links, membership, cleared, ("device",), 3, cores)
    assert len(set(split.membership[:9])) == 1 and split.grouped[:9].all()
    assert not split.grouped[9:].any()
    # the crowd's ties to the ring are crowd ties (they say nothing for or against it)
    t = links.table
    out = (t["a"] < 9) & (t["b"] >= 9)
    assert crowd_ties(links, split)[out.to_numpy()].all()


def test_no_core_in_a_flagged_community_a_uniform_one_or_below_the_resolution() -> None:
    links, membership = _ring_in_a_crowd()
    assert dense_cores(links, membership, np.ones(1, bool), 0.5, 3, 0) is None
    assert dense_cores(links, membership, np.zeros(1, bool), 0.99, 3, 0) is None
    ring = Links(links.table[(links.table["a"] < 9) & (links.table["b"] < 9)], 9)
    assert dense_cores(ring, np.zeros(9, int), np.zeros(1, bool), 0.5, 3, 0) is None


def test_held_signals_come_from_the_registry() -> None:
    reg = Registry.for_names(["device", "phone", "email_domain", "metadata", "loyalty_card"])
    # held: what an account holds; not an address, a template, request metadata, or a kind
    # the user names (nothing says whether it is a loyalty card or a country)
    assert reg.held_signals == ("payment", "device", "phone")


def _farm_in_a_crowd(tmp_path: Path) -> tuple[Path, Path, set[str], set[str]]:
    """A phone farm (60 accounts on 3 devices, 15 SIM numbers, a card each, created this month, a
    third banned)
    on a carrier's NAT pool of 6 addresses, with 400 of the carrier's ordinary users (own cards,
    old accounts) on the same pool, the carrier's app and the same popular templates, among 3,600 home users (the
    pool is then an eighth of the accounts' and ties the crowd as a carrier's pool does)."""
    rng = np.random.default_rng(5)
    events, accounts = [], []
    farm = [f"farm{i:02d}" for i in range(60)]
    crowd = [f"mobile{i:03d}" for i in range(400)]
    home = [f"home{i:04d}" for i in range(3600)]

    def requests(acct: str, n: int, ip: str, device: str, phone: str) -> None:
        for _ in range(n):
            t = T0 + dt.timedelta(days=int(rng.integers(0, 25)), hours=int(rng.integers(8, 22)),
                                  seconds=int(rng.integers(0, 3600)))
            mobile = not ip  # on the carrier: its bundled app sends its own prompt half the time
            template = ("tpl_carrier_app" if mobile and rng.random() < 0.5
                        else f"tpl_pub_{rng.integers(0, 20)}")
            events.append((acct, t, ip if ip else f"100.64.0.{rng.integers(0, 6)}", template,
                           "MobileApp/3.2", device, phone))

    for k, acct in enumerate(farm):
        created = T0 - dt.timedelta(days=int(rng.integers(0, 20)), hours=int(rng.integers(0, 24)))
        status = "banned" if k % 3 == 0 else "active"
        accounts.append((acct, created, f"pm_farm{k}", status))
        requests(acct, int(rng.integers(20, 40)), "", f"dev{k // 20}", f"+1202555{k // 4:04d}")
    for k, acct in enumerate(crowd):
        created = T0 - dt.timedelta(days=int(rng.integers(60, 700)))
        accounts.append((acct, created, f"pm_m{k}", "active"))
        requests(acct, int(rng.integers(20, 40)), "", f"phone{k}", f"+1303555{k:04d}")
    for k, acct in enumerate(home):
        created = T0 - dt.timedelta(days=int(rng.integers(0, 700)))
        accounts.append((acct, created, f"pm_h{k}", "banned" if k % 20 == 0 else "active"))
        requests(acct, int(rng.integers(3, 9)), f"198.18.{k // 200}.{k % 200}", f"pc{k}",
                 f"+1404555{k:04d}")
    columns = ["account_id", "ts", "ip", "template_hash", "user_agent",
               "device", "phone"]
    ev_path, acc_path = write_log(tmp_path, events, columns, accounts)
    return ev_path, acc_path, set(farm), set(crowd)


@pytest.mark.parametrize("groups", [True, False])
def test_a_farm_inside_its_carriers_crowd_is_found_by_what_it_holds(
        tmp_path: Path, groups: bool) -> None:
    ev, acc, farm, crowd = _farm_in_a_crowd(tmp_path)
    settings = Settings(identifiers={"device": "device", "phone": "phone"},
                        identifier_groups=groups)
    result = detect(load(ev, accounts=acc, settings=settings), settings)
    a = result.accounts.set_index("account_id")
    flagged = set(a.index[a["flagged"]])
    # the crowd and the farm share the pool: one community, cleared on the crowd's rates
    farm_comm = a.loc[sorted(farm), "community_id"]
    if not groups:
        assert len(flagged & farm) <= len(farm) // 2
        assert (farm_comm.isin(a.loc[sorted(crowd), "community_id"])).mean() > 0.5
        return
    assert len(flagged & farm) >= 0.9 * len(farm)
    assert len(flagged & crowd) <= 0.02 * len(crowd)
    comms = result.communities.set_index("community_id")
    assert comms.loc[farm_comm.mode()[0], "flagged"]


def _fake_rescore(calls: list, flag_with: set[int]):
    """A stand-in for score_communities: records its arguments; a community is flagged when
    its q was kept or it holds an account of ``flag_with`` (q 0.02)."""

    def rescore(partition, crowd_ties=None, kept_q=None):
        calls.append({"partition": partition, "kept_q": kept_q, "crowd": crowd_ties})
        m = partition.membership
        hit = np.zeros(partition.n_communities, bool)
        hit[m[sorted(flag_with)]] = True
        q = np.where(np.isnan(kept_q), np.where(hit, 0.02, 0.5), kept_q)
        return type("S", (), {"communities": pd.DataFrame({"flagged": q < 0.05, "q_value": q})})()

    return rescore


def _first_pass(n_first: int = 3) -> tuple:
    from graphkit.detection.communities import Communities

    comms = Communities(np.r_[np.zeros(n_first, int), np.ones(9 - n_first, int)],
                        np.array([n_first, 9 - n_first]), "leiden-cpm")
    first = pd.DataFrame({"flagged": [True, False], "q_value": [0.01, 0.5]})
    return comms, type("S", (), {"communities": first})()


def test_the_second_pass_keeps_the_first_passs_flags_and_their_q_values() -> None:
    from graphkit.detection.pipeline import _identifier_groups

    # community 0 (0-2) flagged at q 0.01; community 1 (3-8) cleared, a device group 5-7 in it
    links = _links([(0, 1, 0.3, 0), (1, 2, 0.3, 0), (3, 4, 0.3, 0), (4, 5, 0.3, 0),
                    (5, 6, 0, 0.9), (6, 7, 0, 0.9), (7, 8, 0.3, 0)], 9)
    comms, scored = _first_pass()
    calls: list = []
    new, out = _identifier_groups(comms, scored, links, ("device",), Settings(),
                                  _fake_rescore(calls, {5}))
    assert len(calls) == 1 and new.method == "leiden-cpm + identifier groups"
    assert out.communities["flagged"].sum() == 2
    m = new.membership
    assert len({m[0], m[1], m[2]}) == 1 and len({m[5], m[6], m[7]}) == 1
    assert len({m[0], m[3], m[5]}) == 3
    kept = calls[0]["kept_q"]
    assert kept[m[0]] == 0.01 and np.isnan(kept[m[3]]) and np.isnan(kept[m[5]])
    # the group's ties out to its old community without a device are crowd ties
    assert calls[0]["crowd"].tolist() == [False, False, False, True, False, False, True]


def test_groups_the_second_pass_clears_go_back_to_their_communities() -> None:
    from graphkit.detection.pipeline import _identifier_groups

    # community 1 (2-8) cleared, two device groups in it: 2-4 and 6-8
    links = _links([(0, 1, 0.3, 0), (2, 3, 0, 0.9), (3, 4, 0, 0.9), (4, 5, 0.3, 0),
                    (5, 6, 0.3, 0), (6, 7, 0, 0.9), (7, 8, 0, 0.9)], 9)
    comms, scored = _first_pass(2)
    # neither flagged: the first pass as it was, not cut into its devices
    calls: list = []
    new, out = _identifier_groups(comms, scored, links, ("device",), Settings(),
                                  _fake_rescore(calls, set()))
    assert new is comms and out is scored and len(calls) == 1
    # one flagged: it stays apart, the other goes back, and the partition is scored again with
    # the flagged group's q kept
    calls = []
    new, out = _identifier_groups(comms, scored, links, ("device",), Settings(),
                                  _fake_rescore(calls, {6}))
    m = new.membership
    assert len(calls) == 2
    assert len({m[2], m[3], m[4], m[5]}) == 1 and len({m[6], m[7], m[8]}) == 1
    assert m[2] != m[6] and m[0] != m[2]
    kept = calls[1]["kept_q"]
    assert kept[m[6]] == 0.02 and kept[m[0]] == 0.01 and np.isnan(kept[m[2]])
    assert out.communities["flagged"].to_numpy()[m].tolist() == [True] * 2 + [False] * 4 + [True] * 3


def _three_communities() -> tuple:
    """Community 0 (0-1) flagged; 1 (2-8) cleared, device groups 2-4 and 6-8 in it, 5 left;
    2 (9-11) cleared, no group."""
    from graphkit.detection.communities import Communities

    links = _links([(0, 1, 0.3, 0), (2, 3, 0, 0.9), (3, 4, 0, 0.9), (4, 5, 0.3, 0),
                    (5, 6, 0.3, 0), (6, 7, 0, 0.9), (7, 8, 0, 0.9), (9, 10, 0.3, 0),
                    (10, 11, 0.3, 0)], 12)
    membership = np.r_[np.zeros(2, int), np.ones(7, int), np.full(3, 2)]
    comms = Communities(membership, np.bincount(membership), "leiden-cpm")
    first = pd.DataFrame({"flagged": [True, False, False], "q_value": [0.01, 0.5, 0.5]})
    return links, comms, type("S", (), {"communities": first})()


def test_groups_stay_when_the_rest_they_were_taken_from_is_flagged() -> None:
    from graphkit.detection.pipeline import _identifier_groups

    links, comms, scored = _three_communities()
    calls: list = []
    new, out = _identifier_groups(comms, scored, links, ("device",), Settings(),
                                  _fake_rescore(calls, {5}))
    m = new.membership
    # the rest (5) was tested without its groups and flagged: both groups stay, one pass
    assert len(calls) == 1
    assert len({m[2], m[5], m[6]}) == 3 and len({m[2], m[3], m[4]}) == 1
    assert out.communities["flagged"].to_numpy()[m[5]]


def test_only_what_the_split_caused_keeps_the_second_verdict() -> None:
    from graphkit.detection.pipeline import _identifier_groups

    links, comms, scored = _three_communities()
    calls: list = []
    # the second pass flags group 6-8 and, its cut moved by more tests, untouched 9-11
    new, _ = _identifier_groups(comms, scored, links, ("device",), Settings(),
                                _fake_rescore(calls, {6, 9}))
    m = new.membership
    assert len(calls) == 2
    kept = calls[1]["kept_q"]
    assert kept[m[6]] == 0.02 and kept[m[0]] == 0.01
    assert np.isnan(kept[m[9]]) and np.isnan(kept[m[2]])  # 9-11 is tested again


def test_dense_cores_make_groups_without_any_held_kind() -> None:
    from graphkit.detection.communities import Communities
    from graphkit.detection.pipeline import _identifier_groups

    links, membership = _ring_in_a_crowd()
    comms = Communities(membership, np.bincount(membership), "leiden-cpm")
    scored = type("S", (), {"communities": pd.DataFrame({"flagged": [False],
                                                         "q_value": [0.5]})})()
    calls: list = []
    new, _ = _identifier_groups(comms, scored, links, (), Settings(core_resolution=0.5),
                                _fake_rescore(calls, {0}))
    m = new.membership
    assert len(set(m[:9])) == 1 and not set(m[:9]) & set(m[9:])
    # off: nothing to split without a held kind
    new, out = _identifier_groups(comms, scored, links, (), Settings(core_resolution=0.0),
                                  _fake_rescore([], {0}))
    assert new is comms and out is scored


def test_a_singleton_is_never_a_group() -> None:
    links, membership = _ring_in_a_crowd()
    split = held_split(links, membership, np.zeros(1, bool), ("device",), 1)
    assert split.grouped.sum() == 9 and not split.grouped[9:].any()
    cores = dense_cores(links, membership, np.zeros(1, bool), 0.5, 1, 0)
    assert (cores[9:] == -1).all()
