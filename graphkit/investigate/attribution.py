"""Actor attribution with calibrated confidence, from seeds and shared indicators.

Inputs are seeds (``account_id, actor``: accounts investigators already attributed) and/or an
indicators file (``actor, kind, value``: an IP or a CIDR network, a card fingerprint, a
template hash, a metadata string such as a user agent). Every account and every community gets
the most likely actor or none, a confidence and the evidence.

Method
------
1. **Starting points.** An actor's reset vector holds its seeds and the accounts its
   indicators match (weighted by the share of the account's traffic on the matched values).
2. **Walk.** One personalized PageRank per actor over the walk graph
   (:mod:`graphkit.investigate.walk`: accounts, IPs, cards, templates, operators, agents and
   scored links, rare-value weighted). It crosses shared templates and metadata as well as
   infrastructure, so a campaign split over several communities, or an actor renting a
   reseller's accounts, is still reached.
3. **Normalized mass.** ``z_k(a) = log(p_k(a) / b(a)) / log(N / M_k)``: the account's mass
   from actor ``k`` over its mass in a walk restarting on every account (``b``), on a log
   scale where 1 is the mass a member of a campaign of ``M_k`` accounts gets (``M_k`` is the
   effective support of ``p_k``, the exponential of its entropy). The same quantity over a
   community's members (sums of ``p_k`` and ``b``) gives the community's ``zc_k``; an account's
   score is ``(1 - w) z_k(a) + w zc_k(c(a))`` with ``w = attribution_community_weight``.
   Each actor's scores are divided by the median score of its held-out seeds (step 4), so 1
   is "as tied as a typical known member".
4. **Cross-fitted calibration.** The seeds are split in ``attribution_folds`` folds
   (stratified by actor); each fold's seeds are scored by walks that started from the other
   folds only. Every held-out seed and every actor make one pair labelled 1 when the actor is
   the seed's own. A logistic curve (Platt scaling) fitted on these pairs maps a score to the
   probability the account belongs to the actor; an account's confidence is that of its
   best-scoring actor. The reliability table compares the predicted confidence of the held-out
   pairs, binned, with the observed share of correct pairs.
5. **Threshold.** An actor is named when the confidence reaches ``attribution_threshold``
   (0.5 by default); below it the actor column is empty.

>>> import pandas as pd
>>> read_indicators(pd.DataFrame({"actor": ["x"], "kind": ["card"], "value": ["pm_1"]}))
  actor     kind value
0     x  payment  pm_1
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.errors import ConfigError, InputError
from graphkit.investigate.walk import WalkGraph
from graphkit.io.tables import read_csv_strings
from graphkit.settings import Settings

# Indicator kinds accepted in the indicators file -> the link signal whose entities they match.
INDICATOR_KINDS: dict[str, str] = {
    "ip": "ip", "network": "ip", "cidr": "ip",
    "payment": "payment", "card": "payment",
    "template": "template", "template_hash": "template",
    "user_agent": "user_agent", "metadata": "user_agent",
    "proxy": "proxy", "proxy_provider": "proxy",
}
_TINY = 1e-300


@dataclass
class Attribution:
    """Attribution of every account and community.

    Attributes
    ----------
    accounts : DataFrame
        account_id, actor (empty when none reaches the threshold), actor_confidence,
        actor_evidence, actor_score (the normalized score of the best actor).
    communities : DataFrame
        community_id (detection code), actor, actor_confidence, actor_evidence.
    reliability : DataFrame
        Held-out seed pairs binned by predicted confidence: bin, pairs, mean_confidence,
        observed (share whose actor was right).
    calibration : dict
        Platt coefficients ``a``, ``b`` (confidence = 1 / (1 + exp(-(a * score + b)))), the
        per-actor scales, folds and pair counts; written into manifests.
    """

    accounts: pd.DataFrame
    communities: pd.DataFrame
    reliability: pd.DataFrame
    calibration: dict[str, Any] = field(default_factory=dict)
    scores: np.ndarray | None = field(default=None, repr=False)  # actors x accounts
    actors: tuple[str, ...] = ()


def read_indicators(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read and validate an indicators table (``actor, kind, value``).

    Kinds (case-insensitive): ``ip``, ``network``/``cidr`` (an IP network such as
    ``203.0.113.0/24``), ``payment``/``card``, ``template``/``template_hash``,
    ``user_agent``/``metadata`` (matched as a substring of user agents), ``proxy``. Returns the
    table with kinds mapped to link signals (``network`` keeps its CIDR value under ``ip``).

    Raises
    ------
    InputError
        A missing column, an empty actor or value, an unknown kind or a malformed network,
        with the file, column and row.
    """
    name = None if isinstance(source, pd.DataFrame) else str(source)
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        df = read_csv_strings(source, all_strings=True)
    for col in ("actor", "kind", "value"):
        if col not in df.columns:
            raise InputError("missing required column", file=name, column=col)
    df = df[["actor", "kind", "value"]].astype(str).apply(lambda s: s.str.strip())
    for col in ("actor", "value"):
        empty = np.flatnonzero(df[col].to_numpy() == "")
        if len(empty):
            raise InputError("empty value", file=name, column=col, row=int(empty[0]) + 1)
    kinds = df["kind"].str.lower()
    unknown = np.flatnonzero(~kinds.isin(list(INDICATOR_KINDS)).to_numpy())
    if len(unknown):
        raise InputError(f"unknown indicator kind {df['kind'].iloc[unknown[0]]!r}; known: "
                         f"{sorted(INDICATOR_KINDS)}", file=name, column="kind",
                         row=int(unknown[0]) + 1)
    nets = np.flatnonzero(kinds.isin(["network", "cidr"]).to_numpy())
    for i in nets:  # validation of a handful of user-given networks
        try:
            ipaddress.ip_network(df["value"].iloc[i], strict=False)
        except ValueError as exc:
            raise InputError(f"bad network: {exc}", file=name, column="value",
                             row=int(i) + 1) from exc
    df["kind"] = kinds.map(INDICATOR_KINDS).where(~kinds.isin(["network", "cidr"]), "network")
    return df.reset_index(drop=True)


