"""Releasing the loaded events once no stage reads them: the events are gone, the results
are not changed, and the activity timelines of a full run come from its aggregate state."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from graphkit.detection.activity import activity_table
from graphkit.detection.incremental import full_state
from graphkit.detection.pipeline import describe_inputs, detect
from graphkit.io import load
from graphkit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "fixtures" / "sim-small"
HAND = ROOT / "fixtures" / "hand"


def _small():
    return load(SMALL / "events.parquet", accounts=SMALL / "accounts.csv",
                seeds=SMALL / "seeds.csv")


def _events_gone(dataset) -> bool:
    try:
        dataset.con.execute("SELECT count(*) FROM events").fetchall()
    except duckdb.CatalogException:
        return True
    return False


@pytest.mark.parametrize("events", [SMALL / "events.parquet", HAND / "events.csv"],
                         ids=["coded", "row-by-row"])
def test_release_drops_the_events_and_keeps_the_rest(events):
    ds = load(events)
    n_accounts = len(ds.accounts)
    ds.release_events()
    assert _events_gone(ds) and ds.coded_events is None
    assert ds.has_events  # the stages that needed them have run: not a log without events
    assert ds.con.execute("SELECT count(*) FROM accounts").fetchall()[0][0] == n_accounts
    ds.release_events()  # twice is harmless


@pytest.mark.parametrize("fixture", [SMALL, HAND], ids=["coded", "row-by-row"])
def test_load_leaves_no_staging_tables_and_frees_duckdb_pages(fixture):
    side = {"identifiers": HAND / "identifiers.csv"} if fixture == HAND else {}
    events = next(fixture.glob("events.*"))
    ds = load(events, accounts=fixture / "accounts.csv", seeds=fixture / "seeds.csv", **side)
    staged = ds.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND "
                            "starts_with(table_name, '_')").fetchall()
    assert staged == []  # _stage*, _accounts, _seeds, _ids_*: read during the load only
    kept = {r[0] for r in ds.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"accounts", "seeds", "templates", "identifiers"} <= kept
    assert ds.con.execute("SELECT count(*) FROM seeds").fetchall()[0][0] == len(ds.seeds) > 0
    setting = "current_setting('allocator_background_threads')"
    assert ds.con.execute(f"SELECT {setting}").fetchall()[0][0] is True


def test_detect_releases_the_events_only_when_asked_and_finds_the_same():
    kept, released = _small(), _small()
    a = detect(kept)
    b = detect(released, release_events=True)
    assert not _events_gone(kept) and _events_gone(released)
    for name in ("accounts", "communities", "links", "activity"):
        x, y = getattr(a, name), getattr(b, name)
        if name == "communities":  # the Cypher column names the run
            x, y = x.drop(columns="cypher"), y.drop(columns="cypher")
        pd.testing.assert_frame_equal(x, y, obj=name)


def test_activity_from_the_spilled_state_equals_the_activity_of_the_events():
    ds = _small()
    settings = Settings()
    state = full_state(ds, settings, describe_inputs(ds))
    try:
        ids = ds.accounts["account_id"].iloc[::3]
        assert state.spilled
        pd.testing.assert_frame_equal(state.hourly_activity(ds.con, ids),
                                      activity_table(ds.con, ids))
    finally:
        state.release()


def test_coded_activity_orders_and_decodes_as_the_events_do(tmp_path, monkeypatch):
    """Accounts, hours and models (a missing one, one spelled before "(any model)") from the
    spilled state's codes, against the events themselves; and the decoding path it replaces
    gives the same table."""
    import numpy as np

    from graphkit.detection import activity as act_mod

    rng = np.random.default_rng(3)
    n = 400
    events = pd.DataFrame({
        "account_id": rng.choice(["b", "a", "NA", "z9", "é"], n),
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
            rng.integers(0, 3 * 86400, n), unit="s"),
        "ip": rng.choice(["10.0.0.1", "10.0.0.2"], n),
        "model": pd.Series(rng.choice(["m2", "!early", "m1", None], n), dtype=object)})
    events.to_parquet(tmp_path / "events.parquet", index=False)
    ds = load(tmp_path / "events.parquet")
    assert ds.coded
    state = full_state(ds, Settings(), describe_inputs(ds))
    try:
        for ids in (["a", "é", "NA"], ["z9"], ["nobody"]):
            got = state.hourly_activity(ds.con, pd.Series(ids))
            pd.testing.assert_frame_equal(got, activity_table(ds.con, ids))
        calls = []
        monkeypatch.setattr(act_mod, "coded_activity", lambda *a: calls.append(1))
        monkeypatch.setattr("graphkit.detection.incremental.coded_activity",
                            lambda *a: calls.append(1))
        decoded = state.hourly_activity(ds.con, pd.Series(["a", "b"]))
        assert calls == [1]
        pd.testing.assert_frame_equal(decoded, activity_table(ds.con, ["a", "b"]))
    finally:
        state.release()


def test_a_model_named_like_the_missing_ones_merges_with_them(tmp_path):
    """A model literally named "(any model)" is counted with the rows without a model, as the
    events give it (the coded path steps aside for the decoding one)."""
    import numpy as np

    rng = np.random.default_rng(5)
    n = 60
    events = pd.DataFrame({
        "account_id": rng.choice(["a", "b", "c"], n),
        "ts": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
            rng.integers(0, 3 * 3600, n), unit="s"),
        "ip": rng.choice(["10.0.0.1", "10.0.0.2"], n),
        "model": pd.Series(rng.choice(["(any model)", None, "m1"], n), dtype=object)})
    events.to_parquet(tmp_path / "events.parquet", index=False)
    ds = load(tmp_path / "events.parquet")
    state = full_state(ds, Settings(), describe_inputs(ds))
    try:
        pd.testing.assert_frame_equal(state.hourly_activity(ds.con, pd.Series(["a", "c"])),
                                      activity_table(ds.con, ["a", "c"]))
    finally:
        state.release()


def test_proxy_counts_from_the_spilled_state_equal_the_events():
    """The proxy signal's matrix from the state's ``proxy`` table (a full run's) is the one
    grouped from the events."""
    import numpy as np

    from graphkit.detection.signals import _account_proxy_incidence, _proxy_incidence
    from graphkit.graph.hetero import build_graph

    ds = _small()
    state = full_state(ds, Settings(), describe_inputs(ds))
    try:
        graph = build_graph(ds)
        ds.con.register("_codes_t", pd.DataFrame({
            "account_id": graph.accounts["account_id"].to_numpy(),
            "account_idx": np.arange(len(graph.accounts))}))
        events, keys = _account_proxy_incidence(graph, ds, "_codes_t")
        stored, stored_keys = _proxy_incidence(graph, state.proxy_counts(ds.con))
        assert events.nnz > 0 and (events != stored).nnz == 0
        assert list(keys) == list(stored_keys)
    finally:
        state.release()
