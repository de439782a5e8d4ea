"""Writing small hand-built logs for the end-to-end tests: events and accounts as CSV files with
ISO-8601 UTC timestamps, as a user's export would give them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ACCOUNT_COLUMNS = ["account_id", "created_at", "payment_id", "status"]


def write_log(tmp_path: Path, events: list[tuple], event_columns: list[str],
              accounts: list[tuple]) -> tuple[Path, Path]:
    """``events.csv`` (``event_columns``, ``ts`` formatted) and ``accounts.csv``
    (:data:`ACCOUNT_COLUMNS`, ``created_at`` formatted) in ``tmp_path``; their paths."""
    ev = pd.DataFrame(events, columns=event_columns)
    ev["ts"] = pd.to_datetime(ev["ts"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    acc = pd.DataFrame(accounts, columns=ACCOUNT_COLUMNS)
    acc["created_at"] = pd.to_datetime(acc["created_at"], utc=True).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    ev_path, acc_path = tmp_path / "events.csv", tmp_path / "accounts.csv"
    ev.to_csv(ev_path, index=False)
    acc.to_csv(acc_path, index=False)
    return ev_path, acc_path
