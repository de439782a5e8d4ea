"""Account-level suspicion: each account's own behaviour and its neighbourhood.

The community score (:mod:`graphkit.detection.scoring`) only sees accounts that links tie into
a group; an account whose ties were removed (its fleet stopped sharing templates, its cards
were never recorded) or a dataset with other identifier kinds than the simulator's falls
through it. The account score looks at every account on its own, in the spirit of GADBench
(Tang et al., NeurIPS 2023: tree ensembles over neighbour-aggregated features are the strong
baseline of graph anomaly detection):

* **own features** from the account's behaviour: volume (``n_events``), rate, active span,
  tokens per request, share of proxied traffic, hour-of-day entropy, clock alignment, traffic
  on just-released models, age at the first request, banned, days from first request to ban,
  and per identifier kind of the graph (a loop over :data:`graphkit.registry.KINDS`, so a kind
  another module declares is used as soon as its incidence matrix exists): distinct values and
  an idf-weighted *sharing degree* (how many other accounts use its values:
  ``log1p(sum_e (deg_e - 1) * idf_e)``, ``idf_e = log(N / deg_e) / log N``);
* columns of the accounts file the user declares (``--account-feature COLUMN``): numbers as
  they are, anything else as category codes;
* **neighbourhood** features: link-weighted means of the neighbours' own features (one sparse
  product with the row-normalized link matrix), the link strength, and the share of banned,
  seeded and flagged neighbours, over links and over the co-users of each identifier kind.

The unsupervised score is a rank average: each feature with a known suspicious direction
(:data:`DIRECTIONS`; declared columns have none and only serve the supervised model) is
turned into its percentile rank in that direction among this run's accounts, the ranks of the
features present are averaged per account, and ``account_score`` is the percentile of that
average: the share of this dataset's accounts that look less suspicious. The supervised model
(:mod:`graphkit.detection.learned`) replaces it by a calibrated probability when labels or a
trained model are given.

``suspicion`` in ``accounts.csv`` combines ``community_suspicion`` and ``account_score`` (see
:func:`combine`); ``flagged`` is still the community stage's decision.

>>> import numpy as np
>>> x = pd.DataFrame({"n_events": [1.0, 2.0, 50.0], "age_days": [400.0, 300.0, 1.0]})
>>> rank_score(x, {"n_events": 1, "age_days": -1}).round(2).tolist()
[0.33, 0.67, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from graphkit.detection.links import Links
from graphkit.detection.scoring import below_threshold
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph
from graphkit.parallel import thread_map
from graphkit.registry import ACCOUNT_LABEL

# Suspicious direction of each own feature (+1: higher is more suspicious, -1: lower). Kind
# features are named ``distinct_<kind>`` and ``shared_<kind>_degree`` (both +1); neighbour
# means ``nb_<feature>`` inherit the direction of their feature.
DIRECTIONS: dict[str, int] = {
    "n_events": 1, "rate": 1, "active_days": 0, "tokens_per_event": 1, "proxy_share": 1,
    "hour_entropy": 1, "clock_aligned": 1, "release_share": 1, "age_days": -1, "banned": 1,
    "ban_after_days": -1, "link_strength": 1, "nb_banned_share": 1, "nb_seed_share": 1,
    "nb_flagged_share": 1,
}
# Own features whose neighbour means are added (the rest would mostly repeat them).
NEIGHBOUR_MEANS = ("n_events", "rate", "proxy_share", "hour_entropy", "age_days", "banned",
                   "release_share")
_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class ScoringOptions:
    """What the account score may use beyond the events.

    Attributes
    ----------
    account_features : tuple of str
        Accounts-file columns to use as features (numbers as they are, others as codes).
    labels : DataFrame or None
        ``account_id``, ``label`` (0/1): accounts an investigator judged (supervised mode).
    labels_include_banned, labels_include_seeds : bool
        Count banned accounts / seed accounts as positive labels.
    model_path : str or None
        Apply a model saved by ``save_model`` instead of training one.
    save_model : str or None
        Where to save the model trained on the labels.
    folds : int
        Cross-fitting folds over the labelled accounts.
    predict : callable or None
        How a model scores the accounts: ``predict(booster, x)`` returns the log-odds and the
        per-feature contributions (the Spark engine applies the model on its executors,
        :func:`graphkit.engine.spark.executor_predictor`); None scores here.
    """

    account_features: tuple[str, ...] = ()
    labels: pd.DataFrame | None = field(default=None, compare=False)
    labels_include_banned: bool = False
    labels_include_seeds: bool = False
    model_path: str | None = None
    save_model: str | None = None
    folds: int = 5
    predict: Callable[[Any, pd.DataFrame], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, compare=False, repr=False)

    @property
    def supervised(self) -> bool:
        return (self.labels is not None or self.model_path is not None
                or self.labels_include_banned or self.labels_include_seeds)


@dataclass
class Neighbourhood:
    """Sparse operators that average a per-account vector over an account's neighbours.

    ``links`` is the row-normalized link matrix; ``kinds`` maps a kind to its binary
    accounts x values incidence (each account's co-users are the other users of its values).
    """

    links: sp.csr_matrix
    strength: np.ndarray
    kinds: dict[str, sp.csr_matrix]

    def share(self, values: np.ndarray) -> dict[str, np.ndarray]:
        """Share of each account's neighbours (link-weighted) and co-users (per kind, self
        excluded) whose ``values`` is 1; NaN where an account has none."""
        v = values.astype(np.float64)
        out = {"links": np.where(self.strength > 0, self.links @ v, np.nan)}
        for name, b in self.kinds.items():
            hits = b @ (b.T @ v) - np.asarray(b.sum(axis=1)).ravel() * v
            users = b @ np.asarray(b.sum(axis=0)).ravel() - np.asarray(b.sum(axis=1)).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                out[name] = np.where(users > 0, hits / users, np.nan)
        return out


@dataclass
class AccountFeatures:
    """Per-account features (row i = account code i) and what went into them."""

    table: pd.DataFrame
    directions: dict[str, int]
    neighbourhood: Neighbourhood
    used: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.table.columns)


def kind_incidences(graph: HeteroGraph) -> dict[str, sp.csr_matrix]:
    """Binary accounts x values matrix of every account identifier kind in the graph."""
    out: dict[str, sp.csr_matrix] = {}
    for k in graph.registry.kinds:
        if k.source != ACCOUNT_LABEL or k.rel not in graph.edges or not k.is_signal:
            continue
        counts, _ = graph.incidence(k.rel)
        b = (counts > 0).astype(np.float64).tocsr()
        if b.nnz:
            out[k.name] = b
    return out


def sharing_surprise(b: sp.csr_matrix) -> np.ndarray:
    """Per value of a kind: how unusual its number of users is *for that kind* in this dataset,
    ``-log P(D >= deg)`` where ``D`` is the number of users of the value behind a random
    (account, value) pair of the kind; 0 for values only one account uses.

    A value shared like most values of its kind are (every organisation id by its staff, every
    household address by its family) says little; a card or device shared by more accounts
    than the kind's own values usually are is surprising.

    >>> b = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float))
    >>> sharing_surprise(b).round(3).tolist()  # 2 of the 4 pairs have a value of 2 users
    [0.693, 0.0, 0.0]
    """
    deg = np.asarray(b.sum(axis=0)).ravel().astype(np.int64)
    pairs = np.bincount(deg, weights=deg.astype(float))  # (account, value) pairs by degree
    tail = np.cumsum(pairs[::-1])[::-1] / max(pairs.sum(), 1.0)  # P(D >= d)
    out = -np.log(np.clip(tail[deg], 1e-300, 1.0))
    out[deg < 2] = 0.0
    return out


def _kind_features(b: sp.csr_matrix, name: str) -> dict[str, np.ndarray]:
    """Distinct values and sharing surprise of one kind; NaN for accounts without the kind (an
    account with no address is not compared with the accounts that have one)."""
    distinct = np.asarray(b.sum(axis=1)).ravel()
    has = distinct > 0
    return {f"distinct_{name}": np.where(has, distinct, np.nan),
            f"shared_{name}_surprise": np.where(has, b @ sharing_surprise(b), np.nan)}


def _times(col: pd.Series) -> np.ndarray:
    """Epoch microseconds (float, NaN when missing) of a datetime-like column."""
    t = pd.to_datetime(col, utc=True, errors="coerce")
    return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(microseconds=1)).to_numpy(float)


def own_features(accounts: pd.DataFrame, feats: pd.DataFrame,
                 clock_aligned: np.ndarray | None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Behaviour features of each account, and the reason each absent one was skipped."""
    n_events = feats["n_events"].to_numpy(float)
    first, last = _times(accounts["first_seen"]), _times(accounts["last_seen"])
    span = np.maximum((last - first) / _DAY_US, 1.0 / 24)
    out: dict[str, np.ndarray] = {
        "n_events": np.log1p(n_events),
        "rate": np.log1p(n_events / span),
        "active_days": np.nan_to_num(span, nan=0.0),
        "hour_entropy": feats["hour_entropy"].to_numpy(float),
    }
    skipped: dict[str, str] = {}
    per_event = np.maximum(n_events, 1.0)
    if feats["tokens"].to_numpy().any():
        out["tokens_per_event"] = np.log1p(feats["tokens"].to_numpy(float) / per_event)
    else:
        skipped["tokens_per_event"] = "no token counts"
    if feats["proxy_events"].to_numpy().any():
        out["proxy_share"] = feats["proxy_events"].to_numpy(float) / per_event
    else:
        skipped["proxy_share"] = "no proxy_provider values"
    if clock_aligned is not None:
        out["clock_aligned"] = clock_aligned.astype(float)
    else:
        skipped["clock_aligned"] = "synchrony disabled"
    if feats["release_window_events"].to_numpy().any():
        out["release_share"] = feats["release_events"].to_numpy(float) / per_event
    else:
        skipped["release_share"] = "no model released inside the observed period"
    created = _times(accounts["created_at"]) if "created_at" in accounts else np.full(len(first),
                                                                                      np.nan)
    if np.isfinite(created).any():
        out["age_days"] = np.log1p(np.clip((first - created) / _DAY_US, 0.0, None))
    else:
        skipped["age_days"] = "no created_at"
    status = accounts["status"] if "status" in accounts else pd.Series([pd.NA] * len(first))
    banned = (status.astype("string").str.lower() == "banned").fillna(False).to_numpy(bool)
    if banned.any():
        out["banned"] = banned.astype(float)
        banned_at = (_times(accounts["banned_at"]) if "banned_at" in accounts
                     else np.full(len(first), np.nan))
        if np.isfinite(banned_at).any():
            out["ban_after_days"] = np.clip((banned_at - first) / _DAY_US, 0.0, None)
    else:
        skipped["banned"] = "no banned accounts"
    return out, skipped


