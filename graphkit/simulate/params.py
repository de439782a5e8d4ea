"""Simulator parameters: the time window, model release, user agents, address providers,
email domains and local-hour activity profiles.

These shape the synthetic log only; they are not detection settings (see graphkit.settings).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEC = 1_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
WINDOW_START = np.datetime64("2026-09-01T00:00:00", "ms")
WINDOW = 30 * DAY
RELEASE = 19 * DAY + 17 * HOUR  # frontier-2 goes live 2026-09-20 17:00 UTC
RELEASE_TIME = WINDOW_START + np.timedelta64(RELEASE, "ms")
NEW_MODEL = "frontier-2"
_T0_MS = int(WINDOW_START.astype(np.int64))
_DOW0 = int((WINDOW_START.astype("datetime64[D]").astype(np.int64) + 3) % 7)  # Monday = 0
_NO_BAN = np.iinfo(np.int64).max
_CHUNK = 1 << 20  # rows per parquet row group

MODELS = ["frontier-1", "frontier-1-mini", "reasoner-1", NEW_MODEL]
USER_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "AssistantApp/5.12.1 (iPhone; iOS 18.0; Scale/3.00)",
    "AssistantApp/5.12.0 (Android 14; Pixel 8)",
    "api-client-python/1.42.0",
    "api-client-python/1.38.2",
    "api-client-node/4.61.0",
    "python-requests/2.32.3",
    "python-httpx/0.27.2",
    "curl/8.5.0",
    "codeagent-cli/1.4.2",
    "langchain-py/0.3.1",
    "Go-http-client/2.0",
    "okhttp/4.12.0",
]
_BROWSER, _MOBILE = [0, 1, 2, 3], [4, 5]
_SDK = [6, 7, 8, 9, 10, 11, 13, 14, 15]
_HTTPX, _CODEAGENT = 10, 12

# Operators of non-residential address space (the proxy_provider column).
PROVIDERS = [
    "Nimbus Cloud", "Stratus Compute", "Kestrel Hosting", "Bluefin Cloud",  # hosting 0-3
    "Vantage VPN", "Harbor VPN", "SkyShield VPN", "OpenPath VPN",  # commercial VPN 4-7
    "ResiPool Proxy",  # residential proxy network 8
    "RelayHub",  # the hydra reseller 9
]
_HOSTING, _VPN, _RESI, _RELAY = [0, 1, 2, 3], [4, 5, 6, 7], 8, 9
_CONSUMER_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com",
                     "proton.me", "qq.com", "163.com", "gmx.de", "yandex.ru", "mail.ru",
                     "naver.com"]
_CONSUMER_P = np.array([40, 14, 8, 8, 6, 4, 5, 4, 3, 3, 2, 3], float)

# Local-hour activity profiles (index = local hour).
_CONSUMER_HOURS = np.array([2, 1, .6, .4, .3, .4, .8, 1.5, 2.2, 2.6, 2.8, 3, 3.2, 3, 2.9, 3,
                            3.2, 3.6, 4, 4.6, 5, 4.8, 4, 3])
_BUSINESS_HOURS = np.array([.1, .1, .1, .1, .1, .2, .4, 1.5, 4, 6, 6, 5.5, 4, 5.5, 6, 6, 5.5,
                            4, 2, .8, .5, .3, .2, .1])
_FLAT_HOURS = np.array([3, 3, 3, 3, 3, 3, 3, 3.5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                        3.5, 3])
_TZ = np.array([-8, -7, -6, -5, -3, 0, 1, 2, 3, 5.5, 7, 8, 9, 10])
_TZ_P = np.array([10, 4, 7, 14, 4, 8, 12, 5, 3, 8, 3, 9, 6, 2], float)


@dataclass(frozen=True)
class Preset:
    """A named simulator size on every axis, not only events (``graphkit simulate --preset``).

    Attributes
    ----------
    name : str
        The preset's name.
    events : float
        Events scale: 1.0 is about 30M events (the ``scale`` argument of ``simulate``).
    accounts : float
        Accounts scale of the legitimate populations and the shared address pools: 1.0 is about
        100,000 legitimate accounts.
    hydra_slots : int
        Concurrently live accounts of the proxy reseller's hydra network.
    hydra_life_days : float
        Mean lifetime of a hydra account before its ban and replacement (plus 6 hours).
    description : str
        One line for the documentation and the command's help.
    """

    name: str
    events: float
    accounts: float
    hydra_slots: int
    hydra_life_days: float
    description: str


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("month", 0.32, 1.7, 2_550, 3.0,
           "a month of a mid-size API: ~200,000 accounts, ~9.4M events, a hydra network of "
           "~28,000 short-lived accounts"),
    Preset("seed", 1.0, 9.65, 20_000, 150.0,
           "the public cases' scale: ~1M accounts, ~30M events, a hydra network of 20,000 "
           "concurrently live accounts plus their replacements (~24,000)"),
)}
HYDRA_LIFE_DAYS = 3.0  # the default (scale-only) hydra's mean account lifetime
