"""Outside scenario B: a large proxy-reseller hydra among a realistic API customer base.

An independent data generator, written only from the domain facts (distillation fleets on an
AI API, hydra clusters run by proxy resellers, legitimate shared infrastructure) and the
input format of ``docs/data-contract.md``. It does not use graphkit.

    python benchmarks/outside_distill_b.py OUTDIR --accounts 200000 --seed 0

writes ``OUTDIR/events.parquet`` (contract columns plus ``device_id``), ``OUTDIR/accounts.csv``
(account_id, created_at, payment_id, email_domain, status, banned_at, phone),
``OUTDIR/truth.csv`` (account_id, campaign, actor, kind) and ``OUTDIR/meta.json``.

Window: 2026-03-01 .. 2026-03-31 UTC. Models atlas-3-mini, atlas-3, atlas-3-pro and atlas-4,
released 2026-03-16 17:00 UTC.

Populations (shares of --accounts):

fraud
  hydra        ~20,000 concurrently live slots (10%) run by a proxy reseller, ~25-27k accounts in
               all: initial fleet created in bursts before the window, banned in four waves
               (whole card groups) and a daily trickle, every banned account replaced within
               hours by accounts created in batches. Residential proxy IPs from three
               providers (rotating exit per request batch), cards each shared by tens to
               hundreds, custom client user agent (most accounts), lock-step dispatch in
               per-shard ticks, distillation templates on most tick traffic, some
               customer-like traffic mixed in, SMS-pool phones on some accounts, catch-all
               e-mail domains on some, per-account device fingerprints on some.
  device_farm  0.8%: phone farm; devices each hosting 15-70 accounts, SIM phones each reused
               by 3-8 accounts, one distinct card per account, 4G carrier-NAT IPs shared with
               ordinary mobile users, mobile-app user agents, steady (non-burst) sign-ups.
  model_jump   0.4%: aged accounts created in 3 bursts weeks earlier, quiet until atlas-4 is
               released, then within 2-22 hours heavy atlas-4 traffic with 3 identical
               templates from a cloud IP pool that CI bots also use; distinct cards.
  night_shift  0.25%: nightly creation bursts, one sticky unlabelled residential IP per
               account, cards shared by 2-3 accounts, three custom e-mail domains, no
               templates, lock-step nightly schedule (02:00-04:00 UTC).

legitimate
  home (remainder, ~54%), carrier_nat (9%), office (7%), vpn (5%), university (3%),
  reseller_customer (3%, the reseller's real customers on the same proxy IPs, many with the
  reseller's client user agent), family (2%, shared device/IP/card/phone), agency (1.5%, many
  client accounts on one card, office IP, tool user agent, cron-synchronised jobs, staff
  laptops as shared devices, batch sign-ups), hackathon (1%, one-day sign-up burst, venue IP,
  starter template), ci_bot (0.5%, cloud IPs, synchronised test runs, some switch to atlas-4
  at release).

Everything is vectorised over accounts and events; the Python loops run over ban waves,
populations and a handful of registries. Deterministic for a given (--accounts, --seed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DAY = 86400.0
HOUR = 3600.0
MINUTE = 60.0
WINDOW_START = np.datetime64("2026-03-01T00:00:00", "us")
WINDOW = 30 * DAY
RELEASE = 15 * DAY + 17 * HOUR  # atlas-4: 2026-03-16 17:00 UTC

MODELS = ["atlas-3-mini", "atlas-3", "atlas-3-pro", "atlas-4"]
NEW_MODEL = 3

UA = {
    "py": "atlas-python/2.4.1",
    "py_old": "atlas-python/2.2.0",
    "node": "atlas-node/1.9.2",
    "requests": "python-requests/2.31.0",
    "httpx": "python-httpx/0.27.0",
    "curl": "curl/8.5.0",
    "go": "Go-http-client/2.0",
    "langchain": "langchain-atlas/0.1.9 python-httpx/0.27.0",
    "chrome_win": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/124.0.0.0 Safari/537.36",
    "chrome_mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, "
                  "like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "safari": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like "
              "Gecko) Version/17.4.1 Safari/605.1.15",
    "firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "edge": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
    "android": "AtlasApp/5.2.1 (Android 14; Pixel 8)",
    "ios": "AtlasApp/5.2.1 (iPhone; iOS 17.4)",
    "relay": "relaygate/4.2.0 (linux; x86_64)",
    "contentpilot": "ContentPilot/2.1 (+https://contentpilot.example)",
    "adforge": "AdForge-Agent/1.8",
    "seoscribe": "SEOScribe/3.0.2",
    "ci": "pytest-evals/0.9 python-httpx/0.27.0",
}
UA_NAMES = list(UA)
U = {k: i for i, k in enumerate(UA_NAMES)}
LEGIT_UA = {"py": .25, "py_old": .08, "node": .12, "requests": .08, "httpx": .05, "curl": .03,
            "go": .03, "langchain": .08, "chrome_win": .09, "chrome_mac": .07, "safari": .04,
            "firefox": .03, "edge": .02, "android": .02, "ios": .03}
BROWSERS = ["chrome_win", "chrome_mac", "safari", "firefox", "edge"]

PROVIDERS = ["resiflow", "peerhop", "gridlink", "shieldvpn", "nordlane", "mullbox",
             "nimbus-cloud", "stratus-cloud"]
RESI = [0, 1, 2]
RESI_P = np.array([.5, .35, .15])

FREEMAIL = {"gmail.com": 45, "outlook.com": 12, "yahoo.com": 9, "hotmail.com": 6,
            "icloud.com": 7, "proton.me": 3, "gmx.de": 3, "qq.com": 4, "163.com": 3,
            "mail.ru": 2, "yandex.ru": 2, "naver.com": 2, "web.de": 2}
ISP_MAIL = ["comcast.net", "att.net", "verizon.net", "btinternet.com", "t-online.de",
            "orange.fr", "sky.com", "cox.net"]
HYDRA_DOMAINS = ["inboxly.site", "quickmail.click", "postbay.online", "mailnest.top",
                 "relaybox.xyz", "sendpost.icu"]
JUMP_DOMAINS = ["labmail.dev"]
NIGHT_DOMAINS = ["northwind-mail.net", "corvid.email", "mx-harbor.org"]

TZ_VALUES = np.array([-8, -7, -6, -5, -3, 0, 1, 2, 3, 5.5, 8, 9, 10])
TZ_P = np.array([10, 3, 8, 14, 4, 10, 14, 6, 3, 9, 10, 6, 3], float)
TZ_P /= TZ_P.sum()

HOME_PMF = np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2.5, 3, 3.2, 3.2, 3, 3, 3.1, 3.1, 3, 2.8,
                     2.6, 2.6, 2.6, 2.4, 2, 1.5])
HOME_PMF /= HOME_PMF.sum()
WORK_PMF = np.array([.1, .05, .05, .05, .05, .1, .3, 1, 3, 4, 4, 4, 3, 3.6, 4, 4, 3.6, 2.5, 1,
                     .5, .4, .3, .2, .1])
WORK_PMF /= WORK_PMF.sum()
FLAT_PMF = np.full(24, 1 / 24)

# token profiles: (median in, sigma in, median out, sigma out)
TOKENS = {"chat": (450, 1.1, 320, 0.9), "work": (900, 1.0, 400, 0.8),
          "distill": (1300, 0.6, 1600, 0.4), "jump": (900, 0.5, 2600, 0.3),
          "ci": (300, 0.3, 60, 0.5), "agency": (700, 0.5, 900, 0.4)}
TOK_NAMES = list(TOKENS)

CONSUMER = [24, 47, 49, 58, 59, 60, 61, 67, 68, 69, 71, 72, 73, 75, 76, 78, 79, 82, 83, 84, 86,
            88, 89, 90, 91, 93, 94, 95, 98, 99, 101, 106, 110, 111, 112, 113, 114, 115, 116,
            117, 118, 119, 120, 121, 122, 123, 124, 125, 171, 175, 176, 177, 178, 179, 180,
            181, 182, 183, 186, 187, 189, 190, 191, 197, 200, 201, 213, 217]
BUSINESS = [38, 50, 63, 64, 65, 66, 96, 97, 108, 162, 167, 173, 184, 204, 205, 206, 207, 208,
            209, 216]
ACADEMIC = [128, 129, 130, 131, 132, 134, 136, 138, 140, 141, 143, 144, 147, 149, 150, 152,
            155, 160]
DATACENTER = [5, 31, 37, 45, 46, 80, 81, 85, 87, 146, 185, 193, 194, 195]
NIMBUS = [3, 18, 52, 54]
STRATUS = [20, 40, 104, 168]


def mix64(x: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, used for opaque ids."""
    with np.errstate(over="ignore"):
        z = (np.asarray(x, dtype=np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def hex_ids(x: np.ndarray, salt: int, prefix: str, digits: int) -> np.ndarray:
    z = mix64(x, salt)
    h = np.char.mod("%016x", z) if len(z) else np.array([], dtype="<U16")
    return np.char.add(prefix, np.char.ljust(h, 16).astype(f"<U{digits}"))


def v4_strings(ints: np.ndarray) -> np.ndarray:
    ints = np.asarray(ints, dtype=np.int64)
    parts = [pd.Series((ints >> s) & 255).astype(str) for s in (24, 16, 8, 0)]
    return (parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3]).to_numpy(dtype=object)


class Gen:
    def __init__(self, n_accounts: int, seed: int):
        self.N = n_accounts
        self.s = n_accounts / 200_000
        self.rng = np.random.default_rng(seed)
        self.salt = int(np.random.default_rng(seed + 10_000).integers(0, 2**62))
        self.ip_str: list[np.ndarray] = []
        self.ip_prov: list[np.ndarray] = []
        self.n_ip = 0
        self.n_card = 0
        self.n_dev = 0
        self.n_tmpl = 0
        self.phone_region: list[np.ndarray] = []
        self.n_phone = 0
        self.domains: list[np.ndarray] = []
        self.n_dom = 0
        self.acc_blocks: list[dict] = []
        self.ev_blocks: list[dict] = []
        self.n_acc = 0
        self.meta: dict = {"populations": {}, "groups": {}}
        self._infra()

    # ------------------------------------------------------------------ registries
    def sc(self, x: float, lo: int = 1) -> int:
        return max(lo, round(x * self.s))

    def add_ips(self, strs: np.ndarray, prov: int | np.ndarray = -1) -> np.ndarray:
        strs = np.asarray(strs, dtype=object)
        ids = np.arange(self.n_ip, self.n_ip + len(strs))
        self.ip_str.append(strs)
        self.ip_prov.append(np.broadcast_to(np.asarray(prov, dtype=np.int64), len(strs)).copy())
        self.n_ip += len(strs)
        return ids

    def new(self, what: str, k: int) -> np.ndarray:
        start = getattr(self, what)
        setattr(self, what, start + k)
        return np.arange(start, start + k, dtype=np.int64)

    def new_phones(self, k: int, region_p=(.55, .15, .1, .2)) -> np.ndarray:
        self.phone_region.append(self.rng.choice(4, k, p=region_p))
        return self.new("n_phone", k)

    def add_domains(self, names) -> np.ndarray:
        names = np.asarray(names, dtype=object)
        self.domains.append(names)
        return self.new("n_dom", len(names))

    def rand_v4(self, n: int, firsts) -> np.ndarray:
        a = self.rng.choice(np.asarray(firsts, dtype=np.int64), n)
        mid = self.rng.integers(0, 2**16, n, dtype=np.int64)
        last = self.rng.integers(1, 255, n, dtype=np.int64)
        return (a << 24) | (mid << 8) | last

    def home_ips(self, n: int, v6_share: float = 0.2) -> np.ndarray:
        """n residential addresses (some IPv6), registered without provider; returns ids."""
        rng = self.rng
        is6 = rng.random(n) < v6_share
        out = np.empty(n, dtype=object)
        out[~is6] = v4_strings(self.rand_v4(int((~is6).sum()), CONSUMER))
        k = int(is6.sum())
        if k:
            pre = rng.choice(np.array(["2600:1700", "2a02:8108", "2001:818", "2406:3003",
                                       "2a01:cb00", "2603:8000"]), k)
            g = [np.char.mod("%x", rng.integers(1, 65536, k)) for _ in range(6)]
            s6 = pre
            for part in g:
                s6 = np.char.add(np.char.add(s6, ":"), part)
            out[is6] = s6
        return self.add_ips(out)

    def block_ips(self, n_blocks: int, per_block: np.ndarray, firsts, prov=-1):
        """One /24 per organisation with per_block consecutive hosts; returns (ids, offsets)."""
        per_block = np.asarray(per_block, dtype=np.int64)
        base = self.rand_v4(n_blocks, firsts) & ~np.int64(255)
        blk = np.repeat(np.arange(n_blocks), per_block)
        host = np.arange(len(blk)) - np.repeat(np.cumsum(per_block) - per_block, per_block) + 2
        ids = self.add_ips(v4_strings(base[blk] + host), prov)
        return ids, np.cumsum(per_block) - per_block

    # ------------------------------------------------------------------ infrastructure
    def _infra(self):
        rng = self.rng
        self.freemail = self.add_domains(list(FREEMAIL))
        w = np.array(list(FREEMAIL.values()), float)
        self.freemail_p = w / w.sum()
        self.isp_mail = self.add_domains(ISP_MAIL)
        # residential proxy pools: consumer addresses; 8% unknown to the IP-intel feed
        self.pool = {}
        for p, size in zip(RESI, (60_000, 40_000, 20_000)):
            n = self.sc(size, 500)
            prov = np.where(rng.random(n) < 0.92, p, -1)
            self.pool[p] = self.add_ips(v4_strings(self.rand_v4(n, CONSUMER)), prov)
        # commercial datacenter VPNs: a few /24s each
        for p, size in zip((3, 4, 5), (400, 300, 200)):
            n = self.sc(size, 30)
            nb = max(1, n // 100)
            ids, _ = self.block_ips(nb, np.full(nb, n // nb), DATACENTER, p)
            self.pool[p] = ids
        # mobile carrier NAT (public side of CGNAT): a few /24s per carrier
        self.carrier = []
        for size in (48, 24, 96):
            n = self.sc(size, 6)
            nb = max(1, n // 24)
            ids, _ = self.block_ips(nb, np.full(nb, int(np.ceil(n / nb))), CONSUMER)
            self.carrier.append(ids)
        self.carrier_w = [rng.pareto(2.0, len(c)) + 0.3 for c in self.carrier]
        self.carrier_w = [w / w.sum() for w in self.carrier_w]
        # clouds (CI runners, also model_jump workers)
        self.cloud = {}
        for p, firsts, size in ((6, NIMBUS, 4000), (7, STRATUS, 2000)):
            n = self.sc(size, 200)
            self.cloud[p] = self.add_ips(v4_strings(self.rand_v4(n, firsts)), p)
        # public wifi (cafes, airports, hotels)
        self.wifi = self.add_ips(v4_strings(self.rand_v4(self.sc(2000, 50), BUSINESS)))
        # templates: popular public ones (a library default prompt used by thousands, ...)
        self.public_tmpl = self.new("n_tmpl", 25)
        w = 1.0 / np.arange(1, 26) ** 1.1
        self.public_p = w / w.sum()
        self.distill_tmpl = self.new("n_tmpl", 40)

    # ------------------------------------------------------------------ generic helpers
    def lognorm_mean(self, mean, sigma, size):
        return self.rng.lognormal(np.log(mean) - sigma ** 2 / 2, sigma, size)

    def n_events(self, mean, sigma, start, end, cap=6000):
        live = np.clip(end - start, 0, None) / WINDOW
        lam = self.lognorm_mean(mean, sigma, len(start)) * live
        return np.minimum(self.rng.poisson(lam), cap)

    def sized_groups(self, n, median, sigma, lo, hi):
        """Cut n items (in order) into groups of lognormal sizes in [lo, hi]."""
        if n == 0:
            return np.zeros(0, np.int64), 0
        sizes = np.clip(np.round(self.rng.lognormal(np.log(median), sigma,
                                                    int(n / max(lo, 1)) + 2)), lo, hi)
        sizes = sizes.astype(np.int64)
        G = int(np.searchsorted(np.cumsum(sizes), n)) + 1
        g = np.repeat(np.arange(G), sizes[:G])[:n]
        return g, G

    def pick(self, keys_p: dict, n):
        names = list(keys_p)
        p = np.array([keys_p[k] for k in names], float)
        return np.array([U[k] for k in names])[self.rng.choice(len(names), n, p=p / p.sum())]

    def phones(self, n, p_own):
        out = np.full(n, -1, np.int64)
        has = self.rng.random(n) < p_own
        out[has] = self.new_phones(int(has.sum()))
        return out

    def unique_or_none(self, n, p, what):
        out = np.full(n, -1, np.int64)
        has = self.rng.random(n) < p
        out[has] = self.new(what, int(has.sum()))
        return out

    def legit_fields(self, n, *, created=None, card_p=0.85, phone_p=0.55, device_p=0.5,
                     dev_p=0.8, ban_rate=0.002, tz=None, ua1=None):
        rng = self.rng
        if created is None:
            inside = rng.random(n) < 0.08
            created = np.where(inside, rng.uniform(0, WINDOW, n),
                               -900 * DAY * rng.random(n) ** 2 - rng.uniform(0, DAY, n))
        dom = np.where(rng.random(n) < 0.88, rng.choice(self.freemail, n, p=self.freemail_p),
                       rng.choice(self.isp_mail, n))
        personal = rng.random(n) < 0.04
        dom[personal] = self.add_domains(np.char.add(np.char.add(
            "mail-", hex_ids(np.arange(int(personal.sum())) + self.n_dom, self.salt + 7, "", 6)
        ), ".net"))
        start = np.maximum(created, 0)
        banned = np.where(rng.random(n) < ban_rate,
                          start + rng.random(n) * np.maximum(WINDOW - start, 0) + HOUR, np.nan)
        banned[banned > WINDOW] = np.nan
        mpref = rng.choice(3, n, p=[.35, .4, .25])
        return {
            "created": created, "banned": banned,
            "card": self.unique_or_none(n, card_p, "n_card"),
            "phone": self.phones(n, phone_p), "dom": dom,
            "device": self.unique_or_none(n, device_p, "n_dev"), "dev_p": np.full(n, dev_p),
            "ua1": self.pick(LEGIT_UA, n) if ua1 is None else ua1, "ua2": self.pick(LEGIT_UA, n),
            "tz": rng.choice(TZ_VALUES, n, p=TZ_P) if tz is None else tz,
            "mpref": mpref, "adopt": rng.beta(2, 3, n), "adelay": np.zeros(n),
            "atau": self.lognorm_mean(4 * DAY, 0.9, n),
        }

    def add_accounts(self, kind, campaign, actor, fields: dict) -> np.ndarray:
        n = len(fields["created"])
        block = dict(fields)
        block["kind"] = kind
        block["campaign"] = campaign
        block["actor"] = actor
        block["n"] = n
        self.acc_blocks.append(block)
        ids = np.arange(self.n_acc, self.n_acc + n)
        self.n_acc += n
        self.meta["populations"][kind if not campaign else campaign] = (
            self.meta["populations"].get(kind if not campaign else campaign, 0) + n)
        return ids

    def add_events(self, acc, t, ip, tmpl=None, tok="chat", model=None, ua=None, device=None):
        n = len(acc)
        self.ev_blocks.append({
            "acc": np.asarray(acc, np.int64), "t": np.asarray(t, float), "ip": np.asarray(ip, np.int64),
            "tmpl": np.full(n, -1, np.int64) if tmpl is None else np.asarray(tmpl, np.int64),
            "tok": np.full(n, TOK_NAMES.index(tok), np.int8) if isinstance(tok, str) else tok,
            "model": None if model is None else np.asarray(model, np.int64),
            "ua": None if ua is None else np.asarray(ua, np.int64),
            "device": None if device is None else np.asarray(device, np.int64)})

    def live(self, f):
        start = np.maximum(f["created"], 0.0)
        end = np.where(np.isnan(f["banned"]), WINDOW, np.minimum(f["banned"], WINDOW))
        return start, end

    def human_times(self, acc, start, end, tz, pmf=HOME_PMF, sess_mean=4.0, workdays=False,
                    sess_dur=1200.0):
        """Sessions at diurnal local hours inside each account's live interval."""
        rng = self.rng
        m = len(start)
        cnt = np.bincount(acc, minlength=m)
        ns = np.where(cnt > 0, 1 + rng.binomial(np.maximum(cnt - 1, 0), 1.0 / sess_mean), 0)
        off = np.cumsum(ns) - ns
        S = int(ns.sum())
        sa = np.repeat(np.arange(m), ns)
        st, en, tzs = start[sa], end[sa], tz[sa] * HOUR
        t = st + rng.random(S) * (en - st)
        day = np.floor((t + tzs) / DAY)
        if workdays:
            dow = (day.astype(np.int64) + 6) % 7  # 2026-03-01 is a Sunday; Monday = 0
            wk = (dow >= 5) & (rng.random(S) < 0.9)
            shift = np.where(rng.random(S) < 0.5, -(dow - 4), 7 - dow)
            day = np.where(wk, day + shift, day)
        hr = rng.choice(24, S, p=pmf)
        t2 = day * DAY + hr * HOUR + rng.random(S) * HOUR - tzs
        t = np.where((t2 >= st) & (t2 < en), t2, t)
        dur = rng.exponential(sess_dur, S)
        es = off[acc] + np.floor(rng.random(len(acc)) * ns[acc]).astype(np.int64)
        te = t[es] + rng.random(len(acc)) * dur[es]
        out = (te >= end[acc]) | (te < start[acc])  # session spilling past the ban / window
        te[out] = start[acc[out]] + rng.random(int(out.sum())) * (end - start)[acc[out]]
        return te, es

    def tick_assign(self, grp_ev, lo_ev, hi_ev, tick_grp, tick_t):
        """A random tick of the event's group inside [lo, hi); -1 when there is none."""
        order = np.lexsort((tick_t, tick_grp))
        tg, tt = tick_grp[order], tick_t[order]
        span = 1e8
        key = tg * span + tt
        a = np.searchsorted(key, grp_ev * span + lo_ev, "left")
        b = np.searchsorted(key, grp_ev * span + hi_ev, "left")
        cnt = b - a
        idx = a + np.floor(self.rng.random(len(grp_ev)) * cnt).astype(np.int64)
        idx[cnt <= 0] = -1
        return idx, tt

    def tmpl_mix(self, n, p_public, own=None, p_own=0.0):
        """Per event: a popular public template, the account's/group's own one, or none."""
        rng = self.rng
        out = np.full(n, -1, np.int64)
        r = rng.random(n)
        pub = r < p_public
        out[pub] = rng.choice(self.public_tmpl, int(pub.sum()), p=self.public_p)
        if own is not None:
            o = (r >= p_public) & (r < p_public + p_own) & (own >= 0)
            out[o] = own[o]
        return out

    # ================================================================== fraud
    def build_hydra(self):
        rng = self.rng
        L = self.sc(20_000, 50)
        shard_size = 80
        n_sh = max(1, L // shard_size)
        slot_shard = rng.permutation(np.arange(L) % n_sh)
        shard_prov = rng.choice(3, n_sh, p=RESI_P)
        created, banned, card, slot = [], [], [], []

        # generation 0: created in batches of 200-600 within 90 minutes, days -40..-1
        perm = rng.permutation(L)
        g, nb = self.sized_groups(L, 400, 0.35, 200, 600)
        base = rng.uniform(-40 * DAY, -1 * DAY, nb)
        created.append(base[g] + rng.uniform(0, 90 * MINUTE, L))
        cg, ncards = self.sized_groups(L, 55, 0.8, 10, 400)
        cards0 = self.new("n_card", ncards)
        card.append(cards0[cg][rng.permutation(L)])
        slot.append(perm)
        banned.append(np.full(L, np.nan))
        n_tot = L
        cur = np.empty(L, np.int64)
        cur[perm] = np.arange(L)

        def cat(parts):
            return np.concatenate(parts)

        ops = [(d * DAY, "trickle", 0.0012) for d in range(30)]
        ops += [(w * DAY + rng.uniform(0, 6 * HOUR), "wave", f)
                for w, f in ((6.4, .06), (12.1, .07), (18.6, .05), (24.3, .06))]
        ops.sort()
        waves = []
        for T, kind, frac in ops:
            C, B, K = cat(created), cat(banned), cat(card)
            acc_live = cur[(C[cur] < T) & np.isnan(B[cur])]
            if kind == "wave":
                live_cards = K[acc_live]
                uc, cnt = np.unique(live_cards, return_counts=True)
                o = rng.permutation(len(uc))
                need = frac * L / 0.85
                chosen = uc[o[: int(np.searchsorted(np.cumsum(cnt[o]), need)) + 1]]
                hit = acc_live[np.isin(live_cards, chosen) & (rng.random(len(acc_live)) < 0.85)]
                bt = T + rng.uniform(0, 3 * HOUR, len(hit))
                waves.append({"t": T / DAY, "banned": len(hit), "cards": len(chosen)})
            else:
                hit = acc_live[rng.random(len(acc_live)) < frac]
                bt = T + rng.uniform(0, DAY, len(hit))
            if len(hit) == 0:
                continue
            B = B.copy()
            B[hit] = bt
            banned = [B]
            created, card, slot = [C], [K], [cat(slot)]
            k = len(hit)
            hit_slots = slot[0][hit]
            if kind == "wave":
                o = rng.permutation(k)
                bg, nbg = self.sized_groups(k, 100, 0.4, 50, 150)
                bbase = T + 3 * HOUR + np.minimum(rng.lognormal(np.log(2 * HOUR), .6, nbg),
                                                  8 * HOUR)
                newc = np.empty(k)
                newc[o] = bbase[bg] + rng.uniform(0, 30 * MINUTE, k)
                cg, nc = self.sized_groups(k, 40, 0.7, 10, 200)
                ncards_ = self.new("n_card", nc)
                newk = np.empty(k, np.int64)
                newk[rng.permutation(k)] = ncards_[cg]
                survivors = np.setdiff1d(K[acc_live], K[hit])
                reuse = (rng.random(k) < 0.3) & (len(survivors) > 0)
                if len(survivors):
                    newk[reuse] = rng.choice(survivors, int(reuse.sum()))
            else:
                newc = np.ceil((bt + 30 * MINUTE) / (6 * HOUR)) * 6 * HOUR \
                    + rng.uniform(0, 20 * MINUTE, k)
                newk = rng.choice(K[acc_live], k)
            created.append(newc)
            card.append(newk)
            slot.append(hit_slots)
            banned.append(np.full(k, np.nan))
            cur[hit_slots] = np.arange(n_tot, n_tot + k)
            n_tot += k
        created, banned, card, slot = cat(created), cat(banned), cat(card), cat(slot)
        n = len(created)
        banned[banned >= WINDOW] = np.nan
        shard = slot_shard[slot]
        prov = shard_prov[shard]

        # SMS-activation phones: a number verifies ~4 accounts
        phone = np.full(n, -1, np.int64)
        has = np.flatnonzero(rng.random(n) < 0.3)
        pg, npn = self.sized_groups(len(has), 4, 0.3, 2, 7)
        pids = self.new_phones(npn, region_p=(.3, .2, .2, .3))
        phone[rng.permutation(has)] = pids[pg]
        catch = self.add_domains(HYDRA_DOMAINS)
        dom = np.where(rng.random(n) < 0.8, rng.choice(self.freemail, n, p=self.freemail_p),
                       rng.choice(catch, n))
        ua1 = np.where(rng.random(n) < 0.85, U["relay"],
                       rng.choice([U["py"], U["httpx"]], n))
        f = {"created": created, "banned": banned, "card": card, "phone": phone, "dom": dom,
                 "device": self.unique_or_none(n, 0.4, "n_dev"), "dev_p": np.full(n, 0.9),
                 "ua1": ua1, "ua2": rng.choice([U["py"], U["httpx"], U["requests"]], n),
                 "tz": np.zeros(n), "mpref": rng.choice(3, n, p=[.05, .25, .7]),
                 "adopt": np.full(n, 0.5), "adelay": np.full(n, 2 * DAY), "atau": np.full(n, 2 * DAY)}
        gid = self.add_accounts("fraud", "hydra", "proxy_reseller_hydra", f)
        start, end = self.live(f)
        ne = self.n_events(2.7 * 30, 0.8, start, end)
        acc = np.repeat(np.arange(n), ne)
        on = rng.random(len(acc)) < 0.85
        # per-shard dispatch ticks: ~15 requests per tick
        ev_sh = shard[acc]
        nt = np.maximum(np.bincount(ev_sh[on], minlength=n_sh) // 15, 1)
        tick_grp = np.repeat(np.arange(n_sh), nt)
        tick_t = rng.uniform(0, WINDOW, len(tick_grp))
        idx, tt = self.tick_assign(ev_sh[on], start[acc[on]], end[acc[on]], tick_grp, tick_t)
        a_on = acc[on]
        ok = idx >= 0
        a_tick, idx = a_on[ok], idx[ok]
        t_tick = tt[idx] + rng.exponential(1.5, len(idx))
        p_ev = prov[a_tick]
        sizes = np.array([len(self.pool[p]) for p in RESI])
        h = mix64(a_tick.astype(np.uint64) * np.uint64(1_000_003) + idx.astype(np.uint64),
                  self.salt)
        pos = (h % sizes[p_ev].astype(np.uint64)).astype(np.int64)
        starts = np.array([self.pool[p][0] for p in RESI])
        ip = starts[p_ev] + pos
        shard_tmpl = rng.choice(self.distill_tmpl, (n_sh, 6))
        tmpl = np.where(rng.random(len(idx)) < 0.75,
                        shard_tmpl[shard[a_tick], rng.integers(0, 6, len(idx))], -1)
        self.add_events(gid[a_tick], t_tick, ip, tmpl, tok="distill")
        # off-tick, customer-like traffic
        a_off = np.concatenate([acc[~on], a_on[~ok]])
        t_off, _ = self.human_times(a_off, start, end, np.zeros(n), FLAT_PMF, 3.0)
        p_ev = prov[a_off]
        ip = starts[p_ev] + (rng.random(len(a_off)) * sizes[p_ev]).astype(np.int64)
        self.add_events(gid[a_off], t_off, ip, self.tmpl_mix(len(a_off), 0.3), tok="chat")
        self.meta["groups"]["hydra"] = {"slots": L, "shards": n_sh, "accounts": n,
                                            "cards": len(np.unique(card)), "waves": waves,
                                            "banned": int(np.isfinite(banned).sum())}

    def build_device_farm(self):
        rng = self.rng
        n = self.sc(1600, 20)
        created = rng.uniform(-20 * DAY, 27 * DAY, n)
        dg, nd = self.sized_groups(n, 35, 0.4, 15, 70)
        devs = self.new("n_dev", nd)
        device = devs[dg][rng.permutation(n)]
        pg, npn = self.sized_groups(n, 5, 0.35, 3, 8)
        phone = self.new_phones(npn, region_p=(.1, .1, .1, .7))[pg][rng.permutation(n)]
        banned = np.where(rng.random(n) < 0.12,
                          np.maximum(created, 0) + 2 * DAY + rng.uniform(0, 25 * DAY, n), np.nan)
        banned[banned >= WINDOW] = np.nan
        ua1 = np.where(rng.random(n) < 0.7, U["android"], U["ios"])
        f = {"created": created, "banned": banned, "card": self.new("n_card", n), "phone": phone,
                 "dom": rng.choice(self.freemail[:2], n, p=[.8, .2]), "device": device,
                 "dev_p": np.full(n, 0.95), "ua1": ua1, "ua2": ua1, "tz": np.full(n, 7.0),
                 "mpref": rng.choice(3, n, p=[.0, .6, .4]), "adopt": np.full(n, 0.3),
                 "adelay": np.zeros(n), "atau": np.full(n, 4 * DAY)}
        gid = self.add_accounts("fraud", "device_farm", "phone_farm_op", f)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(40, 0.7, start, end))
        t, _ = self.human_times(acc, start, end, f["tz"], WORK_PMF, 5.0)
        car = np.where(rng.random(n) < 0.8, 2, 1)[acc]
        ip = np.empty(len(acc), np.int64)
        for c in (1, 2):
            m = car == c
            ip[m] = rng.choice(self.carrier[c], int(m.sum()), p=self.carrier_w[c])
        self.add_events(gid[acc], t, ip, self.tmpl_mix(len(acc), 0.2))
        self.meta["groups"]["device_farm"] = {"accounts": n, "devices": nd, "phones": npn}

    def build_model_jump(self):
        rng = self.rng
        n = self.sc(800, 12)
        burst = rng.integers(0, 3, n)
        created = np.array([-32, -21, -9])[burst] * DAY + rng.uniform(0, 3 * HOUR, n)
        jd = self.add_domains(JUMP_DOMAINS)
        dom = np.where(rng.random(n) < 0.7, rng.choice(self.freemail, n, p=self.freemail_p),
                       jd[0])
        lag = rng.uniform(2 * HOUR, 22 * HOUR, n)
        banned = np.where(rng.random(n) < 0.2, RELEASE + rng.uniform(3, 9, n) * DAY, np.nan)
        ua1 = np.where(rng.random(n) < 0.5, U["py"], U["httpx"])
        f = {"created": created, "banned": banned, "card": self.new("n_card", n),
                 "phone": self.phones(n, 0.2), "dom": dom, "device": np.full(n, -1),
                 "dev_p": np.zeros(n), "ua1": ua1, "ua2": ua1, "tz": rng.choice(TZ_VALUES, n, p=TZ_P),
                 "mpref": rng.choice(3, n, p=[.2, .5, .3]), "adopt": np.zeros(n),
                 "adelay": np.zeros(n), "atau": np.full(n, DAY)}
        gid = self.add_accounts("fraud", "model_jump", "lab_jumper", f)
        # warm-up before the release: a few ordinary-looking requests
        start, _ = self.live(f)
        pre_end = np.full(n, RELEASE)
        acc = np.repeat(np.arange(n), rng.integers(2, 7, n))
        t, _ = self.human_times(acc, start, pre_end, f["tz"], HOME_PMF, 2.0)
        pool = rng.choice(self.cloud[6], 300, replace=False)
        self.add_events(gid[acc], t, rng.choice(pool, len(acc)), self.tmpl_mix(len(acc), 0.5))
        # after the release: heavy atlas-4 traffic with three fixed templates
        s2 = RELEASE + lag
        e2 = np.minimum(s2 + rng.uniform(5, 12, n) * DAY, WINDOW)
        e2 = np.where(np.isnan(banned), e2, np.minimum(e2, banned))
        ne = rng.poisson(self.lognorm_mean(130, 0.5, n) * (e2 - s2) / (8 * DAY))
        acc = np.repeat(np.arange(n), ne)
        t = s2[acc] + rng.random(len(acc)) * (e2 - s2)[acc]
        jt = self.new("n_tmpl", 3)
        tm = np.where(rng.random(len(acc)) < 0.9, rng.choice(jt, len(acc)), -1)
        model = np.where(rng.random(len(acc)) < 0.95, NEW_MODEL, 2)
        self.add_events(gid[acc], t, rng.choice(pool, len(acc)), tm, tok="jump", model=model)
        self.meta["groups"]["model_jump"] = {"accounts": n, "cloud_ips": 300}

    def build_night_shift(self):
        rng = self.rng
        n = self.sc(500, 10)
        night = rng.integers(0, 20, n)
        created = (np.arange(-12, 8)[night] * DAY + HOUR + rng.uniform(0, 40 * MINUTE, n))
        cg, nc = self.sized_groups(n, 2.5, 0.25, 2, 3)
        card = self.new("n_card", nc)[cg][rng.permutation(n)]
        nd = self.add_domains(NIGHT_DOMAINS)
        banned = np.where(rng.random(n) < 0.05, rng.uniform(5, 29, n) * DAY, np.nan)
        banned[banned <= np.maximum(created, 0)] = np.nan
        br = np.array([U[b] for b in BROWSERS])
        ua1 = rng.choice(br, n)
        f = {"created": created, "banned": banned, "card": card, "phone": self.phones(n, 0.5),
                 "dom": rng.choice(nd, n), "device": self.new("n_dev", n), "dev_p": np.ones(n),
                 "ua1": ua1, "ua2": ua1, "tz": np.zeros(n), "mpref": rng.choice(3, n, p=[0, .2, .8]),
                 "adopt": np.full(n, 0.4), "adelay": np.full(n, 3 * DAY), "atau": np.full(n, DAY)}
        gid = self.add_accounts("fraud", "night_shift", "lab_night", f)
        ip_own = self.add_ips(v4_strings(self.rand_v4(n, CONSUMER)))  # sticky, unlabelled
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(25, 0.6, start, end))
        days = np.arange(30)
        tick_t = (days[:, None] * DAY + 2 * HOUR + np.arange(24)[None, :] * 5 * MINUTE).ravel()
        idx, tt = self.tick_assign(np.zeros(len(acc), np.int64), start[acc], end[acc],
                                   np.zeros(len(tick_t), np.int64), tick_t)
        acc = acc[idx >= 0]
        t = tt[idx[idx >= 0]] + rng.exponential(2.0, len(acc))
        self.add_events(gid[acc], t, ip_own[acc], tok="distill")
        self.meta["groups"]["night_shift"] = {"accounts": n, "cards": nc}

    # ================================================================== legitimate
    def build_reseller_customers(self):
        rng = self.rng
        n = self.sc(6000)
        ua1 = np.where(rng.random(n) < 0.6, U["relay"], self.pick(LEGIT_UA, n))
        f = self.legit_fields(n, card_p=0.9, phone_p=0.5, device_p=0.3, dev_p=0.7,
                              ban_rate=0.015, ua1=ua1)
        gid = self.add_accounts("reseller_customer", "", "", f)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(28, 1.3, start, end))
        t, sess = self.human_times(acc, start, end, f["tz"])
        prov = rng.choice(3, n, p=RESI_P)
        home = self.home_ips(n)
        sizes = np.array([len(self.pool[p]) for p in RESI])
        starts = np.array([self.pool[p][0] for p in RESI])
        pe = prov[acc]
        # one exit per session (sticky session), occasionally direct from home
        pos = (mix64(sess.astype(np.uint64), self.salt + 3) % sizes[pe].astype(np.uint64))
        ip = np.where(rng.random(len(acc)) < 0.9, starts[pe] + pos.astype(np.int64), home[acc])
        own = self.unique_or_none(n, 0.2, "n_tmpl")
        self.add_events(gid[acc], t, ip, self.tmpl_mix(len(acc), 0.15, own[acc], 0.2))

    def build_vpn(self):
        rng = self.rng
        n = self.sc(10_000)
        f = self.legit_fields(n, device_p=0.4, ban_rate=0.008)
        gid = self.add_accounts("vpn", "", "", f)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(24, 1.3, start, end))
        t, sess = self.human_times(acc, start, end, f["tz"])
        prov = np.where(rng.random(n) < 0.35, rng.choice(3, n, p=RESI_P),
                        rng.choice([3, 4, 5], n, p=[.45, .35, .2]))
        sizes = np.array([len(self.pool[p]) for p in range(6)])
        starts = np.array([self.pool[p][0] for p in range(6)])
        pe = prov[acc]
        pos = (mix64(sess.astype(np.uint64), self.salt + 5) % sizes[pe].astype(np.uint64))
        own = self.unique_or_none(n, 0.15, "n_tmpl")
        self.add_events(gid[acc], t, starts[pe] + pos.astype(np.int64),
                        self.tmpl_mix(len(acc), 0.15, own[acc], 0.2))
        self.meta["groups"]["vpn_on_reseller_providers"] = int((prov < 3).sum())

    def build_carrier(self):
        rng = self.rng
        n = self.sc(18_000)
        car = rng.choice(3, n, p=[.4, .25, .35])
        tz = np.array([-6.0, 1.0, 7.0])[car] + rng.choice([-1, 0, 1], n, p=[.2, .6, .2])
        ua1 = np.where(rng.random(n) < 0.6, np.where(rng.random(n) < .5, U["android"], U["ios"]),
                       self.pick(LEGIT_UA, n))
        f = self.legit_fields(n, card_p=0.75, device_p=0.8, dev_p=0.8, tz=tz, ua1=ua1)
        gid = self.add_accounts("carrier_nat", "", "", f)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(18, 1.3, start, end))
        t, _ = self.human_times(acc, start, end, f["tz"])
        ip = np.empty(len(acc), np.int64)
        ce = car[acc]
        for c in range(3):
            m = ce == c
            ip[m] = rng.choice(self.carrier[c], int(m.sum()), p=self.carrier_w[c])
        self.add_events(gid[acc], t, ip, self.tmpl_mix(len(acc), 0.12))
        self.meta["groups"]["carrier_ips"] = [len(c) for c in self.carrier]

    def build_office(self):
        rng = self.rng
        n = self.sc(14_000)
        g, G = self.sized_groups(n, 18, 1.0, 5, 300)
        size = np.bincount(g, minlength=G)
        onboard = rng.uniform(-500 * DAY, 25 * DAY, G)
        burst = rng.random(n) < 0.6
        created = np.where(burst, onboard[g] + rng.uniform(0, DAY, n),
                           onboard[g] + rng.random(n) * np.maximum(WINDOW - onboard[g], DAY))
        ctz = rng.choice(TZ_VALUES, G, p=TZ_P)
        std_ua = self.pick(LEGIT_UA, G)
        ua1 = np.where(rng.random(n) < 0.7, std_ua[g], self.pick(LEGIT_UA, n))
        f = self.legit_fields(n, created=created, phone_p=0.4, device_p=0.4, dev_p=0.6,
                              tz=ctz[g], ua1=ua1, ban_rate=0.001)
        # company card (departments in large companies); 10% pay individually
        company_card = rng.random(G) < 0.9
        ncard = np.where(size > 100, 3, 1)
        cstart = self.new("n_card", int(ncard.sum()))[0]
        coff = np.cumsum(ncard) - ncard
        dept = rng.integers(0, 3, n) % ncard[g]
        f["card"] = np.where(company_card[g], cstart + coff[g] + dept, f["card"])
        switch = rng.random(G) < 0.1
        sw_ph = np.full(G, -1, np.int64)
        sw_ph[switch] = self.new_phones(int(switch.sum()), region_p=(.6, .2, .2, 0))
        f["phone"] = np.where(switch[g], sw_ph[g], f["phone"])
        f["dom"] = self.add_domains(np.char.add(
            hex_ids(np.arange(G) + self.n_dom, self.salt + 11, "co-", 8), ".com"))[g]
        gid = self.add_accounts("office", "", "", f)
        ips, ioff = self.block_ips(G, rng.integers(1, 5, G), BUSINESS)
        negress = np.diff(np.append(ioff, len(ips)))
        home = self.home_ips(n)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(28, 1.2, start, end))
        t, _ = self.human_times(acc, start, end, f["tz"], WORK_PMF, 5.0, workdays=True)
        ga = g[acc]
        egress = ips[ioff[ga] + (rng.random(len(acc)) * negress[ga]).astype(np.int64)]
        ip = np.where(rng.random(len(acc)) < 0.85, egress, home[acc])
        # internal templates: 60% of companies have 1-3
        nt = np.where(rng.random(G) < 0.6, rng.integers(1, 4, G), 0)
        tstart = self.new("n_tmpl", int(nt.sum()))[0] if nt.sum() else 0
        toff = np.cumsum(nt) - nt
        own = np.where(nt[ga] > 0, tstart + toff[ga] + (rng.random(len(acc)) * np.maximum(
            nt[ga], 1)).astype(np.int64), -1)
        self.add_events(gid[acc], t, ip, self.tmpl_mix(len(acc), 0.1, own, 0.4), tok="work")
        self.meta["groups"]["office"] = {"companies": G, "max_size": int(size.max())}

    def build_university(self):
        rng = self.rng
        n = self.sc(6000)
        G = self.sc(12, 2)
        g = np.sort(rng.choice(G, n, p=rng.dirichlet(np.full(G, 3.0))))
        term = np.where(rng.random(G) < 0.4, rng.uniform(1, 20, G), rng.uniform(-60, -5, G)) * DAY
        burst = rng.random(n) < 0.65
        created = np.where(burst, term[g] + rng.uniform(0, 48 * HOUR, n),
                           term[g] - rng.uniform(0, 700 * DAY, n))
        utz = rng.choice(TZ_VALUES, G, p=TZ_P)
        f = self.legit_fields(n, created=created, card_p=0.75, phone_p=0.5, device_p=0.5,
                              dev_p=0.7, tz=utz[g], ban_rate=0.002)
        f["mpref"] = rng.choice(3, n, p=[.5, .4, .1])
        # computer-lab workstations shared by students
        lab_user = rng.random(n) < 0.3
        labdev = self.new("n_dev", 40 * G)
        f["device"] = np.where(lab_user, labdev[g * 40 + rng.integers(0, 40, n)], f["device"])
        f["dev_p"] = np.where(lab_user, 0.5, f["dev_p"])
        # research-lab cards: 15% of students in groups of ~20 sharing a lab card
        lab = np.flatnonzero(rng.random(n) < 0.15)
        lg, nl = self.sized_groups(len(lab), 20, 0.4, 8, 40)
        f["card"][lab] = self.new("n_card", nl)[lg]
        f["dom"] = self.add_domains(np.char.add(
            hex_ids(np.arange(G) + self.n_dom, self.salt + 13, "uni-", 6), ".edu"))[g]
        gid = self.add_accounts("university", "", "", f)
        ips, ioff = self.block_ips(G, np.full(G, 8), ACADEMIC)
        home = self.home_ips(n)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(22, 1.1, start, end))
        ga = g[acc]
        course = self.new("n_tmpl", 2 * G)
        cls = rng.random(len(acc)) < 0.3
        # weekly class slots: 2 per university (day of week, local hour)
        slot_dow = rng.integers(0, 5, (G, 2))
        slot_hr = rng.integers(9, 17, (G, 2))
        weeks = np.arange(-1, 6)
        tg = np.repeat(np.arange(G), 2 * len(weeks))
        tdow = np.repeat(slot_dow, len(weeks), axis=1).ravel()
        thr = np.repeat(slot_hr, len(weeks), axis=1).ravel()
        tw = np.tile(weeks, 2 * G)
        tick_t = (tw * 7 + 1 + tdow) * DAY + thr * HOUR - utz[tg] * HOUR
        idx, tt = self.tick_assign(ga[cls], start[acc[cls]], end[acc[cls]], tg, tick_t)
        ok = idx >= 0
        a1 = acc[cls][ok]
        t1 = tt[idx[ok]] + rng.uniform(0, 90 * MINUTE, len(a1))
        own1 = course[2 * g[a1] + rng.integers(0, 2, len(a1))]
        tm1 = np.where(rng.random(len(a1)) < 0.7, own1, -1)
        self.add_events(gid[a1], t1, ips[ioff[g[a1]] + rng.integers(0, 8, len(a1))], tm1)
        a2 = np.concatenate([acc[~cls], acc[cls][~ok]])
        t2, _ = self.human_times(a2, start, end, f["tz"])
        ip2 = np.where(rng.random(len(a2)) < 0.6,
                       ips[ioff[g[a2]] + rng.integers(0, 8, len(a2))], home[a2])
        own2 = course[2 * g[a2] + rng.integers(0, 2, len(a2))]
        self.add_events(gid[a2], t2, ip2, self.tmpl_mix(len(a2), 0.1, own2, 0.25))
        self.meta["groups"]["university"] = {"universities": G, "term_start_days": list(
            np.round(term / DAY, 1))}

    def build_agency(self):
        rng = self.rng
        n = self.sc(3000, 10)
        g, G = self.sized_groups(n, 35, 0.8, 10, 150)
        # client accounts created in batches of 5-20 within 30 minutes
        bg, _ = self.sized_groups(n, 10, 0.5, 5, 20)
        _, bg = np.unique(g * 1_000_000 + bg, return_inverse=True)  # never across agencies
        nb = int(bg.max()) + 1
        bday = rng.uniform(-400 * DAY, 28 * DAY, nb)
        created = bday[bg] + rng.uniform(0, 30 * MINUTE, n)
        atz = rng.choice(TZ_VALUES, G, p=TZ_P)
        tool = rng.choice(4, G, p=[.3, .25, .2, .25])
        tool_ua = np.array([U["contentpilot"], U["adforge"], U["seoscribe"], U["py"]])
        f = self.legit_fields(n, created=created, phone_p=0.3, device_p=0.0, tz=atz[g],
                              ua1=tool_ua[tool][g], ban_rate=0.003)
        f["ua2"] = np.where(rng.random(n) < .5, f["ua2"], U["chrome_win"])
        f["mpref"] = rng.choice(3, n, p=[.4, .5, .1])
        ncard = np.where(rng.random(G) < 0.85, 1, rng.integers(2, 4, G))
        cstart = self.new("n_card", int(ncard.sum()))[0]
        f["card"] = cstart + (np.cumsum(ncard) - ncard)[g] + rng.integers(0, 3, n) % ncard[g]
        share_ph = rng.random(G) < 0.6
        aph = self.new_phones(G, region_p=(.6, .2, .2, 0))
        f["phone"] = np.where(share_ph[g], aph[g], f["phone"])
        adom = self.add_domains(np.char.add(
            hex_ids(np.arange(G) + self.n_dom, self.salt + 17, "agency-", 6), ".com"))
        cdom = self.add_domains(np.char.add(
            hex_ids(np.arange(n) + self.n_dom, self.salt + 19, "client-", 8), ".com"))
        f["dom"] = np.where(rng.random(n) < 0.3, adom[g], cdom)
        # staff laptops used to log into client accounts
        ndev = rng.integers(2, 6, G)
        dstart = self.new("n_dev", int(ndev.sum()))[0]
        staff = rng.random(n) < 0.4
        f["device"] = np.where(staff, dstart + (np.cumsum(ndev) - ndev)[g]
                               + rng.integers(0, 5, n) % ndev[g], -1)
        f["dev_p"] = np.full(n, 0.3)
        gid = self.add_accounts("agency", "", "", f)
        ips, ioff = self.block_ips(G, rng.integers(1, 3, G), BUSINESS)
        nip = np.diff(np.append(ioff, len(ips)))
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(30, 0.9, start, end))
        ga = g[acc]
        # templates: the tool's defaults (shared by all agencies on that tool) + own ones
        tool_tmpl = self.new("n_tmpl", 6).reshape(3, 2)
        own_t = self.new("n_tmpl", 3 * G).reshape(G, 3)
        cron = rng.random(len(acc)) < 0.7
        hours = np.sort(rng.choice(24, (G, 3)), axis=1)
        nh = rng.integers(2, 4, G)
        tg = np.repeat(np.arange(G), 30 * 3)
        th = np.tile(np.repeat(np.arange(30), 3), G)
        tk = np.tile(np.arange(3), 30 * G)
        keep = tk < nh[tg]
        tg, th, tk = tg[keep], th[keep], tk[keep]
        tick_t = th * DAY + hours[tg, tk] * HOUR
        idx, tt = self.tick_assign(ga[cron], start[acc[cron]], end[acc[cron]], tg, tick_t)
        ok = idx >= 0
        a1 = acc[cron][ok]
        t1 = tt[idx[ok]] + rng.uniform(0, 120, len(a1))
        g1 = g[a1]
        use_tool = (tool[g1] < 3) & (rng.random(len(a1)) < 0.5)
        tm1 = np.where(use_tool, tool_tmpl[np.minimum(tool[g1], 2), rng.integers(0, 2, len(a1))],
                       own_t[g1, rng.integers(0, 3, len(a1))])
        tm1 = np.where(rng.random(len(a1)) < 0.85, tm1, -1)
        self.add_events(gid[a1], t1, ips[ioff[g1] + rng.integers(0, 2, len(a1)) % nip[g1]], tm1,
                        tok="agency")
        a2 = np.concatenate([acc[~cron], acc[cron][~ok]])
        t2, _ = self.human_times(a2, start, end, f["tz"], WORK_PMF, 4.0, workdays=True)
        g2 = g[a2]
        ip2 = np.where(rng.random(len(a2)) < 0.9, ips[ioff[g2] + rng.integers(0, 2, len(a2))
                                                      % nip[g2]],
                       rng.choice(self.wifi, len(a2)))
        tm2 = np.where(rng.random(len(a2)) < 0.3, own_t[g2, rng.integers(0, 3, len(a2))], -1)
        self.add_events(gid[a2], t2, ip2, tm2, tok="agency")
        self.meta["groups"]["agency"] = {"agencies": G, "max_size": int(np.bincount(g).max())}

    def build_family(self):
        rng = self.rng
        n = self.sc(4000, 4)
        sizes = rng.choice([2, 3, 4, 5], n, p=[.45, .3, .15, .1])
        G = int(np.searchsorted(np.cumsum(sizes), n)) + 1
        g = np.repeat(np.arange(G), sizes[:G])[:n]
        base = rng.uniform(-600 * DAY, 20 * DAY, G)
        created = base[g] + rng.uniform(0, 30 * DAY, n)
        htz = rng.choice(TZ_VALUES, G, p=TZ_P)
        f = self.legit_fields(n, created=created, tz=htz[g], device_p=0.0)
        f["device"] = self.new("n_dev", G)[g]
        f["dev_p"] = np.full(n, 0.6)
        share_card = rng.random(G) < 0.5
        pcard = self.new("n_card", G)
        f["card"] = np.where(share_card[g], pcard[g], f["card"])
        share_ph = rng.random(G) < 0.4
        pph = self.new_phones(G)
        f["phone"] = np.where(share_ph[g], pph[g], f["phone"])
        f["dom"] = np.where(rng.random(n) < 0.3, f["dom"][np.searchsorted(g, g)], f["dom"])
        gid = self.add_accounts("family", "", "", f)
        hips = self.home_ips(2 * G)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(15, 1.2, start, end))
        t, _ = self.human_times(acc, start, end, f["tz"])
        seg = (t > rng.uniform(0, WINDOW, G)[g[acc]]).astype(np.int64)
        ip = np.where(rng.random(len(acc)) < 0.9, hips[2 * g[acc] + seg],
                      rng.choice(self.carrier[0], len(acc)))
        self.add_events(gid[acc], t, ip, self.tmpl_mix(len(acc), 0.15))

    def build_ci(self):
        rng = self.rng
        n = self.sc(1000, 4)
        sizes = rng.integers(2, 11, n)
        G = int(np.searchsorted(np.cumsum(sizes), n)) + 1
        g = np.repeat(np.arange(G), sizes[:G])[:n]
        created = (rng.uniform(-300 * DAY, 0, G))[g] + rng.uniform(0, HOUR, n)
        gtz = rng.choice(TZ_VALUES, G, p=TZ_P)
        latest = rng.random(G) < 0.35
        f = self.legit_fields(n, created=created, phone_p=0.0, device_p=0.0, tz=gtz[g],
                              ua1=rng.choice([U["ci"], U["httpx"], U["py"]], G)[g], ban_rate=0)
        f["ua2"] = f["ua1"]
        f["card"] = self.new("n_card", G)[g]
        f["mpref"] = np.zeros(n, np.int64)
        f["adopt"] = np.where(latest[g], 1.0, 0.1)
        f["atau"] = np.where(latest[g], 0.05 * DAY, 5 * DAY)
        gid = self.add_accounts("ci_bot", "", "", f)
        cloud = np.where(rng.random(G) < 0.6, 6, 7)
        hosted = rng.random(G) < 0.5
        fixed_ip = np.where(cloud == 6, rng.choice(self.cloud[6], G), rng.choice(self.cloud[7], G))
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(80, 0.6, start, end))
        # pushes: 2-12 per workday in working hours; all bots of the group run together
        per_day = rng.integers(2, 13, G)
        tg = np.repeat(np.arange(G), per_day * 30)
        tday = np.floor(rng.random(len(tg)) * 30)
        dow = (tday.astype(np.int64) + 6) % 7
        tday = np.where(dow >= 5, tday - (dow - 4), tday)
        tick_t = tday * DAY + rng.choice(24, len(tg), p=WORK_PMF) * HOUR \
            + rng.random(len(tg)) * HOUR - gtz[tg] * HOUR
        idx, tt = self.tick_assign(g[acc], start[acc], end[acc], tg, tick_t)
        acc, idx = acc[idx >= 0], idx[idx >= 0]
        t = tt[idx] + rng.uniform(0, 90, len(acc))
        ga = g[acc]
        c_sizes = np.array([0] * 6 + [len(self.cloud[6]), len(self.cloud[7])])
        c_start = np.array([0] * 6 + [self.cloud[6][0], self.cloud[7][0]])
        h = mix64(idx.astype(np.uint64), self.salt + 23) % c_sizes[cloud[ga]].astype(np.uint64)
        ip = np.where(hosted[ga], c_start[cloud[ga]] + h.astype(np.int64), fixed_ip[ga])
        gt = self.new("n_tmpl", 2 * G)
        tm = np.where(rng.random(len(acc)) < 0.9, gt[2 * ga + rng.integers(0, 2, len(acc))], -1)
        self.add_events(gid[acc], t, ip, tm, tok="ci")

    def build_hackathon(self):
        rng = self.rng
        n = self.sc(2000, 10)
        G = self.sc(4, 1)
        g = np.sort(rng.integers(0, G, n))
        hstart = rng.uniform(2, 27, G).round() * DAY + 9 * HOUR
        new = rng.random(n) < 0.8
        created = np.where(new, hstart[g] + rng.uniform(-12 * HOUR, 10 * HOUR, n),
                           -rng.uniform(1, 500, n) * DAY)
        f = self.legit_fields(n, created=created, card_p=0.3, phone_p=0.4, device_p=0.5,
                              tz=rng.choice(TZ_VALUES, G, p=TZ_P)[g], ban_rate=0.005)
        gid = self.add_accounts("hackathon", "", "", f)
        venue, voff = self.block_ips(G, np.full(G, 4), BUSINESS)
        home = self.home_ips(n)
        starter = self.new("n_tmpl", G)
        start, end = self.live(f)
        acc = np.repeat(np.arange(n), self.n_events(15, 1.0, start, end))
        during = rng.random(len(acc)) < 0.65
        hs = np.maximum(hstart[g], start)
        he = np.minimum(hstart[g] + 30 * HOUR, end)
        ok = he > hs
        a1 = acc[during & ok[acc]]
        t1, _ = self.human_times(a1, hs, he, np.zeros(n), FLAT_PMF, 6.0)
        ip1 = np.where(rng.random(len(a1)) < 0.85, venue[voff[g[a1]] + rng.integers(0, 4, len(a1))],
                       rng.choice(self.carrier[0], len(a1)))
        self.add_events(gid[a1], t1, ip1, self.tmpl_mix(len(a1), 0.1, starter[g[a1]], 0.6))
        a2 = acc[~(during & ok[acc])]
        t2, _ = self.human_times(a2, start, end, f["tz"])
        self.add_events(gid[a2], t2, home[a2], self.tmpl_mix(len(a2), 0.15, starter[g[a2]], 0.2))
        self.meta["groups"]["hackathon_days"] = list(np.round(hstart / DAY, 2))

    def build_home(self, n):
        rng = self.rng
        f = self.legit_fields(n)
        gid = self.add_accounts("home", "", "", f)
        k = rng.integers(1, 4, n)
        hips = self.home_ips(3 * n)
        # a few home connections are also exit nodes of a residential proxy network
        exitnode = rng.random(n) < 0.01
        allpool = np.concatenate([self.pool[p] for p in RESI])
        hips = hips.reshape(n, 3)
        hips[exitnode, 0] = rng.choice(allpool, int(exitnode.sum()))
        start, end = self.live(f)
        ne = self.n_events(24, 1.3, start, end)
        ne[rng.random(n) < 0.03] = 0
        acc = np.repeat(np.arange(n), ne)
        t, _ = self.human_times(acc, start, end, f["tz"])
        frac = (t - start[acc]) / np.maximum(end[acc] - start[acc], 1)
        seg = np.minimum((frac * k[acc]).astype(np.int64), k[acc] - 1)
        r = rng.random(len(acc))
        car = rng.integers(0, 3, len(acc))
        ip = hips[acc, seg]
        m = r > 0.85
        ip[m] = np.array([c[0] for c in self.carrier])[car[m]] + (
            rng.random(int(m.sum())) * np.array([len(c) for c in self.carrier])[car[m]]
        ).astype(np.int64)
        m = r > 0.95
        ip[m] = rng.choice(self.wifi, int(m.sum()))
        own = self.unique_or_none(n, 0.3, "n_tmpl")
        user = rng.random(n) < 0.35
        tm = self.tmpl_mix(len(acc), 0.0, own[acc], 0.4)
        pub = user[acc] & (rng.random(len(acc)) < 0.5)
        tm[pub] = rng.choice(self.public_tmpl, int(pub.sum()), p=self.public_p)
        self.add_events(gid[acc], t, ip, tm)

    # ================================================================== output
    def build(self):
        self.build_hydra()
        self.build_device_farm()
        self.build_model_jump()
        self.build_night_shift()
        self.build_reseller_customers()
        self.build_vpn()
        self.build_carrier()
        self.build_office()
        self.build_university()
        self.build_agency()
        self.build_family()
        self.build_ci()
        self.build_hackathon()
        rest = self.N - self.n_acc
        if rest < 0.3 * self.N:
            raise SystemExit(f"--accounts {self.N} too small for the populations")
        self.build_home(rest)

    def write(self, out: Path):
        rng = self.rng
        out.mkdir(parents=True, exist_ok=True)
        B = self.acc_blocks
        A = {k: np.concatenate([np.asarray(b[k]) for b in B]) for k in
             ("created", "banned", "card", "phone", "dom", "device", "dev_p", "ua1", "ua2",
              "tz", "mpref", "adopt", "adelay", "atau")}
        n = self.n_acc
        kind = np.concatenate([np.full(b["n"], b["kind"], dtype=object) for b in B])
        camp = np.concatenate([np.full(b["n"], b["campaign"], dtype=object) for b in B])
        actor = np.concatenate([np.full(b["n"], b["actor"], dtype=object) for b in B])
        # opaque account ids, unrelated to population order
        acc_ids = hex_ids(rng.permutation(n), self.salt + 1, "acct_", 12)
        assert len(np.unique(acc_ids)) == n
        card_str = hex_ids(np.arange(self.n_card), self.salt + 2, "pm_", 14)
        dev_str = hex_ids(np.arange(self.n_dev), self.salt + 4, "dev_", 16)
        tmpl_str = hex_ids(np.arange(self.n_tmpl), self.salt + 6, "", 16)
        dom_str = np.concatenate(self.domains)
        phone_str = self._phone_strings()

        E = {k: np.concatenate([b[k] for b in self.ev_blocks]) for k in
             ("acc", "t", "ip", "tmpl", "tok")}
        m = len(E["acc"])
        acc = E["acc"]
        t = E["t"]

        def fill(key, fn):
            parts = []
            for b in self.ev_blocks:
                parts.append(b[key] if b[key] is not None else fn(b))
            return np.concatenate(parts)

        ua = fill("ua", lambda b: np.where(rng.random(len(b["acc"])) < 0.88, A["ua1"][b["acc"]],
                                           A["ua2"][b["acc"]]))
        dev = fill("device", lambda b: np.where(rng.random(len(b["acc"])) < A["dev_p"][b["acc"]],
                                                A["device"][b["acc"]], -1))

        def models(b):
            a = b["acc"]
            k = len(a)
            base = np.where(rng.random(k) < 0.8, A["mpref"][a], rng.integers(0, 3, k))
            dt = b["t"] - RELEASE - A["adelay"][a]
            p = np.where(dt > 0, A["adopt"][a] * (1 - np.exp(-np.maximum(dt, 0) / A["atau"][a])),
                         0)
            return np.where(rng.random(k) < p, NEW_MODEL, base)

        model = fill("model", models)
        prof = np.array([TOKENS[k] for k in TOK_NAMES])
        pr = prof[E["tok"]]
        # per-account habits (long documents, long answers) on top of the traffic profile
        s_in, s_out = rng.lognormal(0, 0.5, n)[acc], rng.lognormal(0, 0.6, n)[acc]
        tin = np.clip(np.round(rng.lognormal(np.log(pr[:, 0]), pr[:, 1]) * s_in), 1, 200_000)
        tout = np.clip(np.round(rng.lognormal(np.log(pr[:, 2]), pr[:, 3]) * s_out), 1, 16_000)
        order = np.argsort(t, kind="stable")
        ip_str = np.concatenate(self.ip_str)
        ip_prov = np.concatenate(self.ip_prov)

        def col(table, idx):
            idx = np.asarray(idx)[order]
            arr = pa.array(idx, type=pa.int64(), mask=idx < 0)
            return pc.take(pa.array(table, type=pa.string()), arr)

        ts_us = WINDOW_START.astype(np.int64) + np.round(t * 1e6).astype(np.int64)
        events = pa.table({
            "account_id": col(acc_ids, acc),
            "ts": pa.array(ts_us[order], type=pa.timestamp("us", tz="UTC")),
            "ip": col(ip_str, E["ip"]),
            "payment_id": col(card_str, A["card"][acc]),
            "proxy_provider": col(np.array(PROVIDERS, dtype=object), ip_prov[E["ip"]]),
            "template_hash": col(tmpl_str, E["tmpl"]),
            "user_agent": col(np.array(list(UA.values()), dtype=object), ua),
            "model": col(np.array(MODELS, dtype=object), model),
            "tokens_in": pa.array(tin[order].astype(np.int64)),
            "tokens_out": pa.array(tout[order].astype(np.int64)),
            "device_id": col(dev_str, dev),
        })
        pq.write_table(events, out / "events.parquet", compression="zstd",
                       row_group_size=1_000_000)

        def iso(sec):
            s = np.where(np.isnan(sec), 0, sec)
            d = WINDOW_START + np.round(s * 1e6).astype(np.int64).astype("timedelta64[us]")
            txt = np.char.add(np.datetime_as_string(d, unit="s"), "Z").astype(object)
            txt[np.isnan(sec)] = ""
            return txt

        banned = A["banned"]
        accounts = pd.DataFrame({
            "account_id": acc_ids,
            "created_at": iso(A["created"]),
            "payment_id": np.where(A["card"] >= 0, card_str[np.maximum(A["card"], 0)], ""),
            "email_domain": dom_str[A["dom"]],
            "status": np.where(np.isnan(banned), "active", "banned"),
            "banned_at": iso(banned),
            "phone": np.where(A["phone"] >= 0, phone_str[np.maximum(A["phone"], 0)], ""),
        })
        perm = rng.permutation(n)
        accounts.iloc[perm].to_csv(out / "accounts.csv", index=False)
        truth = pd.DataFrame({"account_id": acc_ids, "campaign": camp, "actor": actor,
                              "kind": kind})
        truth.iloc[perm].to_csv(out / "truth.csv", index=False)

        n_ev = np.bincount(acc, minlength=n)
        self.meta.update(
            accounts=n, events=m, events_per_account=round(m / n, 2),
            ips=len(np.unique(ip_str[np.unique(E["ip"])])),
            cards=int(self.n_card), devices=int(self.n_dev), templates=int(self.n_tmpl),
            zero_event_accounts=int((n_ev == 0).sum()),
            events_per_account_quantiles={q: int(np.quantile(n_ev, q))
                                          for q in (0.5, 0.9, 0.99, 1.0)},
            banned=int(np.isfinite(banned).sum()),
            release="atlas-4@2026-03-16T17:00Z",
            events_by_kind={k: int(n_ev[kind == k].sum()) for k in np.unique(kind)},
            events_by_campaign={c: int(n_ev[camp == c].sum()) for c in np.unique(camp) if c},
        )
        (out / "meta.json").write_text(json.dumps(self.meta, indent=1, default=float))

    def _phone_strings(self) -> np.ndarray:
        rng = self.rng
        reg = np.concatenate(self.phone_region) if self.phone_region else np.zeros(0, int)
        k = len(reg)
        npa = rng.integers(2, 10, k) * 100 + rng.integers(0, 10, k) * 10 + rng.integers(0, 10, k)
        npa = np.where(npa % 100 == 11, npa + 1, npa)
        nxx = rng.integers(200, 1000, k)
        line = rng.integers(0, 10_000, k)
        us = np.char.add(np.char.add(np.char.add("+1", npa.astype(str)), nxx.astype(str)),
                         np.char.zfill(line.astype(str), 4))
        uk = np.char.add("+447", np.char.zfill(rng.integers(400_000_000, 999_999_999, k)
                                               .astype(str), 9))
        de = np.char.add("+4915", np.char.zfill(rng.integers(100_000_000, 999_999_999, k)
                                                .astype(str), 9))
        india = np.char.add("+91", rng.integers(6_000_000_000, 9_999_999_999, k).astype(str))
        return np.choose(reg, [us, uk, de, india]).astype(object)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--accounts", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    t0 = time.time()
    gen = Gen(a.accounts, a.seed)
    gen.build()
    gen.write(a.outdir)
    m = gen.meta
    print(f"{m['accounts']} accounts, {m['events']} events "
          f"({m['events_per_account']}/account) -> {a.outdir} in {time.time() - t0:.1f}s")
    print(json.dumps(m["populations"]))


if __name__ == "__main__":
    main()