def declared_features(accounts: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The accounts-file columns the user declared: numbers as floats, others as codes."""
    out: dict[str, np.ndarray] = {}
    for col in columns:
        if col not in accounts.columns:
            raise ConfigError(f"--account-feature {col!r} is not a column of the accounts file "
                              f"(columns: {[c for c in accounts.columns if c != 'key']})",
                              column=col)
        values = accounts[col]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            out[f"attr_{col}"] = values.astype(float).to_numpy()
        elif pd.api.types.is_datetime64_any_dtype(values):
            out[f"attr_{col}"] = _times(values) / _DAY_US
        else:
            codes, _ = pd.factorize(values.astype("string"), sort=True)
            out[f"attr_{col}"] = np.where(codes >= 0, codes, np.nan).astype(float)
    return out


def link_operator(links: Links, n: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Row-normalized symmetric link matrix and each account's link strength."""
    t = links.table
    a, b = t["a"].to_numpy(), t["b"].to_numpy()
    w = links.edge_weights() if len(t) else np.zeros(0)
    m = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                      shape=(n, n))
    strength = np.asarray(m.sum(axis=1)).ravel()
    inv = np.divide(1.0, strength, out=np.zeros(n), where=strength > 0)
    return (sp.diags(inv) @ m).tocsr(), strength


