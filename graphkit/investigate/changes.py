"""What changed since the previous run (``detect --previous DIR``).

Run after :mod:`graphkit.investigate.stable_ids` has carried the previous ids over, so "the
same community" means "the same id". Only communities of two or more accounts (the rows of
communities.csv) are reported; overlaps count every account. With ``s`` =
``Settings.change_share`` (default 0.5), ``r`` = ``Settings.change_size_ratio`` (0.1) and
``d`` = ``Settings.change_suspicion_delta`` (0.1), one row per (change, community):

* ``merged``: a current community into which two or more previous communities each sent at
  least ``s`` of their members. ``previous_ids`` lists them.
* ``split``: a current community of which at least ``s`` of the members come from one previous
  community that did the same for at least one other current community (each piece is a row;
  ``previous_ids`` is the community that split).
* ``new``: a current community whose id did not exist in the previous run and which is neither
  merged nor a split piece.
* ``grown`` / ``shrunk``: a community whose id existed in the previous run, which is not merged
  or a split piece, and whose size rose / fell by at least ``max(1, r * previous_size)``
  accounts.
* ``suspicion_up`` / ``suspicion_down``: a kept id whose suspicion moved by at least ``d``.
* ``vanished``: a previous community whose id is gone and whose members went into no merged
  community and no split piece (``size`` 0).

``accounts_joined`` counts the members whose previous community id differs from the current
one (new accounts included); ``accounts_left`` the previous members (of a kept id) that are
elsewhere now. changes_accounts.csv lists the accounts that joined a *flagged* community.

>>> import pandas as pd
>>> from graphkit.settings import Settings
>>> prev = pd.DataFrame({"account_id": list("abcdef"), "community_id": [1, 1, 2, 2, 3, 3]})
>>> pc = pd.DataFrame({"community_id": [1, 2, 3], "size": [2, 2, 2], "suspicion": 0.5,
...                    "flagged": False})
>>> cur = pd.DataFrame({"account_id": list("abcdefg"), "community_id": [1, 1, 1, 1, 3, 3, 3],
...                     "flagged": False})
>>> cc = pd.DataFrame({"community_id": [1, 3], "size": [4, 3], "suspicion": 0.5,
...                    "flagged": False})
>>> rep = compare_frames(prev, pc, cur, cc, Settings())
>>> sorted(rep.changes["change"])
['grown', 'merged']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from graphkit.investigate.stable_ids import _codes, overlaps
from graphkit.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from graphkit.investigate.stable_ids import PreviousRun

CHANGE_KINDS = ("new", "grown", "shrunk", "merged", "split", "vanished", "suspicion_up",
                "suspicion_down")
CHANGE_COLUMNS = ["change", "community_id", "previous_ids", "size", "previous_size",
                  "suspicion", "previous_suspicion", "flagged", "previous_flagged",
                  "accounts_joined", "accounts_left"]


@dataclass
class ChangeReport:
    changes: pd.DataFrame  # CHANGE_COLUMNS
    accounts: pd.DataFrame  # account_id, community_id, previous_community_id, suspicion

    def summary(self) -> dict[str, int]:
        counts = self.changes["change"].value_counts()
        out = {k: int(counts.get(k, 0)) for k in CHANGE_KINDS}
        out["accounts_joined_flagged"] = len(self.accounts)
        return out


def _ids_text(ids: pd.Series) -> str:
    return ";".join(str(int(i)) for i in sorted(set(ids)))


def compare(previous: PreviousRun, accounts: pd.DataFrame, communities: pd.DataFrame,
            settings: Settings) -> ChangeReport:
    """Compare this run (accounts, communities with stable ids) with ``previous``."""
    return compare_frames(previous.accounts, previous.communities, accounts, communities,
                          settings)


def compare_frames(prev_acc: pd.DataFrame, prev_comm: pd.DataFrame, cur_acc: pd.DataFrame,
                   cur_comm: pd.DataFrame, settings: Settings) -> ChangeReport:
    """The change report from plain frames: accounts (account_id, community_id[, flagged,
    suspicion]) and communities (community_id, size, suspicion, flagged) of both runs."""
    share, ratio, delta = (settings.change_share, settings.change_size_ratio,
                           settings.change_suspicion_delta)
    pa = prev_acc[["account_id", "community_id"]].astype({"account_id": str})
    ca = cur_acc.astype({"account_id": str})
    pl, pu = _codes(pa["community_id"].to_numpy(np.int64))
    cl, cu = _codes(ca["community_id"].to_numpy(np.int64))
    ov = overlaps(ca["account_id"].to_numpy(), cl, pa["account_id"].to_numpy(), pl)
    ov["cur_id"], ov["prev_id"] = cu[ov["cur"].to_numpy()], pu[ov["prev"].to_numpy()]
    cur_ids = set(cur_comm["community_id"].astype(np.int64))
    prev_ids = set(prev_comm["community_id"].astype(np.int64))
    ov = ov[ov["cur_id"].isin(cur_ids) & ov["prev_id"].isin(prev_ids)]

    # Merged: >= 2 previous communities each sending >= share of their members into one.
    sent = ov[ov["overlap"] >= share * ov["prev_size"]]
    n_in = sent.groupby("cur_id")["prev_id"].transform("size")
    merged_pairs = sent[n_in >= 2]
    # Split: one previous community making up >= share of >= 2 current communities.
    made = ov[ov["overlap"] >= share * ov["cur_size"]]
    n_out = made.groupby("prev_id")["cur_id"].transform("size")
    split_pairs = made[n_out >= 2]

    pc = prev_comm.set_index("community_id")
    cc = cur_comm.set_index("community_id")
    # Members whose previous id differs from their current id (accounts new to the log too).
    before = pa.drop_duplicates("account_id").set_index("account_id")["community_id"]
    prev_of = ca["account_id"].map(before)
    joined_mask = (prev_of != ca["community_id"]).to_numpy() | prev_of.isna().to_numpy()
    joined = ca.loc[joined_mask, "community_id"].value_counts()
    now = ca.drop_duplicates("account_id").set_index("account_id")["community_id"]
    left_mask = (pa["account_id"].map(now) != pa["community_id"]).to_numpy()
    left = pa.loc[left_mask, "community_id"].value_counts()

    rows: list[pd.DataFrame] = []

    def frame(change: str, ids: np.ndarray, previous_ids: list[str] | None = None
              ) -> pd.DataFrame:
        ids = np.asarray(ids, dtype=np.int64)
        in_prev = pd.Index(pc.index).get_indexer(ids) >= 0
        in_cur = pd.Index(cc.index).get_indexer(ids) >= 0
        f = pd.DataFrame({"change": change, "community_id": ids})
        f["previous_ids"] = previous_ids if previous_ids is not None else [
            str(i) if p else "" for i, p in zip(ids, in_prev)]
        f["size"] = np.where(in_cur, cc["size"].reindex(ids).to_numpy(), 0).astype(np.int64)
        f["previous_size"] = pc["size"].reindex(ids).to_numpy()
        f["suspicion"] = cc["suspicion"].reindex(ids).to_numpy()
        f["previous_suspicion"] = pc["suspicion"].reindex(ids).to_numpy()
        f["flagged"] = cc["flagged"].reindex(ids).to_numpy()
        f["previous_flagged"] = pc["flagged"].reindex(ids).to_numpy()
        f["accounts_joined"] = joined.reindex(ids).fillna(0).to_numpy(np.int64)
        f["accounts_left"] = np.where(in_prev, left.reindex(ids).fillna(0).to_numpy(), 0
                                      ).astype(np.int64)
        return f

    if len(merged_pairs):
        g = merged_pairs.groupby("cur_id")["prev_id"].agg(_ids_text)
        rows.append(frame("merged", g.index.to_numpy(), list(g.to_numpy())))
    if len(split_pairs):
        rows.append(frame("split", split_pairs["cur_id"].to_numpy(),
                          [str(int(i)) for i in split_pairs["prev_id"]]))
    cur_arr = np.array(sorted(cur_ids), dtype=np.int64)
    special = set(merged_pairs["cur_id"]) | set(split_pairs["cur_id"])
    new = cur_arr[~np.isin(cur_arr, list(prev_ids)) & ~np.isin(cur_arr, list(special))]
    kept = cur_arr[np.isin(cur_arr, list(prev_ids))]
    sized = kept[~np.isin(kept, list(special))]  # merged / split pieces are not also grown
    rows.append(frame("new", new))
    size_now = cc["size"].reindex(sized).to_numpy(np.int64)
    size_then = pc["size"].reindex(sized).to_numpy(np.int64)
    step = np.maximum(1, ratio * size_then)
    rows.append(frame("grown", sized[size_now - size_then >= step]))
    rows.append(frame("shrunk", sized[size_then - size_now >= step]))
    s_now = cc["suspicion"].reindex(kept).to_numpy(np.float64)
    s_then = pc["suspicion"].reindex(kept).to_numpy(np.float64)
    rows.append(frame("suspicion_up", kept[s_now - s_then >= delta - 1e-12]))
    rows.append(frame("suspicion_down", kept[s_then - s_now >= delta - 1e-12]))
    prev_arr = np.array(sorted(prev_ids), dtype=np.int64)
    absorbed = set(merged_pairs["prev_id"]) | set(split_pairs["prev_id"])
    gone = prev_arr[~np.isin(prev_arr, cur_arr) & ~np.isin(prev_arr, list(absorbed))]
    rows.append(frame("vanished", gone))

    changes = pd.concat([r for r in rows if len(r)] or [frame("new", np.array([]))],
                        ignore_index=True)[CHANGE_COLUMNS]
    order = {k: i for i, k in enumerate(CHANGE_KINDS)}
    changes = changes.sort_values(["change", "community_id"],
                                  key=lambda s: s.map(order) if s.name == "change" else s,
                                  kind="stable").reset_index(drop=True)

    flagged_ids = set(cur_comm.loc[cur_comm["flagged"].astype(bool), "community_id"])
    jf = joined_mask & ca["community_id"].isin(flagged_ids).to_numpy()
    acc_out = pd.DataFrame({"account_id": ca.loc[jf, "account_id"].to_numpy(),
                            "community_id": ca.loc[jf, "community_id"].to_numpy(np.int64),
                            "previous_community_id": pd.array(prev_of[jf].to_numpy(),
                                                              dtype="Int64")})
    for col in ("suspicion", "flagged"):
        if col in ca:
            acc_out[col] = ca.loc[jf, col].to_numpy()
    acc_out = acc_out.sort_values(["community_id", "account_id"]).reset_index(drop=True)
    return ChangeReport(changes, acc_out)


__all__ = ["CHANGE_COLUMNS", "CHANGE_KINDS", "ChangeReport", "compare", "compare_frames"]
