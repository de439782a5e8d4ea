"""Per-cluster tables for the report: the sampled subgraph, shared entities, link contributions.

Every function works on one cluster with vectorised numpy/pandas operations; the work per
cluster is capped (``max_nodes``, ``top``), so a large fleet is summarised, never drawn whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import numpy as np
import pandas as pd

from graphkit.report.data import DetectionOutput

ACCOUNT = "Account"


@dataclass
class Subgraph:
    """A drawable account-entity subgraph with its layout."""

    nodes: pd.DataFrame  # id, label, key, x, y, suspicion, membership, core, n_members, n_total
    edge_x: np.ndarray  # x0, x1, nan triplets (one line trace)
    edge_y: np.ndarray
    n_accounts: int  # members in the cluster
    shown_accounts: int
    n_entities: int  # entities shared by >= 2 of the shown accounts
    shown_entities: int

    @property
    def caption(self) -> str:
        parts = []
        if self.shown_accounts < self.n_accounts:
            parts.append(f"the {self.shown_accounts} accounts with the highest membership of "
                         f"{self.n_accounts} ({self.n_accounts - self.shown_accounts} left out)")
        else:
            parts.append(f"all {self.n_accounts} accounts")
        if self.shown_entities < self.n_entities:
            parts.append(f"the {self.shown_entities} most shared of {self.n_entities} entities "
                         f"they share ({self.n_entities - self.shown_entities} left out)")
        else:
            parts.append(f"the {self.n_entities} entities at least two of them share")
        return "Showing " + " and ".join(parts) + ". Entities used by one account are omitted."


def member_codes(out: DetectionOutput, members: pd.DataFrame) -> np.ndarray:
    """Graph account codes of ``members`` (-1 where the graph lacks the account)."""
    keys = out.graph_accounts["key"].astype(str)
    index = pd.Index(keys)
    return index.get_indexer(members["account_id"].astype(str))


def _cluster_edges(out: DetectionOutput, codes: np.ndarray) -> pd.DataFrame:
    e = out.entity_edges
    keep = np.isin(e.account, codes[codes >= 0])
    return pd.DataFrame({"account": e.account[keep], "kind": e.kind[keep],
                         "entity": e.entity[keep], "count": e.count[keep]})


def shared_entities(out: DetectionOutput, members: pd.DataFrame, top: int = 6) -> pd.DataFrame:
    """The entities most shared inside the cluster, ``top`` per kind.

    Columns: label, key, members (cluster accounts using it), n_accounts (all accounts using
    it), requests (by members).
    """
    cols = ["label", "key", "members", "n_accounts", "requests"]
    if out.entity_edges is None or out.graph_accounts is None:
        return pd.DataFrame(columns=cols)
    e = out.entity_edges
    df = _cluster_edges(out, member_codes(out, members))
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby(["kind", "entity"], as_index=False).agg(members=("account", "size"),
                                                           requests=("count", "sum"))
    g = g[g["members"] >= 2].sort_values(["kind", "members", "requests"],
                                         ascending=[True, False, False])
    g = g.groupby("kind", group_keys=False).head(top)
    rows = []
    for k, part in g.groupby("kind"):  # one group per entity kind (at most six)
        label = e.labels[int(k)]
        codes = part["entity"].to_numpy()
        rows.append(pd.DataFrame({"label": label, "key": e.keys[label][codes],
                                  "members": part["members"].to_numpy(),
                                  "n_accounts": e.n_accounts[label][codes],
                                  "requests": part["requests"].to_numpy()}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def subgraph(out: DetectionOutput, members: pd.DataFrame, *, max_nodes: int = 150,
             max_accounts: int = 70, seed: int = 7) -> Subgraph:
    """The cluster's core accounts and the entities they share, laid out by igraph.

    Keeps the ``max_accounts`` members with the highest membership, then the entities shared by
    at least two of them, interleaving kinds by rank so that no kind crowds out the others, up to
    ``max_nodes`` nodes in all. Layout: Fruchterman-Reingold from a seeded random start.
    """
    members = members.sort_values(["membership", "suspicion"], ascending=False)
    shown = members.head(min(max_accounts, max_nodes)).reset_index(drop=True)
    codes = member_codes(out, shown) if out.graph_accounts is not None else np.full(len(shown), -1)
    acc = pd.DataFrame({"label": ACCOUNT, "key": shown["account_id"].astype(str),
                        "suspicion": shown["suspicion"].to_numpy(dtype=float),
                        "membership": shown["membership"].to_numpy(dtype=float),
                        "core": shown["flagged"].to_numpy(dtype=bool),
                        "n_members": np.nan, "n_total": np.nan})
    ent = pd.DataFrame(columns=["label", "key", "n_members", "n_total"])
    src = np.zeros(0, dtype=np.int64)
    dst = np.zeros(0, dtype=np.int64)
    n_entities = 0
    if out.entity_edges is not None:
        e = out.entity_edges
        df = _cluster_edges(out, codes)
        size = df.groupby(["kind", "entity"])["account"].transform("size")
        df = df[size.to_numpy() >= 2]
        g = df.groupby(["kind", "entity"], as_index=False).agg(n=("account", "size"),
                                                               req=("count", "sum"))
        n_entities = len(g)
        g = g.sort_values(["kind", "n", "req"], ascending=[True, False, False])
        g["rank"] = g.groupby("kind").cumcount()
        g = g.sort_values(["rank", "n"], ascending=[True, False]).head(max(max_nodes - len(acc), 0))
        g = g.reset_index(drop=True)
        g["node"] = np.arange(len(g)) + len(acc)
        labels = np.array(e.labels, dtype=object)[g["kind"].to_numpy()]
        keys = np.empty(len(g), dtype=object)
        n_total = np.zeros(len(g), dtype=np.int64)
        for k in np.unique(g["kind"].to_numpy()):  # at most six kinds
            m = g["kind"].to_numpy() == k
            label = e.labels[int(k)]
            keys[m] = e.keys[label][g["entity"].to_numpy()[m]]
            n_total[m] = e.n_accounts[label][g["entity"].to_numpy()[m]]
        ent = pd.DataFrame({"label": labels, "key": keys, "n_members": g["n"].to_numpy(),
                            "n_total": n_total})
        pos = pd.Series(np.arange(len(codes)), index=codes)
        pos = pos[~pos.index.duplicated()]
        df = df.merge(g[["kind", "entity", "node"]], on=["kind", "entity"])
        src = pos.reindex(df["account"].to_numpy()).to_numpy().astype(np.int64)
        dst = df["node"].to_numpy().astype(np.int64)
    nodes = pd.concat([acc, ent.assign(suspicion=np.nan, membership=np.nan, core=False)],
                      ignore_index=True)
    n = len(nodes)
    graph = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=False)
    start = np.random.default_rng(seed).uniform(-1, 1, size=(n, 2))
    if n:
        layout = graph.layout_fruchterman_reingold(seed=start.tolist(), niter=600)
        xy = np.asarray(layout.coords, dtype=float)
    else:
        xy = np.zeros((0, 2))
    nodes["x"], nodes["y"] = xy[:, 0] if n else [], xy[:, 1] if n else []
    ex = np.column_stack([xy[src, 0], xy[dst, 0], np.full(len(src), np.nan)]).ravel()
    ey = np.column_stack([xy[src, 1], xy[dst, 1], np.full(len(src), np.nan)]).ravel()
    return Subgraph(nodes, ex, ey, n_accounts=len(members), shown_accounts=len(acc),
                    n_entities=n_entities, shown_entities=len(ent))


def link_contributions(links: pd.DataFrame, weights: dict[str, float]) -> pd.DataFrame:
    """``weight_s * sim_s`` per signal column, plus ``total`` and the ``score`` it implies."""
    cols = [c for c, w in weights.items() if c in links.columns]
    w = np.array([weights[c] for c in cols], dtype=float)
    sims = links[cols].fillna(0.0).to_numpy(dtype=float)
    contrib = pd.DataFrame(sims * w, columns=cols, index=links.index)
    contrib["total"] = contrib[cols].sum(axis=1)
    contrib["score"] = 1.0 - np.exp(-contrib["total"])
    return contrib


def cluster_links(out: DetectionOutput, members: pd.DataFrame) -> pd.DataFrame:
    """Links with both accounts in the cluster, strongest first."""
    ids = members["account_id"].astype(str)
    a = out.links["account_a"].astype(str).isin(ids)
    b = out.links["account_b"].astype(str).isin(ids)
    return out.links[a & b].sort_values("score", ascending=False)


def account_contributions(out: DetectionOutput, members: pd.DataFrame, links: pd.DataFrame,
                          accounts: pd.Series) -> tuple[pd.DataFrame, str]:
    """Per-signal contributions for ``accounts`` and how they were obtained.

    ``contrib_*`` columns of accounts.csv (a learned model's contributions) win; otherwise the
    mean link contribution of each account over its links inside the cluster.
    """
    contrib_cols = [c for c in out.accounts.columns if c.startswith("contrib_")]
    ids = accounts.astype(str)
    if contrib_cols:
        df = out.accounts.set_index(out.accounts["account_id"].astype(str)).loc[ids, contrib_cols]
        df.columns = [c[len("contrib_"):] for c in contrib_cols]
        return df.fillna(0.0), "model"
    weights = out.signal_weights
    c = link_contributions(links, weights)
    cols = [k for k in weights if k in c.columns]
    both = pd.concat([c[cols].assign(account=links["account_a"].astype(str).to_numpy()),
                      c[cols].assign(account=links["account_b"].astype(str).to_numpy())])
    mean = both[both["account"].isin(ids)].groupby("account")[cols].mean()
    return mean.reindex(ids).fillna(0.0), "links"
