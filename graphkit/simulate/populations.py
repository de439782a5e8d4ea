"""The legitimate populations: home users, carrier-NAT mobile users, offices, VPN users,
datacenter-hosted apps and proxy-reseller customers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.simulate.behaviour import (
    _active,
    _bans,
    _consumer_emails,
    _counts,
    _created,
    _groups,
    _hosted,
    _in_pool,
    _legit_templates,
    _members,
    _models,
    _no_org,
    _pool_ip,
    _sessions,
    _Shared,
    _tokens,
    _user_agents,
)
from graphkit.simulate.corpora import _APP_FRAMES, _APP_NAMES, _APP_SUFFIX, _OFFICE_FRAMES
from graphkit.simulate.entities import _Accounts, _World
from graphkit.simulate.params import (
    _BROWSER,
    _BUSINESS_HOURS,
    _CONSUMER_HOURS,
    _FLAT_HOURS,
    _MOBILE,
    _SDK,
    _TZ,
    _TZ_P,
    DAY,
    HOUR,
    MIN,
    SEC,
)
from graphkit.simulate.strings import _join, _pick


def _household_ips(rng: np.random.Generator, w: _World, n: int) -> tuple[np.ndarray, np.ndarray]:
    """1-3 residential addresses per household (v6 for some); returns (codes, first index)."""
    k = 1 + rng.binomial(2, 0.3, n)
    v6 = np.repeat(rng.random(n) < 0.15, k)
    codes = np.empty(int(k.sum()), np.int64)
    codes[~v6] = w.ipv4(int((~v6).sum()))
    codes[v6] = w.ipv6(int(v6.sum()), n_prefixes=40)
    return codes, np.cumsum(k) - k


def _home_ip(rng: np.random.Generator, codes: np.ndarray, first: np.ndarray,
             hh: np.ndarray, acc: np.ndarray, ts: np.ndarray, start: np.ndarray,
             end: np.ndarray) -> np.ndarray:
    """The household address in use at ``ts``: it changes a few times over the window."""
    k = np.diff(np.append(first, len(codes)))[hh[acc]]
    frac = (ts - start[acc]) / np.maximum(end[acc] - start[acc], 1)
    seg = np.minimum((frac * k).astype(np.int64), k - 1)
    return codes[first[hh[acc]] + seg]


def _people(rng: np.random.Generator, w: _World, kind: str, n: int, n_ev: int,
            card: np.ndarray, in_window: float = 0.1, ban: float = 0.003, sigma: float = 1.1,
            per_session: float = 4, length: int = 20 * MIN
            ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Registers ``n`` private users and times their sessions by the consumer day.

    Returns (first account code, account per event, time per event, session per event,
    active start and end per account)."""
    created = _created(rng, n, in_window)
    banned = _bans(rng, created, ban)
    first = w.accounts(_Accounts(kind, "", "", created, card, _consumer_emails(rng, n),
                                 _no_org(n), banned))
    start, end = _active(created, banned)
    tz = _TZ[rng.choice(len(_TZ), n, p=_TZ_P / _TZ_P.sum())]
    acc, ts, sess = _sessions(rng, _counts(rng, n, n_ev, sigma), start, end, tz,
                              _CONSUMER_HOURS, per_session, length)
    return first, acc, ts, sess, start, end


def _people_traffic(rng: np.random.Generator, w: _World, sh: _Shared, first: int,
                    acc: np.ndarray, ts: np.ndarray, ip: np.ndarray, n: int,
                    personal: tuple[float, float], dev_share: float, uas: list[int],
                    doc: float, models: list[float], adopt: float = 0.3) -> None:
    """Templates, user agents, models and tokens of private users; emits their events."""
    tpl, dev = _legit_templates(rng, w, sh, acc, n, personal, dev_share)
    ua = _user_agents(rng, acc, n, uas, dev)
    tin, tout = _tokens(rng, w, tpl, doc, 350)
    w.emit(first, acc, ts, ip, tpl, ua, _models(rng, ts, models, adopt, 8 * DAY), tin, tout)


