"""The reference pipeline: the same detection job written the straightforward way.

What an analyst would write with pandas and networkx, doing the logical job ``graphkit detect``
does, with the same knobs (:class:`graphkit.settings.Settings` defaults):

1. read     ``pd.read_parquet`` / ``pd.read_csv`` of events, accounts, seeds.
2. aggregate  pandas ``groupby`` of events per (account, entity) for IP, payment method,
   template, user agent and proxy provider; share of the account's traffic; incidental uses
   (below ``min_entity_share``) dropped; the accounts file's card counts as a share of 1; IDF
   entity weights ``(log(N/deg)/log(N/2))**idf_power``, hubs above ``max_entity_degree``
   dropped (weight 0), addresses of VPN/proxy operators discounted.
3. projection  per signal, a networkx bipartite account-entity graph projected onto accounts
   with ``nx.bipartite.generic_weighted_projected_graph``; the pair weight is
   ``sum sqrt(share_a * share_b) * idf`` over shared entities (graphkit's similarity).
4. synchrony  exact sets of active 90 s windows per account (pandas), and for candidate pairs
   that could reach ``min_link_score`` the excess-overlap score of graphkit.detection.synchrony, with
   Python set intersections.
5. combine  per pair, ``1 - exp(-(footprint + gate * supporting))`` as in graphkit.detection.links;
   links below ``min_link_score`` dropped.
6. communities  ``nx.community.louvain_communities`` on the link graph (weight = score).
7. scoring  per community, pandas group-bys of the indicators that need no extra modelling
   (shared payment, new accounts, round-the-clock activity, banned, seeds) with graphkit's
   indicator weights and size factor; flagged at ``flag_threshold``.
8. write   accounts.csv, communities.csv, links.csv.

Nothing is slowed on purpose: vectorized pandas where an analyst would naturally use it;
networkx does the graph work. Run through ``bench_detect.py`` (which gives it a time and memory
budget and a sample when the full data is out of reach), or on its own:

    python benchmarks/reference.py EVENTS --accounts F --seeds F --out DIR
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from graphkit.progress import Progress, quiet
from graphkit.settings import Settings

SIGNAL_COLUMNS = {"ip": "ip", "payment": "payment_id", "template": "template_hash",
                  "user_agent": "user_agent", "proxy": "proxy_provider"}
FOOTPRINT = ("ip", "payment", "template")
SUPPORTING = ("proxy", "user_agent")
# graphkit.detection.scoring's weights for the indicators computed here.
INDICATORS = {"shared_payment": 0.6, "new_accounts": 0.6, "automation": 0.3, "banned": 1.0,
              "seeds": 1.0}


def read(events: str, accounts: str | None, seeds: str | None
         ) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    cols = ["account_id", "ts", *SIGNAL_COLUMNS.values()]
    ev = pd.read_parquet(events, columns=cols)
    acc = pd.read_csv(accounts, parse_dates=["created_at", "banned_at"]) if accounts else None
    sd = pd.read_csv(seeds) if seeds else None
    return ev, acc, sd


def entity_shares(ev: pd.DataFrame, acc: pd.DataFrame | None, s: Settings
                  ) -> tuple[pd.Series, dict[str, pd.DataFrame]]:
    """Per signal: rows (account_id, entity, share, weight) of non-incidental uses."""
    n_events = ev.groupby("account_id").size()
    n_accounts = len(n_events)
    operated = set(ev.loc[ev["proxy_provider"].notna(), "ip"].unique())
    out: dict[str, pd.DataFrame] = {}
    for name, col in SIGNAL_COLUMNS.items():
        use = ev.groupby(["account_id", col]).size().rename("n").reset_index()
        use = use.rename(columns={col: "entity"})
        use["share"] = use["n"] / use["account_id"].map(n_events)
        if name == "payment" and acc is not None:
            declared = acc.loc[acc["payment_id"].notna() & acc["account_id"].isin(n_events.index),
                               ["account_id", "payment_id"]].rename(columns={"payment_id":
                                                                             "entity"})
            declared["share"] = 1.0
            use = (pd.concat([use[["account_id", "entity", "share"]], declared])
                   .groupby(["account_id", "entity"], as_index=False)["share"].max())
        use = use[use["share"].clip(upper=1.0) >= s.min_entity_share]
        deg = use.groupby("entity")["account_id"].transform("size")
        idf = (np.log(n_accounts / deg) / np.log(n_accounts / 2.0)).clip(0.0, 1.0) ** s.idf_power
        idf.loc[deg > s.hub_degree(n_accounts)] = 0.0
        if name == "ip":
            idf.loc[use["entity"].isin(operated)] *= s.operated_ip_factor
        use = use.assign(share=use["share"].clip(upper=1.0), weight=idf)
        out[name] = use[(use["weight"] > 0) & (deg >= 2)]
    return n_events, out


def project(uses: pd.DataFrame) -> nx.Graph:
    """Account-account similarity through shared entities (networkx bipartite projection)."""
    b = nx.Graph()
    accounts = uses["account_id"].unique()
    b.add_nodes_from(accounts, bipartite=0)
    # Entities are tagged ("e", key) so that an entity key can never clash with an account id.
    for a, e, share, w in uses[["account_id", "entity", "share", "weight"]].itertuples(
            index=False):
        b.add_node(("e", e), bipartite=1, weight=w)
        b.add_edge(a, ("e", e), share=share)

    def similarity(g: nx.Graph, u: Any, v: Any) -> float:
        return sum(math.sqrt(g[u][e]["share"] * g[v][e]["share"]) * g.nodes[e]["weight"]
                   for e in set(g[u]) & set(g[v]))

    return nx.bipartite.generic_weighted_projected_graph(b, accounts, weight_function=similarity)


def window_sets(ev: pd.DataFrame, s: Settings) -> tuple[dict[str, set], dict[str, set]]:
    """Active synchrony windows and active hours per account (accounts with enough windows)."""
    secs = ev["ts"].astype("datetime64[s, UTC]").astype("int64")
    w = pd.DataFrame({"account_id": ev["account_id"], "w": secs // s.sync_window_seconds,
                      "h": secs // 3600}).drop_duplicates(["account_id", "w"])
    counts = w.groupby("account_id").size()
    w = w[w["account_id"].isin(counts.index[counts >= s.sync_min_windows])]
    windows = w.groupby("account_id")["w"].apply(set).to_dict()
    hours = w.groupby("account_id")["h"].apply(set).to_dict()
    return windows, hours


def synchrony(a: str, b: str, windows: dict[str, set], hours: dict[str, set],
              s: Settings) -> float:
    """graphkit.detection.synchrony's excess-overlap score, on exact sets."""
    if a not in windows or b not in windows:
        return 0.0
    wa, wb, ha, hb = windows[a], windows[b], hours[a], hours[b]
    overlap = len(wa & wb)
    per_hour = 3600 / s.sync_window_seconds
    expected = len(ha & hb) * (len(wa) / len(ha)) * (len(wb) / len(hb)) / per_hour
    return max(0.0, overlap - expected) / (min(len(wa), len(wb)) + s.sync_shrinkage)


