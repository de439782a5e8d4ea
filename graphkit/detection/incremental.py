"""Day-over-day detect: reuse the previous run's aggregate state, read only the new event files.

Every ``detect`` run on request events writes the mergeable aggregate state of its events
(:mod:`graphkit.graph.state`) into its result directory (``DIR/state/``, covered by the
manifest's file digests). ``detect --previous PREV`` on PREV's event files plus new ones then:

1. hashes the event files and compares the digests with those PREV's state covers
   (:func:`graphkit.graph.state.missing_digests`): the files it lacks are the new ones;
2. loads and validates only the new event files (with the accounts, seeds, identifiers and
   relations files, which are small and always read in full);
3. aggregates the new events (release windows counted from the merged first sightings of the
   models) and merges them into PREV's state;
4. rebuilds the ``accounts`` and ``templates`` tables from the merged state and builds the
   graph, the proxy signal, the synchrony signatures, the clock alignment, the hour-of-day
   entropy, the model releases and their traffic, and the activity of flagged accounts from the
   merged state (:class:`StateStages`), not from the events.

Everything after the aggregates (entity shares, candidate pairs, link scores, communities,
scoring, evidence, attribution, successions) is recomputed in full: it depends on corpus-wide
statistics that a new day changes. The outputs equal those of a full run on all the files
(``tests/test_incremental.py``).

When the state cannot be used the run is a full run, and the manifest's
``outputs.incremental.reason`` and the CLI say why: no state in PREV, a file of PREV changed or
is gone (a state cannot forget events), no new file, another synchrony window or release window,
settings that read the events beyond the state (declared identifier columns, identifiers
derived from IPs, ``unknown_accounts='error'`` with identifiers or relations), releases given
with ``--release``, or new events that move a release window counted in PREV (a model's first
sighting earlier than PREV's, or PREV's events inside the window of a model first seen now).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from graphkit.detection.activity import COLUMNS as ACTIVITY_COLUMNS
from graphkit.detection.activity import NO_MODEL, coded_activity, stored_activity
from graphkit.detection.features import AccountActivity, hour_vectors, traffic_from_rows
from graphkit.detection.synchrony import (
    WindowSignatures,
    clock_alignment_from_counts,
    row_entropy,
    windows_signatures,
)
from graphkit.errors import InputError
from graphkit.graph import state as state_mod
from graphkit.graph.hetero import HeteroGraph, build_graph
from graphkit.graph.state import (
    STATE_DIR,
    merge_aggregates,
    merge_saved_state,
    missing_digests,
    read_state_meta,
    save_state,
)
from graphkit.io import Dataset, load
from graphkit.io.files import resolve_files
from graphkit.io.manifest import describe_input
from graphkit.io.outputs import sha256_file
from graphkit.io.schema import ACCOUNT_COLUMNS
from graphkit.progress import Progress, quiet
from graphkit.settings import Settings

_EPOCH = dt.datetime(1970, 1, 1)
_TOTALS = ("n_events", "first_seen", "last_seen", "tokens_in", "tokens_out")


@dataclass
class EventState:
    """The aggregate state of every event file of a run, and how the run got it."""

    # The tables as DataFrames (an incremental run's merged state), or the directory a full run
    # spilled them to (graphkit.graph.state.spill_aggregates), kept until the run is written.
    aggregates: dict[str, pd.DataFrame] | Path
    digests: list[str]  # sha256 of each event file covered, in input order
    files: dict[str, dict[str, Any]]  # digest -> {"rows", "rejected"} as loaded
    window_seconds: int
    release_window_hours: float
    has_prompt: bool
    mode: str = "full"  # "incremental": PREV's state merged with the new files'
    reason: str | None = None  # why a run with --previous was a full run
    previous: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)  # reused files' manifest entries
    new_files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # rows per table of a spilled state
    _spill: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def incremental(self) -> bool:
        return self.mode == "incremental"

    @property
    def spilled(self) -> bool:
        """Whether the tables are Parquet files in a directory (a full run's state)."""
        return isinstance(self.aggregates, Path)

    def manifest(self) -> dict[str, Any]:
        """The manifest's ``outputs.incremental`` entry."""
        rows = (self.rows if isinstance(self.aggregates, Path)
                else {name: len(t) for name, t in self.aggregates.items()})
        out: dict[str, Any] = {"mode": self.mode, "state_rows": int(sum(rows.values()))}
        if self.previous is not None:
            out["previous"] = self.previous
        if self.reason is not None:
            out["reason"] = self.reason
        if self.incremental:
            out["event_files_reused"] = len(self.digests) - len(self.new_files)
            out["event_files_read"] = self.new_files
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the state to ``directory/state`` (:func:`graphkit.graph.state.save_state`)."""
        return save_state(directory, self.aggregates, self.digests, self.window_seconds,
                          {"release_window_hours": self.release_window_hours,
                           "has_prompt": self.has_prompt, "files": self.files})

    def hourly_activity(self, con: duckdb.DuckDBPyConnection, account_ids: pd.Series
                        ) -> pd.DataFrame | None:
        """:func:`graphkit.detection.activity.activity_table` (hourly) of the given accounts
        from a spilled state's ``activity`` table, read by ``con``; None for a state held as
        DataFrames (:meth:`StateStages.activity` reads those)."""
        if not self.spilled:
            return None
        coded = state_mod.coded_table(self.aggregates, "activity")
        if coded is not None and {"account_id", "model"} <= set(coded[1]):
            found = coded_activity(con, f"({coded[0]})", coded[1]["account_id"],
                                   coded[1]["model"], account_ids)
            if found is not None:
                return found
        return stored_activity(con, f"({state_mod.table_sql(self.aggregates, 'activity')})",
                               account_ids)

    def proxy_counts(self, con: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
        """Requests per account and proxy provider (``account_id, provider, n``) from a
        spilled state's ``proxy`` table, read by ``con`` (what
        :func:`graphkit.detection.signals.signal_matrices` takes as ``proxy_counts``: the
        events are not grouped again); None for a state held as DataFrames."""
        if not self.spilled:
            return None
        return con.sql(f"SELECT account_id, proxy_provider AS provider, n FROM "
                       f"({state_mod.table_sql(self.aggregates, 'proxy')})").df()

    def coded_edges(self) -> dict[str, str]:
        """The edge tables of a full run's spilled state over the loaded events' codes
        (:func:`graphkit.graph.state.coded_edge_relations`); none for other states."""
        return state_mod.coded_edge_relations(self.aggregates) if self.spilled else {}

    def release(self) -> None:
        """Remove a spilled state's temporary files (after the run is written); a state held
        as DataFrames has none."""
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None

    def event_inputs(self, loaded: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The manifest entries of every event file: the reused files' (from the state) and the
        ``loaded`` ones (the new files), in input order."""
        by_path = {e["path"]: e for e in loaded}
        return [by_path.get(e["path"], e) for e in self.inputs]


