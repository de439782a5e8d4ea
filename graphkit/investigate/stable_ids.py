"""Community ids that survive from one run to the next.

Two rules, both pure functions of memberships (account id -> community label):

* **Without a previous run** every community (singletons included) is numbered by content: the
  communities are sorted by their smallest member account id (string order) and numbered 0, 1,
  2, ... in that order. Two runs on the same data give the same ids, whatever order Leiden
  produced its labels in. (The detector's own numbering, largest community first, changes when
  any other community grows.)
* **With a previous run** (``detect --previous DIR``) this run's communities are matched to the
  previous run's by their members: Jaccard overlap |A ∩ B| / |A ∪ B|, computed for the pairs
  that share at least one account through one sparse product of the two account x community
  membership matrices (never a dense communities x communities matrix). Pairs below
  ``Settings.stable_id_min_jaccard`` are dropped; among the rest a one-to-one matching of
  maximal total Jaccard is chosen (pairs that compete with no other are matched directly;
  the few connected blocks where several compete are solved exactly with
  :func:`scipy.optimize.linear_sum_assignment`). A matched community keeps its previous id.
  Unmatched communities get new ids above the highest id ever issued (recorded in each
  run's manifest as ``outputs.community_ids.max_issued`` and carried forward), numbered in
  order of their smallest member, so an id is never given to a second community.

Accounts in the previous run that are absent now simply do not count in the overlap of the
current communities (they still count in the previous community's size).

>>> import pandas as pd
>>> cur = pd.DataFrame({"account_id": ["b", "a", "c", "d"], "label": [7, 7, 3, 5]})
>>> ids, info = assign_ids(cur["account_id"], cur["label"])
>>> dict(zip(cur["label"], ids.tolist()))  # {a,b} smallest member 'a' -> 0, {c} -> 1, {d} -> 2
{7: 0, 3: 1, 5: 2}
>>> prev = pd.DataFrame({"account_id": ["a", "b", "c"], "community_id": [40, 40, 41]})
>>> ids, info = assign_ids(cur["account_id"], cur["label"], previous=prev, max_issued=41)
>>> dict(zip(cur["label"], ids.tolist()))  # {a,b} keeps 40, {c} keeps 41, {d} is new: 42
{7: 40, 3: 41, 5: 42}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components

from graphkit.errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from graphkit.detection.pipeline import Detection


@dataclass
class PreviousRun:
    """What a later run needs from an earlier result directory."""

    path: Path
    accounts: pd.DataFrame  # account_id, community_id (every account of that run)
    communities: pd.DataFrame  # communities.csv as written (size >= 2)
    max_issued: int  # highest community id ever issued up to that run
    run_id: str | None = None


@dataclass
class IdInfo:
    """How this run's ids relate to the previous run's."""

    matched: pd.DataFrame  # label, previous_id, jaccard, overlap (one row per kept id)
    max_issued: int
    n_communities: int
    n_kept: int

    def summary(self) -> dict:
        return {"max_issued": int(self.max_issued), "communities": int(self.n_communities),
                "kept_from_previous": int(self.n_kept)}


def read_previous(path: str | Path) -> PreviousRun:
    """Read a previous ``detect`` result directory (accounts.csv, communities.csv, manifest)."""
    p = Path(path)
    if not p.is_dir():
        raise ConfigError("previous result directory not found", file=str(p))
    acc_path = p / "accounts.csv"
    if not acc_path.is_file():
        raise InputError("not a detect result directory (no accounts.csv)", file=str(p))
    accounts = pd.read_csv(acc_path, dtype={"account_id": str},
                           usecols=lambda c: c in ("account_id", "community_id", "flagged",
                                                   "suspicion"))
    if "community_id" not in accounts:
        raise InputError("missing column", file=str(acc_path), column="community_id")
    comm_path = p / "communities.csv"
    communities = (pd.read_csv(comm_path, usecols=lambda c: c in (
        "community_id", "size", "suspicion", "flagged", "actor"))
        if comm_path.is_file() else pd.DataFrame(columns=["community_id", "size", "suspicion",
                                                          "flagged", "actor"]))
    max_issued = int(accounts["community_id"].max()) if len(accounts) else -1
    run_id = None
    manifest = p / "manifest.json"
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"unreadable manifest: {exc}", file=str(manifest)) from exc
        run_id = data.get("run_id")
        recorded = ((data.get("outputs") or {}).get("community_ids") or {}).get("max_issued")
        if recorded is not None:
            max_issued = max(max_issued, int(recorded))
    return PreviousRun(p, accounts, communities, max_issued, run_id)


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes 0..k-1 and the unique values (sorted)."""
    uniq, inv = np.unique(np.asarray(values), return_inverse=True)
    return inv.astype(np.int64), uniq