def combine(sims: dict[str, nx.Graph], windows: dict[str, set], hours: dict[str, set],
            s: Settings) -> pd.DataFrame:
    """Score every pair that shares a weighted entity, as graphkit.detection.links does."""
    pairs: dict[tuple[str, str], dict[str, float]] = {}
    for name, g in sims.items():
        for u, v, w in g.edges(data="weight"):
            key = (u, v) if u < v else (v, u)
            pairs.setdefault(key, {})[name] = min(w, 1.0)
    rows = []
    w_sync = s.weight("synchrony")
    for (a, b), sim in pairs.items():
        footprint = sum(s.weight(n) * sim.get(n, 0.0) for n in FOOTPRINT)
        supporting = sum(s.weight(n) * sim.get(n, 0.0) for n in SUPPORTING)
        gate = min(1.0, footprint / s.sync_corroboration) if s.sync_corroboration > 0 else 1.0
        sync = 0.0
        if gate > 0 and 1 - math.exp(-(footprint + gate * (supporting + w_sync))) \
                >= s.min_link_score:
            sync = synchrony(a, b, windows, hours, s)
        score = 1 - math.exp(-(footprint + gate * (supporting + w_sync * sync)))
        if score >= s.min_link_score:
            rows.append({"account_a": a, "account_b": b, "score": score,
                         **{n: sim.get(n, 0.0) for n in SIGNAL_COLUMNS}, "synchrony": sync})
    cols = ["account_a", "account_b", "score", *SIGNAL_COLUMNS, "synchrony"]
    return pd.DataFrame(rows, columns=cols)


