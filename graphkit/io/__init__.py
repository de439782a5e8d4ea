"""Stage 1, input: read, validate and code request logs, accounts and seeds into a Dataset.

Modules: :mod:`~graphkit.io.files` (finding files, formats), :mod:`~graphkit.io.readers`
(CSV, Parquet, JSON Lines into raw relations), :mod:`~graphkit.io.parsing` (timestamps, IPs,
numbers, text: conversions and row checks), :mod:`~graphkit.io.validation` (bad rows: errors
and rejects), :mod:`~graphkit.io.events` (the events table), :mod:`~graphkit.io.coded` (the
Parquet fast path), :mod:`~graphkit.io.accounts` (accounts and seeds files),
:mod:`~graphkit.io.templates` (templates from prompts), :mod:`~graphkit.io.arrays`
(per-event numpy columns), :mod:`~graphkit.io.dataset` (:class:`Dataset`, :func:`load`),
:mod:`~graphkit.io.manifest` (the manifest written beside every output).
"""

from graphkit.io.arrays import EventArrays
from graphkit.io.coded import CODED_COLUMNS, CODED_EVENTS
from graphkit.io.dataset import Dataset, connect, load
from graphkit.io.files import resolve_files
from graphkit.io.manifest import describe_input, write_manifest
from graphkit.io.parsing import IP_REGEX, canonical_ip
from graphkit.io.schema import (
    ACCOUNT_COLUMNS,
    ACCOUNT_STATUSES,
    EVENT_COLUMNS,
    REASONS,
    REQUIRED_EVENT_COLUMNS,
    SEED_COLUMNS,
    OnBadRows,
    RejectSummary,
    SourceFile,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "ACCOUNT_STATUSES",
    "CODED_COLUMNS",
    "CODED_EVENTS",
    "EVENT_COLUMNS",
    "IP_REGEX",
    "REASONS",
    "REQUIRED_EVENT_COLUMNS",
    "SEED_COLUMNS",
    "Dataset",
    "EventArrays",
    "OnBadRows",
    "RejectSummary",
    "SourceFile",
    "canonical_ip",
    "connect",
    "describe_input",
    "load",
    "resolve_files",
    "write_manifest",
]
