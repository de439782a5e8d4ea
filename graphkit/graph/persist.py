"""Saving a :class:`~graphkit.graph.hetero.HeteroGraph` as Parquet tables plus a manifest, and
reading it back.

A saved graph is a directory: ``nodes_<type>.parquet`` and ``edges_<type>.parquet`` per type
and ``manifest.json`` naming them (format :data:`FORMAT`, counts, edge ends, the graph's meta).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit.errors import ConfigError, InputError
from graphkit.registry import EDGE_TYPES

MANIFEST = "manifest.json"
FORMAT = "graphkit.heterograph/1"


def _write_table(df: pd.DataFrame, path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)


def save_tables(nodes: dict[str, pd.DataFrame], edges: dict[str, pd.DataFrame],
                meta: dict[str, object], directory: str | os.PathLike[str],
                edge_types: dict[str, tuple[str, str, str]] | None = None) -> Path:
    """Write every table as Parquet plus ``manifest.json``; returns the directory."""
    out = Path(directory)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory ({exc.strerror})",
                          file=str(out)) from None
    node_entries: dict[str, object] = {}
    edge_entries: dict[str, object] = {}
    for t, df in nodes.items():
        name = f"nodes_{t}.parquet"
        _write_table(df, out / name)
        node_entries[t] = {"file": name, "count": len(df)}
    for t, df in edges.items():
        name = f"edges_{t}.parquet"
        _write_table(df, out / name)
        src_t, dst_t, _ = (edge_types or EDGE_TYPES)[t]
        edge_entries[t] = {"file": name, "count": len(df), "src": src_t, "dst": dst_t}
    manifest = {"format": FORMAT, "nodes": node_entries, "edges": edge_entries, "meta": meta}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return out


def _read_manifest(root: Path) -> dict:
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise InputError("not a saved graph (no manifest.json)", file=str(root)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"broken manifest.json ({exc.msg})", file=str(root / MANIFEST),
                         line=exc.lineno) from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"unsupported graph format {manifest.get('format')!r}",
                         file=str(root / MANIFEST))
    return manifest


def load_tables(directory: str | os.PathLike[str]
                ) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], dict[str, object]]:
    """(nodes, edges, meta) of a graph written by :func:`save_tables`."""
    root = Path(directory)
    manifest = _read_manifest(root)
    nodes = {t: pq.read_table(root / m["file"]).to_pandas()
             for t, m in manifest["nodes"].items()}
    edges = {t: pq.read_table(root / m["file"]).to_pandas()
             for t, m in manifest["edges"].items()}
    return nodes, edges, dict(manifest.get("meta", {}))