def communities(links: pd.DataFrame, accounts: pd.Index, s: Settings) -> pd.Series:
    """Louvain (networkx) over the link graph; unlinked accounts are singletons."""
    g = nx.Graph()
    g.add_nodes_from(accounts)
    g.add_weighted_edges_from(links[["account_a", "account_b", "score"]].itertuples(index=False))
    parts = nx.community.louvain_communities(g, weight="weight", seed=s.seed)
    parts = sorted(parts, key=lambda c: (-len(c), min(c)))
    return pd.Series({a: i for i, c in enumerate(parts) for a in c}, name="community_id")


def score(ev: pd.DataFrame, acc: pd.DataFrame | None, sd: pd.DataFrame | None,
          n_events: pd.Series, comm: pd.Series, s: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-account indicators by groupby, averaged per community, graphkit's formula."""
    a = pd.DataFrame({"account_id": n_events.index, "n_events": n_events.to_numpy()})
    a["community_id"] = a["account_id"].map(comm)
    hour = ev["ts"].dt.hour
    per_hour = ev.groupby([ev["account_id"], hour]).size()
    p = per_hour / per_hour.groupby(level=0).transform("sum")
    entropy = (-(p * np.log(p)).groupby(level=0).sum() / np.log(24)).rename("entropy")
    a["automation"] = (a["account_id"].map(entropy) > 0.9).astype(float)
    first = ev.groupby("account_id")["ts"].min()
    if acc is not None:
        info = acc.drop_duplicates("account_id").set_index("account_id")
        created = a["account_id"].map(info["created_at"])
        age_days = (a["account_id"].map(first) - created).dt.total_seconds() / 86400
        a["new_accounts"] = (age_days < s.new_account_days).astype(float)
        a["banned"] = (a["account_id"].map(info["status"]) == "banned").astype(float)
        card = a["account_id"].map(info["payment_id"])
        a["card"] = card
    else:
        a["new_accounts"] = a["banned"] = 0.0
        a["card"] = pd.NA
    a["seeds"] = a["account_id"].isin(sd["account_id"]).astype(float) if sd is not None else 0.0
    shared = a.groupby(["community_id", "card"])["account_id"].transform("size")
    a["shared_payment"] = (a["card"].notna() & (shared >= 2)).astype(float)
    c = a.groupby("community_id").agg(size=("account_id", "size"),
                                      **{k: (k, "mean") for k in INDICATORS})
    evidence = sum(w * c[k] for k, w in INDICATORS.items())
    size_factor = 1.0 - np.exp(-(c["size"] - 1.0) / 5.0)
    c["suspicion"] = (1 - np.exp(-evidence)) * size_factor
    c["flagged"] = (c["suspicion"] >= s.flag_threshold) & (c["size"] >= s.min_community_size)
    a["suspicion"] = a["community_id"].map(c["suspicion"])
    a["flagged"] = a["community_id"].map(c["flagged"])
    return a.drop(columns=["card"]), c.reset_index()


def run(args: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """The whole reference pipeline; ``args``: events, accounts, seeds, out."""
    progress = progress or quiet()
    s = Settings()
    with progress.step("read"):
        ev, acc, sd = read(args["events"], args.get("accounts"), args.get("seeds"))
    with progress.step("aggregate"):
        n_events, uses = entity_shares(ev, acc, s)
    with progress.step("projection"):
        sims = {name: project(u) for name, u in uses.items() if s.weight(name) > 0}
    with progress.step("synchrony windows"):
        windows, hours = window_sets(ev, s)
    with progress.step("combine"):
        links = combine(sims, windows, hours, s)
    del sims, windows, hours
    with progress.step("communities"):
        comm = communities(links, n_events.index, s)
    with progress.step("scoring"):
        accounts, comms = score(ev, acc, sd, n_events, comm, s)
    with progress.step("write"):
        out = Path(args["out"])
        out.mkdir(parents=True, exist_ok=True)
        accounts.to_csv(out / "accounts.csv", index=False)
        comms.to_csv(out / "communities.csv", index=False)
        links.to_csv(out / "links.csv", index=False, float_format="%.4f")
    return {"events": len(ev), "accounts": len(accounts), "links": len(links),
            "communities": len(comms), "flagged_communities": int(comms["flagged"].sum()),
            "flagged_accounts": int(accounts["flagged"].sum())}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="reference pandas + networkx pipeline")
    p.add_argument("events")
    p.add_argument("--accounts")
    p.add_argument("--seeds")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    print(run(vars(a)))
