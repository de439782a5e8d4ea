"""Temporal synchrony: accounts that act in the same short windows again and again.

SynchroTrap and CopyCatch find lock-step behaviour by comparing users' action times. Comparing
all pairs is quadratic, so each account's set of active windows is summarised by a MinHash
signature; LSH proposes candidate pairs and the signatures estimate each pair's overlap.

The score is the *excess* overlap over what two independent accounts with the same activity
would share by chance, relative to the quieter account's activity (with a shrinkage prior, so a
couple of coincidences between low-volume accounts count for little):

    sync(a, b) = max(0, O - E) / (min(|W_a|, |W_b|) + shrinkage),  E = |W_a| |W_b| / T

Two always-on services are active in every window, so O == E and they are *not* synchronized;
a fleet firing load-balanced waves shares its wave windows far beyond chance.
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

    signature: np.ndarray  # n_accounts x k, uint64
    n_windows: np.ndarray  # active windows per account
    total_windows: int  # windows in the observed span (T)
    active: np.ndarray  # accounts with enough windows to take part

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
        jac = minhash.estimated_jaccard(self.signature, ii, jj).astype(np.float64)
        wa, wb = self.n_windows[ii].astype(np.float64), self.n_windows[jj].astype(np.float64)
        overlap = jac / (1.0 + jac) * (wa + wb)  # |A ∩ B| from Jaccard and the set sizes
        expected = wa * wb / max(self.total_windows, 1)
        excess = np.maximum(overlap - expected, 0.0) / (np.minimum(wa, wb) + settings.sync_shrinkage)
        out[both] = np.clip(excess, 0.0, 1.0)
        return out


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
    total = int(win.max() - win.min() + 1) if len(win) else 1
    active = n_windows >= settings.sync_min_windows
    keep = active[acc]
    sig = minhash.signatures(
        acc[keep], win[keep].astype(np.uint64), n_groups=n_accounts,
        k=settings.minhash_permutations, seed=settings.seed,
    )
    return WindowSignatures(sig, n_windows, total, active)
