"""Incremental detect: month minus a day, then the day added with --previous, equals a full run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import graphkit
from graphkit.cli import main
from graphkit.detection.activity import activity_table
from graphkit.detection.features import account_activity, model_releases
from graphkit.detection.incremental import StateStages, load_incremental
from graphkit.detection.synchrony import window_signatures
from graphkit.graph.hetero import build_graph
from graphkit.graph.state import load_state
from graphkit.io.outputs import verify_result_dir
from graphkit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "fixtures" / "sim-small"
HAND = ROOT / "fixtures" / "hand"
RUN_ID = re.compile(r'run_id => "+[0-9A-Za-z-]+"+')
COMPARED = ("accounts.csv", "links.csv", "communities.csv", "changes.csv",
            "changes_accounts.csv", "successions.csv")


def _detect(out: Path, events: list[Path], side: list[str], *extra: str) -> Path:
    res = CliRunner().invoke(main, ["detect", *map(str, events), *side, "--out", str(out),
                                    *extra])
    assert res.exit_code == 0, res.output
    # Beside the result, not in it: a result holds only the files its manifest lists.
    _stdout(out).write_text(res.output, encoding="utf-8")
    return out


def _stdout(out: Path) -> Path:
    return out.with_name(out.name + ".stdout.txt")


def _incremental(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["outputs"]["incremental"]


def _assert_same_outputs(a: Path, b: Path) -> None:
    """The result files of two runs are identical apart from the run id."""
    for name in COMPARED:
        assert (a / name).is_file() == (b / name).is_file(), name
        if (a / name).is_file():
            ta = RUN_ID.sub("", (a / name).read_text(encoding="utf-8"))
            tb = RUN_ID.sub("", (b / name).read_text(encoding="utf-8"))
            assert ta == tb, name
    pd.testing.assert_frame_equal(pd.read_parquet(a / "activity.parquet"),
                                  pd.read_parquet(b / "activity.parquet"))
    tables = sorted(p.name for p in (a / "graph").glob("*.parquet"))
    assert tables == sorted(p.name for p in (b / "graph").glob("*.parquet"))
    for name in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(a / "graph" / name),
                                      pd.read_parquet(b / "graph" / name), obj=name)
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["inputs"] == mb["inputs"]
    assert ma["outputs"]["model_releases"] == mb["outputs"]["model_releases"]


def _assert_same_state(a: Path, b: Path) -> None:
    sa, meta_a = load_state(a)
    sb, meta_b = load_state(b)
    assert sorted(sa) == sorted(sb)
    assert meta_a["digests"] == meta_b["digests"]
    for name, table in sa.items():
        pd.testing.assert_frame_equal(sb[name], table, check_dtype=False, obj=name)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> dict[str, Path]:
    """sim-small as "month minus the last day" and "the last day"; the month detected, then
    the whole log with --previous incrementally and in full."""
    tmp = tmp_path_factory.mktemp("incremental")
    events = pd.read_parquet(SMALL / "events.parquet")
    last_day = pd.Timestamp(events["ts"].max()).normalize()
    month, day = tmp / "month.parquet", tmp / "day.parquet"
    events[events["ts"] < last_day].to_parquet(month, index=False)
    events[events["ts"] >= last_day].to_parquet(day, index=False)
    side = ["--accounts", str(SMALL / "accounts.csv"), "--seeds", str(SMALL / "seeds.csv")]
    prev = _detect(tmp / "prev", [month], side)
    return {"month": month, "day": day, "prev": prev,
            "inc": _detect(tmp / "inc", [month, day], side, "--previous", str(prev)),
            "full": _detect(tmp / "full", [month, day], side, "--previous", str(prev),
                            "--no-incremental"),
            "scratch": _detect(tmp / "scratch", [month, day], side)}


def test_incremental_run_reads_only_the_new_day_and_equals_a_full_run(sim):
    info = _incremental(sim["inc"])
    assert info["mode"] == "incremental", info
    assert info["event_files_read"] == [str(sim["day"])]
    assert info["event_files_reused"] == 1
    assert "incremental: reused the aggregate state of 1 event file(s)" in (
        _stdout(sim["inc"])).read_text()
    full = _incremental(sim["full"])
    assert full["mode"] == "full" and full["reason"] == "asked for with --no-incremental"
    _assert_same_outputs(sim["inc"], sim["full"])
    # The release of frontier-2 is found and its traffic counted from the state.
    releases = json.loads((sim["inc"] / "manifest.json").read_text())["outputs"]
    assert releases["model_releases"]
    assert pd.read_csv(sim["inc"] / "accounts.csv")["flagged"].any()


def test_merged_state_equals_the_state_of_a_full_run(sim):
    _assert_same_state(sim["inc"], sim["full"])
    _assert_same_state(sim["inc"], sim["scratch"])


def test_state_is_sealed_by_the_result_manifest(sim):
    files = json.loads((sim["inc"] / "manifest.json").read_text())["files"]
    assert {"state/state.json", "state/windows.parquet", "state/accounts.parquet"} <= set(files)
    verify_result_dir(sim["inc"])
    assert _incremental(sim["scratch"]) == {"mode": "full", "state_rows": _incremental(
        sim["inc"])["state_rows"]}


def test_day_after_an_incremental_run_is_incremental_again(sim, tmp_path):
    """The merged state written by an incremental run serves the next day."""
    events = pd.read_parquet(sim["day"])
    later = tmp_path / "later.parquet"
    events.assign(ts=events["ts"] + pd.Timedelta(days=1)).to_parquet(later, index=False)
    side = ["--accounts", str(SMALL / "accounts.csv"), "--seeds", str(SMALL / "seeds.csv")]
    files = [sim["month"], sim["day"], later]
    inc = _detect(tmp_path / "inc2", files, side, "--previous", str(sim["inc"]))
    assert _incremental(inc)["event_files_read"] == [str(later)]
    full = _detect(tmp_path / "full2", files, side, "--previous", str(sim["inc"]),
                   "--no-incremental")
    _assert_same_outputs(inc, full)


def test_interleaved_csv_with_prompts_identifiers_and_relations(tmp_path):
    """Two CSV files that interleave in time, with prompts (near-duplicate template
    families), declared identifiers, relations and seeds."""
    rows = (HAND / "events.csv").read_text(encoding="utf-8").splitlines()
    first, second = tmp_path / "e1.csv", tmp_path / "e2.csv"
    first.write_text("\n".join(rows[:13]) + "\n", encoding="utf-8")
    second.write_text("\n".join(rows[:1] + rows[13:]) + "\n", encoding="utf-8")
    side = ["--accounts", str(HAND / "accounts.csv"), "--seeds", str(HAND / "seeds.csv"),
            "--identifiers", str(HAND / "identifiers.csv"), "--relations",
            str(HAND / "relations.csv")]
    prev = _detect(tmp_path / "prev", [first], side)
    inc = _detect(tmp_path / "inc", [first, second], side, "--previous", str(prev))
    assert _incremental(inc)["mode"] == "incremental", _incremental(inc)
    full = _detect(tmp_path / "full", [first, second], side, "--previous", str(prev),
                   "--no-incremental")
    _assert_same_outputs(inc, full)
    _assert_same_state(inc, full)
    templates = load_state(inc)[0]["templates"]
    assert templates["template_text"].notna().all()


def _reason(events: list[Path], previous: Path, settings: Settings | None = None,
            **kwargs) -> str | None:
    dataset, resume = load_incremental(events, previous, settings=settings, **kwargs)
    dataset.con.close()
    return resume.reason


def test_full_run_when_the_state_cannot_be_used(sim, tmp_path):
    month, day, prev = sim["month"], sim["day"], sim["prev"]
    assert _reason([month, day], prev) is None
    assert _reason([month], prev) == "no new event files"
    assert "synchrony window changed" in _reason([month, day], prev,
                                                 Settings(sync_window_seconds=60))
    assert "release window changed" in _reason([month, day], prev,
                                               Settings(model_release_window_hours=12))
    changed = tmp_path / "month.parquet"
    pd.read_parquet(month).iloc[1:].to_parquet(changed, index=False)
    assert "changed or is no longer among the inputs" in _reason([changed, day], prev)
    copy = tmp_path / "copy.parquet"
    shutil.copy(day, copy)
    assert _reason([month, day, copy], prev) == "two event files have the same content"
    assert "--release" in _reason([month, day], prev,
                                  releases={"frontier-2": pd.Timestamp("2026-09-21")})
    assert "no usable aggregate state" in _reason([month, day], tmp_path)
    # New events earlier than a model's first sighting move its release window.
    early = pd.read_parquet(day)
    early = early[early["model"].notna()].head(3)
    early = early.assign(ts=pd.read_parquet(month)["ts"].min())
    moved = tmp_path / "early.parquet"
    early.to_parquet(moved, index=False)
    assert "first sighting" in _reason([month, moved], prev)


def test_cli_says_why_a_run_is_not_incremental(sim, tmp_path):
    side = ["--accounts", str(SMALL / "accounts.csv"), "--seeds", str(SMALL / "seeds.csv")]
    out = _detect(tmp_path / "again", [sim["month"]], side, "--previous", str(sim["prev"]))
    assert "full run (not incremental): no new event files" in _stdout(out).read_text()
    assert _incremental(out)["reason"] == "no new event files"


def test_each_stage_from_the_state_equals_the_stage_on_all_events(sim):
    """Stage by stage, on every account (not only what reaches the result files): the graph,
    the per-account event features, the model releases, the synchrony signatures and the
    activity table from the merged state equal those computed from all the events."""
    settings = Settings()
    full = graphkit.load([sim["month"], sim["day"]], accounts=SMALL / "accounts.csv")
    ds, resume = load_incremental([sim["month"], sim["day"]], sim["prev"], settings=settings,
                                  accounts=SMALL / "accounts.csv")
    assert resume.state is not None and ds.n_events < full.n_events
    stages = StateStages(resume.state)
    want, got = build_graph(full), stages.graph(ds, [])
    for kind in ("nodes", "edges"):
        assert list(getattr(want, kind)) == list(getattr(got, kind))
        for name, table in getattr(want, kind).items():
            pd.testing.assert_frame_equal(getattr(got, kind)[name], table, obj=name)
    arrays = full.event_arrays()
    releases = model_releases(arrays, settings)
    assert releases and stages.model_releases(settings) == releases
    n = len(want.accounts)
    expect = account_activity(arrays, releases, n, settings)
    have = stages.account_activity(got, releases)
    for name in ("proxy_events", "hour_entropy"):
        assert getattr(expect, name).any(), name
        np.testing.assert_array_equal(getattr(have, name), getattr(expect, name), err_msg=name)
    assert np.abs(expect.hour_vector).sum() > 0  # the pooled day's input, from the state too
    np.testing.assert_allclose(have.hour_vector, expect.hour_vector, rtol=0, atol=1e-9)
    assert have.traffic.models == expect.traffic.models
    for name in ("on_model", "in_window", "before_on", "before"):
        # before_on is 0 here: a release found in the data has no requests before it.
        assert getattr(expect.traffic, name).any() or name == "before_on", name
        np.testing.assert_array_equal(getattr(have.traffic, name),
                                      getattr(expect.traffic, name), err_msg=name)
    sync = window_signatures(full.con, "", n, settings, times=(arrays.account, arrays.us))
    from_state = stages.window_signatures(got, settings)
    for name in ("signature", "n_windows", "hour_signature", "n_hours", "active",
                 "clock_aligned"):
        np.testing.assert_array_equal(getattr(from_state, name), getattr(sync, name),
                                      err_msg=name)
    ids = want.accounts["account_id"]
    pd.testing.assert_frame_equal(stages.activity(ids), activity_table(full.con, ids))
