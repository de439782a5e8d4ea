"""Evaluation of a detection result against ground truth, beside the naive recipe.

Figures (accounts are positive when ``truth.campaign`` is non-empty):

* precision, recall and F1 of ``flagged`` accounts;
* ROC AUC of the account ``suspicion`` (ties count half);
* recall per campaign and false-positive rate per legitimate kind;
* adjusted Rand index of community ids against campaigns, over flagged campaign accounts
  (does each campaign come out as its own cluster?).

The *naive recipe* is what many teams start from: link accounts that share any entity used by at
most 10 accounts and call every connected component of 3 or more accounts suspicious.

>>> import pandas as pd
>>> auc = roc_auc(pd.Series([1, 1, 0, 0]).to_numpy(), pd.Series([0.9, 0.8, 0.1, 0.8]).to_numpy())
>>> round(auc, 3)
0.875
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import rankdata

from graphkit.errors import ConfigError, SchemaError
from graphkit.graph.hetero import HeteroGraph
from graphkit.registry import ACCOUNT_SIGNAL_RELS

NAIVE_MAX_SHARED = 10
NAIVE_MIN_COMPONENT = 3


@dataclass
class Metrics:
    """Figures for one method on one truth set."""

    method: str
    n_accounts: int
    n_positive: int
    n_flagged: int
    precision: float
    recall: float
    f1: float
    auc: float
    ari: float
    recall_per_campaign: dict[str, float] = field(default_factory=dict)
    fpr_per_kind: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney ROC AUC (ties count half); NaN when one class is absent."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def adjusted_rand_index(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Hubert & Arabie's ARI from the contingency table (1 = identical partitions)."""
    if len(labels_a) < 2:
        return float("nan")
    _, a = np.unique(labels_a, return_inverse=True)
    _, b = np.unique(labels_b, return_inverse=True)
    table = sp.coo_matrix((np.ones(len(a)), (a, b))).tocsr()
    comb = lambda x: x * (x - 1) / 2.0
    sum_cells = comb(table.data).sum()
    sum_a = comb(np.asarray(table.sum(axis=1)).ravel()).sum()
    sum_b = comb(np.asarray(table.sum(axis=0)).ravel()).sum()
    expected = sum_a * sum_b / comb(len(a))
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:
        return 1.0
    return float((sum_cells - expected) / (maximum - expected))


def read_truth(path: str | Path) -> pd.DataFrame:
    """Read truth.csv (account_id, campaign, actor, kind)."""
    truth = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"account_id", "campaign", "kind"} - set(truth.columns)
    if missing:
        raise SchemaError(f"missing column(s) {sorted(missing)}", file=str(path),
                          column=min(missing))
    return truth


def score_method(method: str, accounts: pd.DataFrame, truth: pd.DataFrame) -> Metrics:
    """Metrics of one method's per-account output (account_id, community_id, suspicion, flagged)."""
    df = truth.merge(accounts, on="account_id", how="left", validate="one_to_one")
    missing = df["suspicion"].isna()
    if missing.any():
        raise ConfigError(
            f"{int(missing.sum())} truth accounts are missing from the {method} output, "
            f"e.g. {df.loc[missing, 'account_id'].iloc[0]!r}"
        )
    y = (df["campaign"] != "").to_numpy()
    flagged = df["flagged"].astype(bool).to_numpy()
    tp = int((y & flagged).sum())
    precision = tp / flagged.sum() if flagged.sum() else 0.0
    recall = tp / y.sum() if y.sum() else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    per_campaign = (
        df[y].groupby("campaign")["flagged"].mean().astype(float).round(4).to_dict()
    )
    per_kind = df[~y].groupby("kind")["flagged"].mean().astype(float).round(4).to_dict()
    both = y & flagged
    ari = adjusted_rand_index(df.loc[both, "community_id"].to_numpy(),
                              df.loc[both, "campaign"].to_numpy())
    return Metrics(
        method=method, n_accounts=len(df), n_positive=int(y.sum()), n_flagged=int(flagged.sum()),
        precision=round(float(precision), 4), recall=round(float(recall), 4),
        f1=round(float(f1), 4), auc=round(roc_auc(y, df["suspicion"].to_numpy(float)), 4),
        ari=round(ari, 4), recall_per_campaign=per_campaign, fpr_per_kind=per_kind,
    )


