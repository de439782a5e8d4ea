"""Suspicion per community and per account, with plain-English evidence.

A community's suspicion combines independent *indicators* drawn from the public distillation
cases, each in [0, 1]:

=================  ==========================================================================
indicator          meaning (1 = strongest)
=================  ==========================================================================
shared_payment     few cards paying for many members: 1 - distinct cards / paying members
exclusive_templates share of the community's traffic on templates that are used by several
                   members and mostly by this community
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

    evidence   = sum_i weight_i * indicator_i              (weights: INDICATOR_WEIGHTS)
    suspicion  = (1 - exp(-evidence)) * size_factor * benign_factor

One indicator alone (a family sharing a card, an office NAT) stays below 0.5; it takes
several independent ones, in a group of more than a handful of accounts, to flag. A declared
shared ``org_id`` is a benign explanation (``benign_factor``) unless seeds say otherwise.

An account's own suspicion is its community's, scaled by its *membership*: the share of the
account's link weight that stays inside the community, relative to the community's typical
(median) member. A reseller's legitimate customer who only shares a proxy exit with a hydra
cluster has a weak tie and low membership, so it is not flagged with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection.communities import Communities
from graphkit.detection.links import Links, SignalMatrix
from graphkit.settings import Settings

INDICATOR_WEIGHTS: dict[str, float] = {
    "shared_payment": 0.6,
    "exclusive_templates": 0.6,
    "synchrony": 0.8,
    "volume": 0.3,
    "infrastructure": 0.3,
    "creation_burst": 0.5,
    "new_accounts": 0.6,
    "automation": 0.3,
    "model_jump": 0.8,
    "banned": 1.0,
    "seeds": 1.0,
}

# Indicators that do not say the members are run together: how busy and automated a customer
# is, and whether an attributed account sits among them (a seed on a VPN shares exits with
# strangers). They count in full once coordination evidence reaches PROFILE_GATE.
PROFILE_INDICATORS = ("volume", "infrastructure", "automation", "seeds")
PROFILE_GATE = 2.0
# A template concentrated in a community counts in full once a quarter of its members use it.
TEMPLATE_BREADTH = 0.25
# A member is in a creation burst when at least two other members, and this many times the
# number chance would give, were created within burst_window_hours of it.
BURST_EXCESS = 3.0

# The Cypher an investigator runs (after `graphkit export`) to see a community and what ties it
# together: its members and every entity two or more of them share. Parameters only; in Neo4j
# Browser they are set with `:param run_id => '...'` and `:param community_id => N`.
COMMUNITY_QUERY = (
    "MATCH (c:Community {run_id: $run_id, community_id: $community_id})"
    "<-[m:MEMBER_OF]-(a:Account) "
    "OPTIONAL MATCH (a)-[r:USED_IP|PAID_WITH|SENT|USED_AGENT]->(e) "
    "WITH c, a, m, r, e, count { (e)<-[]-(:Account)-[:MEMBER_OF]->(c) } AS members_using "
    "WHERE e IS NULL OR members_using >= 2 "
    "RETURN c, a, m, r, e"
)


@dataclass
class Scored:
    accounts: pd.DataFrame
    communities: pd.DataFrame


def _group_sum(group: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=n)


def _shared_entity_count(shares: sp.csr_matrix, comm: np.ndarray, n_comm: int) -> np.ndarray:
    """Per community: the number of entities that two or more of its members use."""
    coo = shares.tocoo()
    if coo.nnz == 0:
        return np.zeros(n_comm)
    per = pd.DataFrame({"c": comm[coo.row], "e": coo.col}).value_counts()
    per = per[per.to_numpy() >= 2].reset_index()
    return np.bincount(per["c"].to_numpy(), minlength=n_comm).astype(float)


def score_communities(
    acc: pd.DataFrame,
    signals: dict[str, SignalMatrix],
    links: Links,
    comms: Communities,
    settings: Settings,
) -> Scored:
    """Compute indicators, suspicion and evidence; see the module docstring.

    ``acc`` has one row per account code with columns account_id, n_events, proxy_events,
    hour_entropy, release_events, release_window_events, created_at, status, org_id,
    seed_actor, tokens.
    """
    n = len(acc)
    comm = comms.membership
    n_comm = comms.n_communities
    size = comms.sizes.astype(float)
    n_events = acc["n_events"].to_numpy(dtype=float)
    events_c = _group_sum(comm, n_events, n_comm)
    safe_events_c = np.maximum(events_c, 1.0)

    # --- links inside communities: cohesion and membership --------------------------------------
    # Link weights are score / inclusion: sampled pairs of large fleets stand for the pairs not
    # drawn (Horvitz-Thompson), so strengths and densities estimate the full projection's.
    t = links.table
    a, b, s = t["a"].to_numpy(), t["b"].to_numpy(), links.edge_weights()
    # Each link stands for 1 / inclusion pairs of the full projection.
    n_pairs = (1.0 / t["inclusion"].to_numpy(dtype=float) if "inclusion" in t
               else np.ones(len(t)))
    internal = comm[a] == comm[b]
    strength_in = _group_sum(a[internal], s[internal], n) + _group_sum(b[internal], s[internal], n)
    strength_all = _group_sum(a, s, n) + _group_sum(b, s, n)
    n_links_c = _group_sum(comm[a[internal]], n_pairs[internal], n_comm)
    score_sum_c = _group_sum(comm[a[internal]], s[internal], n_comm)
    mean_score_c = np.divide(score_sum_c, n_links_c, out=np.zeros(n_comm), where=n_links_c > 0)
    pairs_c = size * (size - 1) / 2
    density_c = np.divide(n_links_c, pairs_c, out=np.zeros(n_comm), where=pairs_c > 0)
    median_strength = (
        pd.Series(strength_in).groupby(comm).median().reindex(range(n_comm)).to_numpy()
    )

    # --- indicators -------------------------------------------------------------------------------
    ind: dict[str, np.ndarray] = {}
    frac = lambda per_account: _group_sum(comm, per_account.astype(float), n_comm) / size

    n_shared_cards = (_shared_entity_count(signals["payment"].shares, comm, n_comm)
                      if "payment" in signals else np.zeros(n_comm))
    ind["shared_payment"], n_paying, n_cards = _card_concentration(signals.get("payment"), comm,
                                                                    n_comm)

    excl_share, n_excl = _exclusive_templates(signals.get("template"), comm, n_comm, n_events,
                                              safe_events_c)
    ind["exclusive_templates"] = excl_share

    sync_col = t["synchrony"].to_numpy()
    strong_sync = sync_col >= 0.3
    sync_acct = np.zeros(n, bool)
    sel = internal & strong_sync
    sync_acct[a[sel]] = True
    sync_acct[b[sel]] = True
    sync_traffic = _group_sum(comm, n_events * sync_acct, n_comm) / safe_events_c
    ind["synchrony"] = sync_traffic

    active = n_events > 0
    typical = float(np.median(n_events[active])) if active.any() else 1.0
    med_c = pd.Series(n_events).groupby(comm).median().reindex(range(n_comm)).to_numpy()
    ind["volume"] = np.clip(np.log10(np.maximum(med_c, 1.0) / max(typical, 1.0)) / 1.5, 0, 1)

    proxy_c = _group_sum(comm, acc["proxy_events"].to_numpy(dtype=float), n_comm)
    ind["infrastructure"] = proxy_c / safe_events_c

    ind["creation_burst"], burst_days = _creation_burst(acc, comm, n_comm, size, settings)

    created = pd.to_datetime(acc["created_at"], utc=True, errors="coerce")
    first = pd.to_datetime(acc["first_seen"], utc=True, errors="coerce")
    age_days = ((first - created) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    ind["new_accounts"] = frac(np.nan_to_num(age_days, nan=np.inf) < settings.new_account_days)

    ent = acc["hour_entropy"].to_numpy(dtype=float)
    ent_c = _group_sum(comm, ent * n_events, n_comm) / safe_events_c
    # A human day spans ~16 waking hours: entropy log(16)/log(24) = 0.87 at most; 24/7 is 1.
    ind["automation"] = np.clip((ent_c - 0.87) / 0.13, 0.0, 1.0)

    rel_ev = _group_sum(comm, acc["release_events"].to_numpy(dtype=float), n_comm)
    win_ev = _group_sum(comm, acc["release_window_events"].to_numpy(dtype=float), n_comm)
    comm_jump = np.divide(rel_ev, win_ev, out=np.zeros(n_comm), where=win_ev > 0)
    pop_jump = rel_ev.sum() / max(win_ev.sum(), 1.0)
    ind["model_jump"] = np.clip((comm_jump - pop_jump) / 0.3, 0.0, 1.0)

    banned = (acc["status"].astype("string").str.lower() == "banned").fillna(False).to_numpy()
    ind["banned"] = frac(banned)
    seed_actor = acc["seed_actor"].astype("string")
    is_seed = seed_actor.notna().to_numpy()
    n_seeds = _group_sum(comm, is_seed.astype(float), n_comm)
    ind["seeds"] = np.minimum(n_seeds, 1.0)

    org = acc["org_id"].astype("string")
    has_org = org.notna().to_numpy()
    org_share = np.zeros(n_comm)
    if has_org.any():
        top = (pd.DataFrame({"c": comm[has_org], "o": org[has_org].to_numpy()})
               .groupby(["c", "o"]).size().groupby(level=0).max())
        org_share[top.index.to_numpy()] = top.to_numpy() / size[top.index.to_numpy()]

    # --- combination --------------------------------------------------------------------------------
    # Volume, hosting infrastructure and round-the-clock activity describe any busy API
    # customer, fleet or not, and a seed says its actor is present, not that every member is
    # theirs: they amplify evidence of coordination but never stand in for it.
    coordination = sum(INDICATOR_WEIGHTS[k] * ind[k] for k in INDICATOR_WEIGHTS
                       if k not in PROFILE_INDICATORS)
    profile = sum(INDICATOR_WEIGHTS[k] * ind[k] for k in PROFILE_INDICATORS)
    evidence = coordination + profile * np.clip(coordination / PROFILE_GATE, 0.0, 1.0)
    size_factor = 1.0 - np.exp(-(size - 1.0) / 5.0)
    benign = np.where(n_seeds > 0, 1.0, 1.0 - 0.9 * org_share)
    suspicion = (1.0 - np.exp(-evidence)) * size_factor * benign
    suspicion[size < settings.min_community_size] = 0.0
    flagged_c = suspicion >= settings.flag_threshold

    # --- accounts ------------------------------------------------------------------------------------
    # Membership: own internal strength vs the typical member (core vs periphery), times the
    # share of the account's ties that stay inside its community. Ties from a flagged community
    # into other flagged communities count as staying: a large fleet is often split into several
    # communities, and its accounts' ties between the pieces are no sign of innocence.
    rel = np.divide(strength_in, median_strength[comm], out=np.zeros(n),
                    where=median_strength[comm] > 0)
    to_flagged = flagged_c[comm[a]] & flagged_c[comm[b]]
    kept = internal | to_flagged
    strength_kept = _group_sum(a[kept], s[kept], n) + _group_sum(b[kept], s[kept], n)
    loyalty = np.divide(strength_kept, strength_all, out=np.zeros(n), where=strength_all > 0)
    membership = np.clip(np.minimum(rel, 1.0) * loyalty, 0.0, 1.0)
    membership[~flagged_c[comm]] = np.minimum(rel, 1.0)[~flagged_c[comm]] * np.divide(
        strength_in, strength_all, out=np.zeros(n), where=strength_all > 0)[~flagged_c[comm]]
    membership[size[comm] < 2] = 0.0
    acct_community_susp = suspicion[comm].copy()
    # Attachment: an account outside every flagged community whose ties mostly go to one (a
    # fleet fragment too small to stand on its own) is measured against that community's core
    # in the same way, and inherits its suspicion when attached as strongly as a member.
    attached = _attachment(a, b, s, comm, flagged_c, median_strength, strength_all, n)
    stronger = ~flagged_c[comm] & (attached[1] > membership)
    membership = np.where(stronger, attached[1], membership)
    attached_to = np.where(stronger, attached[0], -1)
    acct_community_susp[stronger] = suspicion[attached[0][stronger]]
    acct_factor = np.clip(membership / max(settings.min_membership, 1e-9), 0.0, 1.0)
    acct_susp = acct_community_susp * acct_factor
    acct_flag = (flagged_c[comm] | stronger) & (membership >= settings.min_membership)
    # Accounts investigators already attributed stay flagged whatever their community.
    acct_flag |= is_seed
    acct_susp = np.where(is_seed, np.maximum(acct_susp, settings.flag_threshold), acct_susp)

    actor = _actor_per_community(seed_actor, comm)
    accounts = pd.DataFrame({
        "account_id": acc["account_id"].to_numpy(),
        "community_id": comm,
        "suspicion": np.round(acct_susp, 4),
        "flagged": acct_flag,
        "membership": np.round(membership, 4),
        "attached_to": pd.array(np.where(attached_to >= 0, attached_to, None), dtype="Int64"),
    })
    communities = pd.DataFrame({
        "community_id": np.arange(n_comm),
        "size": comms.sizes,
        "suspicion": np.round(suspicion, 4),
        "flagged": flagged_c,
        "n_flagged_accounts": np.bincount(comm[acct_flag], minlength=n_comm),
        "actor": pd.array([actor.get(c) for c in range(n_comm)], dtype="string")
        if len(actor) else pd.array([pd.NA] * n_comm, dtype="string"),
        "density": np.round(density_c, 4),
        "mean_link_score": np.round(mean_score_c, 4),
        "n_events": events_c.astype(np.int64),
        "org_share": np.round(org_share, 4),
        "n_shared_payment_methods": n_shared_cards.astype(np.int64),
        "n_payment_methods": n_cards.astype(np.int64),
        "n_paying_accounts": n_paying.astype(np.int64),
        "n_exclusive_templates": n_excl.astype(np.int64),
        "creation_span_days": np.round(burst_days, 2),
        "model_jump_share": np.round(comm_jump, 4),
    })
    for k, v in ind.items():
        communities[f"ind_{k}"] = np.round(v, 4)
    return Scored(accounts, communities)


def _card_concentration(sig: SignalMatrix | None, comm, n_comm):
    """1 - distinct payment methods / members paying, per community (0 when none pay).

    A fleet pays for many accounts with a few cards (140 accounts on 4 cards: 0.97); separate
    customers each bring their own (11 accounts of 7 small apps on 8 cards: 0.27), even when
    each app's two or three accounts share one.
    """
    if sig is None or sig.shares.nnz == 0:
        return np.zeros(n_comm), np.zeros(n_comm), np.zeros(n_comm)
    coo = sig.shares.tocoo()
    c = comm[coo.row]
    payers = np.bincount(np.unique(np.stack([c, coo.row]), axis=1)[0], minlength=n_comm)
    cards = np.bincount(np.unique(np.stack([c, coo.col]), axis=1)[0], minlength=n_comm)
    concentration = np.where(payers > 1,
                             1.0 - np.minimum(cards, payers) / np.maximum(payers, 1), 0.0)
    return concentration, payers, cards


def _attachment(a, b, s, comm, flagged_c, median_strength, strength_all, n):
    """For every account, the flagged community it is most tied to and its attachment to the
    flagged set: min(1, ties into flagged communities / that community's median internal
    strength) * share of the account's ties that go into flagged communities (a fleet split
    into several pieces ties its fragments to all of them). (-1, 0) for accounts with no tie
    into a flagged community."""
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    w = np.concatenate([s, s])
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
    core = median_strength[c]
    rel = np.divide(tie, core, out=np.zeros(len(tie)), where=core > 0)
    best_c[acc] = c
    best_m[acc] = np.minimum(rel, 1.0) * tie / np.maximum(strength_all[acc], 1e-12)
    return best_c, best_m


def _exclusive_templates(sig: SignalMatrix | None, comm, n_comm, n_events, events_c,
                         min_lift: float = 10.0):
    """Share of each community's traffic on templates concentrated in it, and their number.

    A template is concentrated in a community when at least two members use it and the
    community holds ``min_lift`` times more of its users than its size alone would give
    (users_in / degree >= min_lift * size / N): a popular template used by thousands is never
    concentrated, a fleet's own templates are even when the fleet is split across communities.
    """
    if sig is None or sig.shares.nnz == 0:
        return np.zeros(n_comm), np.zeros(n_comm)
    n = sig.shares.shape[0]
    size = np.bincount(comm, minlength=n_comm).astype(float)
    coo = sig.shares.tocoo()
    c = comm[coo.row]
    df = pd.DataFrame({"c": c, "e": coo.col, "ev": coo.data * n_events[coo.row]})
    users_in = df.groupby(["c", "e"], sort=False)["e"].transform("size").to_numpy()
    degree = sig.degree[coo.col].astype(float)
    lift = (users_in / np.maximum(degree, 1.0)) / (size[c] / n)
    exclusive = (users_in >= 2) & (lift >= min_lift)
    # A fleet runs its scripts across many of its accounts; a template that only a few members
    # share (one small app among several) counts in proportion.
    breadth = np.minimum(1.0, users_in / (TEMPLATE_BREADTH * size[c]))
    share = np.bincount(c[exclusive], weights=(df["ev"].to_numpy() * breadth)[exclusive],
                        minlength=n_comm)
    n_excl = np.bincount(df[exclusive].drop_duplicates(["c", "e"])["c"].to_numpy(),
                         minlength=n_comm).astype(float)
    return np.clip(share / events_c, 0, 1), n_excl


def _creation_burst(acc, comm, n_comm, size, settings: Settings):
    """Share of members created in a burst: within ``burst_window_hours`` of at least two other
    members of their community (fleets are created in batches, possibly many batches over
    weeks). Members with unknown creation time count as not in a burst; communities whose
    creation times are mostly unknown score 0. Also returns the span (days) of the middle 80 %.
    """
    created = pd.to_datetime(acc["created_at"], utc=True, errors="coerce")
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
    in_burst = (within >= 2) & (within >= BURST_EXCESS * expected)
    n_burst = np.bincount(c[in_burst], minlength=n_comm)
    n_known = np.bincount(c, minlength=n_comm)
    enough = n_known >= np.maximum(0.5 * size, 2)
    out = np.where(enough, n_burst / np.maximum(size, 1), 0.0)
    q = pd.DataFrame({"c": c, "t": secs}).groupby("c")["t"].quantile([0.1, 0.9]).unstack()
    span[q.index.to_numpy()] = (q[0.9] - q[0.1]).to_numpy() / 86400
    return out, span


def _actor_per_community(seed_actor: pd.Series, comm: np.ndarray) -> dict[int, str]:
    known = seed_actor.notna().to_numpy()
    if not known.any():
        return {}
    df = pd.DataFrame({"c": comm[known], "actor": seed_actor[known].to_numpy()})
    top = df.groupby(["c", "actor"]).size().reset_index(name="n")
    top = top.sort_values(["c", "n", "actor"], ascending=[True, False, True]).drop_duplicates("c")
    return dict(zip(top["c"].astype(int), top["actor"].astype(str)))
