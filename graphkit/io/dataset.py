"""Validated ingestion of API request logs into DuckDB (the data contract: docs/data-contract.md).

:func:`load` reads event files (CSV, CSV.gz, Parquet, JSON Lines; a file, a glob or a directory),
an optional accounts file and an optional seeds file, validates them at this boundary only and
returns a :class:`Dataset` whose DuckDB connection owns the typed ``events`` table. Later stages
trust these types.

Validation runs as set operations in DuckDB: one aggregate pass per file counts bad rows and the
offending rows are only looked up when a count is non-zero. By default the first bad row raises a
located :class:`graphkit.errors.InputError`; ``on_bad_rows="skip"`` drops bad rows, counts them
per reason and writes them verbatim to ``rejects_path``.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "events.csv").write_text(
...     "account_id,ts,ip,prompt\\n"
...     "a1,2024-05-01T10:00:00Z,10.0.0.1,Summarize ticket 4411\\n"
...     "a2,2024-05-01 12:00:00+02:00,2001:db8::1,summarize ticket 97\\n")
>>> ds = load(d / "events.csv")
>>> ds.n_events, list(ds.accounts["account_id"])
(2, ['a1', 'a2'])
>>> ds.con.execute("SELECT count(DISTINCT template_hash) FROM events").fetchall()[0][0]
1
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from graphkit.errors import ConfigError, InputError
from graphkit.io import identifiers as ids_mod
from graphkit.io import relations as rel_mod
from graphkit.io import templates
from graphkit.io.accounts import _build_accounts, _load_side
from graphkit.io.arrays import EventArrays, event_arrays
from graphkit.io.coded import CODED_EVENTS, _fast_parquet_events, drop_events
from graphkit.io.derived import read_asn
from graphkit.io.events import _load_events
from graphkit.io.files import resolve_files
from graphkit.io.pseudonyms import pseudonym_key, pseudonymize_tables
from graphkit.io.schema import (
    ACCOUNT_COLUMNS,
    EVENT_COLUMNS,
    SEED_COLUMNS,
    OnBadRows,
    RejectSummary,
    SourceFile,
)
from graphkit.io.validation import _Loader, _write_rejects
from graphkit.progress import Progress, quiet
from graphkit.settings import Settings

PathLike = str | os.PathLike[str]


@dataclass
class Dataset:
    """Validated input, owned by a DuckDB connection.

    ``con`` holds tables ``events`` (canonical columns, see :data:`EVENT_COLUMNS`, then
    ``prompt`` when given, then extra input columns as read), ``accounts`` (``account_idx``
    0..n-1 in :attr:`accounts` order, the accounts-file attributes and per-account totals
    ``n_events``, ``first_seen``, ``last_seen``, ``tokens_in``, ``tokens_out``), ``templates``
    (``template_hash``, ``template_text``, ``n_events``; the normalized text of each derived
    template), and ``seeds`` when given. Join events to account codes with
    ``events JOIN accounts USING (account_id)``.
    """

    con: duckdb.DuckDBPyConnection
    accounts: pd.DataFrame
    seeds: pd.DataFrame | None
    files: list[SourceFile]
    rejects: RejectSummary
    extra_columns: list[str]
    has_prompt: bool
    coded: bool = False  # events are integer codes in ``_events_coded`` + ``_dict_<column>``
    coded_events: pa.Table | None = field(default=None, repr=False)  # ``_events_coded`` itself
    # Kinds in table ``identifiers`` (declared columns, identifiers file, derived values) and
    # in table ``relations`` (the relations file); see graphkit.io.identifiers / relations.
    identifier_kinds: list[str] = field(default_factory=list)
    relation_kinds: list[str] = field(default_factory=list)
    has_events: bool = True  # False: no request log was given (stages needing events skip)

    @property
    def n_events(self) -> int:
        """Number of loaded events."""
        row = self.con.execute("SELECT count(*) FROM events").fetchall()[0]
        return int(row[0]) if row else 0

    def events(self, limit: int | None = None) -> pd.DataFrame:
        """The events table as a DataFrame (for small data and tests)."""
        sql = "SELECT * FROM events" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return self.con.execute(sql).df()

    def event_arrays(self) -> EventArrays:
        """Per-event numpy columns for vectorized per-account features (see
        :class:`EventArrays`). Coded Parquet input is read straight from its Arrow columns,
        without decoding ids or copying timestamps; other input goes through one DuckDB query."""
        return event_arrays(self)

    def release_events(self) -> None:
        """Drop the loaded events (the ``events`` relation and, on the coded path, the coded
        Arrow table it reads) to free their memory once no stage reads them any more.

        The dataset still says it has events (:attr:`has_events`): the stages that needed
        them have run. The accounts, templates, identifiers and seeds stay; the events
        themselves (:attr:`n_events`, :meth:`events`, :meth:`event_arrays`) are gone.

        Examples
        --------
        >>> from graphkit.io import load
        >>> ds = load("fixtures/sim-small/events.parquet")
        >>> ds.release_events()
        >>> ds.coded_events is None, ds.has_events, len(ds.accounts) > 0
        (True, True, True)
        """
        drop_events(self.con, self.coded)
        self.coded_events = None


def _build_templates(con: duckdb.DuckDBPyConnection, has_prompt: bool, coded: bool) -> None:
    """Table ``templates``: the normalized text of each template (for near-duplicate search)."""
    if coded:
        con.execute(
            "CREATE OR REPLACE TABLE templates AS SELECT d.value AS template_hash, "
            "CAST(NULL AS VARCHAR) AS template_text, g.n_events FROM (SELECT template_hash AS "
            f"code, count(*) AS n_events FROM {CODED_EVENTS} WHERE template_hash IS NOT NULL "
            "GROUP BY 1) g JOIN _dict_template_hash d USING (code) ORDER BY template_hash")
    elif has_prompt:
        # All prompts under one derived hash normalize to the same text, so normalizing one
        # representative per hash is exact and costs one regexp pass per template, not per event.
        con.execute(
            "CREATE OR REPLACE TABLE templates AS SELECT template_hash, "
            f"{templates.normalize_sql('any_value(prompt)')} AS template_text, "
            "count(*) AS n_events FROM events WHERE template_hash IS NOT NULL "
            "GROUP BY template_hash ORDER BY template_hash")
    else:
        con.execute("CREATE OR REPLACE TABLE templates AS SELECT template_hash, "
                    "CAST(NULL AS VARCHAR) AS template_text, count(*) AS n_events FROM events "
                    "WHERE template_hash IS NOT NULL GROUP BY template_hash "
                    "ORDER BY template_hash")


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up the way graphkit expects (UTC, all cores)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # graphkit draws its own progress
    con.execute(f"SET threads = {int(threads or os.cpu_count() or 1)}")
    # DuckDB's allocator (jemalloc on Linux) keeps the pages its queries freed until a
    # background thread purges them: without one, 0.9 GB freed by the graph's queries at a
    # million accounts stayed resident under every later stage's peak.
    con.execute("SET allocator_background_threads = true")
    return con


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the loader's temporary tables (``_stage*``, ``_accounts``, ``_seeds``,
    ``_ids_*``): once the typed tables are built no stage reads them, and at a million
    accounts they hold about 200 MB."""
    names = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary AND "
                        "starts_with(table_name, '_')").fetchall()
    for (name,) in names:
        con.execute(f'DROP TABLE "{name}"')


