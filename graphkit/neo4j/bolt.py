"""The Bolt writer: a :class:`~graphkit.neo4j.selection.Selection` into a running Neo4j.

The server's commit work per created element bounds the rate (docs/performance.md), so the
writer asks it for as little else as possible:

1. Nodes: one read finds which keys already have a node (index seeks); the others are CREATEd
   with their labels and properties in one map, the existing ones updated by id. Every write
   returns the nodes' internal ids, and a key -> element id table (pandas) replaces the two
   index seeks a relationship row would otherwise need.
2. Relationships: one read per type lists the relationships of that type (of this run, for
   SIMILAR_TO) leaving the selected start nodes. Rows whose (start, end) pair exists update it
   by relationship id; the others are CREATEd between nodes looked up by id. The read is
   skipped when the database holds no relationship of the type (the counts store answers
   that), so the first export into an empty database is all CREATE. The result is what MERGE
   then SET would give: one relationship per (start, end) (per run for SIMILAR_TO), its
   properties the latest.

Internal ids are only used within one export, between the writes that returned them and the
writes that use them. One export at a time: a concurrent writer adding the same relationships
between the read and the CREATE would leave duplicates (nodes are protected by the uniqueness
constraints: the export would fail instead). The query text is built in
:mod:`graphkit.neo4j.cypher`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from graphkit.errors import ConfigError, ExportError
from graphkit.neo4j.cypher import (
    _EID,
    _ID,
    _SID,
    REPLACE_QUERIES,
    SCHEMA_STATEMENTS,
    columns,
    holds_any_queries,
    node_create_query,
    node_lookup_query,
    node_update_query,
    rel_create_query,
    rel_lookup_query,
    rel_update_query,
    replace_queries,
    schema_statements,
)
from graphkit.neo4j.selection import END, START, SUSPICION_BANDS, Selection, suspicion_band
from graphkit.progress import Progress, quiet
from graphkit.registry import ACCOUNT_LABEL, Registry


def cypher_error_types() -> tuple[type[BaseException], ...]:
    """The driver's exceptions for a failed query or connection (imported lazily)."""
    from neo4j.exceptions import DriverError, Neo4jError

    return (Neo4jError, DriverError)


def apply_schema(driver: Any, database: str | None = None,
                 registry: Registry | None = None) -> None:
    """Create graphkit's constraints and indexes (idempotent; a uniqueness constraint per label
    of ``registry``, the run's declared kinds included) and wait until they are online."""
    with driver.session(database=database) as session:
        for statement in (schema_statements(registry) if registry else SCHEMA_STATEMENTS):
            session.run(statement).consume()
        session.run("CALL db.awaitIndexes(300)").consume()


def clear_previous(driver: Any, database: str | None = None,
                   registry: Registry | None = None) -> None:
    """Remove what earlier exports wrote (see ``REPLACE_QUERIES`` and docs/neo4j.md)."""
    with driver.session(database=database) as session:
        for query in (replace_queries(registry) if registry else REPLACE_QUERIES):
            session.run(query).consume()


# --- transaction functions ----------------------------------------------------------------------

def _write_batch(tx: Any, query: str, cols: dict[str, list[Any]], n: int,
                 params: dict[str, Any]) -> None:
    tx.run(query, c=cols, n=n, **params).consume()


def _write_returning_ids(tx: Any, query: str, cols: dict[str, list[Any]], n: int,
                         params: dict[str, Any]) -> tuple[list[int], list[str]]:
    record = tx.run(query, c=cols, n=n, **params).single(strict=True)
    return record["i"], record["id"]


def _read_rels(tx: Any, query: str, ids: list[str], params: dict[str, Any]
               ) -> tuple[list[str], list[str], list[str]]:
    record = tx.run(query, ids=ids, **params).single(strict=True)
    return record["s"], record["e"], record["r"]


def _holds_any(tx: Any, label: str | None = None, rel: str | None = None,
               registry: Registry | None = None) -> bool:
    """Whether the database holds any node with ``label`` / relationship of type ``rel`` (the
    counts store answers in O(1); an unknown name is checked first, as counting it warns)."""
    names, count = holds_any_queries(label, rel, registry)
    if (label or rel) not in tx.run(names).single(strict=True)["names"]:
        return False
    return int(tx.run(count).single(strict=True)["n"]) > 0


def _batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


