"""Candidate pairs and link similarities as stage SQL, one definition for DuckDB and Spark.

The pair-sized part of link scoring (:mod:`graphkit.detection.links`) is two
:class:`~graphkit.engine.stages.Stage` texts in DuckDB's dialect, run as written by DuckDB and
transpiled by SQLGlot for Spark:

* ``link_candidates``: the account pairs (a < b) sharing an entity of a specific signal small
  enough to expand into all its pairs, plus the pairs of the seeded ring inside the larger
  entities (each member tied to its ``reach`` successors; the ring order is the local engine's,
  :func:`graphkit.detection.links.ring_order`, carried as a position per member), plus any pairs
  proposed otherwise (synchrony LSH when timing stands alone).
* ``link_similarities``: per candidate pair and weighted entity signal, the sum over the shared
  entities of ``root_a * root_b`` (``root = sqrt(share * idf)``), the summed log miss
  probability of the shared ring entities (the pair's ``inclusion``) and whether an expanded
  entity holds both.

Their input, ``roots``, is one row per (signal, entity, account) of the entities that can tie
two accounts (degree >= 2, weight > 0): it is as large as the account-entity aggregates, not
the events, and it is built on the driver from the signal matrices (near-duplicate template
families, operated IP factors and declared values are applied there). The evidence combination
(corroboration gate, synchrony on the candidates, noisy-OR, ``min_link_score``) runs on the
driver over the collected similarities with the local engine's functions, so both engines give
the local engine's links (:func:`graphkit.detection.links.score_links`): the same pairs, scores
within float summation order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection import links as links_mod
from graphkit.detection.links import Candidates, Links, SignalMatrix, Similarities
from graphkit.detection.minhash import sorted_unique
from graphkit.engine.stages import Stage
from graphkit.progress import Progress, quiet
from graphkit.registry import Registry
from graphkit.settings import Settings

# The relations the link stages read, with their Spark DDL schema (DuckDB reads the frames).
LINK_INPUTS: dict[str, str] = {
    "roots": ("signal int, entity bigint, account bigint, root double, specific boolean, "
              "large boolean, pos bigint, deg bigint, reach bigint, log_miss double"),
    "offsets": "j bigint",
    "extra_pairs": "a bigint, b bigint",
}
_ROOT_DTYPES = {"signal": np.int32, "entity": np.int64, "account": np.int64,
                "root": np.float64, "specific": bool, "large": bool, "pos": np.int64,
                "deg": np.int64, "reach": np.int64, "log_miss": np.float64}


def candidates_sql() -> str:
    """Distinct candidate pairs (a < b): expanded entities, ring neighbours, extra pairs."""
    return ("SELECT DISTINCT a, b FROM ("
            "SELECT r1.account AS a, r2.account AS b FROM roots r1 JOIN roots r2 "
            "ON r1.signal = r2.signal AND r1.entity = r2.entity AND r1.account < r2.account "
            "WHERE r1.specific AND NOT r1.large "
            "UNION ALL "
            "SELECT least(r1.account, r2.account) AS a, greatest(r1.account, r2.account) AS b "
            "FROM roots r1 JOIN offsets o ON o.j <= r1.reach "
            "JOIN roots r2 ON r2.signal = r1.signal AND r2.entity = r1.entity "
            "AND r2.pos = (r1.pos + o.j) % r1.deg WHERE r1.large "
            "UNION ALL SELECT a, b FROM extra_pairs) p")


def similarities_sql() -> str:
    """Per candidate pair and signal: similarity, summed log miss probability, expanded."""
    return ("SELECT c.a AS a, c.b AS b, r1.signal AS signal, sum(r1.root * r2.root) AS sim, "
            "sum(CASE WHEN r1.large THEN r1.log_miss ELSE 0.0 END) AS log_miss, "
            "max(CASE WHEN r1.specific AND NOT r1.large THEN 1 ELSE 0 END) AS expanded "
            "FROM link_candidates c JOIN roots r1 ON r1.account = c.a "
            "JOIN roots r2 ON r2.account = c.b AND r2.signal = r1.signal "
            "AND r2.entity = r1.entity GROUP BY c.a, c.b, r1.signal")


def link_stages() -> list[Stage]:
    """The link stages in the order they run."""
    return [Stage("link_candidates", candidates_sql(), ("roots", "offsets", "extra_pairs")),
            Stage("link_similarities", similarities_sql(), ("link_candidates", "roots"))]


@dataclass
class LinkInputs:
    """The link stages' input tables and what the driver needs to read their output."""

    tables: dict[str, pd.DataFrame]  # roots, offsets, extra_pairs
    names: list[str]  # signal code -> name (weighted entity signals, registry order)
    specific: set[str]
    ring_neighbours: int | None
    n_accounts: int


