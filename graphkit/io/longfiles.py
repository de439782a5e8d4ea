"""Reading the long side files (identifiers, relations): shared conversions and checks.

Both files name accounts and a kind per row; a kind is normalized as the registry spells it
(:func:`graphkit.registry.normalize_kind_name`: lower case, other characters as ``_``) and a
row whose kind cannot be normalized is a ``bad_kind`` error naming file, line and column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graphkit.io.accounts import _side_select
from graphkit.io.parsing import _Check, _nonempty_check, _raw_repr_sql
from graphkit.io.readers import _Source
from graphkit.io.schema import _WS_SQL, SourceFile, _ident
from graphkit.io.validation import _check_required, _Loader

# SQL for the normalized kind; NULL when nothing usable is left.
_KIND_SQL = (f"nullif(trim(regexp_replace(lower(trim(kind, {_WS_SQL})), '[^a-z0-9]+', '_', 'g'), '_'), "
             "'')")
_KIND_OK = "regexp_full_match(kind, '[a-z][a-z0-9_]{0,39}')"


def kind_check() -> _Check:
    """A kind must normalize to a usable name (letters, digits, _; starting with a letter)."""
    return _Check("bad_kind", "kind", f"(_raw_kind IS NOT NULL AND NOT coalesce({_KIND_OK}, FALSE))",
                  f"'kind ' || {_raw_repr_sql('_raw_kind')} || ' is not a usable kind name'")


def load_long(loader: _Loader, path: Path, role: str, spec: dict[str, str],
              required: tuple[str, ...],
              extra: Callable[[_Source], tuple[list[str], list[_Check]]] | None = None
              ) -> SourceFile:
    """Validate a long file into temp table ``_<role>`` (columns of ``spec``, normalized
    ``kind``, and the expressions ``extra(src)`` gives with their checks); returns its
    SourceFile."""
    con = loader.con
    src = loader.open(path, role)
    loader.reject_pre(src)
    _check_required(src, required, con)
    more, more_checks = extra(src) if extra is not None else ([], [])
    exprs, checks = _side_select(src, spec)
    exprs = [e if not e.endswith(" AS kind") else f"{_KIND_SQL.replace('kind', e[:-8], 1)} "
             "AS kind" for e in exprs]
    checks = [*(_nonempty_check("empty_account_id" if "account" in c else "empty_value", c)
                for c in required), kind_check(), *checks, *more_checks]
    conv = (f"(SELECT {', '.join(exprs + more)}, r._rid FROM {src.relation} r)")
    where = loader.validate(src, conv, checks)
    names = [*spec, *(m.rsplit(" AS ", 1)[1] for m in more)]
    con.execute(f"CREATE OR REPLACE TEMP TABLE _{role} AS SELECT "
                f"{', '.join(_ident(n) for n in names)}, _rid FROM {conv} WHERE {where} "
                "ORDER BY _rid")
    n = con.execute(f"SELECT count(*) FROM _{role}").fetchall()[0][0]
    return SourceFile(str(path), src.kind, role, int(n), loader.rejected_in(str(path)))