def _strings(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _band_parts(label: str, frame: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """(band label, row mask) per write: Accounts one per suspicion band (labels cannot be
    parameters), other labels all rows at once."""
    if label != ACCOUNT_LABEL:
        return [("", np.ones(len(frame), dtype=bool))]
    bands = suspicion_band(frame["suspicion"]).to_numpy()
    return [(band, bands == band) for band in ("", *(b for b, _ in SUSPICION_BANDS))]


class _Writer:
    """One export's Bolt writes: a session, the batch size, the run's parameters."""

    def __init__(self, session: Any, batch_size: int, params: dict[str, Any],
                 registry: Registry | None = None) -> None:
        self.session, self.batch_size, self.params = session, batch_size, params
        self.reg = registry or Registry.static()

    def write(self, query: str, frame: pd.DataFrame) -> None:
        for batch in _batches(frame, self.batch_size):
            self.session.execute_write(_write_batch, query, columns(batch), len(batch),
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
            rows, ids = run(_write_returning_ids, query, columns(batch), len(batch),
                            self.params)
            out[at + np.asarray(rows, dtype=np.int64)] = _strings(ids)
        return out

    def read_returning_ids(self, query: str, frame: pd.DataFrame) -> np.ndarray:
        return self.write_returning_ids(query, frame, read_only=True)

    def holds_any(self, label: str | None = None, rel: str | None = None) -> bool:
        return bool(self.session.execute_read(_holds_any, label, rel, self.reg))

    # -- nodes

    def nodes(self, label: str, frame: pd.DataFrame) -> pd.Series:
        """Write one label's nodes; their element ids by key."""
        key = self.reg.node_keys[label]
        frame = frame.drop_duplicates(key, keep="last").reset_index(drop=True)
        ids = np.full(len(frame), None, dtype=object)
        if len(frame) and self.holds_any(label=label):
            ids = self.read_returning_ids(node_lookup_query(label, self.reg), frame[[key]])
        for band, mask in _band_parts(label, frame):
            found = pd.notna(ids)
            old, new = mask & found, mask & ~found
            if old.any():
                update = frame[old].assign(**{_ID: ids[old]})
                query = node_update_query(label, update, band, self.reg)
                if query:
                    self.write(query, update)
            if new.any():
                ids[new] = self.write_returning_ids(
                    node_create_query(label, frame, band, self.reg), frame[new])
        if pd.isna(ids).any():
            raise ExportError(f"the server returned no node for some {label} rows")
        return pd.Series(ids, index=pd.Index(frame[key]))

    # -- relationships

    def relationships(self, rel: str, frame: pd.DataFrame, start_ids: pd.Series,
                      end_ids: pd.Series) -> None:
        rows = _rel_rows(frame, start_ids, end_ids)
        if not len(rows):
            return
        existing = self.existing_rels(rel, rows[_SID].drop_duplicates().to_numpy())
        if len(existing):
            update = rows.merge(existing, on=[_SID, _EID], how="inner")  # all, as MERGE sets
            pairs = pd.MultiIndex.from_frame(existing[[_SID, _EID]])
            create = rows[~pd.MultiIndex.from_frame(rows[[_SID, _EID]]).isin(pairs)]
            if len(update):
                self.write(rel_update_query(update), update.drop(columns=[_SID, _EID]))
        else:
            create = rows
        if len(create):
            self.write(rel_create_query(rel, create, self.reg), create)

    def existing_rels(self, rel: str, start_ids: np.ndarray) -> pd.DataFrame:
        """(start id, end id, relationship id) of the ``rel`` relationships leaving
        ``start_ids`` (of this run, for SIMILAR_TO)."""
        parts = [pd.DataFrame({_SID: [], _EID: [], _ID: []}, dtype=object)]
        if self.holds_any(rel=rel):
            query = rel_lookup_query(rel, self.reg)
            for at in range(0, len(start_ids), self.batch_size):
                s, e, r = self.session.execute_read(
                    _read_rels, query, start_ids[at:at + self.batch_size].tolist(), self.params)
                parts.append(pd.DataFrame({_SID: _strings(s), _EID: _strings(e),
                                           _ID: _strings(r)}))
        return pd.concat(parts, ignore_index=True)


def _rel_rows(frame: pd.DataFrame, start_ids: pd.Series, end_ids: pd.Series) -> pd.DataFrame:
    """A relationship table with its ends as node element ids (``_sid``, ``_eid``) instead of
    keys; one row per (start, end), the last (a repeated pair updates it, as MERGE would)."""
    s = start_ids.index.get_indexer(frame[START])
    e = end_ids.index.get_indexer(frame[END])
    keep = (s >= 0) & (e >= 0)  # an end outside the selection: no relationship, as MATCH
    rows = frame[keep].drop(columns=[START, END, "run_id"], errors="ignore").assign(**{
        _SID: start_ids.to_numpy()[s[keep]], _EID: end_ids.to_numpy()[e[keep]]})
    return rows.drop_duplicates([_SID, _EID], keep="last")


def write_selection(driver: Any, selection: Selection, *, batch_size: int = 10_000,
                    database: str | None = None, progress: Progress | None = None) -> None:
    """Write a selection, one transaction per batch of ``batch_size`` rows: nodes first (found
    by key, else created; their ids kept), then relationships between those ids (an existing
    one per (start, end) is updated, else one is created). See the module notes."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    progress = progress or quiet()
    params = {"run_id": selection.run_id}
    with driver.session(database=database) as session:
        writer = _Writer(session, batch_size, params, selection.registry)
        node_ids: dict[str, pd.Series] = {}
        for label, frame in selection.nodes.items():
            with progress.step(f"export {label}"):
                node_ids[label] = writer.nodes(label, frame)
        for rel, frame in selection.relationships.items():
            start, end = selection.registry.rel_ends[rel]
            if start not in node_ids or end not in node_ids:
                continue
            with progress.step(f"export {rel}"):
                writer.relationships(rel, frame, node_ids[start], node_ids[end])


__all__ = ["apply_schema", "clear_previous", "cypher_error_types", "write_selection"]
