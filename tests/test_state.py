"""Mergeable aggregate state: merging the states of two days equals the state of both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import graphkit
from graphkit.detection.synchrony import (
    bucket_entropy,
    clock_alignment_from_counts,
    row_entropy,
    window_signatures,
    windows_signatures,
)
from graphkit.errors import InputError
from graphkit.graph.state import (
    event_aggregates,
    load_state,
    merge_aggregates,
    missing_digests,
    save_state,
)
from graphkit.settings import Settings

SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"
WINDOW = Settings().sync_window_seconds


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("state")
    events = pd.read_parquet(SMALL / "events.parquet")
    last_day = pd.Timestamp(events["ts"].max()).normalize()
    out = {"full": SMALL / "events.parquet", "month": tmp / "month.parquet",
           "day": tmp / "day.parquet"}
    events[events["ts"] < last_day].to_parquet(out["month"], index=False)
    events[events["ts"] >= last_day].to_parquet(out["day"], index=False)
    return out


def _agg(path: Path, models: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    return event_aggregates(graphkit.load(path).con, WINDOW, models=models)


def _merged(*paths: Path) -> dict[str, pd.DataFrame]:
    """The merged state of ``paths``, each aggregated against the merged first sightings of
    the models (where release windows start), as an incremental run does."""
    own = [_agg(p) for p in paths]
    starts = own[0]["models"]
    for part in own[1:]:
        starts = merge_aggregates({"models": starts}, {"models": part["models"]})["models"]
    out = _agg(paths[0], starts)
    for p in paths[1:]:
        out = merge_aggregates(out, _agg(p, starts))
    return out


def test_merged_state_equals_the_state_of_all_events(days):
    full = _agg(days["full"])
    rel = full["releases"]
    assert len(rel) and rel["on_model"].sum() > 0 and rel["before"].sum() > 0
    merged = _merged(days["month"], days["day"])
    assert sorted(merged) == sorted(full)
    for name, table in full.items():
        assert len(table), name
        pd.testing.assert_frame_equal(merged[name], table, check_dtype=False, obj=name)


def test_merge_is_exact_when_files_share_windows_and_accounts(days):
    """Two files interleaved in time (every other event): the same windows and accounts on
    both sides; window sets are unions, not sums."""
    events = pd.read_parquet(days["full"])
    odd, even = days["day"].parent / "odd.parquet", days["day"].parent / "even.parquet"
    events.iloc[1::2].to_parquet(odd, index=False)
    events.iloc[0::2].to_parquet(even, index=False)
    a, b = _agg(odd), _agg(even)
    assert a["windows"].merge(b["windows"]).shape[0] > 0  # shared (account, window) pairs
    full = _agg(days["full"])
    merged = _merged(odd, even)
    for name, table in full.items():
        pd.testing.assert_frame_equal(merged[name], table, check_dtype=False, obj=name)


def test_window_counts_match_the_synchrony_stage(days):
    ds = graphkit.load(days["full"])
    state = event_aggregates(ds.con, WINDOW)
    arr = ds.event_arrays()
    sync = window_signatures(ds.con, "", len(ds.accounts), Settings(),
                             times=(arr.account, arr.us))
    per_account = state["windows"].groupby("account_id").size()
    expected = per_account.reindex(ds.accounts["account_id"]).fillna(0).to_numpy(np.int64)
    assert expected.tolist() == sync.n_windows.tolist()


def test_saved_state_round_trips_and_names_new_files(days, tmp_path):
    agg = _agg(days["month"])
    save_state(tmp_path, agg, ["d1", "d2"], WINDOW)
    back, meta = load_state(tmp_path)
    for name, table in agg.items():
        pd.testing.assert_frame_equal(back[name], table, obj=name)
    assert meta["window_seconds"] == WINDOW
    assert missing_digests(meta, ["d1", "d2", "d3"]) == ["d3"]
    assert missing_digests(meta, ["d2", "d1"]) == []
    assert missing_digests(meta, ["d1", "d3"]) is None  # d2 is gone: the state cannot forget
    with pytest.raises(InputError, match="no aggregate state"):
        load_state(tmp_path / "nothing")


def _per_account(table: pd.DataFrame, ids: pd.Series, col: str, n_buckets: int) -> np.ndarray:
    codes = pd.Index(ids).get_indexer(table["account_id"])
    out = np.zeros((len(ids), n_buckets), np.int64)
    np.add.at(out, (codes, table[col].to_numpy(np.int64)), table["n"].to_numpy(np.int64))
    return out


def test_synchrony_and_hour_entropy_run_the_same_from_a_merged_state(days):
    """The synchrony stage's signatures, counts and clock alignment, and the hour-of-day
    entropy, computed from the merged state of month minus a day and the day equal those
    computed from the events of the whole month."""
    settings = Settings()
    ds = graphkit.load(days["full"])
    arr = ds.event_arrays()
    want = window_signatures(ds.con, "", len(ds.accounts), settings,
                             times=(arr.account, arr.us))
    state = _merged(days["month"], days["day"])
    ids = ds.accounts["account_id"]
    windows = state["windows"].assign(code=pd.Index(ids).get_indexer(
        state["windows"]["account_id"])).sort_values(["code", "win"])
    seconds = _per_account(state["seconds"], ids, "second", 60)
    got = windows_signatures(windows["code"].to_numpy(np.int64), windows["win"].to_numpy(),
                             len(ids), settings, clock_alignment_from_counts(seconds))
    for field in ("signature", "n_windows", "hour_signature", "n_hours", "active",
                  "clock_aligned"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
    hours = _per_account(state["hours"], ids, "hour", 24)
    np.testing.assert_allclose(row_entropy(hours)[0], bucket_entropy(
        arr.account, (arr.us // 3_600_000_000) % 24, len(ids), 24)[0], rtol=0, atol=1e-12)


def test_spilled_state_equals_the_aggregates(days, tmp_path):
    """A full run's state, written by DuckDB straight to Parquet, holds the same tables as
    event_aggregates, and saves and loads like it."""
    from graphkit.graph.state import spill_aggregates

    ds = graphkit.load(days["full"])
    agg = event_aggregates(ds.con, WINDOW)
    spill = tmp_path / "spill"
    spill.mkdir()
    rows = spill_aggregates(ds.con, WINDOW, spill)
    assert rows == {name: len(t) for name, t in agg.items()}
    # Coded Parquet events: the large tables are written with their integer codes and the
    # dictionaries they need; reading decodes them.
    coded = json.loads((spill / "coded.json").read_text())
    assert {"windows", "activity", "edges_ip"} <= set(coded) and "accounts" not in coded
    assert pd.api.types.is_integer_dtype(pd.read_parquet(spill / "windows.parquet")["account_id"])
    assert (spill / "dict_account_id.parquet").is_file()
    save_state(tmp_path / "run", spill, ["d1"], WINDOW)
    loaded, meta = load_state(tmp_path / "run")
    assert sorted(meta["tables"]) == sorted(agg)
    for name, table in agg.items():
        assert len(table) > 0 or name in ("templates",), name
        pd.testing.assert_frame_equal(loaded[name], table, check_dtype=False, obj=name)


def test_coded_aggregates_equal_the_decoded_ones(days):
    """Grouped on integer codes and decoded after, every table equals the one grouped on the
    decoded strings (the ``events`` view read through another name takes that path)."""
    ds = graphkit.load(days["full"])
    ds.con.execute("CREATE TEMP VIEW events_plain AS SELECT * FROM events")
    coded = event_aggregates(ds.con, WINDOW)
    plain = event_aggregates(ds.con, WINDOW, "events_plain")
    assert sorted(coded) == sorted(plain)
    for name, table in plain.items():
        pd.testing.assert_frame_equal(coded[name], table, obj=name)


def test_release_window_of_a_model_these_events_never_use(days):
    """An incremental run counts the new events in the windows of the merged first
    sightings, including a model the new files never use: its window traffic (in_window,
    before) is kept with no request on it, on coded events as on plain ones."""
    from graphkit.graph.state import release_counts

    ds = graphkit.load(days["day"])
    ds.con.execute("CREATE TEMP VIEW events_plain AS SELECT * FROM events")
    start = pd.Timestamp(ds.con.execute("SELECT min(ts) FROM events").fetchall()[0][0])
    models = pd.DataFrame({"model": ["model-never-seen"], "first_seen": [start]})
    coded = release_counts(ds.con, models, 72)
    plain = release_counts(ds.con, models, 72, "events_plain")
    assert len(coded) > 0 and coded["in_window"].sum() > 0 and coded["on_model"].sum() == 0
    pd.testing.assert_frame_equal(coded, plain)


def test_graph_from_a_spilled_state_equals_the_graph_from_events(days, tmp_path):
    """A full run builds its graph from the coded edge tables of its spilled state; the node
    and edge tables are those grouped from the events."""
    from graphkit.graph import build_graph
    from graphkit.graph.state import coded_edge_relations, spill_aggregates

    ds = graphkit.load(days["full"])
    spill_aggregates(ds.con, WINDOW, tmp_path)
    relations = coded_edge_relations(tmp_path)
    assert {"ip", "template_hash", "proxy_provider"} <= set(relations)
    a, b = build_graph(ds), build_graph(ds, coded_aggregates=relations)
    assert list(a.nodes) == list(b.nodes) and list(a.edges) == list(b.edges)
    for t in a.nodes:
        pd.testing.assert_frame_equal(a.nodes[t], b.nodes[t], obj=t)
    for t in a.edges:
        pd.testing.assert_frame_equal(a.edges[t], b.edges[t], obj=t)