def _coo_rows(x: sp.spmatrix, code: int, specific: bool, entity_offset: int = 0
              ) -> pd.DataFrame:
    c = sp.coo_matrix(x)
    n = len(c.data)
    return pd.DataFrame({"signal": np.full(n, code), "entity": c.col + entity_offset,
                         "account": c.row, "root": c.data, "specific": np.full(n, specific),
                         "large": np.zeros(n, bool), "pos": np.zeros(n), "deg": np.zeros(n),
                         "reach": np.zeros(n), "log_miss": np.zeros(n)})


def _ring_rows(proj, code: int, seed: int) -> pd.DataFrame:
    """Roots of a signal's ring entities, each member with its ring position (the local
    engine's order), the ring's length, the member's reach and the entity's log miss."""
    row, col, pos, deg = links_mod.ring_order(proj.large, seed)
    root = np.asarray(proj.large.tocsr()[row, col]).ravel()
    return pd.DataFrame({"signal": np.full(len(row), code), "entity": col + proj.small.shape[1],
                         "account": row, "root": root, "specific": np.ones(len(row), bool),
                         "large": np.ones(len(row), bool), "pos": pos, "deg": deg,
                         "reach": proj.ring[col] // 2, "log_miss": proj.log_miss[col]})


def link_inputs(signals: dict[str, SignalMatrix], sync, settings: Settings,
                registry: Registry | None = None) -> LinkInputs:
    """The ``roots``, ``offsets`` and ``extra_pairs`` tables for ``signals``: the projections
    and ring plan of :func:`graphkit.detection.links.candidate_pairs`, as rows."""
    registry = registry or Registry.static()
    weighted, specific, k = links_mod.candidate_plan(signals, settings, registry)
    names = [name for name in registry.entity_signals if name in weighted]
    parts = []
    for code, name in enumerate(names):  # a handful of signals, each vectorized
        if name in specific:
            proj = links_mod._project(weighted[name], k)
            parts.append(_coo_rows(proj.small, code, True))
            if proj.large.shape[1]:
                parts.append(_ring_rows(proj, code, settings.seed + specific.index(name)))
        else:
            sig = weighted[name]
            parts.append(_coo_rows(links_mod._weighted_roots(sig, links_mod._used_entities(sig)),
                                   code, False))
    roots = (pd.concat(parts, ignore_index=True) if parts
             else pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _ROOT_DTYPES.items()}))
    roots = roots.astype(_ROOT_DTYPES)
    reach = int(roots.loc[roots["large"], "reach"].max()) if roots["large"].any() else 0
    extra = np.zeros((0, 2), np.int64)
    if sync is not None and settings.weight("synchrony") > 0 and settings.sync_corroboration <= 0:
        extra = np.asarray(sync.candidate_pairs(settings), np.int64).reshape(-1, 2)
    n = next(iter(signals.values())).shares.shape[0] if signals else len(sync.n_windows)
    return LinkInputs({"roots": roots,
                       "offsets": pd.DataFrame({"j": np.arange(1, reach + 1, dtype=np.int64)}),
                       "extra_pairs": pd.DataFrame({"a": extra[:, 0], "b": extra[:, 1]})},
                      names, set(specific), k, n)


def _pair_keys(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.asarray(a, np.int64) << 32) | np.asarray(b, np.int64)


