"""The manifest written beside every output: settings, inputs, outputs and versions, enough to
reproduce what lies beside it.

>>> entry = describe_input("fixtures/hand/seeds.csv")
>>> sorted(entry), entry["path"]
(['bytes', 'modified', 'path', 'sha256'], 'fixtures/hand/seeds.csv')
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from graphkit.settings import Settings


def describe_input(path: str | os.PathLike[str], sha256: str | None = None) -> dict[str, Any]:
    """Name, size and modification time of an input file (enough to notice a changed input);
    ``sha256``: the file's digest when already known (not hashed again)."""
    p = Path(path)
    entry: dict[str, Any] = {"path": str(p)}
    if p.is_file():
        stat = p.stat()
        entry["bytes"] = stat.st_size
        entry["modified"] = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).isoformat()
        if stat.st_size <= 64 * 1024 * 1024:  # hash small files; big ones are named by size/mtime
            entry["sha256"] = sha256 or hashlib.sha256(p.read_bytes()).hexdigest()
    return entry


def write_manifest(
    out_dir: str | os.PathLike[str],
    *,
    command: str,
    settings: Settings | None,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    timings: dict[str, float] | None = None,
    run_id: str | None = None,
    memory: dict[str, dict[str, float]] | None = None,
) -> Path:
    """Write ``manifest.json`` into ``out_dir``: how to reproduce what lies beside it."""
    from graphkit import __version__

    manifest = {
        "graphkit_version": __version__,
        "command": command,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "settings": settings.to_dict() if settings is not None else None,
        "inputs": inputs,
        "outputs": outputs,
        "timings_seconds": {k: round(v, 3) for k, v in (timings or {}).items()},
    }
    if memory:  # resident and peak GiB at the end of each stage (graphkit.progress)
        manifest["memory_gib"] = memory
    path = Path(out_dir) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return path
