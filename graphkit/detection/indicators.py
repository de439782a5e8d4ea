"""Community indicators: one function per indicator, each vectorized over all communities.

Every indicator is in [0, 1] (1 = strongest) and takes the accounts' community membership as a
:class:`Groups`; the combination into suspicion is :func:`graphkit.detection.scoring.suspicion`.

>>> g = Groups(np.array([0, 0, 0, 1]), 2)
>>> banned(pd.Series(["banned", "active", "Banned", None]), g).tolist()
[0.6666666666666666, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection.links import SignalMatrix
from graphkit.settings import Settings


@dataclass(frozen=True)
class Groups:
    """Accounts' community ids (``membership[i]`` in ``range(n_communities)``)."""

    membership: np.ndarray
    n_communities: int

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per community: the sum of ``values`` (one per account)."""
        return np.bincount(self.membership, weights=values, minlength=self.n_communities)

    @property
    def size(self) -> np.ndarray:
        """Members per community (float)."""
        return np.bincount(self.membership, minlength=self.n_communities).astype(float)

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
    coo = sig.shares.tocoo()
    c = groups.membership[coo.row]
    payers = np.bincount(np.unique(np.stack([c, coo.row]), axis=1)[0], minlength=n_comm)
    cards = np.bincount(np.unique(np.stack([c, coo.col]), axis=1)[0], minlength=n_comm)
    concentration = np.where(payers > 1,
                             1.0 - np.minimum(cards, payers) / np.maximum(payers, 1), 0.0)
    return CardConcentration(concentration, payers, cards)


def shared_entity_count(shares: sp.csr_matrix, groups: Groups) -> np.ndarray:
    """Per community: the number of entities that two or more of its members use."""
    n_comm = groups.n_communities
    coo = shares.tocoo()
    if coo.nnz == 0:
        return np.zeros(n_comm)
    per = pd.DataFrame({"c": groups.membership[coo.row], "e": coo.col}).value_counts()
    per = per[per.to_numpy() >= 2].reset_index()
    return np.bincount(per["c"].to_numpy(), minlength=n_comm).astype(float)


def exclusive_templates(sig: SignalMatrix | None, groups: Groups, n_events: np.ndarray,
                        settings: Settings) -> tuple[np.ndarray, np.ndarray]:
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
    comm = groups.membership
    n = sig.shares.shape[0]
    size = groups.size
    coo = sig.shares.tocoo()
    c = comm[coo.row]
    df = pd.DataFrame({"c": c, "e": coo.col, "ev": coo.data * n_events[coo.row]})
    users_in = df.groupby(["c", "e"], sort=False)["e"].transform("size").to_numpy()
    degree = sig.degree[coo.col].astype(float)
    lift = (users_in / np.maximum(degree, 1.0)) / (size[c] / n)
    exclusive = (users_in >= 2) & (lift >= settings.template_min_lift)
    # A fleet runs its scripts across many of its accounts; a template that only a few members
    # share (one small app among several) counts in proportion.
    breadth = np.minimum(1.0, users_in / (settings.template_breadth * size[c]))
    share = np.bincount(c[exclusive], weights=(df["ev"].to_numpy() * breadth)[exclusive],
                        minlength=n_comm)
    n_excl = np.bincount(df[exclusive].drop_duplicates(["c", "e"])["c"].to_numpy(),
                         minlength=n_comm).astype(float)
    return np.clip(share / groups.traffic(n_events), 0, 1), n_excl


def synchrony(a: np.ndarray, b: np.ndarray, sync: np.ndarray, groups: Groups,
              n_events: np.ndarray, settings: Settings) -> np.ndarray:
    """Share of each community's traffic from members with a lock-step tie inside it.

    ``a``, ``b``, ``sync``: the links (account codes and synchrony column). A member is in
    lock-step when one of its links inside its community has synchrony of at least
    ``settings.sync_member_similarity``.
    """
    comm = groups.membership
    sel = (comm[a] == comm[b]) & (sync >= settings.sync_member_similarity)
    sync_acct = np.zeros(len(comm), bool)
    sync_acct[a[sel]] = True
    sync_acct[b[sel]] = True
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


def creation_burst(created_at: pd.Series, groups: Groups, settings: Settings
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Share of members created in a burst, and the span (days) of the middle 80 % of creation
    times, per community.

    A member is in a burst when at least two other members of its community, and
    ``burst_excess`` times the number chance would give, were created within
    ``burst_window_hours`` of it (fleets are created in batches, possibly many batches over
    weeks). Members with unknown creation time count as not in a burst; communities whose
    creation times are mostly unknown score 0.
    """
    comm, n_comm, size = groups.membership, groups.n_communities, groups.size
    created = pd.to_datetime(created_at, utc=True, errors="coerce")
    known = created.notna().to_numpy()
    out = np.zeros(n_comm)
    span = np.full(n_comm, np.nan)
    if not known.any():
        return out, span
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
    expected = (size[c] - 1) * p_window
    in_burst = (within >= 2) & (within >= settings.burst_excess * expected)
    n_burst = np.bincount(c[in_burst], minlength=n_comm)
    n_known = np.bincount(c, minlength=n_comm)
    enough = n_known >= np.maximum(0.5 * size, 2)
    out = np.where(enough, n_burst / np.maximum(size, 1), 0.0)
    q = pd.DataFrame({"c": c, "t": secs}).groupby("c")["t"].quantile([0.1, 0.9]).unstack()
    span[q.index.to_numpy()] = (q[0.9] - q[0.1]).to_numpy() / 86400
    return out, span


def new_accounts(created_at: pd.Series, first_seen: pd.Series, groups: Groups,
                 settings: Settings) -> np.ndarray:
    """Share of members younger than ``new_account_days`` at their first request (unknown
    ages count as old)."""
    created = pd.to_datetime(created_at, utc=True, errors="coerce")
    first = pd.to_datetime(first_seen, utc=True, errors="coerce")
    age_days = ((first - created) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    return groups.share(np.nan_to_num(age_days, nan=np.inf) < settings.new_account_days)


def automation(hour_entropy: np.ndarray, n_events: np.ndarray, groups: Groups,
               settings: Settings) -> np.ndarray:
    """Activity spread round the clock: the community's traffic-weighted hour-of-day entropy
    rescaled from ``human_hour_entropy`` (0) to 1 (24/7), clipped to [0, 1]."""
    ent_c = groups.sum(hour_entropy * n_events) / groups.traffic(n_events)
    h = settings.human_hour_entropy
    return np.clip((ent_c - h) / (1.0 - h), 0.0, 1.0)


def model_jump(release_events: np.ndarray, release_window_events: np.ndarray, groups: Groups,
               settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Traffic moved to a newly released model: the indicator and the community's share.

    The share is the community's requests on released models in their release windows over
    all its requests in those windows; the indicator is its excess over the population's share,
    divided by ``model_jump_scale`` and clipped to [0, 1].
    """
    rel_ev = groups.sum(release_events.astype(float))
    win_ev = groups.sum(release_window_events.astype(float))
    comm_jump = np.divide(rel_ev, win_ev, out=np.zeros(groups.n_communities), where=win_ev > 0)
    pop_jump = rel_ev.sum() / max(win_ev.sum(), 1.0)
    return np.clip((comm_jump - pop_jump) / settings.model_jump_scale, 0.0, 1.0), comm_jump


def banned(status: pd.Series, groups: Groups) -> np.ndarray:
    """Share of members whose status is ``banned`` (any case)."""
    is_banned = (status.astype("string").str.lower() == "banned").fillna(False).to_numpy()
    return groups.share(is_banned)


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
