"""Export a detection result to Neo4j over Bolt, for investigators to explore in Neo4j Browser.

:func:`select` reads a detection output directory (accounts.csv, communities.csv, links.csv,
manifest.json, graph/) and cuts out the chosen communities with everything that ties them
together, as one table per node label and relationship type (:class:`Selection`). The Bolt
writer (:func:`write_selection`) and the neo4j-admin CSV writer (:mod:`graphkit.bulk`) both
consume that one selection, so the two paths write the same graph.

The model (docs/neo4j.md)::

    (:Account)-[:USED_IP]->(:IP)-[:OPERATED_BY]->(:ProxyProvider)
    (:Account)-[:PAID_WITH]->(:PaymentMethod)   (:Account)-[:SENT]->(:PromptTemplate)
    (:Account)-[:USED_AGENT]->(:UserAgent)      (:Account)-[:CALLED]->(:Model)
    (:Account)-[:SIMILAR_TO]->(:Account)        (:Account)-[:MEMBER_OF]->(:Community)

Writes are idempotent (MERGE on keys, then SET), batched as ``UNWIND $rows``, and every
relationship carries the detection's ``run_id``.

>>> # doctest: +SKIP
>>> report = export_to_neo4j("out/", "bolt://localhost:7687", communities="top:5")
>>> report.nodes["Account"], report.relationships["MEMBER_OF"]
(212, 212)
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
    from graphkit.graph import EDGE_TYPES, HeteroGraph

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

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROWS = "UNWIND range(0, $n - 1) AS i WITH $c AS c, i "


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
    return pd.Series(values, dtype=object).where(~missing, None).tolist()


def _value(frame: pd.DataFrame, col: str) -> str:
    """Cypher for row i's value of ``col`` (column names were checked to be identifiers)."""
    if _is_datetime(frame[col]):
        sec, nano = f"c.`{col}.s`[i]", f"c.`{col}.ns`[i]"
        return (f"CASE WHEN {sec} IS NULL THEN null "
                f"ELSE datetime({{epochSeconds: {sec}, nanosecond: {nano}}}) END")
    return f"c.`{col}`[i]"


def _set(var: str, frame: pd.DataFrame, skip: Sequence[str], *extra: str) -> str:
    """`` SET var.col = ..., ...`` for every column but ``skip``, then ``extra`` items."""
    for col in frame.columns:
        if not _IDENT.match(str(col)):
            raise ExportError(f"column {col!r} is not a valid Neo4j property name")
    items = [f"{var}.`{col}` = {_value(frame, col)}" for col in frame.columns if col not in skip]
    items += extra
    return " SET " + ", ".join(items) if items else ""


def _node_query(label: str, frame: pd.DataFrame, band: str = "") -> str:
    key = NODE_KEYS[label]
    if label == "Community":
        merge = "MERGE (n:Community {run_id: $run_id, community_id: c.community_id[i]})"
    else:
        merge = f"MERGE (n:{label} {{{key}: c.{key}[i]}})"
    query = _ROWS + merge + _set("n", frame, (key,))
    if label == "Account":
        # Band labels follow the latest suspicion: drop the old one, add the new one.
        query += " REMOVE n" + "".join(f":{b}" for b, _ in SUSPICION_BANDS)
        query += f" SET n:{band}" if band else ""
    return query


def _end_match(var: str, label: str, column: str) -> str:
    if label == "Community":
        return f"MATCH ({var}:Community {{run_id: $run_id, community_id: c.{column}[i]}})"
    return f"MATCH ({var}:{label} {{{NODE_KEYS[label]}: c.{column}[i]}})"


def _rel_query(rel: str, frame: pd.DataFrame) -> str:
    start, end = REL_ENDS[rel]
    # SIMILAR_TO scores depend on the run's settings: one relationship per run. The other
    # relationships are facts of the logs (or of a Community node that is itself per run).
    key = " {run_id: $run_id}" if rel == "SIMILAR_TO" else ""
    return (_ROWS + f"{_end_match('s', start, START)} {_end_match('e', end, END)} "
            f"MERGE (s)-[r:{rel}{key}]->(e)"
            + _set("r", frame, (START, END, "run_id"), "r.run_id = $run_id"))


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


def write_selection(driver: Any, selection: Selection, *, batch_size: int = 10_000,
                    database: str | None = None, progress: Progress | None = None) -> None:
    """Write a selection: nodes first (MERGE on key), then relationships, one transaction per
    batch of ``batch_size`` rows."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    progress = progress or quiet()
    params = {"run_id": selection.run_id}
    with driver.session(database=database) as session:
        jobs = []
        for label, frame in selection.nodes.items():
            if label == "Account":
                # One query per suspicion band: labels cannot be parameters.
                bands = suspicion_band(frame["suspicion"]).to_numpy()
                jobs += [(label, _node_query(label, frame, band), frame[bands == band])
                         for band in ("", *(b for b, _ in SUSPICION_BANDS))]
            else:
                jobs.append((label, _node_query(label, frame), frame))
        jobs += [(rel, _rel_query(rel, frame), frame)
                 for rel, frame in selection.relationships.items()]
        for name, query, frame in jobs:
            with progress.step(f"export {name}"):
                for batch in _batches(frame, batch_size):
                    session.execute_write(_write_batch, query, _columns(batch), len(batch),
                                          params)


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
