"""Validated ingestion of API request logs into DuckDB (the data contract: docs/data-contract.md).

:func:`load` reads event files (CSV, CSV.gz, Parquet, JSON Lines; a file, a glob or a directory),
an optional accounts file and an optional seeds file, validates them at this boundary only and
returns a :class:`Dataset` whose DuckDB connection owns the typed ``events`` table. Later stages
trust these types.

Validation runs as set operations in DuckDB: one aggregate pass per file counts bad rows and the
offending rows are only looked up when a count is non-zero. By default the first bad row raises a
located :class:`graphkit.errors.InputError`; ``on_bad_rows="skip"`` drops bad rows, counts them
per reason and writes them verbatim to ``rejects_path``.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "events.csv").write_text(
...     "account_id,ts,ip,prompt\\n"
...     "a1,2024-05-01T10:00:00Z,10.0.0.1,Summarize ticket 4411\\n"
...     "a2,2024-05-01 12:00:00+02:00,2001:db8::1,summarize ticket 97\\n")
>>> ds = load(d / "events.csv")
>>> ds.n_events, list(ds.accounts["account_id"])
(2, ['a1', 'a2'])
>>> ds.con.execute("SELECT count(DISTINCT template_hash) FROM events").fetchall()[0][0]
1
"""

from __future__ import annotations

import csv
import glob as globmod
import gzip
import io
import ipaddress
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphkit.io import templates
from graphkit.errors import ConfigError, FormatError, InputError, ParseError, SchemaError
from graphkit.progress import Progress, quiet

# Canonical events columns and their DuckDB types, in table order.
EVENT_COLUMNS: dict[str, str] = {
    "account_id": "VARCHAR",
    "ts": "TIMESTAMP",
    "ip": "VARCHAR",
    "payment_id": "VARCHAR",
    "proxy_provider": "VARCHAR",
    "template_hash": "VARCHAR",
    "user_agent": "VARCHAR",
    "model": "VARCHAR",
    "tokens_in": "BIGINT",
    "tokens_out": "BIGINT",
}
REQUIRED_EVENT_COLUMNS = ("account_id", "ts", "ip")
ACCOUNT_COLUMNS: dict[str, str] = {
    "account_id": "VARCHAR",
    "created_at": "TIMESTAMP",
    "payment_id": "VARCHAR",
    "email_domain": "VARCHAR",
    "org_id": "VARCHAR",
    "status": "VARCHAR",
    "banned_at": "TIMESTAMP",
}
SEED_COLUMNS: dict[str, str] = {"account_id": "VARCHAR", "actor": "VARCHAR"}
ACCOUNT_STATUSES = ("active", "banned")

OnBadRows = Literal["error", "skip"]
Kind = Literal["csv", "parquet", "jsonl"]

# Reject reasons (keys of RejectSummary.by_reason).
REASONS = (
    "ragged_line",
    "invalid_utf8",
    "broken_json",
    "duplicate_key",
    "empty_account_id",
    "bad_timestamp",
    "bad_ip",
    "bad_number",
    "bad_status",
    "duplicate_account",
    "empty_value",
)

_IPV4 = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
_H = "[0-9a-f]{1,4}"
_LS32 = f"({_H}:{_H}|{_IPV4})"
# RFC 3986 IPv6address, lower-case hex (values are lower-cased before matching).
_IPV6 = "|".join(
    [
        f"({_H}:){{6}}{_LS32}",
        f"::({_H}:){{5}}{_LS32}",
        f"({_H})?::({_H}:){{4}}{_LS32}",
        f"(({_H}:){{0,1}}{_H})?::({_H}:){{3}}{_LS32}",
        f"(({_H}:){{0,2}}{_H})?::({_H}:){{2}}{_LS32}",
        f"(({_H}:){{0,3}}{_H})?::{_H}:{_LS32}",
        f"(({_H}:){{0,4}}{_H})?::{_LS32}",
        f"(({_H}:){{0,5}}{_H})?::{_H}",
        f"(({_H}:){{0,6}}{_H})?::",
    ]
)
IP_REGEX = f"{_IPV4}|{_IPV6}"

# Blanks around values (spaces, tabs, stray CR/LF) are not data: a value of blanks only is
# missing, and timestamps, IPs and numbers are read without them.
_WS_SQL = "' \t\r\n'"
_MAX_LINE = 1 << 27  # 128 MiB: huge prompts are valid input
_TEMPORAL = ("TIMESTAMP", "DATE")
_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT")


@dataclass(frozen=True)
class SourceFile:
    """One input file: what it was read as, how many rows were loaded and rejected."""

    path: str
    kind: str  # "csv" | "parquet" | "jsonl"
    role: str  # "events" | "accounts" | "seeds"
    rows: int
    rejected: int = 0


@dataclass(frozen=True)
class RejectSummary:
    """Rows skipped under ``on_bad_rows="skip"``; ``path`` holds them verbatim."""

    total: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    path: str | None = None


