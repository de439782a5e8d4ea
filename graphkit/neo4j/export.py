"""Export a detection result to Neo4j over Bolt, for investigators to explore in Neo4j Browser.

:func:`select` reads a detection output directory (accounts.csv, communities.csv, links.csv,
manifest.json, graph/) and cuts out the chosen communities with everything that ties them
together, as one table per node label and relationship type (:class:`Selection`). The Bolt
writer (:func:`write_selection`) and the neo4j-admin CSV writer (:mod:`graphkit.neo4j.bulk`) both
consume that one selection, so the two paths write the same graph.

The model (docs/neo4j.md)::

    (:Account)-[:USED_IP]->(:IP)-[:OPERATED_BY]->(:ProxyProvider)
    (:Account)-[:PAID_WITH]->(:PaymentMethod)   (:Account)-[:SENT]->(:PromptTemplate)
    (:Account)-[:USED_AGENT]->(:UserAgent)      (:Account)-[:CALLED]->(:Model)
    (:Account)-[:SIMILAR_TO]->(:Account)        (:Account)-[:MEMBER_OF]->(:Community)

Writes are idempotent (what exists is found, by key for nodes and by ends for relationships,
and updated; the rest is created), batched as ``UNWIND`` over columns, and every relationship
carries the detection's ``run_id``.

For example, with a detection output in out/ and a running server::

    report = export_to_neo4j("out/", "bolt://localhost:7687", communities="top:5")
    report.nodes["Account"], report.relationships["MEMBER_OF"]  # -> (212, 212)
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphkit.errors import ConfigError, ExportError
from graphkit.progress import Progress, quiet

# Node label -> key property. Labels and types below are the fixed whitelist that Cypher text is
# built from; data only ever travels as parameters.
NODE_KEYS: dict[str, str] = {
    "Account": "account_id",
    "IP": "ip",
    "PaymentMethod": "payment_id",
    "ProxyProvider": "name",
    "PromptTemplate": "template_hash",
    "UserAgent": "user_agent",
    "Model": "name",
    "Community": "community_id",  # unique together with run_id
}
# Relationship type -> (start label, end label).
REL_ENDS: dict[str, tuple[str, str]] = {
    "USED_IP": ("Account", "IP"),
    "PAID_WITH": ("Account", "PaymentMethod"),
    "SENT": ("Account", "PromptTemplate"),
    "USED_AGENT": ("Account", "UserAgent"),
    "CALLED": ("Account", "Model"),
    "OPERATED_BY": ("IP", "ProxyProvider"),
    "SIMILAR_TO": ("Account", "Account"),
    "MEMBER_OF": ("Account", "Community"),
}
ENTITY_RELS = ("USED_IP", "PAID_WITH", "SENT", "USED_AGENT", "CALLED")
# Properties copied from the graph's account table when present (accounts.csv adds the scores).
ACCOUNT_FACTS = ("created_at", "status", "banned_at", "n_events", "org_id", "email_domain")
SIGNAL_COLUMNS = ("ip", "payment", "template", "proxy", "user_agent", "synchrony")

# The schema `export` applies first; cypher/schema.cypher holds the same statements (tested).
SCHEMA_STATEMENTS: tuple[str, ...] = (
    ("CREATE CONSTRAINT graphkit_account IF NOT EXISTS FOR (n:Account) "
    "REQUIRE n.account_id IS UNIQUE"),
    "CREATE CONSTRAINT graphkit_ip IF NOT EXISTS FOR (n:IP) REQUIRE n.ip IS UNIQUE",
    ("CREATE CONSTRAINT graphkit_payment_method IF NOT EXISTS FOR (n:PaymentMethod) "
    "REQUIRE n.payment_id IS UNIQUE"),
    ("CREATE CONSTRAINT graphkit_proxy_provider IF NOT EXISTS FOR (n:ProxyProvider) "
    "REQUIRE n.name IS UNIQUE"),
    ("CREATE CONSTRAINT graphkit_prompt_template IF NOT EXISTS FOR (n:PromptTemplate) "
    "REQUIRE n.template_hash IS UNIQUE"),
    ("CREATE CONSTRAINT graphkit_user_agent IF NOT EXISTS FOR (n:UserAgent) "
    "REQUIRE n.user_agent IS UNIQUE"),
    "CREATE CONSTRAINT graphkit_model IF NOT EXISTS FOR (n:Model) REQUIRE n.name IS UNIQUE",
    ("CREATE CONSTRAINT graphkit_community IF NOT EXISTS FOR (n:Community) "
    "REQUIRE (n.run_id, n.community_id) IS UNIQUE"),
    "CREATE INDEX graphkit_community_suspicion IF NOT EXISTS FOR (n:Community) ON (n.suspicion)",
    "CREATE INDEX graphkit_account_suspicion IF NOT EXISTS FOR (n:Account) ON (n.suspicion)",
    "CREATE INDEX graphkit_account_created IF NOT EXISTS FOR (n:Account) ON (n.created_at)",
)

# Extra Account labels by suspicion (highest band first): Neo4j Browser styles nodes by label
# only, so these let cypher/graphkit.grass draw more suspicious accounts bigger.
SUSPICION_BANDS: tuple[tuple[str, float], ...] = (("SuspicionHigh", 0.6), ("SuspicionMedium", 0.3))

# Start/end key columns of relationship tables (underscored so they never clash with a property).
START, END = "_start", "_end"


@dataclass
class Selection:
    """What one export writes: a table per node label (key column first) and per relationship
    type (``_start``, ``_end`` keys, then properties). Datetime columns are UTC."""

    run_id: str
    nodes: dict[str, pd.DataFrame]
    relationships: dict[str, pd.DataFrame]
    community_ids: list[int] = field(default_factory=list)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Rows per label and per relationship type."""
        return ({k: len(v) for k, v in self.nodes.items()},
                {k: len(v) for k, v in self.relationships.items()})

    @property
    def n_elements(self) -> int:
        nodes, rels = self.counts()
        return sum(nodes.values()) + sum(rels.values())

    def band_counts(self) -> dict[str, int]:
        """Accounts per suspicion-band label."""
        bands = suspicion_band(self.nodes["Account"]["suspicion"])
        return {label: int((bands == label).sum()) for label, _ in SUSPICION_BANDS}


