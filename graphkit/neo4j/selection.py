"""What an export writes: the chosen communities cut out of a detection output directory.

:func:`select` reads a detection output directory (accounts.csv, communities.csv, links.csv,
manifest.json, graph/) and cuts out the chosen communities with everything that ties them
together, as one table per node label and relationship type (:class:`Selection`). The Bolt
writer (:func:`graphkit.neo4j.bolt.write_selection`) and the neo4j-admin CSV writer
(:mod:`graphkit.neo4j.bulk`) both consume that one selection, so the two paths write the same
graph. Labels, keys and relationship types come from :mod:`graphkit.registry`.

Any value length: Neo4j cannot index a property value of more than about 8 KB, so a key whose
UTF-8 form is longer than :data:`MAX_KEY_BYTES` (or that starts with :data:`LONG_KEY_PREFIX`,
so that no given value can pose as another's hash) is stored as ``sha256:`` and its SHA-256 in
hex, with the whole value in the property ``<key>_full`` (:func:`stable_keys`). Both export
routes write the selection, so both store long values alike.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.errors import ConfigError, ExportError, GraphkitError, InputError
from graphkit.io.outputs import DETECT_FILES, verify_result_dir
from graphkit.io.tables import read_csv_strings
from graphkit.registry import ACCOUNT_LABEL, COMMUNITY_LABEL, SIGNALS, Registry

# Properties copied from the graph's account table when present (accounts.csv adds the scores).
ACCOUNT_FACTS = ("created_at", "status", "banned_at", "n_events", "org_id", "email_domain")

# Extra Account labels by suspicion (highest band first): Neo4j Browser styles nodes by label
# only, so these let cypher/graphkit.grass draw more suspicious accounts bigger.
SUSPICION_BANDS: tuple[tuple[str, float], ...] = (("SuspicionHigh", 0.6), ("SuspicionMedium", 0.3))

# Start/end key columns of relationship tables (underscored so they never clash with a property).
START, END = "_start", "_end"

# Keys longer than this many UTF-8 bytes are stored hashed (Neo4j's index key limit is about
# 8 KB; half of it leaves room for composite keys and encodings). A storage limit of Neo4j,
# not a detection setting: it changes how a key is stored, never which accounts are linked.
MAX_KEY_BYTES = 4000
LONG_KEY_PREFIX = "sha256:"
FULL_SUFFIX = "_full"  # the property holding a hashed key's whole value


@dataclass
class Selection:
    """What one export writes: a table per node label (key column first) and per relationship
    type (``_start``, ``_end`` keys, then properties). Datetime columns are UTC."""

    run_id: str
    nodes: dict[str, pd.DataFrame]
    relationships: dict[str, pd.DataFrame]
    community_ids: list[int] = field(default_factory=list)
    # The run's kinds (declared identifier kinds and relations add labels and types).
    registry: Registry = field(default_factory=Registry)

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
        bands = suspicion_band(self.nodes[ACCOUNT_LABEL]["suspicion"])
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


def stable_keys(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Keys Neo4j can index: each value as is, or ``sha256:<hex>`` of its UTF-8 bytes when it
    is longer than :data:`MAX_KEY_BYTES` bytes or starts with :data:`LONG_KEY_PREFIX`; and
    the whole value where a key was hashed (None elsewhere).

    >>> keys, full = stable_keys(pd.Series(["a1", "x" * 5000]))
    >>> keys.tolist()[0], keys.tolist()[1][:15], full.isna().tolist()
    ('a1', 'sha256:c59d3c04', [True, False])
    """
    text = values.astype(object)
    arr = pa.array(text.astype(str), type=pa.string())
    long = (np.asarray(pc.binary_length(arr)) > MAX_KEY_BYTES) | \
        np.asarray(pc.starts_with(arr, LONG_KEY_PREFIX))
    full = pd.Series(None, index=values.index, dtype=object)
    if not long.any():
        return values, full
    chosen = text[long]
    # Only the (rare) long values are hashed one by one.
    hashed = [LONG_KEY_PREFIX + hashlib.sha256(str(v).encode("utf-8")).hexdigest()
              for v in chosen]
    keys = text.copy()
    keys[long] = hashed
    full[long] = chosen
    return keys, full


def _store_long_keys(nodes: dict[str, pd.DataFrame], rels: dict[str, pd.DataFrame],
                     registry: Registry) -> None:
    """Replace long keys by their hash (:func:`stable_keys`) in every node and relationship
    table; a node table with any gets the ``<key>_full`` column right after its key."""
    for label, frame in nodes.items():
        if label == COMMUNITY_LABEL:
            continue
        key = registry.node_keys[label]
        keys, full = stable_keys(frame[key])
        if full.notna().any():
            frame[key] = keys
            frame.insert(frame.columns.get_loc(key) + 1, key + FULL_SUFFIX, full)
    for rel, frame in rels.items():
        for column, label in zip((START, END), registry.rel_ends[rel], strict=True):
            if label != COMMUNITY_LABEL:
                frame[column] = stable_keys(frame[column])[0]


