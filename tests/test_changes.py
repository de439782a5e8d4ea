"""The change report of `detect --previous`: every change kind, by hand and end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.investigate.changes import (
    CHANGE_COLUMNS,
    classify,
    community_overlaps,
    compare_frames,
    flagged_joiners,
    merges,
    moved_accounts,
    splits,
)
from graphkit.settings import Settings

SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"


def _frames(groups: dict[int, str], susp: dict[int, float], flagged=()):
    acc = pd.DataFrame([(a, c) for c, m in groups.items() for a in m],
                       columns=["account_id", "community_id"])
    acc["flagged"] = acc["community_id"].isin(flagged)
    comm = pd.DataFrame({"community_id": list(groups), "size": [len(m) for m in groups.values()],
                         "suspicion": [susp.get(c, 0.5) for c in groups],
                         "flagged": [c in flagged for c in groups]})
    return acc, comm


def test_every_change_kind_by_hand():
    prev_acc, prev_comm = _frames(
        {1: "abcd", 2: "ef", 3: "gh", 4: "ijklmn", 5: "op", 6: "qrst", 7: "uvw"},
        {6: 0.4, 7: 0.9})
    cur_acc, cur_comm = _frames(
        {1: "abcdXY",  # grown (+2 of 4), flagged: X, Y joined a flagged community
         2: "efgh",  # 2 and 3 merged (each sends all its members)
         4: "ijk", 20: "lmn",  # 4 split into two pieces
         6: "qrst",  # suspicion up
         7: "uv",  # shrunk and suspicion down
         21: "Zz"},  # new; 5 = {o,p} vanished
        {6: 0.8, 7: 0.5}, flagged=(1,))
    rep = compare_frames(prev_acc, prev_comm, cur_acc, cur_comm, Settings())
    ch = rep.changes
    assert list(ch.columns) == CHANGE_COLUMNS
    got = {(c, int(i)) for c, i in zip(ch["change"], ch["community_id"])}
    assert got == {("grown", 1), ("merged", 2), ("split", 4), ("split", 20), ("new", 21),
                   ("suspicion_up", 6), ("shrunk", 7), ("suspicion_down", 7),
                   ("vanished", 5)}
    merged = ch[ch["change"] == "merged"].iloc[0]
    assert merged["previous_ids"] == "2;3" and merged["size"] == 4
    assert set(ch.loc[ch["change"] == "split", "previous_ids"]) == {"4"}
    grown = ch[ch["change"] == "grown"].iloc[0]
    assert (grown["size"], grown["previous_size"], grown["accounts_joined"]) == (6, 4, 2)
    vanished = ch[ch["change"] == "vanished"].iloc[0]
    assert (vanished["size"], vanished["previous_size"]) == (0, 2)
    assert rep.accounts["account_id"].tolist() == ["X", "Y"]
    assert rep.accounts["previous_community_id"].isna().all()
    summary = rep.summary()
    assert summary["merged"] == 1 and summary["split"] == 2 and summary["vanished"] == 1
    assert summary["accounts_joined_flagged"] == 2


def test_small_moves_are_not_changes():
    prev_acc, prev_comm = _frames({1: "abcdefghijkl"}, {1: 0.5})
    cur_acc, cur_comm = _frames({1: "abcdefghijklm"}, {1: 0.55})  # +1 of 12 (step: 1.2)
    assert compare_frames(prev_acc, prev_comm, cur_acc, cur_comm, Settings()).changes.empty


def _pieces():
    prev_acc, prev_comm = _frames({1: "abcd", 2: "ef", 3: "gh", 4: "ijklmn", 9: "xy"}, {})
    cur_acc, cur_comm = _frames({1: "abcdQ", 2: "efgh", 4: "ijk", 20: "lmn", 9: "x"}, {},
                                flagged=(1, 2))
    return prev_acc, prev_comm, cur_acc, cur_comm[cur_comm["size"] >= 2]


def test_overlaps_list_shared_members_of_listed_communities_only():
    prev_acc, prev_comm, cur_acc, cur_comm = _pieces()
    ov = community_overlaps(prev_acc, cur_acc, prev_comm["community_id"],
                            cur_comm["community_id"])
    got = {(int(c), int(p)): int(o) for c, p, o in zip(ov["cur_id"], ov["prev_id"],
                                                        ov["overlap"])}
    # community 9 is a singleton now: not a row of the current communities table
    assert got == {(1, 1): 4, (2, 2): 2, (2, 3): 2, (4, 4): 3, (20, 4): 3}
    row = ov[(ov["cur_id"] == 1) & (ov["prev_id"] == 1)].iloc[0]
    assert (row["cur_size"], row["prev_size"]) == (5, 4)


def test_merges_and_splits_from_overlaps():
    prev_acc, prev_comm, cur_acc, cur_comm = _pieces()
    ov = community_overlaps(prev_acc, cur_acc, prev_comm["community_id"],
                            cur_comm["community_id"])
    assert sorted(map(tuple, merges(ov, 0.5).to_numpy().tolist())) == [(2, 2), (2, 3)]
    assert sorted(map(tuple, splits(ov, 0.5).to_numpy().tolist())) == [(4, 4), (20, 4)]
    # Pieces need a share of their own members (3 of 3 from 4); merges a share of each
    # previous community's members (2 of 2 from 2 and from 3).
    assert len(splits(ov, 1.0)) == 2 and len(merges(ov, 1.0)) == 2
    assert merges(ov, 1.01).empty and splits(ov, 1.01).empty


def test_moved_accounts_counts_joined_and_left():
    prev_acc, _, cur_acc, _ = _pieces()
    m = moved_accounts(prev_acc, cur_acc)
    # Q is new (joined 1); g, h joined 2; l, m, n joined 20.
    assert m.joined.to_dict() == {1: 1, 2: 2, 20: 3}
    assert m.left.to_dict() == {3: 2, 4: 3, 9: 1}  # y is absent from the current log
    assert cur_acc.loc[m.joined_mask, "account_id"].tolist() == ["Q", "g", "h", "l", "m", "n"]


def test_classify_names_each_change_once_with_previous_ids():
    prev_acc, prev_comm, cur_acc, cur_comm = _pieces()
    ov = community_overlaps(prev_acc, cur_acc, prev_comm["community_id"],
                            cur_comm["community_id"])
    kinds = classify(prev_comm, cur_comm, merges(ov, 0.5), splits(ov, 0.5), Settings())
    assert kinds.values.tolist() == [["grown", 1, "1"], ["merged", 2, "2;3"],
                                     ["split", 4, "4"], ["split", 20, "4"],
                                     ["vanished", 9, "9"]]


def test_flagged_joiners_lists_accounts_new_to_flagged_communities():
    prev_acc, _, cur_acc, cur_comm = _pieces()
    out = flagged_joiners(cur_acc, cur_comm, moved_accounts(prev_acc, cur_acc))
    assert out["account_id"].tolist() == ["Q", "g", "h"]
    assert out["previous_community_id"].tolist()[1:] == [3, 3]
    assert out["previous_community_id"].isna().tolist() == [True, False, False]


def _detect(out: Path, events: Path, accounts: Path, previous: Path | None = None):
    args = ["detect", str(events), "--accounts", str(accounts), "--seeds",
            str(SMALL / "seeds.csv"), "--out", str(out)]
    if previous is not None:
        args += ["--previous", str(previous)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return res.output


def test_end_to_end_on_sim_small(tmp_path):
    """Previous: sim-small. Current: half of the largest flagged community's accounts gone, and
    the second flagged community's accounts duplicated under new ids (same traffic)."""
    _detect(tmp_path / "prev", SMALL / "events.parquet", SMALL / "accounts.csv")
    acc = pd.read_csv(tmp_path / "prev" / "accounts.csv", dtype={"account_id": str})
    comm = pd.read_csv(tmp_path / "prev" / "communities.csv")
    flagged = comm[comm["flagged"]].sort_values("size", ascending=False)
    big, other = int(flagged.iloc[0]["community_id"]), int(flagged.iloc[1]["community_id"])
    big_members = sorted(acc.loc[acc["community_id"] == big, "account_id"])
    other_members = set(acc.loc[acc["community_id"] == other, "account_id"])
    drop = set(big_members[: len(big_members) // 2])
    events = pd.read_parquet(SMALL / "events.parquet")
    copies = events[events["account_id"].isin(other_members)].copy()
    copies["account_id"] = "dup-" + copies["account_id"]
    cur = pd.concat([events[~events["account_id"].isin(drop)], copies], ignore_index=True)
    cur = cur.sort_values("ts", kind="stable", ignore_index=True)
    cur.to_parquet(tmp_path / "cur.parquet", index=False)
    accounts = pd.read_csv(SMALL / "accounts.csv", dtype=str)
    dup = accounts[accounts["account_id"].isin(other_members)].copy()
    dup["account_id"] = "dup-" + dup["account_id"]
    accounts = pd.concat([accounts[~accounts["account_id"].isin(drop)], dup])
    accounts.to_csv(tmp_path / "cur_accounts.csv", index=False)

    out = _detect(tmp_path / "cur", tmp_path / "cur.parquet", tmp_path / "cur_accounts.csv",
                  previous=tmp_path / "prev")
    assert "community ids" in out and "changes.csv" in out
    ch = pd.read_csv(tmp_path / "cur" / "changes.csv")
    rows = {(c, int(i)) for c, i in zip(ch["change"], ch["community_id"])}
    assert ("shrunk", big) in rows
    assert ("grown", other) in rows
    grown = ch[(ch["change"] == "grown") & (ch["community_id"] == other)].iloc[0]
    assert grown["accounts_joined"] >= len(other_members) // 2
    joined = pd.read_csv(tmp_path / "cur" / "changes_accounts.csv")
    assert joined["account_id"].str.startswith("dup-").sum() >= len(other_members) // 2


def _relabel(events: pd.DataFrame, net: str, tag: str, hours: int) -> pd.DataFrame:
    """Events with their own IPs (in ``net``), payment methods and templates, ``hours`` later:
    the same behaviour, no shared value and no shared time window with the originals."""
    out = events.copy()
    ips = sorted(out["ip"].unique())
    out["ip"] = out["ip"].map({v: f"{net}.{i // 256}.{i % 256}" for i, v in enumerate(ips)})
    for col in ("payment_id", "template_hash"):
        out[col] = out[col].where(out[col].isna(), tag + out[col].astype(str))
    out["ts"] = out["ts"] + pd.Timedelta(hours=hours)
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict:
    """sim-small, then the same log with four planted changes: a copy of the second flagged
    community under new accounts and values (new), copies of 40% of a community's members
    (grown), two communities paying with one card from one IP (merged), half of a community
    moved to values and hours of its own (split)."""
    tmp = tmp_path_factory.mktemp("planted")
    _detect(tmp / "prev", SMALL / "events.parquet", SMALL / "accounts.csv")
    acc = pd.read_csv(tmp / "prev" / "accounts.csv", dtype={"account_id": str})
    comm = pd.read_csv(tmp / "prev" / "communities.csv")
    flagged = comm[comm["flagged"]].sort_values(["size", "community_id"], ascending=False)
    plain = comm[~comm["flagged"]].sort_values(["size", "community_id"], ascending=False)
    new_src = int(flagged.iloc[1]["community_id"])
    split_id, m1, m2, grow_id = (int(c) for c in plain["community_id"].iloc[:4])

    def members(c: int) -> list[str]:
        return sorted(acc.loc[acc["community_id"] == c, "account_id"])

    events = pd.read_parquet(SMALL / "events.parquet")
    copy = _relabel(events[events["account_id"].isin(members(new_src))], "198.18", "new-", 3)
    copy["account_id"] = "new-" + copy["account_id"]
    grow = members(grow_id)[: int(np.ceil(0.4 * len(members(grow_id))))]
    grown = events[events["account_id"].isin(grow)].copy()
    grown["account_id"] = "grow-" + grown["account_id"]
    both = events["account_id"].isin(members(m1) + members(m2))
    events.loc[both, "payment_id"] = "pm_merged"
    events.loc[both, "ip"] = "203.0.113.77"
    half = events["account_id"].isin(members(split_id)[: len(members(split_id)) // 2])
    moved = _relabel(events[half], "198.19", "split-", 3)
    cur = pd.concat([events[~half], moved, copy, grown], ignore_index=True)
    cur.sort_values("ts", kind="stable", ignore_index=True).to_parquet(tmp / "cur.parquet")
    _detect(tmp / "cur", tmp / "cur.parquet", SMALL / "accounts.csv", previous=tmp / "prev")
    ch = pd.read_csv(tmp / "cur" / "changes.csv", dtype={"previous_ids": str})
    now = pd.read_csv(tmp / "cur" / "accounts.csv", dtype={"account_id": str})
    return {"changes": ch, "accounts": now, "new_src": new_src, "split": split_id,
            "merged": (m1, m2), "grown": grow_id, "members": members}


def _rows(planted: dict, change: str) -> pd.DataFrame:
    ch = planted["changes"]
    return ch[ch["change"] == change]


def test_planted_new_community_is_new(planted):
    now = planted["accounts"]
    copies = now[now["account_id"].str.startswith("new-")]
    assert copies["community_id"].nunique() == 1
    cid = int(copies["community_id"].iloc[0])
    new = _rows(planted, "new")
    assert cid in set(new["community_id"])
    assert set(now.loc[now["community_id"] == cid, "account_id"]) == set(copies["account_id"])
    assert new.loc[new["community_id"] == cid, "size"].item() == len(
        planted["members"](planted["new_src"]))


def test_planted_growth_is_grown(planted):
    grown = _rows(planted, "grown")
    row = grown[grown["community_id"] == planted["grown"]]
    assert len(row) == 1
    now = planted["accounts"]
    joined = now[now["account_id"].str.startswith("grow-")]
    assert set(joined["community_id"]) == {planted["grown"]}
    # The sizes are the member counts of both runs (an unplanted account may move in too).
    members_now = set(now.loc[now["community_id"] == planted["grown"], "account_id"])
    assert row["size"].item() == len(members_now)
    assert row["previous_size"].item() == len(planted["members"](planted["grown"]))
    assert set(joined["account_id"]) <= members_now - set(planted["members"](planted["grown"]))
    assert row["size"].item() >= row["previous_size"].item() + len(joined)


def test_planted_merge_is_merged(planted):
    merged = _rows(planted, "merged")
    pair = ";".join(str(c) for c in sorted(planted["merged"]))
    assert pair in set(merged["previous_ids"])
    now = planted["accounts"].set_index("account_id")["community_id"]
    both = planted["members"](planted["merged"][0]) + planted["members"](planted["merged"][1])
    assert now.reindex(both).nunique() == 1


def test_planted_split_is_split(planted):
    pieces = _rows(planted, "split")
    pieces = pieces[pieces["previous_ids"] == str(planted["split"])]
    assert len(pieces) >= 2
    now = planted["accounts"].set_index("account_id")["community_id"]
    members = planted["members"](planted["split"])
    assert set(now.reindex(members)) <= set(pieces["community_id"])