def suspicion_band(suspicion: pd.Series) -> pd.Series:
    """The band label of each account ("" below the lowest band).

    >>> suspicion_band(pd.Series([0.9, 0.4, 0.1])).tolist()
    ['SuspicionHigh', 'SuspicionMedium', '']
    """
    values = pd.to_numeric(suspicion, errors="coerce").fillna(0.0).to_numpy()
    out = np.full(len(values), "", dtype=object)
    for label, floor in reversed(SUSPICION_BANDS):
        out[values >= floor] = label
    return pd.Series(out, index=suspicion.index, dtype=object)


@dataclass
class ExportReport:
    """What an export wrote: rows per label / relationship type, and how long it took."""

    uri: str
    run_id: str
    community_ids: list[int]
    nodes: dict[str, int]
    relationships: dict[str, int]
    seconds: float
    replaced: bool = False

    @property
    def n_elements(self) -> int:
        return sum(self.nodes.values()) + sum(self.relationships.values())

    def summary(self) -> str:
        parts = ", ".join(f"{v:,} {k}" for k, v in {**self.nodes, **self.relationships}.items()
                          if v)
        rate = self.n_elements / self.seconds if self.seconds > 0 else float("nan")
        return (f"exported {len(self.community_ids)} communities of run {self.run_id} to "
                f"{self.uri}: {parts} ({self.n_elements:,} elements in {self.seconds:.1f}s, "
                f"{rate:,.0f}/s)")


# --- selection ---------------------------------------------------------------------------------

