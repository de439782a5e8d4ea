"""Suspicion per community and per account, with plain-English evidence.

A community's suspicion combines independent *indicators* drawn from the public distillation
cases, each in [0, 1]:

=================  ==========================================================================
indicator          meaning (1 = strongest)
=================  ==========================================================================
shared_payment     few cards paying for many members: 1 - distinct cards / paying members
exclusive_templates share of the community's traffic on templates that are used by several
                   members and mostly by this community
exclusive_client   the same for client software (user agent, TLS fingerprint): a custom
                   client used mostly by this community, across payers
synchrony          share of traffic from members acting in lock-step windows
volume             per-account volume far above the population's typical account
infrastructure     share of traffic through proxy / VPN / hosting operators
creation_burst     members created within a short burst
new_accounts       members that were new (``new_account_days``) at their first request
automation         activity spread evenly round the clock (no human day)
model_jump         traffic moved to a newly released model within 24 hours of its release
banned             members already banned
seeds              members investigators already attributed to an actor
=================  ==========================================================================

    evidence   = sum_i weight_i * indicator_i              (weights: Settings.indicator_weights)
    suspicion  = (1 - exp(-evidence)) * size_factor * benign_factor

(profile indicators count as far as coordination evidence reaches ``profile_gate``; see
:func:`suspicion`.)

One indicator alone (a family sharing a card, an office NAT) stays below 0.5; it takes
several independent ones, in a group of more than a handful of accounts, to flag. A declared
shared ``org_id`` is a benign explanation (``benign_factor``) unless seeds say otherwise.

An account's own suspicion is its community's, scaled by its *membership*: the share of the
account's link weight that stays inside the community, times how tied it is compared with the
community's typical (median) member, by the weight of all its ties or by its
``min_community_size - 1`` strongest ones (a group of that many ties would make a community of
its own). A reseller's legitimate customer who only shares a proxy exit with a hydra cluster
has weak ties and low membership, so it is not flagged with it. An account paying with the
payment methods of flagged accounts, half its payer unit or more, and an account of a hydra
succession chain (a banned account and its replacements) with a flagged one are flagged
with them (:func:`join_units`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphkit.detection import cut as cut_mod
from graphkit.detection import indicators as ind_mod
from graphkit.detection import purpose as purpose_mod
from graphkit.detection.communities import Communities
from graphkit.detection.features import ReleaseTraffic
from graphkit.detection.indicators import Groups
from graphkit.detection.links import Links, SignalMatrix
from graphkit.settings import INDICATORS, Settings


@dataclass
class Scored:
    """Per-account and per-community results of :func:`score_communities`."""

    accounts: pd.DataFrame
    communities: pd.DataFrame


@dataclass
class Cohesion:
    """Links inside communities: per-account strengths and per-community density.

    Link weights are :meth:`~graphkit.detection.links.Links.edge_weights`: sampled pairs of
    large fleets stand for the pairs not drawn (a Horvitz-Thompson factor, trimmed at
    ``max_expansion``), so strengths and densities follow the full projection's.
    """

    a: np.ndarray  # link ends (account codes)
    b: np.ndarray
    weight: np.ndarray  # link weights (Links.edge_weights)
    internal: np.ndarray  # link inside one community
    strength_in: np.ndarray  # per account: weight of its links inside its community
    strength_all: np.ndarray  # per account: weight of all its links
    median_strength: np.ndarray  # per community: its median member's strength_in
    # Per account: the evidence (-log(1 - score)) of its ``core_ties``-th strongest link
    # inside its community (0 with fewer links); per community: its median member's.
    core_tie: np.ndarray
    median_core_tie: np.ndarray
    density: np.ndarray  # per community: links (pairs they stand for) / possible pairs
    mean_score: np.ndarray  # per community: mean internal link weight
    # Per link: the evidence behind its score, -log(1 - score) (see cohesion()).
    evidence: np.ndarray | None = None
    # Per link: two kinds of evidence or more tie it (see corroborated_links()).
    corroborated: np.ndarray | None = None


def _group_sum(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n)


def kth_strongest(owner: np.ndarray, score: np.ndarray, k: int, n: int) -> np.ndarray:
    """Per owner in ``range(n)``: the ``k``-th largest of its scores (0 with fewer than ``k``;
    NaN scores do not count).

    >>> kth_strongest(np.array([0, 0, 0, 1]), np.array([0.2, 0.9, 0.5, 0.7]), 2, 3).tolist()
    [0.5, 0.0, 0.0]
    """
    out = np.zeros(n)
    if k < 1 or len(owner) == 0:
        return out
    left = np.asarray(score, np.float64).copy()
    left[np.isnan(left)] = -np.inf
    position = np.arange(len(owner))
    for _ in range(k - 1):  # k is a handful: each owner's largest dropped k - 1 times, no sort
        top = _group_max(owner, left, n)
        at = np.flatnonzero(left == top[owner])
        first = np.full(n, len(owner))
        np.minimum.at(first, owner[at], position[at])  # one of its ties only
        left[first[first < len(owner)]] = -np.inf
    top = _group_max(owner, left, n)
    held = top > -np.inf
    out[held] = top[held]
    return out


def _group_max(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    top = np.full(n, -np.inf)
    np.maximum.at(top, owner, values)
    return top


def core_ties(settings: Settings) -> int:
    """The ties a member needs, at its community's typical strength, to count as core whatever
    the community's size: enough to make a community of ``min_community_size`` of its own."""
    return max(int(settings.min_community_size) - 1, 1)


