"""Community indicators: one function per indicator, each vectorized over all communities.

Every indicator is in [0, 1] (1 = strongest) and takes the accounts' community membership as a
:class:`Groups`; the combination into suspicion is :func:`graphkit.detection.scoring.suspicion`.

>>> g = Groups(np.array([0, 0, 0, 1]), 2)
>>> banned(pd.Series(["banned", "active", "Banned", None]), g).tolist()
[0.6666666666666666, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from scipy.sparse import csgraph

from graphkit.detection.features import ReleaseTraffic
from graphkit.detection.links import SignalMatrix
from graphkit.settings import Settings


@dataclass(frozen=True)
class Groups:
    """Accounts' community ids (``membership[i]`` in ``range(n_communities)``).

    Tables several indicators read (a signal's uses per community) are computed once per
    ``Groups`` (:meth:`memo`); the membership is not changed after construction."""

    membership: np.ndarray
    n_communities: int
    _memo: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False,
                                              compare=False)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per community: the sum of ``values`` (one per account)."""
        return np.bincount(self.membership, weights=values, minlength=self.n_communities)

    @cached_property
    def size(self) -> np.ndarray:
        """Members per community (float)."""
        return np.bincount(self.membership, minlength=self.n_communities).astype(float)

    def memo(self, key: tuple[Any, ...], inputs: tuple[Any, ...], make: Callable[[], Any]
             ) -> Any:
        """``make()``, computed once for ``key`` over these groups. ``inputs`` are the objects
        the result depends on besides the groups; they are held with the result, so their
        ``id`` (part of the key) is never reused for another object meanwhile."""
        full = (*key, *(id(x) for x in inputs))
        if full not in self._memo:
            self._memo[full] = (inputs, make())
        return self._memo[full][1]

    def share(self, per_account: np.ndarray) -> np.ndarray:
        """Per community: the share of members for which ``per_account`` holds."""
        return self.sum(np.asarray(per_account).astype(float)) / self.size

    def traffic(self, n_events: np.ndarray) -> np.ndarray:
        """Per community: its requests, at least 1 (a safe denominator)."""
        return np.maximum(self.sum(n_events), 1.0)


@dataclass
class CardConcentration:
    """:func:`shared_payment`: the indicator and the counts behind it, per community."""

    indicator: np.ndarray
    n_paying: np.ndarray  # members with a payment method
    n_cards: np.ndarray  # distinct payment methods


def shared_payment(sig: SignalMatrix | None, groups: Groups) -> CardConcentration:
    """1 - distinct payment methods / members paying, per community (0 when fewer than two pay).

    A fleet pays for many accounts with a few cards (140 accounts on 4 cards: 0.97); separate
    customers each bring their own (11 accounts of 7 small apps on 8 cards: 0.27), even when
    each app's two or three accounts share one.
    """
    n_comm = groups.n_communities
    if sig is None or sig.shares.nnz == 0:
        return CardConcentration(np.zeros(n_comm), np.zeros(n_comm), np.zeros(n_comm))
    paying = np.flatnonzero(np.diff(sig.shares.tocsr().indptr) > 0)
    payers = np.bincount(groups.membership[paying], minlength=n_comm)
    cards = np.bincount(_pair_communities(sig, groups), minlength=n_comm)
    concentration = np.where(payers > 1,
                             1.0 - np.minimum(cards, payers) / np.maximum(payers, 1), 0.0)
    return CardConcentration(concentration, payers, cards)


def shared_entity_count(sig: SignalMatrix, groups: Groups) -> np.ndarray:
    """Per community: the number of entities that two or more of its members use."""
    _, _, _, users = community_uses(sig, groups)
    held = _pair_communities(sig, groups)[users >= 2]
    return np.bincount(held, minlength=groups.n_communities).astype(float)


def _pair_communities(sig: SignalMatrix, groups: Groups) -> np.ndarray:
    """The community of each distinct (community, entity) pair of :func:`community_uses`."""
    def make() -> np.ndarray:
        _, c, pair, users = community_uses(sig, groups)
        out = np.zeros(len(users), np.int64)
        out[pair] = c
        return out

    return groups.memo(("pair communities",), (sig,), make)


def community_uses(sig: SignalMatrix, groups: Groups
                   ) -> tuple[sp.coo_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """The account x entity uses of ``sig`` (COO), each use's community, the index of its
    (community, entity) pair among the distinct ones, and each distinct pair's users.

    >>> m = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 1]]))
    >>> sig = SignalMatrix("payment", m, np.ones(2), np.array([3, 1]), np.array(["c1", "c2"]))
    >>> _, c, pair, users = community_uses(sig, Groups(np.array([0, 0, 1]), 2))
    >>> c.tolist(), pair.tolist(), users.tolist()
    ([0, 0, 1, 1], [0, 0, 1, 2], [2, 1, 1])
    """
    return groups.memo(("uses",), (sig,), lambda: _community_uses(sig, groups))


def _community_uses(sig: SignalMatrix, groups: Groups
                    ) -> tuple[sp.coo_matrix, np.ndarray, np.ndarray, np.ndarray]:
    coo = sig.shares.tocoo()
    c = groups.membership[coo.row]
    key = c.astype(np.int64) * sig.shares.shape[1] + coo.col
    _, pair, users = np.unique(key, return_inverse=True, return_counts=True)
    return coo, c, pair, users


def payers(payment: SignalMatrix | None, n_accounts: int) -> np.ndarray:
    """Per account: its payer, the accounts joined by the payment methods they share (connected
    components of the account x payment-method graph); an account that pays with nothing known
    is a payer of its own.

    >>> m = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 0]]))
    >>> sig = SignalMatrix("payment", m, np.ones(2), np.array([2, 1]), np.array(["c1", "c2"]))
    >>> payers(sig, 4).tolist()
    [0, 0, 1, 2]
    """
    if payment is None or payment.shares.nnz == 0:
        return np.arange(n_accounts)
    b = (payment.shares != 0).astype(np.int8)
    graph = sp.bmat([[None, b], [b.T, None]], format="csr")
    _, labels = csgraph.connected_components(graph, directed=False)
    return pd.factorize(labels[:n_accounts])[0]


def _concentrated(sig: SignalMatrix, groups: Groups, settings: Settings,
                  payer: np.ndarray | None = None):
    """Account x template uses (COO), each use's community, its template's users in that
    community, and whether the template is concentrated there (see :func:`exclusive_templates`).

    With ``payer`` (:func:`payers`), a template counts only when its users in the community
    pay as two payers or more: one customer's accounts sending that customer's own templates
    (an app's keys, an office on its company card) share nothing beyond the customer.
    """
    return groups.memo(("concentrated", float(settings.template_min_lift)), (sig, payer),
                       lambda: _concentrated_uses(sig, groups, settings, payer))


def _concentrated_uses(sig: SignalMatrix, groups: Groups, settings: Settings,
                       payer: np.ndarray | None):
    n = sig.shares.shape[0]
    coo, c, inverse, counts = community_uses(sig, groups)
    users_in = counts[inverse]
    degree = sig.degree[coo.col].astype(float)
    lift = (users_in / np.maximum(degree, 1.0)) / (groups.size[c] / n)
    exclusive = (users_in >= 2) & (lift >= settings.template_min_lift)
    if payer is not None:  # counted over the uses still in the running only
        span = int(payer.max()) + 1
        run = np.flatnonzero(exclusive)
        pair = np.unique(inverse[run].astype(np.int64) * span + payer[coo.row[run]])
        n_payers = np.bincount(pair // span, minlength=len(counts))
        exclusive &= n_payers[inverse] >= 2
    return coo, c, users_in, exclusive


def exclusive_templates(sig: SignalMatrix | None, groups: Groups, n_events: np.ndarray,
                        settings: Settings, payer: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Share of each community's traffic on templates concentrated in it, and their number.

    A template is concentrated in a community when at least two members use it and the
    community holds ``settings.template_min_lift`` times more of its users than its size alone
    would give (users_in / degree >= min_lift * size / N): a popular template used by thousands
    is never concentrated, a fleet's own templates are even when the fleet is split across
    communities. A template counts in full once ``template_breadth`` of the members use it, in
    proportion below.
    """
    n_comm = groups.n_communities
    if sig is None or sig.shares.nnz == 0:
        return np.zeros(n_comm), np.zeros(n_comm)
    size = groups.size
    coo, c, users_in, exclusive = _concentrated(sig, groups, settings, payer)
    ev = coo.data * n_events[coo.row]
    # A fleet runs its scripts across many of its accounts; a template that only a few members
    # share (one small app among several) counts in proportion.
    breadth = np.minimum(1.0, users_in / (settings.template_breadth * size[c]))
    share = np.bincount(c[exclusive], weights=(ev * breadth)[exclusive], minlength=n_comm)
    # Concentration is a property of the (community, template) pair: count the pairs.
    _, _, pair, users = community_uses(sig, groups)
    held = np.zeros(len(users), bool)
    held[pair[exclusive]] = True
    n_excl = np.bincount(_pair_communities(sig, groups)[held], minlength=n_comm).astype(float)
    return np.clip(share / groups.traffic(n_events), 0, 1), n_excl


def exclusive_template_members(sig: SignalMatrix | None, groups: Groups, settings: Settings,
                               payer: np.ndarray | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Per account: uses a template concentrated in its community (shared across payers when
    ``payer`` is given, see :func:`payers`) that at least ``template_breadth`` of the members
    use, and uses any template.

    A fleet runs its scripts across its accounts; a community of separate customers, each
    with its own few templates, is not one script's users however concentrated each is.
    """
    n = len(groups.membership)
    if sig is None or sig.shares.nnz == 0:
        return np.zeros(n, bool), np.zeros(n, bool)
    coo, c, users_in, exclusive = _concentrated(sig, groups, settings, payer)
    broad = exclusive & (users_in >= settings.template_breadth * groups.size[c])
    shows = np.zeros(n, bool)
    shows[coo.row[broad]] = True
    return shows, np.diff(sig.shares.indptr) > 0


def exclusive_clients(signals: dict[str, SignalMatrix], groups: Groups, n_events: np.ndarray,
                      settings: Settings, payer: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Share of each community's traffic on client software concentrated in it, and the
    number of such clients, over the run's ``settings.client_signals`` (user agents, TLS
    fingerprints): the concentration rule of :func:`exclusive_templates`.

    A custom client is request metadata that ties a fleet to its operator: thousands of
    accounts on one build of a tool a few dozen developers also use. A browser or an SDK used
    by thousands is never concentrated; an app's own client on its keys is one payer.
    """
    n_comm = groups.n_communities
    share, count = np.zeros(n_comm), np.zeros(n_comm)
    for name in settings.client_signals:  # a handful of signals
        s, c = exclusive_templates(signals.get(name), groups, n_events, settings, payer)
        share, count = np.maximum(share, s), count + c
    return share, count


def exclusive_client_members(signals: dict[str, SignalMatrix], groups: Groups,
                             settings: Settings, payer: np.ndarray | None = None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Per account: uses client software concentrated in its community
    (:func:`exclusive_template_members` over ``settings.client_signals``), and uses any."""
    n = len(groups.membership)
    shows, known = np.zeros(n, bool), np.zeros(n, bool)
    for name in settings.client_signals:  # a handful of signals
        s, k = exclusive_template_members(signals.get(name), groups, settings, payer)
        shows, known = shows | s, known | k
    return shows, known


def lockstep_members(a: np.ndarray, b: np.ndarray, sync: np.ndarray, groups: Groups,
                     settings: Settings) -> np.ndarray:
    """Per account: one of its links inside its community has synchrony of at least
    ``settings.sync_member_similarity``."""
    comm = groups.membership
    sel = (comm[a] == comm[b]) & (sync >= settings.sync_member_similarity)
    sync_acct = np.zeros(len(comm), bool)
    sync_acct[a[sel]] = True
    sync_acct[b[sel]] = True
    return sync_acct


def synchrony(a: np.ndarray, b: np.ndarray, sync: np.ndarray, groups: Groups,
              n_events: np.ndarray, settings: Settings) -> np.ndarray:
    """Share of each community's traffic from members with a lock-step tie inside it.

    ``a``, ``b``, ``sync``: the links (account codes and synchrony column). A member is in
    lock-step when one of its links inside its community has synchrony of at least
    ``settings.sync_member_similarity``.
    """
    sync_acct = lockstep_members(a, b, sync, groups, settings)
    return groups.sum(n_events * sync_acct) / groups.traffic(n_events)


def volume(n_events: np.ndarray, groups: Groups, settings: Settings) -> np.ndarray:
    """How far the community's median account is above the population's typical account:
    ``log10(median_c / median of active accounts) / volume_decades`` clipped to [0, 1]."""
    active = n_events > 0
    typical = float(np.median(n_events[active])) if active.any() else 1.0
    med_c = (pd.Series(n_events).groupby(groups.membership).median()
             .reindex(range(groups.n_communities)).to_numpy())
    return np.clip(np.log10(np.maximum(med_c, 1.0) / max(typical, 1.0))
                   / settings.volume_decades, 0, 1)


def infrastructure(proxy_events: np.ndarray, n_events: np.ndarray, groups: Groups
                   ) -> np.ndarray:
    """Share of each community's traffic through proxy, VPN or hosting operators."""
    return groups.sum(proxy_events.astype(float)) / groups.traffic(n_events)


@dataclass
class Burst:
    """:func:`burst_members`: per account, created in a burst of its community, and whether
    its creation time is known; the creation times (seconds) of the known ones."""

    in_burst: np.ndarray
    known: np.ndarray
    secs: np.ndarray
    # Per community: the share of its members chance alone puts in a burst, given its size and
    # how the population's creation times are spread (the null rate of the FDR cut).
    chance: np.ndarray | None = None


def burst_members(created_at: pd.Series, groups: Groups, settings: Settings) -> Burst:
    """Per account: created in a burst of its community (see :func:`creation_burst`)."""
    comm = groups.membership
    created = pd.to_datetime(created_at, utc=True, errors="coerce")
    known = created.notna().to_numpy()
    in_burst = np.zeros(len(comm), bool)
    if not known.any():
        return Burst(in_burst, known, np.zeros(0), np.zeros(groups.n_communities))
    # Seconds since the epoch whatever the datetime unit (us from DuckDB, ns from pandas).
    secs = ((created[known] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy()
    c = comm[known]
    # One sorted key per (community, time): neighbours within the window are a searchsorted away.
    offset = (secs.max() - secs.min()) + 10 * settings.burst_window_hours * 3600 + 1
    key = c * offset + (secs - secs.min())
    order = np.sort(key)
    half = settings.burst_window_hours * 3600 / 2
    within = (np.searchsorted(order, key + half, side="right")
              - np.searchsorted(order, key - half, side="left") - 1)
    # Chance: how many of the community's other members a random account would have within the
    # window, given how the whole population's creation times are spread. A 400-account carrier
    # pool created over two years has a few such neighbours by chance; a fleet has dozens.
    everyone = np.sort(secs)
    near_all = (np.searchsorted(everyone, secs + half, side="right")
                - np.searchsorted(everyone, secs - half, side="left") - 1)
    p_window = near_all.mean() / max(len(secs) - 1, 1)
    expected = (groups.size[c] - 1) * p_window
    in_burst[known] = (within >= 2) & (within >= settings.burst_excess * expected)
    return Burst(in_burst, known, secs, burst_chance(groups.size, p_window, settings))


def burst_chance(size: np.ndarray, p_window: float, settings: Settings) -> np.ndarray:
    """Per community of ``size`` members: the probability that a member is in a burst by chance,
    when the others' creation times fall in its window independently with probability
    ``p_window`` (the population's mean share of accounts within the window of one another):
    ``P(Binomial(size - 1, p_window) >= max(2, ceil(burst_excess * expected)))``.

    A 75-person office created over a year has a few members with two colleagues created in
    the same three days by chance alone; a 5-account group almost never does.

    >>> burst_chance(np.array([3, 75]), 0.008, Settings()).round(4).tolist()
    [0.0001, 0.1187]
    """
    others = np.maximum(np.asarray(size, dtype=float) - 1.0, 0.0)
    need = np.maximum(2.0, np.ceil(settings.burst_excess * others * p_window))
    return stats.binom.sf(need - 1.0, others, p_window)


def creation_burst(created_at: pd.Series, groups: Groups, settings: Settings,
                   burst: Burst | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Share of members created in a burst, and the span (days) of the middle 80 % of creation
    times, per community.

    A member is in a burst when at least two other members of its community, and
    ``burst_excess`` times the number chance would give, were created within
    ``burst_window_hours`` of it (fleets are created in batches, possibly many batches over
    weeks). Members with unknown creation time count as not in a burst; communities whose
    creation times are mostly unknown score 0. ``burst``: :func:`burst_members` of the same
    arguments, when the caller has it.
    """
    n_comm, size = groups.n_communities, groups.size
    burst = burst_members(created_at, groups, settings) if burst is None else burst
    out = np.zeros(n_comm)
    span = np.full(n_comm, np.nan)
    if not burst.known.any():
        return out, span
    n_burst = groups.sum(burst.in_burst.astype(float))
    n_known = groups.sum(burst.known.astype(float))
    enough = n_known >= np.maximum(0.5 * size, 2)
    out = np.where(enough, n_burst / np.maximum(size, 1), 0.0)
    c = groups.membership[burst.known]
    q = pd.DataFrame({"c": c, "t": burst.secs}).groupby("c")["t"].quantile([0.1, 0.9]).unstack()
    span[q.index.to_numpy()] = (q[0.9] - q[0.1]).to_numpy() / 86400
    return out, span


def new_members(created_at: pd.Series, first_seen: pd.Series, settings: Settings
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per account: younger than ``new_account_days`` at its first request, and whether its
    age is known."""
    created = pd.to_datetime(created_at, utc=True, errors="coerce")
    first = pd.to_datetime(first_seen, utc=True, errors="coerce")
    age_days = ((first - created) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    return np.nan_to_num(age_days, nan=np.inf) < settings.new_account_days, np.isfinite(age_days)


def new_accounts(created_at: pd.Series, first_seen: pd.Series, groups: Groups,
                 settings: Settings) -> np.ndarray:
    """Share of members younger than ``new_account_days`` at their first request (unknown
    ages count as old)."""
    return groups.share(new_members(created_at, first_seen, settings)[0])


def automation(hour_entropy: np.ndarray, n_events: np.ndarray, groups: Groups,
               settings: Settings) -> np.ndarray:
    """Activity spread round the clock: the community's traffic-weighted hour-of-day entropy
    rescaled from ``human_hour_entropy`` (0) to 1 (24/7), clipped to [0, 1]."""
    ent_c = groups.sum(hour_entropy * n_events) / groups.traffic(n_events)
    h = settings.human_hour_entropy
    return np.clip((ent_c - h) / (1.0 - h), 0.0, 1.0)


def human_hours_members(hour_entropy: np.ndarray, n_events: np.ndarray, settings: Settings
                        ) -> np.ndarray:
    """Per account: its requests keep a human day (hour-of-day entropy at most
    ``human_hour_entropy``), judged only for accounts with enough requests to have shown
    round-the-clock activity.

    ``n`` requests spread evenly over 24 hours have a plug-in entropy about ``23 / (2 n)`` nats
    short of ``log 24`` (Miller-Madow); an account is judged once that shortfall is at most
    half the gap between a human day and round the clock, ``n >= 23 / ((1 - h) log 24)``
    (56 requests at ``h`` = 0.87). An account with 30 requests has a low entropy whatever
    its schedule; it shows nothing either way.

    >>> human_hours_members(np.array([0.6, 0.95, 0.3, 0.0]), np.array([400, 900, 30, 0]),
    ...                     Settings()).tolist()
    [True, False, False, False]
    """
    return hours_judged(n_events, settings) & (
        np.nan_to_num(hour_entropy, nan=1.0) <= settings.human_hour_entropy)


def hours_judged(n_events: np.ndarray, settings: Settings) -> np.ndarray:
    """Per account: enough requests to have shown round-the-clock activity,
    ``n >= 23 / ((1 - h) log 24)`` (:func:`human_hours_members`)."""
    h = settings.human_hour_entropy
    return np.asarray(n_events, dtype=float) >= 23.0 / ((1.0 - h) * np.log(24.0))


def human_hours_communities(hour_entropy: np.ndarray, n_events: np.ndarray, groups: Groups,
                            settings: Settings, hour_vector: np.ndarray | None = None
                            ) -> np.ndarray:
    """Per community: its traffic keeps a human day. Judged on the members with enough
    requests to have shown round-the-clock activity (:func:`human_hours_members`): once they
    carry at least ``human_hours_quorum`` of the community's requests, the community keeps a
    human day when their hour-of-day entropies, weighted by requests, average at most
    ``human_hour_entropy``.

    Judged on the community rather than member by member: a colleague with 30 requests keeps
    the office's day as the busy ones do, though too few requests to show it alone. A
    community whose traffic is mostly such sparse accounts is judged on its pooled day when
    ``hour_vector`` (per account, :func:`graphkit.detection.features.hour_vectors`) is given:
    an office's staff in one time zone pool into working hours, a fleet's scripts pool into
    the whole clock. It keeps a human day when its pooled requests are enough to have shown
    round-the-clock activity, their mean resultant length reaches that of a smooth day of
    entropy ``human_hour_entropy`` (:func:`human_day_resultant`), the direction passes
    Rayleigh's test over its active accounts, and no busy member is round the clock; without
    ``hour_vector`` such a community is not judged.

    >>> g = Groups(np.array([0, 0, 1, 1, 2, 2]), 3)
    >>> human_hours_communities(np.array([0.6, 0.5, 0.95, 0.6, 0.3, 0.2]),
    ...                         np.array([400, 30, 900, 30, 30, 40]), g, Settings()).tolist()
    [True, False, False]
    >>> office = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [20.0, 5.0], [25.0, 5.0]])
    >>> human_hours_communities(np.array([0.6, 0.5, 0.95, 0.6, 0.3, 0.2]),
    ...                         np.array([400, 30, 900, 30, 30, 40]), g, Settings(),
    ...                         office).tolist()  # 70 requests, 9 to 5, but two accounts
    [True, False, False]
    >>> g8 = Groups(np.zeros(8, int), 1)
    >>> human_hours_communities(np.zeros(8), np.full(8, 30), g8, Settings(),
    ...                         np.tile([[22.0, 5.0]], (8, 1))).tolist()  # eight colleagues
    [True]
    >>> scripts = np.array([[0, 0], [0, 0], [0, 0], [0, 0], [5.0, 1.0], [-5.0, 0]])
    >>> human_hours_communities(np.array([0.6, 0.5, 0.95, 0.6, 0.3, 0.2]),
    ...                         np.array([400, 30, 900, 30, 30, 40]), g, Settings(),
    ...                         scripts).tolist()  # 70 requests round the clock
    [True, False, False]
    """
    n = np.asarray(n_events, dtype=float)
    ent = np.nan_to_num(np.asarray(hour_entropy, dtype=float), nan=1.0)
    w = np.where(hours_judged(n, settings), n, 0.0)
    judged_traffic = groups.sum(w)
    mean = groups.sum(ent * w) / np.maximum(judged_traffic, 1.0)
    total = groups.sum(n)
    quorum = judged_traffic >= settings.human_hours_quorum * total
    human = (judged_traffic > 0) & quorum & (mean <= settings.human_hour_entropy)
    if hour_vector is None:
        return human
    v = np.nan_to_num(np.asarray(hour_vector, dtype=float))
    pooled = np.hypot(groups.sum(v[:, 0]), groups.sum(v[:, 1])) / np.maximum(total, 1.0)
    # Requests come in sessions, so accounts, not requests, are the independent units: the
    # pooled direction must pass Rayleigh's test over the active accounts (m R^2 >= -log
    # 0.05), and a busy member that is judged round the clock vetoes.
    accounts = groups.sum((n > 0).astype(float))
    pooled_day = (hours_judged(total, settings) & (pooled >= human_day_resultant(settings))
                  & (accounts * pooled ** 2 >= -np.log(0.05))
                  & ((judged_traffic == 0) | (mean <= settings.human_hour_entropy)))
    return np.where(quorum & (judged_traffic > 0), human, pooled_day)


def human_day_resultant(settings: Settings) -> float:
    """The mean resultant length of the smooth day (a von Mises distribution over the 24
    hours) whose normalized entropy is ``human_hour_entropy``: a day with that much spread, its
    requests' hours pooled. 0.61 at the default 0.87 (about 16 waking hours' worth).

    >>> round(human_day_resultant(Settings()), 2)
    0.61
    """
    angle = 2.0 * np.pi * np.arange(24) / 24.0
    lo, hi = 0.0, 60.0
    for _ in range(60):  # bisection on the concentration: entropy falls as it grows
        kappa = (lo + hi) / 2.0
        p = np.exp(kappa * np.cos(angle))
        p /= p.sum()
        if -(p * np.log(p)).sum() / np.log(24.0) > settings.human_hour_entropy:
            lo = kappa
        else:
            hi = kappa
    return float((p * np.cos(angle)).sum())


@dataclass
class ModelJump:
    """:func:`model_jump`: the indicator and the facts behind it, per community."""

    indicator: np.ndarray
    share: np.ndarray  # traffic moved to the community's strongest released model
    background: np.ndarray  # the other accounts' move to that model
    model: pd.Series  # that model (missing: no request in any release window)


def model_jump(traffic: ReleaseTraffic, groups: Groups, settings: Settings) -> ModelJump:
    """Traffic moved to a newly released model within ``model_release_window_hours``.

    Per community and released model, the share of its requests in the window after the
    release that went to the model, less its share on the model before (see
    :meth:`graphkit.detection.features.ReleaseTraffic.shift`); the background is the same
    share over all other accounts' traffic. The community's model is the one it moved to most
    beyond the background; the indicator is that excess, weighed by the community's requests
    in the window ``w`` as ``w / (w + model_jump_prior_requests)``, divided by
    ``model_jump_scale`` and clipped to [0, 1].
    """
    shift = traffic.shift(groups.membership, groups.n_communities)
    excess = shift.weighed_excess(settings.model_jump_prior_requests)
    return ModelJump(np.clip(excess / settings.model_jump_scale, 0.0, 1.0), shift.moved,
                     shift.against, shift.model_names)


def jump_members(release_shift: np.ndarray, release_background: np.ndarray,
                 release_window_events: np.ndarray, settings: Settings
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per account: its move to a released model exceeds the other accounts' by
    ``model_jump_scale`` once weighed by its release-window requests as in :func:`model_jump`,
    and whether it made requests in a release window."""
    w = np.asarray(release_window_events, float)
    excess = np.asarray(release_shift, float) - np.asarray(release_background, float)
    weighed = excess * np.divide(w, w + settings.model_jump_prior_requests,
                                 out=np.zeros(len(w)), where=w > 0)
    return (w > 0) & (weighed >= settings.model_jump_scale), w > 0


def banned_members(status: pd.Series) -> np.ndarray:
    """Per account: its status is ``banned`` (any case)."""
    return (status.astype("string").str.lower() == "banned").fillna(False).to_numpy()


def banned(status: pd.Series, groups: Groups) -> np.ndarray:
    """Share of members whose status is ``banned`` (any case)."""
    return groups.share(banned_members(status))


def replacements(replaced: np.ndarray | None, groups: Groups) -> np.ndarray:
    """Per community, its members that replaced a banned account (the successors of
    :func:`graphkit.investigate.successions.succession_units`; None: no successions).

    A hydra cluster's operator creates a new account within hours of a ban, on the banned
    account's identifiers; a legitimate customer banned once rarely comes back that way. A
    fact of the evidence, not a test of the flag cut: a community's bans and its
    replacements are the same events, and the test is on the bans (docs/detection.md).

    >>> replacements(np.array([True, False, False, True]), Groups(np.array([0, 0, 1, 1]), 2))
    array([1, 1])
    """
    if replaced is None:
        return np.zeros(groups.n_communities, np.int64)
    return np.bincount(groups.membership[replaced], minlength=groups.n_communities)


def seeds(seed_actor: pd.Series, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
    """1 for communities holding an account investigators attributed, and the seed counts."""
    is_seed = seed_actor.astype("string").notna().to_numpy()
    n_seeds = groups.sum(is_seed.astype(float))
    return np.minimum(n_seeds, 1.0), n_seeds


def org_share(org_id: pd.Series, groups: Groups) -> np.ndarray:
    """Share of members declaring the community's most common ``org_id`` (not an indicator: a
    benign explanation)."""
    comm = groups.membership
    size = groups.size
    org = org_id.astype("string")
    has_org = org.notna().to_numpy()
    out = np.zeros(groups.n_communities)
    if has_org.any():
        top = (pd.DataFrame({"c": comm[has_org], "o": org[has_org].to_numpy()})
               .groupby(["c", "o"]).size().groupby(level=0).max())
        out[top.index.to_numpy()] = top.to_numpy() / size[top.index.to_numpy()]
    return out