def indicator_matches(wg: WalkGraph, indicators: pd.DataFrame) -> pd.DataFrame:
    """Accounts that used an indicator's value: actor, account (code), weight (share of the
    account's traffic on the matched values, summed over the actor's indicators, capped at 1)
    and the indicator that matched."""
    rows = []
    for kind, group in indicators.groupby("kind", sort=True):  # a handful of kinds
        signal = "ip" if kind == "network" else kind
        sig = wg.signals.get(signal)
        if sig is None:
            continue
        keys = pd.Series(sig.keys.astype(str))
        for actor, vals in group.groupby("actor", sort=True):  # one pass per actor and kind
            values = vals["value"].tolist()
            if kind == "network":
                hit = _in_networks(keys, values)
            elif kind == "user_agent":
                hit = np.zeros(len(keys), bool)
                for v in values:  # a handful of metadata strings, each vectorized over keys
                    hit |= keys.str.contains(v, regex=False).to_numpy()
            else:
                hit = keys.isin(values).to_numpy()
            cols = np.flatnonzero(hit)
            if not len(cols):
                continue
            sub = sig.shares[:, cols].tocsr()
            share = np.asarray(sub.sum(axis=1)).ravel()
            acc = np.flatnonzero(share > 0)
            first = np.asarray(sub[acc].argmax(axis=1)).ravel()
            rows.append(pd.DataFrame({"actor": actor, "account": acc,
                                      "weight": np.minimum(share[acc], 1.0),
                                      "indicator": f"{kind} " + keys.iloc[cols[first]].values}))
    if not rows:
        return pd.DataFrame({"actor": [], "account": [], "weight": [], "indicator": []})
    out = pd.concat(rows, ignore_index=True)
    return (out.sort_values("weight", ascending=False, kind="stable")
            .groupby(["actor", "account"], as_index=False)
            .agg(weight=("weight", "sum"), indicator=("indicator", "first"))
            .assign(weight=lambda d: d["weight"].clip(upper=1.0)))


