"""Vectorized string helpers on Arrow arrays: hex ids, picks by code, element-wise joins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_of(values: np.ndarray, width: int) -> pa.Array:
    """Lower-case hex strings of the low ``4*width`` bits of unsigned ints, zero padded."""
    v = values.astype(np.uint64)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nib = ((v[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.intp)
    raw = np.ascontiguousarray(_HEX[nib]).view(f"S{width}").ravel()
    return pa.array(raw, type=pa.binary()).cast(pa.string())


def _unique_u64(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct random 64-bit values (redrawn until distinct; deterministic)."""
    while True:
        v = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64).astype(np.uint64)
        if len(np.unique(v)) == n:
            return v


def _ids(rng: np.random.Generator, n: int, prefix: str, width: int) -> pa.Array:
    # Ids are random for every population alike: nothing about a campaign is in its ids.
    hexes = _hex_of(_unique_u64(rng, n), width)
    return pc.binary_join_element_wise(prefix, hexes, "") if prefix else hexes


def _pick(values: list[str], codes: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(codes))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")
