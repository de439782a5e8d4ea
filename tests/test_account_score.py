"""Account features, the unsupervised account score and the combined output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.detection.account_score import (
    Neighbourhood,
    ScoringOptions,
    declared_features,
    noisy_or,
    rank_score,
)
from graphkit.detection.pipeline import detect
from graphkit.errors import ConfigError
from graphkit.investigate.evaluate import read_truth, roc_auc
from graphkit.io import load

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _load(**kw):
    return load(FIXTURE / "events.parquet", accounts=FIXTURE / "accounts.csv",
                seeds=FIXTURE / "seeds.csv", **kw)


def test_rank_score_follows_directions_and_ignores_undirected():
    x = pd.DataFrame({"up": [0.0, 1.0, 2.0, 3.0], "down": [3.0, 2.0, 1.0, 0.0],
                      "free": [9.0, -9.0, 9.0, -9.0]})
    s = rank_score(x, {"up": 1, "down": -1, "free": 0})
    assert np.all(np.diff(s) > 0)
    # A missing value does not count against or for the account.
    x.loc[3, "down"] = np.nan
    assert rank_score(x, {"up": 1, "down": -1})[3] == pytest.approx(1.0)


def test_neighbour_share_excludes_the_account_itself():
    # accounts 0, 1, 2 share value 0; account 3 is alone on value 1.
    b = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float))
    nb = Neighbourhood(sp.csr_matrix((4, 4)), np.zeros(4), {"ip": b})
    share = nb.share(np.array([1.0, 0.0, 0.0, 1.0]))["ip"]
    assert share[0] == 0.0 and share[1] == pytest.approx(0.5) and share[2] == pytest.approx(0.5)
    assert np.isnan(share[3])  # no co-user: unknown, not innocent
    assert np.isnan(nb.share(np.ones(4))["links"]).all()


def test_declared_features_numbers_and_codes_and_unknown_column():
    acc = pd.DataFrame({"plan": ["pro", None, "free"], "seats": [3, 1, 2]})
    out = declared_features(acc, ("plan", "seats"))
    assert out["attr_seats"].tolist() == [3.0, 1.0, 2.0]
    assert out["attr_plan"][0] == 1.0 and np.isnan(out["attr_plan"][1])
    with pytest.raises(ConfigError, match="no_such"):
        declared_features(acc, ("no_such",))


def test_noisy_or_bounds():
    assert noisy_or(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 0.2])).tolist() == [
        0.0, 0.75, 1.0]


def test_detect_writes_account_level_columns_and_manifest(tmp_path):
    result = detect(_load(), scoring=ScoringOptions(account_features=("email_domain",)))
    acc = result.accounts
    for col in ("community_suspicion", "account_score", "suspicion"):
        assert acc[col].between(0, 1).all()
    assert (acc["suspicion"] >= acc["community_suspicion"] - 1e-4).all()
    info = result.scoring
    assert "attr_email_domain" in info["features_used"]
    # Every identifier kind in the graph got its features (a loop over the registry's kinds).
    for kind in ("ip", "template", "user_agent"):
        assert f"shared_{kind}_surprise" in info["features_used"]
    truth = read_truth(FIXTURE / "truth.csv")
    m = acc.merge(truth, on="account_id")
    auc = roc_auc(m["campaign"].fillna("").ne("").to_numpy(), m["account_score"].to_numpy())
    assert auc > 0.8  # the account score alone ranks the small simulation's fleets high
    result.write(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["outputs"]["account_scoring"]["mode"].startswith("unsupervised")


def test_missing_kind_is_skipped_not_invented(tmp_path):
    events = pd.read_parquet(FIXTURE / "events.parquet").drop(columns=["payment_id"])
    events.to_parquet(tmp_path / "events.parquet")
    accounts = pd.read_csv(FIXTURE / "accounts.csv").drop(columns=["payment_id"])
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    info = detect(load(tmp_path / "events.parquet", accounts=tmp_path / "accounts.csv")).scoring
    assert not any("payment" in f for f in info["features_used"])
    assert "payment features" in info["features_skipped"]


def test_cli_account_feature_unknown_column_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["detect", str(FIXTURE / "events.parquet"), "--accounts",
                                    str(FIXTURE / "accounts.csv"), "--out", str(tmp_path / "o"),
                                    "--account-feature", "nope"])
    assert res.exit_code == 2 and "nope" in res.output
