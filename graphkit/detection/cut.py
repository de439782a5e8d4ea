"""The flag cut from the data: a p-value per community and a false-discovery-rate rule.

Each coordination indicator of :mod:`graphkit.detection.indicators` is also a *count*: how many
of a community's members show it (``k``) out of how many could (``n``): members banned, new at
their first request, created in a burst, in lock-step with another member, on a template
concentrated in the community, on a just-released model; payers whose card an earlier member
of the community already pays with. Members that share a declared ``org_id`` with another
member (in a community without seeds) are left out of the counts: their organisation explains
what they share. A shared e-mail domain that is not a free-mail one, held mostly inside the
community (:func:`domain_organisations`), explains the same way what an organisation's staff
share and how they are onboarded (``Settings.org_domain_indicators``: the card, the templates,
creation bursts, new accounts), but not what members do (bans, lock-step, the model jump).
The members of a community whose traffic keeps a human day
(:func:`graphkit.detection.indicators.human_hours_communities`) are left out of the counts of
the shared resources (``Settings.resource_indicators``: the card, the templates), the same
way: sharing them during working hours is what colleagues do. The indicator's **background rate** ``p0`` is the same count over every
account of the dataset: its own rate, not a constant. Under the null that a community's members
are no more marked than the dataset's accounts at large, ``k ~ Binomial(n, p0)``; the
indicator's p-value is the *mid-p* upper tail ``P(X > k) + P(X = k) / 2`` (the plain tail of a
discrete count is conservative, most of all for the few trials of a small community).

An indicator informs the test only where its background rate is strictly between 0 and 1 (a
dataset with no bans, or no creation times, carries no evidence in them; counting them anyway
would dilute the others) and the community has trials for it. The community's p-value is
Fisher's combination (``-2 sum log p ~ chi2(2 m)``) over its informative indicators but the
strongest ``drop_strongest`` (``Settings.fdr_drop_strongest``, 1): one marked indicator alone,
such as a reseller's customers all on its app's template, does not make a community; it takes
several. Fisher's combination assumes independent tests, and the shared resources are not:
a company's staff and its hosted apps share its card *and* its templates. The resource
indicators therefore enter as one test (``Settings.fdr_resource_family``: their smallest
p-value, Sidak-corrected), so a group marked only by what it shares is one marked indicator.
The resource indicators are tested with a beta-binomial (``Settings.resource_correlation``,
:func:`mid_p_correlated`): a community found through shared entities shares them through one
another, not member by member, so its count varies more than the binomial's. A group of
hundreds marked a little above the background on what each customer shares among its own keys
is then not significant; a fleet sharing almost all alike still is. The flag is the
Benjamini-Hochberg rule at ``Settings.flag_fdr`` over the communities
of ``min_community_size`` or more: the flagged communities are the largest set whose expected
share of false discoveries is at most ``q``. Profile indicators (volume, hosting, automation,
seeds) do not say the members are run together and take no part.

>>> counts = {"banned": Counts(np.array([5, 0, 1, 0]), np.array([5, 4, 10, 20])),
...           "new_accounts": Counts(np.array([4, 1, 0, 2]), np.array([5, 4, 10, 20]))}
>>> t = surprise(counts, np.array([True, True, True, False]), drop_strongest=0)
>>> t.p_value.round(4).tolist(), t.informative
([0.0, 0.6091, 0.9047, 1.0], ['banned', 'new_accounts'])
>>> surprise(counts, np.ones(4, bool)).p_value.round(4).tolist()  # the strongest left out
[0.0023, 0.7437, 0.9308, 0.9823]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from graphkit.detection import indicators as ind_mod
from graphkit.detection.indicators import Groups
from graphkit.detection.links import Links, SignalMatrix
from graphkit.io.derived import freemail_domains
from graphkit.settings import Settings


@dataclass(frozen=True)
class Counts:
    """Per community: members showing an indicator (``k``) out of those that could (``n``),
    and, where chance alone marks a share of members that depends on the community (its size),
    that share (``chance``; the null rate is then the larger of it and the background)."""

    k: np.ndarray
    n: np.ndarray
    chance: np.ndarray | None = None


@dataclass
class Surprise:
    """Per-community p-values of :func:`surprise` and the background behind them."""

    p_value: np.ndarray  # combined (Fisher) p-value, 1 where nothing was tested
    per_indicator: dict[str, np.ndarray]  # mid-p value per informative indicator
    # the same against the binomial for every indicator (resource counts not taken as
    # correlated): where the community's members differ from the dataset's accounts at all
    against_background: dict[str, np.ndarray]
    background: dict[str, float]  # background rate per indicator (NaN: no trials)
    informative: list[str]  # indicators with a background rate strictly inside (0, 1)


def mid_p(k: np.ndarray, n: np.ndarray, p0: float) -> np.ndarray:
    """Mid-p upper tail of ``Binomial(n, p0)`` at ``k``: ``P(X > k) + P(X = k) / 2``.

    >>> mid_p(np.array([0, 3]), np.array([3, 3]), 0.5).tolist()
    [0.9375, 0.0625]
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    return stats.binom.sf(k, n, p0) + 0.5 * stats.binom.pmf(k, n, p0)


