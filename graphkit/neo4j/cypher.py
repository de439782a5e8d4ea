"""The Cypher text the Bolt export runs: the schema, the batch queries and the replace queries.

A batch travels as one map of columns (``$c``: property -> list of values) and a query walks it
by row number. That spares building a dict per row in Python, and datetimes travel as two
integer columns (epoch seconds, nanoseconds) that Cypher turns into DATETIME values: the
driver's own datetime encoding costs more than the whole write of the row.

Labels and relationship types cannot be parameters, so they are spliced into the text; every
one comes from :mod:`graphkit.registry` and passes :func:`graphkit.registry.check_identifier`
(the suspicion-band labels, graphkit's own, are checked here). Column names become property
names only after matching a plain identifier. Data only ever travels as parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphkit.errors import ExportError
from graphkit.neo4j.selection import END, START, SUSPICION_BANDS, _utc
from graphkit.registry import (
    ACCOUNT_LABEL,
    COMMUNITY_KEY,
    COMMUNITY_LABEL,
    NODE_KEYS,
    REL_ENDS,
    Registry,
    check_identifier,
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROWS = "UNWIND range(0, $n - 1) AS i WITH $c AS c, i "
_ID = "_id"  # column of internal ids (of a node, or of an existing relationship)
_SID, _EID = "_sid", "_eid"  # internal ids of a relationship row's start and end nodes
_RETURN_IDS = " RETURN collect(i) AS i, collect(elementId(n)) AS id"

for _band, _ in SUSPICION_BANDS:  # graphkit's own labels, spliced like the registry's
    if not _IDENT.match(_band):  # pragma: no cover - a static table
        raise ExportError(f"suspicion band label {_band!r} is not a plain identifier")


# --- the schema ---------------------------------------------------------------------------------

def _constraint_name(label: str) -> str:
    """``graphkit_`` and the label in snake case (``PaymentMethod`` -> ``payment_method``).

    >>> _constraint_name("PaymentMethod"), _constraint_name("IP")
    ('graphkit_payment_method', 'graphkit_ip')
    """
    return "graphkit_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", label).lower()


def _key_constraint(label: str, registry: Registry | None = None) -> str:
    """The uniqueness constraint on ``label``'s key (Community: unique per run)."""
    reg = registry or Registry.static()
    reg.check_identifier(label)
    prop = ("(n.run_id, n.community_id)" if label == COMMUNITY_LABEL
            else f"n.{reg.node_keys[label]}")
    return (f"CREATE CONSTRAINT {_constraint_name(label)} IF NOT EXISTS FOR (n:{label}) "
            f"REQUIRE {prop} IS UNIQUE")


# The schema `export` applies first: one uniqueness constraint per registry label (each also
# creates the index the key look-ups seek in), then the indexes investigator queries filter on.
# cypher/schema.cypher holds the same statements (tested).
SCHEMA_STATEMENTS: tuple[str, ...] = (
    *(_key_constraint(label) for label in NODE_KEYS),
    "CREATE INDEX graphkit_community_suspicion IF NOT EXISTS FOR (n:Community) ON (n.suspicion)",
    "CREATE INDEX graphkit_account_suspicion IF NOT EXISTS FOR (n:Account) ON (n.suspicion)",
    "CREATE INDEX graphkit_account_created IF NOT EXISTS FOR (n:Account) ON (n.created_at)",
)

# What replace removes: every relationship graphkit wrote (all carry run_id), every Community
# node, then graphkit-labelled nodes left without any relationship. Other labels, and nodes
# still holding a relationship someone added by hand, are kept.
REPLACE_QUERIES: tuple[str, ...] = (
    *(f"MATCH ()-[r:{check_identifier(rel)}]->() WHERE r.run_id IS NOT NULL "
      "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS" for rel in REL_ENDS),
    f"MATCH (c:{COMMUNITY_LABEL}) CALL (c) {{ DETACH DELETE c }} IN TRANSACTIONS OF 10000 ROWS",
    *(f"MATCH (n:{check_identifier(label)}) WHERE NOT (n)--() "
      "CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"
      for label in NODE_KEYS if label != COMMUNITY_LABEL),
)


def schema_statements(registry: Registry | None = None) -> tuple[str, ...]:
    """The schema of a run's registry: :data:`SCHEMA_STATEMENTS` plus a uniqueness constraint
    per declared kind's label (labels from the sanitized whitelist)."""
    reg = registry or Registry.static()
    extra = tuple(_key_constraint(label, reg) for label in reg.node_keys
                  if label not in NODE_KEYS)
    return (*SCHEMA_STATEMENTS, *extra)


def replace_queries(registry: Registry | None = None) -> tuple[str, ...]:
    """:data:`REPLACE_QUERIES` for a run's registry (declared labels and relation types too)."""
    reg = registry or Registry.static()
    rels = [r for r in reg.rel_ends if r not in REL_ENDS]
    labels = [n for n in reg.node_keys if n not in NODE_KEYS]
    return (*(f"MATCH ()-[r:{reg.check_identifier(rel)}]->() WHERE r.run_id IS NOT NULL "
              "CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS" for rel in rels),
            *REPLACE_QUERIES,
            *(f"MATCH (n:{reg.check_identifier(label)}) WHERE NOT (n)--() "
              "CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS" for label in labels))


# --- batches as columns -------------------------------------------------------------------------

def _is_datetime(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.DatetimeTZDtype) or \
        pd.api.types.is_datetime64_any_dtype(series)


def columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """A batch as columns of plain Python values (None for missing); a datetime column ``x``
    as ``x.s`` (epoch seconds) and ``x.ns`` (nanoseconds within the second).

    >>> columns(pd.DataFrame({"k": ["a", None],
    ...                       "t": pd.to_datetime(["1970-01-01 00:00:01.5", None], utc=True)}))
    {'k': ['a', None], 't.s': [1, None], 't.ns': [500000000, None]}
    """
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


# --- property lists -----------------------------------------------------------------------------

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


# --- node queries -------------------------------------------------------------------------------

def _band_labels(band: str) -> str:
    return f":{band}" if band else ""


def _key_pattern(label: str, column: str | None = None, registry: Registry | None = None) -> str:
    """``(n:Label {key: ...})``: row i's key, from ``column`` (default: the key property)."""
    reg = registry or Registry.static()
    key = reg.node_keys[label]
    if label == COMMUNITY_LABEL:
        return (f"(n:{COMMUNITY_LABEL} {{run_id: $run_id, {COMMUNITY_KEY}: "
                f"c.`{column or key}`[i]}})")
    return f"(n:{reg.check_identifier(label)} {{`{key}`: c.`{column or key}`[i]}})"


def node_lookup_query(label: str, registry: Registry | None = None) -> str:
    """The ids of the nodes that hold a batch's keys (rows without a node return nothing).

    >>> node_lookup_query("IP")
    'UNWIND range(0, $n - 1) AS i WITH $c AS c, i MATCH (n:IP {`ip`: c.`ip`[i]}) \
RETURN collect(i) AS i, collect(elementId(n)) AS id'
    """
    return _ROWS + f"MATCH {_key_pattern(label, registry=registry)}" + _RETURN_IDS


def node_create_query(label: str, frame: pd.DataFrame, band: str = "",
                      registry: Registry | None = None) -> str:
    """CREATE a batch of nodes (key, properties, band label in one map) and return their ids."""
    # Community: unique together with run_id, which is the export's.
    skip = ("run_id",) if label == COMMUNITY_LABEL else ()
    extra = ("run_id: $run_id",) if label == COMMUNITY_LABEL else ()
    return (_ROWS + f"CREATE (n:{check_identifier(label, registry)}{_band_labels(band)}"
            f"{_map(frame, skip, *extra)})" + _RETURN_IDS)


def node_update_query(label: str, frame: pd.DataFrame, band: str = "",
                      registry: Registry | None = None) -> str:
    """SET the properties of a batch of existing nodes given by id (``_id``); "" when there is
    nothing to set (a node of its key alone)."""
    key = (registry or Registry.static()).node_keys[label]
    sets = _set("n", frame, (key, _ID))
    if not sets and label != ACCOUNT_LABEL:
        return ""
    query = _ROWS + f"MATCH (n) WHERE elementId(n) = c.{_ID}[i]" + sets
    if label == ACCOUNT_LABEL:
        # Band labels follow the latest suspicion: drop the old one, add the new one.
        query += " REMOVE n" + "".join(f":{b}" for b, _ in SUSPICION_BANDS)
        query += f" SET n:{band}" if band else ""
    return query


# --- relationship queries -----------------------------------------------------------------------

def _rel_props(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in (START, END, _SID, _EID, _ID, "run_id")
                               if c in frame.columns])


def rel_create_query(rel: str, frame: pd.DataFrame, registry: Registry | None = None) -> str:
    """CREATE a batch of relationships between nodes given by id (``_sid``, ``_eid``)."""
    return (_ROWS + f"MATCH (s) WHERE elementId(s) = c.{_SID}[i] "
            f"MATCH (e) WHERE elementId(e) = c.{_EID}[i] "
            f"CREATE (s)-[r:{check_identifier(rel, registry)}"
            f"{_map(_rel_props(frame), (), 'run_id: $run_id')}]->(e)")


def rel_update_query(frame: pd.DataFrame) -> str:
    """SET the properties of a batch of existing relationships given by id (``_id``)."""
    return (_ROWS + f"MATCH ()-[r]->() WHERE elementId(r) = c.{_ID}[i]"
            + _set("r", _rel_props(frame), (), "r.run_id = $run_id"))


def rel_lookup_query(rel: str, registry: Registry | None = None) -> str:
    """The relationships of type ``rel`` leaving given nodes (SIMILAR_TO: of this run only,
    one relationship per run; the other types are facts of the logs)."""
    where = " WHERE r.run_id = $run_id" if rel == "SIMILAR_TO" else ""
    return (f"UNWIND $ids AS sid MATCH (s) WHERE elementId(s) = sid "
            f"MATCH (s)-[r:{check_identifier(rel, registry)}]->(e){where} "
            "RETURN collect(sid) AS s, collect(elementId(e)) AS e, collect(elementId(r)) AS r")


def holds_any_queries(label: str | None = None, rel: str | None = None,
                      registry: Registry | None = None) -> tuple[str, str]:
    """The query listing the database's labels (or relationship types) and the one counting
    ``label``'s nodes (or ``rel``'s relationships)."""
    if label is not None:
        return ("CALL db.labels() YIELD label RETURN collect(label) AS names",
                f"MATCH (n:{check_identifier(label, registry)}) RETURN count(n) AS n")
    return (("CALL db.relationshipTypes() YIELD relationshipType "
             "RETURN collect(relationshipType) AS names"),
            f"MATCH ()-[r:{check_identifier(str(rel), registry)}]->() RETURN count(r) AS n")


__all__ = ["REPLACE_QUERIES", "SCHEMA_STATEMENTS", "columns", "holds_any_queries",
           "node_create_query", "node_lookup_query", "node_update_query", "rel_create_query",
           "rel_lookup_query", "rel_update_query", "replace_queries", "schema_statements"]
