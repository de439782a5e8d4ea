"""Output to Neo4j: the local server, the Bolt writer and the neo4j-admin bulk files.

The modules: :mod:`~graphkit.neo4j.selection` (what an export writes),
:mod:`~graphkit.neo4j.cypher` (the query text and schema), :mod:`~graphkit.neo4j.bolt` (the
writer), :mod:`~graphkit.neo4j.credentials` (the driver), :mod:`~graphkit.neo4j.auth` (the
local server's password, ``credentials()``, masked URIs), :mod:`~graphkit.neo4j.export`
(:func:`export_to_neo4j`), :mod:`~graphkit.neo4j.bulk` (neo4j-admin CSVs); the local server:
:mod:`~graphkit.neo4j.maven`, :mod:`~graphkit.neo4j.server` (start, status, stop),
:mod:`~graphkit.neo4j.admin` (``neo4j-admin database import full``), with
:mod:`~graphkit.neo4j.local`, :mod:`~graphkit.neo4j.instance` and
:mod:`~graphkit.neo4j.permissions` (owner-only files) underneath.
"""

from __future__ import annotations

from typing import Any

# Imported on first use, so that the server commands do not load pandas.
_LAZY = {
    "ExportReport": "graphkit.neo4j.export",
    "export_to_neo4j": "graphkit.neo4j.export",
    "Selection": "graphkit.neo4j.selection",
    "select": "graphkit.neo4j.selection",
    "install": "graphkit.neo4j.maven",
    "start": "graphkit.neo4j.server",
    "stop": "graphkit.neo4j.server",
}
__all__ = ["ExportReport", "Selection", "export_to_neo4j", "install", "select", "start", "stop"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'graphkit.neo4j' has no attribute {name!r}")