def _home(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    # Families: a few accounts share one household (card and address).
    hh = np.arange(n)
    fam = np.flatnonzero(rng.random(n) < 0.08)
    if len(fam):
        label = _groups(rng, len(fam), 2, 4)
        order = np.argsort(label, kind="stable")
        hh[fam] = fam[order][np.searchsorted(label[order], label)]
    _, hh = np.unique(hh, return_inverse=True)
    n_hh = int(hh.max()) + 1
    first, acc, ts, sess, start, end = _people(rng, w, "home", n, n_ev, w.cards(n_hh)[hh],
                                               sigma=1.2)
    ips, ip_first = _household_ips(rng, w, n_hh)
    ip = _home_ip(rng, ips, ip_first, hh, acc, ts, start, end)
    mobile = (rng.random(int(sess.max()) + 1) < 0.05)[sess]  # sessions from the phone
    ip[mobile] = _in_pool(rng, sh.carriers[0], int(mobile.sum()))
    _people_traffic(rng, w, sh, first, acc, ts, ip, n, (2, 3), 0.06, _BROWSER + _MOBILE, 120,
                    [55, 35, 10])


def _carrier(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    first, acc, ts, sess, _, _ = _people(rng, w, "carrier_nat", n, n_ev, w.cards(n), sigma=1.0,
                                         per_session=3, length=10 * MIN)
    # Each user stays on one carrier and hops between its NAT addresses session by session.
    ip = _pool_ip(rng, sh.carriers, rng.integers(0, len(sh.carriers), n), acc, sess, 0.2)
    _people_traffic(rng, w, sh, first, acc, ts, ip, n, (2, 4), 0.02, _MOBILE, 60, [45, 50, 5],
                    0.25)


def _office_accounts(rng: np.random.Generator, w: _World, n_target: int
                     ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Registers the employees of companies of 2-80 accounts, about ``n_target`` in all.

    Returns (company per account, first account code, creation and ban times)."""
    comp = _members(np.clip(rng.lognormal(1.8, 0.8, max(3, n_target)).astype(np.int64), 2, 80),
                    n_target)
    n, n_comp = len(comp), int(comp[-1]) + 1
    org, domains = w.orgs(n_comp)
    # Some companies onboard everyone on one day: a creation burst like a fleet's.
    onboard = rng.permutation(n_comp) < max(1, round(0.4 * n_comp))
    day = -rng.integers(0, 400, n_comp) * DAY + 9 * HOUR
    day = np.where(rng.random(n_comp) < 0.15, rng.integers(0, 25, n_comp) * DAY + 9 * HOUR, day)
    created = np.where(onboard[comp], day[comp] + rng.integers(0, 3 * HOUR, n),
                       _created(rng, n, 0.08))
    banned = _bans(rng, created, 0.002)
    card = w.cards(n_comp)[comp]
    first = w.accounts(_Accounts("office", "", "", created, card, domains.take(pa.array(comp)),
                                 org[comp], banned))
    return comp, first, created, banned


def _office_apps(rng: np.random.Generator, w: _World, n_comp: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The internal app: 2-8 templates per company, some frames shared by many companies.

    Returns (template codes, first template per company, templates per company)."""
    n_int = rng.integers(2, 9, n_comp)
    names = _join(_pick(_APP_NAMES, rng.integers(0, len(_APP_NAMES), n_comp)),
                  _pick(_APP_SUFFIX, rng.integers(0, len(_APP_SUFFIX), n_comp)))
    t_comp = np.repeat(np.arange(n_comp), n_int)
    internal = w.frames(_OFFICE_FRAMES, rng.integers(0, len(_OFFICE_FRAMES), len(t_comp)),
                        names.take(pa.array(t_comp)))
    return internal, np.cumsum(n_int) - n_int, n_int


def _office_models(rng: np.random.Generator, ts: np.ndarray, c: np.ndarray,
                   n_comp: int) -> np.ndarray:
    """Model per event: each company has its own mix of the older models; adoption of the
    new one is as slow as for private users."""
    mp = rng.dirichlet([4, 3, 1], n_comp)[c]
    m = _models(rng, ts, [1, 1, 1], 0.3, 6 * DAY)
    pre = m < 3
    u = rng.random(len(c))
    m[pre] = np.where(u < mp[:, 0], 0, np.where(u < mp[:, 0] + mp[:, 1], 1, 2))[pre]
    return m


def _office(rng, w: _World, sh: _Shared, n_target: int, n_ev: int) -> None:
    comp, first, created, banned = _office_accounts(rng, w, n_target)
    n, n_comp = len(comp), int(comp[-1]) + 1
    n_nat = 1 + rng.binomial(2, 0.3, n_comp)
    nat = w.ipv4(int(n_nat.sum()))
    nat_first = np.cumsum(n_nat) - n_nat
    start, end = _active(created, banned)
    tz = _TZ[rng.choice(len(_TZ), n_comp, p=_TZ_P / _TZ_P.sum())][comp]
    acc, ts, sess = _sessions(rng, _counts(rng, n, n_ev, 1.0), start, end, tz, _BUSINESS_HOURS,
                              5, 40 * MIN, weekdays=True)
    c = comp[acc]
    ip = nat[nat_first[c] + (rng.random(len(acc)) * n_nat[c]).astype(np.int64)]
    remote = (rng.random(int(sess.max()) + 1) < 0.08)[sess]  # working from home
    home = w.ipv4(n)
    ip[remote] = home[acc[remote]]
    internal, t_first, n_int = _office_apps(rng, w, n_comp)
    tpl, dev = _legit_templates(rng, w, sh, acc, n, (1, 6), 0.12)
    app = rng.random(len(acc)) < 0.5
    pick = t_first[c] + (rng.random(len(acc)) * n_int[c]).astype(np.int64)
    tpl = np.where(app, internal[pick], tpl)
    ua = _user_agents(rng, acc, n, _BROWSER, dev)
    app_ua = np.asarray([6, 8, 9, 13])[rng.integers(0, 4, n_comp)]
    ua = np.where(app, app_ua[c], ua)
    tin, tout = _tokens(rng, w, tpl, 400, 300)
    w.emit(first, acc, ts, ip, tpl, ua, _office_models(rng, ts, c, n_comp), tin, tout)


def _vpn(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    first, acc, ts, sess, _, _ = _people(rng, w, "vpn", n, n_ev, w.cards(n), ban=0.004)
    pp = np.array([30, 25, 20, 15, 10], float)
    ip = _pool_ip(rng, sh.vpn + [sh.resi], rng.choice(5, n, p=pp / pp.sum()), acc, sess)
    own = w.ipv4(n)
    off = (rng.random(int(sess.max()) + 1) < 0.2)[sess]  # VPN switched off
    ip[off] = own[acc[off]]
    _people_traffic(rng, w, sh, first, acc, ts, ip, n, (2, 3), 0.08, _BROWSER, 120, [55, 35, 10])


def _datacenter(rng, w: _World, sh: _Shared, n_target: int, n_ev: int) -> None:
    app = _members(1 + rng.binomial(2, 0.3, max(3, n_target)), n_target)
    n, n_app = len(app), int(app[-1]) + 1
    org, domains = w.orgs(n_app)
    has_org = rng.random(n_app) < 0.7
    emails = pc.if_else(pa.array(has_org[app]), domains.take(pa.array(app)),
                        _consumer_emails(rng, n))
    created = _created(rng, n, 0.1)
    banned = _bans(rng, created, 0.002)
    first = w.accounts(_Accounts("datacenter_app", "", "", created, w.cards(n_app)[app], emails,
                                 np.where(has_org[app], org[app], -1), banned))
    start, end = _active(created, banned)
    counts = _counts(rng, n, n_ev, 1.0)
    acc = np.repeat(np.arange(n), counts)
    # Half the apps run on a timer (every 1-60 min, a few requests per tick), half serve
    # their own users around the clock.
    period = np.array([1, 5, 10, 15, 30, 60])[rng.integers(0, 6, n)] * MIN
    timer = rng.random(n) < 0.5
    # Timers fire on the wall clock (:00, :05, ...), so unrelated apps fire together.
    first_tick = -(-start // period) * period
    n_ticks = np.maximum((end - first_tick) // period, 1)
    tick = (rng.random(len(acc)) * n_ticks[acc]).astype(np.int64)
    t_timer = first_tick[acc] + tick * period[acc] + rng.integers(0, 20 * SEC, len(acc))
    _, t_users, _ = _sessions(rng, counts, start, end, np.zeros(n), _FLAT_HOURS, 20, 30 * MIN)
    ts = np.where(timer[acc], t_timer, t_users)
    # Each app rents 1-4 addresses of its own at one hosting provider.
    n_ips = rng.integers(1, 5, n_app)
    ips = _hosted(rng, w, n_ips)
    a = app[acc]
    ip = ips[np.cumsum(n_ips)[a] - n_ips[a] + (rng.random(len(acc)) * n_ips[a]).astype(np.int64)]
    n_own = rng.integers(1, 7, n_app)
    t_app = np.repeat(np.arange(n_app), n_own)
    names = _pick(_APP_NAMES, rng.integers(0, len(_APP_NAMES), n_app)).take(pa.array(t_app))
    own = w.frames(_APP_FRAMES + _OFFICE_FRAMES,
                   rng.integers(0, len(_APP_FRAMES) + len(_OFFICE_FRAMES), len(t_app)), names)
    t_first = np.cumsum(n_own) - n_own
    tpl = own[t_first[a] + (rng.random(len(acc)) ** 2 * n_own[a]).astype(np.int64)]
    ua = np.asarray(_SDK)[rng.integers(0, len(_SDK), n_app)][a]
    tin, tout = _tokens(rng, w, tpl, 300, 150, 0.5)
    model = rng.choice(3, n_app, p=[0.35, 0.55, 0.1])[a].astype(np.uint8)
    w.emit(first, acc, ts, ip, tpl, ua, model, tin, tout)


def _reseller_customers(rng, w: _World, sh: _Shared, n: int, n_ev: int) -> None:
    first, acc, ts, sess, _, _ = _people(rng, w, "reseller_customer", n, n_ev, w.cards(n),
                                         in_window=0.15, ban=0.004)
    ip = _pool_ip(rng, [sh.relay], np.zeros(n, np.int64), acc, sess)
    _people_traffic(rng, w, sh, first, acc, ts, ip, n, (3, 3), 0.1, _BROWSER + [6, 9], 150,
                    [50, 40, 10])