def account_features(graph: HeteroGraph, feats: pd.DataFrame, links: Links, *,
                     flagged: np.ndarray, clock_aligned: np.ndarray | None = None,
                     options: ScoringOptions | None = None) -> AccountFeatures:
    """Own, declared and neighbourhood features of every account (see the module docstring).

    ``feats`` is the pipeline's per-account activity table, ``flagged`` the community stage's
    account flags (for the share of flagged neighbours).
    """
    options = options or ScoringOptions()
    accounts = graph.accounts.reset_index(drop=True)
    n = len(accounts)
    own, skipped = own_features(accounts, feats, clock_aligned)
    kinds = kind_incidences(graph)
    for k in graph.registry.kinds:
        if k.is_signal and k.source == ACCOUNT_LABEL and k.name not in kinds:
            skipped[f"{k.name} features"] = f"no {k.column} values"
    for name, b in kinds.items():
        own.update(_kind_features(b, name))
    for c in feats.columns:  # relations (transfers, referrals): features.relation_features
        if c.startswith("rel_"):
            own[c] = feats[c].to_numpy(float)
    directions = {c: DIRECTIONS.get(c, 1 if c.startswith(("distinct_", "shared_")) else 0)
                  for c in own}
    declared = declared_features(accounts, options.account_features)
    directions.update({c: 0 for c in declared})
    nb = Neighbourhood(*link_operator(links, n), kinds)
    neigh: dict[str, np.ndarray] = {"link_strength": np.log1p(nb.strength)}
    for c in NEIGHBOUR_MEANS:
        if c in own:
            neigh[f"nb_{c}"] = np.where(nb.strength > 0, nb.links @ np.nan_to_num(own[c]), np.nan)
            directions[f"nb_{c}"] = directions[c]
    seeds = feats["seed_actor"].notna().to_numpy(bool)
    for label, vec in (("banned", own.get("banned")), ("seed", seeds.astype(float)),
                       ("flagged", flagged.astype(float))):
        if vec is None or not np.any(vec):
            skipped[f"neighbour {label} share"] = f"no {label} accounts"
            continue
        for where, share in nb.share(vec).items():
            col = "nb_" + label + "_share" if where == "links" else f"{where}_{label}_share"
            neigh[col] = share
            directions[col] = 1
    directions.update({c: DIRECTIONS.get(c, directions.get(c, 1)) for c in neigh
                       if c not in directions})
    table = pd.DataFrame({**own, **declared, **neigh})
    values = table.to_numpy(float)
    lo, hi = np.nanmin(np.where(np.isnan(values), np.inf, values), axis=0), np.nanmax(
        np.where(np.isnan(values), -np.inf, values), axis=0)
    usable = [c for c, a, b in zip(table.columns, lo, hi) if np.isfinite(a) and b > a]
    for c in table.columns.difference(usable):
        skipped[c] = "constant in this dataset"
    return AccountFeatures(table[usable], {c: directions[c] for c in usable}, nb,
                           used=usable, skipped=skipped)


