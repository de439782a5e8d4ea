"""The purpose test: a coordinated community is flagged only when its members also do what
extraction takes, more than the dataset's accounts do.

The FDR cut (:mod:`graphkit.detection.cut`) finds communities whose members are *run
together*: they share cards and templates, were created in bursts, act in lock-step.
Legitimate groups are run together too: an agency runs its clients' accounts on one card with
its own templates and onboards them in batches; a hackathon's accounts are created the same
morning on the organiser's starter template; a family shares a device and a card. What they
do not do is what distillation needs: many requests and tokens per account, traffic from
hosting or proxy egress, a round-the-clock schedule, a jump to a just-released model, or
getting banned. Each of these is a *purpose mark* of a member:

``heavy``
    more requests than ``purpose_quantile`` of the dataset's active accounts, or than
    ``purpose_median_factor`` times their median if that is lower;
``heavy_tokens``
    the same for tokens (in + out);
``egress``
    at least ``purpose_egress_share`` of its requests through proxy, VPN or hosting operators;
``round_the_clock``
    enough requests to show a day (:func:`graphkit.detection.indicators.hours_judged`) and an
    hour-of-day entropy above ``human_hour_entropy``;
``model_jump``
    its move to a released model (:func:`graphkit.detection.indicators.jump_members`);
``banned``
    its status is ``banned``.

Each mark is counted per community and tested against its rate over all accounts (binomial
mid-p, :func:`graphkit.detection.cut.surprise`); the marks are one family, so the community's
purpose p-value is their smallest p-value, Sidak-corrected for the number of informative
marks. No single mark is needed: any one above the background suffices. A mark whose
background rate is 0 or 1 (no bans, no tokens, no request log) carries no evidence and is left
out; when no mark read from requests is informative (an identifiers-only dataset, whatever
its bans) the test passes every community, and the FDR cut decides alone: its fraud need not
be extraction. So does a community none of whose members has sent a request (a sleeper
fleet, created and paid for but not yet used). A community holding seeds passes: an investigator
says its actor is there.

>>> import pandas as pd
>>> from graphkit.detection.indicators import Groups
>>> acc = pd.DataFrame({"n_events": [900, 800, 700, 5, 6, 7, 5, 4, 6, 8],
...                     "proxy_events": [0] * 10, "tokens": [0] * 10,
...                     "hour_entropy": [0.5] * 10, "release_shift": [0.0] * 10,
...                     "release_background": [0.0] * 10, "release_window_events": [0] * 10,
...                     "status": ["active"] * 10})
>>> groups = Groups(np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2]), 3)
>>> s = Settings(purpose_quantile=0.6)
>>> p = purpose_pvalues(acc, groups, np.ones(3, bool), np.zeros(3), s)
>>> (p < s.purpose_alpha).tolist()
[True, False, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphkit.detection import cut as cut_mod
from graphkit.detection import indicators as ind_mod
from graphkit.detection.indicators import Groups
from graphkit.settings import Settings

PURPOSE_MARKS: tuple[str, ...] = ("heavy", "heavy_tokens", "egress", "round_the_clock",
                                  "model_jump", "banned")
# Marks that are not read from the request log: alone, they leave the test open.
TRAFFIC_FREE: tuple[str, ...] = ("banned",)


def _heavy(values: np.ndarray, active: np.ndarray, q: float, factor: float) -> np.ndarray:
    """Per account: ``values`` strictly above the ``q`` quantile of the active accounts' or
    above ``factor`` times their median, whichever is lower: a fleet of more than a tenth of
    the active accounts moves the quantile into itself (300 scripted accounts at 500 requests
    among 700 users at 1-60 put it at 500), but not the median while it is less than half.

    >>> v = np.r_[np.full(300, 500.0), np.linspace(1, 60, 700)]
    >>> int(_heavy(v, v > 0, 0.9, 10.0).sum())
    300
    """
    if not active.any():
        return np.zeros(len(values), bool)
    ref = min(float(np.quantile(values[active], q)),
              factor * float(np.median(values[active])))
    return values > ref


def purpose_marks(acc: pd.DataFrame, settings: Settings
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per purpose mark (module docstring), the accounts showing it and those that could.

    ``acc`` is the per-account table of :func:`graphkit.detection.features.account_features`.
    """
    n_events = acc["n_events"].to_numpy(dtype=float)
    active = n_events > 0
    proxy = acc["proxy_events"].to_numpy(dtype=float)
    share = np.divide(proxy, n_events, out=np.zeros(len(n_events)), where=active)
    judged = ind_mod.hours_judged(n_events, settings)
    entropy = acc["hour_entropy"].to_numpy(dtype=float)
    jump, window = ind_mod.jump_members(acc["release_shift"].to_numpy(dtype=float),
                                        acc["release_background"].to_numpy(dtype=float),
                                        acc["release_window_events"].to_numpy(dtype=float),
                                        settings)
    q, factor = settings.purpose_quantile, settings.purpose_median_factor
    return {
        "heavy": (_heavy(n_events, active, q, factor), active),
        "heavy_tokens": (_heavy(acc["tokens"].to_numpy(dtype=float), active, q, factor),
                         active),
        "egress": (active & (share >= settings.purpose_egress_share), active),
        "round_the_clock": (judged & (entropy > settings.human_hour_entropy), judged),
        "model_jump": (jump, window),
        "banned": (ind_mod.banned_members(acc["status"]), np.ones(len(acc), bool)),
    }


def purpose_pvalues(acc: pd.DataFrame, groups: Groups, tested: np.ndarray,
                    n_seeds: np.ndarray, settings: Settings) -> np.ndarray:
    """Each community's purpose p-value (module docstring): the smallest mid-p of its purpose
    marks against the dataset's rates, Sidak-corrected; 0 for a community holding seeds and
    for every tested community when no mark read from requests is informative; 1 for the
    untested.

    Parameters
    ----------
    acc : pandas.DataFrame
        One row per account code: n_events, proxy_events, tokens, hour_entropy,
        release_shift, release_background, release_window_events, status.
    groups : Groups
        The partition.
    tested : numpy.ndarray of bool
        The communities under test (``min_community_size`` or more).
    n_seeds : numpy.ndarray
        Per community, its seeds.
    settings : Settings
        ``purpose_quantile``, ``purpose_egress_share``, ``human_hour_entropy`` and the model
        jump's knobs.

    Returns
    -------
    numpy.ndarray
        Per community, its purpose p-value.
    """
    marks = purpose_marks(acc, settings)
    counts = {name: cut_mod.Counts(groups.sum((shows & known).astype(float)),
                                   groups.sum(known.astype(float)))
              for name, (shows, known) in marks.items()}
    found = cut_mod.surprise(counts, tested, drop_strongest=0, families=(PURPOSE_MARKS,))
    if not set(found.informative) - set(TRAFFIC_FREE):
        return np.where(tested, 0.0, 1.0)
    # A community none of whose members has sent a request yet (a sleeper fleet) cannot be
    # judged on what it does: the test is open for it, as for a dataset without requests.
    silent = groups.sum(marks["heavy"][1].astype(float)) == 0
    return np.where((n_seeds > 0) | (silent & tested), 0.0, found.p_value)
