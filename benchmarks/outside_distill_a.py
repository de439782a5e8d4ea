"""Outside scenario A: hard legitimate confounders and realistic (not cartoonish) fraud.

An independent test scenario for graphkit, written from the domain facts of distillation fraud
and the *input format* of docs/data-contract.md only (no knowledge of graphkit's simulator or
detection code).  The emphasis is on legitimate populations that share infrastructure as
fraud does:

legitimate (about 90 % of the accounts)
    home              residential IPs (dual-stack for some), own card or free tier, families
                      sharing an IP (and sometimes a card); some home IPs are also exit nodes
                      of residential-proxy networks (peer SDKs)
    early_adopter     heavy home users who try the new model within hours of its release
    carrier_nat       mostly on mobile data: a handful of carrier CGNAT IPs shared by
                      thousands of unrelated accounts (home users use them too)
    office            companies of 5-300 people: one NAT range, one company card, an
                      onboarding burst of sign-ups, internal prompt templates, a shared
                      internal-tool user agent, company-wide model switches
    university        courses (sign-up burst at semester start, shared assignment template,
                      deadline peaks, campus NAT) and research labs (shared grant card)
    vpn               commercial VPN users: proxy_provider set, shared exit IPs
    reseller_customer legitimate customers of residential-proxy providers (the same IP pools
                      the proxy-reseller hydra uses), often from unsupported regions
    agency            agencies running 20-60 client accounts on one card, batch runs across
                      all their clients, shared content templates
    hackathon         hundreds of accounts created the same morning, venue IPs, a starter
                      template, two days of activity
    ci_bot            perfectly periodic traffic (many aligned on the hour like cron), on
                      fixed cloud IPs or a shared pool of hosted CI runners; some owned by
                      companies (company card)

fraud (about 10 %), five campaigns of different shapes
    hydra_reseller    a proxy-reseller hydra: ~1000 concurrent slots at 200k scale; each
                      banned account is replaced within hours by a fresh one (creation bursts
                      after the platform's daily ban waves), cards sometimes carried over to
                      the replacement, traffic rotated through residential-proxy pools shared
                      with reseller customers, distillation prompts mixed with resold
                      customers' ordinary traffic; occasional leaks from the reseller's own
                      servers
    distill_lab       a lab with a few thousand accounts paying with a small pool of cards,
                      load-balanced over a worker fleet on hosting IPs (part of it through a
                      residential proxy), synchronized job windows, shared job templates plus
                      paraphrased prompts, creation waves, jumps to the new model within
                      hours of release (and a creation wave right after it)
    stealth_client    distinct card per account, no shared template (per-account templates),
                      unlisted static residential IPs with modest reuse, but a shared custom
                      client user agent (also used by a few dozen legitimate developers) and
                      creation bursts
    phone_farm        SIM phone farm behind one carrier's CGNAT (the same IPs as thousands of
                      legitimate mobile users), a cheap phone model's user agent, prepaid
                      cards shared by ~5 accounts, controller-synchronized 10-minute ticks,
                      three farm templates, quick model jump
    small_ring        tens of accounts: three cards, two home IPs and a commercial VPN, one
                      template, sign-ups over two days, new model the day it is released

Writes OUTDIR/events.parquet, OUTDIR/accounts.csv and OUTDIR/truth.csv.  Deterministic per
seed; vectorised (loops only over chain positions, job windows and a handful of groups).

    python benchmarks/outside_distill_a.py OUTDIR --accounts 200000 --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HOUR = 3600.0
DAY = 86400.0
WINDOW = 30 * DAY
T0 = pd.Timestamp("2026-03-01 00:00:00")  # UTC, a Sunday
RELEASE = 14 * DAY + 17 * HOUR  # 2026-03-15 17:00 UTC
MODELS = np.array(["atlas-mini", "atlas-base", "atlas-pro", "atlas-code", "atlas-pro-2"])
NEW = 4
BASE_MODEL_P = np.array([0.30, 0.30, 0.25, 0.15])

PROXIES = np.array([
    "nordvpn", "expressvpn", "mullvad", "protonvpn", "surfshark",  # 0-4 commercial VPN
    "peerlink", "resinet", "homeroute",  # 5-7 residential proxy networks
    "hetzner", "ovh", "digitalocean",  # 8-10 hosting
    "aws", "gcp", "azure",  # 11-13 cloud
])
VPN_P = np.array([0.32, 0.26, 0.12, 0.18, 0.12])
RESI = np.array([5, 6, 7])
RESI_P = np.array([0.5, 0.3, 0.2])

FREEMAIL = np.array(["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com",
                     "proton.me", "gmx.de", "qq.com", "mail.ru", "yandex.ru"])
FREEMAIL_P = np.array([0.44, 0.15, 0.09, 0.07, 0.08, 0.04, 0.04, 0.04, 0.03, 0.02])
WORDS = np.array([
    "acme", "blue", "bright", "cedar", "cloud", "coral", "delta", "ember", "falcon", "fern",
    "forge", "frost", "garnet", "harbor", "iron", "jade", "kite", "lake", "lumen", "maple",
    "mesa", "nova", "oak", "onyx", "orbit", "pine", "pixel", "quartz", "rapid", "river",
    "sage", "signal", "silver", "solar", "spark", "stone", "summit", "tide", "true", "vector",
    "vertex", "willow", "zen", "arc", "bolt", "crest", "dune", "echo", "flux", "grove",
    "helix", "ivy", "juniper", "keystone", "lattice", "meadow", "north", "opal", "prism",
    "ridge", "shore", "terra", "umber", "vale", "wave", "yarrow", "zephyr", "amber", "birch"])
TLDS = np.array([".com", ".io", ".co", ".ai", ".net", ".de", ".co.uk"])

TZ_CHOICES = np.array([-8, -7, -6, -5, -4, -3, 0, 1, 2, 3, 5.5, 8, 9, 10])
TZ_P = np.array([.10, .03, .08, .14, .03, .04, .08, .14, .06, .03, .07, .10, .06, .04])

# user agents: (string, weight, group) ; group 0 desktop/sdk, 1 mobile
UA_CATALOG = [
    ("python-sdk/1.40.2", 0.16, 0), ("python-sdk/1.38.0", 0.10, 0), ("python-sdk/1.35.7", 0.07, 0),
    ("node-sdk/4.67.1", 0.09, 0), ("node-sdk/4.55.0", 0.05, 0),
    ("langchain-python/0.2.11 python-sdk/1.38.0", 0.06, 0),
    ("llamaindex/0.10.50 python-sdk/1.35.7", 0.03, 0),
    (("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36"), 0.08, 0),
    (("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Safari/605.1.15"), 0.05, 0),
    ("curl/8.5.0", 0.04, 0), ("curl/7.81.0", 0.03, 0), ("go-client/0.9.4", 0.02, 0),
    ("java-sdk/2.1.0", 0.02, 0), ("PostmanRuntime/7.37.3", 0.02, 0),
    ("python-requests/2.31.0", 0.05, 0), ("python-httpx/0.27.0", 0.03, 0),
    ("ruby-sdk/0.3.1", 0.01, 0), ("rust-client/0.14.2", 0.01, 0),
    ("automation-connector/2.4", 0.02, 0),
    (("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.6367.82 Mobile Safari/537.36"), 0.25, 1),
    (("Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/123.0.6312.99 Mobile Safari/537.36"), 0.04, 1),
    (("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.6367.82 Mobile Safari/537.36"), 0.15, 1),
    (("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.4 Mobile/15E148 Safari/604.1"), 0.36, 1),
    ("AtlasChat/3.12.0 (iOS 17.4; iPhone15,2)", 0.12, 1),
    ("AtlasChat/3.11.4 (Android 14)", 0.08, 1),
]
UA_PHONE = 20  # SM-A145F, the cheap phone model
UA_SDK_LAB = 1  # python-sdk/1.38.0
UA_CURL = 9
UA_REQUESTS = 14
UA_CONNECTOR = 18
UA_STEALTH = "relaykit/0.7.2 (httpx/0.26.0; CPython/3.11.8)"

# hour-of-day weights (local time) and weekend factor per activity profile
_P = {
    "home": ([.15, .08, .05, .04, .04, .05, .10, .20, .35, .45, .50, .55, .60, .60, .60, .60, .65,
              .70, .80, .90, 1., 1., .85, .45], 1.0),
    "work": ([.03, .02, .02, .02, .02, .03, .06, .20, .60, .90, 1., 1., .80, .90, 1., 1., .95, .70,
              .40, .25, .20, .15, .10, .05], 0.15),
    "student": ([.45, .30, .15, .06, .03, .03, .05, .10, .25, .45, .60, .70, .75, .80, .85, .85,
                 .80, .75, .80, .90, 1., 1., .90, .70], 0.8),
    "flat": ([1.] * 24, 1.0),
    "hydra": ([.70, .65, .60, .60, .65, .70, .75, .80, .85, .90, .95, 1., 1., 1., 1., .95, .95, .95,
               .90, .90, .85, .80, .75, .70], 1.0),
    "farm": ([.02] * 6 + [1.] * 16 + [.02] * 2, 1.0),
}
PROFILES = list(_P)
PROFW = np.array([np.asarray(v[0]) / max(v[0]) for v in _P.values()])
WEEKEND = np.array([v[1] for v in _P.values()])
PROF = {k: i for i, k in enumerate(PROFILES)}

_BAD16 = {(192, 168), (192, 0), (198, 18), (198, 19), (198, 51)} | {(172, b) for b in range(16, 32)}


def hexstr(rng, n, width=16):
    """n random lower-case hex strings of ``width`` digits (vectorised)."""
    digits = rng.integers(0, 16, size=(n, width))
    chars = np.ascontiguousarray(np.array(list("0123456789abcdef"))[digits])
    return chars.view(f"<U{width}").ravel()


def ipv4_strings(x):
    x = np.asarray(x, dtype=np.uint64)
    parts = [((x >> s) & 255).astype(np.int64).astype(str) for s in (24, 16, 8, 0)]
    out = parts[0]
    for p in parts[1:]:
        out = np.strings.add(np.strings.add(out, "."), p)
    return out


class World:
    """Accumulates accounts, events and entity tables; everything keyed by integers."""

    def __init__(self, n_accounts: int, seed: int):
        self.N = n_accounts
        self.rng = np.random.default_rng(seed)
        self.acc: list[dict] = []
        self.n_acc = 0
        self.ev: list[dict] = []
        self.ip_chunks: list[tuple[str, np.ndarray]] = []
        self.n_ip = 0
        self.n_tpl = 0
        self.n_card = 0
        self.ua = [u for u, _, _ in UA_CATALOG]
        w = np.array([x for _, x, _ in UA_CATALOG])
        g = np.array([x for _, _, x in UA_CATALOG])
        self.ua_p = [np.where(g == k, w, 0) / np.where(g == k, w, 0).sum() for k in (0, 1)]
        self.used16: set = set()
        self.domain_pool = self.rng.permutation(len(WORDS) ** 2 * len(TLDS))
        self.domain_ptr = 0
        # ban waves of the platform's trust & safety team: daily around 14:00 UTC
        k = np.arange(-400, 40)
        self.waves = k * DAY + 14 * HOUR + self.rng.normal(0, 0.4 * HOUR, len(k))

    # ---- entities -------------------------------------------------------------------------
    def prefixes(self, firsts, n):
        rng = self.rng
        out = []
        while len(out) < n:
            a = int(rng.choice(firsts))
            b = int(rng.integers(0, 256))
            if (a, b) in self.used16 or (a, b) in _BAD16:
                continue
            self.used16.add((a, b))
            out.append((a << 24) | (b << 16))
        return np.array(out, dtype=np.uint64)

    def add_v4(self, ints):
        ints = np.asarray(ints, dtype=np.uint64)
        ids = self.n_ip + np.arange(ints.size)
        self.ip_chunks.append(("v4", ints.ravel()))
        self.n_ip += ints.size
        return ids.reshape(ints.shape)

    def add_ip_strings(self, strings):
        ids = self.n_ip + np.arange(len(strings))
        self.ip_chunks.append(("s", np.asarray(strings)))
        self.n_ip += len(strings)
        return ids

    def new_tpl(self, n):
        ids = self.n_tpl + np.arange(int(n))
        self.n_tpl += int(n)
        return ids

    def new_cards(self, n):
        ids = self.n_card + np.arange(int(n))
        self.n_card += int(n)
        return ids

    def new_domains(self, n):
        d = self.domain_pool[self.domain_ptr:self.domain_ptr + n]
        self.domain_ptr += n
        nw, nt = len(WORDS), len(TLDS)
        return np.strings.add(np.strings.add(WORDS[d // (nw * nt)], WORDS[(d // nt) % nw]),
                              TLDS[d % nt])

    def add_uas(self, strings):
        ids = len(self.ua) + np.arange(len(strings))
        self.ua.extend(str(s) for s in strings)  # a handful of company-specific agents
        return ids

    def ua_id(self, s):
        if s not in self.ua:
            self.ua.append(s)
        return self.ua.index(s)

    def sample_ua(self, n, group=0):
        return self.rng.choice(len(UA_CATALOG), n, p=self.ua_p[group])

    def freemail(self, n):
        return FREEMAIL[self.rng.choice(len(FREEMAIL), n, p=FREEMAIL_P)]

    def tz(self, n):
        return TZ_CHOICES[self.rng.choice(len(TZ_CHOICES), n, p=TZ_P)]

    def snap_wave(self, t, p):
        """Move a share ``p`` of ban times to the next ban wave."""
        i = np.clip(np.searchsorted(self.waves, t), 0, len(self.waves) - 1)
        return np.where(self.rng.random(len(t)) < p, np.maximum(self.waves[i], t), t)

    # ---- accounts and events ----------------------------------------------------------------
    def add_accounts(self, n, kind, created, *, ban=None, card=None, email=None,
                     campaign="", actor=""):
        n = int(n)
        idx = self.n_acc + np.arange(n)
        self.acc.append({
            "kind": np.full(n, kind, dtype=object), "campaign": np.full(n, campaign, dtype=object),
            "actor": np.full(n, actor, dtype=object), "created": np.asarray(created, float),
            "ban": np.full(n, np.nan) if ban is None else np.asarray(ban, float),
            "card": np.full(n, -1) if card is None else np.asarray(card, np.int64),
            "email": self.freemail(n) if email is None else np.asarray(email),
        })
        self.n_acc += n
        return idx

    def add_events(self, a, t, ip, px, tpl, ua, model, tin, tout):
        n = len(a)
        def arr(x, dt):
            return np.broadcast_to(np.asarray(x, dtype=dt), (n,)).copy()
        self.ev.append({"a": arr(a, np.int64), "t": arr(t, float), "ip": arr(ip, np.int64),
                            "px": arr(px, np.int16), "tpl": arr(tpl, np.int64), "ua": arr(ua, np.int32),
                            "model": arr(model, np.int8), "tin": arr(tin, np.int64),
                            "tout": arr(tout, np.int64)})


class Space:
    """Unique IPv4 addresses from a set of /16 prefixes."""

    def __init__(self, w: World, firsts, n16, capacity):
        self.w = w
        self.pref = w.prefixes(firsts, n16)
        size = n16 * 65536
        cap = min(size, int(capacity * 1.03) + 64)
        draw = w.rng.choice(size, cap, replace=False).astype(np.uint64)
        last = draw & np.uint64(255)
        draw = draw[(last != 0) & (last != 255)]
        self.hosts = self.pref[(draw >> np.uint64(16)).astype(np.int64)] | (draw & np.uint64(0xFFFF))
        self.ptr = 0
        blocks = w.rng.permutation(n16 * 256).astype(np.uint64)
        self.blocks = self.pref[(blocks >> np.uint64(8)).astype(np.int64)] | ((blocks & np.uint64(255)) << np.uint64(8))
        self.bptr = 0

    def take(self, n):
        """n fresh addresses (global IP ids)."""
        n = int(n)
        if self.ptr + n > len(self.hosts):
            raise RuntimeError("IP space exhausted")
        x = self.hosts[self.ptr:self.ptr + n]
        self.ptr += n
        return self.w.add_v4(x)

    def take_block_hosts(self, n_blocks, hosts):
        """For each of n fresh /24 blocks, the given host numbers: ids of shape (n, len(hosts))."""
        b = self.blocks[self.bptr:self.bptr + n_blocks]
        self.bptr += n_blocks
        return self.w.add_v4(b[:, None] | np.asarray(hosts, np.uint64)[None, :])


# ---- sampling helpers -------------------------------------------------------------------------
def sample_times(rng, start, end, tz, prof):
    """Times in [start, end) following the hour-of-day/weekend profile in local time."""
    n = len(start)
    out = start + rng.random(n) * (end - start)
    todo = np.arange(n)
    for _ in range(20):
        if not len(todo):
            break
        u = start[todo] + rng.random(len(todo)) * (end[todo] - start[todo])
        lt = u + tz[todo] * HOUR
        hour = (np.floor(lt / HOUR) % 24).astype(np.int64)
        dow = (np.floor(lt / DAY).astype(np.int64) + 6) % 7  # day 0 is a Sunday
        p = prof[todo]
        w = PROFW[p, hour] * np.where(dow >= 5, WEEKEND[p], 1.0)
        ok = rng.random(len(todo)) < w
        out[todo] = u
        todo = todo[~ok]
    return out


def offsets_of(counts):
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def human_times(rng, n_ev, start, end, tz, prof, eps_mean, sess_len):
    """Session-clustered times.  Per-account arrays in; per-event (loc, t, session id) out."""
    n_acc = len(n_ev)
    eps = 1 + rng.poisson(max(eps_mean - 1, 0), n_acc)
    n_sess = np.clip(np.rint(n_ev / eps).astype(np.int64), 1, n_ev)
    sess_acc = np.repeat(np.arange(n_acc), n_sess)
    sess_start = sample_times(rng, start[sess_acc], end[sess_acc], tz[sess_acc], prof[sess_acc])
    sess_off = offsets_of(n_sess)
    loc = np.repeat(np.arange(n_acc), n_ev)
    rank = np.arange(len(loc)) - np.repeat(offsets_of(n_ev), n_ev)
    first = rank < n_sess[loc]
    k = np.where(first, rank, (rng.random(len(loc)) * n_sess[loc]).astype(np.int64))
    s = sess_off[loc] + k
    sl = np.broadcast_to(sess_len, (n_acc,))[loc]
    t = sess_start[s] + np.where(first, 0.0, rng.exponential(1.0, len(loc)) * sl)
    t = np.clip(t, start[loc], end[loc] - 1.0)
    return loc, t, s


def counts(rng, n, median, sigma, scale=1.0, lo=1, hi=4000):
    x = rng.lognormal(np.log(median), sigma, n) * scale
    return np.clip(rng.poisson(x), lo, hi).astype(np.int64)


def tokens(rng, n, med_in, med_out, s_in=0.9, s_out=0.8):
    tin = np.maximum(1, rng.lognormal(np.log(med_in), s_in, n)).astype(np.int64)
    tout = np.maximum(1, rng.lognormal(np.log(med_out), s_out, n)).astype(np.int64)
    return tin, np.minimum(tout, 16000)


def pick_sets(rng, loc, sets, cnt):
    j = (rng.random(len(loc)) * cnt[loc]).astype(np.int64)
    return sets[loc, np.minimum(j, sets.shape[1] - 1)]


def legacy_created(rng, n, p_new=0.08):
    c = -730 * DAY * rng.beta(1.0, 1.6, n) - 1 * DAY
    new = rng.random(n) < p_new
    c[new] = rng.uniform(0, WINDOW - 2 * DAY, int(new.sum()))
    return c


def legit_bans(w, created, rate):
    n = len(created)
    ban = np.full(n, np.nan)
    hit = w.rng.random(n) < rate
    lo = np.maximum(created[hit], 0) + 6 * HOUR
    t = lo + w.rng.random(int(hit.sum())) * np.maximum(WINDOW - lo, HOUR)
    t = w.snap_wave(t, 0.5)
    ban[hit] = np.where(t < WINDOW - 1, t, np.nan)
    return ban


def window_of(created, ban, lead=0.0):
    start = np.maximum(created + lead, 0.0)
    end = np.where(np.isnan(ban), WINDOW, np.minimum(ban, WINDOW))
    end = np.maximum(end, start + 60.0)
    return start, end


class Legit:
    """Per-account behaviour of ordinary users: templates, agents, models."""

    def __init__(self, w: World, n, *, p_null=(0.1, 0.35), pub_p=(.35, .35, .2, .1),
                 n_pers=(1, 5), ua_group_p=0.0, adopt_p=0.45, fast_p=0.08,
                 org_sets=None, org_cnt=None, p_org=None):
        rng = w.rng
        self.w = w
        self.p_null = rng.uniform(*p_null, n)
        self.pub_cnt = rng.choice(4, n, p=pub_p)
        self.pub = w.pub_tpl[rng.choice(len(w.pub_tpl), (n, 3), p=w.pub_p)]
        self.p_pub = np.where(self.pub_cnt > 0, rng.uniform(0.2, 0.9, n), 0.0)
        self.pers_cnt = rng.integers(n_pers[0], n_pers[1], n)
        self.pers = w.new_tpl(n * (n_pers[1] - 1)).reshape(n, n_pers[1] - 1)
        self.org_sets, self.org_cnt = org_sets, org_cnt
        self.p_org = np.zeros(n) if p_org is None else p_org
        mobile = rng.random(n) < ua_group_p
        self.ua1 = np.where(mobile, w.sample_ua(n, 1), w.sample_ua(n, 0))
        self.ua2 = w.sample_ua(n, 1) if ua_group_p < 0.5 else w.sample_ua(n, 0)
        self.p_ua2 = np.where(rng.random(n) < 0.25, rng.uniform(0.05, 0.4, n), 0.0)
        self.primary = rng.choice(4, n, p=BASE_MODEL_P)
        self.p_primary = rng.uniform(0.5, 0.95, n)
        adopt = rng.random(n) < adopt_p
        fast = rng.random(n) < fast_p
        self.adopt = np.where(adopt, np.where(fast, RELEASE + rng.uniform(0.5, 24, n) * HOUR,
                                              RELEASE + DAY + rng.exponential(6 * DAY, n)),
                              np.inf)
        self.share = rng.uniform(0.2, 0.8, n)

    def templates(self, loc):
        rng = self.w.rng
        n = len(loc)
        u = rng.random(n)
        c_org = self.p_org[loc] * (1 - self.p_null[loc])
        c_pub = c_org + (1 - self.p_null[loc] - c_org) * self.p_pub[loc]
        c_null = c_pub + self.p_null[loc]
        out = pick_sets(rng, loc, self.pers, self.pers_cnt)
        out = np.where(u < c_null, -1, out)
        m = u < c_pub
        out[m] = pick_sets(rng, loc[m], self.pub, np.maximum(self.pub_cnt, 1))
        if self.org_sets is not None:
            m = u < c_org
            out[m] = pick_sets(rng, loc[m], self.org_sets, self.org_cnt)
        return out

    def agents(self, loc):
        return np.where(self.w.rng.random(len(loc)) < self.p_ua2[loc], self.ua2[loc], self.ua1[loc])

    def models(self, loc, t):
        rng = self.w.rng
        n = len(loc)
        base = np.where(rng.random(n) < self.p_primary[loc], self.primary[loc],
                        rng.choice(4, n, p=BASE_MODEL_P))
        new = (t >= self.adopt[loc]) & (rng.random(n) < self.share[loc])
        return np.where(new, NEW, base)


def carrier_ip(w, carrier):
    u = w.rng.random(len(carrier))
    return w.car_cat[w.car_off[carrier] + (u * w.car_size[carrier]).astype(np.int64)]


def homelike_ip(w, loc, t, h):
    """IPs of a home-like user: home IP (possibly renumbered once), IPv6, mobile data."""
    rng = w.rng
    n = len(loc)
    ip = np.where(t >= h["change"][loc], h["ip2"][loc], h["ip"][loc])
    v6 = rng.random(n) < h["p_v6"][loc]
    ip = np.where(v6, h["v6"][loc], ip)
    mob = rng.random(n) < h["p_mobile"][loc]
    ip = np.where(mob, carrier_ip(w, h["carrier"][loc]), ip)
    return ip


def home_infra(w, n, *, p_mobile_users=0.5, mobile_beta=(1, 6), p_v6=0.35, p_change=0.2,
               peers=None):
    rng = w.rng
    ip = w.res.take(n)
    if peers is not None and len(peers):
        k = min(len(peers), n)
        ip[rng.choice(n, k, replace=False)] = peers[:k]
    change = np.where(rng.random(n) < p_change, rng.uniform(0, WINDOW, n), np.inf)
    ip2 = ip.copy()
    m = np.isfinite(change)
    ip2[m] = w.res.take(int(m.sum()))
    has6 = rng.random(n) < p_v6
    v6 = np.full(n, -1, dtype=np.int64)
    k6 = int(has6.sum())
    if k6:
        pre = np.array(["2601:", "2a02:", "2409:", "2003:", "2600:"])[rng.integers(0, 5, k6)]
        s = pre
        for i in range(7):
            s = np.strings.add(s, hexstr(rng, k6, 4))
            if i < 6:
                s = np.strings.add(s, ":")
        v6[has6] = w.add_ip_strings(s)
    return {"ip": ip, "ip2": ip2, "change": change, "v6": v6,
                "p_v6": np.where(has6, rng.uniform(0.3, 0.8, n), 0.0),
                "carrier": rng.choice(len(w.car_size), n, p=w.car_share),
                "p_mobile": np.where(rng.random(n) < p_mobile_users, rng.beta(*mobile_beta, n), 0.0)}


def emit_humans(w, idx, n_ev, start, end, tz, prof, beh: Legit, ip_fn, *, eps=4, sess_len=8 * 60,
                tok=(500, 350)):
    loc, t, s = human_times(w.rng, n_ev, start, end, tz, prof, eps, sess_len)
    ip, px = ip_fn(loc, t, s)
    tin, tout = tokens(w.rng, len(loc), *tok)
    w.add_events(idx[loc], t, ip, px, beh.templates(loc), beh.agents(loc), beh.models(loc, t),
                 tin, tout)
    return loc, t


# ---- infrastructure ---------------------------------------------------------------------------
def build_infra(w: World):
    rng, N = w.rng, w.N
    w.res = Space(w, [24, 47, 68, 71, 73, 75, 76, 86, 90, 98, 99, 108, 109, 174, 176, 177, 178,
                      180, 181, 183, 186, 187, 188, 189, 190, 191, 201, 212, 217, 220, 221, 222],
                  max(24, N // 1500), 3 * N + 60000)
    w.bus = Space(w, [38, 50, 63, 64, 65, 66, 69, 70, 96, 104, 128, 129, 130, 131, 192, 193, 194,
                      195, 198, 199, 204, 205, 206, 207, 208, 209], max(8, N // 20000), 1000)
    w.dc = Space(w, [3, 5, 13, 18, 20, 23, 34, 35, 37, 45, 46, 51, 52, 54, 78, 82, 85, 88, 91, 94,
                     95, 116, 135, 136, 137, 138, 139, 141, 142, 143, 144, 146, 147, 148, 149, 157,
                     159, 161, 162, 165, 167], 24, N // 4 + 20000)
    w.mob = Space(w, [107, 166, 172], 3, 200)
    # carriers: a few CGNAT egress addresses each
    w.car_size = np.array([8, 6, 4])
    w.car_share = np.array([0.45, 0.35, 0.20])
    w.car_off = offsets_of(w.car_size)
    w.car_cat = w.mob.take(w.car_size.sum())
    # commercial VPN exits
    base = max(20, N // 2000)
    vs = np.maximum(8, (np.array([1.5, 1.2, 0.6, 0.8, 0.5]) * base).astype(np.int64))
    w.vpn_size, w.vpn_off = vs, offsets_of(vs)
    w.vpn_cat = w.dc.take(vs.sum())
    # residential proxy networks: mostly fresh residential addresses plus some home users' IPs
    rs = np.maximum(200, (np.array([0.08, 0.05, 0.03]) * N).astype(np.int64))
    w.resi_size, w.resi_off = rs, offsets_of(rs)
    w.resi_cat = w.res.take(rs.sum())
    n_peer = int(0.02 * rs.sum())
    w.peer_ips = w.resi_cat[rng.choice(rs.sum(), n_peer, replace=False)]
    # hosted CI runners (a shared cloud pool)
    w.runner_pool = w.dc.take(max(100, N // 500))
    # public prompt templates (library defaults, popular prompt packs): Zipf popularity
    n_pub = 300
    w.pub_tpl = w.new_tpl(n_pub)
    p = 1.0 / np.arange(1, n_pub + 1) ** 1.1
    w.pub_p = p / p.sum()


def vpn_ip(w, prov, region, sess):
    size = w.vpn_size[prov]
    j = (region + (sess * 7919) % 8) % size
    return w.vpn_cat[w.vpn_off[prov] + j]


def resi_ip(w, prov, n=None):
    u = w.rng.random(len(prov))
    return w.resi_cat[w.resi_off[prov] + (u * w.resi_size[prov]).astype(np.int64)]


# ---- legitimate populations -----------------------------------------------------------------
def build_homes(w, n, kind="home", early=False):
    rng = w.rng
    created = legacy_created(rng, n, 0.0 if early else 0.08)
    ban = legit_bans(w, created, 0.003)
    card = np.where(rng.random(n) < (0.95 if early else 0.72), w.new_cards(n), -1)
    h = home_infra(w, n, peers=None if early else w.peer_ips)
    # households: 12 % of accounts share their home IP (and 30 % of those a card) with 1-2 others
    if not early:
        hh = np.flatnonzero(rng.random(n) < 0.12)
        rng.shuffle(hh)
        size = rng.integers(2, 4, len(hh))
        grp = np.repeat(np.arange(len(hh)), size)[:len(hh)]
        head = hh[np.searchsorted(grp, grp, side="left")]
        h["ip"][hh] = h["ip"][head]
        h["ip2"][hh] = h["ip2"][head]
        h["change"][hh] = h["change"][head]
        share_card = rng.random(grp.max() + 1 if len(grp) else 0) < 0.3
        sc = share_card[grp]
        card[hh[sc]] = card[head[sc]]
    email = w.freemail(n)
    idx = w.add_accounts(n, kind, created, ban=ban, card=card, email=email)
    tz = w.tz(n)
    prof = np.where(rng.random(n) < 0.7, PROF["home"], PROF["work"])
    start, end = window_of(created, ban)
    scale = (end - start) / WINDOW
    if early:
        beh = Legit(w, n, adopt_p=1.0)
        beh.adopt = RELEASE + np.minimum(rng.exponential(3 * HOUR, n), 14 * HOUR)
        beh.share = rng.uniform(0.4, 0.9, n)
        n_ev = counts(rng, n, 40, 1.0, scale)
        # make sure early adopters do have traffic after the release
        n_ev2 = counts(rng, n, 8, 0.7)
        beh.p_primary[:] = rng.uniform(0.4, 0.8, n)
    else:
        beh = Legit(w, n)
        n_ev = counts(rng, n, 8, 1.3, scale)
        # a few dozen developers use the open-source client the stealth actor also uses
        k = max(8, int(0.0003 * w.N))
        beh.ua1[rng.choice(n, k, replace=False)] = w.ua_id(UA_STEALTH)
    ipf = lambda loc, t, s: (homelike_ip(w, loc, t, h), -1)
    emit_humans(w, idx, n_ev, start, end, tz, prof, beh, ipf)
    if early:
        s2 = np.maximum(start, RELEASE + 0.5 * HOUR)
        e2 = np.maximum(np.minimum(end, RELEASE + 30 * HOUR), s2 + 60)
        emit_humans(w, idx, n_ev2, s2, e2, tz, np.full(n, PROF["flat"]), beh, ipf)
    return idx


def build_carrier(w, n):
    rng = w.rng
    created = legacy_created(rng, n, 0.10)
    ban = legit_bans(w, created, 0.003)
    card = np.where(rng.random(n) < 0.6, w.new_cards(n), -1)
    idx = w.add_accounts(n, "carrier_nat", created, ban=ban, card=card)
    h = home_infra(w, n, p_mobile_users=1.0, mobile_beta=(8, 2), p_v6=0.1)
    beh = Legit(w, n, ua_group_p=0.85, pub_p=(.2, .45, .25, .1))
    start, end = window_of(created, ban)
    n_ev = counts(rng, n, 6, 1.2, (end - start) / WINDOW)
    emit_humans(w, idx, n_ev, start, end, w.tz(n), np.full(n, PROF["home"]), beh,
                lambda loc, t, s: (homelike_ip(w, loc, t, h), -1), tok=(250, 300))
    return idx


def build_vpn(w, n):
    rng = w.rng
    created = legacy_created(rng, n, 0.08)
    ban = legit_bans(w, created, 0.004)
    card = np.where(rng.random(n) < 0.85, w.new_cards(n), -1)
    idx = w.add_accounts(n, "vpn", created, ban=ban, card=card)
    h = home_infra(w, n, p_mobile_users=0.3)
    prov = rng.choice(len(VPN_P), n, p=VPN_P)
    region = (rng.random(n) * w.vpn_size[prov]).astype(np.int64)
    p_vpn = np.where(rng.random(n) < 0.5, 1.0, rng.uniform(0.5, 0.95, n))
    beh = Legit(w, n)
    start, end = window_of(created, ban)
    n_ev = counts(rng, n, 10, 1.2, (end - start) / WINDOW)

    def ipf(loc, t, s):
        via = rng.random(len(loc)) < p_vpn[loc]
        ip = np.where(via, vpn_ip(w, prov[loc], region[loc], s), homelike_ip(w, loc, t, h))
        return ip, np.where(via, prov[loc], -1)

    emit_humans(w, idx, n_ev, start, end, w.tz(n),
                np.where(rng.random(n) < 0.6, PROF["home"], PROF["work"]), beh, ipf)
    return idx


def build_reseller_customers(w, n):
    rng = w.rng
    created = legacy_created(rng, n, 0.12)
    ban = legit_bans(w, created, 0.02)
    card = np.where(rng.random(n) < 0.7, w.new_cards(n), -1)
    idx = w.add_accounts(n, "reseller_customer", created, ban=ban, card=card)
    h = home_infra(w, n, p_mobile_users=0.3)
    prov = rng.choice(3, n, p=RESI_P)
    sticky = rng.random(n) < 0.5
    p_proxy = rng.uniform(0.7, 1.0, n)
    beh = Legit(w, n, fast_p=0.15)
    start, end = window_of(created, ban)
    n_ev = counts(rng, n, 20, 1.2, (end - start) / WINDOW)
    tz = np.array([3, 3.5, 4, 5, 7, 8])[rng.integers(0, 6, n)]

    def ipf(loc, t, s):
        m = len(loc)
        via = rng.random(m) < p_proxy[loc]
        p = prov[loc]
        rot = resi_ip(w, p)
        stick = w.resi_cat[w.resi_off[p] + (s * 2654435761 % (2 ** 31)) % w.resi_size[p]]
        ip = np.where(via, np.where(sticky[loc], stick, rot), homelike_ip(w, loc, t, h))
        return ip, np.where(via, RESI[p], -1)

    emit_humans(w, idx, n_ev, start, end, tz, np.full(n, PROF["home"]), beh, ipf)
    return idx


def group_sizes(rng, n_target, draw):
    sizes = draw(max(16, n_target // 4))
    cs = np.cumsum(sizes)
    m = int(np.searchsorted(cs, n_target)) + 1
    sizes = sizes[:m].copy()
    over = int(cs[m - 1] - n_target)
    if sizes[-1] - over >= 3:
        sizes[-1] -= over
    return sizes


def build_offices(w, n_target):
    rng = w.rng
    sizes = group_sizes(rng, n_target, lambda k: np.clip(
        np.rint(rng.lognormal(np.log(14), 1.0, k)), 5, 300).astype(np.int64))
    C = len(sizes)
    comp = np.repeat(np.arange(C), sizes)
    n = len(comp)
    onboard = np.where(rng.random(C) < 0.8, -rng.uniform(7, 365, C) * DAY,
                       rng.uniform(0, 25, C) * DAY)
    ctz = w.tz(C)
    ccard = w.new_cards(C)
    cdom = w.new_domains(C)
    nat = w.bus.take_block_hosts(C, [1, 2, 3])
    nat_n = rng.integers(1, 4, C)
    tcnt = rng.integers(1, 4, C)
    tsets = w.new_tpl(3 * C).reshape(C, 3)
    internal = rng.random(C) < 0.35
    stem = np.strings.partition(cdom, ".")[0]
    ver = rng.integers(1, 4, C).astype(str)
    cua = np.where(internal, w.add_uas(np.strings.add(np.strings.add(stem, "-assistant/2."), ver)),
                   w.sample_ua(C, 0))
    cadopt = np.select([rng.random(C) < 0.25, rng.random(C) < 0.45],
                       [RELEASE + rng.uniform(2, 48, C) * HOUR,
                        RELEASE + 2 * DAY + rng.exponential(7 * DAY, C)], np.inf)
    later = rng.random(n) < 0.25
    created = np.where(later, onboard[comp] + rng.exponential(60 * DAY, n),
                       onboard[comp] + rng.uniform(0, 3, n) * DAY)
    created = np.minimum(created, WINDOW - 1.5 * DAY)
    ban = legit_bans(w, created, 0.001)
    card = np.where(rng.random(n) < 0.85, ccard[comp], w.new_cards(n))
    idx = w.add_accounts(n, "office", created, ban=ban, card=card, email=cdom[comp])
    h = home_infra(w, n, p_mobile_users=0.2, mobile_beta=(1, 10))
    p_home = np.where(rng.random(n) < 0.3, rng.uniform(0.6, 0.95, n), rng.beta(1, 6, n))
    p_org = np.where(rng.random(n) < 0.85, rng.uniform(0.3, 0.7, n), 0.0)
    beh = Legit(w, n, org_sets=tsets[comp], org_cnt=tcnt[comp], p_org=p_org)
    beh.ua1 = np.where(rng.random(n) < 0.8, cua[comp], beh.ua1)
    beh.adopt = cadopt[comp]
    beh.share = rng.uniform(0.5, 0.9, n)
    start, end = window_of(created, ban)
    n_ev = counts(rng, n, 25, 1.0, (end - start) / WINDOW)

    def ipf(loc, t, s):
        m = len(loc)
        c = comp[loc]
        office = nat[c, (rng.random(m) * nat_n[c]).astype(np.int64)]
        return np.where(rng.random(m) < p_home[loc], homelike_ip(w, loc, t, h), office), -1

    emit_humans(w, idx, n_ev, start, end, ctz[comp], np.full(n, PROF["work"]), beh, ipf,
                eps=6, sess_len=20 * 60, tok=(900, 500))
    return idx, {"card": ccard, "domain": cdom, "nat": nat, "tsets": tsets, "C": C}


def build_university(w, n_target):
    rng = w.rng
    U = max(2, w.N // 50000)
    u_tz = np.array([-5, 1, -8, 8, 0, 2, 9, -6])[:U] if U <= 8 else w.tz(U)
    u_dom = np.strings.add(w.new_domains(U), "")
    u_dom = np.strings.add(np.strings.partition(u_dom, ".")[0], ".edu")
    campus = w.bus.take_block_hosts(U, [10, 11, 12, 13])
    sem = -rng.uniform(35, 50, U) * DAY
    is_course = None

    def draw(k):
        nonlocal is_course
        c = rng.random(k) < 0.7
        is_course = c
        return np.where(c, rng.integers(20, 81, k), rng.integers(5, 16, k))

    sizes = group_sizes(rng, n_target, draw)
    G = len(sizes)
    course = is_course[:G]
    guni = rng.integers(0, U, G)
    gstart = sem[guni] + rng.uniform(0, 7, G) * DAY
    gcard = w.new_cards(G)
    gtpl = w.new_tpl(2 * G).reshape(G, 2)
    gtcnt = rng.integers(1, 3, G)
    dl = rng.uniform(5, 28, (G, 2)) * DAY
    grp = np.repeat(np.arange(G), sizes)
    n = len(grp)
    co = course[grp]
    burst = rng.random(n) < 0.8
    created = np.where(co, np.where(burst, gstart[grp] + rng.uniform(0, 36, n) * HOUR,
                                    legacy_created(rng, n, 0.0)),
                       -rng.uniform(10, 400, n) * DAY)
    ban = legit_bans(w, created, 0.001)
    card = np.where(co, np.where(rng.random(n) < 0.3, w.new_cards(n), -1),
                    np.where(rng.random(n) < 0.8, gcard[grp], w.new_cards(n)))
    uni = guni[grp]
    idx = w.add_accounts(n, "university", created, ban=ban, card=card, email=u_dom[uni])
    h = home_infra(w, n, p_mobile_users=0.5, mobile_beta=(1, 8))
    p_campus = rng.uniform(0.3, 0.8, n)
    beh = Legit(w, n, org_sets=gtpl[grp], org_cnt=gtcnt[grp],
                p_org=np.where(rng.random(n) < 0.9, rng.uniform(0.3, 0.7, n), 0.0), fast_p=0.15)
    start, end = window_of(created, ban)
    tz = u_tz[uni]
    prof = np.full(n, PROF["student"])

    def ipf(loc, t, s):
        m = len(loc)
        cam = campus[uni[loc], rng.integers(0, 4, m)]
        return np.where(rng.random(m) < p_campus[loc], cam, homelike_ip(w, loc, t, h)), -1

    n_ev = counts(rng, n, 9, 1.0, (end - start) / WINDOW)
    emit_humans(w, idx, n_ev, start, end, tz, prof, beh, ipf)
    # deadline crunch before each of the course's two deadlines
    for j in range(2):
        d = dl[grp, j]
        s2 = np.maximum(start, d - 3 * DAY)
        e2 = np.maximum(np.minimum(end, d), s2 + 60)
        n2 = np.where(co, counts(rng, n, 4, 0.8), 0)
        emit_humans(w, idx, n2, s2, e2, tz, prof, beh, ipf)
    return idx


def build_agencies(w, n_target):
    rng = w.rng
    sizes = group_sizes(rng, n_target, lambda k: rng.integers(20, 61, k))
    A = len(sizes)
    ag = np.repeat(np.arange(A), sizes)
    n = len(ag)
    astart = -rng.uniform(30, 540, A) * DAY
    acard = w.new_cards(A)
    adom = w.new_domains(A)
    office = w.bus.take_block_hosts(A, [5, 6])
    staff = w.res.take(A * 8).reshape(A, 8)
    nstaff = rng.integers(3, 9, A)
    atpl = w.new_tpl(6 * A).reshape(A, 6)
    atcnt = rng.integers(3, 7, A)
    aua = np.where(rng.random(A) < 0.5, UA_CONNECTOR, w.sample_ua(A, 0))
    atz = w.tz(A)
    # client onboarding in batches
    nb = 8
    batch = astart[:, None] + rng.uniform(0, 1, (A, nb)) * (WINDOW - 10 * DAY - astart[:, None])
    created = batch[ag, rng.integers(0, nb, n)] + rng.uniform(0, 2, n) * HOUR
    ban = legit_bans(w, created, 0.002)
    card = np.where(rng.random(n) < 0.9, acard[ag], w.new_cards(n))
    email = np.where(rng.random(n) < 0.4, adom[ag], w.new_domains(n))
    idx = w.add_accounts(n, "agency", created, ban=ban, card=card, email=email)
    ptpl = w.new_tpl(2 * n).reshape(n, 2)
    # client-specific templates are the accounts' "personal" ones; agency templates the "org" ones
    beh = Legit(w, n, org_sets=atpl[ag], org_cnt=atcnt[ag], p_org=np.full(n, 0.7),
                p_null=(0.05, 0.2), n_pers=(1, 3))
    beh.pers = ptpl
    beh.ua1 = np.where(rng.random(n) < 0.85, aua[ag], beh.ua1)
    beh.adopt = np.where(rng.random(A) < 0.3, RELEASE + rng.uniform(1, 6, A) * DAY, np.inf)[ag]
    start, end = window_of(created, ban)

    def ipf(loc, t, s):
        m = len(loc)
        a = ag[loc]
        off = office[a, rng.integers(0, 2, m)]
        home = staff[a, (rng.random(m) * nstaff[a]).astype(np.int64)]
        return np.where(rng.random(m) < 0.75, off, home), -1

    n_ev = counts(rng, n, 14, 0.9, (end - start) / WINDOW)
    emit_humans(w, idx, n_ev, start, end, atz[ag], np.full(n, PROF["work"]), beh, ipf,
                tok=(700, 700))
    # batch runs: the agency's script walks over all its clients within the same 40 minutes
    nw = 10
    wins = rng.uniform(0, WINDOW - HOUR, (A, nw))
    n_b = counts(rng, n, 10, 0.5)
    loc = np.repeat(np.arange(n), n_b)
    t = wins[ag[loc], rng.integers(0, nw, len(loc))] + rng.uniform(0, 40 * 60, len(loc))
    ok = (t >= start[loc]) & (t < end[loc])
    loc, t = loc[ok], t[ok]
    tin, tout = tokens(rng, len(loc), 700, 700)
    w.add_events(idx[loc], t, office[ag[loc], 0], -1, pick_sets(rng, loc, beh.org_sets, beh.org_cnt),
                 beh.ua1[loc], beh.models(loc, t), tin, tout)
    return idx


def build_hackathon(w, n):
    rng = w.rng
    day = 6 * DAY  # Saturday 7 March, venue in UTC+1
    h0, h1 = day + 8 * HOUR, day + 8 * HOUR + 34 * HOUR
    prior = rng.random(n) < 0.15
    created = np.where(prior, legacy_created(rng, n, 0.0), day + rng.uniform(7, 10, n) * HOUR)
    card = np.where(rng.random(n) < 0.2, w.new_cards(n), -1)
    edu = w.new_domains(4)
    edu = np.strings.add(np.strings.partition(edu, ".")[0], ".edu")
    email = np.where(rng.random(n) < 0.4, edu[rng.integers(0, 4, n)], w.freemail(n))
    idx = w.add_accounts(n, "hackathon", created, card=card, email=email)
    venue = w.bus.take_block_hosts(1, [20, 21, 22])[0]
    starter = w.new_tpl(1)[0]
    team_size = rng.integers(3, 6, n)
    team = np.repeat(np.arange(n), team_size)[:n]
    team_tpl = w.new_tpl(team.max() + 1)
    org = np.stack([np.full(n, starter), team_tpl[team]], axis=1)
    beh = Legit(w, n, org_sets=org, org_cnt=np.full(n, 2), p_org=np.full(n, 0.75),
                p_null=(0.05, 0.15), adopt_p=0.0)
    beh.ua1 = np.where(rng.random(n) < 0.7, w.ua_id("python-sdk/1.40.2"), beh.ua1)
    h = home_infra(w, n, p_mobile_users=0.4)
    start = np.maximum(created, h0)
    end = np.full(n, h1)
    car = rng.choice(len(w.car_size), n, p=w.car_share)

    def venue_ip(loc, t, s):
        m = len(loc)
        return np.where(rng.random(m) < 0.9, venue[rng.integers(0, 3, m)],
                        carrier_ip(w, car[loc])), -1

    emit_humans(w, idx, counts(rng, n, 30, 0.7), start, end, np.full(n, 1.0),
                np.full(n, PROF["student"]), beh, venue_ip, eps=5)
    # a quarter keep going from home
    keep = np.where(rng.random(n) < 0.25, counts(rng, n, 6, 0.8), 0)
    emit_humans(w, idx, keep, np.full(n, h1), np.full(n, WINDOW), w.tz(n),
                np.full(n, PROF["home"]), beh, lambda loc, t, s: (homelike_ip(w, loc, t, h), -1))
    return idx


def build_ci(w, n, offices):
    rng = w.rng
    owned = rng.random(n) < 0.4
    comp = rng.integers(0, offices["C"], n)
    created = np.where(rng.random(n) < 0.15, rng.uniform(0, WINDOW - 3 * DAY, n),
                       -rng.uniform(5, 400, n) * DAY)
    card = np.where(owned, offices["card"][comp], w.new_cards(n))
    email = np.where(owned, offices["domain"][comp], w.freemail(n))
    idx = w.add_accounts(n, "ci_bot", created, card=card, email=email)
    period = np.array([1800, 3600, 7200, 14400, 21600, 86400.0])[
        rng.choice(6, n, p=[.10, .35, .20, .15, .10, .10])]
    aligned = rng.random(n) < 0.6
    phase = np.where(aligned, rng.uniform(0, 5, n), rng.uniform(0, 1, n) * period)
    start, end = window_of(created, np.full(n, np.nan))
    k0 = np.ceil((start - phase) / period)
    k1 = np.floor((end - 1 - phase) / period)
    cnt = np.maximum(k1 - k0 + 1, 1).astype(np.int64)
    loc = np.repeat(np.arange(n), cnt)
    rank = np.arange(len(loc)) - np.repeat(offsets_of(cnt), cnt)
    t = phase[loc] + (k0[loc] + rank) * period[loc] + rng.uniform(0, 2.0, len(loc))
    weekdays = rng.random(n) < 0.3
    dow = (np.floor(t / DAY).astype(np.int64) + 6) % 7
    keep = ~(weekdays[loc] & (dow >= 5))
    loc, t = loc[keep], t[keep]
    m = len(loc)
    fixed_kind = rng.choice(3, n, p=[0.45, 0.15, 0.40])  # own cloud IP, company NAT, runner pool
    own_ip = w.dc.take(n)
    own_px = rng.choice([11, 12, 13, 8], n, p=[.4, .25, .2, .15])
    nat_ip = offices["nat"][comp, 0]
    runner = w.runner_pool[rng.integers(0, len(w.runner_pool), m)]
    fk = fixed_kind[loc]
    ip = np.select([fk == 0, fk == 1], [own_ip[loc], nat_ip[loc]], runner)
    px = np.select([fk == 0, fk == 1], [own_px[loc], -1], 13)
    tpl_own = w.new_tpl(n)
    tpl_bot = np.where(owned & (rng.random(n) < 0.5), offices["tsets"][comp, 0], tpl_own)
    ua = np.array([UA_REQUESTS, 0, UA_CURL, 11])[rng.choice(4, n, p=[.4, .3, .15, .15])]
    pinned = rng.choice(4, n, p=[.5, .3, .1, .1])
    switch = np.where(rng.random(n) < 0.15, RELEASE + rng.exponential(5 * DAY, n), np.inf)
    model = np.where(t >= switch[loc], NEW, pinned[loc])
    tin0 = rng.lognormal(np.log(400), 0.8, n)
    tout0 = rng.lognormal(np.log(150), 0.8, n)
    tin = np.maximum(1, tin0[loc] * rng.uniform(0.97, 1.03, m)).astype(np.int64)
    tout = np.maximum(1, tout0[loc] * rng.uniform(0.9, 1.1, m)).astype(np.int64)
    w.add_events(idx[loc], t, ip, px, tpl_bot[loc], ua[loc], model, tin, tout)
    return idx


# ---- fraud ----------------------------------------------------------------------------------
def build_hydra(w, n_target, camp="hydra_reseller", actor="reseller-1"):
    rng = w.rng
    S = max(10, round(n_target / 7.0))
    rec = []
    cur = -rng.uniform(0, 10, S) * DAY
    slot_card = np.full(S, -1)
    pool = max(5, int(0.6 * n_target))
    pool_ids = w.new_cards(pool)
    for k in range(60):  # chain positions
        life = rng.lognormal(np.log(3 * DAY), 0.9, S)
        ban = w.snap_wave(cur + life, 0.6)
        card = np.where((k > 0) & (rng.random(S) < 0.3), slot_card,
                        pool_ids[rng.integers(0, pool, S)])
        slot_card = card
        keep = (ban > 0) & (cur < WINDOW - 2 * HOUR)
        rec.append((np.flatnonzero(keep), cur[keep], ban[keep], card[keep]))
        delay = np.clip(rng.exponential(1.5 * HOUR, S), 600, 8 * HOUR)
        cur = ban + delay
        if cur.min() >= WINDOW:
            break
    slot = np.concatenate([r[0] for r in rec])
    created = np.concatenate([r[1] for r in rec])
    ban = np.concatenate([r[2] for r in rec])
    card = np.concatenate([r[3] for r in rec])
    ban = np.where(ban < WINDOW, ban, np.nan)
    n = len(slot)
    catchall = np.strings.add(np.array(["inbox", "mailhub", "postbox", "relaymail", "quickmail",
                                        "mx-zone", "boxmail", "fastinbox"]), "")
    catchall = np.strings.add(catchall, np.array([".net", ".xyz", ".top", ".site", ".online",
                                                  ".net", ".xyz", ".store"]))
    email = np.where(rng.random(n) < 0.45, catchall[rng.integers(0, 8, n)], w.freemail(n))
    idx = w.add_accounts(n, "fraud", created, ban=ban, card=card, email=email, campaign=camp,
                         actor=actor)
    prov = rng.choice(3, S, p=RESI_P)[slot]
    start, end = window_of(created, ban, lead=0.0)
    start = np.minimum(start + rng.exponential(0.5 * HOUR, n), end - 60)
    rate = rng.lognormal(np.log(18), 0.6, n)
    n_ev = np.clip(rng.poisson(rate * (end - start) / DAY), 1, 4000)
    loc = np.repeat(np.arange(n), n_ev)
    m = len(loc)
    t = sample_times(rng, start[loc], end[loc], np.zeros(m), np.full(m, PROF["hydra"]))
    # traffic: 35 % distillation client, the rest resold customers' ordinary traffic
    distill = rng.random(m) < 0.35
    beh = Legit(w, n, p_null=(0.1, 0.25), fast_p=0.15)
    dtpl = w.new_tpl(40)
    tpl = np.where(distill, dtpl[rng.integers(0, 40, m)], beh.templates(loc))
    ua = np.where(distill, UA_SDK_LAB, beh.agents(loc))
    djump = RELEASE + rng.uniform(2, 20) * HOUR
    model = np.where(distill, np.where((t >= djump) & (rng.random(m) < 0.8), NEW,
                                       rng.choice([1, 2], m)), beh.models(loc, t))
    leak_ips = w.dc.take(4)
    leak = rng.random(m) < 0.04
    ip = np.where(leak, leak_ips[rng.integers(0, 4, m)], resi_ip(w, prov[loc]))
    px = np.where(leak, 8, RESI[prov[loc]])
    tin, tout = tokens(rng, m, 500, 450)
    tout = np.where(distill, rng.lognormal(np.log(1500), 0.5, m).astype(np.int64), tout)
    w.add_events(idx[loc], t, ip, px, tpl, ua, model, tin, tout)
    return idx


def build_lab(w, n, camp="distill_lab", actor="lab-1"):
    rng = w.rng
    # creation waves: six before the window, one mid-window, one right after the release
    waves = np.concatenate([-np.sort(rng.uniform(3, 60, 6)) * DAY,
                            [rng.uniform(4, 9) * DAY, RELEASE + rng.uniform(4, 20) * HOUR]])
    wp = np.array([.14, .14, .14, .14, .12, .12, .10, .10])
    wave = rng.choice(len(waves), n, p=wp)
    created = waves[wave] + rng.uniform(0, 6, n) * HOUR
    ban = w.snap_wave(created + rng.uniform(1, 40, n) * DAY, 0.8)
    ban = np.where((rng.random(n) < 0.07) & (ban < WINDOW) & (ban > 0), ban, np.nan)
    n_cards = max(3, n // 60)
    cards = w.new_cards(n_cards)
    wave_cards = rng.integers(0, n_cards, (len(waves), 8))
    wcnt = rng.integers(3, 9, len(waves))
    card = cards[pick_sets(rng, wave, wave_cards, wcnt)]
    custom = np.array(["nimbus-research.com", "corvid-ai.net", "lumenfield.io"])
    email = np.where(rng.random(n) < 0.35, custom[rng.integers(0, 3, n)], w.freemail(n))
    idx = w.add_accounts(n, "fraud", created, ban=ban, card=card, email=email, campaign=camp,
                         actor=actor)
    # job windows (synchronized across all accounts), one starting within hours of the release
    jobs = []
    for lo, hi in ((0.0, RELEASE), (RELEASE + rng.uniform(1, 5) * HOUR, WINDOW)):
        t = lo
        while t < hi:
            L = rng.uniform(3, 14) * HOUR
            jobs.append((t, min(t + L, min(WINDOW, hi))))
            t += L + rng.uniform(1, 10) * HOUR
    jobs = np.array(jobs)
    J = len(jobs)
    start, end = window_of(created, ban, lead=rng.uniform(0.5, 3, n) * HOUR)
    seg_s = np.maximum(jobs[None, :, 0], start[:, None])
    seg_e = np.minimum(jobs[None, :, 1], end[:, None])
    ov = np.maximum(seg_e - seg_s, 0)
    tot = ov.sum(1)
    rate = rng.gamma(20, 0.35 / 20, n) / HOUR  # load-balanced: similar rate per account
    n_ev = np.clip(rng.poisson(rate * tot), 1, 4000)
    loc = np.repeat(np.arange(n), n_ev)
    m = len(loc)
    cum = np.cumsum(ov, axis=1)
    L = (tot.max() + 1.0)
    flat = (cum + np.arange(n)[:, None] * L).ravel()
    x = rng.random(m) * tot[loc]
    pos = np.searchsorted(flat, loc * L + x, side="right")
    j = np.minimum(pos - loc * J, J - 1)
    prev = np.where(j > 0, cum[loc, np.maximum(j - 1, 0)], 0.0)
    t = seg_s[loc, j] + (x - prev)
    none = tot[loc] <= 0
    t = np.where(none, start[loc] + rng.random(m) * (end[loc] - start[loc]), t)
    # templates: each job uses 4 of the lab's 50; 35 % of prompts are paraphrased
    ltpl = w.new_tpl(50)
    job_tpl = ltpl[rng.integers(0, 50, (J, 4))]
    para = w.new_tpl(5 * n)
    tpl = np.where(rng.random(m) < 0.65, job_tpl[j, rng.integers(0, 4, m)],
                   para[rng.integers(0, len(para), m)])
    # infrastructure: workers on hosting IPs; 30 % of accounts behind a residential proxy
    nw = max(4, n // 25)
    wip = w.dc.take(nw)
    wpx = rng.choice([8, 9, 10], nw)
    acc_w = rng.integers(0, nw, (n, 2))
    via_resi = rng.random(n) < 0.3
    wk = acc_w[loc, rng.integers(0, 2, m)]
    ip = np.where(via_resi[loc], resi_ip(w, np.full(m, 1)), wip[wk])
    px = np.where(via_resi[loc], RESI[1], wpx[wk])
    model = np.where((t >= jobs[jobs[:, 0] > RELEASE][0, 0]) & (rng.random(m) < 0.85), NEW,
                     rng.choice([2, 1, 3], m, p=[.6, .25, .15]))
    tin, tout = tokens(rng, m, 900, 1800, 0.5, 0.4)
    w.add_events(idx[loc], t, ip, px, tpl, UA_SDK_LAB, model, tin, tout)
    return idx


def build_stealth(w, n, camp="stealth_client", actor="actor-s"):
    rng = w.rng
    sizes = group_sizes(rng, n, lambda k: rng.integers(15, 51, k))
    B = len(sizes)
    bt = rng.uniform(-90, 25, B) * DAY
    b = np.repeat(np.arange(B), sizes)
    n = len(b)
    created = bt[b] + rng.uniform(0, 60, n) * 60
    ban = w.snap_wave(np.maximum(created, 0) + rng.uniform(1, 30, n) * DAY, 0.6)
    ban = np.where((rng.random(n) < 0.03) & (ban < WINDOW), ban, np.nan)
    idx = w.add_accounts(n, "fraud", created, ban=ban, card=w.new_cards(n), campaign=camp,
                         actor=actor)
    pool = w.res.take(max(10, int(0.8 * n)))
    ips = pool[rng.integers(0, len(pool), (n, 3))]
    tpls = w.new_tpl(3 * n).reshape(n, 3)
    start, end = window_of(created, ban, lead=rng.uniform(0, 2, n) * DAY)
    n_ev = counts(rng, n, 60, 0.7, (end - start) / WINDOW)
    loc, t, s = human_times(rng, n_ev, start, end, np.full(n, 8.0), np.full(n, PROF["work"]),
                            8, 15 * 60)
    m = len(loc)
    ip = ips[loc, (s * 40503) % 3]
    tpl = np.where(rng.random(m) < 0.6, tpls[loc, rng.integers(0, 3, m)], -1)
    adopt = RELEASE + rng.uniform(2, 5, n) * DAY
    model = np.where((t >= adopt[loc]) & (rng.random(m) < 0.6), NEW,
                     rng.choice([2, 1, 3], m, p=[.5, .3, .2]))
    tin, tout = tokens(rng, m, 700, 1400, 0.6, 0.5)
    w.add_events(idx[loc], t, ip, -1, tpl, w.ua_id(UA_STEALTH), model, tin, tout)
    return idx


def build_phonefarm(w, n, camp="phone_farm", actor="farm-1"):
    rng = w.rng
    sizes = group_sizes(rng, n, lambda k: rng.integers(30, 81, k))
    B = len(sizes)
    bt = rng.uniform(-45, 20, B) * DAY
    b = np.repeat(np.arange(B), sizes)
    n = len(b)
    created = bt[b] + rng.uniform(0, 2, n) * HOUR
    ban = w.snap_wave(np.maximum(created, 0) + rng.uniform(1, 25, n) * DAY, 0.8)
    ban = np.where((rng.random(n) < 0.15) & (ban < WINDOW), ban, np.nan)
    cards = w.new_cards(max(2, n // 5))
    card = cards[rng.integers(0, len(cards), n)]
    idx = w.add_accounts(n, "fraud", created, ban=ban, card=card, campaign=camp, actor=actor)
    start, end = window_of(created, ban, lead=HOUR)
    n_ev = counts(rng, n, 50, 0.6, (end - start) / WINDOW)
    loc = np.repeat(np.arange(n), n_ev)
    m = len(loc)
    t = sample_times(rng, start[loc], end[loc], np.full(m, 7.0), np.full(m, PROF["farm"]))
    t = np.floor(t / 600) * 600 + rng.uniform(0, 45, m)  # controller ticks every 10 minutes
    t = np.clip(t, start[loc], end[loc] - 1)
    ftpl = w.new_tpl(3)
    u = rng.random(m)
    pub = w.pub_tpl[rng.choice(len(w.pub_tpl), m, p=w.pub_p)]
    tpl = np.select([u < 0.7, u < 0.85], [ftpl[rng.integers(0, 3, m)], pub], -1)
    model = np.where((t >= RELEASE + rng.uniform(3, 18) * HOUR) & (rng.random(m) < 0.7), NEW,
                     rng.choice([0, 1, 2], m, p=[.3, .4, .3]))
    ip = carrier_ip(w, np.zeros(m, dtype=np.int64))
    tin, tout = tokens(rng, m, 300, 900, 0.6, 0.5)
    w.add_events(idx[loc], t, ip, -1, tpl, UA_PHONE, model, tin, tout)
    return idx


def build_small(w, n, camp="small_ring", actor="ring-1"):
    rng = w.rng
    created = rng.uniform(3, 5, n) * DAY + rng.uniform(0, 1, n) * HOUR
    ban = np.full(n, np.nan)
    b = rng.choice(n, min(3, n), replace=False)
    ban[b] = w.snap_wave(created[b] + rng.uniform(5, 15, len(b)) * DAY, 1.0)
    cards = w.new_cards(3)
    idx = w.add_accounts(n, "fraud", created, ban=ban, card=cards[rng.integers(0, 3, n)],
                         campaign=camp, actor=actor)
    homes = w.res.take(2)
    region = int(rng.integers(0, w.vpn_size[0]))
    start, end = window_of(created, ban, lead=HOUR)
    n_ev = counts(rng, n, 80, 0.6, (end - start) / WINDOW)
    loc, t, s = human_times(rng, n_ev, start, end, np.full(n, -5.0), np.full(n, PROF["home"]),
                            6, 10 * 60)
    m = len(loc)
    via = rng.random(m) < 0.5
    ip = np.where(via, vpn_ip(w, np.zeros(m, dtype=np.int64), region, s),
                  homes[rng.integers(0, 2, m)])
    shared = w.new_tpl(1)[0]
    own = w.new_tpl(n)
    u = rng.random(m)
    tpl = np.select([u < 0.7, u < 0.8], [shared, own[loc]], -1)
    model = np.where((t >= RELEASE + rng.uniform(1, 6) * HOUR) & (rng.random(m) < 0.7), NEW,
                     rng.choice([1, 2], m))
    tin, tout = tokens(rng, m, 600, 1200, 0.6, 0.5)
    w.add_events(idx[loc], t, ip, np.where(via, 0, -1), tpl, UA_CURL, model, tin, tout)
    return idx


# ---- assembly -------------------------------------------------------------------------------
def generate(N: int, seed: int):
    w = World(N, seed)
    build_infra(w)
    sizes = {}
    sizes["hydra_reseller"] = len(build_hydra(w, int(0.045 * N)))
    sizes["distill_lab"] = len(build_lab(w, int(0.03 * N)))
    sizes["stealth_client"] = len(build_stealth(w, int(0.015 * N)))
    sizes["phone_farm"] = len(build_phonefarm(w, int(0.006 * N)))
    sizes["small_ring"] = len(build_small(w, max(12, int(0.0002 * N))))
    _, offices = build_offices(w, int(0.09 * N))
    build_university(w, int(0.02 * N))
    build_agencies(w, int(0.015 * N))
    build_hackathon(w, max(120, int(0.002 * N)))
    build_ci(w, max(20, int(0.006 * N)), offices)
    build_vpn(w, int(0.055 * N))
    build_reseller_customers(w, int(0.03 * N))
    build_carrier(w, int(0.11 * N))
    build_homes(w, int(0.025 * N), kind="early_adopter", early=True)
    build_homes(w, N - w.n_acc)
    return w, sizes


def write(w: World, out: Path):
    rng = w.rng
    out.mkdir(parents=True, exist_ok=True)
    acc = {k: np.concatenate([c[k] for c in w.acc]) for k in w.acc[0]}
    n = w.n_acc
    while True:
        ids = np.strings.add("acct_", hexstr(rng, n, 12))
        if len(np.unique(ids)) == n:
            break
    card_str = np.strings.add("card_", hexstr(rng, w.n_card, 14))
    tpl_str = hexstr(rng, w.n_tpl, 16)
    ip_str = np.concatenate([ipv4_strings(x) if kind == "v4" else x.astype(str)
                             for kind, x in w.ip_chunks])
    ev = {k: np.concatenate([e[k] for e in w.ev]) for k in w.ev[0]}
    # clip to the window, then time order
    ok = (ev["t"] >= 0) & (ev["t"] < WINDOW)
    ev = {k: v[ok] for k, v in ev.items()}
    order = np.argsort(ev["t"], kind="stable")
    ev = {k: v[order] for k, v in ev.items()}
    t0_us = T0.value // 1000
    ts = (np.floor(ev["t"] * 1e6).astype(np.int64) + t0_us)

    def take(strings, codes):
        codes = np.asarray(codes)
        return pa.array(strings).take(pa.array(codes, mask=codes < 0))

    ev_card = acc["card"][ev["a"]]
    table = pa.table({
        "account_id": take(ids, ev["a"]),
        "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
        "ip": take(ip_str, ev["ip"]),
        "payment_id": take(card_str, ev_card),
        "proxy_provider": take(PROXIES, ev["px"]),
        "template_hash": take(tpl_str, ev["tpl"]),
        "user_agent": take(np.array(w.ua, dtype=object), ev["ua"]),
        "model": take(MODELS, ev["model"]),
        "tokens_in": pa.array(ev["tin"], type=pa.int64()),
        "tokens_out": pa.array(ev["tout"], type=pa.int64()),
    })
    pq.write_table(table, out / "events.parquet", row_group_size=1_000_000, compression="zstd")

    def iso(sec):
        t = pd.to_datetime(np.floor(np.nan_to_num(sec, nan=0.0)), unit="s", origin=T0)
        s = pd.Series(t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return s.where(~np.isnan(sec), "")

    banned = ~np.isnan(acc["ban"])
    accounts = pd.DataFrame({
        "account_id": ids, "created_at": iso(acc["created"]),
        "payment_id": np.where(acc["card"] >= 0, card_str[np.maximum(acc["card"], 0)], ""),
        "email_domain": acc["email"], "status": np.where(banned, "banned", "active"),
        "banned_at": iso(acc["ban"]),
    })
    perm = rng.permutation(n)
    accounts.iloc[perm].to_csv(out / "accounts.csv", index=False)
    truth = pd.DataFrame({"account_id": ids, "campaign": acc["campaign"], "actor": acc["actor"],
                          "kind": acc["kind"]})
    truth.iloc[perm].to_csv(out / "truth.csv", index=False)
    return table.num_rows, acc, ev


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--accounts", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t = time.time()
    w, sizes = generate(args.accounts, args.seed)
    n_ev, acc, ev = write(w, Path(args.outdir))
    kinds = pd.Series(acc["kind"]).value_counts()
    per_kind_ev = pd.Series(acc["kind"][ev["a"]]).value_counts()
    print(f"{w.n_acc} accounts, {n_ev} events ({n_ev / w.n_acc:.1f} per account), "
          f"{time.time() - t:.1f}s -> {args.outdir}")
    print("accounts per kind:", kinds.to_dict())
    print("fraud campaigns:", sizes)
    print("events per kind:", per_kind_ev.to_dict())
    print("banned:", int((~np.isnan(acc["ban"])).sum()))


if __name__ == "__main__":
    main()
