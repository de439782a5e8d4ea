"""Sign-up cohorts: accounts created together on the same rare client, as one shared value.

A fleet that pays with a card per account, sends its own prompts and spreads over residential
addresses still signs its accounts up in batches, from its own tooling: dozens of accounts
created within the hour whose requests carry the same client (user agent). Each account shares
nothing else with the others; the batch is the tie. Legitimate users sign up together too (a
class, a hackathon, an office's onboarding), but on the browsers and SDKs everyone uses, where
a batch is no more than the client's share of the hour's sign-ups.

A *cohort* is one client in one sign-up window of ``cohort_window_hours``: the accounts whose
main client (the user agent of at least ``cohort_client_share`` of their requests) is that
client and that were created in that window. An account rotating user agents runs no one
client and is in no cohort: two fleets signing up on one SDK in the same hours (the simulator's
proxy reseller rotates five user agents, the lab next to it runs one of them) are not tied by
it. Windows are laid twice, the second shifted by half a window, so that a batch
straddling a boundary is whole in one of them. A cohort is kept when it holds at least
``cohort_min_accounts`` accounts and ``cohort_lift`` times what the client's share of all
accounts and the window's sign-ups give (``k >= lift * users(client) * signups(window) / N``):
a popular browser's cohort never is, a custom tool's batch is.

A kept cohort is a value its accounts share, like a card (:func:`cohort_incidence` feeds
:func:`graphkit.detection.links.signal_matrix` as the ``cohort`` signal of
:data:`graphkit.registry.DERIVED_SIGNALS`), so link scoring, communities and the cut treat it
as they treat any shared value. It says the accounts were made together, not what they do:
the cut still needs a second coordination fact and the purpose test what extraction takes.

>>> import scipy.sparse as sp
>>> ua = sp.csr_matrix(np.array([[5, 0], [4, 1], [6, 0], [0, 3], [0, 2], [0, 7]]))
>>> created = pd.Series(pd.to_datetime(["2026-09-01T10:50Z", "2026-09-01T11:10Z",
...     "2026-09-01T11:30Z", "2026-09-01T10:10Z", "2026-03-01T00:00Z", "2026-05-01T00:00Z"]))
>>> s = Settings(cohort_min_accounts=3, cohort_lift=1.5)
>>> counts, keys = cohort_incidence(ua, created, np.array(["tool/1", "Chrome"]), s)
>>> counts.shape, counts.getnnz(axis=0).tolist(), sorted(set(keys))
((6, 1), [3], ['tool/1 @ 2026-09-01T10:00Z'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.settings import Settings


def main_client(ua_counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per account, the column of its most used client (the lowest on a tie; -1 for none) and
    that client's share of the account's requests that name one.

    >>> col, share = main_client(sp.csr_matrix(np.array([[0, 2, 2], [0, 0, 0], [3, 1, 0]])))
    >>> col.tolist(), share.tolist()
    ([1, -1, 0], [0.5, 0.0, 0.75])
    """
    csr = sp.csr_matrix(ua_counts, copy=True)
    csr.sum_duplicates()
    csr.sort_indices()  # the first maximum of a row is then its lowest column
    n = csr.shape[0]
    out = np.full(n, -1, np.int64)
    share = np.zeros(n)
    nnz = np.diff(csr.indptr)
    rows = np.flatnonzero(nnz > 0)
    if len(rows) == 0:
        return out, share
    data = csr.data.astype(float)
    peak = np.maximum.reduceat(data, csr.indptr[rows])
    total = np.add.reduceat(data, csr.indptr[rows])
    owner = np.repeat(np.arange(len(rows)), nnz[rows])
    at_peak = np.flatnonzero(data == peak[owner])
    _, first = np.unique(owner[at_peak], return_index=True)
    out[rows] = csr.indices[at_peak[first]]
    share[rows] = peak / total
    return out, share