def mid_p_correlated(k: np.ndarray, n: np.ndarray, p0: np.ndarray, rho: float) -> np.ndarray:
    """Mid-p upper tail at ``k`` of the beta-binomial with mean ``p0`` and intra-community
    correlation ``rho``: ``n`` members that share through one another, not one by one.

    Its variance is the binomial's times ``1 + (n - 1) rho`` (Kish's design effect): a
    community of 244 judged members at ``rho = 0.05`` carries the information of about 19
    independent ones, one of 13 that of 8. ``rho = 0`` is :func:`mid_p`.

    >>> mid_p_correlated(np.array([55]), np.array([244]), np.array([0.0337]), 0.0).item() < 1e-25
    True
    >>> p = mid_p_correlated(np.array([55]), np.array([244]), np.array([0.0337]), 0.05)
    >>> round(p.item(), 4)
    0.0044
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    p0 = np.broadcast_to(np.asarray(p0, dtype=float), k.shape)
    if rho <= 0:
        return mid_p(k, n, p0)
    scale = 1.0 / rho - 1.0
    a, b = np.maximum(p0 * scale, 1e-12), np.maximum((1.0 - p0) * scale, 1e-12)
    return betabinom_mid_tail(k, n, a, b)


def betabinom_mid_tail(k: np.ndarray, n: np.ndarray, a: np.ndarray, b: np.ndarray
                       ) -> np.ndarray:
    """``P(X > k) + P(X = k) / 2`` for ``X ~ BetaBinomial(n, a, b)``, every element at once:
    the point masses from ``k`` to ``n`` of all elements in one flat array (as many values
    as trials, at most), summed per element (scipy's ``betabinom.sf`` integrates one element
    at a time in Python).

    >>> k, n = np.array([0.0, 3.0, 9.0]), np.array([4.0, 10.0, 9.0])
    >>> a, b = np.array([0.5, 2.0, 1.0]), np.array([0.5, 5.0, 3.0])
    >>> want = stats.betabinom.sf(k, n, a, b) + 0.5 * stats.betabinom.pmf(k, n, a, b)
    >>> bool(np.allclose(betabinom_mid_tail(k, n, a, b), want))
    True
    """
    k = np.floor(np.asarray(k, dtype=float)).astype(np.int64)
    n = np.asarray(n, dtype=float).astype(np.int64)
    a = np.broadcast_to(np.asarray(a, dtype=float), k.shape)
    b = np.broadcast_to(np.asarray(b, dtype=float), k.shape)
    terms = np.maximum(n - k + 1, 0)
    owner = np.repeat(np.arange(len(k)), terms)
    j = np.arange(len(owner)) - np.repeat(np.cumsum(terms) - terms, terms) + k[owner]
    nn, aa, bb = n[owner], a[owner], b[owner]
    log_pmf = (special.gammaln(nn + 1) - special.gammaln(j + 1) - special.gammaln(nn - j + 1)
               + special.betaln(j + aa, nn - j + bb) - special.betaln(aa, bb))
    mass = np.exp(log_pmf)
    mass[j == k[owner]] *= 0.5
    return np.minimum(np.bincount(owner, weights=mass, minlength=len(k)), 1.0)


def surprise(counts: dict[str, Counts], tested: np.ndarray, drop_strongest: int = 1,
             families: tuple[tuple[str, ...], ...] = (), correlation: float = 0.0,
             correlated: tuple[str, ...] = ()) -> Surprise:
    """Each community's p-value against the dataset's background rates (module docstring).

    Parameters
    ----------
    counts : dict of str to Counts
        Per indicator, the counts of every community.
    tested : numpy.ndarray of bool
        Communities under test (large enough); the background rates are taken over them, and
        the others get p-value 1.
    drop_strongest : int
        Indicators left out of each community's combination, strongest first.
    families : tuple of tuple of str
        Groups of indicators that are each one piece of evidence, not several: those read
        from one field (:data:`SAME_SOURCE`: a cohort created together and used at once is
        both in a burst and new, by one fact), and with ``Settings.fdr_resource_family`` the
        resource indicators (a group that shares a card shares its organisation's templates
        too). Fisher's combination assumes independent tests; a family enters it once, as
        its smallest p-value corrected for the family's size (Sidak: ``1 - (1 - min p)^m``).

    Returns
    -------
    Surprise
    """
    n_comm = len(tested)
    per: dict[str, np.ndarray] = {}
    plain: dict[str, np.ndarray] = {}
    background: dict[str, float] = {}
    informative: list[str] = []
    for name, c in counts.items():
        k = np.minimum(np.asarray(c.k, dtype=float), c.n)
        n = np.asarray(c.n, dtype=float)
        trials = float(n.sum())
        p0 = float(k.sum()) / trials if trials > 0 else float("nan")
        background[name] = p0
        if not 0.0 < p0 < 1.0:
            continue
        informative.append(name)
        use = tested & (n > 0)
        p = np.ones(n_comm)
        null = np.full(n_comm, p0) if c.chance is None else np.maximum(p0, c.chance)
        null = np.minimum(null, 1.0)
        p[use] = np.clip(mid_p(k[use], n[use], null[use]), 1e-300, 1.0)
        p[~use] = np.nan
        plain[name] = p
        if name in correlated and correlation > 0:
            p = p.copy()
            p[use] = np.clip(mid_p_correlated(k[use], n[use], null[use], correlation),
                             1e-300, 1.0)
        per[name] = p
    p_value = np.ones(n_comm)
    combined = per
    for family in families:
        combined = _merge_family(combined, family)
    if combined:
        logs = np.sort(np.log(np.column_stack(list(combined.values()))), axis=1)  # NaN last
        logs = logs[:, drop_strongest:]
        dof = 2.0 * np.isfinite(logs).sum(axis=1)
        stat = -2.0 * np.nansum(logs, axis=1)
        has = dof > 0
        p_value[has] = stats.chi2.sf(stat[has], dof[has])
    return Surprise(p_value, per, plain, background, informative)


def _merge_family(per: dict[str, np.ndarray], family: tuple[str, ...]
                  ) -> dict[str, np.ndarray]:
    """``per`` with the indicators of ``family`` replaced by one Sidak-corrected minimum.

    >>> m = _merge_family({"a": np.array([0.01, np.nan]), "b": np.array([0.5, np.nan]),
    ...                    "c": np.array([0.2, 0.3])}, ("a", "b"))
    >>> sorted(m), m["a+b"].round(4).tolist()
    (['a+b', 'c'], [0.0199, nan])
    """
    # A key merged by an earlier family ("a+b") stands for each of its parts.
    names = [k for k in per if set(k.split("+")) & set(family)]
    if len(names) < 2:
        return per
    stack = np.column_stack([per[f] for f in names])
    m = np.isfinite(stack).sum(axis=1)
    low = np.min(np.where(np.isfinite(stack), stack, np.inf), axis=1)
    merged = np.full(len(low), np.nan)
    has = m > 0
    merged[has] = np.clip(-np.expm1(m[has] * np.log1p(-np.minimum(low[has], 1.0 - 1e-16))),
                          1e-300, 1.0)
    out = {k: v for k, v in per.items() if k not in names}
    out["+".join(names)] = merged
    return out


def bh_qvalues(p: np.ndarray, tested: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) over the tested communities; 1 for the
    others. Flagging ``q <= alpha`` controls the false discovery rate at ``alpha``.

    >>> bh_qvalues(np.array([0.01, 0.04, 0.03, 0.5]), np.ones(4, bool)).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    q = np.ones(len(p))
    idx = np.flatnonzero(tested)
    m = len(idx)
    if m == 0:
        return q
    order = idx[np.argsort(p[idx], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


def redundant_payers(sig: SignalMatrix | None, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """Per account: it pays with a card that a member of its community with a smaller code
    also uses (the payers beyond the first of each shared card), and it pays at all."""
    n = len(groups.membership)
    if sig is None or sig.shares.nnz == 0:
        return np.zeros(n, bool), np.zeros(n, bool)
    coo, _, pair, _ = ind_mod.community_uses(sig, groups)
    order = np.lexsort((coo.row, pair))
    first = np.ones(len(order), bool)
    first[1:] = pair[order][1:] != pair[order][:-1]
    shows = np.zeros(n, bool)
    shows[coo.row[order][~first]] = True
    return shows, np.diff(sig.shares.indptr) > 0


def card_sharers(sig: SignalMatrix | None, groups: Groups) -> np.ndarray:
    """Per account: it pays with a card that another member of its community pays with."""
    n = len(groups.membership)
    if sig is None or sig.shares.nnz == 0:
        return np.zeros(n, bool)
    coo, _, pair, users = ind_mod.community_uses(sig, groups)
    out = np.zeros(n, bool)
    out[coo.row[users[pair] >= 2]] = True
    return out


def explained_members(org_id: pd.Series, seed_actor: pd.Series, groups: Groups) -> np.ndarray:
    """Per account: it declares an ``org_id`` that another member of its community declares
    too, in a community without seeds. A declared organisation explains what its members
    share (an office's card, NAT and internal templates); seeds say otherwise."""
    org = org_id.astype("string")
    has = org.notna().to_numpy()
    out = np.zeros(len(groups.membership), bool)
    if not has.any():
        return out
    codes = pd.factorize(org[has])[0]
    key = groups.membership[has].astype(np.int64) * (codes.max() + 1) + codes
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    out[np.flatnonzero(has)] = counts[inverse] >= 2
    return out & ~seeded_members(seed_actor, groups)


def seeded_members(seed_actor: pd.Series, groups: Groups) -> np.ndarray:
    """Per account: its community holds an account investigators attributed (no benign
    explanation, an organisation's or a working day's, then stands for its members)."""
    seeded = groups.sum(seed_actor.astype("string").notna().to_numpy().astype(float)) > 0
    return seeded[groups.membership]


def domain_organisations(email_domain: pd.Series, groups: Groups,
                         concentration: float) -> pd.Series:
    """Per account, its e-mail domain as its organisation (NA when none): a domain that is
    not a free-mail one and of which at least ``concentration`` of the accounts holding it
    are in the account's community. A company's staff hold their company's domain in one
    community; a popular provider missing from the free-mail list is spread over the whole
    population, so holding it is no organisation.

    >>> g = Groups(np.array([0, 0, 0, 1]), 2)
    >>> domain_organisations(pd.Series(["acme.io", "acme.io", "gmail.com", "acme.io"]),
    ...                      g, 0.5).tolist()
    ['acme.io', 'acme.io', <NA>, <NA>]
    """
    dom = email_domain.astype("string").str.strip().str.lower()
    dom = dom.mask(dom.isin(freemail_domains()) | (dom == ""))
    has = dom.notna().to_numpy()
    out = pd.Series(pd.NA, index=email_domain.index, dtype="string")
    if not has.any():
        return out
    codes = pd.factorize(dom[has])[0]
    comm = groups.membership[has].astype(np.int64)
    key = comm * (codes.max() + 1) + codes
    _, inverse, in_comm = np.unique(key, return_inverse=True, return_counts=True)
    held = np.bincount(codes)[codes]
    keep = in_comm[inverse] >= concentration * held
    out.iloc[np.flatnonzero(has)[keep]] = dom[has].to_numpy()[keep]
    return out


def domain_explained_members(acc: pd.DataFrame, groups: Groups, settings: Settings
                             ) -> np.ndarray:
    """Per account: it shares its e-mail domain organisation (:func:`domain_organisations`)
    with another member, in a community without seeds (all False without ``email_domain`` or
    with ``Settings.org_domain_indicators`` empty)."""
    if not settings.org_domain_indicators or "email_domain" not in acc:
        return np.zeros(len(groups.membership), bool)
    orgs = domain_organisations(acc["email_domain"], groups, settings.org_domain_concentration)
    return explained_members(orgs, acc["seed_actor"], groups)


def working_day_members(acc: pd.DataFrame, groups: Groups, settings: Settings) -> np.ndarray:
    """Per account: its community keeps a human day
    (:func:`graphkit.detection.indicators.human_hours_communities`, on the pooled day when
    ``Settings.pooled_day`` and ``acc`` has ``hour_cos`` and ``hour_sin``) and, with
    ``Settings.seeds_override_day``, holds no seed."""
    vector = (acc[["hour_cos", "hour_sin"]].to_numpy(dtype=float)
              if settings.pooled_day and "hour_cos" in acc else None)
    human = ind_mod.human_hours_communities(
        acc["hour_entropy"].to_numpy(dtype=float), acc["n_events"].to_numpy(dtype=float),
        groups, settings, vector)
    out = human[groups.membership]
    return out & ~seeded_members(acc["seed_actor"], groups) if settings.seeds_override_day \
        else out


@dataclass(frozen=True)
class Marks:
    """Per account and coordination indicator: the account shows it (``shows``) and could
    (``known``: it has the data, and no declared organisation explains it), with the
    community-dependent chance of :class:`Counts` where there is one."""

    shows: dict[str, np.ndarray]
    known: dict[str, np.ndarray]
    chance: dict[str, np.ndarray]
    card_sharers: np.ndarray  # pays with a card another member pays with (the account's mark)


# Coordination indicators read from one source, which count once in the cut and in a member's
# evidence: the creation time (a burst and new accounts), and the software the members run (an
# app's users send its templates from its client: the templates and the client are one fact).
SAME_SOURCE: tuple[tuple[str, ...], ...] = (("creation_burst", "new_accounts"),
                                            ("exclusive_templates", "exclusive_client"))


def _shown(marks: Marks, name: str) -> np.ndarray:
    """The accounts showing indicator ``name`` as a member's mark (for the card: paying with
    a card another member pays with)."""
    return marks.card_sharers if name == "shared_payment" else marks.shows[name]


def core_members(marks: Marks, per_indicator: dict[str, np.ndarray], groups: Groups,
                 alpha: float) -> np.ndarray:
    """Per account: it shows a mark its community stands out on (mid-p value at most
    ``alpha``) other than the community's strongest; in a community where no member does,
    every member.

    The strongest indicator is often what made the community: the templates a fleet shares
    with the users of the coding tool it runs, which bring those users into its community.
    Every member shows it, so it cannot say which members the community's other marks
    belong to; the members showing one of those are the core whose rates
    :func:`member_evidence` weighs a member against.

    >>> m = Marks({"exclusive_templates": np.ones(5, bool),
    ...            "creation_burst": np.array([True, True, False, False, False])},
    ...           {"exclusive_templates": np.ones(5, bool), "creation_burst": np.ones(5, bool)},
    ...           {}, np.zeros(5, bool))
    >>> per = {"exclusive_templates": np.array([1e-9]), "creation_burst": np.array([1e-3])}
    >>> core_members(m, per, Groups(np.zeros(5, int), 1), 0.05).tolist()
    [True, True, False, False, False]
    """
    names = [n for n in per_indicator if n in marks.known]
    comm = groups.membership
    if not names:
        return np.ones(len(comm), bool)
    p = np.column_stack([np.nan_to_num(per_indicator[n], nan=1.0) for n in names])
    strongest = np.argmin(p, axis=1)
    core = np.zeros(len(comm), bool)
    for j, name in enumerate(names):  # a handful of indicators
        counts = (p[:, j] <= alpha) & (strongest != j)
        core |= _shown(marks, name) & marks.known[name] & counts[comm]
    has_core = groups.sum(core.astype(float)) > 0
    return core | ~has_core[comm]


def member_evidence(marks: Marks, per_indicator: dict[str, np.ndarray], groups: Groups,
                    community: np.ndarray, alpha: float, core: np.ndarray | None = None
                    ) -> np.ndarray:
    """Per account: the log-likelihood ratio of its marks under ``community[i]``'s rates
    against the dataset's, over the indicators that community stands out on (mid-p value of
    :func:`surprise` at most ``alpha``); positive when the account looks like the community's
    marked members rather than like any account.

    Per indicator shown, ``log(r / p0)``; not shown, ``log((1 - r) / (1 - p0))``; ``r`` the
    rate among the community's *core* members that could show it (``(k + 1/2) / (n + 1)``,
    :func:`core_members`), ``p0`` the rate over every account that could. The core is what
    the community's rates describe: 160 accounts of a fleet created in bursts and jumping to a
    new model, among 600 developers who share only its coding tool's templates (the
    community's strongest indicator), have a burst rate of a fifth over all members and of one
    over the core; against the core's, a developer who was never in a burst is no member.
    ``core`` (per account) replaces :func:`core_members`' (all True: every member's rates).
    Indicators read from one field (:data:`SAME_SOURCE`: a burst and a new account both come
    from the creation time) count once, as the mean of their terms. A proxy reseller's
    customer inside a hydra cluster is new and created among the cluster's replacements, but
    pays with a card of its own and is not banned where the cluster's members are: the missing
    marks outweigh. For the card, every member paying with a card another member pays with
    shows it.

    >>> m = Marks({"banned": np.array([True, True, True, False, False, False])},
    ...           {"banned": np.ones(6, bool)}, {}, np.zeros(6, bool))
    >>> g = Groups(np.array([0, 0, 0, 0, 1, 1]), 2)
    >>> member_evidence(m, {"banned": np.array([0.01, 0.9])}, g, g.membership, 0.05).round(2)
    array([ 0.34,  0.34,  0.34, -0.51,  0.  ,  0.  ])
    """
    terms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if core is None:
        core = core_members(marks, per_indicator, groups, alpha)
    for name, p in per_indicator.items():
        known = marks.known.get(name)
        if known is None or not known.any():
            continue
        shows = _shown(marks, name) & known
        p0 = float(np.clip(shows.sum() / known.sum(), 1e-9, 1.0 - 1e-9))
        rate = ((groups.sum((shows & core).astype(float)) + 0.5)
                / (groups.sum((known & core).astype(float)) + 1.0))
        r = rate[community]
        use = known & (np.nan_to_num(p, nan=1.0) <= alpha)[community]
        terms[name] = (np.where(use, np.where(shows, np.log(r / p0),
                                              np.log((1.0 - r) / (1.0 - p0))), 0.0), use)
    out = np.zeros(len(community))
    for family in SAME_SOURCE:
        parts = [terms.pop(f) for f in family if f in terms]
        if parts:
            used = np.sum([u for _, u in parts], axis=0)
            out += np.divide(np.sum([t for t, _ in parts], axis=0), np.maximum(used, 1))
    for term, _ in terms.values():
        out += term
    return out


def member_shows(marks: Marks, per_indicator: dict[str, np.ndarray], groups: Groups,
                 community: np.ndarray, alpha: float, bayes_factor: float) -> np.ndarray:
    """Per account: its marks make it more than ``bayes_factor`` times likelier one of
    ``community[i]``'s marked members than any account (:func:`member_evidence`;
    ``Settings.member_bayes_factor``, 3: "substantial" on Jeffreys' scale).

    Three of four members banned where the dataset bans one in two: each banned member's marks
    are 1.4 times likelier under its community's rates, not enough on their own.

    >>> m = Marks({"banned": np.array([True, True, True, False, False, False])},
    ...           {"banned": np.ones(6, bool)}, {}, np.zeros(6, bool))
    >>> g = Groups(np.array([0, 0, 0, 0, 1, 1]), 2)
    >>> member_shows(m, {"banned": np.array([0.01, 0.9])}, g, g.membership, 0.05, 3.0).tolist()
    [False, False, False, False, False, False]
    >>> member_shows(m, {"banned": np.array([0.01, 0.9])}, g, g.membership, 0.05, 1.0).tolist()
    [True, True, True, False, False, False]

    References
    ----------
    .. [1] H. Jeffreys, "Theory of Probability", 3rd ed., Oxford, 1961, appendix B.
    .. [2] R. E. Kass and A. E. Raftery, "Bayes factors", JASA 90(430), 1995.
    """
    return member_evidence(marks, per_indicator, groups, community, alpha) > np.log(
        bayes_factor)


def member_marks(acc: pd.DataFrame, signals: dict[str, SignalMatrix], links: Links,
                 groups: Groups, settings: Settings, payer: np.ndarray | None = None,
                 burst: ind_mod.Burst | None = None) -> Marks:
    """Per coordination indicator, the members showing it and the members that could, over
    the members a declared organisation does not explain (:func:`explained_members`);
    ``payer``: the accounts' payers for the template mark
    (:func:`graphkit.detection.indicators.exclusive_template_members`); ``burst``: the
    members' creation bursts (:func:`graphkit.detection.indicators.burst_members`), when the
    caller has them.

    ``acc`` is the per-account table of :func:`graphkit.detection.features.account_features`.
    """
    unexplained = ~explained_members(acc["org_id"], acc["seed_actor"], groups)
    by_domain = set(settings.org_domain_indicators)
    domain_explained = domain_explained_members(acc, groups, settings)
    working_hours = working_day_members(acc, groups, settings)
    resource = set(settings.resource_indicators)
    t = links.table
    everyone = np.ones(len(groups.membership), bool)
    if burst is None:
        burst = ind_mod.burst_members(acc["created_at"], groups, settings)
    raw = {
        "shared_payment": redundant_payers(signals.get("payment"), groups),
        "exclusive_templates": ind_mod.exclusive_template_members(
            signals.get("template"), groups, settings, payer),
        "exclusive_client": ind_mod.exclusive_client_members(signals, groups, settings, payer),
        "synchrony": (ind_mod.lockstep_members(
            t["a"].to_numpy(), t["b"].to_numpy(), t["synchrony"].to_numpy(), groups, settings),
            everyone),
        "creation_burst": (burst.in_burst, burst.known),
        "new_accounts": ind_mod.new_members(acc["created_at"], acc["first_seen"], settings),
        "model_jump": ind_mod.jump_members(
            acc["release_shift"].to_numpy(dtype=float),
            acc["release_background"].to_numpy(dtype=float),
            acc["release_window_events"].to_numpy(dtype=float), settings),
        "banned": (ind_mod.banned_members(acc["status"]), everyone),
    }
    shows, known = {}, {}
    for name, (s, k) in raw.items():
        if name in settings.profile_indicators:
            continue
        shows[name] = s
        known[name] = (k & unexplained & (~working_hours if name in resource else True)
                       & (~domain_explained if name in by_domain else True))
    return Marks(shows, known, {"creation_burst": burst.chance},
                 card_sharers(signals.get("payment"), groups))


def coordination_counts(marks: Marks, groups: Groups) -> dict[str, Counts]:
    """Per coordination indicator of ``marks`` (:func:`member_marks`), the members of each
    community showing it and those that could."""
    return {name: Counts(groups.sum((marks.shows[name] & known).astype(float)),
                         groups.sum(known.astype(float)), marks.chance.get(name))
            for name, known in marks.known.items()}
