"""Seed expansion: rank every account by how strongly it is tied to known accounts.

From one or more seed accounts (a banned account, a set a partner attributed), a random walk
with restart over the walk graph (:mod:`graphkit.investigate.walk`: accounts, their IPs, cards,
templates, operators and agents with link scoring's rare-value weights, the scored links and
the succession chains, :func:`chain_edges`)
gives every account a stationary mass. Accounts are ranked by that mass; each result carries
the seed it is most tied to, its similarity per signal with that seed, whether a scored link
joins them, and the identifiers they share (the vectorized top shared value per signal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphkit.detection import links as links_mod
from graphkit.detection.signals import ACCOUNT_CODES, signal_matrices
from graphkit.errors import ConfigError
from graphkit.graph.hetero import build_graph
from graphkit.investigate.successions import shared_identifiers, successions
from graphkit.investigate.walk import walk_graph
from graphkit.io import Dataset
from graphkit.io.manifest import write_manifest
from graphkit.io.outputs import result_dir
from graphkit.io.tables import write_csv
from graphkit.settings import Settings


@dataclass
class Expansion:
    """Accounts ranked by their tie to the seeds.

    ``results`` columns: rank, account_id, mass (walk mass, the ranking key), lift (mass over
    the mass a walk restarting on every account gives it), seed (the seed it is most tied to),
    tie (summed weighted similarity with that seed), linked (a scored link joins them), one
    similarity column per entity signal, shared (top shared identifier per signal).
    """

    seeds: list[str]
    results: pd.DataFrame
    settings: Settings
    inputs: dict[str, Any] = field(default_factory=dict)

    def write(self, out_dir: str | Path) -> Path:
        """Write expansion.csv, seeds.json and manifest.json into ``out_dir``, atomically and
        locked (:func:`graphkit.io.outputs.result_dir`: written into a temporary sibling,
        sealed with digests, then renamed into place)."""
        out = Path(out_dir)
        with result_dir(out, command="expand") as tmp:
            write_csv(self.results, tmp / "expansion.csv")
            (tmp / "seeds.json").write_text(json.dumps(self.seeds), encoding="utf-8")
            write_manifest(tmp, command="expand", settings=self.settings, inputs=self.inputs,
                           outputs={"seeds": len(self.seeds), "results": len(self.results)},
                           timings={})
        return out


def expand(dataset: Dataset, seeds: list[str], top: int | None = None,
           settings: Settings | None = None) -> Expansion:
    """Rank accounts by their tie to ``seeds`` (personalized PageRank from the seeds).

    Parameters
    ----------
    dataset : Dataset
        The loaded log (:func:`graphkit.load`).
    seeds : list of str
        Account ids to start from; ids absent from the data raise ConfigError.
    top : int, optional
        Results kept (default ``settings.expand_top``); seeds themselves are not listed.
    settings : Settings, optional
        ``walk_damping``, ``walk_link_weight``, ``signal_weights`` and the link-scoring knobs.

    Returns
    -------
    Expansion

    Raises
    ------
    ConfigError
        When no seed is given or a seed is not an account of the data.

    Examples
    --------
    >>> import graphkit
    >>> ds = graphkit.load("fixtures/sim-small/events.parquet",
    ...                    accounts="fixtures/sim-small/accounts.csv")
    >>> seed = ds.accounts["account_id"].iloc[0]
    >>> res = expand(ds, [seed], top=5)
    >>> list(res.results.columns[:5])
    ['rank', 'account_id', 'mass', 'lift', 'seed']
    """
    settings = settings or Settings()
    top = settings.expand_top if top is None else int(top)
    if not seeds:
        raise ConfigError("expand needs at least one seed account")
    graph = build_graph(dataset)
    ids = graph.accounts["account_id"].astype(str).to_numpy()
    code = pd.Series(np.arange(len(ids)), index=ids)
    missing = [s for s in seeds if s not in code.index]
    if missing:
        raise ConfigError(f"seed account(s) not in the data: {missing[:5]}")
    n = len(ids)
    dataset.con.register(ACCOUNT_CODES, pd.DataFrame({"account_id": ids,
                                                      "account_idx": np.arange(n)}))
    try:
        signals = signal_matrices(graph, dataset, settings)
    finally:
        dataset.con.unregister(ACCOUNT_CODES)
    links = links_mod.score_links(signals, None, settings)
    succ = successions(signals, graph.accounts, settings)
    extra = None
    if succ is not None and len(succ):  # a replacement is tied to the account it replaced
        extra = chain_edges(succ, code)
    wg = walk_graph(signals, links, settings, extra)
    start = code.reindex(seeds).to_numpy(np.int64)
    walks = wg.pagerank_many(np.column_stack([wg.account_reset(start),
                                              wg.account_reset(np.arange(n))]), rows=n)
    mass = walks[:, 0]
    lift = mass / np.maximum(walks[:, 1], 1e-300)
    cand = np.setdiff1d(np.flatnonzero(mass > 0), start)
    order = cand[np.lexsort((ids[cand], -mass[cand]))][:top]
    results = tie_to_seeds(signals, links, order, start, ids, settings)
    results.insert(0, "lift", np.round(lift[order], 3))
    results.insert(0, "mass", mass[order])
    results.insert(0, "account_id", ids[order])
    results.insert(0, "rank", np.arange(1, len(order) + 1))
    cols = ["rank", "account_id", "mass", "lift", "seed"]
    return Expansion(list(seeds), results[cols + [c for c in results if c not in cols]],
                     settings, {"events": [str(f.path) for f in dataset.files
                                           if f.role == "events"]})


def chain_edges(succ: pd.DataFrame, code: pd.Series
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk-graph edges of the successions: each succession (weight: its ``overlap``), and
    every two accounts of one chain (weight: the chain's mean overlap). A chain's accounts are
    one operator's rotating identities: a card or exit switched half-way along it must not
    leave its later accounts as far from the first as any other customer of the same proxy
    exits (a walk decays along a chain of single successions).

    >>> succ = pd.DataFrame({"predecessor": ["a", "b"], "successor": ["b", "c"],
    ...                      "overlap": [3.0, 1.0], "chain": ["a", "a"]})
    >>> a, b, w = chain_edges(succ, pd.Series([0, 1, 2], index=["a", "b", "c"]))
    >>> list(zip(a.tolist(), b.tolist(), w.tolist()))
    [(0, 1, 3.0), (1, 2, 1.0), (0, 1, 2.0), (0, 2, 2.0), (1, 2, 2.0)]
    """
    members = pd.concat([succ[["chain", "predecessor"]].set_axis(["chain", "a"], axis=1),
                         succ[["chain", "successor"]].set_axis(["chain", "a"], axis=1)])
    members = members.drop_duplicates().assign(code=lambda f: code.reindex(f["a"]).to_numpy())
    mean = succ.groupby("chain")["overlap"].mean()
    members = members.assign(w=members["chain"].map(mean).to_numpy())
    pairs = members.merge(members[["chain", "code"]], on="chain", suffixes=("", "_b"))
    pairs = pairs[pairs["code"] < pairs["code_b"]]
    return (np.concatenate([code.reindex(succ["predecessor"]).to_numpy(np.int64),
                            pairs["code"].to_numpy(np.int64)]),
            np.concatenate([code.reindex(succ["successor"]).to_numpy(np.int64),
                            pairs["code_b"].to_numpy(np.int64)]),
            np.concatenate([succ["overlap"].to_numpy(np.float64),
                            pairs["w"].to_numpy(np.float64)]))