def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise ExportError("missing detection output (run `graphkit detect` first)",
                          file=str(path))
    try:
        return pd.read_csv(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read detection output: {exc}", file=str(path)) from exc


def read_manifest(result_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The detection's manifest.json."""
    path = Path(result_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ExportError("missing detection output (run `graphkit detect` first)",
                          file=str(path)) from exc
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read manifest: {exc}", file=str(path)) from exc
    if not isinstance(manifest, dict):
        raise ExportError("manifest is not a JSON object", file=str(path))
    return manifest


_PARAM_RUN_ID = re.compile(r'^:param run_id => "([^"]+)"', re.MULTILINE)


def run_id_of(manifest: dict[str, Any], communities: pd.DataFrame, result_dir: Path) -> str:
    """The detection's run id: manifest.json's ``run_id``, else the one the evidence Cypher in
    communities.csv's ``cypher`` column was written for (the export must tag the graph with
    the id that evidence queries look up)."""
    if manifest.get("run_id"):
        return str(manifest["run_id"])
    found = set()
    if "cypher" in communities:
        found = {m for text in communities["cypher"].dropna().astype(str)
                 for m in _PARAM_RUN_ID.findall(text)}
    if len(found) != 1:
        raise ExportError("no run_id in manifest.json nor in the evidence Cypher of "
                          "communities.csv (re-run `graphkit detect`)",
                          file=str(result_dir / "manifest.json"))
    return found.pop()


def choose_communities(communities: pd.DataFrame, spec: str | Sequence[int] = "top:20",
                       min_suspicion: float | None = None) -> list[int]:
    """Community ids chosen by ``spec``: ``"top:N"`` (by suspicion, then size), ``"flagged"``,
    ``"all"`` or explicit ids; then only those with suspicion >= ``min_suspicion``.

    >>> df = pd.DataFrame({"community_id": [4, 7, 9], "suspicion": [0.2, 0.9, 0.5],
    ...                    "size": [3, 5, 2], "flagged": [False, True, True]})
    >>> choose_communities(df, "top:2"), choose_communities(df, [4, 9], min_suspicion=0.3)
    ([7, 9], [9])
    """
    ranked = communities.sort_values(["suspicion", "size", "community_id"],
                                     ascending=[False, False, True], kind="stable")
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text == "all":
            chosen = ranked
        elif text == "flagged":
            chosen = ranked[ranked["flagged"].astype(bool)]
        elif text.startswith("top:") and text[4:].isdigit() and int(text[4:]) > 0:
            chosen = ranked.head(int(text[4:]))
        else:
            raise ConfigError(f"invalid community selection {spec!r} "
                              "(use top:N, flagged, all or community ids)")
    else:
        wanted = pd.Index([int(c) for c in spec]).unique()
        missing = wanted.difference(pd.Index(communities["community_id"]))
        if len(missing):
            raise ExportError(f"no community {int(missing[0])} in communities.csv "
                              "(only communities of 2+ accounts are exported)")
        chosen = ranked[ranked["community_id"].isin(wanted)]
    if min_suspicion is not None:
        chosen = chosen[chosen["suspicion"] >= float(min_suspicion)]
    return [int(c) for c in chosen["community_id"]]


def _graph_tables(graph_dir: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The saved graph as an account table and one edge table per type: ``_start``/``_end``
    keys (node codes mapped to node keys) plus count, first_seen, last_seen, share."""
    from graphkit.graph.hetero import EDGE_TYPES, HeteroGraph

    if not graph_dir.is_dir():
        raise ExportError("missing detection output graph/ (run `graphkit detect` first)",
                          file=str(graph_dir))
    graph = HeteroGraph.load(graph_dir)
    edges: dict[str, pd.DataFrame] = {}
    for rel in REL_ENDS:
        if rel not in graph.edges:
            continue
        table = graph.edges[rel]
        src_type, dst_type, _ = EDGE_TYPES[rel]
        src_keys = graph.nodes[src_type]["key"].to_numpy()
        dst_keys = graph.nodes[dst_type]["key"].to_numpy()
        props = table.drop(columns=["src", "dst"])
        edges[rel] = pd.concat(
            [pd.DataFrame({START: src_keys[table["src"].to_numpy()],
                           END: dst_keys[table["dst"].to_numpy()]}, index=table.index), props],
            axis=1).reset_index(drop=True)
    return graph.accounts, edges


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce")


def select(result_dir: str | os.PathLike[str], communities: str | Sequence[int] = "top:20",
           min_suspicion: float | None = None) -> Selection:
    """Cut the chosen communities out of a detection output directory.

    Accounts: members of the chosen communities. Entities: every IP, payment method, template,
    user agent and model those accounts used (with the aggregated edge), and the proxy
    providers operating those IPs. SIMILAR_TO: scored links with both ends selected.
    """
    d = Path(result_dir)
    manifest = read_manifest(d)
    comms = _read_csv(d / "communities.csv")
    run_id = run_id_of(manifest, comms, d)
    chosen = choose_communities(comms, communities, min_suspicion)
    if not chosen:
        raise ExportError("no community matches the selection", file=str(d / "communities.csv"))
    accounts = _read_csv(d / "accounts.csv", dtype={"account_id": str})
    links = _read_csv(d / "links.csv", dtype={"account_a": str, "account_b": str})
    graph_accounts, edges = _graph_tables(d / "graph")

    comm = comms[comms["community_id"].isin(chosen)].copy()
    comm = comm.set_index("community_id").loc[chosen].reset_index()
    comm["run_id"] = run_id
    acc = accounts[accounts["community_id"].isin(chosen)].reset_index(drop=True)
    facts = [c for c in ACCOUNT_FACTS if c in graph_accounts.columns]
    acc = acc.merge(graph_accounts[["account_id", *facts]].drop_duplicates("account_id"),
                    on="account_id", how="left")
    for col in ("created_at", "banned_at"):
        if col in acc:
            acc[col] = _utc(acc[col])
    acc["run_id"] = run_id
    ids = pd.Index(acc["account_id"])

    nodes: dict[str, pd.DataFrame] = {"Account": acc, "Community": comm}
    rels: dict[str, pd.DataFrame] = {}
    for rel in ENTITY_RELS:
        label = REL_ENDS[rel][1]
        table = edges.get(rel)
        if table is None:
            continue
        table = table[table[START].isin(ids)].reset_index(drop=True)
        rels[rel] = table
        nodes[label] = pd.DataFrame({NODE_KEYS[label]: table[END].drop_duplicates().to_numpy()})
    if "OPERATED_BY" in edges and "IP" in nodes:
        op = edges["OPERATED_BY"]
        op = op[op[START].isin(nodes["IP"]["ip"])].reset_index(drop=True)
        rels["OPERATED_BY"] = op
        nodes["ProxyProvider"] = pd.DataFrame({"name": op[END].drop_duplicates().to_numpy()})
    if "Model" in nodes:
        # When each model went live (detection found it first seen inside the observed period).
        releases = (manifest.get("outputs") or {}).get("model_releases") or {}
        nodes["Model"]["released_at"] = _utc(nodes["Model"]["name"].map(releases))
    inside = links["account_a"].isin(ids) & links["account_b"].isin(ids)
    sim = links[inside].rename(columns={"account_a": START, "account_b": END})
    rels["SIMILAR_TO"] = sim[[START, END, "score", *[c for c in SIGNAL_COLUMNS if c in sim]]] \
        .reset_index(drop=True)
    rels["MEMBER_OF"] = pd.DataFrame({START: acc["account_id"], END: acc["community_id"],
                                      "membership": acc["membership"]})
    for table in rels.values():
        table["run_id"] = run_id
    # Same label order on every path, so reports and CSV files line up.
    ordered = {k: nodes[k] for k in NODE_KEYS if k in nodes}
    return Selection(run_id=run_id, nodes=ordered, relationships=rels, community_ids=chosen)


# --- Bolt writer -------------------------------------------------------------------------------
#
# A batch travels as one map of columns ($c: property -> list of values) and the query walks it by
# row number. That spares building a dict per row in Python, and datetimes travel as two integer
# columns (epoch seconds, nanoseconds) that Cypher turns into DATETIME values: the driver's own
# datetime encoding costs more than the whole write of the row.
#
# The server's commit work per created element bounds the rate (docs/performance.md), so the
# writer asks it for as little else as possible:
#
# 1. Nodes: one read finds which keys already have a node (index seeks); the others are CREATEd
#    with their labels and properties in one map, the existing ones updated by id. Every write
#    returns the nodes' internal ids, and a key -> element id table (pandas) replaces the two index seeks
#    a relationship row would otherwise need.
# 2. Relationships: one read per type lists the relationships of that type (of this run, for
#    SIMILAR_TO) leaving the selected start nodes. Rows whose (start, end) pair exists update it
#    by relationship id; the others are CREATEd between nodes looked up by id. The read is skipped
#    when the database holds no relationship of the type (the counts store answers that), so the
#    first export into an empty database is all CREATE. The result is what MERGE then SET would
#    give: one relationship per (start, end) (per run for SIMILAR_TO), its properties the latest.
#
# Internal ids are only used within one export, between the writes that returned them and the
# writes that use them. One export at a time: a concurrent writer adding the same relationships
# between the read and the CREATE would leave duplicates (nodes are protected by the uniqueness
# constraints: the export would fail instead).

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROWS = "UNWIND range(0, $n - 1) AS i WITH $c AS c, i "
_ID = "_id"  # column of internal ids (of a node, or of an existing relationship)
_SID, _EID = "_sid", "_eid"  # internal ids of a relationship row's start and end nodes


def _is_datetime(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.DatetimeTZDtype) or \
        pd.api.types.is_datetime64_any_dtype(series)


def _columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """A batch as columns of plain Python values (None for missing); a datetime column ``x``
    as ``x.s`` (epoch seconds) and ``x.ns`` (nanoseconds within the second)."""
    out: dict[str, list[Any]] = {}
    for col in frame.columns:
        s = frame[col]
        if _is_datetime(s):
            utc = _utc(s)
            ns = utc.dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view(np.int64)
            sec, nano = np.divmod(ns, 1_000_000_000)
            missing = utc.isna().to_numpy()
            out[f"{col}.s"] = _nullable(sec, missing)
            out[f"{col}.ns"] = _nullable(nano, missing)
        else:
            out[col] = s.astype(object).where(s.notna(), None).tolist()
    return out


def _nullable(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    if not missing.any():
        return values.tolist()
    return pd.Series(values, dtype=object).where(~missing, None).tolist()


def _check_names(frame: pd.DataFrame) -> None:
    for col in frame.columns:
        if not _IDENT.match(str(col)):
            raise ExportError(f"column {col!r} is not a valid Neo4j property name")


def _value(frame: pd.DataFrame, col: str) -> str:
    """Cypher for row i's value of ``col`` (column names were checked to be identifiers)."""
    if _is_datetime(frame[col]):
        sec, nano = f"c.`{col}.s`[i]", f"c.`{col}.ns`[i]"
        value = f"datetime.fromepoch({sec}, {nano})"
        if frame[col].isna().any():  # (fromepoch rejects null)
            return f"CASE WHEN {sec} IS NULL THEN null ELSE {value} END"
        return value
    return f"c.`{col}`[i]"


def _items(frame: pd.DataFrame, skip: Sequence[str]) -> list[tuple[str, str]]:
    _check_names(frame)
    return [(str(col), _value(frame, col)) for col in frame.columns if col not in skip]


def _set(var: str, frame: pd.DataFrame, skip: Sequence[str], *extra: str) -> str:
    """`` SET var.col = ..., ...`` for every column but ``skip``, then ``extra`` items."""
    items = [f"{var}.`{col}` = {value}" for col, value in _items(frame, skip)] + list(extra)
    return " SET " + ", ".join(items) if items else ""


def _map(frame: pd.DataFrame, skip: Sequence[str], *extra: str) -> str:
    """``{col: ..., ...}`` for every column but ``skip``, then ``extra`` items (a CREATE map:
    a null value sets nothing, as SET to null would remove it)."""
    items = [f"`{col}`: {value}" for col, value in _items(frame, skip)] + list(extra)
    return " {" + ", ".join(items) + "}" if items else ""


def _band_labels(band: str) -> str:
    return f":{band}" if band else ""


def _key_pattern(label: str, column: str | None = None) -> str:
    """``(n:Label {key: ...})``: row i's key, from ``column`` (default: the key property)."""
    key = NODE_KEYS[label]
    if label == "Community":
        return f"(n:Community {{run_id: $run_id, community_id: c.`{column or key}`[i]}})"
    return f"(n:{label} {{`{key}`: c.`{column or key}`[i]}})"


_RETURN_IDS = " RETURN collect(i) AS i, collect(elementId(n)) AS id"


def _node_lookup_query(label: str) -> str:
    """The ids of the nodes that hold a batch's keys (rows without a node return nothing)."""
    return _ROWS + f"MATCH {_key_pattern(label)}" + _RETURN_IDS


def _node_create_query(label: str, frame: pd.DataFrame, band: str = "") -> str:
    """CREATE a batch of nodes (key, properties, band label in one map) and return their ids."""
    # Community: unique together with run_id, which is the export's.
    skip = ("run_id",) if label == "Community" else ()
    extra = ("run_id: $run_id",) if label == "Community" else ()
    return (_ROWS + f"CREATE (n:{label}{_band_labels(band)}{_map(frame, skip, *extra)})"
            + _RETURN_IDS)


def _node_update_query(label: str, frame: pd.DataFrame, band: str = "") -> str:
    """SET the properties of a batch of existing nodes given by id (``_id``); "" when there is
    nothing to set (a node of its key alone)."""
    key = NODE_KEYS[label]
    sets = _set("n", frame, (key, _ID))
    if not sets and label != "Account":
        return ""
    query = _ROWS + f"MATCH (n) WHERE elementId(n) = c.{_ID}[i]" + sets
    if label == "Account":
        # Band labels follow the latest suspicion: drop the old one, add the new one.
        query += " REMOVE n" + "".join(f":{b}" for b, _ in SUSPICION_BANDS)
        query += f" SET n:{band}" if band else ""
    return query


def _rel_props(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in (START, END, _SID, _EID, _ID, "run_id")
                               if c in frame.columns])


def _rel_create_query(rel: str, frame: pd.DataFrame) -> str:
    """CREATE a batch of relationships between nodes given by id (``_sid``, ``_eid``)."""
    return (_ROWS + f"MATCH (s) WHERE elementId(s) = c.{_SID}[i] MATCH (e) WHERE elementId(e) = c.{_EID}[i] "
            f"CREATE (s)-[r:{rel}{_map(_rel_props(frame), (), 'run_id: $run_id')}]->(e)")


def _rel_update_query(frame: pd.DataFrame) -> str:
    """SET the properties of a batch of existing relationships given by id (``_id``)."""
    return (_ROWS + f"MATCH ()-[r]->() WHERE elementId(r) = c.{_ID}[i]"
            + _set("r", _rel_props(frame), (), "r.run_id = $run_id"))


def _rel_lookup_query(rel: str) -> str:
    """The relationships of type ``rel`` leaving given nodes (SIMILAR_TO: of this run only,
    one relationship per run; the other types are facts of the logs)."""
    where = " WHERE r.run_id = $run_id" if rel == "SIMILAR_TO" else ""
    return (f"UNWIND $ids AS sid MATCH (s) WHERE elementId(s) = sid MATCH (s)-[r:{rel}]->(e){where} "
            "RETURN collect(sid) AS s, collect(elementId(e)) AS e, collect(elementId(r)) AS r")


def _batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


def _cypher_error_types() -> tuple[type[BaseException], ...]:
    from neo4j.exceptions import DriverError, Neo4jError

    return (Neo4jError, DriverError)


def apply_schema(driver: Any, database: str | None = None) -> None:
    """Create graphkit's constraints and indexes (idempotent) and wait until they are online."""
    with driver.session(database=database) as session:
        for statement in SCHEMA_STATEMENTS:
            session.run(statement).consume()
        session.run("CALL db.awaitIndexes(300)").consume()


# What replace removes: every relationship graphkit wrote (all carry run_id), every Community
# node, then graphkit-labelled nodes left without any relationship. Other labels, and nodes
# still holding a relationship someone added by hand, are kept.
_REPLACE_QUERIES: tuple[str, ...] = (
    *(f"MATCH ()-[r:{rel}]->() WHERE r.run_id IS NOT NULL "
      "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS" for rel in REL_ENDS),
    "MATCH (c:Community) CALL (c) { DETACH DELETE c } IN TRANSACTIONS OF 10000 ROWS",
    *(f"MATCH (n:{label}) WHERE NOT (n)--() CALL (n) {{ DELETE n }} IN TRANSACTIONS OF 10000 ROWS"
      for label in NODE_KEYS if label != "Community"),
)


def clear_previous(driver: Any, database: str | None = None) -> None:
    """Remove what earlier exports wrote (see ``_REPLACE_QUERIES`` and docs/neo4j.md)."""
    with driver.session(database=database) as session:
        for query in _REPLACE_QUERIES:
            session.run(query).consume()


def _write_batch(tx: Any, query: str, columns: dict[str, list[Any]], n: int,
                 params: dict[str, Any]) -> None:
    tx.run(query, c=columns, n=n, **params).consume()


def _write_returning_ids(tx: Any, query: str, columns: dict[str, list[Any]], n: int,
                         params: dict[str, Any]) -> tuple[list[int], list[str]]:
    record = tx.run(query, c=columns, n=n, **params).single(strict=True)
    return record["i"], record["id"]


def _read_rels(tx: Any, query: str, ids: list[str], params: dict[str, Any]
               ) -> tuple[list[str], list[str], list[str]]:
    record = tx.run(query, ids=ids, **params).single(strict=True)
    return record["s"], record["e"], record["r"]


def _holds_any(tx: Any, label: str | None = None, rel: str | None = None) -> bool:
    """Whether the database holds any node with ``label`` / relationship of type ``rel`` (the
    counts store answers in O(1); an unknown name is checked first, as counting it warns)."""
    if label is not None:
        names = "CALL db.labels() YIELD label RETURN collect(label) AS names"
        count = f"MATCH (n:{label}) RETURN count(n) AS n"
    else:
        names = ("CALL db.relationshipTypes() YIELD relationshipType "
                 "RETURN collect(relationshipType) AS names")
        count = f"MATCH ()-[r:{rel}]->() RETURN count(r) AS n"
    if (label or rel) not in tx.run(names).single(strict=True)["names"]:
        return False
    return int(tx.run(count).single(strict=True)["n"]) > 0


def _ids(rows: list[int], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(rows, dtype=np.int64), _strings(ids)


def _strings(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class _Writer:
    """One export's Bolt writes: a session, the batch size, the run's parameters."""

    def __init__(self, session: Any, batch_size: int, params: dict[str, Any]) -> None:
        self.session, self.batch_size, self.params = session, batch_size, params

    def write(self, query: str, frame: pd.DataFrame) -> None:
        for batch in _batches(frame, self.batch_size):
            self.session.execute_write(_write_batch, query, _columns(batch), len(batch),
                                       self.params)

    def write_returning_ids(self, query: str, frame: pd.DataFrame, *,
                            read_only: bool = False) -> np.ndarray:
        """Run ``query`` (returning ``collect(i), collect(elementId(n))``) over ``frame`` in
        batches: the element id per row of ``frame``, None where the query returned none.
        ``read_only`` runs it as a read transaction (a look-up)."""
        run = self.session.execute_read if read_only else self.session.execute_write
        out = np.full(len(frame), None, dtype=object)
        for at in range(0, len(frame), self.batch_size):
            batch = frame.iloc[at:at + self.batch_size]
            rows, ids = _ids(*run(_write_returning_ids, query, _columns(batch), len(batch),
                                  self.params))
            out[at + rows] = ids
        return out

    def read_returning_ids(self, query: str, frame: pd.DataFrame) -> np.ndarray:
        return self.write_returning_ids(query, frame, read_only=True)

    def holds_any(self, label: str | None = None, rel: str | None = None) -> bool:
        return bool(self.session.execute_read(_holds_any, label, rel))

    # -- nodes

    def nodes(self, label: str, frame: pd.DataFrame) -> pd.Series:
        """Write one label's nodes; their element ids by key."""
        key = NODE_KEYS[label]
        frame = frame.drop_duplicates(key, keep="last").reset_index(drop=True)
        ids = np.full(len(frame), None, dtype=object)
        if len(frame) and self.holds_any(label=label):
            ids = self.read_returning_ids(_node_lookup_query(label), frame[[key]])
        if label == "Account":
            # One query per suspicion band: labels cannot be parameters.
            bands = suspicion_band(frame["suspicion"]).to_numpy()
            parts = [(band, bands == band) for band in ("", *(b for b, _ in SUSPICION_BANDS))]
        else:
            parts = [("", np.ones(len(frame), dtype=bool))]
        for band, mask in parts:
            found = pd.notna(ids)
            old, new = mask & found, mask & ~found
            if old.any():
                update = frame[old].assign(**{_ID: ids[old]})
                query = _node_update_query(label, update, band)
                if query:
                    self.write(query, update)
            if new.any():
                ids[new] = self.write_returning_ids(_node_create_query(label, frame, band),
                                                    frame[new])
        if pd.isna(ids).any():
            raise ExportError(f"the server returned no node for some {label} rows")
        return pd.Series(ids, index=pd.Index(frame[key]))

    # -- relationships

    def relationships(self, rel: str, frame: pd.DataFrame, start_ids: pd.Series,
                      end_ids: pd.Series) -> None:
        s = start_ids.index.get_indexer(frame[START])
        e = end_ids.index.get_indexer(frame[END])
        keep = (s >= 0) & (e >= 0)  # an end outside the selection: no relationship, as MATCH
        rows = frame[keep].drop(columns=[START, END, "run_id"], errors="ignore").assign(**{
            _SID: start_ids.to_numpy()[s[keep]], _EID: end_ids.to_numpy()[e[keep]]})
        # One relationship per (start, end): a repeated pair updates it, as MERGE would.
        rows = rows.drop_duplicates([_SID, _EID], keep="last")
        if not len(rows):
            return
        existing = self.existing_rels(rel, rows[_SID].drop_duplicates().to_numpy())
        if len(existing):
            update = rows.merge(existing, on=[_SID, _EID], how="inner")  # all, as MERGE sets
            pairs = pd.MultiIndex.from_frame(existing[[_SID, _EID]])
            create = rows[~pd.MultiIndex.from_frame(rows[[_SID, _EID]]).isin(pairs)]
            if len(update):
                self.write(_rel_update_query(update), update.drop(columns=[_SID, _EID]))
        else:
            create = rows
        if len(create):
            self.write(_rel_create_query(rel, create), create)

    def existing_rels(self, rel: str, start_ids: np.ndarray) -> pd.DataFrame:
        """(start id, end id, relationship id) of the ``rel`` relationships leaving
        ``start_ids`` (of this run, for SIMILAR_TO)."""
        parts = [pd.DataFrame({_SID: [], _EID: [], _ID: []}, dtype=object)]
        if self.holds_any(rel=rel):
            query = _rel_lookup_query(rel)
            for at in range(0, len(start_ids), self.batch_size):
                s, e, r = self.session.execute_read(
                    _read_rels, query, start_ids[at:at + self.batch_size].tolist(), self.params)
                parts.append(pd.DataFrame({_SID: _strings(s), _EID: _strings(e),
                                           _ID: _strings(r)}))
        return pd.concat(parts, ignore_index=True)


def write_selection(driver: Any, selection: Selection, *, batch_size: int = 10_000,
                    database: str | None = None, progress: Progress | None = None) -> None:
    """Write a selection, one transaction per batch of ``batch_size`` rows: nodes first (found
    by key, else created; their ids kept), then relationships between those ids (an existing
    one per (start, end) is updated, else one is created). See the notes above ``_IDENT``."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    progress = progress or quiet()
    params = {"run_id": selection.run_id}
    with driver.session(database=database) as session:
        writer = _Writer(session, batch_size, params)
        node_ids: dict[str, pd.Series] = {}
        for label, frame in selection.nodes.items():
            with progress.step(f"export {label}"):
                node_ids[label] = writer.nodes(label, frame)
        for rel, frame in selection.relationships.items():
            start, end = REL_ENDS[rel]
            if start not in node_ids or end not in node_ids:
                continue
            with progress.step(f"export {rel}"):
                writer.relationships(rel, frame, node_ids[start], node_ids[end])


# Bolt, direct or routed, plain or TLS (+s verifies the certificate, +ssc accepts self-signed).
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def resolve_credentials(user: str | None, password: str | None) -> tuple[str | None, str | None]:
    """Explicit values first, then NEO4J_USER / NEO4J_PASSWORD from the environment."""
    user = user if user is not None else os.environ.get("NEO4J_USER")
    password = password if password is not None else os.environ.get("NEO4J_PASSWORD")
    return user, password


def open_driver(uri: str, user: str | None = None, password: str | None = None, *,
                ask_credentials: Callable[[], tuple[str, str]] | None = None) -> Any:
    """A connected driver for ``uri`` (bolt://, neo4j://, and their +s / +ssc forms).

    Without credentials it connects unauthenticated; if the server then demands them, it calls
    ``ask_credentials`` (the CLI prompts with hidden input) or fails. Errors name the URI only.
    """
    import neo4j
    from neo4j.exceptions import AuthError, ServiceUnavailable

    user, password = resolve_credentials(user, password)
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme not in BOLT_SCHEMES:
        raise ConfigError(f"invalid Neo4j URI {uri!r}: the scheme must be one of "
                          f"{', '.join(BOLT_SCHEMES)}")

    def connect(auth: tuple[str, str] | None) -> Any:
        try:
            driver = neo4j.GraphDatabase.driver(uri, auth=auth)
        except (ValueError, neo4j.exceptions.ConfigurationError) as exc:
            raise ConfigError(f"invalid Neo4j URI {uri!r}: {exc}") from exc
        try:
            driver.verify_connectivity()
        except BaseException:
            driver.close()
            raise
        return driver

    auth = (user or "neo4j", password) if password is not None else None
    try:
        try:
            return connect(auth)
        except AuthError:
            if auth is not None or ask_credentials is None:
                raise
            return connect(ask_credentials())
    except AuthError as exc:
        raise ExportError(f"Neo4j at {uri} refused the credentials (set NEO4J_USER and "
                          "NEO4J_PASSWORD)") from exc
    except (ServiceUnavailable, OSError) as exc:
        raise ExportError(f"cannot connect to Neo4j at {uri}: {type(exc).__name__}") from exc
    except _cypher_error_types() as exc:
        raise ExportError(f"Neo4j at {uri} failed: {type(exc).__name__}: "
                          f"{getattr(exc, 'message', None) or exc}") from exc


def export_to_neo4j(
    result_dir: str | os.PathLike[str],
    uri: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    communities: str | Sequence[int] = "top:20",
    min_suspicion: float | None = None,
    replace: bool = False,
    batch_size: int = 10_000,
    database: str | None = None,
    progress: Progress | None = None,
    ask_credentials: Callable[[], tuple[str, str]] | None = None,
) -> ExportReport:
    """Export the chosen communities of a detection output to the Neo4j at ``uri`` (default:
    NEO4J_URI). Creates the schema first; ``replace`` first removes earlier exports."""
    uri = uri or os.environ.get("NEO4J_URI")
    if not uri:
        raise ConfigError("no Neo4j URI (pass --neo4j-uri or set NEO4J_URI)")
    progress = progress or quiet()
    with progress.step("export: select"):
        selection = select(result_dir, communities, min_suspicion)
    started = time.perf_counter()
    driver = open_driver(uri, user, password, ask_credentials=ask_credentials)
    try:
        with progress.step("export: schema"):
            apply_schema(driver, database)
        if replace:
            with progress.step("export: replace"):
                clear_previous(driver, database)
        write_selection(driver, selection, batch_size=batch_size, database=database,
                        progress=progress)
    except _cypher_error_types() as exc:
        raise ExportError(f"export to {uri} failed: {type(exc).__name__}: "
                          f"{getattr(exc, 'message', None) or exc}") from exc
    finally:
        driver.close()
    nodes, rels = selection.counts()
    return ExportReport(uri=uri, run_id=selection.run_id, community_ids=selection.community_ids,
                        nodes=nodes, relationships=rels,
                        seconds=time.perf_counter() - started, replaced=replace)


__all__ = ["ExportReport", "Selection", "apply_schema", "choose_communities", "clear_previous",
           "export_to_neo4j", "open_driver", "read_manifest", "select", "write_selection"]
