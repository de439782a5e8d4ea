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

from graphkit import minhash
from graphkit.settings import Settings


@dataclass
class WindowSignatures:
    """Per-account MinHash signatures of active time windows."""

    signature: np.ndarray  # n_accounts x k, uint64, over active windows
    n_windows: np.ndarray  # active windows per account
    hour_signature: np.ndarray  # n_accounts x k_h, uint64, over active hours
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
                           self.signature.shape[1])
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


def _lower_bound(jaccard: np.ndarray, k: int) -> np.ndarray:
    """Two-standard-error lower bound of a k-slot MinHash Jaccard estimate.

    The estimate's noise (sd ~ sqrt(J (1 - J) / k)) would otherwise turn into spurious positive
    excess between accounts of very different activity; lock-step fleets have large J and lose
    little."""
    j = jaccard.astype(np.float64)
    sd = np.sqrt(np.maximum(j, 1.0 / k) * (1.0 - j) / k)
    return np.maximum(j - 2.0 * sd, 0.0)


def window_signatures(
    con: duckdb.DuckDBPyConnection, account_codes: str, n_accounts: int, settings: Settings
) -> WindowSignatures:
    """Signatures of each account's active ``sync_window_seconds`` windows.

    ``account_codes`` names a relation in ``con`` with columns ``account_id`` and ``account_idx``.
    The distinct (account, window) pairs are computed in DuckDB; only they reach numpy.
    """
    rows = con.execute(
        f"""
        SELECT c.account_idx AS a, (epoch(e.ts)::BIGINT // $w) AS win
        FROM events e JOIN {account_codes} c USING (account_id)
        GROUP BY ALL
        """,
        {"w": int(settings.sync_window_seconds)},
    ).fetchnumpy()
    acc = rows["a"].astype(np.int64)
    win = rows["win"].astype(np.int64)
    n_windows = np.bincount(acc, minlength=n_accounts)
    active = n_windows >= settings.sync_min_windows
    keep = active[acc]
    acc, win = acc[keep], win[keep]
    sig = minhash.signatures(acc, win.astype(np.uint64), n_groups=n_accounts,
                             k=settings.minhash_permutations, seed=settings.seed)
    # Active hours per account: distinct (account, hour) keys, sort-based.
    hour = win * int(settings.sync_window_seconds) // 3600
    key = minhash.sorted_unique((acc << 32) | (hour - (hour.min() if len(hour) else 0)))
    h_acc, h_hour = key >> 32, key & 0xFFFFFFFF
    hour_sig = minhash.signatures(h_acc, h_hour.astype(np.uint64), n_groups=n_accounts,
                                  k=max(settings.minhash_permutations // 2, 8),
                                  seed=settings.seed + 1)
    n_hours = np.bincount(h_acc, minlength=n_accounts)
    return WindowSignatures(sig, n_windows, hour_sig, n_hours,
                            3600.0 / settings.sync_window_seconds, active,
                            _clock_alignment(con, account_codes, n_accounts))


def _clock_alignment(con: duckdb.DuckDBPyConnection, account_codes: str,
                     n_accounts: int) -> np.ndarray:
    """1 - normalized entropy of each account's second-of-minute distribution.

    Requests of people and of load-balanced fleets land on every second of the minute; a
    scheduled job lands on the few seconds after its tick. Normalized by the largest entropy the
    account's request count allows, so small accounts are not called aligned for being small.
    """
    rows = con.execute(
        f"""
        WITH s AS (
            SELECT c.account_idx AS a, second(e.ts) AS sec, count(*) AS k
            FROM events e JOIN {account_codes} c USING (account_id) GROUP BY ALL
        ), t AS (SELECT a, sec, k, sum(k) OVER (PARTITION BY a) AS n FROM s)
        SELECT a, -sum((k / n) * ln(k / n)) / ln(least(60, max(n))) AS h
        FROM t GROUP BY a HAVING max(n) >= 2
        """
    ).fetchnumpy()
    out = np.zeros(n_accounts)
    out[rows["a"].astype(np.int64)] = np.clip(1.0 - rows["h"].astype(np.float64), 0.0, 1.0)
    return out
