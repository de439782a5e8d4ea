"""Community indicators against hand-computed values on tiny hand-built inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from graphkit.detection import indicators as ind
from graphkit.detection.features import ReleaseTraffic
from graphkit.detection.indicators import Groups
from graphkit.detection.links import Links, signal_matrix
from graphkit.detection.scoring import cohesion, suspicion
from graphkit.errors import ConfigError
from graphkit.settings import Settings

S = Settings()


def matrix(name, rows, n_accounts, n_entities):
    """rows: (account, entity, count); every account's events are its counts' sum."""
    a, e, c = (np.array(x) for x in zip(*rows, strict=True))
    counts = sp.csr_matrix((c.astype(float), (a, e)), shape=(n_accounts, n_entities))
    n_events = np.asarray(counts.sum(axis=1)).ravel()
    keys = np.array([f"{name}{i}" for i in range(n_entities)])
    return signal_matrix(name, counts, n_events, keys, S)


def test_shared_payment_is_one_minus_cards_per_payer():
    # Community 0: accounts 0, 1 pay with card 0, account 2 with card 1: 1 - 2/3.
    # Community 1: one payer, no concentration.
    pay = matrix("payment", [(0, 0, 5), (1, 0, 5), (2, 1, 5), (3, 2, 5)], 4, 3)
    got = ind.shared_payment(pay, Groups(np.array([0, 0, 0, 1]), 2))
    assert got.indicator.tolist() == pytest.approx([1 / 3, 0.0])
    assert got.n_paying.tolist() == [3, 1]
    assert got.n_cards.tolist() == [2, 1]
    assert ind.shared_payment(None, Groups(np.array([0, 1]), 2)).indicator.tolist() == [0, 0]


def test_shared_entity_count_counts_entities_of_two_or_more_members():
    pay = matrix("payment", [(0, 0, 5), (1, 0, 5), (2, 1, 5), (3, 1, 5)], 4, 2)
    # Card 0 is used by two members of community 0; card 1 by one member of each community.
    assert ind.shared_entity_count(pay, Groups(np.array([0, 0, 0, 1]), 2)).tolist() \
        == [1.0, 0.0]


def _templates():
    # 40 accounts of 10 requests: community 0 is accounts 0-3, community 1 accounts 4-39.
    # Accounts 0, 1, 2 send everything on template 0 (used by nobody else); accounts 3 and 4
    # share template 1 across the two communities; the others use their own templates.
    rows = [(a, 0, 10) for a in range(3)] + [(3, 1, 10), (4, 1, 10)]
    rows += [(a, a - 3, 10) for a in range(5, 40)]
    groups = Groups(np.array([0] * 4 + [1] * 36), 2)
    return matrix("template", rows, 40, 37), groups, np.full(40, 10.0)


def test_exclusive_templates_share_of_traffic():
    tpl, groups, n_events = _templates()
    # Template 0: 3 users, all in community 0: lift = (3/3) / (4/40) = 10 >= 10, breadth
    # min(1, 3 / (0.25 * 4)) = 1: 30 of community 0's 40 requests. Template 1 has one user in
    # each community: never exclusive.
    share, n_excl = ind.exclusive_templates(tpl, groups, n_events, S)
    assert share.tolist() == pytest.approx([0.75, 0.0])
    assert n_excl.tolist() == [1.0, 0.0]


def test_exclusive_templates_breadth_and_lift():
    tpl, groups, n_events = _templates()
    # Breadth 1.0: 3 users of 4 members count 3/4: 30 * 0.75 / 40.
    wide = dataclasses.replace(S, template_breadth=1.0)
    assert ind.exclusive_templates(tpl, groups, n_events, wide)[0][0] == pytest.approx(0.5625)
    # A lift of 10 is not enough once 11 is asked for.
    strict = dataclasses.replace(S, template_min_lift=11.0)
    assert ind.exclusive_templates(tpl, groups, n_events, strict)[0][0] == 0.0


def test_template_of_one_payer_is_not_shared():
    tpl, groups, n_events = _templates()
    # Accounts 0, 1, 2 (template 0's users) pay with one card: one customer's template.
    one = matrix("payment", [(0, 0, 1), (1, 0, 1), (2, 0, 1)], 40, 2)
    payer = ind.payers(one, 40)
    assert ind.exclusive_templates(tpl, groups, n_events, S, payer)[0].tolist() == [0.0, 0.0]
    shows, _ = ind.exclusive_template_members(tpl, groups, S, payer)
    assert not shows.any()
    # Account 2 pays with its own card: two payers share the template, all three count.
    two = matrix("payment", [(0, 0, 1), (1, 0, 1), (2, 1, 1)], 40, 2)
    shows, _ = ind.exclusive_template_members(tpl, groups, S, ind.payers(two, 40))
    assert np.flatnonzero(shows).tolist() == [0, 1, 2]
    # Accounts chained by cards (0-1 on card 0, 1-2 on card 1) are one payer.
    chain = matrix("payment", [(0, 0, 1), (1, 0, 1), (1, 1, 1), (2, 1, 1)], 40, 2)
    assert ind.payers(chain, 40)[:4].tolist() == [0, 0, 0, 1]
    # Without payment data every account is its own payer: as without the rule.
    assert ind.exclusive_templates(tpl, groups, n_events, S, ind.payers(None, 40))[0].tolist() \
        == pytest.approx([0.75, 0.0])


def test_synchrony_share_of_traffic_in_lock_step():
    # Link (0, 1) is internal with synchrony 0.5 >= 0.3: accounts 0 and 1 (30 of 60 requests).
    # Link (1, 2) is internal but weak (0.2); link (2, 3) crosses communities.
    a, b, sync = np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([0.5, 0.2, 0.9])
    groups = Groups(np.array([0, 0, 0, 1]), 2)
    n_events = np.array([10.0, 20.0, 30.0, 40.0])
    assert ind.synchrony(a, b, sync, groups, n_events, S).tolist() == pytest.approx([0.5, 0.0])
    loose = dataclasses.replace(S, sync_member_similarity=0.2)
    assert ind.synchrony(a, b, sync, groups, n_events, loose).tolist() == pytest.approx([1.0, 0])


def test_volume_in_decades_above_the_typical_account():
    # Typical (median active) account: 100 requests. Community medians 10, 1000, 100.
    n_events = np.array([10.0, 10.0, 1000.0, 1000.0, 100.0, 0.0])
    groups = Groups(np.array([0, 0, 1, 1, 2, 2]), 3)
    # log10(1000 / 100) / 1.5 = 2/3; community 2's median is 50 (below typical): 0.
    assert ind.volume(n_events, groups, S).tolist() == pytest.approx([0.0, 2 / 3, 0.0])
    one = dataclasses.replace(S, volume_decades=1.0)
    assert ind.volume(n_events, groups, one).tolist() == pytest.approx([0.0, 1.0, 0.0])


def test_infrastructure_share_of_proxied_traffic():
    groups = Groups(np.array([0, 0, 1, 1]), 2)
    got = ind.infrastructure(np.array([5, 0, 10, 0]), np.full(4, 10.0), groups)
    assert got.tolist() == pytest.approx([0.25, 0.5])


def _creation():
    day = pd.Timedelta(days=1)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    # Community 0: three accounts created within an hour; community 1: five a hundred days
    # apart.
    created = [t0, t0 + pd.Timedelta(minutes=30), t0 + pd.Timedelta(hours=1)]
    created += [t0 + k * 100 * day for k in range(1, 6)]
    return pd.Series(created), Groups(np.array([0, 0, 0, 1, 1, 1, 1, 1]), 2)


def test_creation_burst_against_chance():
    created, groups = _creation()
    # Each of accounts 0-2 has 2 members within 36 h; nobody else has any neighbour. Chance:
    # 6 neighbours / 8 accounts / 7 others = 0.107 per other member, so (3 - 1) * 0.107 = 0.214
    # expected and 3 * 0.214 = 0.64 <= 2: all three are in a burst.
    share, span = ind.creation_burst(created, groups, S)
    assert share.tolist() == [1.0, 0.0]
    # Middle 80 %: 0.1 and 0.9 quantiles of (0, 1800, 3600) s = 2880 s; of days 100..500 =
    # 140 .. 460 days.
    assert span.tolist() == pytest.approx([2880 / 86400, 320.0])
    # Asking for ten times chance (2.14 > 2 neighbours) finds no burst.
    strict = dataclasses.replace(S, burst_excess=10.0)
    assert ind.creation_burst(created, groups, strict)[0].tolist() == [0.0, 0.0]


def test_creation_burst_needs_known_creation_times():
    created, groups = _creation()
    created[[1, 2]] = pd.NaT  # community 0: 1 known of 3 (< max(1.5, 2))
    assert ind.creation_burst(created, groups, S)[0].tolist() == [0.0, 0.0]


def test_new_accounts_share():
    created = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01", None]))
    first = pd.Series(pd.to_datetime(["2024-01-10", "2024-03-01", None, "2024-01-05"]))
    # Ages 9 days (new), 60 days (old), unknown, unknown (counted old).
    got = ind.new_accounts(created, first, Groups(np.array([0, 0, 1, 1]), 2), S)
    assert got.tolist() == [0.5, 0.0]


def test_automation_from_hour_entropy():
    # Community 0: traffic-weighted entropy (10 * 1 + 10 * 0.87) / 20 = 0.935, half-way from a
    # human day (0.87) to 24/7 (1). Community 1: (5 + 28.05) / 40 = 0.83 < 0.87: 0.
    got = ind.automation(np.array([1.0, 0.87, 0.5, 0.935]), np.array([10.0, 10.0, 10.0, 30.0]),
                         Groups(np.array([0, 0, 1, 1]), 2), S)
    assert got.tolist() == pytest.approx([0.5, 0.0])


def test_model_jump_excess_over_the_other_accounts():
    # Two releases, three communities of two accounts, 10 requests each in every release window
    # and 10 before it. Community 0 sends 6 of 20 to m2 (the others 2 of 40): (0.3 - 0.05) /
    # 0.3. Community 1 sends 8 of 20 to m3 but already sent 4 of 20 before: it moved 0.2 (the
    # others none). Community 2's 2 of 20 on m2 is below the others' 6 of 40.
    on = np.array([[3, 0], [3, 0], [0, 4], [0, 4], [1, 0], [1, 0]], float)
    before_on = np.array([[0, 0], [0, 0], [0, 2], [0, 2], [0, 0], [0, 0]], float)
    ten = np.full((6, 2), 10.0)
    traffic = ReleaseTraffic(("m2", "m3"), on, ten, before_on, ten)
    groups = Groups(np.array([0, 0, 1, 1, 2, 2]), 3)
    got = ind.model_jump(traffic, groups, dataclasses.replace(S, model_jump_prior_requests=0.0))
    assert got.indicator.tolist() == pytest.approx([0.25 / 0.3, 0.2 / 0.3, 0.0])
    # Weighed by the evidence: 20 window requests against 30 prior ones keep 20 / 50 of it.
    weighed = ind.model_jump(traffic, groups, S)
    assert S.model_jump_prior_requests == 30.0
    assert weighed.indicator.tolist() == pytest.approx([0.25 * 0.4 / 0.3, 0.2 * 0.4 / 0.3, 0.0])
    assert got.share.tolist() == pytest.approx([0.3, 0.2, 0.1])
    assert got.background.tolist() == pytest.approx([0.05, 0.0, 0.15])
    assert got.model.tolist() == ["m2", "m3", "m2"]
    # Per account: a move counts once it is model_jump_scale above the others', weighed the
    # same way: 0.8 * 120 / 150 = 0.64 counts, 0.8 * 10 / 40 = 0.2 and 0.2 * 120 / 150 do not.
    shows, could = ind.jump_members(np.array([0.9, 0.9, 0.5, 0.0]),
                                    np.array([0.1, 0.1, 0.3, 0.0]), np.array([120, 10, 120, 0]), S)
    assert shows.tolist() == [True, False, False, False]
    assert could.tolist() == [True, True, True, False]


def test_model_jump_without_release_window_requests():
    empty = np.zeros((3, 1))
    got = ind.model_jump(ReleaseTraffic(("m2",), empty, empty, empty, empty),
                         Groups(np.array([0, 0, 1]), 2), S)
    assert got.indicator.tolist() == [0.0, 0.0] and got.model.isna().all()


def test_banned_seeds_and_org_share():
    groups = Groups(np.array([0, 0, 0, 1, 1]), 2)
    status = pd.Series(["BANNED", "active", None, "banned", "banned"])
    assert ind.banned(status, groups).tolist() == pytest.approx([1 / 3, 1.0])
    seeds, n_seeds = ind.seeds(pd.Series([None, "A", "B", None, None]), groups)
    assert seeds.tolist() == [1.0, 0.0] and n_seeds.tolist() == [2.0, 0.0]
    org = pd.Series(["x", "x", "y", None, None])
    assert ind.org_share(org, groups).tolist() == pytest.approx([2 / 3, 0.0])


def test_suspicion_combines_weights_gate_size_and_benign():
    zero = np.zeros(4)
    one = {k: np.ones(4) for k in ("shared_payment", "synchrony", "model_jump", "volume")}
    size = np.array([6.0, 6.0, 6.0, 2.0])
    n_seeds = np.array([0.0, 0.0, 1.0, 0.0])
    org = np.array([0.0, 0.5, 0.5, 0.0])
    # Coordination 0.6 + 0.8 + 0.8 = 2.2 >= gate 2: volume counts in full (0.3): evidence 2.5.
    # Size factor 1 - exp(-5/5); benign 1 - 0.9 * 0.5 unless seeds; size 2 < 3: 0.
    base = (1 - np.exp(-2.5)) * (1 - np.exp(-1.0))
    got = suspicion(one, size, n_seeds, org, S)
    assert got.tolist() == pytest.approx([base, base * 0.55, base, 0.0])
    # Volume alone is no evidence of coordination.
    assert suspicion({"volume": np.ones(4)}, size, zero, zero, S).tolist() == [0.0] * 4
    # Half the gate: the profile indicator counts half. Coordination 0.6, gate 1.2.
    half = dataclasses.replace(S, profile_gate=1.2)
    got = suspicion({"shared_payment": np.ones(1), "volume": np.ones(1)}, np.array([6.0]),
                    np.zeros(1), np.zeros(1), half)
    assert got[0] == pytest.approx((1 - np.exp(-(0.6 + 0.3 * 0.5))) * (1 - np.exp(-1.0)))


def test_cohesion_density_counts_sampled_pairs():
    # Three links inside community 0 (3 accounts: 3 possible pairs); the (0, 2) link was drawn
    # with probability 0.5, so it stands for 2 pairs and weighs score / 0.5.
    t = pd.DataFrame({"a": [0, 0, 1, 2], "b": [1, 2, 2, 3], "score": [0.8, 0.6, 0.4, 0.5],
                      "inclusion": [1.0, 0.5, 1.0, 1.0]})
    c = cohesion(Links(t, 4), Groups(np.array([0, 0, 0, 1]), 2))
    assert c.strength_in.tolist() == pytest.approx([2.0, 1.2, 1.6, 0.0])
    assert c.strength_all.tolist() == pytest.approx([2.0, 1.2, 2.1, 0.5])
    assert c.density.tolist() == pytest.approx([4 / 3, 0.0])
    assert c.mean_score.tolist() == pytest.approx([2.4 / 4, 0.0])
    assert c.median_strength.tolist() == pytest.approx([1.6, 0.0])


def test_settings_reject_unknown_indicators():
    with pytest.raises(ConfigError):
        Settings(indicator_weights={"shared_payment": 1.0, "luck": 1.0})
    with pytest.raises(ConfigError):
        Settings(profile_indicators=("volume", "luck"))
    with pytest.raises(ConfigError):
        Settings(evidence_thresholds={"luck": 0.1})
    s = Settings(profile_indicators=["volume"])
    assert s.profile_indicators == ("volume",)
    assert Settings.from_dict(s.to_dict()) == s


def test_human_hours_communities_by_hand():
    # At human_hour_entropy 0.87 an account is judged from 23 / (0.13 log 24) = 55.7 requests.
    g = Groups(np.array([0, 0, 0, 1, 1, 1, 2, 2, 3]), 4)
    ent = np.array([0.70, 0.80, 0.20, 0.60, 0.10, 0.10, 0.90, 0.80, 0.0])
    n = np.array([200, 100, 40, 60, 50, 50, 100, 100, 0])
    # 0: judged 300 of 340 requests, (200 * 0.7 + 100 * 0.8) / 300 = 0.733 <= 0.87.
    # 1: judged 60 of 160 requests (0.375 < quorum 0.5): not judged.
    # 2: (0.9 + 0.8) / 2 = 0.85 <= 0.87.  3: no requests.
    assert ind.human_hours_communities(ent, n, g, Settings()).tolist() == [
        True, False, True, False]
    assert ind.human_hours_communities(ent, n, g, Settings(human_hours_quorum=0.3)).tolist() == [
        True, True, True, False]
    # At 0.84 accounts are judged from 45.2 requests: community 1 is judged on all its 160
    # requests, (60 * 0.6 + 100 * 0.1) / 160 = 0.29; community 2 runs round the clock.
    assert ind.human_hours_communities(ent, n, g, Settings(human_hour_entropy=0.84)).tolist() == [
        True, True, False, False]
    with pytest.raises(ConfigError):
        Settings(human_hours_quorum=1.5)
