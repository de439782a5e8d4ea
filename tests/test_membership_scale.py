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
