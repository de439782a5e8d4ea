"""Input files: finding them (a file, a glob, a directory), telling their format from the name
and the first bytes, and walking CSV records on the error paths.

>>> _kind_of(Path("events.csv.gz")), _kind_of(Path("e.parquet")), _kind_of(Path("notes.txt"))
(('csv', True), ('parquet', False), None)
"""

from __future__ import annotations

import csv
import glob as globmod
import gzip
import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from graphkit.errors import FormatError, InputError, SchemaError
from graphkit.io.schema import _MAX_LINE, Kind, _one_line


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

    >>> [p.name for p in resolve_files("fixtures/hand/e*.csv")]
    ['events.csv']
    """
    if isinstance(spec, (list, tuple)):
        out: list[Path] = []
        for item in spec:
            out.extend(resolve_files(item))
        return out
    text = os.fspath(spec)  # type: ignore[arg-type]
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(
            part.startswith((".", "_")) for part in p.relative_to(path).parts))
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
        raise FormatError(f"cannot read the CSV header ({_one_line(exc)})", file=str(path),
                          line=1) from None
    raise FormatError("empty file (no header line)", file=str(path))


def _check_duplicates(names: Sequence[str], file: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SchemaError("duplicated column", file=file, column=name, line=1)
        seen.add(name)
