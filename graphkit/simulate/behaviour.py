"""Generic behaviour helpers: account creation and bans, session timing, model choice,
tokens, templates, user agents and address pools, shared by populations and campaigns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from graphkit.simulate.entities import _World
from graphkit.simulate.params import (
    _BROWSER,
    _CODEAGENT,
    _CONSUMER_DOMAINS,
    _CONSUMER_P,
    _DOW0,
    _HOSTING,
    _MOBILE,
    _NO_BAN,
    DAY,
    HOUR,
    MIN,
    PROVIDERS,
    RELEASE,
    WINDOW,
)
from graphkit.simulate.strings import _pick


@dataclass
class _Shared:
    """Template and address pools that several populations draw from."""

    popular: np.ndarray
    popular_p: np.ndarray
    coding: np.ndarray
    carriers: list[np.ndarray]
    vpn: list[np.ndarray]
    resi: np.ndarray
    relay: np.ndarray


def _size(scale: float, full: float, minimum: int) -> int:
    return max(minimum, round(full * scale))


def _counts(rng: np.random.Generator, n_acc: int, n_ev: int, sigma: float) -> np.ndarray:
    """Heavy-tailed events per account, at least one each, summing to ``max(n_ev, n_acc)``."""
    w = rng.lognormal(0.0, sigma, n_acc)
    return 1 + rng.multinomial(max(n_ev - n_acc, 0), w / w.sum())


def _created(rng: np.random.Generator, n: int, in_window: float = 0.1) -> np.ndarray:
    """Creation times: mostly during the two years before the window, some inside it."""
    before = -rng.integers(DAY, 730 * DAY, n)
    inside = rng.integers(0, 27 * DAY, n)
    return np.where(rng.random(n) < in_window, inside, before)


def _bursts(rng: np.random.Generator, n: int, n_bursts: int, lo: int, hi: int,
            width: int) -> np.ndarray:
    """Creation times of ``n`` accounts made in ``n_bursts`` bursts within ``width`` ms each."""
    at = rng.integers(lo, hi, max(1, n_bursts))
    return np.sort(at[rng.integers(0, len(at), n)] + rng.integers(0, width, n))


def _bans(rng: np.random.Generator, created: np.ndarray, share: float,
          minimum: int = 0) -> np.ndarray:
    """Ban times for a random ``share`` of accounts (at least ``minimum``), after creation."""
    n = len(created)
    k = min(n, max(minimum, round(share * n)))
    banned = np.full(n, _NO_BAN, np.int64)
    who = rng.choice(n, k, replace=False)
    start = np.maximum(created[who], 0) + 2 * DAY
    banned[who] = start + (rng.random(k) * np.maximum(WINDOW - start, HOUR)).astype(np.int64)
    return banned


def _active(created: np.ndarray, banned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    start = np.maximum(created, 0) + 5 * MIN
    return start, np.maximum(np.minimum(banned, WINDOW), start + HOUR)


def _sessions(rng: np.random.Generator, counts: np.ndarray, start: np.ndarray, end: np.ndarray,
              tz: np.ndarray, hours: np.ndarray, per_session: float, length: int,
              weekdays: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event times grouped into sessions placed by a local-hour profile.

    Returns (account of each event, event time in ms, session index of each event).
    """
    n_acc = len(counts)
    n_sess = np.minimum(counts, np.maximum(1, np.rint(counts / per_session))).astype(np.int64)
    s_acc = np.repeat(np.arange(n_acc), n_sess)
    s0, s1 = start[s_acc], end[s_acc]
    d0, d1 = s0 // DAY, (s1 - 1) // DAY
    day = d0 + (rng.random(len(s_acc)) * (d1 - d0 + 1)).astype(np.int64)
    if weekdays:  # weekend sessions move to the Friday before or the Monday after
        dow = (day + _DOW0) % 7
        day = np.where(dow == 5, day - 1, np.where(dow == 6, day + 1, day))
    hour = rng.choice(24, len(s_acc), p=hours / hours.sum())
    t = (day * DAY + hour * HOUR + rng.integers(0, HOUR, len(s_acc))
         - (tz[s_acc] * HOUR).astype(np.int64))
    s_len = rng.exponential(length, len(s_acc)).astype(np.int64) + MIN
    t = np.clip(t, s0, np.maximum(s0, s1 - s_len))
    acc = np.repeat(np.arange(n_acc), counts)
    first = np.cumsum(n_sess) - n_sess
    sess = first[acc] + (rng.random(len(acc)) * n_sess[acc]).astype(np.int64)
    ts = t[sess] + (rng.random(len(acc)) * s_len[sess]).astype(np.int64)
    return acc, ts, sess


def _models(rng: np.random.Generator, ts: np.ndarray, p: list[float],
            adopt: float, ramp: int) -> np.ndarray:
    """Model per event from base shares ``p`` of frontier-1, -mini, reasoner-1; after the
    release a share rising to ``adopt`` with time constant ``ramp`` moves to frontier-2."""
    m = rng.choice(3, len(ts), p=np.asarray(p) / np.sum(p)).astype(np.uint8)
    since = np.maximum(ts - RELEASE, 0) / ramp
    share = np.where(ts >= RELEASE, adopt * (1 - np.exp(-since)), 0.0)
    m[rng.random(len(ts)) < share] = 3
    return m