@dataclass
class Resume:
    """What ``detect --previous`` takes from the previous run's state: the merged state of an
    incremental run, or the reason the run is a full one."""

    state: EventState | None
    reason: str | None
    previous: str


def file_digest(entry: dict[str, Any]) -> str:
    """The sha256 of an input file from its manifest entry (hashed here when the entry has
    none: :func:`graphkit.io.manifest.describe_input` leaves big files unhashed)."""
    return entry.get("sha256") or sha256_file(Path(entry["path"]))


def full_state(dataset: Dataset, settings: Settings, inputs: dict[str, Any],
               resume: Resume | None = None) -> EventState:
    """The aggregate state of all of ``dataset``'s events (a full run's), for its result
    directory; ``inputs``: the run's input entries (:func:`graphkit.detection.pipeline.
    describe_inputs`)."""
    entries = inputs.get("events", [])
    digests = [file_digest(e) for e in entries]
    spill = tempfile.TemporaryDirectory(prefix="graphkit-state-")
    rows = state_mod.spill_aggregates(dataset.con, settings.sync_window_seconds,
                                      spill.name,
                                      release_window_hours=settings.model_release_window_hours)
    return EventState(Path(spill.name), digests, _file_rows(entries, digests),
                      settings.sync_window_seconds, settings.model_release_window_hours,
                      dataset.has_prompt, reason=resume.reason if resume else None,
                      previous=resume.previous if resume else None, rows=rows, _spill=spill)


def _file_rows(entries: list[dict[str, Any]], digests: list[str]) -> dict[str, dict[str, Any]]:
    return {d: {"rows": e.get("rows"), "rejected": e.get("rejected")}
            for e, d in zip(entries, digests, strict=True)}