def _in_networks(keys: pd.Series, networks: list[str]) -> np.ndarray:
    """Which IP keys fall into any of ``networks`` (IPv4 as integer ranges, vectorized)."""
    hit = np.zeros(len(keys), bool)
    parts = keys.str.split(".", expand=True)
    ints = None
    if parts.shape[1] == 4:
        num = parts.apply(pd.to_numeric, errors="coerce")
        ok = num.notna().all(axis=1).to_numpy()
        ints = np.where(ok, (num.fillna(0).to_numpy(np.int64) * [1 << 24, 1 << 16, 1 << 8, 1])
                        .sum(axis=1), -1)
    for text in networks:  # a handful of networks
        net = ipaddress.ip_network(text, strict=False)
        if net.version == 4 and ints is not None:
            lo, hi = int(net.network_address), int(net.broadcast_address)
            hit |= (ints >= lo) & (ints <= hi)
        else:
            hit |= keys.map(lambda k, n=net: _contains(n, k)).to_numpy(bool)
    return hit


def _contains(net: ipaddress.IPv4Network | ipaddress.IPv6Network, key: str) -> bool:
    try:
        return ipaddress.ip_address(key) in net
    except ValueError:
        return False


@dataclass
class _Starts:
    actors: tuple[str, ...]
    actor: np.ndarray  # per start: actor index
    account: np.ndarray  # per start: account code
    weight: np.ndarray
    seed: np.ndarray  # per start: True for a seed (held out in calibration)
    label: np.ndarray  # per start: seed, or the matched indicator


def _starts(wg: WalkGraph, codes: pd.Series, seeds: pd.DataFrame | None,
            indicators: pd.DataFrame | None) -> _Starts:
    frames = []
    if seeds is not None and len(seeds):
        s = seeds.drop_duplicates("account_id")
        acc = codes.reindex(s["account_id"].astype(str)).to_numpy()
        known = ~pd.isna(acc)
        frames.append(pd.DataFrame({"actor": s["actor"].astype(str).to_numpy()[known],
                                    "account": acc[known].astype(np.int64), "weight": 1.0,
                                    "seed": True, "label": "seed"}))
    if indicators is not None and len(indicators):
        m = indicator_matches(wg, indicators)
        frames.append(pd.DataFrame({"actor": m["actor"].astype(str),
                                    "account": m["account"].astype(np.int64),
                                    "weight": m["weight"].astype(float), "seed": False,
                                    "label": m["indicator"]}))
    if not frames:
        raise ConfigError("attribution needs seeds or indicators that match the data")
    st = (pd.concat(frames, ignore_index=True)
          .sort_values(["seed", "weight"], ascending=False, kind="stable")
          .drop_duplicates(["actor", "account"]))
    if st.empty:
        raise ConfigError("no seed or indicator matches an account of the data")
    actors = tuple(sorted(st["actor"].unique()))
    return _Starts(actors, st["actor"].map({a: i for i, a in enumerate(actors)}).to_numpy(),
                   st["account"].to_numpy(np.int64), st["weight"].to_numpy(np.float64),
                   st["seed"].to_numpy(bool), st["label"].to_numpy(object))


def _folds(starts: _Starts, k: int, seed: int) -> np.ndarray:
    """Fold of every start (-1: never held out): seeds and indicator matches, stratified by
    actor, in a seeded random order."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(starts.actor)), starts.actor))
    rank = np.empty(len(order), np.int64)
    first = np.searchsorted(starts.actor[order], starts.actor[order])
    rank[order] = np.arange(len(order)) - first
    return rank % k


def _walks(wg: WalkGraph, starts: _Starts, folds: np.ndarray, n_folds: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every walk attribution needs, from ``1 + n_folds * actors`` reset columns in one block
    PageRank, account rows only: the background (restarting uniformly on every account), and
    one walk per fold and actor restarting at that actor's starts in the fold (zeros when
    none). Returns the background, the fold walks (accounts x folds x actors) and the weight
    of each fold walk in a walk from several folds (:func:`_fold_walk`)."""
    n, k = wg.n_accounts, len(starts.actors)
    column = 1 + folds * k + starts.actor
    resets = sp.csc_matrix((np.concatenate([np.ones(n), starts.weight]),
                            (np.concatenate([np.arange(n), starts.account]),
                             np.concatenate([np.zeros(n, np.int64), column]))),
                           shape=(wg.n_vertices, 1 + n_folds * k))
    p = wg.pagerank_many(resets, rows=n)
    mass = wg.mixing_weights(resets[:, 1:]).reshape(n_folds, k)
    return p[:, 0], p[:, 1:].reshape(n, n_folds, k), mass