def tie_to_seeds(signals, links: links_mod.Links, accounts: np.ndarray, seeds: np.ndarray,
                 ids: np.ndarray, settings: Settings) -> pd.DataFrame:
    """For each account: the seed it shares most with (all account x seed pairs scored at
    once), that tie, per-signal similarities, whether a scored link joins them and the shared
    identifiers."""
    a = np.repeat(accounts, len(seeds))
    b = np.tile(seeds, len(accounts))
    sims = links_mod.pair_similarities(signals, a, b, settings)
    tie = sum((settings.weight(k) * v for k, v in sims.items()), np.zeros(len(a)))
    best = (np.argmax(tie.reshape(len(accounts), len(seeds)), axis=1)
            if len(accounts) else np.zeros(0, np.int64))
    pick = np.arange(len(accounts)) * len(seeds) + best
    pa_, pb = a[pick], b[pick]
    t = links.table
    la, lb = t["a"].to_numpy(np.int64), t["b"].to_numpy(np.int64)
    lk = (np.minimum(la, lb) << 32) | np.maximum(la, lb)
    pk = (np.minimum(pa_, pb) << 32) | np.maximum(pa_, pb)
    out = pd.DataFrame({"seed": ids[pb], "tie": np.round(tie[pick], 4),
                        "linked": np.isin(pk, lk)})
    for name, v in sims.items():  # a handful of signals
        out[name] = np.round(v[pick], 4)
    out["shared"] = shared_identifiers(signals, pa_, pb)
    return out