@dataclass
class Dataset:
    """Validated input, owned by a DuckDB connection.

    ``con`` holds tables ``events`` (canonical columns, see :data:`EVENT_COLUMNS`, then
    ``prompt`` when given, then extra input columns as read), ``accounts`` (``account_idx``
    0..n-1 in :attr:`accounts` order, the accounts-file attributes and per-account totals
    ``n_events``, ``first_seen``, ``last_seen``, ``tokens_in``, ``tokens_out``), ``templates``
    (``template_hash``, ``template_text``, ``n_events``; the normalized text of each derived
    template), and ``seeds`` when given. Join events to account codes with
    ``events JOIN accounts USING (account_id)``.
    """

    con: duckdb.DuckDBPyConnection
    accounts: pd.DataFrame
    seeds: pd.DataFrame | None
    files: list[SourceFile]
    rejects: RejectSummary
    extra_columns: list[str]
    has_prompt: bool
    coded: bool = False  # events are integer codes in ``_events_coded`` + ``_dict_<column>``
    coded_events: pa.Table | None = field(default=None, repr=False)  # ``_events_coded`` itself

    @property
    def n_events(self) -> int:
        """Number of loaded events."""
        row = self.con.execute("SELECT count(*) FROM events").fetchall()[0]
        return int(row[0]) if row else 0

    def events(self, limit: int | None = None) -> pd.DataFrame:
        """The events table as a DataFrame (for small data and tests)."""
        sql = "SELECT * FROM events" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return self.con.execute(sql).df()

    def event_arrays(self) -> EventArrays:
        """Per-event numpy columns for vectorized per-account features (see
        :class:`EventArrays`). Coded Parquet input is read straight from its Arrow columns,
        without decoding ids or copying timestamps; other input goes through one DuckDB query."""
        con = self.con
        tbl = self.coded_events
        if tbl is not None:
            mapping = con.execute("SELECT d.code, a.account_idx FROM _dict_account_id d "
                                  "JOIN accounts a ON a.account_id = d.value").fetchnumpy()
            to_idx = np.full(int(mapping["code"].max()) + 1 if len(mapping["code"]) else 1, -1,
                             np.int32)
            to_idx[mapping["code"]] = mapping["account_idx"]
            account = to_idx[tbl.column("account_id").to_numpy()]
            us = tbl.column("ts").cast(pa.int64()).to_numpy()  # stored as microseconds
            proxied = tbl.column("proxy_provider").is_valid().to_numpy(zero_copy_only=False)
            model = pc.fill_null(tbl.column("model"), -1).to_numpy().astype(np.int32, copy=False)
            models = con.execute("SELECT value FROM _dict_model ORDER BY code").fetchnumpy()
            return EventArrays(account, us, proxied, model,
                               np.asarray(models["value"], dtype=object))
        models = con.execute("SELECT DISTINCT model FROM events WHERE model IS NOT NULL "
                             "ORDER BY model").fetchnumpy()["model"]
        con.register("_gk_models", pd.DataFrame({"model": np.asarray(models, dtype=object),
                                                 "code": np.arange(len(models), dtype=np.int32)}))
        try:
            rows = con.execute(
                "SELECT a.account_idx AS a, epoch_us(e.ts) AS us, "
                "e.proxy_provider IS NOT NULL AS proxied, coalesce(m.code, -1) AS model "
                "FROM events e JOIN accounts a USING (account_id) "
                "LEFT JOIN _gk_models m ON m.model = e.model").fetchnumpy()
        finally:
            con.unregister("_gk_models")
        return EventArrays(rows["a"].astype(np.int32), rows["us"].astype(np.int64),
                           np.asarray(rows["proxied"], dtype=bool),
                           rows["model"].astype(np.int32), np.asarray(models, dtype=object))


@dataclass
class EventArrays:
    """One entry per event (in no particular order), as numpy arrays."""

    account: np.ndarray  # int32 account code (``accounts.account_idx``)
    us: np.ndarray  # int64 epoch microseconds (UTC)
    proxied: np.ndarray  # bool: carried by a proxy / VPN / hosting provider
    model: np.ndarray  # int32 index into ``models``, -1 when missing
    models: np.ndarray  # model names


# --------------------------------------------------------------------------------------------
# SQL helpers


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """A library's exception text folded onto one line (error messages are one line)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _base_type(duck_type: str) -> str:
    return duck_type.split("(")[0].strip().upper()


# --------------------------------------------------------------------------------------------
# Finding and sniffing files


def _kind_of(path: Path) -> tuple[Kind, bool] | None:
    """(kind, gzipped) from the file name, or None when the extension is not a data format."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    if name.endswith((".parquet", ".pq")) and not gz:
        return "parquet", False
    if name.endswith(".csv"):
        return "csv", gz
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl", gz
    return None


