"""Prompt-template derivation: fold the variable parts of a prompt, then hash what is left.

Distillation fleets send one prompt template filled with different values (names, numbers, ids,
quoted snippets). Normalizing those values away makes every filling of a template hash the same,
so accounts that share templates can be linked. Everything here is a DuckDB SQL expression, so it
runs vectorized over millions of events; :func:`normalize` and :func:`template_hash` run the very
same SQL for one string (tests, debugging).

>>> template_hash("Summarize order #18422 for alice@example.com") == template_hash(
...     "summarize   order #907 for bob@corp.io")
True
>>> normalize("Translate 'good morning' into French, v2")
'translate <str> into french, <id>'
"""

from __future__ import annotations

import duckdb

_HEX_WITH_LETTER = r"\b(" + "|".join(
    [f"[0-9]{{{k}}}[a-f][0-9a-f]{{{7 - k},}}" for k in range(7)] + ["[0-9]{7,}[a-f][0-9a-f]*"]
) + r")\b"

# (pattern, replacement), applied in order to the lower-cased prompt. Order matters: structured
# tokens (emails, urls, uuids) go first so their digits are not folded piecemeal into <num>.
_FOLDS: tuple[tuple[str, str], ...] = (
    (r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)+", "<email>"),
    (r"(https?|ftp)://[^\s]+", "<url>"),
    (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>"),
    # Quoted values: double quotes, backticks, curly quotes anywhere; single quotes only when
    # opening after a non-word character so apostrophes ("don't ... it's") are left alone.
    (r'"[^"\n]*"', "<str>"),
    (r"`[^`\n]*`", "<str>"),
    ("\u201c[^\u201d\\n]*\u201d", "<str>"),
    ("\u2018[^\u2019\\n]*\u2019", "<str>"),
    (r"(^|[^a-z0-9_])'[^'\n]*'", r"\1<str>"),
    (r"\b0x[0-9a-f]+\b", "<hex>"),
    # Hex ids of 8+ characters with at least one letter (a run of digits alone is a number,
    # however long). RE2 has no look-ahead, so the length is spelled out per digit prefix.
    (_HEX_WITH_LETTER, "<hex>"),
    # Identifiers: a word that starts with a letter and contains a digit (user_1832, ord-77a).
    (r"\b[a-z][a-z_-]*[0-9][a-z0-9_-]*\b", "<id>"),
    (r"[+-]?[0-9]+([.,:/][0-9]+)*", "<num>"),
    (r"\s+", " "),
)

HASH_CHARS = 16  # 64 bits of md5: collisions are negligible at any realistic template count


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def normalize_sql(expr: str) -> str:
    """SQL expression that normalizes the prompt in SQL expression ``expr``.

    >>> normalize_sql("prompt").startswith("trim(regexp_replace(")
    True
    """
    out = f"lower({expr})"
    for pattern, repl in _FOLDS:
        out = f"regexp_replace({out}, {_sql_literal(pattern)}, {_sql_literal(repl)}, 'g')"
    return f"trim({out})"


def hash_sql(normalized_expr: str) -> str:
    """SQL expression giving the template hash of an already normalized text expression."""
    return f"substr(md5({normalized_expr}), 1, {HASH_CHARS})"


def template_hash_sql(expr: str) -> str:
    """SQL expression giving the template hash of the prompt in ``expr`` (NULL stays NULL)."""
    return hash_sql(normalize_sql(expr))


def normalize(prompt: str) -> str:
    """Normalize one prompt with the same SQL used on the events table."""
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT {normalize_sql('$p')}", {"p": prompt}).fetchall()[0]
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def template_hash(prompt: str) -> str:
    """Template hash of one prompt, identical to the hash derived during ingestion."""
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT {template_hash_sql('$p')}", {"p": prompt}).fetchall()[0]
    finally:
        con.close()
    assert row is not None
    return str(row[0])