def links_from_outputs(inputs: LinkInputs, out: dict[str, pd.DataFrame], sync,
                       settings: Settings, registry: Registry | None = None) -> Links:
    """The :class:`~graphkit.detection.links.Links` from the link stages' collected output:
    similarities per signal, inclusion, then the driver's evidence combination
    (:func:`~graphkit.detection.links.corroboration_gate`,
    :func:`~graphkit.detection.links.add_synchrony`, :func:`~graphkit.detection.links.link_table`).
    """
    cands = out["link_candidates"]
    keys = sorted_unique(_pair_keys(cands["a"].to_numpy(), cands["b"].to_numpy()))
    sims = out["link_similarities"]
    where = np.searchsorted(keys, _pair_keys(sims["a"].to_numpy(), sims["b"].to_numpy()))
    code = sims["signal"].to_numpy(np.int64)
    n_pairs = len(keys)
    expanded = np.zeros(n_pairs, bool)
    expanded[where[sims["expanded"].to_numpy(np.int64) > 0]] = True
    log_miss = np.bincount(where, weights=sims["log_miss"].to_numpy(np.float64),
                           minlength=n_pairs)
    columns: dict[str, np.ndarray] = {}
    footprint, supporting = np.zeros(n_pairs), np.zeros(n_pairs)
    for i, name in enumerate(inputs.names):  # a handful of signals, each vectorized
        at = code == i
        sim = np.zeros(n_pairs)
        sim[where[at]] = sims["sim"].to_numpy(np.float64)[at]
        columns[name] = np.clip(sim, 0.0, 1.0)
        if name in inputs.specific:
            footprint += settings.weight(name) * columns[name]
        else:
            supporting += settings.weight(name) * columns[name]
    drawn = -np.expm1(log_miss)
    similarities = Similarities(columns, footprint, supporting,
                                np.where(expanded | (drawn <= 0), 1.0, drawn))
    cand = Candidates(keys, {}, {}, inputs.ring_neighbours)
    gate = links_mod.corroboration_gate(footprint, settings)
    links_mod.add_synchrony(similarities, cand, gate, sync, settings)
    table = links_mod.link_table(similarities, cand, gate, settings, registry)
    return Links(table, inputs.n_accounts, dict(settings.signal_weights),
                 ring_neighbours=inputs.ring_neighbours, max_expansion=settings.max_expansion,
                 supporting=(registry or Registry.static()).supporting_signals)


Runner = Callable[[dict[str, pd.DataFrame], list[Stage]], dict[str, pd.DataFrame]]


def score_links_staged(signals: dict[str, SignalMatrix], sync, settings: Settings,
                       run: Runner, progress: Progress | None = None,
                       registry: Registry | None = None) -> Links:
    """:func:`graphkit.detection.links.score_links` with the pair-sized stages run by ``run``
    (:func:`run_link_stages_duckdb`, or :func:`graphkit.engine.spark.link_stage_runner`): it
    takes the input tables and the stages and returns each stage's collected result."""
    progress = progress or quiet()
    with progress.step("links: roots"):
        inputs = link_inputs(signals, sync, settings, registry)
    with progress.step("links: candidate pairs and similarities (stage SQL)"):
        out = run(inputs.tables, link_stages())
    with progress.step("links: synchrony of pairs"):
        return links_from_outputs(inputs, out, sync, settings, registry)


def run_link_stages_duckdb(tables: dict[str, pd.DataFrame], plan: list[Stage]
                           ) -> dict[str, pd.DataFrame]:
    """Run ``plan`` on a fresh in-memory DuckDB connection over ``tables`` (as written)."""
    import duckdb

    con = duckdb.connect()
    try:
        for name, frame in tables.items():  # three input tables
            con.register(name, frame)
        out = {}
        for stage in plan:  # two stages
            con.execute(f"CREATE TEMP TABLE {stage.name} AS {stage.sql}")
            out[stage.name] = con.execute(f"SELECT * FROM {stage.name}").df()
        return out
    finally:
        con.close()
