"""Reading one file (CSV, CSV.gz, Parquet, JSON Lines) into a raw SQL relation.

Every column is read as the file holds it (CSV and JSONL as text) plus ``_rid``, the 1-based
row or line number used to locate bad rows. Rows the reader itself refuses (ragged lines,
bytes that are not UTF-8, broken JSON, duplicated keys) are collected as ``pre_rejects``;
:class:`graphkit.io.validation._Loader` decides whether they raise or are skipped.
"""

from __future__ import annotations

import gzip
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from graphkit.errors import FormatError
from graphkit.io.files import (
    _check_duplicates,
    _csv_header,
    _csv_records,
    _kind_of,
    _normalize_newlines,
    _sniff,
)
from graphkit.io.schema import _MAX_LINE, _WS_SQL, Kind, _ident, _lit, _one_line

# A row the reader refused: (line, column, reason, message, raw text).
PreReject = tuple[int, str, str, str, str]


@dataclass
class _Source:
    """A file opened as a SQL relation with raw columns plus ``_rid`` (1-based row/line)."""

    path: Path
    kind: Kind
    gz: bool
    relation: str  # SQL FROM-clause text
    columns: dict[str, str]  # raw column name -> DuckDB type, in file order
    stage: str | None  # temp table holding the staged rows (CSV, JSONL)
    pre_rejects: list[PreReject]  # (line, column, reason, message, raw)


def _csv_reject_reason(etype: str, emsg: str, column: object) -> tuple[str, str, object]:
    """(reason, message, column) of a row DuckDB's CSV reader refused."""
    if "ENCODING" in etype or "UNICODE" in etype:
        return "invalid_utf8", "bytes are not valid UTF-8", column
    if "COLUMNS" in etype:
        nums = re.findall(r"\d+", emsg.split("\n")[0])
        msg = (f"ragged line: expected {nums[0]} fields, found {nums[1]}"
               if len(nums) >= 2 else "ragged line: wrong number of fields")
        return "ragged_line", msg, None
    return "ragged_line", f"malformed CSV line: {emsg.splitlines()[0]}", column