def column_surprise(values: pd.Series, direction: int) -> pd.Series:
    """``-log`` of the share of accounts (among those where the feature is defined) at least as
    extreme as each one in the suspicious ``direction`` (``1`` up, ``-1`` down); NaN where
    undefined.

    >>> column_surprise(pd.Series([0.0, 0.0, 0.0, 5.0]), 1).round(3).tolist()
    [0.0, 0.0, 0.0, 1.386]
    """
    # Rounded first: values equal but for the summation order (which follows account order,
    # e.g. pseudonymized ids) tie exactly.
    signed = (values.astype(float) * float(direction)).round(12)
    return 0.0 - np.log(signed.rank(method="max", ascending=False, pct=True))


def tail_surprise(table: pd.DataFrame, directions: dict[str, int]) -> pd.DataFrame:
    """Per directed feature, :func:`column_surprise`; the undirected features are left out.

    >>> x = pd.DataFrame({"up": [0.0, 0.0, 0.0, 5.0], "none": [1.0, 2.0, 3.0, 4.0]})
    >>> tail_surprise(x, {"up": 1, "none": 0})["up"].round(3).tolist()  # the usual value says nothing
    [0.0, 0.0, 0.0, 1.386]
    """
    return pd.DataFrame({c: column_surprise(table[c], directions[c]) for c in table.columns
                         if directions.get(c, 0) != 0}, index=table.index)


def rank_score(table: pd.DataFrame, directions: dict[str, int]) -> np.ndarray:
    """Unsupervised account score in [0, 1]: the percentile of the mean tail surprise
    (:func:`column_surprise`) of the features present (NaN features do not count); see the
    module docstring. Two features at a time, on two threads: a million accounts never hold
    every feature's surprise at once."""
    cols = [c for c in table.columns if directions.get(c, 0) != 0]
    if not len(table) or not cols:
        return np.zeros(len(table))
    total, present = np.zeros(len(table)), np.zeros(len(table))
    for lo in range(0, len(cols), 2):  # two features at a time (pandas ranks release the GIL)
        for s in thread_map(lambda c: column_surprise(table[c], directions[c]).to_numpy(float),
                            cols[lo:lo + 2], workers=2):
            has = ~np.isnan(s)
            total += np.where(has, s, 0.0)
            present += has
    mean = pd.Series(np.divide(total, present, out=np.zeros(len(table)), where=present > 0))
    return mean.round(12).rank(pct=True, method="average").to_numpy(float)