def _smallest_member_order(account_ids: np.ndarray, label_codes: np.ndarray, k: int
                           ) -> np.ndarray:
    """Rank (0..k-1) of each label by its smallest member account id."""
    order = np.lexsort((account_ids, label_codes))  # by label, then account id
    first = np.ones(len(order), bool)
    first[1:] = label_codes[order][1:] != label_codes[order][:-1]
    smallest = np.empty(k, dtype=object)
    smallest[label_codes[order][first]] = account_ids[order][first]
    rank = np.empty(k, np.int64)
    rank[np.argsort(smallest.astype(str), kind="stable")] = np.arange(k)
    return rank


def overlaps(cur_accounts: np.ndarray, cur_labels: np.ndarray,
             prev_accounts: np.ndarray, prev_labels: np.ndarray) -> pd.DataFrame:
    """Sparse overlap of two partitions: rows cur, prev (label codes), overlap, cur_size,
    prev_size, jaccard, for the pairs sharing at least one account.

    Labels must be codes 0..k-1. One sparse product of the membership matrices; no loop."""
    all_ids, inv = np.unique(np.concatenate([cur_accounts, prev_accounts]).astype(str),
                             return_inverse=True)
    ca, pa = inv[:len(cur_accounts)], inv[len(cur_accounts):]
    n = len(all_ids)
    kc = int(cur_labels.max()) + 1 if len(cur_labels) else 0
    kp = int(prev_labels.max()) + 1 if len(prev_labels) else 0
    C = sp.csr_matrix((np.ones(len(ca)), (ca, cur_labels)), shape=(n, kc))
    P = sp.csr_matrix((np.ones(len(pa)), (pa, prev_labels)), shape=(n, kp))
    O = (C.T @ P).tocoo()
    cs = np.bincount(cur_labels, minlength=kc)
    ps = np.bincount(prev_labels, minlength=kp)
    inter = O.data.astype(np.int64)
    out = pd.DataFrame({"cur": O.row.astype(np.int64), "prev": O.col.astype(np.int64),
                        "overlap": inter, "cur_size": cs[O.row], "prev_size": ps[O.col]})
    out["jaccard"] = inter / (out["cur_size"] + out["prev_size"] - inter)
    return out


def match(pairs: pd.DataFrame, min_jaccard: float) -> pd.DataFrame:
    """One-to-one matching of maximal total Jaccard over ``pairs`` (cur, prev, jaccard) with
    jaccard >= min_jaccard. Returns the matched rows of ``pairs``."""
    cand = pairs[pairs["jaccard"] >= min_jaccard].reset_index(drop=True)
    if cand.empty:
        return cand
    cu, cur_codes = _codes(cand["cur"])
    pu, prev_codes = _codes(cand["prev"])
    kc, kp = len(cur_codes), len(prev_codes)
    # Bipartite graph cur + prev nodes; its connected components are independent problems.
    g = sp.coo_matrix((np.ones(len(cand)), (cu, kc + pu)), shape=(kc + kp, kc + kp))
    _, comp = connected_components(g, directed=False)
    edge_comp = comp[cu]
    per_comp = np.bincount(edge_comp)
    simple = per_comp[edge_comp] == 1  # a pair that competes with no other pair
    chosen = [np.flatnonzero(simple)]
    multi = np.flatnonzero(~simple)
    if len(multi):
        by_comp = pd.Series(multi).groupby(edge_comp[multi])
        for _, idx in by_comp:  # only the blocks where several pairs compete
            e = idx.to_numpy()
            rows, rinv = np.unique(cu[e], return_inverse=True)
            cols, cinv = np.unique(pu[e], return_inverse=True)
            w = np.zeros((len(rows), len(cols)))
            w[rinv, cinv] = cand["jaccard"].to_numpy()[e]
            r, c = linear_sum_assignment(w, maximize=True)
            lookup = {(i, j): k for k, i, j in zip(e, rinv, cinv)}
            chosen.append(np.array([lookup[(i, j)] for i, j in zip(r, c) if (i, j) in lookup],
                                   dtype=np.int64))
    sel = np.sort(np.concatenate(chosen))
    return cand.iloc[sel].reset_index(drop=True)


def assign_ids(account_ids: pd.Series | np.ndarray, labels: pd.Series | np.ndarray, *,
               previous: pd.DataFrame | None = None, max_issued: int = -1,
               min_jaccard: float = 0.3) -> tuple[np.ndarray, IdInfo]:
    """Stable community ids for each account (aligned with ``account_ids``).

    ``labels`` is any partition of the accounts; ``previous`` (account_id, community_id) the
    previous run's, ``max_issued`` the highest id issued up to that run."""
    acc = np.asarray(account_ids).astype(str)
    lab, uniq = _codes(labels)
    k = len(uniq)
    rank = _smallest_member_order(acc, lab, k)
    new_id = np.full(k, -1, np.int64)
    matched = pd.DataFrame(columns=["label", "previous_id", "jaccard", "overlap"])
    if previous is not None and len(previous) and k:
        prev_lab, prev_uniq = _codes(previous["community_id"].to_numpy(np.int64))
        pairs = overlaps(acc, lab, previous["account_id"].to_numpy().astype(str), prev_lab)
        m = match(pairs, min_jaccard)
        new_id[m["cur"].to_numpy()] = prev_uniq[m["prev"].to_numpy()]
        matched = pd.DataFrame({"label": uniq[m["cur"].to_numpy()],
                                "previous_id": prev_uniq[m["prev"].to_numpy()],
                                "jaccard": m["jaccard"].to_numpy(),
                                "overlap": m["overlap"].to_numpy()})
        max_issued = max(int(max_issued), int(prev_uniq.max()))
    fresh = np.flatnonzero(new_id < 0)
    fresh = fresh[np.argsort(rank[fresh], kind="stable")]
    new_id[fresh] = max_issued + 1 + np.arange(len(fresh))
    top = int(new_id.max()) if k else int(max_issued)
    info = IdInfo(matched, max(top, int(max_issued)), k, k - len(fresh))
    return new_id[lab], info


