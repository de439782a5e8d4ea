"""Temporal synchrony: accounts that act in the same short windows again and again.

SynchroTrap and CopyCatch find lock-step behaviour by comparing users' action times. Comparing
all pairs is quadratic, so each account's set of active windows is summarised by a MinHash
signature; LSH proposes candidate pairs and the signatures estimate each pair's overlap.

The score is the *excess* overlap over what two independent accounts would share by chance,
relative to the quieter account's activity (with a shrinkage prior, so a couple of coincidences
between low-volume accounts count for little):

    sync(a, b) = max(0, O - E) / (min(|W_a|, |W_b|) + shrinkage)

The chance overlap ``E`` is conditional on the hours both accounts were active: two people in
the same time zone are awake in the same hours, which is not lock-step. Within an hour the
windows are taken as independent and uniform:

    E = H_ab * (|W_a| / |H_a|) * (|W_b| / |H_b|) / windows_per_hour

where ``H_ab`` is the number of hours both were active (MinHash-estimated as well). Two
always-on services fill every window of their hours, so O == E and they are *not*
synchronized; a fleet firing load-balanced waves shares its wave windows far beyond chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from graphkit.detection import minhash
from graphkit.parallel import thread_map
from graphkit.settings import Settings


@dataclass
class WindowSignatures:
    """Per-account MinHash signatures of active time windows."""

    signature: np.ndarray  # n_accounts x k, uint32 (folded), over active windows
    n_windows: np.ndarray  # active windows per account
    hour_signature: np.ndarray  # n_accounts x k_h, uint32 (folded), over active hours
    n_hours: np.ndarray  # active hours per account
    windows_per_hour: float
    active: np.ndarray  # accounts with enough windows to take part
    clock_aligned: np.ndarray  # 0 (uniform seconds) .. 1 (all requests on one second-of-minute)

    def candidate_pairs(self, settings: Settings) -> np.ndarray:
        return minhash.lsh_candidate_pairs(
            self.signature, bands=settings.lsh_bands, active=self.active
        )

    def score(self, i: np.ndarray, j: np.ndarray, settings: Settings) -> np.ndarray:
        """Excess-overlap synchrony of pairs ``(i, j)`` in [0, 1] (0 when either is inactive)."""
        out = np.zeros(len(i), dtype=np.float32)
        both = self.active[i] & self.active[j]
        if not both.any():
            return out
        ii, jj = i[both], j[both]
        jac = _lower_bound(minhash.estimated_jaccard(self.signature, ii, jj),
                           self.signature.shape[1], settings.sync_jaccard_sd)
        wa, wb = self.n_windows[ii].astype(np.float64), self.n_windows[jj].astype(np.float64)
        overlap = jac / (1.0 + jac) * (wa + wb)  # |A ∩ B| from Jaccard and the set sizes
        jac_h = minhash.estimated_jaccard(self.hour_signature, ii, jj).astype(np.float64)
        ha, hb = self.n_hours[ii].astype(np.float64), self.n_hours[jj].astype(np.float64)
        both_hours = jac_h / (1.0 + jac_h) * (ha + hb)
        expected = both_hours * (wa / np.maximum(ha, 1)) * (wb / np.maximum(hb, 1)) \
            / self.windows_per_hour
        excess = np.maximum(overlap - expected, 0.0) / (np.minimum(wa, wb) + settings.sync_shrinkage)
        # Scheduled jobs fire on the wall clock (cron's :00), so two of them coincide without
        # any common control; the coincidence counts only as far as either one is not
        # clock-aligned.
        explained = np.sqrt(self.clock_aligned[ii] * self.clock_aligned[jj])
        out[both] = np.clip(excess * (1.0 - explained), 0.0, 1.0)
        return out


def _lower_bound(jaccard: np.ndarray, k: int, n_sd: float = 2.0) -> np.ndarray:
    """``n_sd``-standard-error lower bound of a k-slot MinHash Jaccard estimate.

    The estimate's noise (sd ~ sqrt(J (1 - J) / k)) would otherwise turn into spurious positive
    excess between accounts of very different activity; lock-step fleets have large J and lose
    little."""
    j = jaccard.astype(np.float64)
    sd = np.sqrt(np.maximum(j, 1.0 / k) * (1.0 - j) / k)
    return np.maximum(j - n_sd * sd, 0.0)


def account_times(con: duckdb.DuckDBPyConnection, account_codes: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(account code, epoch microseconds) of every event, as two int64 arrays.

    ``account_codes`` names a relation in ``con`` with columns ``account_id`` and
    ``account_idx``."""
    rows = con.execute(
        f"SELECT c.account_idx AS a, epoch_us(e.ts) AS t "
        f"FROM events e JOIN {account_codes} c USING (account_id)"
    ).fetchnumpy()
    return rows["a"].astype(np.int64), rows["t"].astype(np.int64)