def combined_evidence(community_p: np.ndarray, account: np.ndarray) -> np.ndarray:
    """``1 - p`` of Fisher's combination of the community's p-value (the FDR cut's) and the
    account's own tail p-value (``1 - account_score`` percentile, at least ``1 / n``):
    ``-2 (log p_c + log p_a) ~ chi2(4)``. Both independent pieces of evidence count; either
    alone can raise an account.

    >>> p_c, score = np.array([1.0, 1.0, 1e-6, 1.0]), np.array([0.5, 0.75, 0.5, 0.0])
    >>> combined_evidence(p_c, score).round(3).tolist()  # p_a at least 1/4 with 4 accounts
    [0.153, 0.403, 1.0, 0.0]
    """
    n = max(len(account), 1)
    p_a = np.clip(1.0 - np.asarray(account, dtype=float), 1.0 / n, 1.0)
    p_c = np.clip(np.nan_to_num(np.asarray(community_p, dtype=float), nan=1.0), 1e-300, 1.0)
    return 1.0 - stats.chi2.sf(-2.0 * (np.log(p_c) + np.log(p_a)), 4)


def noisy_or(*scores: np.ndarray) -> np.ndarray:
    """1 - prod(1 - s): either score alone can raise the combined one."""
    out = np.ones_like(np.asarray(scores[0], dtype=float))
    for s in scores:
        out = out * (1.0 - np.clip(np.asarray(s, dtype=float), 0.0, 1.0))
    return 1.0 - out


def combine(community: np.ndarray, account: np.ndarray, flagged: np.ndarray,
            flag_threshold: float, community_p: np.ndarray | None = None) -> np.ndarray:
    """``suspicion``: the noisy-OR of both scores for flagged accounts; for the others the
    larger of the community suspicion and ``evidence * flag_threshold``, kept below the
    threshold (the account score orders unflagged accounts but does not flag on its own, so
    ``suspicion >= flag_threshold`` still means flagged). ``evidence`` is
    :func:`combined_evidence` of the community's p-value and the account score (the account
    score alone when no p-values are given)."""
    evidence = account if community_p is None else combined_evidence(community_p, account)
    below = below_threshold(np.maximum(community, evidence * flag_threshold), flag_threshold)
    return np.where(flagged, noisy_or(community, account), below)


def manifest_entry(features: AccountFeatures, mode: str, extra: dict[str, Any]) -> dict[str, Any]:
    """What the manifest records about the account score."""
    return {"mode": mode, "features_used": features.used, "features_skipped": features.skipped,
            **extra}


@dataclass
class AccountScores:
    """The accounts table with the account-level columns, and its manifest entry."""

    accounts: pd.DataFrame
    manifest: dict[str, Any]


def score_accounts(graph: HeteroGraph, feats: pd.DataFrame, links: Links,
                   accounts: pd.DataFrame, *, clock_aligned: np.ndarray | None = None,
                   options: ScoringOptions | None = None, seed: int = 0,
                   flag_threshold: float = 1.0,
                   community_p: np.ndarray | None = None) -> AccountScores:
    """Add ``community_suspicion``, ``account_score`` and the combined ``suspicion`` (and, with
    a supervised model, ``top_contributions``) to the community stage's ``accounts`` table.

    Examples
    --------
    >>> import graphkit
    >>> from graphkit.detection.pipeline import detect
    >>> ds = graphkit.load("fixtures/sim-small/events.parquet",
    ...                    accounts="fixtures/sim-small/accounts.csv")
    >>> acc = detect(ds).accounts
    >>> bool((acc["suspicion"] >= acc["community_suspicion"] - 1e-4).all())
    True
    """
    options = options or ScoringOptions()
    features = account_features(graph, feats, links, flagged=accounts["flagged"].to_numpy(bool),
                                clock_aligned=clock_aligned, options=options)
    out = accounts.copy()
    out.insert(out.columns.get_loc("suspicion"), "community_suspicion", out["suspicion"])
    extra: dict[str, Any] = {}
    if options.supervised:
        from graphkit.detection import learned

        result = learned.supervised_scores(features, feats, options, seed=seed)
        score = result.probability
        out["top_contributions"] = result.top_contributions
        extra = result.manifest
        mode = "supervised"
    else:
        score = rank_score(features.table, features.directions)
        mode = "unsupervised rank average"
    out.insert(out.columns.get_loc("suspicion"), "account_score", np.round(score, 4))
    out["suspicion"] = np.round(combine(out["community_suspicion"].to_numpy(float), score,
                                        out["flagged"].to_numpy(bool), flag_threshold,
                                        community_p), 4)
    return AccountScores(out, manifest_entry(features, mode, extra))
