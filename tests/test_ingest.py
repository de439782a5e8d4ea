"""Ingestion: every input format, every validation error, skip mode, awkward-but-valid files,
template derivation (the data contract in docs/data-contract.md)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphkit
from graphkit.cli import main
from graphkit.errors import (
    ConfigError,
    FormatError,
    GraphkitError,
    InputError,
    ParseError,
    SchemaError,
)
from graphkit.io import canonical_ip, load, resolve_files
from graphkit.io.templates import normalize, template_hash

# --------------------------------------------------------------------------------------------
# One small log, written in every supported format.

ROWS = [
    {"account_id": "a1", "ts": "2024-05-01T08:00:00Z", "ip": "10.0.0.1", "payment_id": "pm1",
     "prompt": "Summarize ticket 4411", "tokens_in": 10},
    {"account_id": "a1", "ts": "2024-05-01T10:30:00+02:00", "ip": "2001:db8::1",
     "payment_id": "", "prompt": "summarize ticket 97", "tokens_in": 3},
    {"account_id": "a2", "ts": "2024-05-01 09:15:00", "ip": "192.0.2.7", "payment_id": "pm2",
     "prompt": "Write a poem", "tokens_in": None},
    {"account_id": "a3", "ts": "2024-05-02T00:00:00-05:00", "ip": "10.0.0.1",
     "payment_id": "pm1", "prompt": "", "tokens_in": 0},
]
# What the events table must hold for ROWS, worked out by hand (UTC, empty = missing).
EXPECTED = pd.DataFrame({
    "account_id": ["a1", "a1", "a2", "a3"],
    "ts": pd.to_datetime(["2024-05-01 08:00", "2024-05-01 08:30", "2024-05-01 09:15",
                          "2024-05-02 05:00"]),
    "ip": ["10.0.0.1", "2001:db8::1", "192.0.2.7", "10.0.0.1"],
    "payment_id": ["pm1", None, "pm2", "pm1"],
    "template_hash": [template_hash("summarize ticket 1")] * 2 + [template_hash("write a poem"),
                                                                  None],
    "tokens_in": [10, 3, None, 0],
})
COLS = list(EXPECTED.columns)


def _csv_text(rows: list[dict], newline: str = "\n") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator=newline)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows)


def _parquet(rows: list[dict], path: Path) -> Path:
    df = pd.DataFrame(rows)
    df["tokens_in"] = df["tokens_in"].astype("Int64")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return path


def _write(path: Path, rows: list[dict]) -> Path:
    name = path.name
    if name.endswith(".parquet"):
        return _parquet(rows, path)
    text = _jsonl_text(rows) if ".jsonl" in name or ".ndjson" in name else _csv_text(rows)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


def _events(ds: graphkit.io.Dataset) -> pd.DataFrame:
    df = ds.events()[COLS].sort_values(["account_id", "ts"], ignore_index=True)
    return df.astype(object).where(df.notna(), None)


def _expected() -> pd.DataFrame:
    df = EXPECTED.copy()
    return df.astype(object).where(df.notna(), None)


@pytest.mark.parametrize("name", ["e.csv", "e.csv.gz", "e.parquet", "e.jsonl", "e.jsonl.gz",
                                  "e.ndjson"])
def test_every_format_loads_the_same(tmp_path: Path, name: str) -> None:
    ds = load(_write(tmp_path / name, ROWS))
    pd.testing.assert_frame_equal(_events(ds), _expected())
    assert [f.kind for f in ds.files] == [name.split(".")[1].replace("ndjson", "jsonl")]
    assert ds.has_prompt


def test_parquet_typed_timestamps(tmp_path: Path) -> None:
    df = pd.DataFrame(ROWS)
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="mixed")
    df["tokens_in"] = df["tokens_in"].astype("Int64")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / "e.parquet")
    pd.testing.assert_frame_equal(_events(load(tmp_path / "e.parquet")), _expected())


def test_glob_and_directory_of_mixed_files(tmp_path: Path) -> None:
    d = tmp_path / "logs"
    (d / "2024" / "05").mkdir(parents=True)
    _write(d / "part1.csv", ROWS[:1])
    _write(d / "2024" / "part2.parquet", ROWS[1:2])
    _write(d / "2024" / "05" / "part3.jsonl.gz", ROWS[2:3])
    _write(d / "part4.csv.gz", ROWS[3:])
    (d / "_SUCCESS").write_text("")
    (d / ".DS_Store").write_bytes(b"\0\1")
    ds = load(d)
    pd.testing.assert_frame_equal(_events(ds), _expected())
    assert sorted(f.kind for f in ds.files) == ["csv", "csv", "jsonl", "parquet"]
    assert [f.rows for f in ds.files if f.kind == "parquet"] == [1]
    # A glob (recursive) and an explicit list give the same data.
    pd.testing.assert_frame_equal(_events(load(str(d / "**" / "part*"))), _expected())
    parts = [d / "part1.csv", d / "2024" / "part2.parquet", d / "2024" / "05" / "part3.jsonl.gz",
             d / "part4.csv.gz"]
    pd.testing.assert_frame_equal(_events(load(parts)), _expected())


def test_cli_accepts_several_event_arguments(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", ROWS[:2])
    b = _write(tmp_path / "b.jsonl", ROWS[2:])
    res = CliRunner().invoke(main, ["build", str(a), str(b), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["nodes"]["Account"] == 3


def test_resolve_files_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        resolve_files(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="no file matches"):
        resolve_files(str(tmp_path / "*.csv"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no data files"):
        resolve_files(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FormatError, match="unsupported file extension"):
        resolve_files(tmp_path / "notes.txt")


# --------------------------------------------------------------------------------------------
# Validation errors: (file name, content, error class, column, line, row, message part).

H = "account_id,ts,ip\n"
GOOD = "a1,2024-05-01T00:00:00Z,10.0.0.1\n"
PQ = "parquet-bad-rows"  # marker: content is built as a Parquet file

BAD: dict[str, tuple[str, bytes | str, type[InputError], str | None, int | None, int | None,
                     str]] = {
    "missing column": ("e.csv", "account_id,ip\na1,10.0.0.1\n", SchemaError, "ts", 1, None,
                       "required column is missing"),
    "missing column jsonl": ("e.jsonl", '{"account_id": "a1", "ts": "2024-05-01"}\n',
                             SchemaError, "ip", 1, None, "required column is missing"),
    "duplicated column": ("e.csv", "account_id,ts,ip,ts\na1,2024-05-01,10.0.0.1,x\n",
                          SchemaError, "ts", 1, None, "duplicated column"),
    "duplicated key jsonl": ("e.jsonl", ('{"account_id":"a","ts":"2024-05-01","ip":"1.2.3.4"}\n'
                             '{"account_id":"a","ts":"2024-05-01","ip":"1.2.3.4","ip":"1.1.1.1"}'
                             '\n'), SchemaError, "ip", 2, None, "duplicated column"),
    "unparsable timestamp": ("e.csv", H + GOOD + "a2,yesterday,10.0.0.2\n", ParseError, "ts", 3,
                             2, "unparsable timestamp 'yesterday'"),
    "impossible date": ("e.csv", H + GOOD + GOOD + "a2,2024-02-30,10.0.0.2\n", ParseError, "ts",
                        4, 3, "unparsable timestamp '2024-02-30'"),
    "epoch timestamp": ("e.csv", H + "a2,1714550400,10.0.0.2\n", ParseError, "ts", 2, 1,
                        "epoch number '1714550400' is not accepted"),
    "missing timestamp": ("e.csv", H + GOOD + "a2,,10.0.0.2\n", ParseError, "ts", 3, 2,
                          "missing timestamp"),
    "empty account_id": ("e.csv", H + GOOD + ",2024-05-01,10.0.0.2\n", ParseError, "account_id",
                         3, 2, "empty account_id"),
    "blank account_id": ("e.csv", H + GOOD + " \t ,2024-05-01,10.0.0.2\n", ParseError,
                         "account_id", 3, 2, "empty account_id"),
    "invalid ip": ("e.csv", H + GOOD + "a2,2024-05-01,10.0.0.256\n", ParseError, "ip", 3, 2,
                   "invalid IP address '10.0.0.256'"),
    "bad number": ("e.csv", "account_id,ts,ip,tokens_in\na1,2024-05-01,10.0.0.1,12k\n",
                   ParseError, "tokens_in", 2, 1, "not a non-negative integer: '12k'"),
    "ragged line short": ("e.csv", H + GOOD + "a2,2024-05-01\n" + GOOD, FormatError, None, 3,
                          None, "ragged line: expected 3 fields, found 2"),
    "ragged line long": ("e.csv", H + GOOD + GOOD + "a2,2024-05-01,10.0.0.1,x\n", FormatError,
                         None, 4, None, "ragged line: expected 3 fields, found 4"),
    "ragged after quoted newline": ("e.csv", H + 'a1,2024-05-01,"10.0.0.1"\n"a\n2",x\n',
                                    FormatError, None, 3, None, "expected 3 fields, found 2"),
    "unterminated quote": ("e.csv", H + GOOD + 'a2,2024-05-01,"10.0.0.2\n', FormatError, "ip",
                           3, None, "unterminated quote"),
    "blank lines jsonl": ("e.jsonl", "\n \n\n", FormatError, None, None, None,
                          "empty file (only blank lines)"),
    "broken jsonl": ("e.jsonl", ('{"account_id":"a","ts":"2024-05-01","ip":"1.2.3.4"}\n\n'
                     '{"account_id": "b", "ts": \n'), FormatError, None, 3, None,
                     "not a valid JSON object"),
    "jsonl not an object": ("e.jsonl", '["a", "2024-05-01", "1.2.3.4"]\n', FormatError, None, 1,
                            None, "not a valid JSON object"),
    "non-utf8 csv": ("e.csv", (H + GOOD).encode() + b"a\xe92,2024-05-01,10.0.0.2\n",
                     FormatError, "account_id", 3, None, "not valid UTF-8"),
    "non-utf8 csv header": ("e.csv", b"account_id,ts,ip,caf\xe9\n", FormatError, None, 1, None,
                            "not valid UTF-8"),
    "non-utf8 jsonl": ("e.jsonl", (b'{"account_id":"a","ts":"2024-05-01","ip":"1.2.3.4"}\n'
                       b'{"account_id":"\xff","ts":"2024-05-01","ip":"1.2.3.4"}\n'), FormatError,
                       None, 2, None, "not valid UTF-8"),
    "empty file": ("e.csv", "", FormatError, None, None, None, "empty file"),
    "empty jsonl": ("e.jsonl", "", FormatError, None, None, None, "empty file"),
    "empty gzip": ("e.csv.gz", gzip.compress(b""), FormatError, None, None, None, "empty file"),
    "header only": ("e.csv", H, InputError, None, None, None, "no events were loaded"),
    "csv named parquet": ("e.parquet", H + GOOD, FormatError, None, None, None,
                          "not a Parquet file"),
    "parquet named csv": ("e.csv", PQ, FormatError, None, None, None,
                          "this is a Parquet file, not CSV"),
    "json named csv": ("e.csv", '{"account_id": "a1"}\n', FormatError, None, 1, None,
                       "looks like JSON, not CSV"),
    "csv named jsonl": ("e.jsonl", H + GOOD, FormatError, None, 1, None,
                        "not a valid JSON object"),
    "plain text named gz": ("e.csv.gz", H + GOOD, FormatError, None, None, None,
                            "not a gzip file"),
    "gzip named csv": ("e.csv", gzip.compress((H + GOOD).encode()), FormatError, None, None,
                       None, "gzip-compressed data"),
    "truncated parquet": ("e.parquet", b"PAR1" + b"\0" * 40 + b"PAR1", FormatError, None, None,
                          None, "not a readable Parquet file"),
}


def _make(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    if content == PQ:
        _parquet(ROWS, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(content.encode())
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_validation_error_is_located(tmp_path: Path, case: str) -> None:
    name, content, err, column, line, row, part = BAD[case]
    path = _make(tmp_path, name, content)
    with pytest.raises(err) as info:
        load(path)
    exc = info.value
    msg = str(exc)
    assert part in msg
    assert msg.startswith(str(path)), msg
    assert "\n" not in msg
    assert exc.column == column
    assert exc.line == line
    if row is not None:
        assert exc.row == row
    if column:
        assert f"column '{column}'" in msg
    if line is not None:
        assert f"line {line}" in msg


@pytest.mark.parametrize("case", list(BAD))
def test_cli_exit_2_one_line_no_traceback(tmp_path: Path, case: str) -> None:
    name, content, _err, _column, _line, _row, part = BAD[case]
    path = _make(tmp_path, name, content)
    res = CliRunner().invoke(main, ["build", str(path), "--json"])
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    assert res.stderr.startswith(f"error: {path}") and res.stderr.count("\n") == 1, res.stderr
    assert part in res.stderr and "Traceback" not in res.stderr


def test_cli_real_process_no_traceback(tmp_path: Path) -> None:
    path = _make(tmp_path, "e.csv", H + GOOD + "a2,2024-05-01\n")
    exe = Path(sys.executable).with_name("graphkit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                          "from graphkit.cli import main; main()"]
    proc = subprocess.run([*cmd, "build", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {path}: line 3: ragged line: expected 3 fields, found 2\n"


def test_invalid_ips_are_rejected_valid_ones_canonical(tmp_path: Path) -> None:
    for bad in ["999.1.1.1", "10.0.0", "010.0.0.1", "1.2.3.4:443", "fe80::1%eth0",
                "2001:db8:::1", "localhost", "[2001:db8::1]", "1.2.3.4/24"]:
        path = _make(tmp_path, "e.csv", H + f"a1,2024-05-01,{bad}\n")
        with pytest.raises(ParseError, match="invalid IP address") as info:
            load(path)
        assert (info.value.column, info.value.line) == ("ip", 2), bad
    good = {"10.0.0.1": "10.0.0.1", " 10.0.0.2 ": "10.0.0.2", "2001:DB8::A": "2001:db8::a",
            "2001:0db8:0000:0000:0000:0000:0000:0001": "2001:db8::1",
            "::ffff:192.0.2.1": "192.0.2.1", "::1": "::1", "::": "::",
            "1:0:0:2:0:0:0:3": "1:0:0:2::3", "2001:db8:0:1:1:1:1:1": "2001:db8:0:1:1:1:1:1",
            "64:ff9b::192.0.2.33": "64:ff9b::c000:221"}
    rows = "".join(f'a{i},2024-05-01,"{ip}"\n' for i, ip in enumerate(good))
    ds = load(_make(tmp_path, "e.csv", H + rows))
    assert ds.events().sort_values("account_id")["ip"].tolist() == [
        good[ip] for _, ip in sorted((f"a{i}", ip) for i, ip in enumerate(good))]
    assert all(canonical_ip(k) == v for k, v in good.items())


# --------------------------------------------------------------------------------------------
# Skip mode: nothing lost, rejects kept verbatim.


def test_skip_counts_and_writes_rejects(tmp_path: Path) -> None:
    lines = [
        b"account_id,ts,ip,tokens_in",
        b"a1,2024-05-01,10.0.0.1,5",
        b",2024-05-01,10.0.0.1,1",  # empty account_id
        b"a3,nope,10.0.0.1,1",  # bad timestamp
        b"a4,2024-05-01,10.0.0.300,1",  # bad ip
        b"a5,2024-05-01,10.0.0.1,-3",  # bad number
        b"a6,2024-05-01",  # ragged
        b"a\xe97,2024-05-01,10.0.0.1,1",  # not UTF-8
        b'a8,2024-05-01,10.0.0.1,"7"',
    ]
    path = tmp_path / "e.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    rejects = tmp_path / "out" / "rejects.csv"
    ds = load(path, on_bad_rows="skip", rejects_path=rejects)
    assert ds.n_events + ds.rejects.total == len(lines) - 1
    assert sorted(ds.events()["account_id"]) == ["a1", "a8"]
    assert ds.rejects.by_reason == {"bad_ip": 1, "bad_number": 1, "bad_timestamp": 1,
                                    "empty_account_id": 1, "invalid_utf8": 1, "ragged_line": 1}
    assert ds.files[0].rows == 2 and ds.files[0].rejected == 6
    with open(rejects, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        got = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in got] == [3, 4, 5, 6, 7, 8]
    assert [r["column"] for r in got] == ["account_id", "ts", "ip", "tokens_in", "", "account_id"]
    # Raw text is kept byte for byte, undecodable bytes included.
    assert [r["raw"].encode("utf-8", "surrogateescape") for r in got] == lines[2:8]
    assert all(r["file"] == str(path) and r["message"] for r in got)


def test_skip_through_cli_and_other_formats(tmp_path: Path) -> None:
    jl = tmp_path / "e.jsonl"
    jl.write_text('{"account_id":"a1","ts":"2024-05-01","ip":"10.0.0.1"}\n'
                  '{"account_id":"a2","ts":"2024-05-01",\n'
                  '{"account_id":"","ts":"2024-05-01","ip":"10.0.0.1"}\n'
                  '{"account_id":"a4","ts":"2024-05-01","ip":"10.0.0.1","extra":{"k":[1]}}\n')
    pqf = tmp_path / "e.parquet"
    pq.write_table(pa.table({"account_id": ["b1", None, "b3"], "ts": ["2024-05-01", "x", None],
                             "ip": ["10.0.0.1", "10.0.0.2", "10.0.0.3"]}), pqf)
    rejects = tmp_path / "rejects.csv"
    res = CliRunner().invoke(main, ["build", str(jl), str(pqf), "--on-bad-rows", "skip",
                                    "--rejects", str(rejects)])
    assert res.exit_code == 0, res.output
    assert (f"skipped 4 bad rows (bad_timestamp=1, broken_json=1, empty_account_id=2) -> "
            f"{rejects}") in res.stdout
    got = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert len(got) == 4
    assert got[got["file"] == str(jl)]["line"].tolist() == ["2", "3"]
    assert got[got["file"] == str(pqf)]["row"].tolist() == ["2", "3"]
    assert '"account_id":"a2"' in got["raw"].iloc[0]
    ds = load([jl, pqf], on_bad_rows="skip")
    assert sorted(ds.events()["account_id"]) == ["a1", "a4", "b1"]
    assert ds.events().set_index("account_id").loc["a4", "extra"] == '{"k":[1]}'
    res = CliRunner().invoke(main, ["build", str(jl), "--on-bad-rows", "skip", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["nodes"]["Account"] == 2
    assert "skipped 2 bad rows" in res.stderr
    # The rejects hold raw ids and card ids: owner-only, whatever the umask.
    assert oct(rejects.stat().st_mode & 0o777) == "0o600"
    # detect says what it skipped too.
    hand = (Path(__file__).resolve().parent.parent / "fixtures" / "hand" / "events.csv").read_text()
    bad = tmp_path / "with-bad.csv"
    bad.write_text(hand.rstrip("\n") + "\nz9,not-a-time,10.0.0.1" + "," * (
        hand.splitlines()[0].count(",") - 2) + "\n")
    res = CliRunner().invoke(main, ["detect", str(bad), "--on-bad-rows", "skip", "--rejects",
                                    str(tmp_path / "rej2.csv"), "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    assert f"skipped 1 bad rows (bad_timestamp=1) -> {tmp_path / 'rej2.csv'}" in res.stdout


def test_a_blank_line_in_a_one_column_file_is_located_on_its_own_line(tmp_path: Path) -> None:
    # DuckDB reads a blank line of a one-column CSV as a row whose value is missing (in wider
    # files it skips it): the error and the rejects must name that line, not the next row.
    events = _make(tmp_path, "e.csv", H + "a1,2024-05-01T10:00:00Z,10.0.0.1\n")
    acc = tmp_path / "acc.csv"
    acc.write_text("account_id\na1\n\na2\n\n")
    with pytest.raises(InputError) as err:
        load(events, accounts=acc)
    assert (err.value.line, err.value.column) == (3, "account_id")
    rejects = tmp_path / "rej.csv"
    ds = load(events, accounts=acc, on_bad_rows="skip", rejects_path=rejects)
    assert sorted(ds.accounts["account_id"]) == ["a1", "a2"]
    got = pd.read_csv(rejects, dtype=str, keep_default_na=False)
    assert got["line"].tolist() == ["3", "5"] and set(got["raw"]) == {""}


def test_skip_with_all_rows_bad_is_an_error(tmp_path: Path) -> None:
    path = _make(tmp_path, "e.csv", H + "a1,never,10.0.0.1\n")
    with pytest.raises(InputError, match="no events were loaded"):
        load(path, on_bad_rows="skip")


def test_on_bad_rows_value_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(_make(tmp_path, "e.csv", H + GOOD), on_bad_rows="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Awkward but valid.

NASTY_IDS = [
    'a"1', "b'2", "c`3`", "d,4", "e\n5", "MATCH (n) DETACH DELETE n",
    "x'}) RETURN 1 //", "${env:HOME}", "  padded  ", "ünïcødé-名前-🙂", "back\\slash",
]


def test_awkward_csv_loads(tmp_path: Path) -> None:
    huge = "lorem ipsum " * 200_000  # 2.4 MB prompt in one field
    body = [
        "account_id,ts,ip,payment_id,prompt,user_agent,region",
        'a1,2024-05-01T10:00:00Z,10.0.0.1,,"Say ""hi"", then\r\nleave",curl/8,eu',
        '"a,2",2024-05-01T12:00:00+02:00,2001:DB8::A,pm,x,,',
        'a3,2024-05-01 10:00,::1,  ,"",  ,us',
        "a4,2024-05-01T02:00:00.250-08:00,192.0.2.1,p,,,",
        "a5,2024-05-01,192.0.2.1,p,,,",
        f'a6,2024-05-01T10:00:00Z,192.0.2.1,p,"{huge}",,',
    ]
    path = tmp_path / "e.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(body).encode() + b"\r\n")
    ds = load(path)
    ev = ds.events().set_index("account_id")
    assert list(ev.index) == ["a1", "a,2", "a3", "a4", "a5", "a6"]  # BOM not in the name
    assert ev.loc["a1", "prompt"] == 'Say "hi", then\r\nleave'
    assert ev["ts"].tolist() == list(pd.to_datetime([
        "2024-05-01 10:00", "2024-05-01 10:00", "2024-05-01 10:00", "2024-05-01 10:00:00.250",
        "2024-05-01 00:00", "2024-05-01 10:00"], format="ISO8601"))
    assert ev.loc["a,2", "ip"] == "2001:db8::a"
    assert pd.isna(ev.loc["a3", "payment_id"]) and pd.isna(ev.loc["a3", "user_agent"])
    assert pd.isna(ev.loc["a3", "prompt"]) and pd.isna(ev.loc["a3", "template_hash"])
    assert ev.loc["a6", "prompt"] == huge
    assert ds.extra_columns == ["region"]
    assert ev["region"].tolist()[0] == "eu" and ev.loc["a3", "region"] == "us"


def test_mixed_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"account_id,ts,ip\na1,2024-05-01,10.0.0.1\r\na2,2024-05-01,10.0.0.2\n"
                     b"a3,2024-05-01,10.0.0.3\r\n")
    assert load(path).events()["account_id"].tolist() == ["a1", "a2", "a3"]
    path.write_bytes(b"account_id,ts,ip\na1,2024-05-01,10.0.0.1\r\na2,bad,10.0.0.2\n")
    with pytest.raises(ParseError) as info:
        load(path)
    assert info.value.line == 3  # lines still count in the original file


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_nasty_ids_stored_verbatim(tmp_path: Path, fmt: str) -> None:
    rows = [{"account_id": a, "ts": "2024-05-01T00:00:00Z", "ip": "10.0.0.1",
             "payment_id": a[::-1], "prompt": None, "tokens_in": None} for a in NASTY_IDS]
    ds = load(_write(tmp_path / f"e.{fmt}", rows))
    ev = ds.events()
    assert sorted(ev["account_id"]) == sorted(NASTY_IDS)
    assert dict(zip(ev["account_id"], ev["payment_id"], strict=True)) == {
        a: a[::-1] for a in NASTY_IDS}
    g = graphkit.build_graph(ds)
    assert sorted(g.nodes["PaymentMethod"]["key"]) == sorted(a[::-1] for a in NASTY_IDS)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"),
                            min_size=1, max_size=12).filter(lambda s: s.strip(" \t\r\n")),
                    min_size=1, max_size=6, unique=True))
def test_csv_round_trip_of_arbitrary_ids(tmp_path_factory: pytest.TempPathFactory,
                                         ids: list[str]) -> None:
    d = tmp_path_factory.mktemp("ids")
    rows = [{"account_id": a, "ts": "2024-05-01", "ip": "10.0.0.1"} for a in ids]
    path = d / "e.csv"
    # The csv module's own dialect (CRLF records) quotes any field holding CR or LF.
    path.write_text(_csv_text(rows, "\r\n"), encoding="utf-8", newline="")
    assert sorted(load(path).accounts["account_id"]) == sorted(ids)


# --------------------------------------------------------------------------------------------
# Template derivation.


def test_template_folding_examples() -> None:
    assert normalize("Translate 'good morning' into French, v2") == \
        "translate <str> into french, <id>"
    same = ["Summarize order #18422 for alice@example.com",
            "summarize   ORDER #7 for bob@corp.io  ",
            "Summarize order #-3.5 for x.y+z@mail.co.uk"]
    assert len({template_hash(p) for p in same}) == 1
    ids = ["Look up user_1832 in 550e8400-e29b-41d4-a716-446655440000",
           "look up ord-77a in 123e4567-e89b-12d3-a456-426614174000"]
    assert template_hash(ids[0]) == template_hash(ids[1])
    quoted = ['Rate "the cat sat" from 1 to 10', "rate `x = 1` from 2 to 5",
              "Rate \u201cfoo\u201d from 0 to 3"]
    assert len({template_hash(p) for p in quoted}) == 1
    # Apostrophes are not quotes: the words around them survive.
    assert normalize("don't stop, it's fine") == "don't stop, it's fine"
    different = ["Summarize order 1", "Translate order 1", "Summarize the order 1",
                 "Write a haiku about rain", "Write a haiku about snow"]
    assert len({template_hash(p) for p in different}) == len(different)
    assert len(template_hash("x")) == 16


WORD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8)
SLOT_KINDS = [
    st.one_of(st.integers(-10**9, 10**9).map(str),
              st.floats(0, 1e6, allow_nan=False).map(lambda f: f"{f:.2f}")),
    st.one_of(st.text("abcdefghij klmnop'", max_size=15).map(lambda s: f'"{s}"'),
              st.text("abcdefghij klmnop", max_size=15).map(lambda s: f"'{s}'"),
              st.text("abcdefghij klmnop", max_size=15).map(lambda s: f"`{s}`")),
    st.tuples(WORD, st.integers(0, 99999)).map(lambda t: f"{t[0]}_{t[1]}"),
    st.uuids().map(str),
    st.tuples(WORD, WORD).map(lambda t: f"{t[0]}@{t[1]}.com"),
]


@settings(max_examples=60, deadline=None)
@given(words=st.lists(WORD, min_size=1, max_size=6),
       kinds=st.lists(st.integers(0, len(SLOT_KINDS) - 1), min_size=6, max_size=6),
       fills=st.data())
def test_template_invariance(words: list[str], kinds: list[int], fills: st.DataObject) -> None:
    """A template's fillings hash the same, whatever the values, case and spacing.

    The template is fixed words with a slot after each; each slot holds one kind of value
    (number, quoted string, id, uuid, email) and every filling draws fresh values of that kind.
    """
    def fill() -> str:
        parts: list[str] = []
        for w, k in zip(words, kinds, strict=False):
            word = fills.draw(st.sampled_from([w, w.upper(), w.capitalize()]))
            parts += [word, fills.draw(SLOT_KINDS[k])]
        sep = fills.draw(st.sampled_from([" ", "  ", "\t", " \n "]))
        return fills.draw(st.sampled_from(["", " "])) + sep.join(parts)
    assert template_hash(fill()) == template_hash(fill())


@settings(max_examples=40, deadline=None)
@given(a=st.lists(WORD, min_size=1, max_size=5), b=st.lists(WORD, min_size=1, max_size=5))
def test_different_templates_differ(a: list[str], b: list[str]) -> None:
    """Templates that differ in their fixed words hash differently."""
    if normalize(" ".join(a)) != normalize(" ".join(b)):
        assert template_hash(" ".join(a) + " 42") != template_hash(" ".join(b) + " 42")


def test_ingest_derives_hashes_like_template_hash(tmp_path: Path) -> None:
    prompts = ["Grade answer 3 of 10", "grade ANSWER 9 of 10", "Explain 'x' to a child",
               "Summarize order #1 for a@b.io", "Write a haiku"]
    rows = [{"account_id": f"a{i}", "ts": "2024-05-01", "ip": "10.0.0.1", "prompt": p,
             "template_hash": ""} for i, p in enumerate(prompts)]
    rows[4]["template_hash"] = "given-hash"  # a given hash wins over the prompt
    ds = load(_write(tmp_path / "e.csv", rows))
    got = ds.events().set_index("account_id")["template_hash"]
    assert [got[f"a{i}"] for i in range(4)] == [template_hash(p) for p in prompts[:4]]
    assert got["a0"] == got["a1"]
    assert got["a4"] == "given-hash"
    texts = dict(ds.con.execute("SELECT template_hash, template_text FROM templates").fetchall())
    assert texts[got["a0"]] == "grade answer <num> of <num>"
    assert texts["given-hash"] == "write a haiku"


def test_template_hash_column_without_prompt(tmp_path: Path) -> None:
    rows = [{"account_id": "a", "ts": "2024-05-01", "ip": "10.0.0.1", "template_hash": "t1"},
            {"account_id": "b", "ts": "2024-05-01", "ip": "10.0.0.1", "template_hash": " "}]
    ds = load(_write(tmp_path / "e.csv", rows))
    assert ds.events()["template_hash"].tolist()[0] == "t1"
    assert pd.isna(ds.events()["template_hash"].tolist()[1])
    assert not ds.has_prompt


# --------------------------------------------------------------------------------------------
# Accounts and seeds files.

ACC_H = "account_id,created_at,payment_id,email_domain,org_id,status,banned_at\n"


def test_accounts_and_seeds(tmp_path: Path) -> None:
    ev = _make(tmp_path, "e.csv", H + GOOD)
    acc = _make(tmp_path, "acc.csv", ACC_H + "a1,2024-01-01,pm,x.io,,Active,\n"
                "a9,2024-01-02T00:00:00+01:00,,,org,BANNED,2024-02-01\n")
    seeds = _make(tmp_path, "seeds.csv", "account_id,actor\na9,fleet\n")
    ds = load(ev, acc, seeds)
    a = ds.accounts.set_index("account_id")
    assert a["status"].tolist() == ["active", "banned"]
    assert a.loc["a9", "created_at"] == pd.Timestamp("2024-01-01 23:00")
    assert pd.isna(a.loc["a1", "org_id"])
    assert ds.seeds is not None and ds.seeds.values.tolist() == [["a9", "fleet"]]
    accp = tmp_path / "acc.parquet"
    pd.read_csv(acc, dtype=str).to_parquet(accp)
    assert load(ev, accp).accounts["status"].tolist() == ["active", "banned"]


@pytest.mark.parametrize("content,err,column,line,part", [
    (ACC_H + "a1,,,,,active,\na1,,,,,active,\n", ParseError, "account_id", 3,
     "account_id 'a1' appears more than once"),
    (ACC_H + "a1,,,,,suspended,\n", ParseError, "status", 2,
     "status must be one of active/banned, not 'suspended'"),
    (ACC_H + "a1,last week,,,,,\n", ParseError, "created_at", 2,
     "unparsable timestamp 'last week'"),
    ("created_at\n2024-01-01\n", SchemaError, "account_id", 1, "required column is missing"),
    (ACC_H + ",,,,,,\n", ParseError, "account_id", 2, "empty account_id"),
])
def test_accounts_errors(tmp_path: Path, content: str, err: type[GraphkitError], column: str,
                         line: int, part: str) -> None:
    ev = _make(tmp_path, "e.csv", H + GOOD)
    acc = _make(tmp_path, "acc.csv", content)
    with pytest.raises(err) as info:
        load(ev, acc)
    assert (info.value.column, info.value.line) == (column, line)
    assert str(info.value).startswith(str(acc)) and part in str(info.value)
    res = CliRunner().invoke(main, ["build", str(ev), "--accounts", str(acc)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1


def test_seeds_errors(tmp_path: Path) -> None:
    ev = _make(tmp_path, "e.csv", H + GOOD)
    with pytest.raises(SchemaError, match="column 'actor': required column is missing"):
        load(ev, seeds=_make(tmp_path, "s.csv", "account_id\na1\n"))
    with pytest.raises(ParseError, match="line 3: column 'actor': empty actor"):
        load(ev, seeds=_make(tmp_path, "s.csv", "account_id,actor\na1,x\na2,\n"))
    with pytest.raises(FormatError, match="must be CSV or Parquet"):
        load(ev, seeds=_make(tmp_path, "s.jsonl", '{"account_id": "a1", "actor": "x"}\n'))


def test_extra_columns_with_conflicting_types_across_files(tmp_path: Path) -> None:
    a = tmp_path / "a.parquet"
    pq.write_table(pa.table({"account_id": ["a"], "ts": ["2024-05-01"], "ip": ["10.0.0.1"],
                             "latency_ms": pa.array([12], pa.int64())}), a)
    b = _make(tmp_path, "b.csv", "account_id,ts,ip,latency_ms\nb,2024-05-01,10.0.0.1,fast\n")
    ev = load([a, b]).events().set_index("account_id")
    assert ev["latency_ms"].tolist() == ["12", "fast"]


def test_copying_fixture_keeps_its_figures(tmp_path: Path) -> None:
    """The hand fixture gzipped and as JSONL yields the same graph as the CSV."""
    hand = Path(__file__).resolve().parent.parent / "fixtures" / "hand"
    src = hand / "events.csv"
    with open(src, "rb") as fin, gzip.open(tmp_path / "e.csv.gz", "wb") as fout:
        shutil.copyfileobj(fin, fout)
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    with open(tmp_path / "e.jsonl", "w") as fh:
        fh.writelines(json.dumps(rec) + "\n" for rec in df.to_dict("records"))
    want = graphkit.build_graph(load(src)).summary()
    assert graphkit.build_graph(load(tmp_path / "e.csv.gz")).summary() == want
    assert graphkit.build_graph(load(tmp_path / "e.jsonl")).summary() == want


def test_data_contract_examples_run() -> None:
    """The examples in docs/data-contract.md are real output."""
    import doctest

    root = Path(__file__).resolve().parent.parent
    doc = root / "docs" / "data-contract.md"
    result = doctest.testfile(str(doc), module_relative=False)
    assert result.attempted >= 3 and result.failed == 0
    text = doc.read_text()
    hand = root / "fixtures" / "hand"
    res = CliRunner().invoke(main, ["build", str(hand / "events.csv"), "--accounts",
                                    str(hand / "accounts.csv"), "--json"])
    assert res.stdout.strip() in text


# --------------------------------------------------------------------------------------------
# Parquet fast path: clean typed Parquet is dictionary-coded without a row-by-row pass; it must
# give exactly what the row-by-row path gives for the same rows.

CODED_ROWS = pd.DataFrame({
    "account_id": ["b2", "a1", "a1", "c3", "b2", "a1"],
    "ts": pd.to_datetime(["2024-05-01 08:00", "2024-05-01 09:00", "2024-05-02 10:00",
                          "2024-05-03 11:00", "2024-05-03 12:00", "2024-05-04 00:00"], utc=True),
    "ip": ["10.0.0.1", " 2001:DB8:0:0:0:0:0:1", "::ffff:10.0.0.1", "2001:db8::1",
           "192.0.2.7\t", "10.0.0.1"],
    "payment_id": ["pm1", "  ", None, "pm2", "pm1", ""],
    "proxy_provider": [None, "vpnco", "vpnco", "", "hostco", None],
    "template_hash": ["t1", "t2", "t1", None, " ", "t2"],
    "model": ["m1", "m1", "m2", "m2", None, "m1"],
    "tokens_in": pd.array([5, 0, None, 7, 1, 2], dtype="Int64"),
})


def _as_csv(df: pd.DataFrame, path: Path) -> Path:
    out = df.copy()
    out["ts"] = out["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out.to_csv(path, index=False)
    return path


def _assert_same_graph(fast: graphkit.io.Dataset, slow: graphkit.io.Dataset) -> None:
    gf, gs = graphkit.build_graph(fast), graphkit.build_graph(slow)
    assert gf.summary() == gs.summary()
    for t in gs.nodes:
        pd.testing.assert_frame_equal(gf.nodes[t], gs.nodes[t], check_dtype=False)
    for t in gs.edges:
        pd.testing.assert_frame_equal(gf.edges[t], gs.edges[t], check_dtype=False)


def test_clean_parquet_is_coded_and_equals_row_by_row(tmp_path: Path) -> None:
    pqf = tmp_path / "e.parquet"
    pq.write_table(pa.Table.from_pandas(CODED_ROWS, preserve_index=False), pqf)
    acc = tmp_path / "accounts.csv"
    acc.write_text("account_id,payment_id\na1,pm9\nz9,pm1\n")
    fast = load(pqf, accounts=acc)
    slow = load(_as_csv(CODED_ROWS, tmp_path / "e.csv"), accounts=acc)
    assert fast.coded and not slow.coded
    assert fast.n_events == slow.n_events == 6
    order = ["account_id", "ts"]
    pd.testing.assert_frame_equal(fast.events().sort_values(order, ignore_index=True),
                                  slow.events().sort_values(order, ignore_index=True))
    # Canonical IPs and blanks as missing, worked out by hand.
    ev = fast.events().sort_values(order, ignore_index=True)
    assert list(ev["ip"]) == ["2001:db8::1", "10.0.0.1", "10.0.0.1", "10.0.0.1", "192.0.2.7",
                              "2001:db8::1"]
    assert ev["payment_id"].isna().sum() == 3
    pd.testing.assert_frame_equal(fast.accounts, slow.accounts)
    for table in ("accounts", "templates"):
        sql = f"SELECT * FROM {table} ORDER BY 1"
        pd.testing.assert_frame_equal(fast.con.execute(sql).df(), slow.con.execute(sql).df())
    _assert_same_graph(fast, slow)


def test_few_valued_parquet_columns_read_as_dictionaries_equal_row_by_row(
        tmp_path: Path) -> None:
    """Columns with few distinct values (model, proxy, blanks and spellings that convert to
    one value) are read as Parquet's per-row-group dictionaries, unified across row groups
    and files: the coded events equal the row-by-row path's."""
    from graphkit.io.coded import _few_values

    rows = pd.concat([CODED_ROWS] * 400, ignore_index=True)
    rows["account_id"] = [f"acc{i % 37}" for i in range(len(rows))]
    rows["ts"] = rows["ts"] + pd.to_timedelta(np.arange(len(rows)), unit="min")
    rows.loc[400:799, "proxy_provider"] = None  # one row group without a proxy
    rows.loc[1800:, "model"] = "m3"  # a value only the second file has
    parts = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for part, half in zip(parts, (rows.iloc[:1200], rows.iloc[1200:]), strict=True):
        pq.write_table(pa.Table.from_pandas(half, preserve_index=False), part,
                       row_group_size=400)
    assert _few_values(parts[0], "model") and not _few_values(parts[0], "account_id")
    fast = load(parts)
    slow = load(_as_csv(rows, tmp_path / "e.csv"))
    assert fast.coded and not slow.coded
    order = ["account_id", "ts"]
    pd.testing.assert_frame_equal(fast.events().sort_values(order, ignore_index=True),
                                  slow.events().sort_values(order, ignore_index=True))
    assert set(fast.events()["model"].dropna()) == {"m1", "m2", "m3"}
    _assert_same_graph(fast, slow)