def cohort_incidence(ua_counts: sp.csr_matrix, created_at: pd.Series, client_keys: np.ndarray,
                     settings: Settings) -> tuple[sp.csr_matrix, np.ndarray]:
    """Accounts x kept cohorts (module docstring), each account's entry 1, and the cohorts'
    keys (``client @ window start``, UTC).

    Parameters
    ----------
    ua_counts : scipy.sparse.csr_matrix
        Accounts x clients, requests.
    created_at : pandas.Series
        Per account, its creation time (missing: in no cohort).
    client_keys : numpy.ndarray
        The clients' names, one per column of ``ua_counts``.
    settings : Settings
        ``cohort_window_hours``, ``cohort_min_accounts``, ``cohort_lift``,
        ``cohort_client_share``.

    Returns
    -------
    (scipy.sparse.csr_matrix, numpy.ndarray)
    """
    n = ua_counts.shape[0]
    client, share = main_client(ua_counts)
    # An account rotating user agents runs no one client: it is in no cohort.
    client[share < settings.cohort_client_share] = -1
    created = pd.to_datetime(created_at, utc=True, errors="coerce")
    secs = ((created - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
            .to_numpy(np.float64, na_value=np.nan))
    acct = np.flatnonzero((client >= 0) & created.notna().to_numpy())
    if len(acct) == 0:
        return sp.csr_matrix((n, 0)), np.empty(0, dtype=object)
    width = settings.cohort_window_hours * 3600.0
    users = np.bincount(client[acct], minlength=ua_counts.shape[1]).astype(float)
    layings = [_kept_cells(client[acct], np.floor(secs[acct] / width + phase).astype(np.int64),
                           users, settings) for phase in (0.0, 0.5)]  # two layings
    # Each account in one cohort at most: the larger of its two cells (the plain laying on a
    # tie), so a batch that both layings hold whole is one cohort, not two.
    size = np.column_stack([np.where(c >= 0, k[np.maximum(c, 0)], 0) for c, k, _ in layings])
    pick = (size[:, 1] > size[:, 0]).astype(np.int64)
    cell = np.where(pick == 1, layings[1][0], layings[0][0])
    n_plain = len(layings[0][1])
    code = np.where(cell >= 0, cell + pick * n_plain, -1)  # both layings' cells, apart
    # A cell whose accounts mostly went to the other laying's keeps too few: dropped.
    held = np.bincount(code[code >= 0], minlength=n_plain + len(layings[1][1]))
    member = (code >= 0) & (held[np.maximum(code, 0)] >= settings.cohort_min_accounts)
    used, inverse = np.unique(code[member], return_inverse=True)
    cells = np.vstack([layings[0][2], layings[1][2]])[used]
    start = pd.to_datetime((cells[:, 1] - 0.5 * (used >= n_plain)) * width, unit="s", utc=True)
    names = (pd.Series(np.asarray(client_keys, dtype=object)[cells[:, 0]], dtype=str)
             + " @ " + start.strftime("%Y-%m-%dT%H:%MZ")).to_numpy(dtype=object)
    rows = acct[member]
    return (sp.csr_matrix((np.ones(len(rows)), (rows, inverse.ravel())), shape=(n, len(names))),
            names)


def _kept_cells(client: np.ndarray, window: np.ndarray, users: np.ndarray, settings: Settings
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One laying's (client, window) cells: per account its kept cell (-1: none), each cell's
    accounts, and the cells as (client, window) rows.

    A cell is kept when it holds ``cohort_min_accounts`` accounts, ``cohort_lift`` times what
    the client's share of the window's sign-ups gives, and ``cohort_own_lift`` times the
    client's own sign-ups per window over the ``cohort_context_days`` around it (the cell
    left out): a batch, not the steady uptake of a new release of a client.
    """
    w_codes, w_inv, signups = np.unique(window, return_inverse=True, return_counts=True)
    w_inv = w_inv.ravel()
    cell_key, inverse, k = np.unique(client.astype(np.int64) * len(w_codes) + w_inv,
                                     return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    c_client, c_win = cell_key // len(w_codes), cell_key % len(w_codes)
    cells = np.column_stack([c_client, w_codes[c_win]])
    expected = users[c_client] * signups[c_win] / len(client)
    own = _own_rate(cells, k, settings)
    keep = ((k >= settings.cohort_min_accounts) & (k >= settings.cohort_lift * expected)
            & (k >= settings.cohort_own_lift * own))
    kept_cell = np.where(keep[inverse], inverse, -1)
    return kept_cell, k, cells


def _own_rate(cells: np.ndarray, k: np.ndarray, settings: Settings) -> np.ndarray:
    """Per cell (sorted by client, then window), its client's sign-ups per window over the
    ``cohort_context_days`` either side, the cell's own left out."""
    per_day = 24.0 / settings.cohort_window_hours
    span = int(np.ceil(settings.cohort_context_days * per_day))
    client, window = cells[:, 0], cells[:, 1] - cells[:, 1].min()
    stride = int(window.max()) + 2 * span + 1  # windows of one client stay below the next's
    key = client * stride + window  # sorted, as the cells are (client, then window)
    cum = np.r_[0, np.cumsum(k)]
    left = np.searchsorted(key, key - span, side="left")
    right = np.searchsorted(key, key + span, side="right")
    around = cum[right] - cum[left] - k
    return around / (2.0 * span)
