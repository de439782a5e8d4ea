"""The bulk path: node and relationship CSVs for ``neo4j-admin database import full``.

For graphs too big to stream over Bolt in reasonable time. Writes the same :class:`Selection`
the Bolt export writes (so both give the same graph), one CSV per label and relationship type
with typed headers (``account_id:ID(Account)``, ``suspicion:double``, ``flagged:boolean``,
``first_seen:datetime``, ``:START_ID(Account)``, ``:END_ID(IP)``, ``:LABEL``, ``:TYPE``), plus
``import.sh`` with the exact command. The import tool builds a *new* database offline (the
database must not be running); afterwards run cypher/schema.cypher once for the constraints.

For example, on a detection output in out/::

    from graphkit.neo4j.selection import select
    bulk = write_import_csvs(select("out/", "top:20"), "import/")
    " ".join(bulk.command("neo4j"))
    # -> 'neo4j-admin database import full --overwrite-destination=true --id-type=string ...'
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from graphkit.io.outputs import result_dir
from graphkit.neo4j.selection import END, START, Selection, suspicion_band
from graphkit.registry import COMMUNITY_LABEL, Registry


@dataclass
class BulkFiles:
    """CSV files written for neo4j-admin, relative to ``out_dir``."""

    out_dir: Path
    nodes: dict[str, str]
    relationships: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)

    def import_args(self, database: str = "neo4j") -> list[str]:
        """Arguments after ``neo4j-admin`` (paths relative to ``out_dir``)."""
        args = ["database", "import", "full", "--overwrite-destination=true",
                "--id-type=string", "--multiline-fields=true"]
        args += [f"--nodes={path}" for path in self.nodes.values()]
        args += [f"--relationships={path}" for path in self.relationships.values()]
        return [*args, database]

    def command(self, database: str = "neo4j", neo4j_admin: str = "neo4j-admin") -> list[str]:
        return [neo4j_admin, *self.import_args(database)]


def _neo4j_type(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "long"
    if pd.api.types.is_float_dtype(dtype):
        return "double"  # not `float`: that is 32-bit in the importer; Bolt writes 64-bit
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def _column(series: pd.Series, kind: str) -> pa.Array:
    if kind == "datetime":
        utc = pd.to_datetime(series, utc=True, errors="coerce")
        arr = pa.array(utc.dt.tz_convert("UTC").dt.tz_localize(None), type=pa.timestamp("us"))
        # ISO 8601 with an explicit zone, as the importer's datetime parser wants.
        return pc.strftime(arr, format="%Y-%m-%dT%H:%M:%SZ")
    if kind == "string":
        return pa.array(series.astype("string"), type=pa.string(), from_pandas=True)
    return pa.array(series, from_pandas=True)


def _write(table: pa.Table, header: list[str], path: Path) -> None:
    # Header written by hand: the typed names are not valid Arrow field names to rely on.
    with path.open("wb") as fh:
        fh.write((",".join(_quote(h) for h in header) + "\n").encode("utf-8"))
        if table.num_rows:
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False,
                                                          quoting_style="needed"))


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _typed(frame: pd.DataFrame, skip: set[str]) -> tuple[list[str], list[pa.Array]]:
    header: list[str] = []
    columns: list[pa.Array] = []
    for col in frame.columns:
        if col in skip:
            continue
        kind = _neo4j_type(frame[col])
        header.append(f"{col}:{kind}")
        columns.append(_column(frame[col], kind))
    return header, columns


def _node_table(label: str, frame: pd.DataFrame, registry: Registry | None = None
                ) -> tuple[list[str], pa.Table]:
    key = (registry or Registry.static()).node_keys[label]
    if label == COMMUNITY_LABEL:
        # Unnamed ID: the ID column is not stored; community_id is stored as a long, as over
        # Bolt (the Bolt key is run_id + community_id; one import holds one run).
        header = [":ID(Community)"]
        ids = [pa.array(frame[key].astype(str))]
        rest_header, rest = _typed(frame, set())
    else:
        header = [f"{key}:ID({label})"]
        ids = [pa.array(frame[key].astype("string"), type=pa.string(), from_pandas=True)]
        rest_header, rest = _typed(frame, {key})
    labels = pa.array([label] * len(frame), type=pa.string())
    if label == "Account":
        bands = suspicion_band(frame["suspicion"])
        labels = pa.array((label + ";" + bands).str.rstrip(";"), type=pa.string())
    header = [*header, *rest_header, ":LABEL"]
    names = [f"c{i}" for i in range(len(header))]
    return header, pa.Table.from_arrays([*ids, *rest, labels], names=names)


def _rel_table(rel: str, frame: pd.DataFrame, registry: Registry | None = None
               ) -> tuple[list[str], pa.Table]:
    start, end = (registry or Registry.static()).rel_ends[rel]
    props_header, props = _typed(frame, {START, END})
    header = [f":START_ID({start})", f":END_ID({end})", *props_header, ":TYPE"]
    arrays = [pa.array(frame[START].astype(str)), pa.array(frame[END].astype(str)), *props,
              pa.array([rel] * len(frame), type=pa.string())]
    return header, pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(header))])


def write_import_csvs(selection: Selection, out_dir: str | os.PathLike[str],
                      database: str = "neo4j") -> BulkFiles:
    """Write the selection as neo4j-admin import CSVs plus ``import.sh`` as the directory
    ``out_dir``, atomically and locked (:func:`graphkit.io.outputs.result_dir`)."""
    with result_dir(out_dir, command="export --format neo4j-admin") as tmp:
        files = _write_into(selection, tmp, database)
    files.out_dir = Path(out_dir)
    return files


def _write_into(selection: Selection, out: Path, database: str) -> BulkFiles:
    (out / "nodes").mkdir()
    (out / "relationships").mkdir()
    files = BulkFiles(out_dir=out, nodes={}, relationships={})
    parts = [("nodes", name, _node_table(name, frame, selection.registry), files.nodes)
             for name, frame in selection.nodes.items()]
    parts += [("relationships", name, _rel_table(name, frame, selection.registry),
               files.relationships)
              for name, frame in selection.relationships.items()]
    for folder, name, (header, table), written in parts:
        rel_path = f"{folder}/{name}.csv"
        _write(table, header, out / rel_path)
        written[name] = rel_path
        files.counts[name] = table.num_rows
    script = out / "import.sh"
    command = " ".join(shlex.quote(a) for a in files.import_args(database))
    script.write_text(
        "#!/bin/sh\n"
        "# Build a new Neo4j database from these CSVs (the database must be stopped).\n"
        f"# Run id {selection.run_id}. Afterwards start Neo4j and run cypher/schema.cypher once.\n"
        "# NEO4J_ADMIN: path to neo4j-admin (default: the one on PATH).\n"
        "set -e\n"
        'cd "$(dirname "$0")"\n'
        f'exec "${{NEO4J_ADMIN:-neo4j-admin}}" {command}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return files


__all__ = ["BulkFiles", "write_import_csvs"]