_CYPHER_ID = re.compile(r"^(.*:param community_id => )-?\d+(.*)$", re.DOTALL)


def relabel_detection(detection: Detection, mapping: pd.Series) -> None:
    """Rewrite every community id in ``detection`` (in place) through ``mapping`` (old -> new):
    accounts.community_id, accounts.attached_to, communities.community_id and the
    ``:param community_id => N`` line of the communities' Cypher text."""
    acc = detection.accounts
    acc["community_id"] = acc["community_id"].map(mapping).to_numpy(np.int64)
    if "attached_to" in acc:
        acc["attached_to"] = pd.array(acc["attached_to"].map(mapping), dtype="Int64")
    com = detection.communities
    new = com["community_id"].map(mapping).to_numpy(np.int64)
    com["community_id"] = new
    if "cypher" in com and len(com):
        parts = com["cypher"].astype(str).str.extract(_CYPHER_ID)
        ok = parts[0].notna().to_numpy()
        text = np.array(com["cypher"].astype(object).to_numpy(), dtype=object)  # writable
        text[ok] = (parts[0][ok] + pd.Series(new[ok], index=parts.index[ok]).astype(str)
                    + parts[1][ok]).to_numpy()
        com["cypher"] = text


def assign_stable_ids(detection: Detection,
                      previous_dir: str | Path | PreviousRun | None = None) -> IdInfo:
    """Give ``detection`` content-derived (or, with ``previous_dir``, carried-over) community
    ids in place; records ``community_ids`` (and, with a previous run, the change report) in
    the detection's manifest outputs."""
    from graphkit.investigate import changes as changes_mod

    settings = detection.settings
    acc = detection.accounts
    old = acc["community_id"].to_numpy(np.int64)
    prev = (previous_dir if isinstance(previous_dir, PreviousRun) or previous_dir is None
            else read_previous(previous_dir))
    ids, info = assign_ids(acc["account_id"], old,
                           previous=prev.accounts if prev is not None else None,
                           max_issued=prev.max_issued if prev is not None else -1,
                           min_jaccard=settings.stable_id_min_jaccard)
    mapping = pd.Series(ids, index=old)
    mapping = mapping[~mapping.index.duplicated()]
    relabel_detection(detection, mapping)
    extra = detection.extra_outputs
    extra["community_ids"] = {**info.summary(),
                              "previous": str(prev.path) if prev is not None else None,
                              "previous_run_id": prev.run_id if prev is not None else None}
    if prev is not None:
        report = changes_mod.compare(prev, detection.accounts, detection.communities, settings)
        detection.extra_tables["changes.csv"] = report.changes
        detection.extra_tables["changes_accounts.csv"] = report.accounts
        extra["changes"] = report.summary()
    return info


def print_changes(detection: Detection, echo) -> None:
    """The one-paragraph change summary ``detect --previous`` prints."""
    ids = detection.extra_outputs.get("community_ids", {})
    ch = detection.extra_outputs.get("changes")
    if not ch:
        return
    echo(f"since {ids.get('previous')}: kept {ids.get('kept_from_previous')} of "
         f"{ids.get('communities')} community ids; "
         + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in ch.items())
         + " (changes.csv, changes_accounts.csv)")


def initial_membership(account_ids: np.ndarray, previous: PreviousRun) -> np.ndarray:
    """A starting partition for Leiden: the previous run's community of each account, a
    singleton for each account the previous run did not have (codes 0..k-1)."""
    prev = previous.accounts.drop_duplicates("account_id").set_index("account_id")
    start = pd.Series(np.asarray(account_ids).astype(str)).map(prev["community_id"])
    missing = start.isna().to_numpy()
    values = np.array(start.to_numpy(dtype=np.float64), copy=True)  # writable
    top = np.nanmax(values) if (~missing).any() else -1
    values[missing] = top + 1 + np.arange(missing.sum())
    return _codes(values.astype(np.int64))[0]


__all__ = ["IdInfo", "PreviousRun", "assign_ids", "assign_stable_ids", "initial_membership",
           "match", "overlaps", "print_changes", "read_previous", "relabel_detection"]
