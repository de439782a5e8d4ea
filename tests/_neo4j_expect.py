"""What an export of a detection output must put in Neo4j, computed straight from the detection
files (accounts.csv, communities.csv, links.csv, graph/*.parquet), independently of
graphkit.neo4j.export; and helpers to read back what a Neo4j database holds."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from neo4j import Driver

# The export's model, restated: relationship -> (start label, end label, end key property).
ACCOUNT_RELS = {
    "USED_IP": ("IP", "ip"),
    "PAID_WITH": ("PaymentMethod", "payment_id"),
    "SENT": ("PromptTemplate", "template_hash"),
    "USED_AGENT": ("UserAgent", "user_agent"),
    "CALLED": ("Model", "name"),
}
BASE_LABELS = ("Account", "IP", "PaymentMethod", "ProxyProvider", "PromptTemplate", "UserAgent",
               "Model", "Community")


@dataclass
class Expected:
    run_id: str
    communities: pd.DataFrame  # the chosen rows of communities.csv
    members: pd.DataFrame  # rows of accounts.csv in the chosen communities
    account_facts: pd.DataFrame  # graph/nodes_Account.parquet rows of the members
    rels: dict[str, pd.DataFrame]  # columns s, e (+ count, first_seen, share / score ...)
    releases: dict[str, str]

    @property
    def ids(self) -> set[str]:
        return set(self.members["account_id"])

    def community_view(self, community: int) -> tuple[set[str], set[str]]:
        """What the kit's community query shows: the members it draws, and the entities
        (IPs, payment methods, templates, user agents) two or more members share."""
        members = set(self.members.loc[self.members["community_id"] == community, "account_id"])
        kinds = ("USED_IP", "PAID_WITH", "SENT", "USED_AGENT")
        shared: set[str] = set()
        shown: set[str] = set()
        for rel in kinds:
            df = self.rels[rel][self.rels[rel]["s"].isin(members)]
            users = df.groupby("e")["s"].nunique()
            keys = set(users[users >= 2].index)
            shared |= keys
            shown |= set(df.loc[df["e"].isin(keys), "s"])
        # Members with no such relationship at all are drawn alone; members whose entities are
        # all their own are filtered out by the query.
        with_edges = set().union(*(set(self.rels[r]["s"]) for r in kinds))
        return shown | (members - with_edges), shared

    def node_counts(self) -> dict[str, int]:
        out = {"Account": len(self.members), "Community": len(self.communities)}
        for rel, (label, _) in ACCOUNT_RELS.items():
            if rel in self.rels and len(self.rels[rel]):
                out[label] = self.rels[rel]["e"].nunique()
        if len(self.rels.get("OPERATED_BY", ())):
            out["ProxyProvider"] = self.rels["OPERATED_BY"]["e"].nunique()
        return out

    def rel_counts(self) -> dict[str, int]:
        return {rel: len(df) for rel, df in self.rels.items() if len(df)}


def top(result_dir: Path, n: int) -> list[int]:
    """The ``top:n`` selection: most suspicious first, then the larger, then the lower id."""
    comms = pd.read_csv(Path(result_dir) / "communities.csv")
    ranked = comms.sort_values(["suspicion", "size", "community_id"],
                               ascending=[False, False, True])
    return [int(c) for c in ranked["community_id"].head(n)]


def run_id_of(result_dir: Path) -> str:
    manifest = json.loads((result_dir / "manifest.json").read_text())
    if manifest.get("run_id"):
        return str(manifest["run_id"])
    comms = pd.read_csv(result_dir / "communities.csv")
    ids = {m for text in comms["cypher"] for m in re.findall(r'run_id => "([^"]+)"', text)}
    assert len(ids) == 1, ids
    return ids.pop()


def expected_export(result_dir: Path, chosen: list[int]) -> Expected:
    d = Path(result_dir)
    comms = pd.read_csv(d / "communities.csv")
    accounts = pd.read_csv(d / "accounts.csv", dtype={"account_id": str})
    members = accounts[accounts["community_id"].isin(chosen)].reset_index(drop=True)
    ids = set(members["account_id"])
    g = d / "graph"
    keys = {p.stem.removeprefix("nodes_"): pd.read_parquet(p)["key"].to_numpy()
            for p in g.glob("nodes_*.parquet")}
    nodes_account = pd.read_parquet(g / "nodes_Account.parquet")

    def edges(rel: str, src: str, dst: str) -> pd.DataFrame:
        path = g / f"edges_{rel}.parquet"
        if not path.is_file():
            return pd.DataFrame(columns=["s", "e"])
        e = pd.read_parquet(path)
        out = pd.DataFrame({"s": keys[src][e["src"].to_numpy()],
                            "e": keys[dst][e["dst"].to_numpy()]})
        for col in ("count", "first_seen", "last_seen", "share"):
            out[col] = e[col].to_numpy()
        return out

    rels: dict[str, pd.DataFrame] = {}
    for rel, (label, _) in ACCOUNT_RELS.items():
        table = edges(rel, "Account", label)
        rels[rel] = table[table["s"].isin(ids)].reset_index(drop=True)
    op = edges("OPERATED_BY", "IP", "ProxyProvider")
    rels["OPERATED_BY"] = op[op["s"].isin(set(rels["USED_IP"]["e"]))].reset_index(drop=True)
    links = pd.read_csv(d / "links.csv", dtype={"account_a": str, "account_b": str})
    inside = links["account_a"].isin(ids) & links["account_b"].isin(ids)
    rels["SIMILAR_TO"] = links[inside].rename(columns={"account_a": "s", "account_b": "e"})
    rels["MEMBER_OF"] = pd.DataFrame({"s": members["account_id"], "e": members["community_id"]})
    if (d / "successions.csv").is_file():
        succ = pd.read_csv(d / "successions.csv", dtype={"predecessor": str, "successor": str})
        inside = succ["predecessor"].isin(ids) & succ["successor"].isin(ids)
        rels["SUCCEEDED_BY"] = succ[inside].rename(columns={"predecessor": "s",
                                                            "successor": "e"})
    manifest = json.loads((d / "manifest.json").read_text())
    return Expected(
        run_id=run_id_of(d),
        communities=comms[comms["community_id"].isin(chosen)].reset_index(drop=True),
        members=members,
        account_facts=nodes_account[nodes_account["key"].isin(ids)].reset_index(drop=True),
        rels=rels,
        releases=(manifest.get("outputs") or {}).get("model_releases") or {},
    )


def label_counts(driver: Driver, database: str | None = None) -> dict[str, int]:
    records, _, _ = driver.execute_query(
        "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n", database_=database)
    return {r["label"]: r["n"] for r in records}


def rel_counts(driver: Driver, database: str | None = None) -> dict[str, int]:
    records, _, _ = driver.execute_query(
        "MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS n", database_=database)
    return {r["t"]: r["n"] for r in records}


def dump(driver: Driver, database: str | None = None) -> dict[str, Any]:
    """Every node and relationship with its properties, keyed by node identity: a canonical
    form to compare two databases."""
    node_id = ("CASE WHEN {v}:Community THEN [{v}.run_id, toString({v}.community_id)] "
               "ELSE [coalesce({v}.account_id, {v}.ip, {v}.payment_id, {v}.template_hash, "
               "{v}.user_agent, {v}.name)] END")
    nodes, _, _ = driver.execute_query(
        f"MATCH (n) RETURN labels(n) AS labels, {node_id.format(v='n')} AS id, "
        "properties(n) AS props", database_=database)
    rels, _, _ = driver.execute_query(
        f"MATCH (s)-[r]->(e) RETURN type(r) AS t, {node_id.format(v='s')} AS s, "
        f"{node_id.format(v='e')} AS e, properties(r) AS props", database_=database)
    out: dict[str, Any] = {}
    for r in nodes:
        key = ("node", *sorted(r["labels"]), *r["id"])
        assert key not in out, key
        out[str(key)] = r["props"]
    for r in rels:
        key = ("rel", r["t"], *r["s"], *r["e"])
        assert str(key) not in out, key
        out[str(key)] = r["props"]
    return out
