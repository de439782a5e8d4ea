"""Supervised account score: cross-fitting without leaks, planted labels, saved models, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.detection.account_score import rank_score
from graphkit.detection.learned import cross_fit, isotonic, load_model
from graphkit.errors import ConfigError
from graphkit.investigate.evaluate import roc_auc

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _world(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Accounts whose label depends on two features (one directed, one not)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"n_events": rng.normal(size=n), "age_days": rng.normal(size=n),
                      "attr_plan": rng.integers(0, 6, size=n).astype(float),
                      "noise": rng.normal(size=n)})
    logit = 1.5 * x["n_events"] + 2.0 * (x["attr_plan"] == 3) - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y.to_numpy()


def test_shuffled_labels_give_chance_auc_out_of_fold():
    x, y = _world()
    rng = np.random.default_rng(1)
    shuffled = rng.permutation(y)
    fit = cross_fit(x, shuffled, folds=5, seed=0)
    # 4000 labelled accounts: the standard error of AUC 0.5 is about 0.01.
    assert abs(roc_auc(fit.y, fit.oof) - 0.5) < 0.05


def test_an_accounts_own_label_never_reaches_its_out_of_fold_score():
    x, y = _world()
    y = np.where(np.arange(len(y)) % 2 == 0, y, np.nan)  # half the accounts labelled
    # A label feature that *is* the visible label: perfect in training, so a model that saw
    # the held-out accounts' labels through it would score AUC 1 out of fold.
    own = lambda visible: pd.DataFrame({"own_label": np.nan_to_num(visible, nan=0.0)})
    pure = x[["noise"]]  # no real signal
    fit = cross_fit(pure, y, own, folds=5, seed=0)
    assert abs(roc_auc(fit.y, fit.oof) - 0.5) < 0.06
    # ... while the same feature computed with every label visible is perfect in sample.
    assert roc_auc(fit.y, own(y)["own_label"].to_numpy()[fit.labelled]) == 1.0


def test_label_neighbour_features_use_only_visible_labels():
    x, y = _world(2000)
    seen: list[np.ndarray] = []

    def spy(visible: np.ndarray) -> pd.DataFrame:
        seen.append(visible.copy())
        return pd.DataFrame({"k": np.nan_to_num(visible)})

    fit = cross_fit(x, y, spy, folds=4, seed=0)
    hidden_sets = [np.flatnonzero(np.isnan(v)) for v in seen[:-1]]
    assert len(hidden_sets) == fit.folds
    assert sorted(np.concatenate(hidden_sets).tolist()) == list(range(len(y)))
    assert not np.isnan(seen[-1]).any()  # the final model (for unlabelled accounts) sees all


def test_planted_labels_supervised_beats_unsupervised():
    x, y = _world()
    # The unsupervised rank average knows n_events is suspicious when high but has no
    # direction for a declared attribute; the labels carry that the plan 3 is bad.
    unsup = rank_score(x, {"n_events": 1, "age_days": -1, "attr_plan": 0, "noise": 0})
    fit = cross_fit(x, y, folds=5, seed=0)
    auc_sup, auc_unsup = roc_auc(fit.y, fit.oof), roc_auc(y, unsup)
    assert auc_sup > auc_unsup + 0.05, (auc_sup, auc_unsup)


def test_isotonic_calibration_is_monotone_and_bounded():
    x, y = _world(3000)
    fit = cross_fit(x, y, folds=3, seed=0)
    xs, ps = isotonic(fit.oof, fit.y)
    assert np.all(np.diff(ps) >= 0) and ps.min() >= 0 and ps.max() <= 1
    # Calibrated probabilities average to the positive rate on the labelled accounts.
    assert np.interp(fit.oof, xs, ps).mean() == pytest.approx(fit.y.mean(), abs=0.01)


def test_too_few_labels_is_a_clear_error():
    x, _ = _world(100)
    y = np.full(100, np.nan)
    y[:5] = [1, 0, 0, 0, 0]
    with pytest.raises(ConfigError, match="at least 2 positive"):
        cross_fit(x, y)


def _labels(tmp_path: Path) -> Path:
    truth = pd.read_csv(FIXTURE / "truth.csv", keep_default_na=False)
    labels = pd.DataFrame({"account_id": truth["account_id"],
                           "label": (truth["campaign"] != "").astype(int)})
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    return path


def _detect(tmp_path: Path, out: str, *extra: str):
    return CliRunner().invoke(main, ["detect", str(FIXTURE / "events.parquet"), "--accounts",
                                     str(FIXTURE / "accounts.csv"), "--seeds",
                                     str(FIXTURE / "seeds.csv"), "--out", str(tmp_path / out),
                                     "--top", "0", *extra])


def test_cli_supervised_save_and_apply(tmp_path):
    labels = _labels(tmp_path)
    model = tmp_path / "model.json"
    res = _detect(tmp_path, "a", "--labels", str(labels), "--save-model", str(model))
    assert res.exit_code == 0, res.output
    assert "cross-fitted AUC" in res.output
    info = json.loads((tmp_path / "a" / "manifest.json").read_text())["outputs"][
        "account_scoring"]
    assert info["mode"] == "supervised" and 0.5 < info["cv_auc"] <= 1.0
    acc = pd.read_csv(tmp_path / "a" / "accounts.csv")
    assert acc["top_contributions"].str.contains(r"[+-]\d").all()
    assert load_model(model).features == info["model_features"]
    res = _detect(tmp_path, "b", "--model", str(model), "--labels", str(labels))
    assert res.exit_code == 0, res.output
    assert "AUC" in res.output
    applied = pd.read_csv(tmp_path / "b" / "accounts.csv")
    assert applied["account_score"].between(0, 1).all()


def test_cli_bad_labels_and_bad_model_exit_2(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("account_id,label\nx,1\ny,maybe\n")
    res = _detect(tmp_path, "a", "--labels", str(bad))
    assert res.exit_code == 2 and "label" in res.output and "3" in res.output
    fake = tmp_path / "model.json"
    fake.write_text(json.dumps({"format": "something-else"}))
    res = _detect(tmp_path, "b", "--model", str(fake))
    assert res.exit_code == 2 and "not a graphkit account model" in res.output
