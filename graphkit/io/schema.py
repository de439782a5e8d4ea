"""The input's schema: canonical columns and types, reject reasons, per-file results, and the
SQL quoting helpers every reader and check uses.

>>> list(EVENT_COLUMNS)[:3], REQUIRED_EVENT_COLUMNS
(['account_id', 'ts', 'ip'], ('account_id', 'ts', 'ip'))
>>> _lit("it's"), _ident('a"b'), _base_type("decimal(18, 3)")
("'it''s'", '"a""b"', 'DECIMAL')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from graphkit.errors import SchemaError

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
    "bad_kind",
    "self_relation",
)

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


FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"})


def check_text_columns(columns: dict[str, str], text: Iterable[str], file: str) -> None:
    """Refuse a floating-point column (Parquet) where the schema reads text: ids, payment
    methods, declared identifiers. Cast to text, a missing value (NaN) would become the id
    ``nan`` and merge every account that lacks one, and a float keeps only 15-17 digits.

    >>> check_text_columns({"account_id": "BIGINT", "ts": "DOUBLE"}, ["account_id"], "e.parquet")
    >>> try:
    ...     check_text_columns({"payment_id": "DOUBLE"}, ["payment_id"], "e.parquet")
    ... except SchemaError as exc:
    ...     print(exc.column)
    payment_id
    """
    for c in text:
        if c in columns and _base_type(columns[c]) in FLOAT_TYPES:
            raise SchemaError(f"has floating-point type {columns[c]}; expected text or integers "
                              "(a missing value, NaN, would become the id 'nan' and merge "
                              "accounts; write ids as strings)", file=file, column=c)