def _settings_reason(settings: Settings, load_kwargs: dict[str, Any],
                     releases: dict[str, dt.datetime] | None) -> str | None:
    """Why these settings need every event read again (None: the state suffices)."""
    if settings.identifiers:
        return "declared identifier columns (--identifier) are read from the events"
    if settings.derive_ip_network or load_kwargs.get("asn") is not None:
        return "identifiers derived from the events' IPs (ip_network, asn) are not in the state"
    if settings.unknown_accounts == "error" and (load_kwargs.get("identifiers") is not None
                                                 or load_kwargs.get("relations") is not None):
        return "unknown_accounts='error' checks identifiers and relations against all events"
    if releases:
        return "model releases given with --release need the events around each release"
    if getattr(settings, "pseudonymize", None):
        return ("pseudonymized kinds (--pseudonymize): the state does not record the key its "
                "pseudonyms were made with")
    return None


def _plan(previous: str, files: list[Path], settings: Settings, load_kwargs: dict[str, Any],
          releases: dict[str, dt.datetime] | None
          ) -> str | tuple[dict[str, Any], list[str]]:
    """PREV's state.json and the digests of ``files``; or why a full run is needed."""
    reason = _settings_reason(settings, load_kwargs, releases)
    if reason is not None:
        return reason
    if not files:
        return "no event files"
    try:
        meta = read_state_meta(previous)
    except InputError as exc:
        return f"no usable aggregate state in the previous run ({exc})"
    if meta.get("window_seconds") != settings.sync_window_seconds:
        return (f"the synchrony window changed ({meta.get('window_seconds')} s in the state, "
                f"{settings.sync_window_seconds} s now)")
    if meta.get("release_window_hours") != settings.model_release_window_hours:
        return (f"the model release window changed ({meta.get('release_window_hours')} h in "
                f"the state, {settings.model_release_window_hours} h now)")
    digests = [sha256_file(p) for p in files]
    if len(set(digests)) < len(digests):
        return "two event files have the same content"
    missing = missing_digests(meta, digests)
    if missing is None:
        return "an event file of the previous run changed or is no longer among the inputs"
    if not missing:
        return "no new event files"
    return meta, digests


def load_incremental(events: Any, previous: str | os.PathLike[str], *,
                     settings: Settings | None = None,
                     releases: dict[str, dt.datetime] | None = None,
                     progress: Progress | None = None, **load_kwargs: Any
                     ) -> tuple[Dataset, Resume]:
    """Load a day-over-day run: only the event files ``previous``'s state does not cover.

    Parameters
    ----------
    events : path, glob, directory or a list of these
        Every event file of the run (the previous run's and the new ones), as
        :func:`graphkit.io.load` takes them.
    previous : path
        The previous run's result directory.
    settings : Settings, optional
        The run's settings (defaults: ``Settings()``).
    releases : dict, optional
        Model releases given by the investigator (they force a full run).
    progress : Progress, optional
        Receives the loading steps.
    **load_kwargs
        ``accounts``, ``seeds``, ``identifiers``, ``relations``, ``asn``, ``on_bad_rows``,
        ``rejects_path`` as :func:`graphkit.io.load` takes them.

    Returns
    -------
    (Dataset, Resume)
        The loaded dataset (the new event files only when ``resume.state`` is set, with the
        ``accounts`` and ``templates`` tables of the whole log; every event file otherwise) and
        what :func:`graphkit.detection.pipeline.detect` takes as ``resume``.
    """
    settings = settings or Settings()
    progress = progress or quiet()
    previous = os.fspath(previous)
    files = resolve_files(events) if events is not None else []
    with progress.step("load: previous state"):
        plan = _plan(previous, files, settings, load_kwargs, releases)
    if not isinstance(plan, str):
        meta, digests = plan
        covered = set(meta["digests"])
        new = [p for p, d in zip(files, digests, strict=True) if d not in covered]
        dataset = load(new, settings=settings, progress=progress, **load_kwargs)
        with progress.step("load: merge state"):
            merged = _resume(dataset, previous, meta, settings)
        if not isinstance(merged, str):
            merged.previous = previous
            merged.digests = digests
            merged.new_files = [os.fspath(p) for p in new]
            by_path = dict(zip(map(os.fspath, files), digests, strict=True))
            loaded = [f for f in dataset.files if f.role == "events"]
            merged.files = {**meta.get("files", {}), **_file_rows(
                [{"rows": f.rows, "rejected": f.rejected} for f in loaded],
                [by_path[f.path] for f in loaded])}
            merged.inputs = [
                {**describe_input(p, sha256=d), **meta.get("files", {}).get(d, {})}
                for p, d in zip(files, digests, strict=True)]
            return dataset, Resume(merged, None, previous)
        plan = merged
        dataset.con.close()
    dataset = load(events, settings=settings, progress=progress, **load_kwargs)
    return dataset, Resume(None, plan, previous)


