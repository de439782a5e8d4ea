"""The Arrow-built CSV text is byte for byte what pandas writes (graphkit.io.csv_text)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphkit.io import csv_text as ct
from graphkit.io.tables import read_csv_strings, write_csv

_TEXT = st.one_of(st.text(alphabet=list('ab,"\n xé0-\u2603'), max_size=6), st.just("NA"))
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e17, max_value=1e17),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.sampled_from([0.0, -0.0, 1.0, 1e-4, 9.99e-5, 1e15, 1e16, 123456789012345.6, 0.1 + 0.2]),
    st.integers(-10**6, 10**6).map(lambda i: round(i / 10**4, 4)),
)


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(["float", "int", "Int64", "bool", "str", "string",
                                           "object"]), min_size=2, max_size=5))
    data = {}
    for i, kind in enumerate(kinds):
        name = f"c{i}" if draw(st.booleans()) else f"c{i},\"x\""
        if kind == "float":
            data[name] = pd.Series(draw(st.lists(_FLOATS, min_size=n, max_size=n)), dtype=float)
        elif kind == "int":
            data[name] = pd.Series(draw(st.lists(st.integers(-2**62, 2**62), min_size=n,
                                                 max_size=n)), dtype=np.int64)
        elif kind == "Int64":
            data[name] = pd.array(draw(st.lists(st.one_of(st.none(), st.integers(-99, 99)),
                                                min_size=n, max_size=n)), dtype="Int64")
        elif kind == "bool":
            data[name] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)),
                                   dtype=bool)
        else:
            values = draw(st.lists(st.one_of(st.none(), _TEXT), min_size=n, max_size=n))
            dtype = {"str": "str", "string": "string", "object": object}[kind]
            data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_same_bytes_as_pandas(frame: pd.DataFrame) -> None:
    assert ct.csv_text(frame) == frame.to_csv(index=False)


def test_chunks_join_to_the_whole(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"a{i}" for i in range(1000)], "x": rng.random(1000).round(4),
                          "big": rng.normal(0, 1e18, 1000), "k": rng.integers(0, 9, 1000)})
    monkeypatch.setattr(ct, "CHUNK_ROWS", 7)
    write_csv(frame, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text() == frame.to_csv(index=False)
    back = read_csv_strings(tmp_path / "a.csv")
    assert back["id"].tolist() == frame["id"].tolist() and np.allclose(back["x"], frame["x"])


@pytest.mark.parametrize("frame", [
    pd.DataFrame({"only": ["a", ""]}),  # one column: Python quotes an empty lone field
    pd.DataFrame({"a": pd.to_datetime(["2024-01-01"]), "b": [1]}),  # dtype not covered
    pd.DataFrame({"a": pd.Categorical(["x"]), "b": [1]}),
    pd.DataFrame({"a": [1.5], "b": pd.array([True], dtype="boolean")}),
    pd.DataFrame([[1, "x"]], columns=["a", "a"]),  # repeated names
    pd.DataFrame({"a": [1.5], "b": pd.array([0.5], dtype="Float64")}),
])
def test_frames_not_covered_go_to_pandas(frame: pd.DataFrame, tmp_path) -> None:
    assert ct.csv_lines(frame) is None
    write_csv(frame, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == frame.to_csv(index=False)


def test_carriage_return_keeps_pandas_quoting(tmp_path) -> None:
    frame = pd.DataFrame({"account_id": ["x\ry", "z"], "n": [1, 2]})
    assert ct.csv_lines(frame) is None
    write_csv(frame, tmp_path / "t.csv")
    assert read_csv_strings(tmp_path / "t.csv")["account_id"].tolist() == ["x\ry", "z"]
