"""The accounts file and the seeds file, and the ``accounts`` table built from events and the
accounts file (one row per account, coded 0..n-1 in account-id order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from graphkit.io.coded import CODED_EVENTS
from graphkit.io.parsing import (
    _Check,
    _nonempty_check,
    _raw_repr_sql,
    _text_conv,
    _ts_checks,
    _ts_conv,
)
from graphkit.io.readers import _Source
from graphkit.io.schema import (
    _WS_SQL,
    ACCOUNT_COLUMNS,
    ACCOUNT_STATUSES,
    SourceFile,
    _ident,
    _lit,
    check_text_columns,
)
from graphkit.io.validation import _check_required, _Loader


def _status_select(src_col: str, duck_type: str) -> tuple[str, _Check]:
    """Account status, lower-cased; one of :data:`ACCOUNT_STATUSES` when given."""
    status = _text_conv(src_col, duck_type)
    allowed = ", ".join(_lit(s) for s in ACCOUNT_STATUSES)
    check = _Check("bad_status", "status",
                   f"(status IS NOT NULL AND status NOT IN ({allowed}))",
                   f"'status must be one of {'/'.join(ACCOUNT_STATUSES)}, not ' || "
                   f"{_raw_repr_sql(_ident('_raw_status'))}")
    return f"lower(trim({status}, {_WS_SQL})) AS status", check


def _side_select(src: _Source, spec: dict[str, str]) -> tuple[list[str], list[_Check]]:
    """Converted select list for the columns of ``spec`` and the checks over them."""
    file = str(src.path)
    check_text_columns(src.columns, [c for c, t in spec.items() if t == "VARCHAR"], file)
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
            expr, check = _status_select(src_col, src.columns[c])
            exprs.append(expr)
            checks.append(check)
        elif c == "account_id":
            exprs.append(f"CAST({src_col} AS VARCHAR) AS account_id")
        else:
            exprs.append(f"{_text_conv(src_col, src.columns[c])} AS {c}")
    return exprs, checks


def _load_side(loader: _Loader, path: Path, role: str, spec: dict[str, str],
               required: Sequence[str]) -> tuple[SourceFile, str]:
    """Load an accounts or seeds file into table ``_<role>``; returns its SourceFile."""
    con = loader.con
    src = loader.open(path, role)
    loader.reject_pre(src)
    _check_required(src, required, con)
    file = str(path)
    exprs, checks = _side_select(src, spec)
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
    return SourceFile(file, src.kind, role, int(n), loader.rejected_in(file)), f"_{role}"


def _build_accounts(con: duckdb.DuckDBPyConnection, has_file: bool, coded: bool,
                    extra_ids: str | None = None) -> pd.DataFrame:
    """Table ``accounts``: one row per account in events or the accounts file (and in
    ``extra_ids``, SQL giving ``account_id``: accounts only the identifiers or relations file
    names), coded 0..n-1."""
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
    if extra_ids is not None:
        nulls = ", ".join(f"CAST(NULL AS {ACCOUNT_COLUMNS[c]}) AS {c}" for c in attrs)
        side = (f"SELECT * FROM ({side}) UNION ALL SELECT DISTINCT x.account_id, {nulls} "
                f"FROM ({extra_ids}) x WHERE x.account_id NOT IN (SELECT account_id FROM "
                f"({side}) WHERE account_id IS NOT NULL)")
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