def _register(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame) -> str:
    """Register ``df`` as view ``name`` with its text columns typed VARCHAR (an empty pandas
    column of strings has no type)."""
    con.register(f"{name}_raw", df)
    cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" if df[c].dtype == object else c
                     for c in df.columns)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cols} FROM {name}_raw")
    return name


def _release_reason(models: pd.DataFrame, last: Any, starts: pd.DataFrame) -> str | None:
    """Why the previous state's release-window counts (of its ``models``, its last event at
    ``last``) do not hold with the merged first sightings ``starts`` (None: they hold)."""
    prev = models.set_index("model")["first_seen"]
    now = starts.set_index("model")["first_seen"]
    kept = now.reindex(prev.index)
    if (kept != prev).any():
        return "the new files hold a model's first sighting before the previous run's"
    fresh = now[~now.index.isin(prev.index)]
    if len(fresh) and last is not None and not pd.isna(last) and (fresh <= last).any():
        return ("the release window of a model first seen in the new files holds events of "
                "the previous run's files")
    return None


def _resume(dataset: Dataset, previous: str, meta: dict[str, Any],
            settings: Settings) -> EventState | str:
    """Merge the new files' aggregates into the state saved in ``previous`` and rebuild the
    ``accounts`` and ``templates`` tables of ``dataset.con`` for the whole log; or why that is
    not exact."""
    con = dataset.con
    src = Path(previous) / STATE_DIR
    models = pd.read_parquet(src / "models.parquet")
    own = con.execute("SELECT model, min(ts) AS first_seen FROM events WHERE model IS NOT NULL "
                      "GROUP BY ALL").df()
    starts = merge_aggregates({"models": models}, {"models": own})["models"]
    last = con.execute("SELECT max(last_seen) FROM read_parquet(?)",
                       [str(src / "accounts.parquet")]).fetchall()[0][0]
    reason = _release_reason(models, last, starts)
    if reason is not None:
        return reason
    merged = merge_saved_state(con, previous, settings.sync_window_seconds,
                               settings.model_release_window_hours, starts)
    _rebuild_tables(dataset, merged)
    return EventState(merged, [], {}, settings.sync_window_seconds,
                      settings.model_release_window_hours,
                      bool(meta.get("has_prompt")) or dataset.has_prompt, mode="incremental")