def resolve_files(spec: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand a file, a glob, a directory (or a list of these) into sorted data files.

    In a directory, names starting with ``.`` or ``_`` (``_SUCCESS``, ``.DS_Store``) are ignored;
    any other file must have a supported extension.
    """
    if isinstance(spec, (list, tuple)):
        out: list[Path] = []
        for item in spec:
            out.extend(resolve_files(item))
        return out
    text = os.fspath(spec)  # type: ignore[arg-type]
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
        if not files:
            raise InputError("directory holds no data files", file=text)
    elif path.exists():
        files = [path]
    elif any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in globmod.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise InputError("no file matches this pattern", file=text)
    else:
        raise InputError("no such file or directory", file=text)
    for f in files:
        if _kind_of(f) is None:
            raise FormatError(
                "unsupported file extension (expected .csv, .csv.gz, .parquet, .jsonl, "
                ".ndjson, .jsonl.gz or .ndjson.gz)", file=str(f))
    return files


def _sniff(path: Path, kind: Kind, gz: bool) -> None:
    """Reject empty files and files whose bytes are not in their extension's format."""
    size = path.stat().st_size
    if size == 0:
        raise FormatError("empty file", file=str(path))
    with open(path, "rb") as fh:
        head = fh.read(4)
        if kind == "parquet":
            fh.seek(max(size - 4, 0))
            tail = fh.read(4)
    if kind == "parquet":
        if head != b"PAR1" or tail != b"PAR1" or size < 12:
            raise FormatError("not a Parquet file (no PAR1 magic bytes)", file=str(path))
        return
    if gz:
        if head[:2] != b"\x1f\x8b":
            raise FormatError("not a gzip file despite the .gz extension", file=str(path))
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(4)
        except (OSError, EOFError) as exc:
            raise FormatError(f"corrupt gzip stream ({_one_line(exc)})", file=str(path)) from None
        if not head:
            raise FormatError("empty file (after decompression)", file=str(path))
    if head.startswith(b"PAR1"):
        raise FormatError(f"this is a Parquet file, not {kind.upper()}", file=str(path))
    if head[:2] == b"\x1f\x8b":
        raise FormatError(f"this is gzip-compressed data; name it {path.name}.gz",
                          file=str(path))
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if kind == "csv" and stripped[:1] in (b"{", b"["):
        raise FormatError("this looks like JSON, not CSV", file=str(path), line=1)


_SURROGATE = re.compile("[\udc80-\udcff]")  # undecodable bytes under surrogateescape


def _normalize_newlines(src: Path, gz: bool, dst: Path) -> None:
    """Copy ``src`` (decompressed) to ``dst`` with CRLF turned into LF.

    DuckDB's strict CSV reader refuses a file that mixes LF and CRLF line ends (files
    concatenated from several systems); this copy is made only after such a refusal. It keeps
    every line where it was, so reported line numbers still point into the original file.
    """
    with (gzip.open(src, "rb") if gz else open(src, "rb")) as fin, open(dst, "wb") as fout:
        carry = b""
        while chunk := fin.read(1 << 22):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            fout.write(chunk[:len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
        fout.write(carry)


@contextmanager
def _open_text(path: Path, gz: bool) -> Iterator[io.TextIOWrapper]:
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as raw:
        yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")


@dataclass
class _Record:
    start_line: int
    end_line: int
    raw: str  # verbatim text (undecodable bytes kept as surrogates)


def _csv_records(path: Path, gz: bool) -> Iterator[tuple[int, list[str], _Record]]:
    """Yield (record number, fields, physical extent) for each CSV record, header included.

    Used on error paths only, to turn DuckDB's record numbers into physical line numbers and to
    copy rejected rows verbatim. Record numbers count blank lines, as DuckDB's do.
    """
    csv.field_size_limit(_MAX_LINE)
    with _open_text(path, gz) as text:
        buf: list[str] = []

        def lines() -> Iterator[str]:
            for ln in text:
                buf.append(ln)
                yield ln

        consumed = 0
        for rec_no, fields in enumerate(csv.reader(lines(), strict=False), 1):
            raw = "".join(buf)
            n_lines = len(buf)
            buf.clear()
            yield rec_no, fields, _Record(consumed + 1, consumed + n_lines, raw.rstrip("\r\n"))
            consumed += n_lines


def _csv_header(path: Path, gz: bool) -> list[str]:
    try:
        for _, fields, rec in _csv_records(path, gz):
            if fields:
                if _SURROGATE.search(rec.raw):
                    raise FormatError("bytes are not valid UTF-8 in the header", file=str(path),
                                      line=rec.start_line)
                return fields
    except csv.Error as exc:
        raise FormatError(f"cannot read the CSV header ({_one_line(exc)})", file=str(path), line=1) from None
    raise FormatError("empty file (no header line)", file=str(path))


# --------------------------------------------------------------------------------------------
# Row checks


@dataclass(frozen=True)
class _Check:
    reason: str
    column: str
    bad_sql: str  # SQL predicate over the converted relation (true = bad row)
    message_sql: str  # SQL expression giving the message for a bad row
    error: type[InputError] = ParseError


def _raw_repr_sql(col: str) -> str:
    """SQL giving a short quoted rendering of raw value ``col`` for messages."""
    return (f"'''' || left(CAST({col} AS VARCHAR), 80) || "
            f"CASE WHEN length(CAST({col} AS VARCHAR)) > 80 THEN '...' ELSE '' END || ''''")


def _ts_conv(raw: str, duck_type: str, file: str, column: str) -> str:
    base = _base_type(duck_type)
    if base == "VARCHAR":
        return f"CAST(try_cast(trim({raw}, {_WS_SQL}) AS TIMESTAMPTZ) AS TIMESTAMP)"
    if base.startswith(_TEMPORAL):
        return f"CAST({raw} AS TIMESTAMP)"
    raise SchemaError(
        f"has type {duck_type}; expected ISO-8601 text or a timestamp "
        "(epoch numbers are not accepted)", file=file, column=column)


def _ts_checks(column: str, raw: str, required: bool) -> list[_Check]:
    msg = (f"CASE WHEN trim(CAST({raw} AS VARCHAR), {_WS_SQL}) "
           "SIMILAR TO '[+-]?[0-9]+(\\.[0-9]*)?' "
           f"THEN 'epoch number ' || {_raw_repr_sql(raw)} || ' is not accepted; use ISO-8601' "
           f"ELSE 'unparsable timestamp ' || {_raw_repr_sql(raw)} END")
    checks = [_Check("bad_timestamp", column,
                     f"({raw} IS NOT NULL AND trim(CAST({raw} AS VARCHAR), {_WS_SQL}) <> '' "
                     f"AND {_ident(column)} IS NULL)", msg)]
    if required:
        checks.insert(0, _Check("bad_timestamp", column,
                                f"({raw} IS NULL OR trim(CAST({raw} AS VARCHAR), {_WS_SQL}) = '')",
                                "'missing timestamp'"))
    return checks


def _text_conv(raw: str, duck_type: str) -> str:
    """Optional text: empty or whitespace-only means missing; anything else is kept verbatim."""
    if _base_type(duck_type) == "VARCHAR":
        return f"CASE WHEN trim({raw}, {_WS_SQL}) <> '' THEN {raw} END"
    return f"CAST({raw} AS VARCHAR)"


def _nonempty_check(reason: str, column: str) -> _Check:
    c = _ident(column)
    return _Check(reason, column, f"({c} IS NULL OR trim({c}, {_WS_SQL}) = '')",
                  f"'empty {column}'")


# --------------------------------------------------------------------------------------------
# Reading one file into a raw relation


@dataclass
class _Source:
    """A file opened as a SQL relation with raw columns plus ``_rid`` (1-based row/line)."""

    path: Path
    kind: Kind
    gz: bool
    relation: str  # SQL FROM-clause text
    columns: dict[str, str]  # raw column name -> DuckDB type, in file order
    stage: str | None  # temp table holding the staged rows (CSV, JSONL)
    pre_rejects: list[tuple[int, str, str, str, str]]  # (line, column, reason, message, raw)


class _Loader:
    """Per-call state of :func:`load`; holds the connection and the rejects being collected."""

    def __init__(self, con: duckdb.DuckDBPyConnection, on_bad_rows: OnBadRows, tmp: Path) -> None:
        self.con = con
        self.skip = on_bad_rows == "skip"
        self.tmp = tmp
        self.rejects: list[tuple[str, int | None, int | None, str, str, str, str]] = []
        self.counter = 0

    # -- opening -----------------------------------------------------------------------------

    def open(self, path: Path, role: str) -> _Source:
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

    def _open_parquet(self, path: Path) -> _Source:
        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as exc:  # corrupt footer, truncated file, ...
            raise FormatError(f"not a readable Parquet file ({_one_line(exc)})", file=str(path)) from None
        _check_duplicates(names, str(path))
        rel = f"read_parquet({_lit(str(path))}, file_row_number=true)"
        try:
            desc = self.con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
        except duckdb.Error as exc:
            raise FormatError(f"not a readable Parquet file ({_one_line(exc)})", file=str(path)) from None
        cols = {str(r[0]): str(r[1]) for r in desc if r[0] != "file_row_number"}
        rel = f"(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _rid FROM {rel})"
        return _Source(path, "parquet", False, rel, cols, None, [])

    def _open_csv(self, path: Path, gz: bool) -> _Source:
        header = _csv_header(path, gz)
        _check_duplicates(header, str(path))
        table = f"_stage{self.counter}"
        spec = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"

        def stage(source: Path) -> None:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv("
                f"{_lit(str(source))}, header=true, auto_detect=false, columns={spec}, "
                "delim=',', quote='\"', escape='\"', strict_mode=true, null_padding=false, "
                f"store_rejects=true, max_line_size={_MAX_LINE}, encoding='utf-8')")

        try:
            try:
                stage(path)
            except duckdb.InvalidInputException as exc:
                if "state machine" not in str(exc):
                    raise
                clean = self.tmp / f"n{self.counter}.csv"
                _normalize_newlines(path, gz, clean)
                stage(clean)
        except duckdb.Error as exc:
            raise FormatError(f"cannot read as CSV ({_one_line(exc)})",
                              file=str(path)) from None
        rej = self.con.execute(
            "SELECT line, column_name, error_type, error_message FROM reject_errors "
            "ORDER BY line").fetchall()
        pre: list[tuple[int, str, str, str, str]] = []
        if rej:
            pre = self._csv_reader_rejects(path, gz, rej)
        rel = f"(SELECT *, rowid + 1 AS _rid FROM {table})"
        cols = dict.fromkeys(header, "VARCHAR")
        return _Source(path, "csv", gz, rel, cols, table, pre)

    def _csv_reader_rejects(self, path: Path, gz: bool,
                            rej: list[tuple]) -> list[tuple[int, str, str, str, str]]:
        """Rows DuckDB's CSV reader refused (ragged, bad UTF-8), with physical line numbers."""
        by_record: dict[int, tuple] = {}
        for line, column, etype, emsg in rej:
            by_record.setdefault(int(line), (column, etype, emsg))
        out: list[tuple[int, str, str, str, str]] = []
        last = max(by_record)
        for rec_no, _fields, rec in _csv_records(path, gz):
            if rec_no in by_record:
                column, etype, emsg = by_record[rec_no]
                etype = str(etype)
                if "ENCODING" in etype or "UNICODE" in etype:
                    reason, msg = "invalid_utf8", "bytes are not valid UTF-8"
                elif "COLUMNS" in etype:
                    reason = "ragged_line"
                    nums = re.findall(r"\d+", str(emsg).split("\n")[0])
                    msg = (f"ragged line: expected {nums[0]} fields, found {nums[1]}"
                           if len(nums) >= 2 else "ragged line: wrong number of fields")
                    column = None
                else:
                    reason, msg = "ragged_line", f"malformed CSV line: {str(emsg).splitlines()[0]}"
                out.append((rec.start_line, column if isinstance(column, str) else "",
                            reason, msg, rec.raw))
            if rec_no >= last:
                break
        return out

    def _open_jsonl(self, path: Path, gz: bool) -> _Source:
        src = path
        if gz:
            src = self.tmp / f"j{self.counter}.jsonl"
            with gzip.open(path, "rb") as fin, open(src, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        pre: list[tuple[int, str, str, str, str]] = []
        try:
            self.con.execute(f"SELECT length(content) FROM read_text({_lit(str(src))})").fetchall()
        except duckdb.Error:
            src, pre = self._strip_non_utf8_lines(src)
        lines = f"_lines{self.counter}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {lines} AS SELECT _rid, rtrim(_raw, chr(13)) AS _raw "
            "FROM (SELECT unnest(range(1, len(l) + 1)) AS _rid, unnest(l) AS _raw "
            f"FROM (SELECT string_split(content, chr(10)) AS l FROM read_text({_lit(str(src))})))")
        self.con.execute(f"DELETE FROM {lines} WHERE trim(_raw, {_WS_SQL}) = ''")
        if self.con.execute(f"SELECT count(*) FROM {lines}").fetchall()[0][0] == 0:
            raise FormatError("empty file (only blank lines)", file=str(path))
        # CASE guards the JSON functions: they raise on text that is not JSON.
        obj = "CASE WHEN json_valid(_raw) THEN json_type(_raw) = 'OBJECT' ELSE FALSE END"
        keys_sql = f"CASE WHEN {obj} THEN json_keys(_raw) END"
        bad = self.con.execute(
            f"SELECT _rid, CASE WHEN {obj} THEN 'duplicate_key' ELSE 'broken_json' END, _raw, "
            f"list_filter({keys_sql}, lambda k, i: list_position({keys_sql}, k) < i)[1] "
            f"FROM {lines} WHERE NOT ({obj}) OR len({keys_sql}) <> len(list_distinct({keys_sql})) "
            "ORDER BY _rid").fetchall()
        for rid, reason, raw, dup in bad:
            if reason == "broken_json":
                pre.append((int(rid), "", reason, "not a valid JSON object", raw))
            else:
                pre.append((int(rid), str(dup), reason, "duplicated column", raw))
        if bad:
            self.con.execute(f"DELETE FROM {lines} WHERE _rid IN ("
                             + ",".join(str(int(b[0])) for b in bad) + ")")
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
        cols = dict.fromkeys(keys, "VARCHAR")
        return _Source(path, "jsonl", gz, f"(SELECT * EXCLUDE (_raw) FROM {table})", cols, table,
                       pre)

    def _strip_non_utf8_lines(self, src: Path) -> tuple[Path, list[tuple[int, str, str, str, str]]]:
        """Error path: find lines that are not UTF-8; in skip mode write a copy without them."""
        pre: list[tuple[int, str, str, str, str]] = []
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

    # -- validating and loading --------------------------------------------------------------

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
        which = "CASE " + " ".join(
            f"WHEN {c.bad_sql} THEN {i}" for i, c in enumerate(checks)) + " END"
        msg = "CASE " + " ".join(
            f"WHEN {c.bad_sql} THEN {c.message_sql}" for c in checks) + " END"
        limit = "" if self.skip else " LIMIT 1"
        bad = self.con.execute(
            f"SELECT _rid, {which}, {msg} FROM {conv} WHERE {any_bad} ORDER BY _rid{limit}"
        ).fetchall()
        rids = [int(b[0]) for b in bad]
        located = self._locate(src, rids)
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

    def _locate(self, src: _Source, rids: list[int]) -> dict[int, tuple[int | None, int | None,
                                                                        str]]:
        """Error path: (line, row, verbatim raw) for each bad ``_rid``."""
        out: dict[int, tuple[int | None, int | None, str]] = {}
        if src.kind == "jsonl":
            for rid, raw in self.con.execute(
                    f"SELECT _rid, _raw FROM {src.stage} WHERE _rid IN ({','.join(map(str, rids))})"
            ).fetchall():
                out[int(rid)] = (int(rid), None, raw)
            return out
        if src.kind == "parquet":
            for rid, raw in self.con.execute(
                    f"SELECT _rid, to_json(t) FROM (SELECT * FROM {src.relation}) t "
                    f"WHERE _rid IN ({','.join(map(str, rids))})").fetchall():
                out[int(rid)] = (None, int(rid), _strip_rid_json(raw))
            return out
        # CSV: DuckDB numbers the rows it kept; walk the records, skipping the header, blank
        # lines and the records the reader refused, to find each kept row's physical lines.
        refused = {p[0] for p in src.pre_rejects}
        wanted = set(rids)
        kept = 0
        header_seen = False
        for _rec_no, fields, rec in _csv_records(src.path, src.gz):
            if not fields or rec.start_line in refused:
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
    # to_json of the row includes our _rid column last; drop it so the record is the user's own.
    return raw.rsplit(',"_rid":', 1)[0] + "}" if ',"_rid":' in raw else raw


def _check_duplicates(names: Sequence[str], file: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SchemaError("duplicated column", file=file, column=name, line=1)
        seen.add(name)


def _check_required(src: _Source, required: Sequence[str], con: duckdb.DuckDBPyConnection
                    ) -> None:
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


# --------------------------------------------------------------------------------------------
# Events


def _event_select(src: _Source, file: str) -> tuple[list[str], list[_Check], bool]:
    """Converted select list for the canonical event columns, and the checks over them."""
    cols = src.columns
    checks: list[_Check] = [_nonempty_check("empty_account_id", "account_id")]
    # Raw values ride along as _raw_<name> so checks can quote what the user wrote.
    exprs: list[str] = [f"r.{_ident(c)} AS {_ident('_raw_' + c)}" for c in cols
                        if c in ("ts", "ip", "tokens_in", "tokens_out")]
    raw = {c: (_ident("_raw_" + c) if c in ("ts", "ip", "tokens_in", "tokens_out")
               else f"r.{_ident(c)}") for c in cols}
    aid = raw["account_id"]
    exprs.append(f"{aid} AS account_id" if _base_type(cols["account_id"]) == "VARCHAR"
                 else f"CAST({aid} AS VARCHAR) AS account_id")
    exprs.append(f"{_ts_conv('r.ts', cols['ts'], file, 'ts')} AS ts")
    checks += _ts_checks("ts", raw["ts"], required=True)
    if _base_type(cols["ip"]) != "VARCHAR":
        raise SchemaError(f"has type {cols['ip']}; expected text IP addresses", file=file,
                          column="ip")
    exprs.append(f"lower(trim(r.ip, {_WS_SQL})) AS ip")
    checks.append(_Check("bad_ip", "ip", "(ip IS NULL OR ip = '')", "'missing ip address'"))
    checks.append(_Check("bad_ip", "ip", f"NOT regexp_full_match(ip, {_lit(IP_REGEX)})",
                         f"'invalid IP address ' || {_raw_repr_sql(raw['ip'])}"))
    has_prompt = "prompt" in cols
    prompt = _text_conv(raw["prompt"], cols["prompt"]) if has_prompt else "NULL"
    for c in ("payment_id", "proxy_provider", "template_hash", "user_agent", "model"):
        if c == "template_hash" and has_prompt:
            given = _text_conv(raw[c], cols[c]) if c in cols else "NULL"
            exprs.append(f"coalesce({given}, {templates.template_hash_sql(prompt)}) AS {c}")
        elif c in cols:
            exprs.append(f"{_text_conv(raw[c], cols[c])} AS {c}")
        else:
            exprs.append(f"CAST(NULL AS VARCHAR) AS {c}")
    for c in ("tokens_in", "tokens_out"):
        if c not in cols:
            exprs.append(f"CAST(NULL AS BIGINT) AS {c}")
            continue
        base = _base_type(cols[c])
        src_col = f"r.{c}"
        if base == "VARCHAR":
            conv = f"try_cast(trim({src_col}, {_WS_SQL}) AS BIGINT)"
            given = f"({raw[c]} IS NOT NULL AND trim({raw[c]}, {_WS_SQL}) <> '')"
        elif base in _INTEGER or base in ("FLOAT", "DOUBLE") or base.startswith("DECIMAL"):
            conv = f"try_cast({src_col} AS BIGINT)"
            given = f"({raw[c]} IS NOT NULL)"
        else:
            raise SchemaError(f"has type {cols[c]}; expected integers", file=file, column=c)
        exprs.append(f"CASE WHEN {conv} >= 0 THEN {conv} END AS {c}")
        checks.append(_Check("bad_number", c, f"({given} AND {c} IS NULL)",
                             f"'not a non-negative integer: ' || {_raw_repr_sql(raw[c])}"))
    if has_prompt:
        exprs.append(f"{prompt} AS prompt")
    return exprs, checks, has_prompt


class _EventsTable:
    """The ``events`` table, widened as files with new extra columns arrive."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.extras: dict[str, str] = {}
        self.has_prompt = False
        cols = ", ".join(f"{c} {t}" for c, t in EVENT_COLUMNS.items())
        con.execute(f"CREATE OR REPLACE TABLE events ({cols})")

    def widen(self, src: _Source, has_prompt: bool) -> None:
        if has_prompt and not self.has_prompt:
            self.con.execute("ALTER TABLE events ADD COLUMN prompt VARCHAR")
            self.has_prompt = True
        for name, typ in src.columns.items():
            if name in EVENT_COLUMNS or name == "prompt":
                continue
            if name not in self.extras:
                self.con.execute(f"ALTER TABLE events ADD COLUMN {_ident(name)} {typ}")
                self.extras[name] = typ
            elif self.extras[name] != typ and self.extras[name] != "VARCHAR":
                # Files disagree on an extra column's type: keep every value, as text.
                self.con.execute(f"ALTER TABLE events ALTER {_ident(name)} TYPE VARCHAR")
                self.extras[name] = "VARCHAR"


def canonical_ip(ip: str) -> str:
    """Canonical text of a valid IP: IPv6 compressed per RFC 5952, IPv4-mapped IPv6 as IPv4.

    >>> canonical_ip("2001:0DB8:0000:0000:0000:0000:0000:0001"), canonical_ip("::ffff:10.0.0.1")
    ('2001:db8::1', '10.0.0.1')
    """
    addr = ipaddress.ip_address(ip.strip())
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _canonicalize_ips(con: duckdb.DuckDBPyConnection) -> None:
    """Rewrite the IPv6 spellings that may not be canonical, so one address is one IP node.

    Only distinct values with a group starting with 0 (leading zeros, uncompressed zero runs)
    or a dotted tail (IPv4-mapped / embedded) are candidates; the usual compressed spelling
    never is, so this touches no rows of a typical log.
    """
    cand = [r[0] for r in con.execute(
        "SELECT DISTINCT ip FROM events WHERE contains(ip, ':') AND "
        "(regexp_matches(ip, '(^|:)0') OR contains(ip, '.'))").fetchall()]
    pairs = [(ip, canonical_ip(ip)) for ip in cand]
    changed = pd.DataFrame([p for p in pairs if p[0] != p[1]], columns=["raw", "canon"])
    if changed.empty:
        return
    con.register("_ip_canon", changed)
    con.execute("UPDATE events SET ip = m.canon FROM _ip_canon m WHERE events.ip = m.raw")
    con.unregister("_ip_canon")


def _load_events(loader: _Loader, files: list[Path], progress: Progress) -> list[SourceFile]:
    con = loader.con
    table = _EventsTable(con)
    out: list[SourceFile] = []
    for path in files:
        with progress.step("read events"):
            src = loader.open(path, "events")
        with progress.step("validate events"):
            loader.reject_pre(src)
            _check_required(src, REQUIRED_EVENT_COLUMNS, con)
            exprs, checks, has_prompt = _event_select(src, str(path))
            extras = [c for c in src.columns if c not in EVENT_COLUMNS and c != "prompt"]
            select = ", ".join(exprs + [f"r.{_ident(c)}" for c in extras] + ["r._rid"])
            conv = f"(SELECT {select} FROM {src.relation} r)"
            where = loader.validate(src, conv, checks)
        with progress.step("load events"):
            table.widen(src, has_prompt)
            names = list(EVENT_COLUMNS) + (["prompt"] if has_prompt else []) + extras
            cols = ", ".join(_ident(n) for n in names)
            before = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
            con.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM {conv} WHERE {where}")
            after = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
            if src.stage:
                con.execute(f"DROP TABLE IF EXISTS {src.stage}")
        loaded = int(after - before)
        rejected = sum(1 for r in loader.rejects if r[0] == str(path))
        out.append(SourceFile(str(path), src.kind, "events", loaded, rejected))
    with progress.step("canonical IPs"):
        _canonicalize_ips(con)
    return out


# --------------------------------------------------------------------------------------------
# Parquet fast path: dictionary-coded events

# Text columns coded as integers; each has a dictionary table ``_dict_<column>`` (code, value).
CODED_COLUMNS = ("account_id", "ip", "payment_id", "proxy_provider", "template_hash",
                 "user_agent", "model")
CODED_EVENTS = "_events_coded"


def _coded_value_sql(column: str) -> tuple[str, str]:
    """(converted value, bad predicate) over a distinct raw value ``v`` of a coded column.

    The same conversions and checks as the row-by-row path, applied once per distinct value.
    """
    if column == "account_id":
        return "v", f"(v IS NULL OR trim(v, {_WS_SQL}) = '')"
    if column == "ip":
        ip = f"lower(trim(v, {_WS_SQL}))"
        return ip, f"(v IS NULL OR {ip} = '' OR NOT regexp_full_match({ip}, {_lit(IP_REGEX)}))"
    return _text_conv("v", "VARCHAR"), "FALSE"


def _code_column(con: duckdb.DuckDBPyConnection, col: pa.ChunkedArray, name: str
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer codes (-1 = missing) into a sorted dictionary of converted values, or None when
    some value fails its check (the row-by-row path then reports it with its location).

    Checks and conversions run over the distinct values only: a parquet dictionary column
    arrives as per-chunk dictionaries, encoded once into one set of raw values.
    """
    chunks = [c for c in col.chunks if len(c)]
    if not chunks:
        return np.zeros(0, np.int32), np.zeros(0, object)
    flat = pa.concat_arrays([c.dictionary for c in chunks])
    enc = pc.dictionary_encode(flat)
    raw = enc.dictionary
    conv, bad = _coded_value_sql(name)
    con.register("_gk_raw", pa.table({"v": raw}))
    try:  # a projection keeps row order (preserve_insertion_order)
        out_tbl = con.sql(f"SELECT {conv} AS c, {bad} AS b FROM _gk_raw").to_arrow_table()
    finally:
        con.unregister("_gk_raw")
    has_null = any(c.null_count for c in chunks)
    if pc.any(out_tbl.column("b")).as_py() or (has_null and name in REQUIRED_EVENT_COLUMNS):
        return None
    values = np.asarray(out_tbl.column("c").to_pylist(), dtype=object)
    if name == "ip":  # one address is one IP node: canonical spellings of candidates
        cand = [i for i, v in enumerate(values) if ":" in v and ("." in v or _NONCANON.search(v))]
        for i in cand:
            values[i] = canonical_ip(values[i])
    present = np.flatnonzero(pd.notna(values))
    uniq, inv = np.unique(values[present].astype(str), return_inverse=True)
    remap = np.full(len(values) + 1, -1, np.int32)  # last slot: null rows
    remap[present] = inv
    pos = enc.indices.to_numpy()
    out = np.empty(sum(len(c) for c in chunks), np.int32)
    start = dstart = 0
    for c in chunks:  # per chunk, not per row: a few hundred numpy takes
        local = remap[pos[dstart:dstart + len(c.dictionary)]]
        idx = c.indices
        take = pc.fill_null(idx, len(c.dictionary)).to_numpy() if idx.null_count else idx.to_numpy()
        if idx.null_count:
            local = np.append(local, -1)
        out[start:start + len(c)] = local[take]
        start += len(c)
        dstart += len(c.dictionary)
    return out, uniq.astype(object)


_NONCANON = re.compile("(^|:)0")


def _fast_parquet_schema(files: list[Path]) -> pa.Schema | None:
    """The common schema when every events file is Parquet holding only canonical columns
    of the expected physical types; None sends the files down the row-by-row path."""
    if any(_kind_of(f) != ("parquet", False) for f in files):
        return None
    try:
        for f in files:
            _sniff(f, "parquet", False)
        schemas = [pq.read_schema(f).remove_metadata() for f in files]
    except (InputError, pa.ArrowException, OSError):
        return None
    schema = schemas[0]
    names = schema.names
    if (any(not s.equals(schema) for s in schemas[1:]) or len(set(names)) != len(names)
            or not set(REQUIRED_EVENT_COLUMNS) <= set(names) or not set(names) <= set(EVENT_COLUMNS)):
        return None
    for fld in schema:
        t = fld.type
        if fld.name == "ts":
            ok = pa.types.is_timestamp(t)
        elif fld.name in CODED_COLUMNS:
            ok = pa.types.is_string(t) or pa.types.is_large_string(t)
        else:
            ok = pa.types.is_signed_integer(t)
        if not ok:
            return None
    return schema


def _fast_parquet_events(con: duckdb.DuckDBPyConnection, files: list[Path], progress: Progress
                         ) -> tuple[list[SourceFile], pa.Table] | None:
    """Load clean Parquet events as integer codes kept in Arrow, without a row-by-row pass.

    Typed timestamps can only fail by being null; text checks and conversions depend on the
    value alone, so they run over distinct values. Relations: ``_events_coded`` (integer codes,
    ``ts``, tokens) with ``_dict_<column>`` tables, and the ``events`` view decoding them.
    Returns None, having loaded nothing, when any row would fail a check: the row-by-row path
    then reports or skips exactly those rows.
    """
    schema = _fast_parquet_schema(files)
    if schema is None:
        return None
    names = schema.names
    arrays: dict[str, pa.Array] = {}
    dicts: dict[str, np.ndarray] = {}
    counts = [pq.ParquetFile(f).metadata.num_rows for f in files]

    def read(name: str) -> pa.ChunkedArray:
        opts = {"read_dictionary": [name]} if name in CODED_COLUMNS else {}
        return pa.chunked_array([c for f in files for c in
                                 pq.read_table(f, columns=[name], **opts).column(0).chunks],
                                type=None if name in CODED_COLUMNS else schema.field(name).type)

    with progress.step("read events"):
        for name in names:
            col = read(name)
            if name in CODED_COLUMNS:
                coded = _code_column(con, col, name)
                if coded is None:
                    return None
                codes, dicts[name] = coded
                arrays[name] = pa.array(codes, mask=codes < 0) if (codes < 0).any() else pa.array(codes)
            elif name == "ts":
                if col.null_count:
                    return None
                arrays[name] = col.cast(pa.timestamp("us")).combine_chunks()
            else:  # tokens: non-negative integers
                lo = pc.min(col).as_py()
                if lo is not None and lo < 0:
                    return None
                arrays[name] = col.cast(pa.int64()).combine_chunks()
            del col
    for name in EVENT_COLUMNS:
        if name not in arrays:
            typ = pa.int32() if name in CODED_COLUMNS else pa.int64()
            arrays[name] = pa.nulls(sum(counts), typ)
            if name in CODED_COLUMNS:
                dicts[name] = np.zeros(0, object)
    coded_tbl = pa.table({n: arrays[n] for n in EVENT_COLUMNS})
    con.register(CODED_EVENTS, coded_tbl)
    decoded = []
    for name in CODED_COLUMNS:
        con.register("_gk_dict", pa.table({"value": pa.array(dicts[name], pa.string())}))
        con.execute(f"CREATE OR REPLACE TABLE _dict_{name} AS SELECT CAST(row_number() OVER () - 1 "
                    "AS INTEGER) AS code, value FROM _gk_dict")
        con.unregister("_gk_dict")
        decoded.append(pa.DictionaryArray.from_arrays(arrays[name], pa.array(dicts[name],
                                                                             pa.string())))
    con.register("_events_decoded", pa.table(
        {n: (decoded[CODED_COLUMNS.index(n)] if n in CODED_COLUMNS else arrays[n])
         for n in EVENT_COLUMNS}))
    cols = ", ".join(EVENT_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {cols} FROM _events_decoded")
    return ([SourceFile(str(f), "parquet", "events", int(n), 0) for f, n in zip(files, counts)],
            coded_tbl)


# --------------------------------------------------------------------------------------------
# Accounts and seeds


def _load_side(loader: _Loader, path: Path, role: str, spec: dict[str, str],
               required: Sequence[str]) -> tuple[SourceFile, str]:
    """Load an accounts or seeds file into table ``_<role>``; returns its SourceFile."""
    con = loader.con
    src = loader.open(path, role)
    loader.reject_pre(src)
    _check_required(src, required, con)
    file = str(path)
    exprs: list[str] = []
    checks: list[_Check] = []
    for c, typ in spec.items():
        if c not in src.columns:
            exprs.append(f"CAST(NULL AS {typ}) AS {c}")
            continue
        raw = _ident("_raw_" + c)
        src_col = f"r.{_ident(c)}"
        exprs.append(f"{src_col} AS {raw}")
        if typ == "TIMESTAMP":
            exprs.append(f"{_ts_conv(src_col, src.columns[c], file, c)} AS {c}")
            checks += _ts_checks(c, raw, required=False)
        elif c == "status":
            status = _text_conv(src_col, src.columns[c])
            exprs.append(f"lower(trim({status}, {_WS_SQL})) AS status")
            allowed = ", ".join(_lit(s) for s in ACCOUNT_STATUSES)
            checks.append(_Check("bad_status", c, f"(status IS NOT NULL AND status NOT IN "
                                 f"({allowed}))", f"'status must be one of {'/'.join(ACCOUNT_STATUSES)}, not ' || "
                                 f"{_raw_repr_sql(raw)}"))
        elif c == "account_id":
            exprs.append(f"CAST({src_col} AS VARCHAR) AS account_id")
        else:
            exprs.append(f"{_text_conv(src_col, src.columns[c])} AS {c}")
    for c in required:
        checks.insert(0, _nonempty_check("empty_account_id" if c == "account_id"
                                         else "empty_value", c))
    if role == "accounts":
        checks.append(_Check("duplicate_account", "account_id", "_dup > 1",
                             "'account_id ' || " + _raw_repr_sql("account_id")
                             + " || ' appears more than once'"))
    conv = (f"(SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY _rid) AS _dup "
            f"FROM (SELECT {', '.join(exprs)}, r._rid FROM {src.relation} r))")
    where = loader.validate(src, conv, checks)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _{role} AS SELECT {', '.join(spec)} FROM {conv} "
                f"WHERE {where} ORDER BY _rid")
    n = con.execute(f"SELECT count(*) FROM _{role}").fetchall()[0][0]
    rejected = sum(1 for r in loader.rejects if r[0] == file)
    return SourceFile(file, src.kind, role, int(n), rejected), f"_{role}"


def _build_accounts(con: duckdb.DuckDBPyConnection, has_file: bool, coded: bool) -> pd.DataFrame:
    """Table ``accounts``: one row per account in events or the accounts file, coded 0..n-1."""
    totals = ("count(*) AS n_events, min(ts) AS first_seen, max(ts) AS last_seen, "
              "CAST(sum(tokens_in) AS BIGINT) AS tokens_in, "
              "CAST(sum(tokens_out) AS BIGINT) AS tokens_out")
    ev = (f"SELECT d.value AS account_id, g.* EXCLUDE (code) FROM (SELECT account_id AS code, "
          f"{totals} FROM {CODED_EVENTS} GROUP BY 1) g JOIN _dict_account_id d USING (code)"
          if coded else f"SELECT account_id, {totals} FROM events GROUP BY account_id")
    attrs = [c for c in ACCOUNT_COLUMNS if c != "account_id"]
    if has_file:
        side = f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM _accounts"
    else:
        side = ("SELECT CAST(NULL AS VARCHAR) AS account_id, "
                + ", ".join(f"CAST(NULL AS {ACCOUNT_COLUMNS[c]}) AS {c}" for c in attrs)
                + " WHERE FALSE")
    con.execute(
        "CREATE OR REPLACE TABLE accounts AS "
        f"WITH ev AS ({ev}), side AS ({side}) "
        "SELECT CAST(row_number() OVER (ORDER BY account_id) - 1 AS INTEGER) AS account_idx, "
        "account_id, " + ", ".join(f"side.{c}" for c in attrs) + ", "
        "coalesce(ev.n_events, 0) AS n_events, ev.first_seen, ev.last_seen, "
        "coalesce(ev.tokens_in, 0) AS tokens_in, coalesce(ev.tokens_out, 0) AS tokens_out "
        "FROM ev FULL OUTER JOIN side USING (account_id) ORDER BY account_idx")
    return con.execute(
        f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts ORDER BY account_idx").df()


def _build_templates(con: duckdb.DuckDBPyConnection, has_prompt: bool, coded: bool) -> None:
    """Table ``templates``: the normalized text of each template (for near-duplicate search)."""
    if coded:
        con.execute(
            "CREATE OR REPLACE TABLE templates AS SELECT d.value AS template_hash, "
            "CAST(NULL AS VARCHAR) AS template_text, g.n_events FROM (SELECT template_hash AS "
            f"code, count(*) AS n_events FROM {CODED_EVENTS} WHERE template_hash IS NOT NULL "
            "GROUP BY 1) g JOIN _dict_template_hash d USING (code) ORDER BY template_hash")
    elif has_prompt:
        # All prompts under one derived hash normalize to the same text, so normalizing one
        # representative per hash is exact and costs one regexp pass per template, not per event.
        con.execute(
            "CREATE OR REPLACE TABLE templates AS SELECT template_hash, "
            f"{templates.normalize_sql('any_value(prompt)')} AS template_text, "
            "count(*) AS n_events FROM events WHERE template_hash IS NOT NULL "
            "GROUP BY template_hash ORDER BY template_hash")
    else:
        con.execute("CREATE OR REPLACE TABLE templates AS SELECT template_hash, "
                    "CAST(NULL AS VARCHAR) AS template_text, count(*) AS n_events FROM events "
                    "WHERE template_hash IS NOT NULL GROUP BY template_hash "
                    "ORDER BY template_hash")


def _write_rejects(rejects: list[tuple], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "line", "row", "column", "reason", "message", "raw"])
        for rec in sorted(rejects, key=lambda r: (r[0], r[1] or 0, r[2] or 0)):
            w.writerow(["" if v is None else v for v in rec])


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up the way graphkit expects (UTC, all cores)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # graphkit draws its own progress
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    return con


def load(
    events: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    accounts: str | os.PathLike[str] | None = None,
    seeds: str | os.PathLike[str] | None = None,
    *,
    on_bad_rows: OnBadRows = "error",
    rejects_path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read, validate and load the input files (see docs/data-contract.md).

    ``on_bad_rows="error"`` raises the first bad row as a located
    :class:`graphkit.errors.InputError`; ``"skip"`` skips bad rows, counts them per reason in
    ``dataset.rejects`` and, when ``rejects_path`` is given, writes them there verbatim (CSV:
    file, line, row, column, reason, message, raw).
    """
    if on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"on_bad_rows must be 'error' or 'skip', not {on_bad_rows!r}")
    progress = progress or quiet()
    event_files = resolve_files(events)
    con = connect()
    with tempfile.TemporaryDirectory(prefix="graphkit-") as tmp:
        loader = _Loader(con, on_bad_rows, Path(tmp))
        fast = _fast_parquet_events(con, event_files, progress)
        coded_events = fast[1] if fast is not None else None
        files = fast[0] if fast is not None else _load_events(loader, event_files, progress)
        coded = fast is not None
        has_accounts = accounts is not None
        with progress.step("accounts"):
            if accounts is not None:
                acc_file, _ = _load_side(loader, Path(accounts), "accounts", ACCOUNT_COLUMNS,
                                         ("account_id",))
                files.append(acc_file)
            seeds_df: pd.DataFrame | None = None
            if seeds is not None:
                seed_file, _ = _load_side(loader, Path(seeds), "seeds", SEED_COLUMNS,
                                          ("account_id", "actor"))
                files.append(seed_file)
                con.execute("CREATE OR REPLACE TABLE seeds AS SELECT * FROM _seeds")
                seeds_df = con.execute("SELECT * FROM seeds").df()
    n_events = sum(f.rows for f in files if f.role == "events")
    if n_events == 0:
        raise InputError("no events were loaded", file=os.fspath(events)
                         if not isinstance(events, (list, tuple)) else None)
    with progress.step("accounts"):
        accounts_df = _build_accounts(con, has_accounts, coded)
    extras = [c for c in con.execute("SELECT * FROM events LIMIT 0").df().columns
              if c not in EVENT_COLUMNS and c != "prompt"]
    has_prompt = "prompt" in con.execute("SELECT * FROM events LIMIT 0").df().columns
    with progress.step("templates"):
        _build_templates(con, has_prompt, coded)
    by_reason = dict(sorted(Counter(r[4] for r in loader.rejects).items()))
    rpath = None
    if loader.rejects and rejects_path is not None:
        _write_rejects(loader.rejects, Path(rejects_path))
        rpath = os.fspath(rejects_path)
    summary = RejectSummary(len(loader.rejects), by_reason, rpath)
    return Dataset(con, accounts_df, seeds_df, files, summary, extras, has_prompt, coded,
                   coded_events)