# --- reading the detection output ---------------------------------------------------------------

def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    if not path.is_file():
        raise ExportError("missing detection output (run `graphkit detect` first)",
                          file=str(path))
    try:
        return read_csv_strings(path, **kwargs)
    except GraphkitError as exc:
        raise ExportError(f"cannot read detection output: {exc.message}",
                          file=str(path)) from exc


def read_manifest(result_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The detection's manifest.json, once the directory is verified complete and intact
    (:func:`graphkit.io.outputs.verify_result_dir`)."""
    try:
        return verify_result_dir(result_dir, required=DETECT_FILES)
    except InputError as exc:
        raise ExportError(exc.message, file=exc.file) from None


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
        chosen = _chosen_by_name(ranked, spec)
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


def _chosen_by_name(ranked: pd.DataFrame, spec: str) -> pd.DataFrame:
    """The rows of ``ranked`` that ``"all"``, ``"flagged"`` or ``"top:N"`` chooses."""
    text = spec.strip().lower()
    if text == "all":
        return ranked
    if text == "flagged":
        return ranked[ranked["flagged"].astype(bool)]
    if text.startswith("top:") and text[4:].isdigit() and int(text[4:]) > 0:
        return ranked.head(int(text[4:]))
    raise ConfigError(f"invalid community selection {spec!r} "
                      "(use top:N, flagged, all or community ids)")


def _graph_tables(graph_dir: Path
                  ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], Registry]:
    """The saved graph as an account table and one edge table per type: ``_start``/``_end``
    keys (node codes mapped to node keys) plus count, first_seen, last_seen, share."""
    from graphkit.graph.hetero import HeteroGraph

    if not graph_dir.is_dir():
        raise ExportError("missing detection output graph/ (run `graphkit detect` first)",
                          file=str(graph_dir))
    graph = HeteroGraph.load(graph_dir)
    registry = graph.registry
    edges: dict[str, pd.DataFrame] = {}
    for rel in registry.rel_ends:
        if rel not in graph.edges:
            continue
        table = graph.edges[rel]
        src_type, dst_type, _ = registry.edge_types[rel]
        src_keys = graph.nodes[src_type]["key"].to_numpy()
        dst_keys = graph.nodes[dst_type]["key"].to_numpy()
        props = table.drop(columns=["src", "dst"])
        edges[rel] = pd.concat(
            [pd.DataFrame({START: src_keys[table["src"].to_numpy()],
                           END: dst_keys[table["dst"].to_numpy()]}, index=table.index), props],
            axis=1).reset_index(drop=True)
    return graph.accounts, edges, registry


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, errors="coerce")


# --- the cut ------------------------------------------------------------------------------------

def _community_table(comms: pd.DataFrame, chosen: list[int], run_id: str) -> pd.DataFrame:
    """The chosen rows of communities.csv, in the chosen order, tagged with the run."""
    comm = comms[comms["community_id"].isin(chosen)].copy()
    comm = comm.set_index("community_id").loc[chosen].reset_index()
    comm["run_id"] = run_id
    return comm


def _account_table(accounts: pd.DataFrame, graph_accounts: pd.DataFrame, chosen: list[int],
                   run_id: str) -> pd.DataFrame:
    """Members of the chosen communities: accounts.csv's scores plus the graph's facts."""
    acc = accounts[accounts["community_id"].isin(chosen)].reset_index(drop=True)
    facts = [c for c in ACCOUNT_FACTS if c in graph_accounts.columns]
    acc = acc.merge(graph_accounts[["account_id", *facts]].drop_duplicates("account_id"),
                    on="account_id", how="left")
    for col in ("created_at", "banned_at"):
        if col in acc:
            acc[col] = _utc(acc[col])
    acc["run_id"] = run_id
    return acc


def _entity_tables(edges: dict[str, pd.DataFrame], ids: pd.Index,
                   nodes: dict[str, pd.DataFrame], rels: dict[str, pd.DataFrame],
                   registry: Registry | None = None) -> None:
    """Add to ``nodes``/``rels`` every entity the accounts ``ids`` used (with the aggregated
    edge), then the entities hanging off those (the proxy providers operating the IPs), and the
    relations (transfers, referrals) between two of the accounts."""
    reg = registry or Registry.static()
    for rel in reg.account_rels:
        table = edges.get(rel)
        if table is None:
            continue
        label = reg.rel_ends[rel][1]
        table = table[table[START].isin(ids)].reset_index(drop=True)
        rels[rel] = table
        nodes[label] = pd.DataFrame({reg.node_keys[label]:
                                     table[END].drop_duplicates().to_numpy()})
    for rel in reg.relation_rels:
        table = edges.get(rel)
        if table is not None:
            rels[rel] = table[table[START].isin(ids) & table[END].isin(ids)].reset_index(drop=True)
    for k in reg.kinds:
        if k.source == ACCOUNT_LABEL or k.rel not in edges or k.source not in nodes:
            continue
        table = edges[k.rel]
        table = table[table[START].isin(nodes[k.source][reg.node_keys[k.source]])]
        rels[k.rel] = table.reset_index(drop=True)
        nodes[k.label] = pd.DataFrame({k.key: table[END].drop_duplicates().to_numpy()})


def _similar_table(links: pd.DataFrame, ids: pd.Index,
                   signals: tuple[str, ...] = SIGNALS) -> pd.DataFrame:
    """Scored links with both ends among ``ids``, with the per-signal columns present."""
    inside = links["account_a"].isin(ids) & links["account_b"].isin(ids)
    sim = links[inside].rename(columns={"account_a": START, "account_b": END})
    return sim[[START, END, "score", *[c for c in signals if c in sim]]].reset_index(drop=True)


def _succession_table(result_dir: Path, ids: pd.Index) -> pd.DataFrame | None:
    """Successions (successions.csv) with both ends among ``ids``; None without the file."""
    path = result_dir / "successions.csv"
    if not path.is_file():
        return None
    succ = _read_csv(path, ids=("predecessor", "successor", "chain"))
    inside = succ["predecessor"].isin(ids) & succ["successor"].isin(ids)
    cols = ["gap_hours", "overlap", "confidence", "shared", "chain", "position"]
    out = succ[inside].rename(columns={"predecessor": START, "successor": END})
    return out[[START, END, *[c for c in cols if c in out]]].reset_index(drop=True)


def select(result_dir: str | os.PathLike[str], communities: str | Sequence[int] = "top:20",
           min_suspicion: float | None = None) -> Selection:
    """Cut the chosen communities out of a detection output directory.

    Accounts: members of the chosen communities. Entities: every IP, payment method, template,
    user agent and model those accounts used (with the aggregated edge), and the proxy
    providers operating those IPs. SIMILAR_TO: scored links with both ends selected.
    SUCCEEDED_BY: successions (successions.csv, when detect wrote it) with both ends selected.
    """
    d = Path(result_dir)
    manifest = read_manifest(d)
    comms = _read_csv(d / "communities.csv")
    run_id = run_id_of(manifest, comms, d)
    chosen = choose_communities(comms, communities, min_suspicion)
    if not chosen:
        raise ExportError("no community matches the selection", file=str(d / "communities.csv"))
    accounts = _read_csv(d / "accounts.csv")
    links = _read_csv(d / "links.csv")
    graph_accounts, edges, registry = _graph_tables(d / "graph")

    acc = _account_table(accounts, graph_accounts, chosen, run_id)
    ids = pd.Index(acc["account_id"])
    nodes: dict[str, pd.DataFrame] = {ACCOUNT_LABEL: acc,
                                      COMMUNITY_LABEL: _community_table(comms, chosen, run_id)}
    rels: dict[str, pd.DataFrame] = {}
    _entity_tables(edges, ids, nodes, rels, registry)
    if "Model" in nodes:
        # When each model went live (detection found it first seen inside the observed period).
        releases = (manifest.get("outputs") or {}).get("model_releases") or {}
        nodes["Model"]["released_at"] = _utc(nodes["Model"]["name"].map(releases))
    rels["SIMILAR_TO"] = _similar_table(links, ids, registry.signals)
    rels["MEMBER_OF"] = pd.DataFrame({START: acc["account_id"], END: acc["community_id"],
                                      "membership": acc["membership"]})
    succ = _succession_table(d, ids)
    if succ is not None:
        rels["SUCCEEDED_BY"] = succ
    for table in rels.values():
        table["run_id"] = run_id
    _store_long_keys(nodes, rels, registry)
    # Same label order on every path, so reports and CSV files line up.
    ordered = {k: nodes[k] for k in registry.node_keys if k in nodes}
    return Selection(run_id=run_id, nodes=ordered, relationships=rels, community_ids=chosen,
                     registry=registry)


__all__ = ["END", "FULL_SUFFIX", "LONG_KEY_PREFIX", "MAX_KEY_BYTES", "START", "SUSPICION_BANDS",
           "Selection", "choose_communities", "read_manifest", "run_id_of", "select",
           "stable_keys", "suspicion_band"]