def _fast_switch(rng: np.random.Generator, ts: np.ndarray, p: list[float]) -> np.ndarray:
    """Models of a fleet that moves half its traffic to the new model within hours."""
    m = rng.choice(3, len(ts), p=np.asarray(p) / np.sum(p)).astype(np.uint8)
    share = 0.5 * np.clip((ts - RELEASE - 2 * HOUR) / (10 * HOUR), 0, 1)
    m[rng.random(len(ts)) < share] = 3
    return m


def _tokens(rng: np.random.Generator, w: _World, tpl: np.ndarray, doc: float, out: float,
            sigma: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    base = np.concatenate(w.tpl_tokens)[tpl]
    tin = base + rng.lognormal(np.log(doc), sigma, len(tpl)).astype(np.int64)
    tout = 1 + rng.lognormal(np.log(out), sigma, len(tpl)).astype(np.int64)
    return tin, tout


def _legit_templates(rng: np.random.Generator, w: _World, sh: _Shared, acc: np.ndarray,
                     n_acc: int, personal: tuple[float, float], dev_share: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Popular templates, each account's own templates, and coding-agent ones for developers.

    Returns (template per event, developer flag per account)."""
    n_own = 1 + rng.poisson(2, n_acc)
    own = w.personal_templates(int(n_own.sum()))
    first = np.cumsum(n_own) - n_own
    p_own = rng.beta(*personal, n_acc)
    dev = rng.random(n_acc) < dev_share
    tpl = sh.popular[rng.choice(len(sh.popular), len(acc), p=sh.popular_p)]
    mine = rng.random(len(acc)) < p_own[acc]
    pick = first[acc] + (rng.random(len(acc)) * n_own[acc]).astype(np.int64)
    tpl = np.where(mine, own[np.minimum(pick, len(own) - 1)], tpl)
    coding = dev[acc] & (rng.random(len(acc)) < 0.4)
    tpl[coding] = sh.coding[rng.integers(0, len(sh.coding), int(coding.sum()))]
    return tpl, dev


def _user_agents(rng: np.random.Generator, acc: np.ndarray, n_acc: int, choices: list[int],
                 dev: np.ndarray | None = None) -> np.ndarray:
    """A main user agent per account plus an occasional second one; developers use the
    coding-agent CLI or an SDK part of the time."""
    main = np.asarray(choices)[rng.integers(0, len(choices), n_acc)]
    second = np.asarray(_BROWSER + _MOBILE)[rng.integers(0, 6, n_acc)]
    ua = np.where(rng.random(len(acc)) < 0.15, second[acc], main[acc])
    if dev is not None:
        tool = np.where(rng.random(n_acc) < 0.6, _CODEAGENT, 6)
        ua = np.where(dev[acc] & (rng.random(len(acc)) < 0.5), tool[acc], ua)
    return ua


def _consumer_emails(rng: np.random.Generator, n: int) -> pa.Array:
    return _pick(_CONSUMER_DOMAINS,
                 rng.choice(len(_CONSUMER_DOMAINS), n, p=_CONSUMER_P / _CONSUMER_P.sum()))


def _no_org(n: int) -> np.ndarray:
    return np.full(n, -1, np.int64)


def _in_pool(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.integers(0, len(pool), n)]


def _pool_ip(rng: np.random.Generator, pools: list[np.ndarray], choice: np.ndarray,
             acc: np.ndarray, sess: np.ndarray, hop: float = 0.0) -> np.ndarray:
    """Address per event from pool ``choice[account]``: one address per session, and a share
    ``hop`` of events on another address of the same pool."""
    sizes = np.array([len(p) for p in pools])
    offsets = np.cumsum(sizes) - sizes
    n_s = int(sess.max()) + 1
    s_acc = np.zeros(n_s, np.int64)
    s_acc[sess] = acc
    pick = (rng.random(n_s) * sizes[choice[s_acc]]).astype(np.int64)[sess]
    size = sizes[choice[acc]]
    other = (rng.random(len(acc)) * size).astype(np.int64)
    pick = np.where(rng.random(len(acc)) < hop, other, pick)
    return np.concatenate(pools)[offsets[choice[acc]] + pick]


def _hosted(rng: np.random.Generator, w: _World, n_ips: np.ndarray) -> np.ndarray:
    """Fresh hosting addresses, ``n_ips[i]`` for tenant i, all of a tenant at one provider."""
    prov = np.repeat(rng.integers(0, len(_HOSTING), len(n_ips)), n_ips)
    codes = np.empty(len(prov), np.int64)
    for p in range(len(_HOSTING)):  # one allocation per provider
        sel = prov == p
        codes[sel] = w.ipv4(int(sel.sum()), _HOSTING[p], space=PROVIDERS[_HOSTING[p]])
    return codes


def _members(sizes: np.ndarray, n_target: int) -> np.ndarray:
    """Group label per member for the first groups of ``sizes`` (at least 3 groups) that
    together reach about ``n_target`` members."""
    n_groups = min(len(sizes), max(3, int(np.searchsorted(np.cumsum(sizes), n_target)) + 1))
    return np.repeat(np.arange(n_groups), sizes[:n_groups])


def _groups(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """Random group label per item, groups of ``lo``..``hi`` items."""
    sizes = rng.integers(lo, hi + 1, n)
    return rng.permutation(np.repeat(np.arange(n), sizes)[:n])
