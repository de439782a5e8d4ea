"""The flag cut from the data: mid-p values, informative indicators, Fisher, BH, org members."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats

import graphkit
from graphkit.detection.cut import (
    Counts,
    Marks,
    betabinom_mid_tail,
    bh_qvalues,
    coordination_counts,
    domain_organisations,
    explained_members,
    member_evidence,
    member_marks,
    mid_p_correlated,
    redundant_payers,
    surprise,
    working_day_members,
)
from graphkit.detection.evidence import evidence_table
from graphkit.detection.features import account_activity, hour_vectors
from graphkit.detection.indicators import Groups, burst_chance, burst_members, payers
from graphkit.detection.links import Links, SignalMatrix
from graphkit.detection.scoring import (
    AccountScores,
    account_scores,
    cohesion,
    community_surprise,
    join_units,
)
from graphkit.errors import ConfigError
from graphkit.settings import Settings


def test_mid_p_is_half_the_point_mass_below_the_plain_tail():
    # Background over every community: 3 of 8 trials.
    counts = {"banned": Counts(np.array([3.0, 0.0]), np.array([4.0, 4.0]))}
    t = surprise(counts, np.array([True, True]), drop_strongest=0)
    p0 = 3 / 8
    want = stats.binom.sf(3, 4, p0) + 0.5 * stats.binom.pmf(3, 4, p0)
    assert t.background["banned"] == pytest.approx(p0)
    assert t.per_indicator["banned"][0] == pytest.approx(want)
    # One indicator: Fisher's chi2 with 2 degrees of freedom gives the indicator's p back.
    assert t.p_value[0] == pytest.approx(want)
    assert t.per_indicator["banned"][0] < stats.binom.sf(2, 4, p0)  # below the plain tail


def test_indicators_without_an_informative_background_do_not_dilute_the_others():
    marked = Counts(np.array([6.0, 1.0, 0.0, 2.0]), np.full(4, 6.0))
    tested = np.ones(4, bool)
    alone = surprise({"new_accounts": marked, "synchrony": marked}, tested)
    # No bans anywhere (background 0) and everyone in a burst (background 1): no evidence.
    nothing = Counts(np.zeros(4), np.full(4, 6.0))
    everything = Counts(np.full(4, 6.0), np.full(4, 6.0))
    more = surprise({"new_accounts": marked, "synchrony": marked, "banned": nothing,
                     "creation_burst": everything}, tested)
    assert more.informative == ["new_accounts", "synchrony"]
    assert more.p_value == pytest.approx(alone.p_value)
    assert more.background["banned"] == 0.0 and more.background["creation_burst"] == 1.0


def test_one_marked_indicator_alone_does_not_make_a_community():
    k = np.array([20.0, 0.0, 0.0, 0.0, 1.0])
    n = np.full(5, 20.0)
    quiet = Counts(np.array([1.0, 1.0, 0.0, 1.0, 0.0]), n)
    counts = {"exclusive_templates": Counts(k, n), "new_accounts": quiet}
    tested = np.ones(5, bool)
    with_one = surprise(counts, tested, drop_strongest=0).p_value[0]
    without = surprise(counts, tested, drop_strongest=1).p_value[0]
    assert with_one < 1e-6
    assert without > 0.1
    # A second marked indicator brings it back.
    counts["new_accounts"] = Counts(np.array([18.0, 1.0, 0.0, 1.0, 0.0]), n)
    assert surprise(counts, tested, drop_strongest=1).p_value[0] < 1e-6


def test_communities_not_tested_get_p_one_and_stay_out_of_bh():
    k = np.array([5.0, 0.0, 5.0, 0.0, 0.0, 0.0])
    counts = {"banned": Counts(k, np.full(6, 5.0)), "new_accounts": Counts(k, np.full(6, 5.0))}
    tested = np.array([True, True, False, True, True, True])
    t = surprise(counts, tested, drop_strongest=0)
    assert t.p_value[2] == 1.0 and t.p_value[0] < 0.01
    q = bh_qvalues(t.p_value, tested)
    assert q[2] == 1.0 and q[0] == pytest.approx(t.p_value[0] * 5)


def test_bh_qvalues_by_hand():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    q = bh_qvalues(p, np.ones(10, bool))
    # p_(i) * m / i, then the running minimum from the largest p down.
    raw = p * 10 / np.arange(1, 11)
    want = np.minimum.accumulate(raw[::-1])[::-1]
    assert q == pytest.approx(want)
    assert (q <= 0.05).sum() == 2  # the textbook example rejects two at q = 0.05


def test_redundant_payers_count_the_payers_beyond_the_first_per_card():
    import scipy.sparse as sp
    # Accounts 0-3 in community 0: 0, 1, 2 on card A, 3 on card B; 4 alone on card A.
    shares = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 0], [0, 1], [1, 0], [0, 0]], float))
    sig = SignalMatrix("payment", shares, np.ones(2), np.array([4, 1]), np.array(["A", "B"]))
    groups = Groups(np.array([0, 0, 0, 0, 1, 2]), 3)
    shows, pays = redundant_payers(sig, groups)
    assert shows.tolist() == [False, True, True, False, False, False]
    assert pays.tolist() == [True, True, True, True, True, False]


def test_declared_organisations_explain_their_members_unless_seeds_are_there():
    groups = Groups(np.array([0, 0, 0, 1, 1, 1]), 2)
    org = pd.Series(["acme", "acme", None, "acme", "acme", "other"])
    seeds = pd.Series([None, None, None, None, "actor", None])
    assert explained_members(org, seeds, groups).tolist() == [True, True, False,
                                                              False, False, False]


def test_creation_bursts_are_tested_against_the_chance_of_the_community_size():
    # 80 colleagues created over a year among 4,000 accounts created over the same year: some
    # of them have two colleagues within 72 h by chance; that is not a fleet's burst.
    rng = np.random.default_rng(1)
    n, office = 4000, 80
    created = pd.Series(pd.Timestamp("2025-01-01", tz="UTC")
                        + pd.to_timedelta(rng.uniform(0, 365, n), unit="D"))
    membership = np.r_[np.zeros(office, int), np.arange(1, n - office + 1)]
    groups = Groups(membership, n - office + 1)
    burst = burst_members(created, groups, Settings())
    k = burst.in_burst[:office].sum()
    assert k > 0  # chance does put a few colleagues in a "burst"
    counts = {"creation_burst": Counts(groups.sum(burst.in_burst.astype(float)),
                                       groups.sum(burst.known.astype(float)), burst.chance),
              "other": Counts(np.r_[office, np.zeros(n - office)], np.r_[office, np.ones(
                  n - office)])}
    tested = groups.size >= 3
    with_chance = surprise(counts, tested, drop_strongest=0).per_indicator["creation_burst"][0]
    counts["creation_burst"] = Counts(counts["creation_burst"].k, counts["creation_burst"].n)
    without = surprise(counts, tested, drop_strongest=0).per_indicator["creation_burst"][0]
    assert with_chance > 0.05 > without
    p_window = _p_window(created)
    assert burst.chance[0] == pytest.approx(
        burst_chance(np.array([office]), p_window, Settings())[0])
    # A trio almost never has a burst by chance; the background rate stays its null.
    assert burst_chance(np.array([3]), p_window, Settings())[0] < 1e-3


def _p_window(created: pd.Series) -> float:
    secs = np.sort((created - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy())
    half = Settings().burst_window_hours * 3600 / 2
    near = np.searchsorted(secs, secs + half, "right") - np.searchsorted(secs, secs - half) - 1
    return near.mean() / (len(secs) - 1)


def _resource_counts(hour_entropy: list[float], n_events: list[int] | None = None,
                     email_domain: list[str | None] | None = None,
                     settings: Settings | None = None,
                     hour_vector: list[tuple[float, float]] | None = None):
    """Accounts in one community, all paying with one card and created within an hour of
    one another; their hour profiles (and e-mail domains) given."""
    import scipy.sparse as sp

    n = len(hour_entropy)
    shares = sp.csr_matrix(np.ones((n, 1)))
    sig = SignalMatrix("payment", shares, np.ones(1), np.array([n]), np.array(["A"]))
    acc = pd.DataFrame({"org_id": [None] * n, "seed_actor": [None] * n,
                        "created_at": pd.Series(pd.Timestamp("2025-03-01", tz="UTC")
                                                + pd.to_timedelta(np.arange(n), unit="min")),
                        "first_seen": [None] * n,
                        "email_domain": email_domain or [None] * n,
                        "status": ["active"] * n, "n_events": n_events or [500] * n,
                        "hour_entropy": hour_entropy, "release_events": [0] * n,
                        "release_window_events": [0] * n, "release_shift": [0.0] * n,
                        "release_background": [0.0] * n})
    if hour_vector is not None:
        acc["hour_cos"], acc["hour_sin"] = np.asarray(hour_vector, dtype=float).T
    links = Links(pd.DataFrame({"a": np.zeros(0, int), "b": np.zeros(0, int),
                                "synchrony": np.zeros(0)}), n)
    groups = Groups(np.zeros(n, int), 1)
    marks = member_marks(acc, {"payment": sig}, links, groups, settings or Settings())
    return coordination_counts(marks, groups)


def test_members_keeping_working_hours_do_not_count_for_shared_resources():
    office = _resource_counts([0.7] * 6)  # a human day: the company card is what colleagues do
    fleet = _resource_counts([0.98] * 6)  # round the clock
    assert office["shared_payment"].n[0] == 0 and office["shared_payment"].k[0] == 0
    assert fleet["shared_payment"].n[0] == 6 and fleet["shared_payment"].k[0] == 5
    # Behaviour indicators still count every member.
    assert office["banned"].n[0] == fleet["banned"].n[0] == 6


def test_working_hours_are_judged_on_the_community():
    # Busy colleagues keep a human day: the sparse ones (too few requests to show a schedule
    # alone) are left out with them.
    office = _resource_counts([0.7, 0.7, 0.7, 0.0, 0.0, 0.0], [500, 500, 500, 30, 30, 30])
    assert office["shared_payment"].n[0] == 0
    # Mostly sparse accounts: nothing is judged, every member counts.
    sparse = _resource_counts([0.7, 0.0, 0.0, 0.0, 0.0, 0.0], [100, 40, 40, 40, 40, 40])
    assert sparse["shared_payment"].n[0] == 6 and sparse["shared_payment"].k[0] == 5


def test_a_community_of_sparse_accounts_is_judged_on_its_pooled_day():
    # Six colleagues with 20 requests each, all between 9:00 and 17:00 in one time zone: too
    # few to show a schedule alone, 120 pooled requests in working hours.
    hours = np.arange(9, 17)
    angle = 2 * np.pi * hours / 24
    per_hour = 20 / len(hours)
    staff = [(per_hour * np.cos(angle).sum(), per_hour * np.sin(angle).sum())] * 6
    office = _resource_counts([0.0] * 6, [20] * 6, hour_vector=staff)
    assert office["shared_payment"].n[0] == 0
    # The same requests spread over the whole clock: a fleet's scripts; every member counts.
    rng = np.random.default_rng(0)
    clock = 2 * np.pi * rng.integers(0, 24, (6, 20)) / 24
    scripts = list(zip(np.cos(clock).sum(axis=1), np.sin(clock).sum(axis=1), strict=True))
    fleet = _resource_counts([0.0] * 6, [20] * 6, hour_vector=scripts)
    assert fleet["shared_payment"].n[0] == 6 and fleet["shared_payment"].k[0] == 5
    # Requests come in sessions: three accounts each working one morning hour pool into a
    # tight "day" by chance as easily as by habit; too few accounts to tell (Rayleigh).
    angle = 2 * np.pi * np.array([9, 10, 11]) / 24
    sessions = [(20 * np.cos(a), 20 * np.sin(a)) for a in angle]
    assert _resource_counts([0.0] * 3, [20] * 3, hour_vector=sessions)[
        "shared_payment"].n[0] == 3
    # A busy member judged round the clock vetoes the sparse colleagues' pooled day.
    veto = _resource_counts([0.98] + [0.0] * 6, [70] + [20] * 6,
                            hour_vector=[(0.0, 0.0)] + staff)
    assert veto["shared_payment"].n[0] == 7
    # Switched off: a community of sparse accounts is not judged (every member counts).
    off = _resource_counts([0.0] * 6, [20] * 6, hour_vector=staff,
                           settings=Settings(pooled_day=False))
    assert off["shared_payment"].n[0] == 6
    # Too few requests pooled (3 x 10) to have shown the clock: not judged.
    few = _resource_counts([0.0] * 3, [10] * 3, hour_vector=staff[:3])
    assert few["shared_payment"].n[0] == 3


def test_a_seeded_community_is_not_excused_by_its_working_day():
    acc = pd.DataFrame({"hour_entropy": [0.6] * 4, "n_events": [500] * 4,
                        "seed_actor": [None, "actor", None, None]})
    groups = Groups(np.array([0, 0, 1, 1]), 2)
    assert working_day_members(acc, groups, Settings()).tolist() == [False, False, True, True]
    before = Settings(seeds_override_day=False)
    assert working_day_members(acc, groups, before).all()


def test_hour_vectors_of_the_events_match_those_of_the_hour_counts():
    # The local engine sums them over events; the state and Spark engines from hour counts.
    ds = graphkit.load("fixtures/sim-small/events.parquet")
    events = ds.event_arrays()
    n = int(events.account.max()) + 1
    act = account_activity(events, {}, n, Settings())
    counts = np.zeros((n, 24))
    np.add.at(counts, (events.account, (events.us // 3_600_000_000) % 24), 1)
    assert np.allclose(act.hour_vector, hour_vectors(counts))


def test_a_shared_company_domain_explains_onboarding_and_shared_resources_not_behaviour():
    # Round-the-clock colleagues (no human day to excuse them) on the company card, signed up
    # together: their company's e-mail domain explains the card and the onboarding burst.
    office = _resource_counts([0.98] * 6, email_domain=["acme.io"] * 5 + ["gmail.com"])
    assert office["shared_payment"].n[0] == 1 and office["creation_burst"].n[0] == 1
    # Bans, lock-step and the model jump are what members do: still counted for every member.
    assert office["banned"].n[0] == office["synchrony"].n[0] == 6
    # A free-mail provider (upper case, padded) is no organisation.
    freemail = _resource_counts([0.98] * 6, email_domain=[" GMAIL.com"] * 6)
    assert freemail["shared_payment"].n[0] == 6 and freemail["creation_burst"].n[0] == 6
    # Switched off: the domain explains nothing.
    off = _resource_counts([0.98] * 6, email_domain=["acme.io"] * 6,
                           settings=Settings(org_domain_indicators=()))
    assert off["shared_payment"].n[0] == 6 and off["creation_burst"].n[0] == 6


def test_a_domain_spread_over_the_population_is_no_organisation():
    # 2 of a domain's 6 holders in community 0: a popular provider missing from the
    # free-mail list, not an employer. 3 of 4 in community 1: the company's staff.
    groups = Groups(np.array([0, 0, 1, 2, 3, 4, 5, 5, 5, 6]), 7)
    dom = pd.Series(["mail.example"] * 6 + ["co.example"] * 3 + ["co.example"])
    orgs = domain_organisations(dom, groups, 0.5)
    assert orgs.isna().iloc[:6].all()
    assert orgs.iloc[6:9].tolist() == ["co.example"] * 3 and orgs.isna().iloc[9]
    assert domain_organisations(dom, groups, 0.3).iloc[:2].tolist() == ["mail.example"] * 2
    with pytest.raises(ConfigError):
        Settings(org_domain_concentration=0.0)
    with pytest.raises(ConfigError):
        Settings(org_domain_indicators=("volume_of_nonsense",))


def test_flag_rule_settings_are_validated():
    with pytest.raises(ConfigError):
        Settings(flag_rule="magic")
    with pytest.raises(ConfigError):
        Settings(flag_fdr=0.0)
    with pytest.raises(ConfigError):
        Settings(fdr_drop_strongest=-1)


def test_detect_flags_by_q_value_and_a_fixed_cut_on_request():
    import graphkit
    from graphkit.detection.pipeline import detect

    ds = graphkit.load("fixtures/sim-small/events.parquet",
                       accounts="fixtures/sim-small/accounts.csv",
                       seeds="fixtures/sim-small/seeds.csv")
    c = detect(ds).communities
    assert c["flagged"].any()
    tested = c["size"] >= Settings().min_community_size
    assert (c["flagged"] == (tested & (c["q_value"] <= 0.05))).all()
    assert ((c["p_value"] <= c["q_value"] + 1e-12) & c["q_value"].between(0, 1)).all()
    strict = detect(ds, Settings(flag_fdr=1e-12)).communities
    assert strict["flagged"].sum() < c["flagged"].sum()
    fixed = detect(ds, Settings(flag_rule="threshold", flag_threshold=0.45)).communities
    assert (fixed["flagged"] == (fixed["suspicion"] >= 0.45)).all()


def _counts_after_background(rng: np.random.Generator, m: int, trials: int,
                             sizes: list[float]):
    """``counts(rate, *marked)``: ``m`` background communities of ``trials`` members marked at
    ``rate``, then one community per entry of ``sizes`` with ``marked`` members."""
    n = np.concatenate([np.full(m, float(trials)), sizes])

    def counts(rate: float, *marked: float) -> Counts:
        return Counts(np.concatenate([rng.binomial(trials, rate, m), marked]).astype(float), n)
    return counts


def test_shared_resources_count_once_in_the_combination():
    """An organisation that shares its card and its templates and shows nothing else is one
    piece of evidence (the family's Sidak minimum), not two independent tests: with the
    strongest piece left out nothing remains. A fleet that also shares them is still flagged
    on its bursts and new accounts."""
    m = 400  # background communities of 20 members at the dataset's own rates
    counts = _counts_after_background(np.random.default_rng(0), m, 20, [258.0, 30.0])

    c = {"shared_payment": counts(0.05, 56, 20), "exclusive_templates": counts(0.3, 258, 30),
         "creation_burst": counts(0.04, 6, 25), "new_accounts": counts(0.15, 30, 28),
         "banned": counts(0.01, 1, 6)}
    tested = np.ones(m + 2, bool)
    apart = bh_qvalues(surprise(c, tested).p_value, tested)
    family = ("shared_payment", "exclusive_templates")
    together = surprise(c, tested, families=(family,))
    q = bh_qvalues(together.p_value, tested)
    assert apart[m] < 1e-6  # counted as two tests, the organisation is "surprising"
    assert q[m] > 0.05  # counted once and left out as the strongest: nothing else
    assert q[m + 1] < 1e-6  # the fleet: bursts, new accounts, bans
    assert "shared_payment+exclusive_templates" not in together.per_indicator  # per test kept
    assert set(together.per_indicator) == set(c)


def test_a_cohort_signed_up_together_is_one_fact_not_two():
    """A hackathon's 400 sign-ups on its starter template: created within hours of one
    another and used at once, so both in a burst and new, by one fact (the creation time).
    Counted as two tests beside the template, the cohort is flagged; as one (the default),
    left out as the strongest with the template as weak as it is, it is not. A fleet created
    in bursts that is also banned and in lock-step stays flagged."""
    m = 400
    counts = _counts_after_background(np.random.default_rng(1), m, 20, [400.0, 60.0])
    c = {"creation_burst": counts(0.05, 320, 50), "new_accounts": counts(0.2, 330, 55),
         "exclusive_templates": counts(0.2, 150, 20), "banned": counts(0.01, 2, 30),
         "synchrony": counts(0.01, 0, 20)}
    tested = np.ones(m + 2, bool)
    two = community_surprise(c, tested, Settings(fdr_same_source=False))
    one = community_surprise(c, tested, Settings())
    assert bh_qvalues(two.p_value, tested)[m] < 0.05
    q = bh_qvalues(one.p_value, tested)
    assert q[m] > 0.05 and q[m + 1] < 1e-6


def test_shared_resources_are_tested_as_shared_through_one_another():
    """900 hosted apps (244 judged), 22 % of them on a card another key of the same app pays
    with and 58 % on a framework's templates, against 3 % and 22 % of all accounts: the
    binomial calls both significant with this many members. Tested as correlated within the
    community (resource_correlation), they are not; a fleet without bans or ages, all on its
    shared cards and scripts, still is. A small one (13 members) keeps its resources strongly
    marked but needs one more sign among 400 communities (here 4 bans)."""
    m = 400
    counts = _counts_after_background(np.random.default_rng(1), m, 20, [244.0, 60.0, 13.0])

    c = {"shared_payment": counts(0.03, 55, 50, 11), "exclusive_templates":
         counts(0.22, 142, 60, 12), "synchrony": counts(0.002, 2, 0, 0),
         "banned": counts(0.01, 1, 0, 4)}
    tested = np.ones(m + 3, bool)
    plain = surprise(c, tested)
    resources = ("shared_payment", "exclusive_templates")
    shared = surprise(c, tested, correlation=0.05, correlated=resources)
    q_plain, q = bh_qvalues(plain.p_value, tested), bh_qvalues(shared.p_value, tested)
    assert q_plain[m] < 1e-10  # members counted one by one: "surprising"
    assert q[m] > 0.05  # counted as sharing through one another: not
    assert q[m + 1] < 1e-6  # near-total sharing is
    assert shared.per_indicator["exclusive_templates"][m + 2] < 1e-4
    assert q[m + 2] < 0.01
    # The per-indicator values against the background itself are kept for the member marks.
    assert shared.against_background["shared_payment"][m] == pytest.approx(
        plain.per_indicator["shared_payment"][m])
    assert shared.per_indicator["shared_payment"][m] > 1e-3
    # Behaviour indicators stay binomial.
    assert shared.per_indicator["banned"] == pytest.approx(plain.per_indicator["banned"],
                                                           nan_ok=True)


def test_lock_step_marks_come_in_pairs_and_are_tested_as_correlated():
    """Hosted apps on timers fire on the wall clock together, so a community of 468 of them
    (150 judged) has 8 members in lock-step against 0.3 % of all accounts, besides the
    popular templates and app cards it was found through (as measured on the 28M-600k
    preset). Counted one by one, the lock-step is p = 2e-8 and, with the templates, flags
    the apps. A member is in lock-step only with another member: counted as correlated
    (``relational_indicators``), the apps are not flagged; a fleet in lock-step almost whole,
    without bans, ages or cards, still is."""
    m = 2000
    counts = _counts_after_background(np.random.default_rng(3), m, 100, [150.0, 60.0])

    c = {"shared_payment": counts(0.04, 35, 0), "exclusive_templates": counts(0.19, 116, 58),
         "synchrony": counts(0.0027, 8, 55), "creation_burst": counts(0.05, 2, 4),
         "new_accounts": counts(0.17, 19, 9), "banned": counts(0.012, 0, 0)}
    tested = np.ones(m + 2, bool)
    settings = Settings()
    q = bh_qvalues(community_surprise(c, tested, settings).p_value, tested)
    one_by_one = dataclasses.replace(settings, relational_indicators=())
    q_binomial = bh_qvalues(community_surprise(c, tested, one_by_one).p_value, tested)
    assert q_binomial[m] < 0.05  # the apps, lock-step counted member by member
    assert q[m] > 0.5
    assert q[m + 1] < 1e-4 and q_binomial[m + 1] < 1e-4  # the fleet either way
    assert "synchrony" in settings.relational_indicators


def test_betabinomial_tail_sums_the_point_masses_of_every_element_at_once():
    rng = np.random.default_rng(7)
    n = rng.integers(1, 300, 200).astype(float)
    k = np.floor(rng.random(200) * (n + 1))
    a, b = rng.uniform(0.05, 20, 200), rng.uniform(0.5, 400, 200)
    got = betabinom_mid_tail(k, n, a, b)
    for i in range(0, 200, 7):  # reference: scipy's point masses, summed one by one
        j = np.arange(k[i], n[i] + 1)
        pmf = stats.betabinom.pmf(j, n[i], a[i], b[i])
        assert got[i] == pytest.approx(pmf.sum() - pmf[0] / 2, rel=1e-9, abs=1e-300)


def test_correlated_mid_p_inflates_the_variance_by_the_design_effect():
    k, n, p0 = np.array([3.0, 30.0]), np.array([10.0, 100.0]), np.array([0.2, 0.2])
    assert mid_p_correlated(k, n, p0, 0.0) == pytest.approx(stats.binom.sf(k, n, p0)
                                                            + 0.5 * stats.binom.pmf(k, n, p0))
    p = mid_p_correlated(k, n, p0, 0.05)
    assert (p > mid_p_correlated(k, n, p0, 0.0)).all()  # an excess is less surprising
    # The beta-binomial's variance: n p (1 - p) (1 + (n - 1) rho).
    scale = 1 / 0.05 - 1
    var = stats.betabinom.var(100, 0.2 * scale, 0.8 * scale)
    assert var == pytest.approx(100 * 0.2 * 0.8 * (1 + 99 * 0.05))


def _hydra_with_customers():
    """One community: 20 fleet accounts, banned, new and paying with 4 shared cards; 5
    customers of the same exits, new too but on cards of their own and not banned. Outside it,
    975 ordinary accounts (10 % new, 1 % banned, own cards)."""
    n = 1000
    fleet = np.arange(n) < 20
    customer = (np.arange(n) >= 20) & (np.arange(n) < 25)
    rng = np.random.default_rng(3)
    new = fleet | customer | (rng.random(n) < 0.10)
    banned = fleet | (rng.random(n) < 0.01)
    sharers = fleet.copy()
    marks = Marks({"new_accounts": new, "banned": banned, "shared_payment": np.zeros(n, bool)},
                  {k: np.ones(n, bool) for k in ("new_accounts", "banned", "shared_payment")},
                  {}, sharers)
    groups = Groups(np.where(fleet | customer, 0, 1 + np.arange(n) % 5), 6)
    return marks, groups, fleet, customer


def test_member_evidence_separates_a_fleet_from_customers_of_its_exits():
    marks, groups, fleet, customer = _hydra_with_customers()
    stands = np.array([1e-9, 0.5, 0.5, 0.5, 0.5, 0.5])  # community 0 stands out on all three
    per = {name: stands for name in ("new_accounts", "banned", "shared_payment")}
    llr = member_evidence(marks, per, groups, groups.membership, 0.05)
    assert (llr[fleet] > 0).all()
    # New, like the fleet, but neither banned nor on its cards: the missing marks outweigh.
    assert (llr[customer] < 0).all()
    # Outside communities that stand out on nothing, no evidence either way.
    assert (llr[~(fleet | customer)] == 0).all()
    # Were the community marked by new accounts only, the customers would look like members.
    only_new = {"new_accounts": stands, "banned": np.full(6, 0.5),
                "shared_payment": np.full(6, 0.5)}
    assert (member_evidence(marks, only_new, groups, groups.membership, 0.05)[customer] > 0).all()


def test_bystanders_sharing_only_the_communitys_defining_trait_are_not_its_members():
    """A fleet of 40 created in bursts, 40 % of it jumping to a new model, runs a coding tool
    whose templates 120 developers use too; Leiden puts them all in one community. Every member
    shows the templates (the community's strongest indicator). Weighed against the rates of
    the members marked beyond it, the developers, never in a burst, do not look like the
    community; every fleet account does, jumping or not."""
    n = 2000
    idx = np.arange(n)
    fleet, dev = idx < 40, (idx >= 40) & (idx < 160)
    rng = np.random.default_rng(5)
    everyone = np.ones(n, bool)
    outside = idx >= 160
    shows = {"exclusive_templates": fleet | dev | (outside & (rng.random(n) < 0.05)),
             "creation_burst": fleet | (outside & (rng.random(n) < 0.05)),
             "model_jump": (fleet & (idx % 5 < 2)) | (outside & (rng.random(n) < 0.002))}
    marks = Marks(shows, {k: everyone for k in shows}, {}, np.zeros(n, bool))
    groups = Groups(np.where(fleet | dev, 0, 1 + idx % 50), 51)
    per = {"exclusive_templates": np.r_[1e-200, np.ones(50)],
           "creation_burst": np.r_[1e-10, np.ones(50)], "model_jump": np.r_[1e-20, np.ones(50)]}
    llr = member_evidence(marks, per, groups, groups.membership, 0.05)
    assert (llr[fleet] > 0).all()
    assert (llr[dev] < 0).all()
    # Weighed against every member's rates instead, the developers looked like members.
    everyone_core = member_evidence(marks, per, groups, groups.membership, 0.05,
                                    core=np.ones(n, bool))
    assert (everyone_core[dev] > 0).all()


def test_unmarked_member_stands_on_its_ties_alone():
    # Accounts 0-3 tied strongly; account 4 tied to three of them at 0.6: membership 0.55.
    a, b = np.array([0, 0, 0, 1, 1, 2, 0, 1, 2]), np.array([1, 2, 3, 2, 3, 3, 4, 4, 4])
    links = Links(pd.DataFrame({"a": a, "b": b, "score": [0.9] * 6 + [0.6] * 3}), 5)
    groups = Groups(np.zeros(5, int), 1)
    coh = cohesion(links, groups, Settings())

    def flags(marked, settings=None):
        return account_scores(coh, groups, np.array([0.9]), np.zeros(5, bool),
                              settings or Settings(),
                              np.array([True]), lambda community: marked).flagged.tolist()

    every = np.ones(5, bool)
    assert flags(every) == [True] * 5
    assert flags(np.array([True, True, True, True, False])) == [True] * 4 + [False]
    # Tied as strongly as the core, an unmarked account is flagged on its ties.
    assert flags(np.zeros(5, bool)) == [True] * 4 + [False]
    lenient = dataclasses.replace(Settings(), unmarked_membership=0.5)
    assert flags(np.zeros(5, bool), lenient) == [True] * 5


def test_marks_read_from_one_field_count_once():
    # The fleet is new, created in a burst, banned and on shared cards; its exits' customers
    # are new and created among its replacements (both read from the creation time) but on
    # cards of their own and never banned.
    marks, groups, fleet, customer = _hydra_with_customers()
    burst = marks.shows["new_accounts"] & (fleet | customer)
    two = Marks({**marks.shows, "creation_burst": burst},
                {**marks.known, "creation_burst": np.ones(len(burst), bool)}, {},
                marks.card_sharers)
    stands = np.array([1e-9, 0.5, 0.5, 0.5, 0.5, 0.5])

    def llr(*names):
        # Against every member's rates: the terms add up whatever indicators are passed.
        return member_evidence(two, {k: stands for k in names}, groups, groups.membership, 0.05,
                               core=np.ones(len(burst), bool))

    rest = llr("banned", "shared_payment")
    new, in_burst = llr("new_accounts", *["banned", "shared_payment"]) - rest, \
        llr("creation_burst", "banned", "shared_payment") - rest
    both = llr("new_accounts", "creation_burst", "banned", "shared_payment")
    # The creation time counts once, as the mean of its two terms...
    assert both == pytest.approx(rest + (new + in_burst) / 2)
    assert (both[customer] < 0).all() and (both[fleet] > 0).all()
    # ...where counted twice it would outweigh the missing card and ban.
    assert (rest + new + in_burst)[customer].min() > 0


def test_accounts_paying_as_flagged_accounts_do_are_flagged_with_them():
    """Payer units (accounts joined by shared cards): a fleet's account that sent nothing
    shares a card with two flagged members and joins them; a family whose one member is
    flagged among three unflagged does not (share 0.5); off above 1."""
    card = sp.csr_matrix((np.ones(7), ([0, 1, 2, 3, 4, 5, 6], [0, 0, 0, 1, 1, 1, 1])),
                         shape=(8, 2))
    payer = payers(SignalMatrix("payment", card, np.ones(2), np.array([3, 4]),
                                np.array(["c0", "c1"])), 8)
    acct = AccountScores(np.array([0.95, 0.9, 0.1, 0.9, 0.2, 0.1, 0.1, 0.1]),
                         np.array([True, True, False, True, False, False, False, False]),
                         np.ones(8), np.full(8, -1))
    comm = np.array([0, 0, 1, 2, 3, 3, 3, 4])
    joined = join_units(acct, payer, comm, 0.5)
    assert joined.flagged.tolist() == [True, True, True, True, False, False, False, False]
    assert joined.suspicion[2] == 0.95 and joined.attached_to[2] == 0
    assert join_units(acct, payer, comm, 1.01).flagged.tolist() == acct.flagged.tolist()


def test_replacements_of_banned_flagged_accounts_are_flagged_with_their_chain():
    """A hydra chain a -> b -> c (each created within hours of its predecessor's ban, on its
    identifiers): a is flagged, so the other accounts of its chain are, whatever their
    traffic. A weak succession (below succession_join_confidence) joins nothing; above 1 the
    rule is off; successions of accounts the run does not have are refused."""
    from graphkit.investigate.successions import chain_units, succession_units

    settings = Settings()
    table = pd.DataFrame({"predecessor": ["a", "b", "x"], "successor": ["b", "c", "y"],
                          "confidence": [0.9, 0.8, settings.succession_join_confidence / 2]})
    ids = np.array(["a", "b", "c", "x", "y", "z"])
    chains = chain_units(table, ids, settings.succession_join_confidence)
    acct = AccountScores(np.array([0.9, 0.1, 0.2, 0.8, 0.1, 0.1]),
                         np.array([True, False, False, True, False, False]),
                         np.ones(6), np.full(6, -1))
    comm = np.array([0, 1, 2, 3, 4, 5])
    joined = join_units(acct, chains, comm, settings.succession_flag_share)
    assert joined.flagged.tolist() == [True, True, True, True, False, False]
    assert joined.attached_to.tolist() == [-1, 0, 0, -1, -1, -1]
    assert joined.suspicion[1] == joined.suspicion[2] == 0.9
    assert join_units(acct, chains, comm, 1.01).flagged.tolist() == acct.flagged.tolist()
    assert chain_units(None, ids, 0.5) is None
    with pytest.raises(ConfigError, match="not in the accounts"):
        chain_units(table, ids[:3], 0.0)
    # The replacements (a fact of the evidence): the successors of the strong successions.
    units = succession_units(table, ids, settings.succession_join_confidence)
    assert units.replaced.tolist() == [False, True, True, False, False, False]
    np.testing.assert_array_equal(units.chain, chains)
    assert succession_units(None, ids, 0.5) is None
    with pytest.raises(ConfigError, match="not in the accounts"):
        succession_units(table, ids[:2], 0.0)


def test_detect_joins_the_runs_succession_chains_in_scoring(monkeypatch):
    """detect passes the run's own succession chains and replacements (successions.csv) to
    scoring, and scoring flags an unflagged account chained to a flagged one, attached to its
    community, leaving every other account as it was."""
    from graphkit.detection import pipeline
    from graphkit.investigate.successions import succession_units

    seen = {}
    score = pipeline.score_communities

    def spy(*args, **kwargs):  # the first pass's arguments, however they are passed
        seen.setdefault("args", inspect.signature(score).bind(*args, **kwargs).arguments)
        return score(*args, **kwargs)

    monkeypatch.setattr(pipeline, "score_communities", spy)
    small = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"
    result = pipeline.detect(graphkit.load(small / "events.parquet",
                                           accounts=small / "accounts.csv"))
    bound = seen["args"]
    args = [bound.get(k) for k in ("acc", "signals", "links", "comms", "settings", "releases",
                                   "chains", "replaced")]
    ids = args[0]["account_id"].to_numpy()
    succ = result.extra_tables["successions.csv"]
    assert len(succ) > 0
    units = succession_units(succ, ids, Settings().succession_join_confidence)
    np.testing.assert_array_equal(args[6], units.chain)
    np.testing.assert_array_equal(args[7], units.replaced)
    assert args[7].any()
    # One flagged and two unflagged accounts chained together (a third of the chain
    # flagged: joined at succession_flag_share 0), every other account alone.
    plain_run = score(*args[:6])
    before = plain_run.accounts
    flagged = before["flagged"].to_numpy()
    i = int(np.flatnonzero(flagged)[0])
    joined = np.flatnonzero(~flagged)[:2]
    chains = np.arange(len(ids))
    chains[joined] = i
    after = score(*args[:6], chains=chains).accounts
    # The replacements: each community's count, a fact of its evidence that moves no flag.
    comm = before["community_id"].to_numpy()
    plain = plain_run.communities
    marked_run = score(*args[:6], replaced=args[7])
    pd.testing.assert_frame_equal(marked_run.accounts, before)  # no account's flag or score
    marked = marked_run.communities
    count = np.bincount(comm, weights=args[7]).astype(np.int64)
    np.testing.assert_array_equal(marked["n_replacements"], count)
    assert (plain["n_replacements"] == 0).all() and (count / np.bincount(comm)).max() > 0.5
    others = [c for c in plain.columns if c != "n_replacements"]
    pd.testing.assert_frame_equal(marked[others], plain[others])
    top = int(np.argmax(count))
    line = f"{count[top]} of {marked['size'].iloc[top]} accounts replaced a banned account"
    assert line in evidence_table(marked.iloc[[top]], Settings()).iloc[0]
    assert line not in evidence_table(plain.iloc[[top]], Settings()).iloc[0]
    assert after["flagged"].iloc[joined].all() and not before["flagged"].iloc[joined].any()
    assert (after["attached_to"].iloc[joined] == before["community_id"].iloc[i]).all()
    rest = np.ones(len(ids), bool)
    rest[joined] = False
    pd.testing.assert_frame_equal(after[rest], before[rest])


def test_the_resource_family_still_merges_after_the_software_family() -> None:
    from graphkit.detection.cut import SAME_SOURCE, _merge_family
    per = {"shared_payment": np.array([0.01]), "exclusive_templates": np.array([0.02]),
           "exclusive_client": np.array([0.5]), "banned": np.array([0.3])}
    merged = per
    for family in (*SAME_SOURCE, ("shared_payment", "exclusive_templates")):
        merged = _merge_family(merged, family)
    assert len(merged) == 2 and "banned" in merged
    (joined,) = set(merged) - {"banned"}
    assert set(joined.split("+")) == {"shared_payment", "exclusive_templates", "exclusive_client"}
