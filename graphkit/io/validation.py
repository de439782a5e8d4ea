"""Row validation: run the row checks over a converted relation, then raise the first bad row
as a located error or skip the bad rows and keep them as rejects.

Validation is a set operation: one aggregate pass counts bad rows, and the offending rows are
looked up (with their file, line, row and column) only when the count is non-zero.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import duckdb

from graphkit.errors import FormatError, InputError, SchemaError
from graphkit.io.files import _csv_records
from graphkit.io.outputs import atomic_file
from graphkit.io.parsing import _Check
from graphkit.io.readers import _Reader, _Source
from graphkit.io.schema import OnBadRows

# A rejected row: (file, line, row, column, reason, message, raw text).
Reject = tuple[str, int | None, int | None, str, str, str, str]
# Where a bad row is: (line, row, verbatim raw text).
Location = tuple[int | None, int | None, str]


class _Loader(_Reader):
    """Per-call state of :func:`graphkit.io.load`: the reader plus the rejects collected."""

    def __init__(self, con: duckdb.DuckDBPyConnection, on_bad_rows: OnBadRows, tmp: Path) -> None:
        super().__init__(con, tmp)
        self.skip = on_bad_rows == "skip"
        self.rejects: list[Reject] = []

    def rejected_in(self, file: str) -> int:
        """How many rows of ``file`` were rejected so far."""
        return sum(1 for r in self.rejects if r[0] == file)

    def reject_pre(self, src: _Source) -> int:
        """Handle rows the reader itself refused; returns how many were skipped."""
        if not src.pre_rejects:
            return 0
        line, column, reason, msg, _raw = src.pre_rejects[0]
        if not self.skip:
            err: type[InputError] = SchemaError if reason == "duplicate_key" else FormatError
            raise err(msg, file=str(src.path), column=column or None, line=line)
        for line, column, reason, msg, raw in src.pre_rejects:
            self.rejects.append((str(src.path), line, None, column, reason, msg, raw))
        return len(src.pre_rejects)

    def validate(self, src: _Source, conv: str, checks: list[_Check]) -> str:
        """Run ``checks`` over converted relation ``conv``; return a WHERE clause keeping good rows.

        One aggregate pass counts bad rows; rows are only fetched when the count is non-zero.
        """
        if not checks:
            return "TRUE"
        any_bad = " OR ".join(c.bad_sql for c in checks)
        row = self.con.execute(f"SELECT count(*) FROM {conv} WHERE {any_bad}").fetchall()[0]
        if not row or row[0] == 0:
            return "TRUE"
        bad = self._bad_rows(conv, checks, any_bad)
        located = self._locate(src, [int(b[0]) for b in bad])
        if not self.skip:
            rid, idx, message = bad[0]
            check = checks[idx]
            line, row_no, _raw = located[int(rid)]
            raise check.error(message, file=str(src.path), column=check.column, line=line,
                              row=row_no)
        for rid, idx, message in bad:
            line, row_no, raw = located[int(rid)]
            self.rejects.append((str(src.path), line, row_no, checks[idx].column,
                                 checks[idx].reason, message, raw))
        return f"NOT ({any_bad})"

    def _bad_rows(self, conv: str, checks: list[_Check], any_bad: str) -> list[tuple]:
        """(``_rid``, index of the first failed check, message) of bad rows (the first only
        when bad rows raise)."""
        which = "CASE " + " ".join(
            f"WHEN {c.bad_sql} THEN {i}" for i, c in enumerate(checks)) + " END"
        msg = "CASE " + " ".join(
            f"WHEN {c.bad_sql} THEN {c.message_sql}" for c in checks) + " END"
        limit = "" if self.skip else " LIMIT 1"
        return self.con.execute(
            f"SELECT _rid, {which}, {msg} FROM {conv} WHERE {any_bad} ORDER BY _rid{limit}"
        ).fetchall()

    def _locate(self, src: _Source, rids: list[int]) -> dict[int, Location]:
        """Error path: (line, row, verbatim raw) for each bad ``_rid``."""
        if src.kind == "jsonl":
            return _locate_jsonl(self.con, src, rids)
        if src.kind == "parquet":
            return _locate_parquet(self.con, src, rids)
        return _locate_csv(src, rids)


def _locate_jsonl(con: duckdb.DuckDBPyConnection, src: _Source, rids: list[int]
                  ) -> dict[int, Location]:
    """JSON Lines: ``_rid`` is the line number; the staged ``_raw`` is the line itself."""
    out: dict[int, Location] = {}
    for rid, raw in con.execute(
            f"SELECT _rid, _raw FROM {src.stage} WHERE _rid IN ({','.join(map(str, rids))})"
    ).fetchall():
        out[int(rid)] = (int(rid), None, raw)
    return out


def _locate_parquet(con: duckdb.DuckDBPyConnection, src: _Source, rids: list[int]
                    ) -> dict[int, Location]:
    """Parquet: ``_rid`` is the row number; the record is rendered as JSON."""
    out: dict[int, Location] = {}
    for rid, raw in con.execute(
            f"SELECT _rid, to_json(t) FROM (SELECT * FROM {src.relation}) t "
            f"WHERE _rid IN ({','.join(map(str, rids))})").fetchall():
        out[int(rid)] = (None, int(rid), _strip_rid_json(raw))
    return out


def _locate_csv(src: _Source, rids: list[int]) -> dict[int, Location]:
    """CSV: DuckDB numbers the rows it kept; walk the records, skipping the header, blank
    lines and the records the reader refused, to find each kept row's physical lines. In a
    file of one column DuckDB reads a blank line as a row (its one value missing), so there
    a blank line after the header counts as a row."""
    out: dict[int, Location] = {}
    refused = {p[0] for p in src.pre_rejects}
    wanted = set(rids)
    kept = 0
    header_seen = False
    blank_is_row = len(src.columns) == 1
    for _rec_no, fields, rec in _csv_records(src.path, src.gz):
        if rec.start_line in refused or (not fields and not (header_seen and blank_is_row)):
            continue
        if not header_seen:
            header_seen = True
            continue
        kept += 1
        if kept in wanted:
            out[kept] = (rec.start_line, kept, rec.raw)
            if len(out) == len(wanted):
                break
    return out


def _strip_rid_json(raw: str) -> str:
    """Drop our ``_rid`` column (last) from a row's JSON so the record is the user's own.

    >>> _strip_rid_json('{"a":"x","_rid":7}')
    '{"a":"x"}'
    """
    return raw.rsplit(',"_rid":', 1)[0] + "}" if ',"_rid":' in raw else raw


def _check_required(src: _Source, required: Sequence[str], con: duckdb.DuckDBPyConnection
                    ) -> None:
    """Raise SchemaError naming the first ``required`` column the file lacks."""
    for col in required:
        if col not in src.columns:
            line = None
            if src.kind == "csv":
                line = 1
            elif src.kind == "jsonl":  # no line has the key: name the first record
                first = con.execute(f"SELECT min(_rid) FROM {src.stage}").fetchall()[0][0]
                line = None if first is None else int(first)
            raise SchemaError("required column is missing", file=str(src.path), column=col,
                              line=line)


def _write_rejects(rejects: list[Reject], path: Path) -> None:
    """Write rejected rows verbatim as CSV (file, line, row, column, reason, message, raw)."""
    # The raw rows hold ids, IPs and card ids: owner-only, written whole (as results are).
    path.parent.mkdir(parents=True, exist_ok=True)
    with (atomic_file(path) as tmp,
          open(tmp, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh):
        w = csv.writer(fh)
        w.writerow(["file", "line", "row", "column", "reason", "message", "raw"])
        for rec in sorted(rejects, key=lambda r: (r[0], r[1] or 0, r[2] or 0)):
            w.writerow(["" if v is None else v for v in rec])
