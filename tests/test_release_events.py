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
