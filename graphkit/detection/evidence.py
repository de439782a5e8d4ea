"""Plain-English evidence for communities, and the Cypher that shows it once exported.

Evidence lines are built from the indicators computed in :mod:`graphkit.detection.scoring`; each line
states a measured fact ("4 payment methods shared by 58 of 58 accounts"), never a verdict.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from graphkit.detection.communities import Communities
from graphkit.detection.links import SignalMatrix
from graphkit.investigate.cypher import COMMUNITY_QUERY
from graphkit.registry import TOP_ENTITY_COLUMNS, Registry, kind
from graphkit.settings import Settings

# The communities.csv "top shared" columns, strongest default evidence weight first (payment
# methods, templates, IPs, proxy providers).
TOP_COLUMNS: dict[str, str] = dict(sorted(TOP_ENTITY_COLUMNS.items(),
                                          key=lambda item: -kind(item[0]).weight))


def top_shared_entities(sig: SignalMatrix, membership: np.ndarray, keep: np.ndarray,
                        top_n: int = 3) -> pd.Series:
    """Per community (index), the ``top_n`` entities most members share:
    'key (k accounts); ...'.

    >>> import scipy.sparse as sp
    >>> m = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 0, 1]]))
    >>> sig = SignalMatrix("ip", m, np.ones(3), np.array([3, 2, 2]), np.array(["a", "b", "c"]))
    >>> top_shared_entities(sig, np.array([0, 0, 0, 1]), np.array([True, True])).to_dict()
    {0: 'a (3 accounts); b (2 accounts)'}
    """
    coo = sig.shares.tocoo()
    df = pd.DataFrame({"c": membership[coo.row], "e": coo.col})
    df = df[keep[df["c"].to_numpy()]]
    counts = df.groupby(["c", "e"], sort=False).size().reset_index(name="k")
    counts = counts[counts["k"] >= 2].sort_values(["c", "k", "e"], ascending=[True, False, True])
    counts = counts.groupby("c").head(top_n)
    text = pd.Series(sig.keys[counts["e"].to_numpy()].astype(str), index=counts["c"].to_numpy()
                     ) + " (" + counts["k"].astype(str).to_numpy() + " accounts)"
    out = join_lines(text)
    out.index.name = "c"
    return out.rename("text")


def join_lines(text: pd.Series, sep: str = "; ") -> pd.Series:
    """The texts of each index value joined by ``sep`` in their order (what
    ``text.groupby(level=0).agg(sep.join)`` gives), joined per rank rather than per index
    value: every first text, then ``sep`` and the second where there is one, and so on.

    >>> join_lines(pd.Series(["a", "b", "c"], index=[7, 5, 7])).to_dict()
    {5: 'b', 7: 'a; c'}
    """
    if text.empty:
        return pd.Series(dtype=object)
    keys = pd.Series(text.index, index=range(len(text)))
    rank = keys.groupby(keys).cumcount().to_numpy()
    wide = pd.Series(text.to_numpy(), index=pd.MultiIndex.from_arrays(
        [text.index, rank])).unstack()
    out = wide[0]
    for r in wide.columns[1:]:  # as many as the most texts one index value has
        out = out.where(wide[r].isna(), out + sep + wide[r])
    return out


def _fmt(values: pd.Series, spec: str) -> pd.Series:
    """Each value formatted with ``spec`` (exactly as an f-string would)."""
    return values.map(spec.format)


def _pcts(values: pd.Series) -> pd.Series:
    return _fmt(100 * values.astype(float), "{:.0f}%")


def evidence_table(frame: pd.DataFrame, settings: Settings) -> pd.Series:
    """The evidence of every community (rows of ``frame``), strongest facts first, "; "-joined.

    A line is shown once its indicator reaches ``settings.evidence_thresholds``; attributed
    seeds, banned members and replacements of banned accounts are always reported.
    Column-wise over all communities at once.

    Examples
    --------
    >>> row = {"size": 12, "n_events": 4200, "ind_seeds": 0.0, "actor": None,
    ...        "ind_shared_payment": 0.9, "n_payment_methods": 1, "n_paying_accounts": 12,
    ...        "n_exclusive_templates": 0,
    ...        **{f"ind_{k}": 0.0 for k in ("exclusive_templates", "synchrony",
    ...           "infrastructure", "creation_burst", "new_accounts", "volume", "automation",
    ...           "model_jump", "banned")}, "model_jump_share": 0.0, "org_share": 0.0,
    ...        "release_model": None, "model_jump_background": 0.0}
    >>> evidence_table(pd.DataFrame([row]), Settings()).tolist()
    ['12 accounts, 4,200 requests; 12 accounts pay with 1 payment method (12.0 accounts per card)']
    """
    at = settings.evidence_thresholds
    f = frame
    size = f["size"].astype(int).astype(str)
    n_events = f["n_events"].astype(int)
    # Without request events (identifiers and relations only) the count says nothing.
    text = size + " accounts" + np.where(
        n_events > 0, ", " + _fmt(n_events, "{:,}") + " requests", "")
    lines: list[tuple[pd.Series, pd.Series | str]] = []
    actor = f["actor"] if "actor" in f else pd.Series(None, index=f.index, dtype=object)
    has_actor = actor.map(lambda a: isinstance(a, str)).astype(bool)
    lines.append((has_actor & (f["ind_seeds"] > 0),
                  "contains accounts already attributed to " + actor.where(has_actor, "")))
    n_cards = f["n_payment_methods"].astype(int)
    n_paying = f["n_paying_accounts"].astype(int)
    lines.append((f["ind_shared_payment"] >= at["shared_payment"],
                  n_paying.astype(str) + " accounts pay with " + n_cards.astype(str)
                  + " payment method" + np.where(n_cards != 1, "s", "") + " ("
                  + _fmt(n_paying / n_cards.clip(lower=1), "{:.1f}") + " accounts per card)"))
    lines.append((f["ind_exclusive_templates"] >= at["exclusive_templates"],
                  f["n_exclusive_templates"].astype(int).astype(str) + " templates used almost "
                  "only by this group carry " + _pcts(f["ind_exclusive_templates"])
                  + " of its traffic"))
    # Older outputs lack the columns.
    clients = f.get("ind_exclusive_client", pd.Series(0.0, index=f.index))
    n_clients = f.get("n_exclusive_clients", pd.Series(0, index=f.index)).astype(int)
    lines.append((clients >= at["exclusive_client"],
                  n_clients.astype(str) + " client" + np.where(n_clients != 1, "s", "")
                  + " (user agent, TLS fingerprint) used almost only by this group carry "
                  + _pcts(clients) + " of its traffic"))
    lines.append((f["ind_synchrony"] >= at["synchrony"],
                  _pcts(f["ind_synchrony"]) + " of requests from accounts acting in the same "
                  f"{settings.sync_window_seconds}-second windows far beyond chance"))
    lines.append((f["ind_infrastructure"] >= at["infrastructure"],
                  _pcts(f["ind_infrastructure"]) + " of traffic via proxy, VPN or hosting "
                  "providers"))
    lines.append((f["ind_creation_burst"] >= at["creation_burst"],
                  _pcts(f["ind_creation_burst"]) + " of accounts created in bursts (within "
                  f"{settings.burst_window_hours:.0f} hours of two other members)"))
    lines.append((f["ind_new_accounts"] >= at["new_accounts"],
                  _pcts(f["ind_new_accounts"]) + " of accounts less than "
                  f"{settings.new_account_days:.0f} days old at their first request"))
    lines.append((f["ind_volume"] >= at["volume"],
                  "per-account volume far above the typical account"))
    lines.append((f["ind_automation"] >= at["automation"],
                  "activity spread round the clock (no human daily rhythm)"))
    model = (f["release_model"].astype("string").fillna("a newly released model").astype(object)
             if "release_model" in f else "a newly released model")
    background = f.get("model_jump_background", pd.Series(0.0, index=f.index))
    lines.append((f["ind_model_jump"] >= at["model_jump"],
                  _pcts(f["model_jump_share"]) + " of traffic moved to " + model
                  + f" within {settings.model_release_window_hours:.0f} hours of its release "
                  "(other accounts: " + _pcts(background) + ")"))
    lines.append((f["ind_banned"] > 0, _pcts(f["ind_banned"]) + " of accounts already banned"))
    # Older outputs lack the column. A count, not a percentage: 1 of 766 is not "0%".
    replaced = f.get("n_replacements", pd.Series(0, index=f.index)).astype(int)
    lines.append((replaced > 0, replaced.astype(str) + " of " + size + " accounts replaced a "
                  f"banned account (created within {settings.succession_window_hours:g} hours "
                  "of its ban, on its identifiers)"))
    lines.append((f["org_share"] >= at["org_share"],
                  "benign explanation: " + _pcts(f["org_share"]) + " of accounts declare the "
                  "same organization"))
    # Older outputs lack the columns: nothing to say.
    purpose_p = f.get("purpose_p", pd.Series(0.0, index=f.index)).astype(float)
    q_value = f.get("q_value", pd.Series(1.0, index=f.index)).astype(float)
    found = (q_value <= settings.flag_fdr if settings.flag_rule == "fdr"
             else f["suspicion"].astype(float) >= settings.flag_threshold)
    lines.append((found & settings.purpose_test & (purpose_p > settings.purpose_alpha),
                  "benign explanation: run together, but its members do no more of what "
                  "extraction takes (requests, tokens, proxy or hosting egress, round-the-clock "
                  "hours, the model jump, bans) than the dataset's accounts (purpose p "
                  + _fmt(purpose_p, "{:.2g}") + ")"))
    for shown, line in lines:
        text = text.where(~shown.to_numpy(), text + "; " + line)
    return text


def evidence_lines(row: pd.Series, settings: Settings) -> list[str]:
    """The evidence for one community, strongest facts first (see :func:`evidence_table`)."""
    return evidence_table(pd.DataFrame([row]), settings).iloc[0].split("; ")


def browser_query(run_id: str, community_id: int) -> str:
    """The community query with its parameters, ready to paste into Neo4j Browser."""
    return (f":param run_id => {json.dumps(run_id)}\n:param community_id => {int(community_id)}\n"
            f"{COMMUNITY_QUERY}")


def shared_lines(signals: dict[str, SignalMatrix], comms: Communities, keep: np.ndarray,
                 registry: Registry) -> pd.Series:
    """Per community: evidence lines of the declared kinds and relations, e.g. "2 devices
    shared by 5 accounts", "4 money transfers between members" (vectorized per kind)."""
    parts: list[pd.Series] = []
    nouns = {**{k.name: k.noun for k in registry.kinds if k.declared},
             **{r.name: r.noun for r in registry.relations}}
    relations = {r.name for r in registry.relations}
    for name, noun in nouns.items():  # a handful of kinds, each vectorized
        if name not in signals:
            continue
        coo = signals[name].shares.tocoo()
        df = pd.DataFrame({"c": comms.membership[coo.row], "e": coo.col, "a": coo.row})
        df = df[keep[df["c"].to_numpy()]]
        per_value = df.groupby(["c", "e"]).size().reset_index(name="k")
        per_value = per_value[per_value["k"] >= 2]  # values (or pairs) inside the community
        if per_value.empty:
            continue
        if name in relations:
            n = per_value.groupby("c").size()
            text = n.astype(str) + f" {noun} between members"
        else:
            shared = df.merge(per_value[["c", "e"]], on=["c", "e"])
            n_vals = per_value.groupby("c").size()
            n_acc = shared.groupby("c")["a"].nunique()
            text = n_vals.astype(str) + f" {noun} shared by " + n_acc.astype(str) + " accounts"
        parts.append(text)
    if not parts:
        return pd.Series(dtype=object)
    return join_lines(pd.concat(parts))


