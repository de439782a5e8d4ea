"""Reading CSV tables with identifiers kept as opaque strings.

Account ids, cards and other identifiers come from the attackers: ``NA``, ``null``, ``None``,
``nan``, ``#N/A``, ``007`` and ``" a "`` are all valid, distinct ids. pandas' defaults would turn
the first ones into a missing value and ``007`` into the number 7. :func:`read_csv_strings` is the
one CSV reader of the project (seeds, labels, truth, detect results, export and bulk re-reads,
report, share): identifier columns are read verbatim as ``str`` (no NA strings at all, no
stripping); other columns treat only the empty string as missing.

>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(p, "w").write('account_id,score\\nNA,0.5\\nnull,\\n" a ",1\\n007,2\\n')
>>> t = read_csv_strings(p)
>>> t["account_id"].tolist(), t["score"].isna().tolist()
(['NA', 'null', ' a ', '007'], [False, True, False, False])
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from graphkit.errors import FormatError, InputError, SchemaError
from graphkit.io.csv_text import csv_lines, write_lines
from graphkit.registry import ACCOUNT_KEY

# Columns that always hold account identifiers (read verbatim as text) wherever they appear:
# the account id, the pair ends of links.csv and the stable-id succession columns. Other text
# columns (actor, campaign, top_* lists) keep "NA" and "null" too; only their empty cell is
# missing.
ID_COLUMNS: frozenset[str] = frozenset({
    ACCOUNT_KEY, "account_a", "account_b", "predecessor", "successor"})


def read_csv_strings(
    path: str | os.PathLike[str],
    *,
    ids: Iterable[str] = (),
    all_strings: bool = False,
    required: Iterable[str] = (),
    usecols: Iterable[str] | Callable[[str], bool] | None = None,
    nrows: int | None = None,
    error: type[InputError] = InputError,
) -> pd.DataFrame:
    """Read a CSV file keeping identifiers verbatim.

    Parameters
    ----------
    path : path-like
        The CSV file (UTF-8; ``.gz`` is decompressed).
    ids : iterable of str
        Columns read as opaque text in addition to :data:`ID_COLUMNS`.
    all_strings : bool
        Read every column as text, verbatim (empty cells stay ``""``).
    required : iterable of str
        Columns that must be present (:class:`~graphkit.errors.SchemaError` otherwise).
    usecols, nrows
        As in :func:`pandas.read_csv`.
    error : type
        The :class:`~graphkit.errors.InputError` subclass raised when the file is missing or
        unreadable (the export raises its own).

    Returns
    -------
    pandas.DataFrame
        Identifier columns as ``object`` of ``str`` (never NaN: ``NA``, ``null``, ``None``,
        padded and numeric-looking values verbatim); other columns parsed by pandas with only
        the empty cell as missing.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(p, "w").write("account_id,actor\\nNone,\\n")
    >>> read_csv_strings(p, all_strings=True).to_dict("records")
    [{'account_id': 'None', 'actor': ''}]
    """
    p = Path(path)
    try:
        header = pd.read_csv(p, nrows=0, dtype=str, keep_default_na=False).columns
    except FileNotFoundError:
        raise error("file not found", file=str(p)) from None
    except IsADirectoryError:
        raise error("is a directory, not a CSV file", file=str(p)) from None
    except PermissionError:
        raise error("permission denied", file=str(p)) from None
    except pd.errors.EmptyDataError:
        raise FormatError("empty file", file=str(p)) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise error(f"cannot read as CSV: {_first_line(exc)}", file=str(p)) from None
    text = set(header) if all_strings else (ID_COLUMNS | set(ids)) & set(header)
    kwargs: dict[str, Any] = {
        "dtype": dict.fromkeys(text, str),
        "keep_default_na": False,
        # Only the empty cell is missing, and only outside identifier columns.
        "na_values": {c: [""] for c in header if c not in text},
    }
    try:
        frame = pd.read_csv(p, usecols=usecols, nrows=nrows, **kwargs)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise error(f"cannot read as CSV: {_first_line(exc)}", file=str(p)) from None
    for col in required:
        if col not in frame.columns:
            raise SchemaError("required column is missing", file=str(p), column=col)
    return frame


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as CSV (no index) so that :func:`read_csv_strings` reads every value back.

    Python's CSV writer quotes a value holding ``\\n`` but not one holding a lone ``\\r``, which
    a reader then takes for a line end (an id ``"a\\r"`` would come back as two rows). When a
    text column holds a carriage return, every text value is quoted.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "w.csv")
    >>> write_csv(pd.DataFrame({"account_id": ["a\\r", "NA"], "n": [1, 2]}), p)
    >>> read_csv_strings(p)["account_id"].tolist()
    ['a\\r', 'NA']
    """
    lines = csv_lines(frame)  # the same bytes, formatted in Arrow (see graphkit.io.csv_text)
    if lines is not None:
        write_lines(lines, path)
        return
    text = frame.select_dtypes(include=["object", "string"])
    has_cr = any(text[c].astype(str).str.contains("\r", regex=False).any() for c in text)
    frame.to_csv(path, index=False,
                 quoting=csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["ID_COLUMNS", "read_csv_strings", "write_csv"]
