"""Per-event numpy columns (:class:`EventArrays`) for vectorized per-account features.

Coded Parquet input is read straight from its Arrow columns, without decoding ids or copying
timestamps; other input goes through one DuckDB query.

>>> from graphkit.io import load
>>> arr = load("fixtures/hand/events.csv").event_arrays()
>>> len(arr.account) == len(arr.us) == len(arr.model), arr.us.dtype.name
(True, 'int64')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from graphkit.io.dataset import Dataset


@dataclass
class EventArrays:
    """One entry per event (in no particular order), as numpy arrays."""

    account: np.ndarray  # int32 account code (``accounts.account_idx``)
    us: np.ndarray  # int64 epoch microseconds (UTC)
    proxied: np.ndarray  # bool: carried by a proxy / VPN / hosting provider
    model: np.ndarray  # int32 index into ``models``, -1 when missing
    models: np.ndarray  # model names


def _coded_event_arrays(con: duckdb.DuckDBPyConnection, tbl: pa.Table) -> EventArrays:
    """From ``_events_coded``: account dictionary codes mapped to account codes."""
    mapping = con.execute("SELECT d.code, a.account_idx FROM _dict_account_id d "
                          "JOIN accounts a ON a.account_id = d.value").fetchnumpy()
    to_idx = np.full(int(mapping["code"].max()) + 1 if len(mapping["code"]) else 1, -1,
                     np.int32)
    to_idx[mapping["code"]] = mapping["account_idx"]
    account = to_idx[tbl.column("account_id").to_numpy()]
    us = tbl.column("ts").cast(pa.int64()).to_numpy()  # stored as microseconds
    proxied = tbl.column("proxy_provider").is_valid().to_numpy(zero_copy_only=False)
    model = pc.fill_null(tbl.column("model"), -1).to_numpy().astype(np.int32, copy=False)
    models = con.execute("SELECT value FROM _dict_model ORDER BY code").fetchnumpy()
    return EventArrays(account, us, proxied, model, np.asarray(models["value"], dtype=object))


def _queried_event_arrays(con: duckdb.DuckDBPyConnection) -> EventArrays:
    """From the ``events`` table, models coded in sorted order."""
    models = con.execute("SELECT DISTINCT model FROM events WHERE model IS NOT NULL "
                         "ORDER BY model").fetchnumpy()["model"]
    con.register("_gk_models", pd.DataFrame({"model": np.asarray(models, dtype=object),
                                             "code": np.arange(len(models), dtype=np.int32)}))
    try:
        rows = con.execute(
            "SELECT a.account_idx AS a, epoch_us(e.ts) AS us, "
            "e.proxy_provider IS NOT NULL AS proxied, coalesce(m.code, -1) AS model "
            "FROM events e JOIN accounts a USING (account_id) "
            "LEFT JOIN _gk_models m ON m.model = e.model").fetchnumpy()
    finally:
        con.unregister("_gk_models")
    return EventArrays(rows["a"].astype(np.int32), rows["us"].astype(np.int64),
                       np.asarray(rows["proxied"], dtype=bool),
                       rows["model"].astype(np.int32), np.asarray(models, dtype=object))


def event_arrays(dataset: Dataset) -> EventArrays:
    """Per-event numpy columns of ``dataset`` (see :class:`EventArrays`)."""
    if dataset.coded_events is not None:
        return _coded_event_arrays(dataset.con, dataset.coded_events)
    return _queried_event_arrays(dataset.con)