def community_evidence(communities: pd.DataFrame, comms: Communities,
                       signals: dict[str, SignalMatrix], settings: Settings,
                       run_id: str, registry: Registry | None = None) -> pd.DataFrame:
    """Keep communities of 2+ accounts, ranked by suspicion, with evidence, top shared
    entities and the Cypher query (with its parameter) that shows each in Neo4j. Declared
    kinds and relations add their lines (:func:`shared_lines`) and top columns."""
    registry = registry or Registry.static()
    keep = comms.sizes >= 2
    out = communities[keep].copy()
    top_columns = {**TOP_COLUMNS, **{k.name: k.top_column for k in registry.kinds
                                     if k.declared and k.top_column}}
    for name, column in top_columns.items():
        if name in signals:
            top = top_shared_entities(signals[name], comms.membership, keep,
                                      settings.top_entities_shown)
            out[column] = out["community_id"].map(top).astype("string")
        else:
            out[column] = pd.array([pd.NA] * len(out), dtype="string")
    # One formatted line per community of reportable size (not per account or pair).
    reportable = out["size"] >= settings.min_community_size
    out["evidence"] = ""
    if reportable.any():
        out.loc[reportable, "evidence"] = evidence_table(out[reportable], settings)
    extra = shared_lines(signals, comms, keep, registry)
    if len(extra):
        more = out["community_id"].map(extra)
        add = reportable & more.notna()
        sep = np.where(out.loc[add, "evidence"].to_numpy() == "", "", "; ")
        out.loc[add, "evidence"] = out.loc[add, "evidence"] + sep + more[add]
    # One query text per community, built column-wise (browser_query for one community).
    out["cypher"] = (f":param run_id => {json.dumps(run_id)}\n:param community_id => "
                     + out["community_id"].astype(int).astype(str) + f"\n{COMMUNITY_QUERY}")
    out = out.sort_values(["suspicion", "size"], ascending=[False, False], kind="stable")
    first = ["community_id", "size", "suspicion", "flagged", "n_flagged_accounts", "actor",
             "evidence", *top_columns.values(), "cypher"]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)