def test_large_string_files_read_as_dictionaries_and_as_strings_together(
        tmp_path: Path) -> None:
    """large_string columns (as Polars writes them) where one file's model column has few
    values and the other's has many: both reads give one column type, and the events equal
    the row-by-row path's."""
    def table(n: int, models: list[str], start: int) -> pa.Table:
        return pa.table({
            "account_id": pa.array([f"acc{i % 7}" for i in range(n)], pa.large_string()),
            "ts": pa.array(pd.date_range("2024-05-01", periods=n, freq="min", tz="UTC")
                           + pd.Timedelta(minutes=start)),
            "ip": pa.array([f"10.0.0.{i % 5}" for i in range(n)], pa.large_string()),
            "model": pa.array(models, pa.large_string())})
    parts = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(table(1000, ["m1"] * 1000, 0), parts[0])
    pq.write_table(table(50, [f"m{i}" for i in range(50)], 2000), parts[1])
    fast = load(parts)
    rows = pd.concat([pq.read_table(f).to_pandas() for f in parts], ignore_index=True)
    slow = load(_as_csv(rows, tmp_path / "e.csv"))
    assert fast.coded and not slow.coded
    order = ["account_id", "ts"]
    pd.testing.assert_frame_equal(fast.events().sort_values(order, ignore_index=True),
                                  slow.events().sort_values(order, ignore_index=True),
                                  check_dtype=False)


