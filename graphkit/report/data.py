"""Read a ``graphkit detect`` output directory into the tables the report draws from."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graphkit.detection.activity import read_activity
from graphkit.errors import ConfigError, InputError
from graphkit.registry import signal_kinds

# Columns of links.csv that are not per-signal similarities.
LINK_META = ("account_a", "account_b", "score", "inclusion")
# The kinds the cluster pictures draw: every link signal (specific first, then supporting).
REPORTED_KINDS = (*signal_kinds("specific"), *signal_kinds("supporting"))


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"account_id": str, "account_a": str, "account_b": str,
                                      "predecessor": str, "successor": str})
    except FileNotFoundError:
        raise InputError(f"{path.name} not found in {path.parent} (is it a `graphkit detect` "
                         "output directory?)", file=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read {path.name}: {exc}", file=str(path)) from exc
    for col in required:
        if col not in df.columns:
            raise InputError(f"{path.name} has no column {col!r}", file=str(path), column=col)
    return df


@dataclass
class EntityEdges:
    """Account-entity edges of the whole graph as integer arrays (one row per edge)."""

    account: np.ndarray  # account code (row of ``accounts``)
    kind: np.ndarray  # index into ``labels``
    entity: np.ndarray  # node code within its label
    count: np.ndarray  # requests
    labels: list[str]
    keys: dict[str, np.ndarray]  # label -> node keys by code
    n_accounts: dict[str, np.ndarray]  # label -> accounts using the node (whole graph)


@dataclass
class DetectionOutput:
    """The files of one detection run (see ``graphkit detect --help``)."""

    directory: Path
    accounts: pd.DataFrame
    communities: pd.DataFrame
    links: pd.DataFrame
    manifest: dict = field(default_factory=dict)
    successions: pd.DataFrame | None = None
    changes: pd.DataFrame | None = None
    activity: pd.DataFrame | None = None
    graph_accounts: pd.DataFrame | None = None
    entity_edges: EntityEdges | None = None

    @property
    def settings(self) -> dict:
        return dict(self.manifest.get("settings") or {})

    @property
    def flag_threshold(self) -> float | None:
        value = self.settings.get("flag_threshold")
        return float(value) if value is not None else None

    @property
    def signal_columns(self) -> list[str]:
        return [c for c in self.links.columns if c not in LINK_META
                and pd.api.types.is_numeric_dtype(self.links[c])]

    @property
    def signal_weights(self) -> dict[str, float]:
        """Weights of the links.csv signal columns (from the manifest; 0 when unknown)."""
        weights = self.settings.get("signal_weights") or {}
        return {c: float(weights.get(c, 0.0)) for c in self.signal_columns}

    def members(self, community_id: int) -> pd.DataFrame:
        """The community's accounts and those attached to it, highest membership first."""
        a = self.accounts
        mask = a["community_id"] == community_id
        if "attached_to" in a.columns:
            mask |= a["attached_to"] == community_id
        return a[mask].sort_values(["membership", "suspicion"], ascending=False)


def read_output(directory: str | os.PathLike[str], *, graph: bool = True) -> DetectionOutput:
    """Load ``directory`` (a ``graphkit detect --out`` directory)."""
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"{d} is not a directory (expected a `graphkit detect` output)",
                          file=str(d))
    accounts = _read_csv(d / "accounts.csv",
                         ("account_id", "community_id", "suspicion", "flagged", "membership"))
    communities = _read_csv(d / "communities.csv", ("community_id", "size", "suspicion",
                                                    "flagged"))
    links = _read_csv(d / "links.csv", ("account_a", "account_b", "score"))
    accounts["flagged"] = accounts["flagged"].astype(bool)
    communities["flagged"] = communities["flagged"].astype(bool)
    manifest: dict = {}
    if (d / "manifest.json").exists():
        try:
            manifest = json.loads((d / "manifest.json").read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"manifest.json is not JSON: {exc}",
                             file=str(d / "manifest.json")) from exc
    out = DetectionOutput(d, accounts, communities, links, manifest)
    if (d / "successions.csv").exists():
        out.successions = _read_csv(d / "successions.csv", ("predecessor", "successor"))
    if (d / "changes.csv").exists():
        out.changes = _read_csv(d / "changes.csv", ("change",))
    if (d / "activity.parquet").exists():
        out.activity = read_activity(d / "activity.parquet")
    if graph and (d / "graph").is_dir():
        _read_graph(out, d / "graph")
    return out


def _read_graph(out: DetectionOutput, gdir: Path) -> None:
    from graphkit.graph.hetero import HeteroGraph

    g = HeteroGraph.load(gdir)
    accounts = g.accounts
    out.graph_accounts = accounts
    labels, parts, keys, n_acc = [], [], {}, {}
    for kind in REPORTED_KINDS:
        inc = g.account_incidence(kind.label)
        if inc is None or inc.nnz == 0:
            continue
        coo = inc.tocoo()
        labels.append(kind.label)
        keys[kind.label] = g.nodes[kind.label]["key"].astype(str).to_numpy()
        n_acc[kind.label] = np.diff(inc.tocsc().indptr)
        parts.append((coo.row, np.full(coo.nnz, len(labels) - 1), coo.col, coo.data))
    if not parts:
        return
    out.entity_edges = EntityEdges(
        account=np.concatenate([p[0] for p in parts]).astype(np.int64),
        kind=np.concatenate([p[1] for p in parts]).astype(np.int64),
        entity=np.concatenate([p[2] for p in parts]).astype(np.int64),
        count=np.concatenate([p[3] for p in parts]).astype(np.int64),
        labels=labels, keys=keys, n_accounts=n_acc)