def _load_seeds(loader: _Loader, seeds: PathLike, files: list[SourceFile]) -> pd.DataFrame:
    """Load the seeds file into table ``seeds``; returns it as a DataFrame."""
    seed_file, _ = _load_side(loader, Path(seeds), "seeds", SEED_COLUMNS, ("account_id", "actor"))
    files.append(seed_file)
    loader.con.execute("CREATE OR REPLACE TABLE seeds AS SELECT * FROM _seeds")
    return loader.con.execute("SELECT * FROM seeds").df()


@dataclass(frozen=True)
class _SideInputs:
    """The optional inputs beyond events, accounts and seeds, and the settings that read them."""

    identifiers: PathLike | None = None
    relations: PathLike | None = None
    asn: PathLike | None = None
    settings: Settings = field(default_factory=Settings)


def _read_inputs(con: duckdb.DuckDBPyConnection, event_files: list[Path],
                 accounts: PathLike | None, seeds: PathLike | None, on_bad_rows: OnBadRows,
                 progress: Progress, side: _SideInputs
                 ) -> tuple[_Loader, list[SourceFile], pa.Table | None, pd.DataFrame | None]:
    """Read and validate every input file into ``con`` (staging files in a temporary
    directory): the loader with its rejects, the files read, the coded events (fast path) and
    the seeds."""
    declared = side.settings.identifiers
    with tempfile.TemporaryDirectory(prefix="graphkit-") as tmp:
        loader = _Loader(con, on_bad_rows, Path(tmp))
        # Declared columns are read on the row path (the coded path keeps canonical columns).
        fast = (_fast_parquet_events(con, event_files, progress)
                if event_files and not declared else None)
        coded_events = fast[1] if fast is not None else None
        files = fast[0] if fast is not None else _load_events(
            loader, event_files, progress, ids_mod.column_aliases(declared))
        seeds_df: pd.DataFrame | None = None
        with progress.step("accounts"):
            if accounts is not None:
                spec = {**ACCOUNT_COLUMNS, **{c: "VARCHAR" for c in
                                              ids_mod.declared_columns(declared)}}
                acc_file, _ = _load_side(loader, Path(accounts), "accounts", spec,
                                         ("account_id",))
                files.append(acc_file)
            if seeds is not None:
                seeds_df = _load_seeds(loader, seeds, files)
        with progress.step("identifiers and relations"):
            if side.identifiers is not None:
                files.append(ids_mod.load_identifiers_file(loader, Path(side.identifiers)))
            if side.relations is not None:
                files.append(rel_mod.load_relations_file(loader, Path(side.relations)))
    return loader, files, coded_events, seeds_df


