"""Stable community ids: content-derived without a previous run, carried over with one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.investigate.stable_ids import assign_ids, match, overlaps, read_previous

SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _detect(out: Path, events: Path, previous: Path | None = None) -> Path:
    args = ["detect", str(events), "--accounts", str(SMALL / "accounts.csv"),
            "--seeds", str(SMALL / "seeds.csv"), "--out", str(out)]
    if previous is not None:
        args += ["--previous", str(previous)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return out


def test_ids_come_from_content_not_label_order():
    acc = np.array(["d", "a", "c", "b", "e"])
    ids1, _ = assign_ids(acc, np.array([0, 1, 1, 0, 2]))
    ids2, _ = assign_ids(acc, np.array([9, 4, 4, 9, 7]))  # same partition, other labels
    assert ids1.tolist() == ids2.tolist() == [1, 0, 0, 1, 2]
    assert ids1.dtype == np.int64


def test_previous_ids_kept_new_ids_never_reused():
    prev = pd.DataFrame({"account_id": list("abcdefgh"),
                         "community_id": [10, 10, 10, 11, 11, 12, 12, 12]})
    # {a,b,c} unchanged, {d,e} + x grows, {f,g,h} gone, {y,z} new.
    cur = pd.DataFrame({"account_id": list("abcdexyz"), "label": [0, 0, 0, 1, 1, 1, 2, 2]})
    ids, info = assign_ids(cur["account_id"], cur["label"], previous=prev, max_issued=20,
                           min_jaccard=0.3)
    got = dict(zip(cur["account_id"], ids.tolist()))
    assert got["a"] == 10 and got["d"] == 11 and got["x"] == 11
    assert got["y"] == got["z"] == 21  # above the highest id ever issued (20), not 12
    assert info.max_issued == 21 and info.n_kept == 2


def test_low_overlap_gets_a_new_id():
    prev = pd.DataFrame({"account_id": list("abcdef"), "community_id": [5] * 6})
    cur = pd.DataFrame({"account_id": list("afghij"), "label": [0] * 6})  # Jaccard 2/10
    ids, _ = assign_ids(cur["account_id"], cur["label"], previous=prev, max_issued=5,
                        min_jaccard=0.3)
    assert set(ids.tolist()) == {6}


def test_competing_matches_are_solved_optimally():
    # Previous A={a,b,c,d}, B={e,f}; current X={a,b,e,f}, Y={c,d}. Greedy on the largest
    # Jaccard would give X->A or X->B arbitrarily; the optimum pairs X-B (2/4) and Y-A (2/4).
    prev = pd.DataFrame({"account_id": list("abcdef"), "community_id": [1, 1, 1, 1, 2, 2]})
    cur = pd.DataFrame({"account_id": list("abefcd"), "label": [0, 0, 0, 0, 1, 1]})
    pairs = overlaps(cur["account_id"].to_numpy(), cur["label"].to_numpy(),
                     prev["account_id"].to_numpy(), np.array([0, 0, 0, 0, 1, 1]))
    m = match(pairs, 0.3)
    assert sorted(zip(m["cur"], m["prev"])) == [(0, 1), (1, 0)]
    ids, _ = assign_ids(cur["account_id"], cur["label"], previous=prev, max_issued=2)
    assert dict(zip(cur["account_id"], ids.tolist())) == {"a": 2, "b": 2, "e": 2, "f": 2,
                                                           "c": 1, "d": 1}


def test_many_singletons_vectorized():
    n = 200_000
    acc = np.char.add("u", np.arange(n).astype(str))
    prev = pd.DataFrame({"account_id": acc, "community_id": np.arange(n) + 1000})
    labels = np.arange(n)
    labels[:10] = 0  # ten accounts merge into one community
    ids, info = assign_ids(acc, labels, previous=prev, max_issued=n + 999)
    assert info.n_kept == n - 10  # the merged ten overlap each singleton by 1/10: new id
    assert len(np.unique(ids)) == n - 9


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("stable")
    events = pd.read_parquet(SMALL / "events.parquet")
    last_day = pd.Timestamp(events["ts"].max()).normalize()
    short = tmp / "short.parquet"
    events[events["ts"] < last_day].to_parquet(short, index=False)
    return {"a": _detect(tmp / "a", SMALL / "events.parquet"),
            "b": _detect(tmp / "b", SMALL / "events.parquet"),
            "short": _detect(tmp / "short", short),
            "full": _detect(tmp / "full", SMALL / "events.parquet", previous=tmp / "short")}


def test_two_runs_on_the_same_data_give_the_same_ids(runs):
    for name in ("accounts.csv", "communities.csv"):
        a = pd.read_csv(runs["a"] / name)
        b = pd.read_csv(runs["b"] / name)
        assert a["community_id"].tolist() == b["community_id"].tolist()
        assert a["community_id"].is_unique or name == "accounts.csv"
    comm = pd.read_csv(runs["a"] / "communities.csv")
    assert all(f":param community_id => {c}\n" in q
               for c, q in zip(comm["community_id"], comm["cypher"]))
    acc = pd.read_csv(runs["a"] / "accounts.csv")
    assert acc.groupby("community_id").size().reindex(comm["community_id"]).tolist() == \
        comm["size"].tolist()


def test_one_more_day_keeps_the_ids(runs):
    prev = read_previous(runs["short"])
    cur = pd.read_csv(runs["full"] / "accounts.csv", dtype={"account_id": str})
    now = cur.set_index("account_id")["community_id"]
    comms = prev.communities
    kept = 0
    for cid in comms["community_id"]:  # a few dozen communities
        members = prev.accounts.loc[prev.accounts["community_id"] == cid, "account_id"]
        kept += int((members.map(now) == cid).mean() >= 0.5)
    assert kept / len(comms) >= 0.95, (kept, len(comms))
    assert (runs["full"] / "changes.csv").is_file()
    manifest = (runs["full"] / "manifest.json").read_text()
    assert '"kept_from_previous"' in manifest and '"changes"' in manifest


def test_missing_previous_dir_is_one_line_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["detect", str(SMALL / "events.parquet"), "--out",
                                    str(tmp_path / "o"), "--previous", str(tmp_path / "no")])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "previous result directory" in res.output
