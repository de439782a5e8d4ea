"""graphkit: attribute coordinated account networks in AI API request logs.

The package is shaped as the pipeline::

    ingest -> graph -> links -> communities -> scoring -> export / report

>>> import graphkit
>>> graphkit.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"
