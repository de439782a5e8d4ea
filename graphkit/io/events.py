"""The row-by-row events path: convert each file's raw columns to the canonical event columns,
validate them and append the good rows to the ``events`` table.

Raw values ride along as ``_raw_<name>`` so the checks can quote what the user wrote. A
template hash missing from the input is derived from the prompt (see
:mod:`graphkit.io.templates`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from graphkit.errors import SchemaError
from graphkit.io import templates
from graphkit.io.parsing import (
    _canonicalize_ips,
    _Check,
    _ip_checks,
    _nonempty_check,
    _text_conv,
    _token_conv,
    _ts_checks,
    _ts_conv,
)
from graphkit.io.readers import _Source
from graphkit.io.schema import (
    _WS_SQL,
    EVENT_COLUMNS,
    REQUIRED_EVENT_COLUMNS,
    SourceFile,
    _base_type,
    _ident,
    check_text_columns,
)
from graphkit.io.validation import _check_required, _Loader
from graphkit.progress import Progress

# Columns whose raw value is kept as ``_raw_<name>`` for messages (they are converted).
_QUOTED = ("ts", "ip", "tokens_in", "tokens_out")
_TEXT_COLUMNS = ("payment_id", "proxy_provider", "template_hash", "user_agent", "model")
_TOKEN_COLUMNS = ("tokens_in", "tokens_out")


def _text_selects(cols: dict[str, str], raw: dict[str, str], has_prompt: bool,
                  prompt: str) -> list[str]:
    """Optional text columns; ``template_hash`` falls back to the prompt's template hash."""
    exprs: list[str] = []
    for c in _TEXT_COLUMNS:
        if c == "template_hash" and has_prompt:
            given = _text_conv(raw[c], cols[c]) if c in cols else "NULL"
            exprs.append(f"coalesce({given}, {templates.template_hash_sql(prompt)}) AS {c}")
        elif c in cols:
            exprs.append(f"{_text_conv(raw[c], cols[c])} AS {c}")
        else:
            exprs.append(f"CAST(NULL AS VARCHAR) AS {c}")
    return exprs


def _token_selects(cols: dict[str, str], raw: dict[str, str], file: str
                   ) -> tuple[list[str], list[_Check]]:
    """Token counts (non-negative integers) and their checks."""
    exprs: list[str] = []
    checks: list[_Check] = []
    for c in _TOKEN_COLUMNS:
        if c not in cols:
            exprs.append(f"CAST(NULL AS BIGINT) AS {c}")
            continue
        expr, check = _token_conv(raw[c], f"r.{c}", cols[c], file, c)
        exprs.append(expr)
        checks.append(check)
    return exprs, checks


def _event_select(src: _Source, file: str) -> tuple[list[str], list[_Check], bool]:
    """Converted select list for the canonical event columns, and the checks over them."""
    cols = src.columns
    check_text_columns(cols, [c for c, t in EVENT_COLUMNS.items() if t == "VARCHAR"], file)
    checks: list[_Check] = [_nonempty_check("empty_account_id", "account_id")]
    exprs: list[str] = [f"r.{_ident(c)} AS {_ident('_raw_' + c)}" for c in cols
                        if c in _QUOTED]
    raw = {c: (_ident("_raw_" + c) if c in _QUOTED else f"r.{_ident(c)}") for c in cols}
    aid = raw["account_id"]
    exprs.append(f"{aid} AS account_id" if _base_type(cols["account_id"]) == "VARCHAR"
                 else f"CAST({aid} AS VARCHAR) AS account_id")
    exprs.append(f"{_ts_conv('r.ts', cols['ts'], file, 'ts')} AS ts")
    checks += _ts_checks("ts", raw["ts"], required=True)
    if _base_type(cols["ip"]) != "VARCHAR":
        raise SchemaError(f"has type {cols['ip']}; expected text IP addresses", file=file,
                          column="ip")
    exprs.append(f"lower(trim(r.ip, {_WS_SQL})) AS ip")
    checks += _ip_checks(raw["ip"])
    has_prompt = "prompt" in cols
    prompt = _text_conv(raw["prompt"], cols["prompt"]) if has_prompt else "NULL"
    exprs += _text_selects(cols, raw, has_prompt, prompt)
    token_exprs, token_checks = _token_selects(cols, raw, file)
    exprs += token_exprs
    checks += token_checks
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


def _count_events(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT count(*) FROM events").fetchall()[0][0])


def _aliased(src: _Source, aliases: dict[str, str]) -> _Source:
    """``src`` with declared columns renamed to the canonical columns they stand for
    (``--identifier card:payment`` reads column card as payment_id), where the file lacks the
    canonical column."""
    renames = {c: canon for c, canon in aliases.items()
               if c in src.columns and canon not in src.columns}
    if not renames:
        return src
    spec = ", ".join(f"{_ident(c)} AS {_ident(canon)}" for c, canon in renames.items())
    columns = {renames.get(c, c): t for c, t in src.columns.items()}
    return dataclasses.replace(src, relation=f"(SELECT * RENAME ({spec}) FROM {src.relation})",
                               columns=columns)


def _load_event_file(loader: _Loader, table: _EventsTable, path: Path,
                     progress: Progress, aliases: dict[str, str] | None = None) -> SourceFile:
    """Read, validate and append one events file; returns what was loaded and rejected."""
    con = loader.con
    with progress.step("read events"):
        src = _aliased(loader.open(path, "events"), aliases or {})
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
        before = _count_events(con)
        con.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM {conv} WHERE {where}")
        after = _count_events(con)
        if src.stage:
            con.execute(f"DROP TABLE IF EXISTS {src.stage}")
    return SourceFile(str(path), src.kind, "events", after - before,
                      loader.rejected_in(str(path)))


def _load_events(loader: _Loader, files: list[Path], progress: Progress,
                 aliases: dict[str, str] | None = None) -> list[SourceFile]:
    """Load every events file into table ``events``, then canonicalize IPv6 spellings."""
    table = _EventsTable(loader.con)
    out = [_load_event_file(loader, table, path, progress, aliases) for path in files]
    with progress.step("canonical IPs"):
        _canonicalize_ips(loader.con)
    return out
