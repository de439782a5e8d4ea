"""graphkit: attribute coordinated account networks in AI API request logs.

The package is shaped as the pipeline::

    ingest -> graph -> links -> communities -> scoring -> export / report

>>> import graphkit
>>> graphkit.__version__
'0.1.0'

The entry points of the Python API are :func:`graphkit.load` (validated ingestion, a
:class:`graphkit.io.Dataset`) and :func:`graphkit.build_graph` (a
:class:`graphkit.graph.HeteroGraph`); they are imported on first use so that
``import graphkit`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "build_graph", "load"]

_LAZY = {"load": "graphkit.io", "build_graph": "graphkit.graph"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'graphkit' has no attribute {name!r}")