def test_simulated_fixture_coded_graph_equals_row_by_row(tmp_path: Path) -> None:
    src = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"
    df = pq.read_table(src / "events.parquet").to_pandas()
    fast = load(src / "events.parquet", accounts=src / "accounts.csv")
    slow = load(_as_csv(df, tmp_path / "e.csv"), accounts=src / "accounts.csv")
    assert fast.coded and not slow.coded
    _assert_same_graph(fast, slow)


@pytest.mark.parametrize("column, value, reason, message", [
    ("account_id", " ", "empty_account_id", "empty account_id"),
    ("ip", "10.0.0.300", "bad_ip", "invalid IP address"),
    ("ip", None, "bad_ip", "missing ip address"),
    ("ts", None, "bad_timestamp", "missing timestamp"),
    ("tokens_in", -4, "bad_number", "not a non-negative integer"),
])
def test_bad_parquet_rows_located_not_coded(tmp_path: Path, column: str, value: object,
                                            reason: str, message: str) -> None:
    df = CODED_ROWS.copy()
    df[column] = df[column].astype(object) if column != "tokens_in" else df[column]
    df.loc[3, column] = value
    pqf = tmp_path / "e.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), pqf)
    with pytest.raises(InputError) as err:
        load(pqf)
    assert err.value.row == 4 and err.value.column == column and message in str(err.value)
    ds = load(pqf, on_bad_rows="skip", rejects_path=tmp_path / "rej.csv")
    assert not ds.coded and ds.n_events == 5 and ds.rejects.by_reason == {reason: 1}