def _rebuild_tables(dataset: Dataset, merged: dict[str, pd.DataFrame]) -> None:
    """Tables ``accounts`` (every account of the whole log, totals from the merged state, as
    :func:`graphkit.io.load` numbers them) and ``templates`` of ``dataset.con``."""
    con = dataset.con
    totals = _register(con, "_gk_state_accounts", merged["accounts"])
    attrs = [c for c in ACCOUNT_COLUMNS if c != "account_id"]
    con.execute(
        "CREATE OR REPLACE TABLE accounts AS WITH side AS (SELECT account_id, "
        f"{', '.join(attrs)} FROM accounts), ev AS (SELECT * FROM {totals}) "
        "SELECT CAST(row_number() OVER (ORDER BY account_id) - 1 AS INTEGER) AS account_idx, "
        "account_id, " + ", ".join(f"side.{c}" for c in attrs) + ", "
        "coalesce(ev.n_events, 0) AS n_events, ev.first_seen, ev.last_seen, "
        "coalesce(ev.tokens_in, 0) AS tokens_in, coalesce(ev.tokens_out, 0) AS tokens_out "
        "FROM ev FULL OUTER JOIN side USING (account_id) ORDER BY account_idx")
    templates = _register(con, "_gk_state_templates", merged["templates"])
    con.execute("CREATE OR REPLACE TABLE templates AS SELECT template_hash, template_text, "
                f"CAST(n_events AS BIGINT) AS n_events FROM {templates} ORDER BY template_hash")
    dataset.accounts = con.execute(
        f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts ORDER BY account_idx").df()


class StateStages:
    """The event-level stages of ``detect`` computed from a merged aggregate state instead of
    the events: each gives what its event-reading counterpart gives on all the events."""

    def __init__(self, state: EventState) -> None:
        self.state = state
        self.aggregates = state.aggregates

    def graph(self, dataset: Dataset, sources: list[str]) -> HeteroGraph:
        """:func:`graphkit.graph.hetero.build_graph` from the state's edge tables."""
        con = dataset.con
        names = {name.removeprefix("edges_"): _register(con, f"_gk_state_{name}", df)
                 for name, df in self.aggregates.items() if name.startswith("edges_")}
        graph = build_graph(dataset, aggregates=names)
        graph.meta["sources"] = sources
        return graph

    def _codes(self, graph: HeteroGraph, ids: pd.Series) -> np.ndarray:
        return pd.Index(graph.accounts["account_id"]).get_indexer(ids)

    def _per_account(self, graph: HeteroGraph, table: str, col: str, n_buckets: int
                     ) -> np.ndarray:
        """Accounts x ``n_buckets`` counts of table ``table`` (bucket column ``col``)."""
        t = self.aggregates[table]
        out = np.zeros((len(graph.accounts), n_buckets), np.int64)
        np.add.at(out, (self._codes(graph, t["account_id"]), t[col].to_numpy(np.int64)),
                  t["n"].to_numpy(np.int64))
        return out

    def window_signatures(self, graph: HeteroGraph, settings: Settings) -> WindowSignatures:
        """:func:`graphkit.detection.synchrony.window_signatures` from the distinct (account,
        window) pairs and the seconds-of-minute counts."""
        w = self.aggregates["windows"]
        acc = self._codes(graph, w["account_id"]).astype(np.int64)
        win = w["win"].to_numpy(np.int64)
        order = np.lexsort((win, acc))
        return windows_signatures(acc[order], win[order], len(graph.accounts), settings,
                                  clock_alignment_from_counts(
                                      self._per_account(graph, "seconds", "second", 60)))

    def model_releases(self, settings: Settings) -> dict[str, dt.datetime]:
        """:func:`graphkit.detection.features.model_releases` from the first sightings."""
        models = self.aggregates["models"]
        if not len(models):
            return {}
        start = pd.Timestamp(self.aggregates["accounts"]["first_seen"].min())
        after = pd.Timedelta(microseconds=int(settings.release_after_start_hours * 3600
                                              * 1_000_000))
        rel = models[models["first_seen"] >= start + after].sort_values(
            ["first_seen", "model"], kind="stable")
        us = rel["first_seen"].astype("datetime64[us]").astype(np.int64).to_numpy()
        return {str(m): _EPOCH + dt.timedelta(microseconds=int(t))
                for m, t in zip(rel["model"], us, strict=True)}  # a handful of models

    def proxy_counts(self) -> pd.DataFrame:
        """Requests per account and proxy provider (``account_id, provider, n``), what
        :func:`graphkit.detection.signals.signal_matrices` takes as ``proxy_counts``."""
        return self.aggregates["proxy"].rename(columns={"proxy_provider": "provider"})

    def account_activity(self, graph: HeteroGraph, releases: dict[str, dt.datetime]
                         ) -> AccountActivity:
        """:func:`graphkit.detection.features.account_activity` from the state (counted in
        the state's release windows)."""
        n = len(graph.accounts)
        proxy = self.aggregates["proxy"]
        proxy_events = np.bincount(self._codes(graph, proxy["account_id"]),
                                   weights=proxy["n"].to_numpy(np.float64), minlength=n)
        hours = self._per_account(graph, "hours", "hour", 24)
        hour_entropy = row_entropy(hours)[0] / np.log(24)
        rel = self.aggregates["releases"].rename(columns={"model": "release"})
        traffic = traffic_from_rows(rel, pd.Index(graph.accounts["account_id"]),
                                    tuple(releases))
        return AccountActivity(proxy_events, hour_entropy, traffic, hour_vectors(hours))

    def activity(self, account_ids: pd.Series) -> pd.DataFrame:
        """:func:`graphkit.detection.activity.activity_table` (hourly) from the state."""
        act = self.aggregates["activity"]
        act = act[act["account_id"].isin(set(account_ids))]
        act = act.assign(model=act["model"].fillna(NO_MODEL).astype(str))
        out = (act.groupby(["account_id", "bucket", "model"], sort=True)["n"].sum()
               .astype(np.int64).reset_index())
        out["bucket"] = pd.to_datetime(out["bucket"]).astype("datetime64[us]")
        return out[list(ACTIVITY_COLUMNS)].reset_index(drop=True)


__all__ = ["EventState", "Resume", "StateStages", "file_digest", "full_state",
           "load_incremental"]