def _side_accounts(con: duckdb.DuckDBPyConnection, side: _SideInputs, has_events: bool,
                   has_accounts: bool) -> str | None:
    """SQL of account ids only the identifiers or relations file names (None when there are
    none); raises under ``unknown_accounts="error"``."""
    sources = []
    if side.identifiers is not None:
        sources.append(("identifiers", "account_id", "SELECT account_id FROM _identifiers"))
    if side.relations is not None:
        sources += [("relations", c, f"SELECT {c} AS account_id FROM relations")
                    for c in ("src_account", "dst_account")]
    if not sources:
        return None
    known = " UNION ".join(
        (["SELECT account_id FROM events"] if has_events else [])
        + (["SELECT account_id FROM _accounts"] if has_accounts else [])) or None
    if side.settings.unknown_accounts == "error" and known is not None:
        for role, column, sql in sources:
            row = con.execute(f"SELECT account_id FROM ({sql}) WHERE account_id NOT IN "
                              f"({known}) LIMIT 1").fetchone()
            if row:
                path = side.identifiers if role == "identifiers" else side.relations
                raise InputError(f"account {row[0]!r} is in neither the events nor the accounts "
                                 "file (unknown_accounts='error')", file=os.fspath(path),
                                 column=column)
    return " UNION ".join(sql for _, _, sql in sources)


def _reject_summary(loader: _Loader, rejects_path: PathLike | None) -> RejectSummary:
    """Counts of rejected rows per reason; writes them to ``rejects_path`` when given."""
    by_reason = dict(sorted(Counter(r[4] for r in loader.rejects).items()))
    rpath = None
    if loader.rejects and rejects_path is not None:
        _write_rejects(loader.rejects, Path(rejects_path))
        rpath = os.fspath(rejects_path)
    return RejectSummary(len(loader.rejects), by_reason, rpath)