def cohesion(links: Links, groups: Groups, settings: Settings | None = None,
             ignore: np.ndarray | None = None) -> Cohesion:
    """Internal link strength per account and link density per community (see :class:`Cohesion`),
    over the links ``ignore`` does not select (all when None).

    >>> t = pd.DataFrame({"a": [0, 0, 1, 2], "b": [1, 2, 2, 3], "score": [0.8, 0.6, 0.4, 0.5]})
    >>> c = cohesion(Links(t, 4), Groups(np.array([0, 0, 0, 1]), 2))
    >>> c.strength_in.round(2).tolist(), c.density.tolist(), c.core_tie.round(2).tolist()
    ([1.4, 1.2, 1.0, 0.0], [1.0, 0.0], [0.92, 0.51, 0.51, 0.0])
    """
    comm, n_comm = groups.membership, groups.n_communities
    n = len(comm)
    size = groups.size
    t = links.table
    keep = slice(None) if ignore is None else ~ignore
    a, b, s = t["a"].to_numpy()[keep], t["b"].to_numpy()[keep], links.edge_weights()[keep]
    # Each link stands for 1 / inclusion pairs of the full projection.
    n_pairs = (1.0 / t["inclusion"].to_numpy(dtype=float)[keep] if "inclusion" in t
               else np.ones(len(a)))
    internal = comm[a] == comm[b]
    strength_in = _group_sum(a[internal], s[internal], n) + _group_sum(b[internal], s[internal], n)
    strength_all = _group_sum(a, s, n) + _group_sum(b, s, n)
    n_links_c = _group_sum(comm[a[internal]], n_pairs[internal], n_comm)
    score_sum_c = _group_sum(comm[a[internal]], s[internal], n_comm)
    mean_score_c = np.divide(score_sum_c, n_links_c, out=np.zeros(n_comm), where=n_links_c > 0)
    pairs_c = size * (size - 1) / 2
    density_c = np.divide(n_links_c, pairs_c, out=np.zeros(n_comm), where=pairs_c > 0)
    median_strength = _median_per(strength_in, comm, n_comm)
    # One tie's strength is the evidence behind its score (score = 1 - exp(-evidence), links
    # module), the scale on which evidence adds up: scores saturate near 1, and a tie at
    # min_link_score would be a fifth of a strong one's score but a fourteenth of its evidence.
    # Not the expansion factor: that says how many pairs a drawn link stands for, not how
    # strongly its two accounts are tied.
    evidence = -np.log1p(-np.minimum(t["score"].to_numpy(dtype=float)[keep], 1.0 - 1e-12))
    core_tie = kth_strongest_over(a, b, evidence, internal, core_ties(settings or Settings()), n)
    return Cohesion(a, b, s, internal, strength_in, strength_all, median_strength, core_tie,
                    _median_per(core_tie, comm, n_comm), density_c, mean_score_c, evidence,
                    corroborated_links(links, (settings or Settings()).unmarked_min_kinds,
                                       settings)[keep])


def corroborated_links(links: Links, min_kinds: int = 2,
                       settings: Settings | None = None) -> np.ndarray:
    """Per link: at least ``min_kinds`` kinds of evidence tie it, each beyond a trace
    (similarity at least ``min_entity_share``, the share below which an entity's use is
    incidental). Identifier kinds, relations and synchrony count; the run's
    supporting signals (a proxy operator, a user agent, an address block derived from an IP:
    :attr:`Links.supporting`, shared by unrelated customers by design) do not. A table
    without per-signal columns says nothing against any link: all count.

    >>> t = pd.DataFrame({"a": [0, 0, 0], "b": [1, 2, 3], "score": [0.9, 0.9, 0.9],
    ...                   "payment": [0.9, 0.0, 0.0], "template": [0.5, 1.0, 1.0],
    ...                   "ip": [0.0, 0.0, 0.001], "proxy": [0.0, 1.0, 0.0]})
    >>> corroborated_links(Links(t, 4, supporting=("proxy", "synchrony"))).tolist()
    [True, False, False]
    """
    settings = settings or Settings()
    table = links.table
    skip = {"a", "b", "score", "inclusion", "account_a", "account_b",
            *(x for x in links.supporting if x != "synchrony")}
    cols = [c for c in table.columns if c not in skip]
    if not cols:
        return np.ones(len(table), bool)
    similarity = table[cols].to_numpy(dtype=np.float64)
    return (similarity >= settings.min_entity_share).sum(axis=1) >= min_kinds


