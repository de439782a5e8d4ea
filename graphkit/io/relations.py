"""The relations file: typed account-to-account edges (transfers, referrals, invitations).

Columns ``src_account, dst_account, kind`` and optional ``ts`` (ISO-8601) and ``amount`` (a
non-negative number). Validated at this boundary like every input: empty account ids
(``empty_account_id``), unusable kinds (``bad_kind``), bad timestamps (``bad_timestamp``), bad
amounts (``bad_number``) and an account related to itself (``self_relation``) are errors naming
file, line and column (or skipped and counted under ``on_bad_rows="skip"``). Every row is one
relation: repeated rows are repeated transfers and count as such (``count``, summed
``amount``).

Table ``relations``: ``src_account``, ``dst_account``, ``kind``, ``ts``, ``amount``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from graphkit.io.longfiles import load_long
from graphkit.io.parsing import _Check, _raw_repr_sql
from graphkit.io.readers import _Source
from graphkit.io.schema import _WS_SQL, SourceFile
from graphkit.io.validation import _Loader

RELATION_COLUMNS: dict[str, str] = {"src_account": "VARCHAR", "dst_account": "VARCHAR",
                                    "kind": "VARCHAR", "ts": "TIMESTAMP"}
TABLE = "relations"


def load_relations_file(loader: _Loader, path: Path) -> SourceFile:
    """Validate the relations file into table ``relations``; returns its SourceFile."""
    has_amount = False

    def amounts(src: _Source) -> tuple[list[str], list[_Check]]:
        nonlocal has_amount
        checks = [_Check("self_relation", "dst_account", "(src_account = dst_account)",
                         "'account ' || src_account || ' related to itself'")]
        if "amount" not in src.columns:
            return [], checks
        has_amount = True
        raw = "CAST(r.amount AS VARCHAR)"
        num = f"try_cast(trim({raw}, {_WS_SQL}) AS DOUBLE)"
        checks.insert(0, _Check(
            "bad_number", "amount",
            f"(_raw_amount IS NOT NULL AND trim(_raw_amount, {_WS_SQL}) <> '' AND amount IS NULL)",
            f"'not a non-negative amount: ' || {_raw_repr_sql('_raw_amount')}"))
        return [f"{raw} AS _raw_amount", f"CASE WHEN {num} >= 0 THEN {num} END AS amount"], checks

    sf = load_long(loader, path, "relations", RELATION_COLUMNS,
                   ("src_account", "dst_account", "kind"), amounts)
    amount = "amount" if has_amount else "CAST(NULL AS DOUBLE) AS amount"
    loader.con.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT src_account, dst_account, "
                       f"kind, ts, {amount} FROM _relations ORDER BY _rid")
    return sf


def relation_kinds(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Kinds present in table ``relations`` (empty when there is none)."""
    try:
        return [r[0] for r in con.execute(
            f"SELECT DISTINCT kind FROM {TABLE} ORDER BY kind").fetchall()]
    except duckdb.CatalogException:
        return []