def load(
    events: PathLike | Sequence[PathLike] | None,
    accounts: PathLike | None = None,
    seeds: PathLike | None = None,
    *,
    identifiers: PathLike | None = None,
    relations: PathLike | None = None,
    asn: PathLike | None = None,
    settings: Settings | None = None,
    on_bad_rows: OnBadRows = "error",
    rejects_path: PathLike | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read, validate and load request logs, accounts and seeds into a :class:`Dataset`.

    The input is checked once, here, against the data contract (docs/data-contract.md):
    required columns, ISO-8601 timestamps (read as UTC), IPv4/IPv6 addresses (stored in their
    canonical spelling), non-negative token counts, account statuses, unique accounts. Later
    stages trust the types of the tables this returns. Clean Parquet events take a fast path
    that keeps them as integer codes (``Dataset.coded``).

    Parameters
    ----------
    events : path, glob, directory, a list of these, or None
        None: no request log (then ``accounts``, ``identifiers`` or ``relations`` must be
        given; the stages that need events do not run). Event files: CSV, CSV.gz, Parquet, JSON Lines (``.jsonl``/``.ndjson``, optionally
        gzipped). A directory is read recursively, ignoring names starting with ``.`` or ``_``.
        Required columns ``account_id``, ``ts``, ``ip``; optional ``payment_id``,
        ``proxy_provider``, ``template_hash``, ``prompt``, ``user_agent``, ``model``,
        ``tokens_in``, ``tokens_out``; other columns are kept as extras.
    accounts : path, optional
        CSV or Parquet accounts file (``account_id`` and the optional attributes of
        :data:`ACCOUNT_COLUMNS`).
    seeds : path, optional
        CSV or Parquet file of known accounts: ``account_id``, ``actor``.
    identifiers : path, optional
        Long identifiers file (CSV or Parquet): ``account_id, kind, value`` and optional
        ``first_seen, last_seen`` (see :mod:`graphkit.io.identifiers`).
    relations : path, optional
        Relations file (CSV or Parquet): ``src_account, dst_account, kind`` and optional
        ``ts, amount`` (see :mod:`graphkit.io.relations`).
    asn : path, optional
        IP-to-network-operator table (``cidr`` or ``start, end``; ``asn``, ``name``): each
        account's operators become identifiers of kind ``asn``.
    settings : Settings, optional
        Declared identifier columns (``identifiers``), derived identifiers, the unknown
        accounts policy and the kinds replaced by keyed pseudonyms right after validation
        (``pseudonymize``; :mod:`graphkit.io.pseudonyms`); defaults: ``Settings()``.
    on_bad_rows : {"error", "skip"}, default "error"
        ``"error"`` raises the first bad row; ``"skip"`` drops bad rows and counts them per
        reason in ``dataset.rejects``.
    rejects_path : path, optional
        Under ``"skip"``, where the bad rows are written verbatim (CSV: file, line, row,
        column, reason, message, raw).
    progress : Progress, optional
        Receives the stages' progress; quiet by default.

    Returns
    -------
    Dataset
        The validated tables on one DuckDB connection, the accounts (and seeds) as
        DataFrames, the files read and the reject summary.

    Raises
    ------
    graphkit.errors.ConfigError
        ``on_bad_rows`` is neither ``"error"`` nor ``"skip"``; ``settings.pseudonymize`` is
        set but the environment variable ``GRAPHKIT_PSEUDONYM_KEY`` is not.
    graphkit.errors.InputError
        A file is missing, no file matches, no event was loaded, or (under ``"error"``) a row
        is bad. Its subclasses say what went wrong: :class:`~graphkit.errors.FormatError` (a
        file is not in its format), :class:`~graphkit.errors.SchemaError` (a required column
        is missing or duplicated, a column has an unusable type),
        :class:`~graphkit.errors.ParseError` (a value does not convert). Each names the file
        and, where it applies, the line, row and column.

    See Also
    --------
    graphkit.graph.build_graph : the heterogeneous graph of a Dataset.

    Examples
    --------
    >>> from graphkit.io import load
    >>> ds = load("fixtures/hand/events.csv", "fixtures/hand/accounts.csv",
    ...           "fixtures/hand/seeds.csv")
    >>> ds.n_events, len(ds.accounts), list(ds.seeds["actor"])
    (20, 5, ['fleet-x', 'fleet-x'])
    >>> [(f.role, f.rows) for f in ds.files]
    [('events', 20), ('accounts', 4), ('seeds', 2)]

    Clean Parquet takes the coded fast path:

    >>> ds = load("fixtures/sim-small/events.parquet")
    >>> ds.coded, ds.n_events
    (True, 3001)

    A bad row raises a located error, or is skipped and counted:

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "e.csv").write_text("account_id,ts,ip\\na1,2024-05-01,10.0.0.1\\n"
    ...                              "a2,2024-05-01,10.0.0.999\\n")
    >>> load(d / "e.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphkit.errors.ParseError: ...e.csv: line 3: column 'ip': invalid IP address '10.0.0.999'
    >>> load(d / "e.csv", on_bad_rows="skip").rejects.by_reason
    {'bad_ip': 1}

    References
    ----------
    .. [1] RFC 3986, section 3.2.2 (IP address syntax); RFC 5952 (canonical IPv6 text).
    .. [2] ISO 8601 date and time representations (timestamps).
    """
    if on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"on_bad_rows must be 'error' or 'skip', not {on_bad_rows!r}")
    progress = progress or quiet()
    side = _SideInputs(identifiers, relations, asn, settings or Settings())
    has_events = events is not None
    if not has_events and accounts is None and identifiers is None and relations is None:
        raise ConfigError("without events, give accounts, identifiers or relations")
    # A missing key fails before any file is read (the key itself is never recorded).
    key = pseudonym_key() if side.settings.pseudonymize else None
    event_files = resolve_files(events) if has_events else []
    asn_table = read_asn(asn) if asn is not None else None
    con = connect()
    loader, files, coded_events, seeds_df = _read_inputs(con, event_files, accounts, seeds,
                                                         on_bad_rows, progress, side)
    coded = coded_events is not None
    n_events = sum(f.rows for f in files if f.role == "events")
    if has_events and n_events == 0:
        raise InputError("no events were loaded", file=os.fspath(events)
                         if not isinstance(events, (list, tuple)) else None)
    with progress.step("identifiers and relations"):
        id_kinds = ids_mod.build_identifiers(
            con, side.settings, has_accounts=accounts is not None,
            has_file=identifiers is not None, has_events=has_events, asn=asn_table)
        rel_kinds = rel_mod.relation_kinds(con)
    if key is not None:  # after validation and derivation, before anything is built
        with progress.step("pseudonymize"):
            coded_events = pseudonymize_tables(con, side.settings.pseudonymize, key,
                                               side.settings.identifiers, coded_events)
            if seeds_df is not None:
                seeds_df = con.execute("SELECT * FROM seeds").df()
    with progress.step("accounts"):
        extra_ids = _side_accounts(con, side, has_events, accounts is not None)
        accounts_df = _build_accounts(con, accounts is not None, coded, extra_ids)
    columns = list(con.execute("SELECT * FROM events LIMIT 0").df().columns)
    extras = [c for c in columns if c not in EVENT_COLUMNS and c != "prompt"]
    has_prompt = "prompt" in columns
    with progress.step("templates"):
        _build_templates(con, has_prompt, coded)
    summary = _reject_summary(loader, rejects_path)
    _drop_staging(con)
    return Dataset(con, accounts_df, seeds_df, files, summary, extras, has_prompt, coded,
                   coded_events, id_kinds, rel_kinds, has_events)