class _Reader:
    """Opens input files as relations on ``con``; staging tables are numbered per file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tmp: Path) -> None:
        self.con = con
        self.tmp = tmp
        self.counter = 0

    def open(self, path: Path, role: str) -> _Source:
        """Open ``path`` (an ``events``, ``accounts`` or ``seeds`` file) as a raw relation."""
        kinds = _kind_of(path)
        if kinds is None:
            raise FormatError("unsupported file extension", file=str(path))
        kind, gz = kinds
        if role != "events" and kind == "jsonl":
            raise FormatError(f"the {role} file must be CSV or Parquet", file=str(path))
        _sniff(path, kind, gz)
        self.counter += 1
        if kind == "parquet":
            return self._open_parquet(path)
        if kind == "csv":
            return self._open_csv(path, gz)
        return self._open_jsonl(path, gz)

    # -- Parquet -------------------------------------------------------------------------------

    def _open_parquet(self, path: Path) -> _Source:
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as exc:  # corrupt footer, truncated file, ...
            raise FormatError(f"not a readable Parquet file ({_one_line(exc)})",
                              file=str(path)) from None
        _check_duplicates(names, str(path))
        rel = f"read_parquet({_lit(str(path))}, file_row_number=true)"
        try:
            desc = self.con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
        except duckdb.Error as exc:
            raise FormatError(f"not a readable Parquet file ({_one_line(exc)})",
                              file=str(path)) from None
        cols = {str(r[0]): str(r[1]) for r in desc if r[0] != "file_row_number"}
        rel = f"(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _rid FROM {rel})"
        return _Source(path, "parquet", False, rel, cols, None, [])

    # -- CSV -----------------------------------------------------------------------------------

    def _stage_csv(self, table: str, header: list[str], source: Path) -> None:
        spec = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv("
            f"{_lit(str(source))}, header=true, auto_detect=false, columns={spec}, "
            "delim=',', quote='\"', escape='\"', strict_mode=true, null_padding=false, "
            f"store_rejects=true, max_line_size={_MAX_LINE}, encoding='utf-8')")

    def _open_csv(self, path: Path, gz: bool) -> _Source:
        header = _csv_header(path, gz)
        _check_duplicates(header, str(path))
        table = f"_stage{self.counter}"
        try:
            try:
                self._stage_csv(table, header, path)
            except duckdb.InvalidInputException as exc:
                if "state machine" not in str(exc):
                    raise
                clean = self.tmp / f"n{self.counter}.csv"
                _normalize_newlines(path, gz, clean)
                self._stage_csv(table, header, clean)
        except duckdb.Error as exc:
            raise FormatError(f"cannot read as CSV ({_one_line(exc)})",
                              file=str(path)) from None
        rej = self.con.execute(
            "SELECT line, column_name, error_type, error_message FROM reject_errors "
            "ORDER BY line").fetchall()
        pre: list[PreReject] = []
        if rej:
            pre = self._csv_reader_rejects(path, gz, rej)
        rel = f"(SELECT *, rowid + 1 AS _rid FROM {table})"
        cols = dict.fromkeys(header, "VARCHAR")
        return _Source(path, "csv", gz, rel, cols, table, pre)

    def _csv_reader_rejects(self, path: Path, gz: bool, rej: list[tuple]) -> list[PreReject]:
        """Rows DuckDB's CSV reader refused (ragged, bad UTF-8), with physical line numbers."""
        by_record: dict[int, tuple] = {}
        for line, column, etype, emsg in rej:
            by_record.setdefault(int(line), (column, etype, emsg))
        out: list[PreReject] = []
        last = max(by_record)
        for rec_no, _fields, rec in _csv_records(path, gz):
            if rec_no in by_record:
                column, etype, emsg = by_record[rec_no]
                reason, msg, column = _csv_reject_reason(str(etype), str(emsg), column)
                out.append((rec.start_line, column if isinstance(column, str) else "",
                            reason, msg, rec.raw))
            if rec_no >= last:
                break
        return out

    # -- JSON Lines ----------------------------------------------------------------------------

    def _open_jsonl(self, path: Path, gz: bool) -> _Source:
        src = path
        if gz:
            src = self.tmp / f"j{self.counter}.jsonl"
            with gzip.open(path, "rb") as fin, open(src, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        pre: list[PreReject] = []
        try:
            self.con.execute(f"SELECT length(content) FROM read_text({_lit(str(src))})").fetchall()
        except duckdb.Error:
            src, pre = self._strip_non_utf8_lines(src)
        lines = self._jsonl_lines(path, src)
        pre += self._jsonl_bad_records(lines)
        table, keys = self._jsonl_stage(lines)
        cols = dict.fromkeys(keys, "VARCHAR")
        return _Source(path, "jsonl", gz, f"(SELECT * EXCLUDE (_raw) FROM {table})", cols, table,
                       pre)

    def _jsonl_lines(self, path: Path, src: Path) -> str:
        """Table of the non-blank lines of ``src`` (``_rid``, ``_raw``); returns its name."""
        lines = f"_lines{self.counter}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT _rid, rtrim(_raw, chr(13)) AS _raw "
            "FROM (SELECT unnest(range(1, len(l) + 1)) AS _rid, unnest(l) AS _raw "
            f"FROM (SELECT string_split(content, chr(10)) AS l FROM read_text({_lit(str(src))})))")
        self.con.execute(f"DELETE FROM {lines} WHERE trim(_raw, {_WS_SQL}) = ''")
        if self.con.execute(f"SELECT count(*) FROM {lines}").fetchall()[0][0] == 0:
            raise FormatError("empty file (only blank lines)", file=str(path))
        return lines

    def _jsonl_bad_records(self, lines: str) -> list[PreReject]:
        """Lines that are not a JSON object or repeat a key; deleted from ``lines``."""
        # CASE guards the JSON functions: they raise on text that is not JSON.
        obj = "CASE WHEN json_valid(_raw) THEN json_type(_raw) = 'OBJECT' ELSE FALSE END"
        keys_sql = f"CASE WHEN {obj} THEN json_keys(_raw) END"
        bad = self.con.execute(
            f"SELECT _rid, CASE WHEN {obj} THEN 'duplicate_key' ELSE 'broken_json' END, _raw, "
            f"list_filter({keys_sql}, lambda k, i: list_position({keys_sql}, k) < i)[1] "
            f"FROM {lines} WHERE NOT ({obj}) OR len({keys_sql}) <> len(list_distinct({keys_sql})) "
            "ORDER BY _rid").fetchall()
        pre: list[PreReject] = []
        for rid, reason, raw, dup in bad:
            if reason == "broken_json":
                pre.append((int(rid), "", reason, "not a valid JSON object", raw))
            else:
                pre.append((int(rid), str(dup), reason, "duplicated column", raw))
        if bad:
            self.con.execute(f"DELETE FROM {lines} WHERE _rid IN ("
                             + ",".join(str(int(b[0])) for b in bad) + ")")
        return pre

    def _jsonl_stage(self, lines: str) -> tuple[str, list[str]]:
        """Stage table with one text column per key (first-seen order), ``_rid`` and ``_raw``."""
        keys = [str(r[0]) for r in self.con.execute(
            f"SELECT k FROM (SELECT _rid, unnest(json_keys(_raw)) AS k, "
            f"generate_subscripts(json_keys(_raw), 1) AS p FROM {lines}) "
            "GROUP BY k ORDER BY min(_rid), min(p), k").fetchall()]
        table = f"_stage{self.counter}"
        extract = ", ".join(
            f"json_extract_string(_raw, [{_lit(k)}])[1] AS {_ident(k)}" for k in keys)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT "
                         f"{extract}{', ' if keys else ''}_rid, _raw FROM {lines}")
        self.con.execute(f"DROP TABLE {lines}")
        return table, keys

    def _strip_non_utf8_lines(self, src: Path) -> tuple[Path, list[PreReject]]:
        """Error path: find lines that are not UTF-8; in skip mode write a copy without them."""
        pre: list[PreReject] = []
        clean = self.tmp / f"u{self.counter}.jsonl"
        with open(src, "rb") as fin, open(clean, "wb") as fout:
            for no, line in enumerate(fin, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    pre.append((no, "", "invalid_utf8", "bytes are not valid UTF-8",
                                line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")))
                    line = b"\n"  # keep line numbering
                fout.write(line)
        return clean, pre