def naive_components(graph: HeteroGraph, max_shared: int = NAIVE_MAX_SHARED,
                     min_component: int = NAIVE_MIN_COMPONENT) -> pd.DataFrame:
    """The naive recipe: components over entities shared by at most ``max_shared`` accounts.

    Suspicion is the component size scaled to [0, 1] (log), flagged when the component has at
    least ``min_component`` accounts.
    """
    n = len(graph.accounts)
    blocks = []
    for edge_type in ACCOUNT_SIGNAL_RELS:
        if edge_type not in graph.edges:
            continue
        counts, _ = graph.incidence(edge_type)
        b = sp.csr_matrix(counts, dtype=np.float32)
        b.data[:] = 1.0
        degree = np.diff(b.tocsc().indptr)
        keep = np.flatnonzero((degree >= 2) & (degree <= max_shared))
        blocks.append(b[:, keep])
    inc = sp.hstack(blocks).tocsr() if blocks else sp.csr_matrix((n, 0))
    # Accounts and entities as one bipartite graph; its components are the naive clusters.
    bip = sp.bmat([[None, inc], [inc.T, None]]).tocsr()
    _, labels = connected_components(bip, directed=False)
    labels = labels[:n]
    sizes = np.bincount(labels)[labels]
    flagged = sizes >= min_component
    susp = np.log(sizes) / np.log(max(sizes.max(), 2))
    return pd.DataFrame({"account_id": graph.accounts["account_id"].to_numpy(),
                         "community_id": labels, "suspicion": susp, "flagged": flagged})


def format_metrics(rows: list[Metrics]) -> str:
    """A plain-text table of the headline figures, then per campaign and per kind."""
    header = (f"{'method':<10} {'flagged':>8} {'precision':>9} {'recall':>7} {'F1':>6} "
              f"{'AUC':>6} {'ARI':>6}")
    lines = [header]
    for m in rows:
        lines.append(f"{m.method:<10} {m.n_flagged:>8} {m.precision:>9.4f} {m.recall:>7.4f} "
                     f"{m.f1:>6.4f} {m.auc:>6.4f} {m.ari:>6.4f}")
    for m in rows:
        lines.append(f"\n{m.method}: recall per campaign")
        lines += [f"  {k:<28} {v:.4f}" for k, v in sorted(m.recall_per_campaign.items())]
        lines.append(f"{m.method}: false-positive rate per legitimate kind")
        lines += [f"  {k:<28} {v:.4f}" for k, v in sorted(m.fpr_per_kind.items())]
    return "\n".join(lines)


def evaluate(result_dir: str | Path, truth_path: str | Path, *, naive: bool = True
             ) -> list[Metrics]:
    """Score ``result_dir`` (output of ``graphkit detect``) and, optionally, the naive recipe on
    the same inputs (read back from the result's manifest)."""
    result_dir = Path(result_dir)
    accounts_path = result_dir / "accounts.csv"
    if not accounts_path.exists():
        raise ConfigError("not a detection output (no accounts.csv)", file=str(result_dir))
    truth = read_truth(truth_path)
    accounts = pd.read_csv(accounts_path, dtype={"account_id": str}, keep_default_na=False)
    rows = [score_method("graphkit", accounts, truth)]
    if naive:
        from graphkit.graph.hetero import build_graph
        from graphkit.io import load

        manifest = json.loads((result_dir / "manifest.json").read_text(encoding="utf-8"))
        inputs = manifest["inputs"]
        dataset = load([e["path"] for e in inputs["events"]],
                       accounts=(inputs.get("accounts") or {}).get("path"))
        rows.append(score_method("naive", naive_components(build_graph(dataset)), truth))
    return rows
