"""The planted campaigns, modelled on public distillation cases: a synchronized
reasoning-extraction fleet, a diversified fleet, an agentic-coding fleet and a proxy-reseller
"hydra" cluster. See docs/simulator.md."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.simulate.behaviour import (
    _active,
    _bans,
    _bursts,
    _consumer_emails,
    _counts,
    _fast_switch,
    _groups,
    _hosted,
    _in_pool,
    _models,
    _no_org,
    _pool_ip,
    _sessions,
    _Shared,
    _tokens,
    _user_agents,
)
from graphkit.simulate.corpora import (
    _AGENTIC_FRAMES,
    _AGENTIC_WORDS,
    _CODING_FRAMES,
    _CODING_WORDS,
    _HYDRA_FRAMES,
    _HYDRA_WORDS,
    _REASONING,
    _TARGETED,
)
from graphkit.simulate.entities import _Accounts, _World
from graphkit.simulate.params import (
    _BUSINESS_HOURS,
    _CODEAGENT,
    _CONSUMER_HOURS,
    _FLAT_HOURS,
    _HTTPX,
    _NO_BAN,
    DAY,
    HOUR,
    HYDRA_LIFE_DAYS,
    MIN,
    SEC,
    WINDOW,
)

CAMPAIGNS = {  # kind -> (campaign, actor)
    "reasoning_extraction": ("tessellate-cot", "tessellate"),
    "diversified": ("meridian-agents", "meridian"),
    "agentic_coding": ("quarry-code", "quarry"),
    "hydra": ("relayhub-hydra", "relayhub"),
}


def _campaign(kind: str, created: np.ndarray, card: np.ndarray, emails: pa.Array,
              org: np.ndarray, banned: np.ndarray,
              predecessor: np.ndarray | None = None) -> _Accounts:
    name, actor = CAMPAIGNS[kind]
    return _Accounts(kind, name, actor, created, card, emails, org, banned, predecessor)


def _reasoning(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    """Synchronized waves: every 3-5 min the orchestrator spreads a burst round-robin over all
    live accounts within ~90 s. 3-5 shared cards, hosting IP pool, one SDK user agent."""
    created = _bursts(rng, n, max(2, n // 150), -40 * DAY, 18 * DAY, 30 * MIN)
    banned = _bans(rng, created, 0.1, minimum=1)
    cards = w.cards(int(rng.integers(3, 6)))
    card = cards[np.minimum(rng.geometric(0.45, n) - 1, len(cards) - 1)]
    first = w.accounts(_campaign("reasoning_extraction", created, card,
                                 _consumer_emails(rng, n), _no_org(n), banned))
    tpls = w.frames(_REASONING)
    tpl_p = rng.dirichlet(np.full(len(tpls), 2.0))
    # Candidate waves 24/7; the operator runs the fleet in hour-long sessions until the
    # budget is spent, mostly during its own daytime.
    gaps = rng.integers(3 * MIN, 5 * MIN, WINDOW // (3 * MIN))
    waves = np.cumsum(gaps)
    waves = waves[(waves < WINDOW) & (waves > created.min())]
    live0 = np.searchsorted(created, waves, side="right")  # accounts sorted by creation
    per = rng.integers(1, 3, len(waves))
    size = live0 * per
    hour = waves // HOUR
    n_hours = WINDOW // HOUR
    pref = _CONSUMER_HOURS[(np.arange(n_hours) + 8) % 24]
    rank = np.argsort(rng.random(n_hours) ** (1 / pref))[::-1]  # weighted order of hours
    per_hour = np.bincount(hour, weights=size, minlength=n_hours)
    take = rank[: int(np.searchsorted(np.cumsum(per_hour[rank]), n_ev)) + 1]
    on = np.isin(hour, take) & (live0 > 0)
    waves, live0, size = waves[on], live0[on], size[on]
    wave = np.repeat(np.arange(len(waves)), size)
    pos = np.arange(len(wave)) - np.repeat(np.cumsum(size) - size, size)
    rot = rng.integers(0, n, len(waves))
    acc = (pos + rot[wave]) % live0[wave]
    ts = waves[wave] + rng.integers(0, 90 * SEC, len(wave))
    pool = _hosted(rng, w, np.array([max(4, n // 30), max(2, n // 60)]))
    ip = pool[(wave * 7 + pos) % len(pool)]  # rotate through the pool
    tpl = tpls[rng.choice(len(tpls), len(acc), p=tpl_p)]
    ua = np.full(len(acc), _HTTPX)
    tin, tout = _tokens(rng, w, tpl, 250, 2500, 0.5)
    w.emit(first, acc, ts, ip, tpl, ua, _models(rng, ts, [25, 0, 75], 0.0, DAY), tin, tout)


def _diversified(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    """Many account types and access paths, tied by shared agentic templates and creation
    bursts; a targeted phase from day 18 narrows traffic to a few new templates."""
    created = _bursts(rng, n, max(2, n // 50), -60 * DAY, 22 * DAY, 2 * HOUR)
    banned = _bans(rng, created, 0.05, minimum=1)
    group = _groups(rng, n, 2, 6)
    card = w.cards(int(group.max()) + 1)[group]
    in_org = rng.random(n) < 0.2
    org_group = _groups(rng, n, 3, 6)
    org, domains = w.orgs(int(org_group.max()) + 1)
    emails = pc.if_else(pa.array(in_org), domains.take(pa.array(org_group)),
                        _consumer_emails(rng, n))
    first = w.accounts(_campaign("diversified", created, card, emails,
                                 np.where(in_org, org[org_group], -1), banned))
    start, end = _active(created, banned)
    tz = rng.choice([7.0, 8.0, 9.0, 0.0, -5.0], n, p=[0.2, 0.5, 0.1, 0.1, 0.1])
    acc, ts, sess = _sessions(rng, _counts(rng, n, n_ev, 0.9), start, end, tz,
                              _CONSUMER_HOURS + _BUSINESS_HOURS, 15, 60 * MIN)
    # Access path per account: residential proxy, a commercial VPN, or a home-like address.
    path = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    vpn = _pool_ip(rng, sh.vpn, rng.integers(0, len(sh.vpn), n), acc, sess)
    ip = np.where(path[acc] == 1, vpn, _in_pool(rng, sh.resi, int(sess.max()) + 1)[sess])
    own = w.ipv4(n)
    ip = np.where(path[acc] == 2, own[acc], ip)
    shared = w.frames(_AGENTIC_FRAMES, np.repeat(np.arange(len(_AGENTIC_FRAMES)), 5),
                      _AGENTIC_WORDS * len(_AGENTIC_FRAMES))
    targeted = w.frames(_TARGETED)
    # Each account works a subset of the shared templates.
    k = 10
    subset = rng.integers(0, len(shared), (n, k))
    tpl = shared[subset[acc, rng.integers(0, k, len(acc))]]
    camo = rng.random(len(acc)) < 0.1
    tpl[camo] = sh.popular[rng.choice(len(sh.popular), int(camo.sum()), p=sh.popular_p)]
    late = (ts >= 17 * DAY) & (rng.random(len(acc)) < 0.75)
    tpl[late] = targeted[rng.integers(0, len(targeted), int(late.sum()))]
    ua = _user_agents(rng, acc, n, [0, 1, 6, 8, 9, 10, 13])
    tin, tout = _tokens(rng, w, tpl, 900, 700)
    w.emit(first, acc, ts, ip, tpl, ua, _models(rng, ts, [60, 20, 20], 0.3, 3 * DAY), tin, tout)


def _coding(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    """Few accounts, very high volume of agent loops; half the traffic moves to the new
    model within a day of its release."""
    created = _bursts(rng, n, max(2, n // 100), -50 * DAY, 10 * DAY, HOUR)
    banned = _bans(rng, created, 0.03, minimum=1)
    group = _groups(rng, n, 5, 10)
    card = w.cards(int(group.max()) + 1)[group]
    first = w.accounts(_campaign("agentic_coding", created, card, _consumer_emails(rng, n),
                                 _no_org(n), banned))
    start, end = _active(created, banned)
    counts = _counts(rng, n, n_ev, 0.5)
    # Agent runs: 30-300 requests a few seconds apart, started around the clock.
    acc, ts, sess = _sessions(rng, counts, start, end, np.zeros(n), _FLAT_HOURS, 120, 20 * MIN)
    resi = rng.random(n) < 0.3
    pool = _hosted(rng, w, np.array([max(4, n // 10), max(2, n // 20)]))
    n_s = int(sess.max()) + 1
    ip = np.where(resi[acc], _in_pool(rng, sh.resi, n_s)[sess],
                  _in_pool(rng, pool, n_s)[sess])
    own = w.frames(_CODING_FRAMES, np.repeat(np.arange(len(_CODING_FRAMES)), 4),
                   _CODING_WORDS * len(_CODING_FRAMES))
    tpl = np.where(rng.random(len(acc)) < 0.6, own[rng.integers(0, len(own), len(acc))],
                   sh.coding[rng.integers(0, len(sh.coding), len(acc))])
    ua = np.where(rng.random(len(acc)) < 0.9, _CODEAGENT, 8)
    tin, tout = _tokens(rng, w, tpl, 12000, 900, 0.7)
    w.emit(first, acc, ts, ip, tpl, ua, _fast_switch(rng, ts, [85, 0, 15]), tin, tout)


def _hydra(rng, w: _World, sh: _Shared, n_slots: int, n_ev: int,
           life_days: float = HYDRA_LIFE_DAYS) -> None:
    """A proxy reseller's pool of short-lived accounts: each banned account is replaced at once
    by a new one that inherits its exit addresses and (mostly) its card. ``n_slots`` accounts
    are live at any time; each lives ``life_days`` on average (plus 6 hours)."""
    gens = 64
    life = rng.exponential(life_days * DAY, (n_slots, gens)).astype(np.int64) + 6 * HOUR
    gap = rng.integers(2 * MIN, 30 * MIN, (n_slots, gens))
    start0 = -rng.integers(0, 5 * DAY, n_slots)
    # created[j+1] = banned[j] + gap: the replacement is created right after the ban.
    created = start0[:, None] + np.cumsum(np.hstack([np.zeros((n_slots, 1), np.int64),
                                                    (life + gap)[:, :-1]]), axis=1)
    banned = created + life
    keep = created < WINDOW - 6 * HOUR
    slot = np.broadcast_to(np.arange(n_slots)[:, None], keep.shape)[keep]
    gen = np.broadcast_to(np.arange(gens)[None, :], keep.shape)[keep]
    created, banned = created[keep], banned[keep]
    banned = np.where(banned >= WINDOW, _NO_BAN, banned)
    n = len(created)
    # Cards: inherited, with an occasional fresh card along a slot's chain.
    new_card = (rng.random(n) < 0.15) | (gen == 0)
    card = w.cards(int(new_card.sum()))[np.cumsum(new_card) - 1]
    # Kept generations are a prefix of each slot's chain (creation times grow along it), so an
    # account's predecessor is the one before it in the same slot.
    predecessor = np.where(gen > 0, np.arange(n) - 1, -1)
    first = w.accounts(_campaign("hydra", created, card, _consumer_emails(rng, n), _no_org(n),
                                 banned, predecessor))
    exits_per = rng.integers(2, 5, n_slots)
    base = rng.integers(0, len(sh.relay), n_slots)
    start, end = _active(created, banned)
    life_days = (end - start) / DAY
    counts = rng.poisson(life_days * n_ev / max(life_days.sum(), 1e-9)) + 1
    acc = np.repeat(np.arange(n), counts)
    ts = start[acc] + (rng.random(len(acc)) * (end - start)[acc]).astype(np.int64)
    s = slot[acc]
    ip = sh.relay[(base[s] + (rng.random(len(acc)) * exits_per[s]).astype(np.int64))
                  % len(sh.relay)]
    own = w.frames(_HYDRA_FRAMES, np.repeat(np.arange(len(_HYDRA_FRAMES)), 3),
                   _HYDRA_WORDS * len(_HYDRA_FRAMES))
    tpl = np.where(rng.random(len(acc)) < 0.55, own[rng.integers(0, len(own), len(acc))],
                   sh.popular[rng.choice(len(sh.popular), len(acc), p=sh.popular_p)])
    ua = np.asarray([0, 6, 8, 9, 10])[rng.integers(0, 5, len(acc))]
    tin, tout = _tokens(rng, w, tpl, 300, 900)
    w.emit(first, acc, ts, ip, tpl, ua, _models(rng, ts, [60, 25, 15], 0.35, 2 * DAY), tin, tout)