def _fold_walk(parts: np.ndarray, mass: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Per actor, the walk restarting at its starts in the folds ``use`` (accounts x actors):
    PageRank is linear in its reset, so it is the fold walks' average weighted by
    :meth:`WalkGraph.mixing_weights`, summed over the used folds only (no subtraction that
    would cancel a held-out seed's own mass)."""
    weight = np.where(use[:, None], mass, 0.0)
    total = weight.sum(axis=0)
    out = np.einsum("nfk,fk->nk", parts, weight)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def _raw_scores(p: np.ndarray, membership: np.ndarray, n_comm: int, bg: np.ndarray,
                bg_comm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Account scores (actors x accounts) and community scores (actors x communities) from
    the walks ``p`` (accounts x actors); an actor whose walk is empty scores -inf."""
    k = p.shape[1]
    n = p.shape[0]
    z = np.full((k, n), -np.inf)
    zc = np.full((k, n_comm), -np.inf)
    for i in range(k):  # one walk per actor
        if not p[:, i].any():
            continue
        q = p[p[:, i] > 0, i] / p[:, i].sum()
        support = float(np.exp(-(q * np.log(q)).sum()))
        scale = np.log(max(n / max(support, 1.0), np.e))
        z[i] = np.log(np.maximum(p[:, i], _TINY) / np.maximum(bg, _TINY)) / scale
        pc = np.bincount(membership, weights=p[:, i], minlength=n_comm)
        zc[i] = np.log(np.maximum(pc, _TINY) / np.maximum(bg_comm, _TINY)) / scale
    return z, zc


def _combine(z: np.ndarray, zc: np.ndarray, membership: np.ndarray, w: float) -> np.ndarray:
    return (1.0 - w) * z + w * zc[:, membership]


def _pu_fit(labelled: np.ndarray, unlabelled: np.ndarray) -> tuple[float, float, float]:
    """Platt curve ``g`` of "held-out start" against "any other account" on the score, and
    ``c``, the mean of ``g`` over the held-out starts (Elkan and Noto's label frequency)."""
    from sklearn.linear_model import LogisticRegression

    if len(labelled) == 0 or len(unlabelled) == 0:
        return 10.0, -5.0, 1.0  # nothing to fit: a fixed curve, 0.5 at score 0.5
    x = np.concatenate([labelled, unlabelled]).reshape(-1, 1)
    y = np.concatenate([np.ones(len(labelled)), np.zeros(len(unlabelled))])
    model = LogisticRegression(C=100.0)
    model.fit(x, y)
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    c = float(np.mean(_confidence(labelled, a, b, 1.0)))
    return a, b, max(c, 1e-12)


def _confidence(score: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return np.minimum(1.0 / (1.0 + np.exp(-np.clip(a * score + b, -50, 50))) / c, 1.0)


def reliability_table(confidence: np.ndarray, correct: np.ndarray,
                      bins: tuple[float, ...] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
                      ) -> pd.DataFrame:
    """Pairs binned by predicted confidence: count, mean confidence, observed share correct.

    >>> reliability_table(np.array([0.05, 0.95, 0.92]), np.array([0, 1, 1]))["observed"].tolist()
    [0.0, 1.0]
    """
    edges = np.asarray(bins)
    idx = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, len(edges) - 2)
    df = pd.DataFrame({"bin": idx, "c": confidence, "y": correct.astype(float)})
    out = df.groupby("bin").agg(pairs=("y", "size"), mean_confidence=("c", "mean"),
                                observed=("y", "mean")).reset_index()
    out["bin"] = [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in out["bin"]]
    return out


def attribute(wg: WalkGraph, account_ids: np.ndarray, membership: np.ndarray,
              seeds: pd.DataFrame | None = None, indicators: pd.DataFrame | None = None,
              settings: Settings | None = None) -> Attribution:
    """Attribute every account and community to an actor, with calibrated confidence.

    Parameters
    ----------
    wg : WalkGraph
        The walk graph (:func:`graphkit.investigate.walk.walk_graph`).
    account_ids : ndarray
        Account id per account code.
    membership : ndarray
        Community code per account (``0 .. n_communities - 1``).
    seeds : DataFrame, optional
        ``account_id, actor``.
    indicators : DataFrame, optional
        ``actor, kind, value`` (:func:`read_indicators`).
    settings : Settings, optional
        ``attribution_threshold``, ``attribution_folds``, ``attribution_community_weight``,
        ``walk_damping``, ``seed``.

    Returns
    -------
    Attribution

    Raises
    ------
    ConfigError
        When neither seeds nor indicators match an account.

    Examples
    --------
    >>> import graphkit
    >>> from graphkit.detection.pipeline import detect
    >>> ds = graphkit.load("fixtures/sim-small/events.parquet",
    ...                    accounts="fixtures/sim-small/accounts.csv",
    ...                    seeds="fixtures/sim-small/seeds.csv")
    >>> res = detect(ds)
    >>> sorted(set(res.accounts["actor"]) - {""})
    ['meridian', 'quarry', 'relayhub', 'tessellate']
    """
    settings = settings or Settings()
    membership = np.asarray(membership, np.int64)
    n = wg.n_accounts
    n_comm = int(membership.max()) + 1 if n else 0
    codes = pd.Series(np.arange(n), index=pd.Index(np.asarray(account_ids).astype(str)))
    starts = _starts(wg, codes, seeds, indicators)
    k = len(starts.actors)
    n_folds = settings.attribution_folds
    folds = _folds(starts, n_folds, settings.seed)
    bg, parts, mass = _walks(wg, starts, folds, n_folds)
    bg_comm = np.bincount(membership, weights=bg, minlength=n_comm)
    w = settings.attribution_community_weight

    # Cross-fitting: every start is scored by walks that did not start from it.
    held = np.full((k, len(starts.actor)), -np.inf)
    for f in range(n_folds):  # a few folds, each one walk per actor from the other folds
        out = folds == f
        if not out.any():
            continue
        z, zc = _raw_scores(_fold_walk(parts, mass, np.arange(n_folds) != f), membership,
                            n_comm, bg, bg_comm)
        held[:, out] = _combine(z, zc, membership, w)[:, starts.account[out]]
    # Per-actor scale: the median held-out score of its own starts (1 = a typical member).
    own = held[starts.actor, np.arange(len(starts.actor))]
    scale = np.ones(k)
    for i in range(k):  # one median per actor
        vals = own[(starts.actor == i) & np.isfinite(own)]
        if len(vals) and np.median(vals) > 0.05:
            scale[i] = float(np.median(vals))
    # The final walks from every start.
    z, zc = _raw_scores(_fold_walk(parts, mass, np.ones(n_folds, bool)), membership, n_comm,
                        bg, bg_comm)
    del parts
    score = _combine(z, zc, membership, w) / scale[:, None]
    comm_score = zc / scale[:, None]
    # Positive-unlabeled calibration (Elkan and Noto): g(x) = P(held-out start | score x)
    # against every account that is not a start, per actor; confidence = g(x) / c with c the
    # mean of g over the held-out starts.
    is_start = np.zeros((k, n), bool)
    is_start[starts.actor, starts.account] = True
    labelled = np.clip(own[np.isfinite(own) & (starts.weight >= 0.5)]
                       / scale[starts.actor[np.isfinite(own) & (starts.weight >= 0.5)]],
                       -5.0, 5.0)
    unlabelled = np.clip(np.nan_to_num(score[~is_start], neginf=-5.0), -5.0, 5.0)
    a, b, c = _pu_fit(labelled, unlabelled)
    pair_actor = np.repeat(np.arange(k), len(starts.actor))
    pair_x = np.clip(np.nan_to_num((held / scale[:, None]).ravel(), neginf=-5.0), -5.0, 5.0)
    pair_y = (pair_actor == np.tile(starts.actor, k)).astype(int)
    fit = np.tile(starts.weight, k) >= 0.5
    rel = reliability_table(_confidence(pair_x[fit], a, b, c), pair_y[fit])

    accounts = _table(score, (a, b, c), starts, settings, z / scale[:, None], zc[:, membership]
                      / scale[:, None])
    accounts.insert(0, "account_id", np.asarray(account_ids))
    seeded = np.zeros(n, bool)
    seeded[starts.account[starts.seed]] = True
    seed_actor = np.full(n, "", object)
    seed_actor[starts.account[starts.seed]] = np.asarray(starts.actors, object)[
        starts.actor[starts.seed]]
    # A seed keeps its investigator-given actor.
    accounts.loc[seeded, "actor"] = seed_actor[seeded]
    accounts.loc[seeded, "actor_confidence"] = 1.0
    accounts.loc[seeded, "actor_evidence"] = np.char.add(
        "seed attributed to ", seed_actor[seeded].astype(str))
    communities = _table(comm_score, (a, b, c), starts, settings, comm_score, comm_score,
                         community=True)
    communities.insert(0, "community_id", np.arange(n_comm))
    calibration = {"method": "positive-unlabeled Platt curve on cross-fitted seed scores",
                   "a": a, "b": b, "c": c,
                   "folds": settings.attribution_folds, "pairs": int(fit.sum()),
                   "positive_pairs": int(pair_y[fit].sum()),
                   "threshold": settings.attribution_threshold,
                   "scales": dict(zip(starts.actors, np.round(scale, 4).tolist())),
                   "starts": {act: int((starts.actor == i).sum())
                              for i, act in enumerate(starts.actors)}}
    return Attribution(accounts, communities, rel, calibration, score, starts.actors)


def _table(score: np.ndarray, curve: tuple[float, float, float], starts: _Starts, settings: Settings,
           own: np.ndarray, comm: np.ndarray, community: bool = False) -> pd.DataFrame:
    """actor, actor_confidence, actor_evidence, actor_score from per-actor scores."""
    names = np.asarray(starts.actors, object)
    best = np.argmax(score, axis=0) if len(score) else np.zeros(score.shape[1], np.int64)
    cols = np.arange(score.shape[1])
    top = score[best, cols]
    conf = np.where(np.isfinite(top), _confidence(np.nan_to_num(top, neginf=-50.0), *curve), 0.0)
    named = conf >= settings.attribution_threshold
    actor = np.where(named, names[best], "")
    n_starts = np.bincount(starts.actor, minlength=len(names))[best]
    what = "community" if community else "account"
    # The evidence text of the named rows only (a million strings for every account would
    # be built to be blanked).
    at, pick = np.flatnonzero(named), best[named]
    evidence = np.full(len(best), "", dtype=object)
    evidence[at] = (pd.Series(names[pick], dtype=object) + ": " + what + " walk score "
                    + pd.Series(np.round(np.nan_to_num(own[pick, at], neginf=-99), 2))
                    .astype(str)
                    + (" " if community else " (community "
                       + pd.Series(np.round(np.nan_to_num(comm[pick, at], neginf=-99), 2))
                       .astype(str) + ") ")
                    + "from " + pd.Series(n_starts[at]).astype(str)
                    + " seeds/indicator matches").to_numpy()
    return pd.DataFrame({"actor": pd.array(actor, dtype="string").fillna(""),
                         "actor_confidence": np.round(conf, 4),
                         "actor_evidence": evidence,
                         "actor_score": np.round(np.nan_to_num(top, neginf=-99.0), 4)})
