"""Membership must not decay with fleet size.

A fleet's members share its templates and, in small groups, its cards; legitimate accounts use
templates of their own plus popular ones. The same fleet at 100, 2,000 and 20,000 accounts (the
last too large to expand into all its pairs: candidates are sampled through the ring) must give
its members the same clear membership, and candidate generation must reach every member.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from graphkit.detection.communities import detect_communities
from graphkit.detection.indicators import Groups
from graphkit.detection.links import score_links, signal_matrix
from graphkit.detection.scoring import account_scores, cohesion
from graphkit.settings import Settings

N_LEGIT = 20_000
FLEET_TEMPLATES = 12
POPULAR = 30


def _world(fleet: int, seed: int = 0):
    """Signals of ``N_LEGIT`` legitimate accounts and one fleet of ``fleet`` accounts (the
    last ``fleet`` account codes)."""
    rng = np.random.default_rng(seed)
    n = N_LEGIT + fleet
    is_fleet = np.arange(n) >= N_LEGIT
    # Templates: popular ones (0..POPULAR-1), the fleet's own, and each legitimate account's own.
    n_tpl = POPULAR + FLEET_TEMPLATES + N_LEGIT
    rows, cols, vals = [], [], []
    for_each = np.arange(n)
    # Popular share: 30-60 % of every account's traffic, on two popular templates.
    pop_share = rng.uniform(0.3, 0.6, n)
    for j in range(2):
        rows.append(for_each)
        cols.append(rng.integers(0, POPULAR, n))
        vals.append(pop_share / 2)
    # The rest: a fleet member spreads it over 3 of the fleet's templates, a legitimate account
    # keeps it on a template of its own.
    own = 1.0 - pop_share
    legit = np.flatnonzero(~is_fleet)
    rows.append(legit)
    cols.append(POPULAR + FLEET_TEMPLATES + legit)
    vals.append(own[legit])
    members = np.flatnonzero(is_fleet)
    for _ in range(3):
        rows.append(members)
        cols.append(POPULAR + rng.integers(0, FLEET_TEMPLATES, len(members)))
        vals.append(own[members] / 3)
    events = 100
    tpl = sp.csr_matrix((np.concatenate(vals) * events,
                         (np.concatenate(rows), np.concatenate(cols))), shape=(n, n_tpl))
    # Cards: legitimate accounts pay alone; fleet members in groups of about five.
    card = np.where(is_fleet, N_LEGIT + (np.arange(n) - N_LEGIT) // 5, np.arange(n))
    pay = sp.csr_matrix((np.full(n, float(events)), (np.arange(n), card)),
                        shape=(n, int(card.max()) + 1))
    n_events = np.full(n, events)
    s = Settings()
    signals = {"template": signal_matrix("template", tpl, n_events,
                                         np.arange(n_tpl).astype(str), s),
               "payment": signal_matrix("payment", pay, n_events,
                                        np.arange(pay.shape[1]).astype(str), s)}
    return signals, is_fleet, s


@pytest.fixture(scope="module")
def memberships() -> dict[int, tuple[np.ndarray, np.ndarray, object]]:
    out = {}
    for fleet in (100, 2_000, 20_000):
        signals, is_fleet, s = _world(fleet)
        links = score_links(signals, None, s)
        comms = detect_communities(links, s)
        groups = Groups(comms.membership, comms.n_communities)
        # The fleet's communities are the flagged ones (suspicion is not under test here).
        share = np.bincount(comms.membership, weights=is_fleet) / comms.sizes
        susp = np.where(share > 0.5, 1.0, 0.0)
        acct = account_scores(cohesion(links, groups), groups, susp, np.zeros(len(is_fleet),
                                                                            bool), s)
        linked = np.zeros(len(is_fleet), bool)
        linked[links.table["a"].to_numpy()] = True
        linked[links.table["b"].to_numpy()] = True
        out[fleet] = (acct.membership[is_fleet], linked[is_fleet], acct.flagged[is_fleet],
                      acct.flagged[~is_fleet], links.ring_neighbours)
    return out


@pytest.mark.parametrize("fleet", [100, 2_000, 20_000])
def test_every_member_is_reached_and_clearly_a_member(memberships, fleet):
    member, linked, flagged, legit_flagged, _ = memberships[fleet]
    assert linked.all()  # candidate generation reaches every member
    assert np.quantile(member, 0.05) >= Settings().min_membership
    assert flagged.mean() >= 0.97
    assert legit_flagged.mean() <= 0.001


def test_membership_does_not_decay_with_fleet_size(memberships):
    small = np.median(memberships[100][0])
    for fleet in (2_000, 20_000):
        assert np.median(memberships[fleet][0]) >= small - 0.1
        assert memberships[fleet][2].mean() >= memberships[100][2].mean() - 0.02


def test_the_largest_fleet_is_sampled(memberships):
    # The 20,000-account fleet's templates are too large to expand: the ring drew its pairs.
    assert memberships[20_000][4] is not None


def _split_fleet():
    """Two flagged communities of one fleet: 0-4 and 6-10 tied strongly inside; account 5 sits
    in the first, tied weakly to it and strongly to 9 and 10 in the second (its card partners
    landed there)."""
    import pandas as pd

    from graphkit.detection.links import Links

    a, b, score = [], [], []
    for lo in (0, 6):
        for i in range(lo, lo + 5):
            for j in range(i + 1, lo + 5):
                a.append(i), b.append(j), score.append(0.9)
    for i in range(5):
        a.append(i), b.append(5), score.append(0.25)
    for j in (9, 10):
        a.append(5), b.append(j), score.append(0.9)
    links = Links(pd.DataFrame({"a": a, "b": b, "score": score}), 11)
    groups = Groups(np.array([0] * 6 + [1] * 5), 2)
    return links, groups


def test_a_marked_member_tied_into_a_sibling_flagged_community_stays_a_member():
    links, groups = _split_fleet()
    s = Settings()
    flagged = np.array([True, True])
    marked = np.ones(11, bool)
    acct = account_scores(cohesion(links, groups, s), groups, np.ones(2), np.zeros(11, bool), s,
                          flagged, lambda community: marked)
    # Against its own community alone it is peripheral (0.32); against the fleet, core.
    assert acct.flagged[5] and acct.membership[5] >= 0.9


def test_an_unmarked_member_needs_its_own_community():
    links, groups = _split_fleet()
    s = Settings()
    marked = np.ones(11, bool)
    marked[5] = False  # a customer sharing the fleet's exits shows none of its marks
    acct = account_scores(cohesion(links, groups, s), groups, np.ones(2), np.zeros(11, bool), s,
                          np.array([True, True]), lambda community: marked)
    assert not acct.flagged[5]
    assert acct.membership[5] < s.unmarked_membership


def test_an_unmarked_member_tied_by_one_kind_of_evidence_is_no_member_on_ties_alone():
    """In a community flagged for its marked members, an account with none of their marks is
    flagged on its ties alone only when two kinds of evidence tie it: a popular template's
    user, tied by that template only, is not; an account on the fleet's cards and templates
    is."""
    import pandas as pd

    from graphkit.detection.links import Links

    rows = []
    for i in range(5):  # the fleet: cards and templates
        for j in range(i + 1, 5):
            rows.append((i, j, 0.95, 0.9, 0.5))
        rows.append((i, 5, 0.95, 0.0, 1.0))  # the template's other user: template only
        rows.append((i, 6, 0.95, 0.9, 0.5))  # an unmarked account on the fleet's cards
    t = pd.DataFrame(rows, columns=["a", "b", "score", "payment", "template"])
    groups = Groups(np.zeros(7, int), 1)
    s = Settings()
    marked = np.array([True] * 5 + [False, False])
    acct = account_scores(cohesion(Links(t, 7), groups, s), groups, np.ones(1),
                          np.zeros(7, bool), s, np.array([True]), lambda community: marked)
    assert acct.flagged[:5].all()
    assert acct.flagged[6]
    assert not acct.flagged[5]


def test_an_unmarked_account_attached_from_outside_keeps_its_corroborated_ties():
    """An unmarked account alone in its community, tied to every member of a flagged one by
    their cards and templates, is attached and flagged; one tied by a template only is not."""
    import pandas as pd

    from graphkit.detection.links import Links

    rows = [(i, j, 0.95, 0.9, 0.5) for i in range(6) for j in range(i + 1, 6)]
    rows += [(i, 6, 0.95, 0.9, 0.5) for i in range(6)]  # cards and templates
    rows += [(i, 7, 0.95, 0.0, 1.0) for i in range(6)]  # a template only
    t = pd.DataFrame(rows, columns=["a", "b", "score", "payment", "template"])
    groups = Groups(np.array([0] * 6 + [1, 2]), 3)
    s = Settings()
    marked = np.array([True] * 6 + [False, False])
    acct = account_scores(cohesion(Links(t, 8), groups, s), groups, np.array([1.0, 0.0, 0.0]),
                          np.zeros(8, bool), s, np.array([True, False, False]),
                          lambda community: marked)
    assert acct.flagged[6] and acct.attached_to[6] == 0
    assert not acct.flagged[7]


def test_two_derived_views_of_one_address_are_one_kind_of_evidence():
    """An address and the block derived from it (a supporting kind of the run) are one fact:
    a customer sharing one proxy exit is not corroborated by its /24."""
    import pandas as pd

    from graphkit.detection.links import Links
    from graphkit.detection.scoring import corroborated_links

    t = pd.DataFrame({"a": [0, 0], "b": [1, 2], "score": [0.6, 0.9], "ip": [0.5, 0.5],
                      "ip_network": [0.5, 0.0], "payment": [0.0, 0.9]})
    links = Links(t, 3, supporting=("proxy", "user_agent", "ip_network", "synchrony"))
    assert corroborated_links(links).tolist() == [False, True]
