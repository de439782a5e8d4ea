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
    suspicion]) and communities (community_id, size, suspicion, flagged) of both runs.

    The pieces, each a vectorized function of frames: :func:`community_overlaps` (who went
    where), :func:`merges` and :func:`splits` (from the overlaps), :func:`moved_accounts`
    (joined / left counts), :func:`classify` (one row per change and community, with its
    previous ids), :func:`change_table` (sizes, suspicions and counts of both runs) and
    :func:`flagged_joiners` (changes_accounts.csv).
    """
    pa = prev_acc[["account_id", "community_id"]].astype({"account_id": str})
    ca = cur_acc.astype({"account_id": str})
    ov = community_overlaps(pa, ca, prev_comm["community_id"], cur_comm["community_id"])
    merged = merges(ov, settings.change_share)
    split = splits(ov, settings.change_share)
    moves = moved_accounts(pa, ca)
    kinds = classify(prev_comm, cur_comm, merged, split, settings)
    changes = change_table(kinds, prev_comm, cur_comm, moves)
    return ChangeReport(changes, flagged_joiners(ca, cur_comm, moves))


def community_overlaps(prev_acc: pd.DataFrame, cur_acc: pd.DataFrame, prev_ids: pd.Series,
                       cur_ids: pd.Series) -> pd.DataFrame:
    """Members shared by current and previous communities, for the pairs sharing any.

    Columns ``cur_id``, ``prev_id``, ``overlap``, ``cur_size``, ``prev_size`` (sizes count
    every account of the run), restricted to the communities listed in ``cur_ids`` and
    ``prev_ids`` (the rows of the two communities tables).

    Examples
    --------
    >>> prev = pd.DataFrame({"account_id": list("abc"), "community_id": [1, 1, 2]})
    >>> cur = pd.DataFrame({"account_id": list("abc"), "community_id": [5, 5, 5]})
    >>> community_overlaps(prev, cur, pd.Series([1, 2]), pd.Series([5]))[
    ...     ["cur_id", "prev_id", "overlap"]].values.tolist()
    [[5, 1, 2], [5, 2, 1]]
    """
    pl, pu = _codes(prev_acc["community_id"].to_numpy(np.int64))
    cl, cu = _codes(cur_acc["community_id"].to_numpy(np.int64))
    ov = overlaps(cur_acc["account_id"].to_numpy(), cl, prev_acc["account_id"].to_numpy(), pl)
    out = pd.DataFrame({"cur_id": cu[ov["cur"].to_numpy()], "prev_id": pu[ov["prev"].to_numpy()],
                        "overlap": ov["overlap"].to_numpy(), "cur_size": ov["cur_size"].to_numpy(),
                        "prev_size": ov["prev_size"].to_numpy()})
    keep = (out["cur_id"].isin(np.asarray(cur_ids, np.int64))
            & out["prev_id"].isin(np.asarray(prev_ids, np.int64)))
    return out[keep.to_numpy()].sort_values(["cur_id", "prev_id"]).reset_index(drop=True)


def merges(ov: pd.DataFrame, share: float) -> pd.DataFrame:
    """(cur_id, prev_id) pairs of merges: two or more previous communities each sending at
    least ``share`` of their members into the same current community."""
    sent = ov[ov["overlap"] >= share * ov["prev_size"]]
    n_in = sent.groupby("cur_id")["prev_id"].transform("size")
    return sent.loc[n_in >= 2, ["cur_id", "prev_id"]].reset_index(drop=True)


def splits(ov: pd.DataFrame, share: float) -> pd.DataFrame:
    """(cur_id, prev_id) pairs of split pieces: one previous community making up at least
    ``share`` of two or more current communities."""
    made = ov[ov["overlap"] >= share * ov["cur_size"]]
    n_out = made.groupby("prev_id")["cur_id"].transform("size")
    return made.loc[n_out >= 2, ["cur_id", "prev_id"]].reset_index(drop=True)


@dataclass
class Moves:
    """Accounts that changed community between the runs."""

    joined: pd.Series  # current id -> members whose previous id differs (new accounts too)
    left: pd.Series  # previous id -> previous members now elsewhere
    joined_mask: np.ndarray  # per current account row: it joined its community
    previous_id: pd.Series  # per current account row: its previous community id (NaN: new)


def moved_accounts(prev_acc: pd.DataFrame, cur_acc: pd.DataFrame) -> Moves:
    """Per community, the accounts that joined it (current side) and left it (previous side).

    Examples
    --------
    >>> prev = pd.DataFrame({"account_id": list("abc"), "community_id": [1, 1, 2]})
    >>> cur = pd.DataFrame({"account_id": list("abcd"), "community_id": [1, 2, 2, 2]})
    >>> m = moved_accounts(prev, cur)
    >>> m.joined.to_dict(), m.left.to_dict()
    ({2: 2}, {1: 1})
    """
    before = prev_acc.drop_duplicates("account_id").set_index("account_id")["community_id"]
    prev_of = cur_acc["account_id"].map(before)
    joined_mask = (prev_of != cur_acc["community_id"]).to_numpy() | prev_of.isna().to_numpy()
    joined = cur_acc.loc[joined_mask, "community_id"].value_counts().sort_index()
    now = cur_acc.drop_duplicates("account_id").set_index("account_id")["community_id"]
    left_mask = (prev_acc["account_id"].map(now) != prev_acc["community_id"]).to_numpy()
    left = prev_acc.loc[left_mask, "community_id"].value_counts().sort_index()
    return Moves(joined, left, joined_mask, prev_of)


def _joined_ids(pairs: pd.DataFrame, by: str, ids: str) -> pd.Series:
    """Per ``by`` value, its ``ids`` values sorted and joined by ";" (one string per group,
    built in DuckDB rather than by a Python function per group)."""
    import duckdb

    if pairs.empty:
        return pd.Series([], dtype=object)
    con = duckdb.connect()
    try:
        con.register("pairs", pairs[[by, ids]])
        out = con.execute(f"SELECT {by} AS k, string_agg(CAST({ids} AS VARCHAR), ';' "
                          f"ORDER BY {ids}) AS v FROM (SELECT DISTINCT {by}, {ids} FROM pairs) "
                          f"GROUP BY {by} ORDER BY {by}").df()
    finally:
        con.close()
    return pd.Series(out["v"].to_numpy(dtype=object), index=out["k"].to_numpy(np.int64))


def classify(prev_comm: pd.DataFrame, cur_comm: pd.DataFrame, merged: pd.DataFrame,
             split: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """One row per (change, community): columns ``change``, ``community_id``,
    ``previous_ids`` (the merged ids for ``merged``, the split community for a piece, the id
    itself when the previous run had it, else "").

    Examples
    --------
    >>> prev = pd.DataFrame({"community_id": [1, 2], "size": [2, 2], "suspicion": 0.5})
    >>> cur = pd.DataFrame({"community_id": [1, 3], "size": [4, 2], "suspicion": 0.5})
    >>> classify(prev, cur, pd.DataFrame(columns=["cur_id", "prev_id"]),
    ...          pd.DataFrame(columns=["cur_id", "prev_id"]), Settings()).values.tolist()
    [['new', 3, ''], ['grown', 1, '1'], ['vanished', 2, '2']]
    """
    pc = prev_comm.drop_duplicates("community_id").set_index("community_id")
    cc = cur_comm.drop_duplicates("community_id").set_index("community_id")
    cur_ids = np.sort(cc.index.to_numpy(np.int64))
    prev_ids = np.sort(pc.index.to_numpy(np.int64))
    merged_ids = np.unique(merged["cur_id"].to_numpy(np.int64))
    piece_ids = split["cur_id"].to_numpy(np.int64)
    special = np.union1d(merged_ids, piece_ids)
    existed = np.isin(cur_ids, prev_ids)
    kept = cur_ids[existed]
    sized = kept[~np.isin(kept, special)]  # merged / split pieces are not also grown
    size_now = cc["size"].reindex(sized).to_numpy(np.int64)
    size_then = pc["size"].reindex(sized).to_numpy(np.int64)
    step = np.maximum(1, settings.change_size_ratio * size_then)
    s_now = cc["suspicion"].reindex(kept).to_numpy(np.float64)
    s_then = pc["suspicion"].reindex(kept).to_numpy(np.float64)
    delta = settings.change_suspicion_delta - 1e-12
    absorbed = np.union1d(merged["prev_id"].to_numpy(np.int64),
                          split["prev_id"].to_numpy(np.int64))
    by_kind = {
        "merged": merged_ids,
        "split": piece_ids,
        "new": cur_ids[~existed & ~np.isin(cur_ids, special)],
        "grown": sized[size_now - size_then >= step],
        "shrunk": sized[size_then - size_now >= step],
        "suspicion_up": kept[s_now - s_then >= delta],
        "suspicion_down": kept[s_then - s_now >= delta],
        "vanished": prev_ids[~np.isin(prev_ids, cur_ids) & ~np.isin(prev_ids, absorbed)],
    }
    sizes = [len(by_kind[k]) for k in CHANGE_KINDS]
    ids = np.concatenate([by_kind[k] for k in CHANGE_KINDS]).astype(np.int64)
    out = pd.DataFrame({"change": np.repeat(np.array(CHANGE_KINDS, dtype=object), sizes),
                        "community_id": ids})
    same = pd.Series(ids.astype(str), dtype=object).where(np.isin(ids, prev_ids), "")
    out["previous_ids"] = same.to_numpy(dtype=object)
    is_merged = (out["change"] == "merged").to_numpy()
    out.loc[is_merged, "previous_ids"] = _joined_ids(merged, "cur_id", "prev_id").reindex(
        ids[is_merged]).to_numpy(dtype=object)
    is_piece = (out["change"] == "split").to_numpy()
    out.loc[is_piece, "previous_ids"] = split["prev_id"].to_numpy(np.int64).astype(str)
    order = pd.Categorical(out["change"], categories=CHANGE_KINDS, ordered=True)
    return out.assign(_k=order).sort_values(["_k", "community_id"], kind="stable") \
        .drop(columns="_k").reset_index(drop=True)


def change_table(kinds: pd.DataFrame, prev_comm: pd.DataFrame, cur_comm: pd.DataFrame,
                 moves: Moves) -> pd.DataFrame:
    """changes.csv: ``kinds`` (from :func:`classify`) with both runs' size, suspicion and flag
    and the joined / left counts (:data:`CHANGE_COLUMNS`); size 0 for a vanished community."""
    pc = prev_comm.drop_duplicates("community_id").set_index("community_id")
    cc = cur_comm.drop_duplicates("community_id").set_index("community_id")
    ids = kinds["community_id"].to_numpy(np.int64)
    in_prev = pc.index.get_indexer(ids) >= 0
    in_cur = cc.index.get_indexer(ids) >= 0
    f = kinds.copy()
    f["size"] = np.where(in_cur, cc["size"].reindex(ids).to_numpy(), 0).astype(np.int64)
    f["previous_size"] = pc["size"].reindex(ids).to_numpy()
    f["suspicion"] = cc["suspicion"].reindex(ids).to_numpy()
    f["previous_suspicion"] = pc["suspicion"].reindex(ids).to_numpy()
    f["flagged"] = cc["flagged"].reindex(ids).to_numpy()
    f["previous_flagged"] = pc["flagged"].reindex(ids).to_numpy()
    f["accounts_joined"] = moves.joined.reindex(ids).fillna(0).to_numpy(np.int64)
    f["accounts_left"] = np.where(in_prev, moves.left.reindex(ids).fillna(0).to_numpy(), 0
                                  ).astype(np.int64)
    return f[CHANGE_COLUMNS]


def flagged_joiners(cur_acc: pd.DataFrame, cur_comm: pd.DataFrame, moves: Moves
                    ) -> pd.DataFrame:
    """changes_accounts.csv: the accounts that joined a flagged community (account_id,
    community_id, previous_community_id, and suspicion / flagged when ``cur_acc`` has them)."""
    flagged_ids = cur_comm.loc[cur_comm["flagged"].astype(bool), "community_id"]
    jf = moves.joined_mask & cur_acc["community_id"].isin(flagged_ids).to_numpy()
    out = pd.DataFrame({"account_id": cur_acc.loc[jf, "account_id"].to_numpy(),
                        "community_id": cur_acc.loc[jf, "community_id"].to_numpy(np.int64),
                        "previous_community_id": pd.array(moves.previous_id[jf].to_numpy(),
                                                          dtype="Int64")})
    for col in ("suspicion", "flagged"):
        if col in cur_acc:
            out[col] = cur_acc.loc[jf, col].to_numpy()
    return out.sort_values(["community_id", "account_id"]).reset_index(drop=True)


__all__ = ["CHANGE_COLUMNS", "CHANGE_KINDS", "ChangeReport", "Moves", "change_table", "classify",
           "community_overlaps", "compare", "compare_frames", "flagged_joiners", "merges",
           "moved_accounts", "splits"]