def window_signatures(
    con: duckdb.DuckDBPyConnection, account_codes: str, n_accounts: int, settings: Settings,
    times: tuple[np.ndarray, np.ndarray] | None = None,
) -> WindowSignatures:
    """Signatures of each account's active ``sync_window_seconds`` windows.

    ``times`` is (account code, epoch microseconds) per event (see :func:`account_times`, which
    computes it from ``con`` and ``account_codes`` when not given). All numpy: the distinct
    (account, window) keys by one sort, then signatures, active hours and clock alignment.
    """
    acc_all, us = times if times is not None else account_times(con, account_codes)
    # First, while the window keys are not held: its per-event temporaries then add no peak.
    clock_aligned = clock_alignment(acc_all, us, n_accounts)
    win_all = us // (int(settings.sync_window_seconds) * 1_000_000)
    w0 = int(win_all.min()) if len(win_all) else 0
    # Distinct (account, window) keys, sorted: the group-min of the signatures below then
    # writes memory in order. Built in place: one per-event array besides the windows.
    span = int(win_all.max()) - w0 + 1 if len(win_all) else 1
    win_all -= w0
    if n_accounts * span < 2**32:  # a month of 90 s windows x 100k accounts fits 32 bits:
        key = acc_all.astype(np.uint32)  # half the bytes to sort
        key *= np.uint32(span)
        key += win_all.astype(np.uint32)
        del win_all
        key = minhash.sorted_unique(key, in_place=True)
        acc, win = (key // span).astype(np.int64), (key % span).astype(np.int64) + w0
    else:
        key = acc_all.astype(np.int64)
        key <<= 32
        key |= win_all
        del win_all
        key = minhash.sorted_unique(key, in_place=True)
        acc, win = key >> 32, (key & 0xFFFFFFFF) + w0
    del key
    return windows_signatures(acc, win, n_accounts, settings, clock_aligned)


def windows_signatures(acc: np.ndarray, win: np.ndarray, n_accounts: int, settings: Settings,
                       clock_aligned: np.ndarray, block: int = 1 << 16) -> WindowSignatures:
    """Signatures from the distinct (account code, window number) pairs, sorted by account.

    What :func:`window_signatures` computes once the events are reduced to their windows; the
    aggregate state (:mod:`graphkit.graph.state`) keeps exactly these pairs, so the synchrony
    stage runs the same from a merged state as from the events. Every account's signatures
    depend on its own windows only, so they are built ``block`` accounts at a time: the
    temporaries (64-bit signatures, hashes, hour keys) stay those of one block.
    """
    n_windows = np.bincount(acc, minlength=n_accounts)
    active = n_windows >= settings.sync_min_windows
    keep = active[acc]
    acc, win = acc[keep], win[keep]
    k = settings.minhash_permutations
    k_hours = max(k // 2, 8)
    sig = np.empty((n_accounts, k), np.uint32)
    hour_sig = np.empty((n_accounts, k_hours), np.uint32)
    n_hours = np.zeros(n_accounts, np.int64)
    # Active hours are numbered from the first one; a month is ~720 hours.
    first_hour = int(win.min()) * int(settings.sync_window_seconds) // 3600 if len(win) else 0
    cuts = np.searchsorted(acc, np.arange(0, n_accounts + block, block))

    def sign(lo: int) -> None:  # one block of accounts, vectorized; its rows only
        hi = min(lo + block, n_accounts)
        rows = slice(int(cuts[lo // block]), int(cuts[lo // block + 1]))
        a, w = acc[rows] - lo, win[rows]
        sig[lo:hi] = minhash.fold32(minhash.signatures(
            a, w.astype(np.uint64), n_groups=hi - lo, k=k, seed=settings.seed))
        h_acc, h_hour = _active_hours(a, w * int(settings.sync_window_seconds) // 3600
                                      - first_hour, hi - lo)
        hour_sig[lo:hi] = minhash.fold32(minhash.signatures(
            h_acc, h_hour.astype(np.uint64), n_groups=hi - lo, k=k_hours, seed=settings.seed + 1))
        n_hours[lo:hi] = np.bincount(h_acc, minlength=hi - lo)

    # Blocks on two threads (NumPy releases the GIL), each writing its own rows: twice one
    # block's temporaries, which stay below the graph stage's peak at a million accounts.
    thread_map(sign, range(0, n_accounts, block), workers=2)  # blocks of accounts, not accounts
    return WindowSignatures(sig, n_windows, hour_sig, n_hours,
                            3600.0 / settings.sync_window_seconds, active, clock_aligned)


def _active_hours(acc: np.ndarray, hour: np.ndarray, n_accounts: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (account, hour) pairs of the (account, hour) of each window, sorted."""
    span = int(hour.max()) + 1 if len(hour) else 1
    flat = acc * span + hour
    if n_accounts * span <= 8 * len(flat):  # a dense mask is smaller than the sorted keys
        seen = np.zeros(n_accounts * span, dtype=bool)
        seen[flat] = True
        h_flat = np.flatnonzero(seen)
        del seen
    else:  # many accounts over months of hours: a mask of every slot would not fit
        h_flat = minhash.sorted_unique(flat)
    return h_flat // span, h_flat % span


def clock_alignment(acc: np.ndarray, us: np.ndarray, n_accounts: int) -> np.ndarray:
    """1 - normalized entropy of each account's second-of-minute distribution.

    Requests of people and of load-balanced fleets land on every second of the minute; a
    scheduled job lands on the few seconds after its tick. Normalized by the largest entropy the
    account's request count allows, so small accounts are not called aligned for being small.
    """
    second = us // 1_000_000
    second %= 60
    h, n = bucket_entropy(acc, second, n_accounts, 60)
    return _alignment(h, n)


def clock_alignment_from_counts(counts: np.ndarray) -> np.ndarray:
    """:func:`clock_alignment` from an accounts x 60 matrix of requests per second of the
    minute (the aggregate state's ``seconds`` table)."""
    h, n = row_entropy(counts)
    return _alignment(h, n)


def _alignment(h: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        h = h / np.log(np.minimum(60.0, n))
    return np.where(n >= 2, np.clip(1.0 - np.nan_to_num(h, nan=1.0), 0.0, 1.0), 0.0)


def bucket_entropy(acc: np.ndarray, bucket: np.ndarray, n_accounts: int, n_buckets: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per account: the entropy (nats) of its events over ``n_buckets`` buckets (second of the
    minute, hour of the day, ...) and its number of events; one ``bincount`` over all events.

    Over the occupied buckets only, ``H = log n - sum_b c_b log c_b / n``: no dense float
    matrix of accounts x buckets (a million accounts x 60 seconds would take several GB of
    temporaries).

    >>> h, n = bucket_entropy(np.array([0, 0, 1, 1]), np.array([3, 3, 0, 5]), 2, 60)
    >>> h.round(4).tolist(), n.tolist()
    ([0.0, 0.6931], [2.0, 2.0])
    """
    key = acc.astype(np.int64)  # a copy, updated in place: one per-event temporary
    key *= n_buckets
    key += bucket
    counts = np.bincount(key, minlength=n_accounts * n_buckets)
    del key
    cell = np.flatnonzero(counts)
    c = counts[cell]
    del counts
    return _cell_entropy(cell // n_buckets, c, n_accounts)


def row_entropy(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a counts matrix: its entropy (nats) and its total (the same arithmetic as
    :func:`bucket_entropy`, so both give identical figures)."""
    row, col = np.nonzero(counts)
    return _cell_entropy(row, counts[row, col], counts.shape[0])


def _cell_entropy(row: np.ndarray, count: np.ndarray, n_rows: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Entropy and total per row from its occupied cells (row index, count > 0), in row order."""
    c = count.astype(np.float64)
    n = np.bincount(row, weights=c, minlength=n_rows)
    clogc = np.bincount(row, weights=c * np.log(c), minlength=n_rows)
    safe = np.maximum(n, 1.0)
    h = np.where(n > 0, np.log(safe) - clogc / safe, 0.0)
    return np.maximum(h, 0.0), n
