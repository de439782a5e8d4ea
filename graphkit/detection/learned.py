"""Supervised account score: learn from the accounts an investigator judged.

``graphkit detect --labels FILE`` (``account_id``, ``label`` 0/1) trains a gradient-boosted
tree ensemble (LightGBM) on the account features of :mod:`graphkit.detection.account_score`
plus *label-neighbour* features: the share of known-bad accounts among each account's linked
neighbours and among the co-users of each identifier kind's values.

Cross-fitting keeps every labelled account's score honest. The labelled accounts are split
into K stratified folds; for each fold, the label-neighbour features are recomputed with that
fold's labels hidden, a model is trained on the other folds, and the fold's accounts are
scored by it (and explained by its own feature contributions). A labelled account's score
therefore never comes from a model, or a feature, that saw its label. The out-of-fold scores
give the cross-validated ROC AUC and average precision reported in the manifest and the CLI,
and fit an isotonic calibration (out-of-fold score -> probability of a positive label).
Unlabelled accounts are scored by the model trained on all labels, through the same
calibration.

``top_contributions`` lists the three largest per-account contributions (LightGBM's
``pred_contrib``, TreeSHAP values in log-odds) of the model that scored the account.

A trained model is saved as JSON (``--save-model``): LightGBM's text model, the feature names,
the calibration and which accounts counted as positive; ``--model`` applies it to new data
after checking that format, version and features fit. No pickle: loading a model runs no code.

>>> import numpy as np
>>> y = np.array([1.0, 0.0, np.nan])
>>> visible = mask_labels(y, np.array([0]))
>>> visible.tolist()[1:], bool(np.isnan(visible[0]))
([0.0, nan], True)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphkit.detection.account_score import AccountFeatures, Neighbourhood, ScoringOptions
from graphkit.errors import ConfigError, SchemaError
from graphkit.io.tables import read_csv_strings

MODEL_FORMAT = "graphkit-account-model"
MODEL_VERSION = 1
TOP_CONTRIBUTIONS = 3
# Tree-ensemble settings: small trees, shrinkage, deterministic on a seed. Not tuned on any
# scenario; GADBench's defaults are of the same order.
LGBM_PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 10,
    "feature_fraction": 0.8, "lambda_l2": 1.0, "verbose": -1, "deterministic": True,
    "force_row_wise": True, "num_threads": 2,
}
NUM_ROUNDS = 200


def read_labels(path: str | Path) -> pd.DataFrame:
    """Read an investigator's labels: ``account_id``, ``label`` (0 or 1), one row per account.

    Examples
    --------
    >>> import io, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "labels.csv")
    >>> _ = open(p, "w").write("account_id,label\\na1,1\\na2,0\\n")
    >>> read_labels(p)["label"].tolist()
    [1, 0]
    """
    df = read_csv_strings(path, all_strings=True)
    for col in ("account_id", "label"):
        if col not in df.columns:
            raise SchemaError(f"labels need a {col!r} column", file=str(path), column=col)
    label = df["label"].str.strip()
    bad = ~label.isin(["0", "1"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(f"label must be 0 or 1, got {df['label'].iloc[row]!r}",
                          file=str(path), column="label", row=row + 2)
    dup = df["account_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise SchemaError(f"account {df['account_id'].iloc[row]!r} is labelled twice",
                          file=str(path), column="account_id", row=row + 2)
    return pd.DataFrame({"account_id": df["account_id"], "label": label.astype(int)})


def label_vector(account_ids: pd.Series, banned: np.ndarray, seeds: np.ndarray,
                 options: ScoringOptions) -> np.ndarray:
    """Per account: 1 / 0 where labelled, NaN where not. Explicit labels win over the banned
    and seed positives; labels of accounts absent from the data are an error."""
    y = np.full(len(account_ids), np.nan)
    if options.labels_include_banned:
        y[banned] = 1.0
    if options.labels_include_seeds:
        y[seeds] = 1.0
    if options.labels is not None and len(options.labels):
        pos = pd.Index(account_ids).get_indexer(options.labels["account_id"])
        if (pos < 0).any():
            missing = options.labels["account_id"].to_numpy()[pos < 0]
            raise ConfigError(f"{int((pos < 0).sum())} labelled accounts are not in the data, "
                              f"e.g. {missing[0]!r}", column="account_id")
        y[pos] = options.labels["label"].to_numpy(float)
    return y


def mask_labels(y: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """``y`` with the labels of the ``hidden`` accounts removed (NaN)."""
    visible = y.copy()
    visible[hidden] = np.nan
    return visible


def label_neighbour_features(nb: Neighbourhood) -> Callable[[np.ndarray], pd.DataFrame]:
    """Features from the labels a model may see: share of known-bad linked neighbours and
    co-users per kind (an account's own label never counts: shares exclude the account)."""

    def compute(visible: np.ndarray) -> pd.DataFrame:
        bad = np.nan_to_num(visible, nan=0.0) == 1.0
        return pd.DataFrame({f"{where}_known_bad_share": v for where, v in nb.share(bad).items()})

    return compute


@dataclass
class CrossFit:
    """Out-of-fold and full-model scores of a cross-fitted tree ensemble."""

    raw: np.ndarray  # log-odds: out-of-fold for labelled accounts, full model for the rest
    contributions: np.ndarray  # accounts x features, the scoring model's own contributions
    feature_names: list[str]
    labelled: np.ndarray
    y: np.ndarray
    folds: int
    model: Any = field(repr=False, default=None)  # the full model (lightgbm.Booster)

    @property
    def oof(self) -> np.ndarray:
        return self.raw[self.labelled]


def _train(x: pd.DataFrame, y: np.ndarray, seed: int):
    import lightgbm as lgb

    params = {**LGBM_PARAMS, "seed": seed,
              "min_data_in_leaf": int(min(LGBM_PARAMS["min_data_in_leaf"], max(2, len(y) // 20)))}
    data = lgb.Dataset(x.to_numpy(float), label=y, feature_name=list(x.columns),
                       free_raw_data=True)
    return lgb.train(params, data, num_boost_round=NUM_ROUNDS)


# How a booster scores a feature table: log-odds and per-feature contributions.
Predict = Callable[[Any, pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def _predict(model, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    values = x.to_numpy(float)
    raw = model.predict(values, raw_score=True)
    contrib = model.predict(values, pred_contrib=True)[:, :-1]  # last column: the bias
    return raw, contrib


def _folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    from sklearn.model_selection import StratifiedKFold

    n_min = int(min((y == 1).sum(), (y == 0).sum()))
    if n_min < 2:
        raise ConfigError(f"supervised scoring needs at least 2 positive and 2 negative labels; "
                          f"got {int((y == 1).sum())} positive, {int((y == 0).sum())} negative")
    skf = StratifiedKFold(n_splits=min(k, n_min), shuffle=True, random_state=seed)
    return [test for _, test in skf.split(np.zeros(len(y)), y)]


def cross_fit(x: pd.DataFrame, y: np.ndarray,
              label_features: Callable[[np.ndarray], pd.DataFrame] | None = None, *,
              folds: int = 5, seed: int = 0, predict: Predict | None = None) -> CrossFit:
    """Cross-fitted scores of every account (see the module docstring).

    ``y`` is 1 / 0 for labelled accounts and NaN for the rest; ``label_features(visible)``
    builds features from the labels a model may see (hidden ones are NaN). ``predict`` scores
    the unlabelled accounts with the full model (the many; the folds score the few labelled
    ones here); by default here too.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame({"f": rng.normal(size=400)})
    >>> y = (x["f"] + rng.normal(scale=0.5, size=400) > 0).astype(float).to_numpy()
    >>> fit = cross_fit(x, y, folds=4)
    >>> from graphkit.investigate.evaluate import roc_auc
    >>> roc_auc(fit.y, fit.oof) > 0.85
    True
    """
    labelled = np.flatnonzero(~np.isnan(y))
    y_lab = y[labelled]
    build = label_features or (lambda visible: pd.DataFrame(index=range(len(x))))
    n = len(x)
    raw = np.zeros(n)
    names: list[str] | None = None
    contrib: np.ndarray | None = None
    parts = _folds(y_lab, folds, seed)
    for k, test in enumerate(parts):
        hidden = labelled[test]
        xf = pd.concat([x, build(mask_labels(y, hidden))], axis=1)
        train = np.setdiff1d(labelled, hidden)
        model = _train(xf.iloc[train], y[train], seed + k)
        raw[hidden], c = _predict(model, xf.iloc[hidden])
        if contrib is None:
            names = list(xf.columns)
            contrib = np.zeros((n, len(names)))
        contrib[hidden] = c
    xf = pd.concat([x, build(y)], axis=1)
    model = _train(xf.iloc[labelled], y_lab, seed + len(parts))
    rest = np.setdiff1d(np.arange(n), labelled)
    if len(rest):
        raw[rest], contrib[rest] = (predict or _predict)(model, xf.iloc[rest])
    return CrossFit(raw, contrib, names or list(xf.columns), labelled, y_lab, len(parts), model)


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y.astype(int), score))


def isotonic(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic calibration points (score thresholds, probabilities) fitted on out-of-fold
    scores; apply with ``np.interp`` (flat beyond the ends)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y)
    return np.asarray(iso.X_thresholds_, float), np.asarray(iso.y_thresholds_, float)


def top_contributions(contrib: np.ndarray, names: list[str], k: int = TOP_CONTRIBUTIONS
                      ) -> np.ndarray:
    """Per row: the ``k`` largest contributions by size, as 'name +1.20; other -0.40'.

    >>> top_contributions(np.array([[0.1, -2.0, 0.5]]), ["a", "b", "c"], k=2).tolist()
    ['b -2.00; c +0.50']
    """
    if contrib.shape[1] == 0:
        return np.full(contrib.shape[0], "", dtype=object)
    k = min(k, contrib.shape[1])
    idx = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(contrib, idx, axis=1)
    parts = np.char.add(np.char.add(np.asarray(names)[idx], " "),
                        np.char.mod("%+.2f", vals))
    out = parts[:, 0]
    for j in range(1, k):  # k columns, not rows
        out = np.char.add(np.char.add(out, "; "), parts[:, j])
    return out.astype(object)


@dataclass
class Supervised:
    """Calibrated probabilities, their explanations and the manifest entry."""

    probability: np.ndarray
    top_contributions: np.ndarray
    manifest: dict[str, Any]


def _design(features: AccountFeatures, options: ScoringOptions) -> pd.DataFrame:
    # When banned accounts are the positives, the account's own ban status is the label itself.
    drop = {"banned", "ban_after_days"} if options.labels_include_banned else set()
    return features.table.drop(columns=[c for c in features.table.columns if c in drop])


def supervised_scores(features: AccountFeatures, feats: pd.DataFrame, options: ScoringOptions,
                      *, seed: int = 0) -> Supervised:
    """Train (cross-fitted) or apply a saved model; see the module docstring."""
    banned = features.table["banned"].to_numpy() == 1 if "banned" in features.table else (
        np.zeros(len(feats), bool))
    seeds = feats["seed_actor"].notna().to_numpy(bool)
    build = label_neighbour_features(features.neighbourhood)
    if options.model_path is not None:
        return _apply_saved(features, feats, options, banned, seeds, build)
    y = label_vector(feats["account_id"], banned, seeds, options)
    fit = cross_fit(_design(features, options), y, build, folds=options.folds, seed=seed,
                    predict=options.predict)
    from graphkit.investigate.evaluate import roc_auc

    auc, ap = roc_auc(fit.y, fit.oof), average_precision(fit.y, fit.oof)
    xs, ps = isotonic(fit.oof, fit.y)
    prob = np.interp(fit.raw, xs, ps)
    manifest = {"labelled_accounts": len(fit.y), "positive_labels": int(fit.y.sum()),
                "folds": fit.folds, "cv_auc": round(auc, 4), "cv_average_precision": round(ap, 4),
                "calibration": "isotonic on out-of-fold scores", "model": "lightgbm",
                "model_params": {**LGBM_PARAMS, "num_boost_round": NUM_ROUNDS},
                "model_features": fit.feature_names}
    if options.save_model:
        save_model(options.save_model, fit, xs, ps, options)
        manifest["saved_model"] = str(options.save_model)
    return Supervised(prob, top_contributions(fit.contributions, fit.feature_names), manifest)


def save_model(path: str | Path, fit: CrossFit, xs: np.ndarray, ps: np.ndarray,
               options: ScoringOptions) -> Path:
    """Write the full model, its feature names and calibration as one JSON file."""
    doc = {"format": MODEL_FORMAT, "version": MODEL_VERSION, "features": fit.feature_names,
           "calibration": {"score": xs.tolist(), "probability": ps.tolist()},
           "labels_include_banned": options.labels_include_banned,
           "labels_include_seeds": options.labels_include_seeds,
           "cv_auc": roc_auc_safe(fit), "booster": fit.model.model_to_string()}
    p = Path(path)
    try:
        p.write_text(json.dumps(doc), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write model: {exc}", file=str(p)) from exc
    return p


def roc_auc_safe(fit: CrossFit) -> float:
    from graphkit.investigate.evaluate import roc_auc

    return round(roc_auc(fit.y, fit.oof), 4)


@dataclass
class SavedModel:
    """A model read back by :func:`load_model`."""

    booster: Any
    features: list[str]
    score: np.ndarray
    probability: np.ndarray
    labels_include_banned: bool
    labels_include_seeds: bool


def load_model(path: str | Path) -> SavedModel:
    """Read and validate a model written by :func:`save_model`."""
    import lightgbm as lgb

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read model: {exc}", file=str(path)) from exc
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise ConfigError("not a graphkit account model", file=str(path))
    if doc.get("version") != MODEL_VERSION:
        raise ConfigError(f"model version {doc.get('version')!r} is not {MODEL_VERSION}",
                          file=str(path))
    try:
        booster = lgb.Booster(model_str=doc["booster"])
    except (KeyError, lgb.basic.LightGBMError) as exc:
        raise ConfigError(f"model text does not parse: {exc}", file=str(path)) from exc
    if booster.feature_name() != doc["features"]:
        raise ConfigError("model features do not match its feature list", file=str(path))
    cal = doc["calibration"]
    return SavedModel(booster, list(doc["features"]), np.asarray(cal["score"], float),
                      np.asarray(cal["probability"], float),
                      bool(doc["labels_include_banned"]), bool(doc["labels_include_seeds"]))


def _apply_saved(features: AccountFeatures, feats: pd.DataFrame, options: ScoringOptions,
                 banned: np.ndarray, seeds: np.ndarray, build) -> Supervised:
    from graphkit.investigate.evaluate import roc_auc

    saved = load_model(options.model_path)
    opts = ScoringOptions(labels=options.labels,
                          labels_include_banned=saved.labels_include_banned,
                          labels_include_seeds=saved.labels_include_seeds)
    y = label_vector(feats["account_id"], banned, seeds, opts)
    x = pd.concat([features.table, build(y)], axis=1)
    missing = [f for f in saved.features if f not in x.columns]
    if len(missing) > len(saved.features) // 2:
        raise ConfigError(f"the data lacks most of the model's features, e.g. {missing[:5]}",
                          file=str(options.model_path))
    x = x.reindex(columns=saved.features)  # absent features are missing values to the trees
    raw, contrib = (options.predict or _predict)(saved.booster, x)
    prob = np.interp(raw, saved.score, saved.probability)
    manifest: dict[str, Any] = {"model": str(options.model_path), "features_missing": missing}
    if options.labels is not None and len(options.labels):
        has = ~np.isnan(y)
        manifest["labelled_accounts"] = int(has.sum())
        manifest["holdout_auc"] = round(roc_auc(y[has], raw[has]), 4)
        manifest["holdout_average_precision"] = round(average_precision(y[has], raw[has]), 4)
    return Supervised(prob, top_contributions(contrib, saved.features), manifest)
