"""CSV text of a DataFrame built in Arrow, byte for byte what ``DataFrame.to_csv`` writes.

pandas formats a CSV row by row through Python's ``csv`` writer: at 600,000 accounts the
accounts and communities tables took 8.7 s of a detect run, half of it formatting floats with
NumPy (``astype(str)``), half writing the rows. Here every column becomes one Arrow string
array with pandas' spelling, and the rows are joined by Arrow's compute kernels:

* floats: Arrow's shortest round-trip digits where both spell the number positionally
  (``1e-4 <= |x|`` and no exponent in Arrow's text), ``.0`` added to an integral value as
  NumPy writes it; every other value (exponents, tiny or huge numbers, infinities) in NumPy's
  own spelling; NaN as the empty cell;
* integers as decimals, booleans as ``True``/``False``, missing values as the empty cell;
* text as it is, in double quotes (inner quotes doubled) when it holds a comma, a quote or a
  line feed: Python's ``QUOTE_MINIMAL``.

A frame this module does not cover (another dtype, a text value with a carriage return, a
single column, repeated column names) returns None from :func:`csv_lines`; the caller then
lets pandas write it. The tests compare the bytes with pandas' on generated frames.

>>> import pandas as pd
>>> frame = pd.DataFrame({"id": ["a", "b,c"], "x": [1.0, 0.25], "ok": [True, False]})
>>> csv_text(frame)
'id,x,ok\\na,1.0,True\\n"b,c",0.25,False\\n'
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.parallel import thread_map

# Rows formatted and written at a time (each part's text is one Arrow string array).
CHUNK_ROWS = 1 << 18
_QUOTE_PATTERN = '[,"\n]'


def _text_cells(values: pa.Array) -> pa.Array:
    """Text cells as Python's csv writer spells them (QUOTE_MINIMAL, lines ending in LF)."""
    values = pc.fill_null(values.cast(pa.string()), "")
    needs = pc.match_substring_regex(values, _QUOTE_PATTERN)
    if not pc.any(needs).as_py():
        return values
    quoted = pc.binary_join_element_wise(
        "\"", pc.replace_substring(values, "\"", "\"\""), "\"", "")
    return pc.if_else(needs, quoted, values)


def _float_cells(values: np.ndarray) -> pa.Array:
    """Floats as NumPy's ``astype(str)`` spells them (what pandas writes), NaN empty."""
    text = pa.array(values).cast(pa.string())
    nan = np.isnan(values)
    with np.errstate(invalid="ignore"):
        small = (np.abs(values) < 1e-4) & (values != 0)
    exponent = pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    other = np.isinf(values) | small | exponent
    integral = ~(other | nan) & ~pc.match_substring(text, ".").to_numpy(zero_copy_only=False)
    text = pc.if_else(pa.array(integral), pc.binary_join_element_wise(text, ".0", ""), text)
    if other.any():  # the few spelled with an exponent and infinities: NumPy's own text
        text = pc.replace_with_mask(text, pa.array(other),
                                    pa.array(values[other].astype(str), pa.string()))
    return pc.if_else(pa.array(nan), "", text) if nan.any() else text


def _cells(column: pd.Series) -> pa.Array | None:
    """One column's cells as text, or None when this module does not cover its dtype."""
    dtype = column.dtype
    if dtype == np.bool_:
        return pc.if_else(pa.array(column.to_numpy()), "True", "False")
    if dtype == np.float64:
        return _float_cells(column.to_numpy())
    if pd.api.types.is_integer_dtype(dtype):  # NumPy or nullable integers
        return pc.fill_null(pa.array(column, from_pandas=True).cast(pa.string()), "")
    if pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        try:
            values = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # objects that are not all text
            return None
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
                or pa.types.is_null(values.type)):
            return None
        if pc.any(pc.match_substring(values.cast(pa.string()), "\r")).as_py():
            return None  # pandas' own quoting for carriage returns (see write_csv)
        return _text_cells(values)
    return None


def csv_lines(frame: pd.DataFrame) -> list[pa.Array] | None:
    """The frame's CSV lines (header first, each ending in LF) as Arrow string arrays of at
    most :data:`CHUNK_ROWS` lines, or None when the frame is not covered (see the module
    docstring)."""
    if (frame.shape[1] < 2 or not frame.columns.is_unique
            or not all(isinstance(c, str) for c in frame.columns)):
        return None
    header = _text_cells(pa.array(list(frame.columns), pa.string()))
    if pc.any(pc.match_substring(header, "\r")).as_py():
        return None
    # Parts of rows on threads (Arrow's kernels release the GIL), each one column at a time.
    parts = thread_map(lambda lo: _part_lines(frame.iloc[lo:lo + CHUNK_ROWS]),
                       range(0, len(frame), CHUNK_ROWS))
    if any(p is None for p in parts):
        return None
    return [pa.array([",".join(header.to_pylist()) + "\n"], pa.string()), *parts]


def _part_lines(part: pd.DataFrame) -> pa.Array | None:
    """The lines of some rows, or None when a column is not covered."""
    cells = [_cells(part[name]) for name in part.columns]  # columns, not rows
    if any(c is None for c in cells):
        return None
    return _one_array(pc.binary_join_element_wise(
        pc.binary_join_element_wise(*cells, ","), "", "\n"))


def _one_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One ``string`` array (a column backed by Arrow may come chunked or as large strings)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.string())


def csv_text(frame: pd.DataFrame) -> str | None:
    """The whole CSV text of ``frame`` (None when not covered); for tests and small tables."""
    lines = csv_lines(frame)
    return None if lines is None else "".join("".join(part.to_pylist()) for part in lines)


def write_lines(lines: list[pa.Array], path: str | os.PathLike[str]) -> None:
    """Write :func:`csv_lines` to ``path`` (UTF-8): each part's character data as it is."""
    with open(path, "wb") as fh:
        for part in lines:
            if len(part) == 0:
                continue
            offsets = np.frombuffer(part.buffers()[1], np.int32, len(part) + 1, part.offset * 4)
            data = part.buffers()[2]
            fh.write(memoryview(data)[offsets[0]:offsets[-1]])


__all__ = ["CHUNK_ROWS", "csv_lines", "csv_text", "write_lines"]