def kth_strongest_over(a: np.ndarray, b: np.ndarray, evidence: np.ndarray, use: np.ndarray,
                       k: int, n: int) -> np.ndarray:
    """Per account: the evidence of its ``k``-th strongest link among the links ``use``
    selects (both ends own a link)."""
    return kth_strongest(np.concatenate([a[use], b[use]]),
                         np.concatenate([evidence[use], evidence[use]]), k, n)


def _median_per(values: np.ndarray, comm: np.ndarray, n_comm: int) -> np.ndarray:
    return pd.Series(values).groupby(comm).median().reindex(range(n_comm)).to_numpy()


def _ratio(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.divide(x, ref, out=np.zeros(len(x)), where=ref > 0)


def core_ratio(strength: np.ndarray, tie: np.ndarray, median_strength: np.ndarray,
               median_tie: np.ndarray) -> np.ndarray:
    """How tied an account is to a community compared with its median member, at most 1: by
    the weight of all its ties, or by the evidence of its ``core_ties``-th strongest tie,
    whichever is closer.

    The weight of all ties grows with the community: in a fleet whose hosted accounts share
    address pools, each is tied to dozens, while its accounts on residential exits are tied
    only to the few that share their card. Those few ties are as strong as the fleet's own;
    a legitimate customer sharing one proxy exit with a fleet has many ties, all weak.

    >>> core_ratio(np.array([5.0, 1.2]), np.array([3.0, 0.22]), np.array([20.0, 20.0]),
    ...            np.array([3.5, 3.5])).round(2).tolist()
    [0.86, 0.06]
    """
    return np.minimum(np.maximum(_ratio(strength, median_strength), _ratio(tie, median_tie)),
                      1.0)


@dataclass
class Indicators:
    """Every indicator per community (``values``, in :data:`graphkit.settings.INDICATORS`
    order) and the per-community facts the evidence lines quote."""

    values: dict[str, np.ndarray]
    facts: dict[str, np.ndarray]
    n_seeds: np.ndarray
    counts: dict[str, cut_mod.Counts]  # coordination indicators as member counts (the cut)
    marks: cut_mod.Marks  # the same per account
    release_model: pd.Series  # the released model each community moved to most
    payer: np.ndarray  # per account: its payer unit (accounts joined by shared payment methods)


def indicators(acc: pd.DataFrame, signals: dict[str, SignalMatrix], links: Links,
               groups: Groups, settings: Settings,
               releases: ReleaseTraffic | None = None,
               replaced: np.ndarray | None = None) -> Indicators:
    """All indicators of :mod:`graphkit.detection.indicators`, for every community
    (``releases``: the accounts' release-window traffic, None: no model released;
    ``replaced``: the accounts that replaced a banned account, None: no successions)."""
    n_events = acc["n_events"].to_numpy(dtype=float)
    t = links.table
    cards = ind_mod.shared_payment(signals.get("payment"), groups)
    payer_unit = ind_mod.payers(signals.get("payment"), len(acc))
    payer = payer_unit if settings.template_across_payers else None
    excl_share, n_excl = ind_mod.exclusive_templates(signals.get("template"), groups, n_events,
                                                     settings, payer)
    client_share, n_clients = ind_mod.exclusive_clients(signals, groups, n_events, settings,
                                                        payer)
    members_burst = ind_mod.burst_members(acc["created_at"], groups, settings)
    burst, burst_days = ind_mod.creation_burst(acc["created_at"], groups, settings,
                                               members_burst)
    if releases is None:
        empty = np.zeros((len(acc), 0))
        releases = ReleaseTraffic((), empty, empty, empty, empty)
    jump = ind_mod.model_jump(releases, groups, settings)
    seeds, n_seeds = ind_mod.seeds(acc["seed_actor"], groups)
    values = {
        "shared_payment": cards.indicator,
        "exclusive_templates": excl_share,
        "exclusive_client": client_share,
        "synchrony": ind_mod.synchrony(t["a"].to_numpy(), t["b"].to_numpy(),
                                       t["synchrony"].to_numpy(), groups, n_events, settings),
        "volume": ind_mod.volume(n_events, groups, settings),
        "infrastructure": ind_mod.infrastructure(acc["proxy_events"].to_numpy(dtype=float),
                                                 n_events, groups),
        "creation_burst": burst,
        "new_accounts": ind_mod.new_accounts(acc["created_at"], acc["first_seen"], groups,
                                             settings),
        "automation": ind_mod.automation(acc["hour_entropy"].to_numpy(dtype=float), n_events,
                                         groups, settings),
        "model_jump": jump.indicator,
        "banned": ind_mod.banned(acc["status"], groups),
        "seeds": seeds,
    }
    n_shared_cards = (ind_mod.shared_entity_count(signals["payment"], groups)
                      if "payment" in signals else np.zeros(groups.n_communities))
    facts = {
        "n_events": groups.sum(n_events),
        "org_share": ind_mod.org_share(acc["org_id"], groups),
        "n_shared_payment_methods": n_shared_cards,
        "n_payment_methods": cards.n_cards,
        "n_paying_accounts": cards.n_paying,
        "n_exclusive_templates": n_excl,
        "n_exclusive_clients": n_clients,
        "creation_span_days": burst_days,
        "model_jump_share": jump.share,
        "model_jump_background": jump.background,
        "n_replacements": ind_mod.replacements(replaced, groups),
    }
    marks = cut_mod.member_marks(acc, signals, links, groups, settings, payer, members_burst)
    return Indicators({k: values[k] for k in INDICATORS}, facts, n_seeds,
                      cut_mod.coordination_counts(marks, groups), marks, jump.model, payer_unit)


def suspicion(ind: dict[str, np.ndarray], size: np.ndarray, n_seeds: np.ndarray,
              org_share: np.ndarray, settings: Settings) -> np.ndarray:
    """Combine indicators into each community's suspicion (see the module docstring).

    Volume, hosting infrastructure and round-the-clock activity describe any busy API customer,
    fleet or not, and a seed says its actor is present, not that every member is theirs:
    these ``profile_indicators`` amplify evidence of coordination but never stand in for it.

    >>> s = Settings()
    >>> ind = {k: np.array([1.0, 0.0]) for k in ("shared_payment", "volume")}
    >>> suspicion(ind, np.array([11.0, 11.0]), np.zeros(2), np.zeros(2), s).round(4).tolist()
    [0.431, 0.0]
    """
    profile = set(settings.profile_indicators)
    zero = np.zeros(len(size))
    coordination = sum((settings.indicator_weight(k) * ind.get(k, zero) for k in INDICATORS
                        if k not in profile), zero)
    profiled = sum((settings.indicator_weight(k) * ind.get(k, zero) for k in INDICATORS
                    if k in profile), zero)
    evidence = coordination + profiled * np.clip(coordination / settings.profile_gate, 0.0, 1.0)
    size_factor = 1.0 - np.exp(-(size - 1.0) / settings.size_scale)
    benign = np.where(n_seeds > 0, 1.0, 1.0 - settings.org_discount * org_share)
    out = (1.0 - np.exp(-evidence)) * size_factor * benign
    out[size < settings.min_community_size] = 0.0
    return out


def community_surprise(counts: dict[str, cut_mod.Counts], tested: np.ndarray,
                       settings: Settings) -> cut_mod.Surprise:
    """The FDR cut's p-values (:func:`graphkit.detection.cut.surprise`) as ``settings`` ask:
    the strongest ``fdr_drop_strongest`` left out, the indicators read from one field merged
    when ``fdr_same_source``, the resource family merged when ``fdr_resource_family``, and the resource and relational indicators' counts taken as
    correlated within a community (``resource_correlation``)."""
    families = ((cut_mod.SAME_SOURCE if settings.fdr_same_source else ())
                + ((settings.resource_indicators,) if settings.fdr_resource_family else ()))
    return cut_mod.surprise(counts, tested, settings.fdr_drop_strongest, families,
                            settings.resource_correlation,
                            settings.resource_indicators + settings.relational_indicators)


@dataclass
class AccountScores:
    """Per-account results of :func:`account_scores`."""

    suspicion: np.ndarray
    flagged: np.ndarray
    membership: np.ndarray
    attached_to: np.ndarray  # flagged community an outside account is attached to, else -1


def below_threshold(suspicion: np.ndarray, flag_threshold: float) -> np.ndarray:
    """``suspicion`` kept below ``flag_threshold`` (rounded to 4 places, still below), for
    accounts left unflagged: ``suspicion >= flag_threshold`` means flagged.

    >>> below_threshold(np.array([0.2, 0.9]), 0.7).round(4).tolist()
    [0.2, 0.6999]
    """
    return np.minimum(suspicion, np.nextafter(flag_threshold, 0.0) - 1e-4)


def _ratio_over(coh: Cohesion, use: np.ndarray, groups: Groups, settings: Settings,
                strength: np.ndarray | None = None) -> np.ndarray:
    """:func:`core_ratio` over the links ``use`` selects: each account's weight on them
    (``strength`` when the caller has it) and its ``core_ties``-th strongest, against its
    community's median member's."""
    comm, n = groups.membership, len(groups.membership)
    if strength is None:
        strength = _group_sum(coh.a[use], coh.weight[use], n) + _group_sum(coh.b[use],
                                                                           coh.weight[use], n)
    core = kth_strongest_over(coh.a, coh.b, coh.evidence, use, core_ties(settings), n)
    return core_ratio(strength, core, _median_per(strength, comm, groups.n_communities)[comm],
                      _median_per(core, comm, groups.n_communities)[comm])


def _corroborated_membership(coh: Cohesion, groups: Groups, flagged_c: np.ndarray,
                             attached: np.ndarray, loyalty: np.ndarray, settings: Settings
                             ) -> np.ndarray:
    """What an unmarked member's ties must show to make the case alone, over the links that
    two kinds of evidence tie (:func:`corroborated_links`): :func:`core_ratio` inside its
    community times ``loyalty``; for an account ``attached`` to a flagged community from
    outside, its attachment (:func:`_attachment`) over those links."""
    use = coh.corroborated
    inside = _ratio_over(coh, coh.internal & use, groups, settings) * loyalty
    if not attached.any():
        return inside
    sub = dataclasses.replace(coh, a=coh.a[use], b=coh.b[use], weight=coh.weight[use])
    outside = _attachment(sub, groups.membership, flagged_c, len(groups.membership))[1]
    return np.where(attached, outside, inside)


def account_scores(coh: Cohesion, groups: Groups, community_suspicion: np.ndarray,
                   is_seed: np.ndarray, settings: Settings,
                   flagged_c: np.ndarray | None = None,
                   marked: Callable[[np.ndarray], np.ndarray] | None = None) -> AccountScores:
    """Each account's membership, suspicion and flag from its community's.

    Membership: how tied the account is vs the typical member (core vs periphery,
    :func:`core_ratio`: by all its internal ties or by its ``min_community_size - 1``
    strongest), times the share of the account's ties that stay inside its community. Ties from a flagged community
    into other flagged communities count as staying: a large fleet is often split into several
    communities, and its accounts' ties between the pieces are no sign of innocence.
    """
    comm = groups.membership
    n = len(comm)
    size = groups.size
    a, b, s = coh.a, coh.b, coh.weight
    strength_in, strength_all, median_strength = (coh.strength_in, coh.strength_all,
                                                  coh.median_strength)
    if flagged_c is None:
        flagged_c = community_suspicion >= settings.flag_threshold
    rel_in = core_ratio(strength_in, coh.core_tie, median_strength[comm],
                        coh.median_core_tie[comm])
    to_flagged = flagged_c[comm[a]] & flagged_c[comm[b]]
    kept = coh.internal | to_flagged
    strength_kept = _group_sum(a[kept], s[kept], n) + _group_sum(b[kept], s[kept], n)
    rel = rel_in
    if coh.evidence is not None and to_flagged.any():
        # A fleet split into several communities is one fleet: over the links a flagged
        # community keeps (its own and those into other flagged communities), a member whose
        # card partners landed in a sibling community is as tied as one whose did not.
        rel = np.where(flagged_c[comm], np.maximum(rel_in, _ratio_over(
            coh, kept, groups, settings, strength_kept)), rel_in)
    loyalty = np.divide(strength_kept, strength_all, out=np.zeros(n), where=strength_all > 0)
    # membership: against the fleet (its flagged communities together); membership_in:
    # against the account's own community only, what an unmarked member must reach.
    membership = np.clip(rel * loyalty, 0.0, 1.0)
    membership_in = np.clip(rel_in * loyalty, 0.0, 1.0)
    outside = ~flagged_c[comm]
    in_share = np.divide(strength_in, strength_all, out=np.zeros(n), where=strength_all > 0)
    membership[outside] = membership_in[outside] = rel_in[outside] * in_share[outside]
    membership[size[comm] < 2] = membership_in[size[comm] < 2] = 0.0
    acct_community_susp = community_suspicion[comm].copy()
    # Attachment: an account outside every flagged community whose ties mostly go to one (a
    # fleet fragment too small to stand on its own) is measured against that community's core
    # in the same way, and inherits its suspicion when attached as strongly as a member.
    attached = _attachment(coh, comm, flagged_c, n)
    stronger = outside & (attached[1] > membership)
    membership = np.where(stronger, attached[1], membership)
    membership_in = np.where(stronger, attached[1], membership_in)
    attached_to = np.where(stronger, attached[0], -1)
    acct_community_susp[stronger] = community_suspicion[attached[0][stronger]]
    acct_factor = np.clip(membership / max(settings.min_membership, 1e-9), 0.0, 1.0)
    acct_flag = (flagged_c[comm] | stronger) & (membership >= settings.min_membership)
    if marked is not None:
        # A member whose marks do not look like its (attached) community's stands on its ties
        # alone: it needs unmarked_membership inside its own community (ties into the fleet's
        # other communities speak for members marked like it, not for a customer sharing its
        # exits), and inherits in proportion to it.
        shows = marked(np.where(stronger, attached_to, comm))
        if coh.corroborated is not None:
            membership_in = np.minimum(membership_in, _corroborated_membership(
                coh, groups, flagged_c, stronger, loyalty, settings))
        acct_flag &= shows | (membership_in >= settings.unmarked_membership)
        acct_factor = np.where(shows, acct_factor, np.clip(
            membership_in / max(settings.unmarked_membership, 1e-9), 0.0, 1.0))
        membership = np.where(shows, membership, membership_in)
    acct_susp = acct_community_susp * acct_factor
    # suspicion >= flag_threshold means flagged, whatever the rule that left an account out.
    acct_susp = np.where(acct_flag, acct_susp, below_threshold(acct_susp, settings.flag_threshold))
    # Accounts investigators already attributed stay flagged whatever their community.
    acct_flag |= is_seed
    acct_susp = np.where(is_seed, np.maximum(acct_susp, settings.flag_threshold), acct_susp)
    return AccountScores(acct_susp, acct_flag, membership, attached_to)


def score_communities(
    acc: pd.DataFrame,
    signals: dict[str, SignalMatrix],
    links: Links,
    comms: Communities,
    settings: Settings,
    releases: ReleaseTraffic | None = None,
    chains: np.ndarray | None = None,
    replaced: np.ndarray | None = None,
    crowd_ties: np.ndarray | None = None,
    kept_q: np.ndarray | None = None,
) -> Scored:
    """Indicators, suspicion and membership for every community and account.

    Five steps: :func:`cohesion` (links inside communities), :func:`indicators` (one function
    per indicator in :mod:`graphkit.detection.indicators`), :func:`suspicion` (their weighted
    combination), :func:`account_scores` (each account's share of its community's
    suspicion) and :func:`join_units` (accounts paid for as flagged accounts are, and the
    accounts of a hydra succession chain with a flagged account).

    Parameters
    ----------
    acc : pandas.DataFrame
        One row per account code (:func:`graphkit.detection.features.account_features`):
        account_id, n_events, proxy_events, hour_entropy, release_events,
        release_window_events, created_at, first_seen, status, org_id, seed_actor, tokens.
    signals : dict of str to SignalMatrix
        The link signals' account x entity shares (payment and template are read).
    links : Links
        Scored links (:func:`graphkit.detection.links.score_links`); weighed by
        ``score * min(1 / inclusion, max_expansion)`` (:meth:`Links.edge_weights`).
    comms : Communities
        The partition (:func:`graphkit.detection.communities.detect_communities`).
    settings : Settings
        ``indicator_weights``, ``profile_indicators``, ``profile_gate``, ``size_scale``,
        ``org_discount``, ``min_community_size``, ``flag_threshold``, ``min_membership``,
        ``payer_flag_share`` and the indicators' own knobs.
    releases : ReleaseTraffic, optional
        The accounts' traffic around each model release
        (:func:`graphkit.detection.features.release_traffic`); None: no model released.
    chains : numpy.ndarray, optional
        Per account code, its hydra succession chain
        (:func:`graphkit.investigate.successions.chain_units`): an account of a chain with
        flagged accounts is flagged with them (``succession_flag_share``). None: no bans.
    replaced : numpy.ndarray of bool, optional
        Per account code, it replaced a banned account
        (:func:`graphkit.investigate.successions.succession_units`): the communities'
        ``n_replacements``, reported in their evidence. None: no bans.
    crowd_ties : numpy.ndarray of bool, optional
        Per link: left out of the members' ties (membership, attachment), as the ties of an
        identifier group's members to the crowd around it are
        (:func:`graphkit.detection.identifier_groups.crowd_ties`). None: every link counts.
    kept_q : numpy.ndarray, optional
        Per community, a q-value found before (a community an earlier pass flagged and left as
        it was: the identifier groups' second pass); NaN where the community is tested anew.

    Returns
    -------
    Scored
        ``accounts``: account_id, community_id, suspicion, flagged, membership, attached_to.
        ``communities``: community_id, size, suspicion, flagged, n_flagged_accounts, actor,
        density, mean_link_score, the facts behind the evidence and one ``ind_<name>`` column
        per indicator.

    Examples
    --------
    >>> import graphkit
    >>> from graphkit.detection.pipeline import detect
    >>> ds = graphkit.load("fixtures/sim-small/events.parquet",
    ...                    accounts="fixtures/sim-small/accounts.csv")
    >>> scored = detect(ds).communities  # detect calls score_communities
    >>> [c for c in scored.columns if c.startswith("ind_")][:3]
    ['ind_shared_payment', 'ind_exclusive_templates', 'ind_exclusive_client']

    References
    ----------
    .. [1] D. G. Horvitz and D. J. Thompson, "A generalization of sampling without replacement
       from a finite universe", JASA 47(260), 1952.
    .. [2] Q. Cao, X. Yang, J. Yu and C. Palow, "Uncovering large groups of active malicious
       accounts in online social networks" (SynchroTrap), ACM CCS 2014.
    .. [3] A. Beutel, W. Xu, V. Guruswami, C. Palow and C. Faloutsos, "CopyCatch: stopping
       group attacks by spotting lockstep behavior in social networks", WWW 2013.
    """
    comm = comms.membership
    n_comm = comms.n_communities
    groups = Groups(comm, n_comm)
    size = comms.sizes.astype(float)
    coh = cohesion(links, groups, settings, crowd_ties)
    found = indicators(acc, signals, links, groups, settings, releases, replaced)
    ind, facts = found.values, found.facts
    susp = suspicion(ind, size, found.n_seeds, facts["org_share"], settings)
    tested = size >= settings.min_community_size
    surprise = community_surprise(found.counts, tested, settings)
    q_value = cut_mod.bh_qvalues(surprise.p_value, tested)
    if kept_q is not None:
        q_value = np.where(np.isnan(kept_q), q_value, kept_q)
    if settings.flag_rule == "fdr":
        flagged_c = tested & (q_value <= settings.flag_fdr)
    else:
        flagged_c = susp >= settings.flag_threshold
    purpose_p = purpose_mod.purpose_pvalues(acc, groups, tested, found.n_seeds, settings)
    if settings.purpose_test:
        flagged_c &= purpose_p <= settings.purpose_alpha
    seed_actor = acc["seed_actor"].astype("string")
    is_seed = seed_actor.notna().to_numpy()
    member_tests = {k: v for k, v in surprise.against_background.items()
                    if k not in settings.group_indicators}
    acct = account_scores(coh, groups, susp, is_seed, settings, flagged_c,
                          lambda community: cut_mod.member_shows(
                              found.marks, member_tests, groups, community,
                              settings.flag_fdr, settings.member_bayes_factor))

    acct = join_units(acct, found.payer, comm, settings.payer_flag_share)
    if chains is not None:
        acct = join_units(acct, chains, comm, settings.succession_flag_share)
    actor = _actor_per_community(seed_actor, comm)
    accounts = pd.DataFrame({
        "account_id": acc["account_id"].to_numpy(),
        "community_id": comm,
        "suspicion": np.round(acct.suspicion, 4),
        "flagged": acct.flagged,
        "membership": np.round(acct.membership, 4),
        "attached_to": pd.array(np.where(acct.attached_to >= 0, acct.attached_to, None),
                                dtype="Int64"),
    })
    communities = pd.DataFrame({
        "community_id": np.arange(n_comm),
        "size": comms.sizes,
        "suspicion": np.round(susp, 4),
        "flagged": flagged_c,
        "p_value": surprise.p_value,
        "q_value": q_value,
        "purpose_p": significant(purpose_p),
        "n_flagged_accounts": np.bincount(comm[acct.flagged], minlength=n_comm),
        "actor": pd.array([actor.get(c) for c in range(n_comm)], dtype="string")
        if len(actor) else pd.array([pd.NA] * n_comm, dtype="string"),
        "density": np.round(coh.density, 4),
        "mean_link_score": np.round(coh.mean_score, 4),
        "n_events": facts["n_events"].astype(np.int64),
        "org_share": np.round(facts["org_share"], 4),
        "n_shared_payment_methods": facts["n_shared_payment_methods"].astype(np.int64),
        "n_payment_methods": facts["n_payment_methods"].astype(np.int64),
        "n_paying_accounts": facts["n_paying_accounts"].astype(np.int64),
        "n_exclusive_templates": facts["n_exclusive_templates"].astype(np.int64),
        "n_exclusive_clients": facts["n_exclusive_clients"].astype(np.int64),
        "creation_span_days": np.round(facts["creation_span_days"], 2),
        "release_model": found.release_model.array,
        "model_jump_share": np.round(facts["model_jump_share"], 4),
        "model_jump_background": np.round(facts["model_jump_background"], 4),
        "n_replacements": facts["n_replacements"].astype(np.int64),
    })
    for k, v in ind.items():
        communities[f"ind_{k}"] = np.round(v, 4)
    return Scored(accounts, communities)


def significant(values: np.ndarray, digits: int = 4) -> np.ndarray:
    """``values`` correctly rounded to ``digits`` significant digits (as ``%.4g`` prints them).

    What communities.csv reports for p- and q-values: their last digits depend on the
    library's special functions and the CPU's vector unit (scipy 1.16 and 1.17 differ in the
    sixteenth digit), and mean nothing.

    >>> significant(np.array([6.608764489353327e-07, 0.0, 1.0, np.nan])).tolist()
    [6.609e-07, 0.0, 1.0, nan]
    """
    values = np.asarray(values, np.float64)
    if not len(values):
        return values.copy()
    return np.char.mod(f"%.{int(digits)}g", values).astype(np.float64)


def join_units(acct: AccountScores, unit: np.ndarray, comm: np.ndarray, share: float
               ) -> AccountScores:
    """Accounts of a unit with flagged accounts, flagged with them.

    A unit is a payer unit (the accounts joined by the payment methods they share,
    :func:`graphkit.detection.indicators.payers`) or a hydra succession chain (banned
    accounts and their replacements, :func:`graphkit.investigate.successions.chain_units`).
    An unflagged account of a unit in which at least ``share`` of the accounts (and at least
    one) are flagged is flagged too, with the largest suspicion among them, attached to that
    account's community (``attached_to``) unless it is in it. Payment methods are what the
    public cases attributed fleets by, and a reseller replaces a banned account at once: an
    account a fleet paid for, or created to replace its banned one, but that sent no request,
    or too few to be placed by its traffic, is the fleet's all the same. ``share`` above 1
    turns the rule off.

    >>> a = AccountScores(np.array([0.9, 0.2, 0.1, 0.3]), np.array([True, False, False, False]),
    ...                   np.ones(4), np.full(4, -1))
    >>> j = join_units(a, np.array([0, 0, 1, 1]), np.array([5, 6, 7, 7]), 0.5)
    >>> j.flagged.tolist(), j.suspicion.tolist(), j.attached_to.tolist()
    ([True, True, False, False], [0.9, 0.9, 0.1, 0.3], [-1, 5, -1, -1])
    """
    flagged = acct.flagged
    units = int(unit.max()) + 1 if len(unit) else 0
    size = np.bincount(unit, minlength=units)
    n_flagged = np.bincount(unit, weights=flagged.astype(float), minlength=units)
    joins = ~flagged & (n_flagged[unit] > 0) & (n_flagged[unit] >= share * size[unit])
    if not joins.any():
        return acct
    # Per unit, its most suspicious flagged account (ties: the smallest code).
    lead = np.flatnonzero(flagged)
    lead = lead[np.lexsort((lead, -acct.suspicion[lead], unit[lead]))]
    first = np.r_[True, unit[lead][1:] != unit[lead][:-1]]
    lead_of = np.full(units, -1)
    lead_of[unit[lead[first]]] = lead[first]
    who = lead_of[unit[joins]]
    suspicion, attached = acct.suspicion.copy(), acct.attached_to.copy()
    suspicion[joins] = np.maximum(suspicion[joins], acct.suspicion[who])
    attached[joins] = np.where(comm[who] != comm[joins], comm[who], attached[joins])
    return AccountScores(suspicion, flagged | joins, acct.membership, attached)


def _attachment(coh: Cohesion, comm: np.ndarray, flagged_c: np.ndarray, n: int):
    """For every account, the flagged community it is most tied to and its attachment to the
    flagged set: min(1, ties into flagged communities / that community's median internal
    strength) * share of the account's ties that go into flagged communities (a fleet split
    into several pieces ties its fragments to all of them). (-1, 0) for accounts with no tie
    into a flagged community.

    Only the weight of all its ties counts here, not its strongest few (:func:`core_ratio`):
    the account is outside the community, and a few ties as strong as a member's typical
    ones are what any customer of a fleet's VPN exits has when the fleet's own ties are weak.
    """
    src = np.concatenate([coh.a, coh.b])
    dst = np.concatenate([coh.b, coh.a])
    w = np.concatenate([coh.weight, coh.weight])
    into = flagged_c[comm[dst]] & (comm[dst] != comm[src])
    best_c = np.full(n, -1)
    best_m = np.zeros(n)
    if not into.any():
        return best_c, best_m
    df = pd.DataFrame({"a": src[into], "c": comm[dst[into]], "w": w[into]})
    per = df.groupby(["a", "c"], sort=False)["w"].sum().reset_index()
    total = per.groupby("a")["w"].sum()  # ties into all flagged communities together
    per = per.sort_values(["a", "w", "c"], ascending=[True, False, True]).drop_duplicates("a")
    acc, c = per["a"].to_numpy(), per["c"].to_numpy()
    tie = total.reindex(acc).to_numpy()
    rel = np.minimum(_ratio(tie, coh.median_strength[c]), 1.0)
    best_c[acc] = c
    best_m[acc] = rel * tie / np.maximum(coh.strength_all[acc], 1e-12)
    return best_c, best_m


def _actor_per_community(seed_actor: pd.Series, comm: np.ndarray) -> dict[int, str]:
    known = seed_actor.notna().to_numpy()
    if not known.any():
        return {}
    df = pd.DataFrame({"c": comm[known], "actor": seed_actor[known].to_numpy()})
    top = df.groupby(["c", "actor"]).size().reset_index(name="n")
    top = top.sort_values(["c", "n", "actor"], ascending=[True, False, True]).drop_duplicates("c")
    return dict(zip(top["c"].astype(int), top["actor"].astype(str)))
