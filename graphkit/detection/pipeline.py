"""The detection pipeline: graph -> links -> communities -> scoring -> outputs.

On the small simulated log in fixtures/ (paths relative to the repository root):

>>> import graphkit
>>> from graphkit.detection.pipeline import detect
>>> ds = graphkit.load("fixtures/sim-small/events.parquet",
...                    accounts="fixtures/sim-small/accounts.csv",
...                    seeds="fixtures/sim-small/seeds.csv")
>>> result = detect(ds)
>>> flagged = result.communities.query("flagged")
>>> list(flagged.columns[:4])
['community_id', 'size', 'suspicion', 'flagged']
>>> bool((flagged["q_value"] <= result.settings.flag_fdr).all())
True
>>> result.write("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from graphkit.detection import links as links_mod
from graphkit.detection.account_score import ScoringOptions, score_accounts
from graphkit.detection.activity import activity_table
from graphkit.detection.communities import Communities, detect_communities, relabel_by_size
from graphkit.detection.evidence import community_evidence
from graphkit.detection.features import (
    RELEASE_COLUMNS,
    account_activity,
    account_features,
    declared_orgs,
    model_releases,
)
from graphkit.detection.identifier_groups import (
    Split,
    crowd_ties,
    dense_cores,
    held_split,
    narrowed,
    split_flags,
)
from graphkit.detection.incremental import EventState, Resume, StateStages, full_state
from graphkit.detection.links import Links
from graphkit.detection.scoring import score_communities, significant
from graphkit.detection.signals import ACCOUNT_CODES, SIGNAL_EDGES, signal_matrices
from graphkit.detection.synchrony import window_signatures
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph, build_graph
from graphkit.io import Dataset
from graphkit.io.manifest import describe_input, write_manifest
from graphkit.io.outputs import result_dir
from graphkit.io.tables import write_csv
from graphkit.parallel import thread_map
from graphkit.progress import Progress, quiet
from graphkit.registry import SIGNALS
from graphkit.settings import Settings

_CODES = ACCOUNT_CODES


@dataclass
class Detection:
    """Everything ``detect`` found. DataFrames use account ids, not internal codes."""

    accounts: pd.DataFrame
    communities: pd.DataFrame
    links: pd.DataFrame
    settings: Settings
    run_id: str
    timings: dict[str, float] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)  # GiB per stage
    inputs: dict[str, Any] = field(default_factory=dict)
    releases: dict[str, str] = field(default_factory=dict)
    graph: HeteroGraph | None = field(default=None, repr=False)
    # Co-members each account was paired with inside entities too large to expand into all
    # their pairs (None: every pair was scored); see Settings.max_candidate_pairs.
    ring_neighbours: int | None = None
    extra_outputs: dict[str, Any] = field(default_factory=dict)  # more manifest outputs
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # file name -> table
    # Requests per hour and model of the flagged accounts (the report's timelines).
    activity: pd.DataFrame | None = field(default=None, repr=False)
    scoring: dict[str, Any] = field(default_factory=dict)  # the account score's manifest entry
    # The aggregate state of the run's events, written to DIR/state for the next day's run.
    state: EventState | None = field(default=None, repr=False)

    def flagged_communities(self) -> pd.DataFrame:
        return self.communities[self.communities["flagged"]]

    def write(self, out_dir: str | Path) -> Path:
        """Write accounts.csv, communities.csv, links.csv, graph/, state/ (the aggregate state
        the next day's ``detect --previous`` reuses) and manifest.json as the result directory
        ``out_dir``, atomically (:func:`graphkit.io.outputs.result_dir`)."""
        with result_dir(out_dir) as tmp:
            self.write_into(tmp)
        return Path(out_dir)

    def write_into(self, out: Path) -> Path:
        """Write the result files into the existing directory ``out`` (a temporary directory of
        :func:`graphkit.io.outputs.result_dir`; sealed and moved into place by its caller)."""
        # The Parquet files and the state's copy are written on a second thread while the
        # CSVs are formatted here (Arrow's writers and file copies release the GIL).
        with ThreadPoolExecutor(1) as pool:
            binary = pool.submit(self._write_binary, out)
            write_csv(self.accounts, out / "accounts.csv")
            write_csv(self.communities, out / "communities.csv")
            _write_numeric_csv(self.links, out / "links.csv", decimals=4)
            for name, table in self.extra_tables.items():
                write_csv(table, out / name)
            binary.result()
        write_manifest(
            out, command="detect", settings=self.settings, inputs=self.inputs,
            outputs={"accounts": len(self.accounts), "communities": len(self.communities),
                     "flagged_communities": int(self.communities["flagged"].sum()),
                     "flagged_accounts": int(self.accounts["flagged"].sum()),
                     "links": len(self.links), "model_releases": self.releases,
                     "candidate_ring_neighbours": self.ring_neighbours,
                     "account_scoring": self.scoring, **self.extra_outputs},
            timings=self.timings, run_id=self.run_id, memory=self.memory,
        )
        return out

    def _write_binary(self, out: Path) -> None:
        """activity.parquet, graph/ and state/ into ``out``."""
        if self.activity is not None:
            self.activity.to_parquet(out / "activity.parquet", index=False)
        if self.graph is not None:  # export reads entities and their aggregates from here
            self.graph.save(out / "graph")
        if self.state is not None:  # what detect --previous reuses
            self.state.save(out)


def _write_numeric_csv(frame: pd.DataFrame, path: Path, decimals: int,
                       chunk_rows: int = 1 << 20) -> None:
    """CSV of a large table of ids and numbers through Arrow's multi-threaded writer (pandas
    formats floats in Python and takes seconds per million rows); floats rounded to
    ``decimals``. Written a million rows at a time, so no full copy of the table is made."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    writer = None
    try:
        for lo in range(0, max(len(frame), 1), chunk_rows):  # chunks of a million rows
            part = frame.iloc[lo:lo + chunk_rows].copy(deep=False)
            for col in part.columns:
                if pd.api.types.is_float_dtype(part[col]):
                    part[col] = part[col].round(decimals)
            table = pa.Table.from_pandas(part, preserve_index=False)
            if writer is None:
                writer = pacsv.CSVWriter(path, table.schema,
                                         write_options=pacsv.WriteOptions(quoting_style="needed"))
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def describe_inputs(dataset: Dataset) -> dict[str, Any]:
    """Input files by role (events, accounts, seeds) with sizes and digests, for the manifest."""
    out: dict[str, Any] = {}
    for f in dataset.files:
        entry = {**describe_input(f.path), "rows": f.rows, "rejected": f.rejected}
        if f.role == "events":
            out.setdefault("events", []).append(entry)
        else:
            out[f.role] = entry
    return out


def make_run_id(settings: Settings, inputs: dict[str, Any]) -> str:
    """A run tag: UTC time, a digest of settings and inputs, and a random part so that two runs
    in the same second never share a tag (what export tags nodes with)."""
    digest = hashlib.sha256(
        json.dumps([settings.to_dict(), inputs], sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    return (dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + digest + "-"
            + uuid.uuid4().hex[:8])


def detect(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    graph: HeteroGraph | None = None,
    progress: Progress | None = None,
    previous: str | Path | None = None,
    scoring: ScoringOptions | None = None,
    indicators: pd.DataFrame | None = None,
    releases: dict[str, dt.datetime] | None = None,
    engine: str = "duckdb",
    spark: Any = None,
    resume: Resume | None = None,
    release_events: bool = False,
) -> Detection:
    """Run the whole detection on a loaded dataset: graph, links, communities, suspicion.

    Steps: the heterogeneous graph (:func:`graphkit.graph.hetero.build_graph`), the account x
    entity shares of every signal (:func:`graphkit.detection.signals.signal_matrices`), MinHash
    signatures of active time windows (:func:`graphkit.detection.synchrony.window_signatures`),
    scored links (:func:`graphkit.detection.links.score_links`), communities
    (:func:`graphkit.detection.communities.detect_communities`), per-account features
    (:mod:`graphkit.detection.features`), indicators and suspicion
    (:func:`graphkit.detection.scoring.score_communities`) and evidence
    (:func:`graphkit.detection.evidence.community_evidence`).

    Parameters
    ----------
    dataset : Dataset
        A loaded log (:func:`graphkit.load`), with optional accounts and seeds files.
    settings : Settings, optional
        Every knob that changes a result (defaults: ``Settings()``); recorded in the manifest.
    graph : HeteroGraph, optional
        A graph already built from ``dataset`` (built here when None).
    progress : Progress, optional
        Receives the timed steps (silent by default).
    previous : str or Path, optional
        An earlier result directory: its communities seed Leiden and keep their ids (see
        :mod:`graphkit.investigate.stable_ids`); the changes are written as changes.csv.
    scoring : ScoringOptions, optional
        Options of the account score (supervised mode, declared features).
    indicators : DataFrame, optional
        ``actor, kind, value`` shared indicators
        (:func:`graphkit.investigate.attribution.read_indicators`). With seeds or indicators,
        every account and community gets ``actor``, ``actor_confidence`` and
        ``actor_evidence`` (:func:`graphkit.investigate.attribution.attribute`).
    releases : dict of str to datetime, optional
        Model releases (model -> release time, UTC naive) given by the investigator; models
        first seen mid-window are found in the data as well.
    engine : {"duckdb", "spark"}
        Where the event-sized stages run (:mod:`graphkit.engine`): DuckDB on this machine, or
        Spark (the same stage SQL transpiled; needs the ``spark`` extra). Recorded in the
        manifest's outputs as ``engine``.
    spark : graphkit.engine.spark.SparkOptions, optional
        The Spark master and configuration (``local[*]`` by default) when ``engine="spark"``.
    resume : graphkit.detection.incremental.Resume, optional
        From :func:`graphkit.detection.incremental.load_incremental` (``detect --previous``):
        with a merged aggregate state, ``dataset`` holds only the new event files and the
        graph and event-level features come from the state; otherwise the reason the run is
        a full one. Either way the run's state is in :attr:`Detection.state` (DuckDB engine).
    release_events : bool, default False
        Drop ``dataset``'s loaded events (:meth:`graphkit.io.Dataset.release_events`) as soon
        as no stage reads them any more: GBs at a million accounts. The command line does; the
        dataset is unusable for event queries afterwards, so library callers keep it by
        default.

    Returns
    -------
    Detection
        ``accounts``, ``communities`` (ranked by suspicion, with evidence and Cypher) and
        ``links`` (account ids, score, one column per signal of
        :data:`graphkit.registry.SIGNALS`, inclusion), with the settings, run id, timings and
        inputs; :meth:`Detection.write` writes them with ``manifest.json``.

    Raises
    ------
    graphkit.errors.ConfigError
        When the settings name an unknown community method.

    Examples
    --------
    >>> import graphkit
    >>> ds = graphkit.load("fixtures/sim-small/events.parquet",
    ...                    accounts="fixtures/sim-small/accounts.csv",
    ...                    seeds="fixtures/sim-small/seeds.csv")
    >>> result = detect(ds)
    >>> list(result.links.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['account_a', 'account_b', 'score', 'ip', 'payment', 'template', 'proxy', 'user_agent',
     'cohort', 'synchrony', 'inclusion']
    >>> bool(result.accounts["flagged"].any())
    True

    References
    ----------
    .. [1] Q. Cao, X. Yang, J. Yu and C. Palow, "Uncovering large groups of active malicious
       accounts in online social networks" (SynchroTrap), ACM CCS 2014.
    .. [2] A. Beutel, W. Xu, V. Guruswami, C. Palow and C. Faloutsos, "CopyCatch: stopping
       group attacks by spotting lockstep behavior in social networks", WWW 2013.
    .. [3] V. A. Traag, L. Waltman and N. J. van Eck, "From Louvain to Leiden: guaranteeing
       well-connected communities", Scientific Reports 9, 5233, 2019.
    .. [4] D. G. Horvitz and D. J. Thompson, "A generalization of sampling without replacement
       from a finite universe", JASA 47(260), 1952.
    """
    from graphkit.investigate import stable_ids
    from graphkit.investigate.attribution import attribute
    from graphkit.investigate.successions import succession_units
    from graphkit.investigate.successions import successions as find_successions
    from graphkit.investigate.walk import walk_graph

    settings = settings or Settings()
    progress = progress or quiet()
    given_releases = releases
    prev = None if previous is None else stable_ids.read_previous(previous)
    inc = resume.state if resume is not None else None
    stages = None if inc is None else StateStages(inc)
    inputs = describe_inputs(dataset)
    if inc is not None:  # every event file, the reused ones from the state
        inputs["events"] = inc.event_inputs(inputs.get("events", []))
    engine_entry: dict[str, Any] = {"name": engine}
    staged = None  # on Spark: account features and synchrony windows from stage outputs
    state = None  # the events' aggregate state for the next day's run (DuckDB engine)
    if dataset.has_events and engine == "duckdb":
        # First, while little else is held: DuckDB's aggregation then sets no memory peak.
        with progress.step("aggregate state"):
            state = inc if inc is not None else full_state(dataset, settings, inputs, resume)
    if engine == "spark" and graph is None:
        from graphkit.engine.spark import spark_detection_graph

        with progress.step("graph (spark)"):
            graph, staged, engine_entry = spark_detection_graph(dataset, settings, spark,
                                                                given_releases)
    if engine == "spark" and scoring is not None and scoring.supervised:
        from graphkit.engine.spark import executor_predictor, session

        # The trained or saved model scores the accounts on the executors (mapInPandas).
        scoring = replace(scoring, predict=executor_predictor(session(spark)))
        engine_entry["account_model"] = "applied on the executors (mapInPandas)"
    elif engine not in ("duckdb", "spark"):
        raise ConfigError(f"unknown engine {engine!r} (duckdb or spark)")
    if graph is None:
        with progress.step("graph"):
            if stages is not None:
                graph = stages.graph(dataset, [e["path"] for e in inputs["events"]] + [
                    f.path for f in dataset.files if f.role != "events"])
            else:  # a full run's spilled state holds the edge aggregates: read, not regrouped
                graph = build_graph(dataset, coded_aggregates=None if state is None
                                    else state.coded_edges())
    registry = graph.registry
    # Declared kinds and relations: their weights are recorded in the manifest too.
    settings = settings.with_signals(registry.signals)
    run_id = make_run_id(settings, inputs)
    n = len(graph.accounts)
    codes = pd.DataFrame({"account_id": graph.accounts["account_id"].to_numpy(),
                          "account_idx": np.arange(n, dtype=np.int64)})
    dataset.con.register(_CODES, codes)
    try:
        with progress.step("links: entity shares"):
            proxy = (staged.proxy_counts if staged is not None
                     else stages.proxy_counts() if stages is not None
                     else None if state is None else state.proxy_counts(dataset.con))
            signals = signal_matrices(graph, dataset, settings, _CODES, proxy)
        with progress.step("links: event arrays"):
            events = dataset.event_arrays() if staged is None and stages is None else None
        # The activity of flagged accounts comes from the aggregate state when there is one:
        # then nothing reads the loaded events past this point.
        events_read_late = stages is None and (state is None or not state.spilled)
        if release_events and not events_read_late:
            dataset.release_events()
        sync = None
        if settings.weight("synchrony") > 0 and dataset.has_events:
            with progress.step("links: window signatures"):
                if staged is not None:
                    sync = staged.signatures(settings)
                elif stages is not None:  # incremental: from the merged aggregate state
                    sync = stages.window_signatures(graph, settings)
                else:
                    sync = window_signatures(dataset.con, _CODES, n, settings,
                                             times=(events.account, events.us))
        with progress.step("links: account activity"):
            # The last use of the per-event arrays: freed before the links are scored.
            if staged is not None:
                releases = staged.releases
            else:
                found = (model_releases(events, settings) if stages is None
                         else stages.model_releases(settings))
                releases = {**found, **(given_releases or {})}
            if staged is not None:
                activity = staged.activity
            elif stages is None:
                activity = account_activity(events, releases, n, settings)
            else:
                activity = stages.account_activity(graph, releases)
            del events
        if engine == "spark":  # candidate pairs and similarities on the executors
            from graphkit.engine.spark import spark_score_links

            links = spark_score_links(signals, sync, settings, spark, progress, registry)
        else:
            links = links_mod.score_links(signals, sync, settings, progress, registry)
        # Only the clock alignment is needed from here on: the signatures (a million accounts
        # x 96 slots) are freed before communities and scoring.
        clock_aligned = getattr(sync, "clock_aligned", None)
        del sync
        with progress.step("communities"):
            start = None if prev is None else stable_ids.initial_membership(
                graph.accounts["account_id"].to_numpy(), prev)
            if engine == "spark" and len(links.table) > settings.max_collected_links:
                from graphkit.engine.components import components
                from graphkit.engine.spark import session, spark_tables

                comms = components(links, spark_tables(session(spark)))
            else:
                comms = detect_communities(links, settings, fixed=None, initial=start)
        with progress.step("scoring"):
            with progress.step("scoring: account features"):
                feats = account_features(graph, dataset, None, releases, settings, activity)
                feats["org_id"] = declared_orgs(feats["org_id"], signals.get("org")).array
            with progress.step("scoring: successions"):  # chain members flagged together
                succ = find_successions(signals, feats, settings)
                units = succession_units(succ, feats["account_id"].to_numpy(),
                                         settings.succession_join_confidence)
            with progress.step("scoring: indicators"):
                rescore = partial(score_communities, feats, signals, links, settings=settings,
                                  releases=activity.traffic,
                                  chains=None if units is None else units.chain,
                                  replaced=None if units is None else units.replaced)
                scored = rescore(comms)
            if settings.identifier_groups:
                with progress.step("scoring: identifier groups"):
                    comms, scored = _identifier_groups(comms, scored, links,
                                                       registry.held_signals, settings, rescore)
            del units, rescore
            with progress.step("scoring: evidence"):
                communities = community_evidence(scored.communities, comms, signals, settings,
                                                  run_id, registry)
            with progress.step("scoring: accounts"):
                acc_scores = score_accounts(graph, feats, links, scored.accounts, options=scoring,
                                            clock_aligned=clock_aligned,
                                            seed=settings.seed,
                                            flag_threshold=settings.flag_threshold,
                                            community_p=scored.communities["p_value"].to_numpy(
                                                float)[scored.accounts["community_id"].to_numpy()])
            del scored  # its accounts table is in acc_scores, its communities in communities
            for col in ("p_value", "q_value"):  # reported to 4 significant digits
                communities[col] = significant(communities[col].to_numpy(np.float64))
        # Before attribution, so that the events (when it reads them) are freed before it.
        with progress.step("activity of flagged accounts"):
            flagged_ids = acc_scores.accounts.loc[acc_scores.accounts["flagged"], "account_id"]
            timelines = _flagged_activity(dataset, state, stages, flagged_ids)
            if release_events and events_read_late:
                dataset.release_events()
        attribution_entry = None
        if (dataset.seeds is not None and len(dataset.seeds)) or indicators is not None:
            with progress.step("attribution"):
                # Ordered by community: the walks' products then gather from cache.
                walks = walk_graph(signals, links, settings, groups=comms.membership)
                attribution = attribute(walks, graph.accounts["account_id"].to_numpy(),
                                        comms.membership, dataset.seeds, indicators, settings)
                del walks  # its system (0.65 GB at a million accounts) is not needed again
                _add_attribution(acc_scores.accounts, communities, attribution)
                attribution_entry = {
                    **attribution.calibration,
                    "reliability": attribution.reliability.to_dict("records"),
                    "attributed_accounts": int((attribution.accounts["actor"] != "").sum())}
                del attribution  # its per-account tables and scores are in the accounts now
        del signals  # the largest tables left; the links' ids come next
    finally:
        dataset.con.unregister(_CODES)
    link_table = _links_with_ids(links, graph, registry.signals)
    # Per account in accounts.csv: its move to a released model against the other accounts',
    # and the relation features (degree, amount, reciprocity) when the run has relations.
    extra_cols = [*RELEASE_COLUMNS, *(c for c in feats.columns if c.startswith("rel_"))]
    acc_scores.accounts = acc_scores.accounts.merge(feats[["account_id", *extra_cols]],
                                                    on="account_id", how="left")
    result = Detection(
        accounts=acc_scores.accounts, communities=communities, links=link_table, settings=settings,
        run_id=run_id, graph=graph,
        timings=dict(progress.timings), inputs=inputs,
        releases={m: t.isoformat() for m, t in releases.items()},
        ring_neighbours=links.ring_neighbours, scoring=acc_scores.manifest, activity=timelines,
        extra_outputs={**_kinds_outputs(registry, dataset), "engine": {
            **engine_entry, "communities": (
                f"{comms.method} on the cluster ({len(link_table)} links, more than "
                f"max_collected_links)" if comms.method.startswith("components (stage SQL)") else
                f"{settings.method} on the driver (account-link graph collected: "
                f"{len(link_table)} links)")}},
    )
    if attribution_entry is not None:
        result.extra_outputs["attribution"] = attribution_entry
    if succ is not None:
        result.extra_tables["successions.csv"] = succ
        result.extra_outputs["successions"] = len(succ)
    with progress.step("stable ids"):
        stable_ids.assign_stable_ids(result, prev)
    if state is not None:
        result.state = state
        result.extra_outputs["incremental"] = state.manifest()
    result.timings = dict(progress.timings)
    result.memory = dict(progress.memory)
    return result


# Stages that read the request log; without one they do not run (and say so).
EVENT_STAGES: tuple[str, ...] = ("synchrony", "volume", "templates", "automation",
                                 "model_jump", "activity")


def _identifier_groups(comms: Communities, scored, links: Links, held: tuple[str, ...],
                       settings: Settings, rescore) -> tuple[Communities, Any]:
    """The partition and its scores after the identifier groups of the unflagged communities
    are split out and tested (:mod:`graphkit.detection.identifier_groups`). Only the groups
    the test bears out stay split (:func:`narrowed`); the others go back to their communities,
    and the partition is scored once more when some went back. Unchanged when no group and no
    rest of a community a group was taken from is flagged."""
    first = scored.communities
    flagged = first["flagged"].to_numpy(bool)
    cores = (dense_cores(links, comms.membership, flagged, settings.core_resolution,
                         settings.min_community_size, settings.seed)
             if settings.core_resolution > 0 else None)
    split = held_split(links, comms.membership, flagged, held, settings.min_community_size,
                       cores)
    if split is None:
        return comms, scored
    new, second = _rescore_split(comms, first, split, links, rescore)
    keep = second.communities["flagged"].to_numpy(bool)[new.membership]
    final = narrowed(split, comms.membership, keep)
    if final is None:
        return comms, scored
    if bool(np.array_equal(final.grouped, split.grouped)):
        return new, second
    # What the split made flagged (the groups that stay, the rests they were taken from) keeps
    # the second test's verdict, as the first pass's flags keep theirs.
    return _rescore_split(comms, first, final, links, rescore,
                          also=(new.membership, second.communities,
                                split_flags(final, comms.membership, keep)))


def _rescore_split(comms: Communities, first: pd.DataFrame, split: Split, links: Links,
                   rescore, also: tuple[np.ndarray, pd.DataFrame, np.ndarray] | None = None
                   ) -> tuple[Communities, Any]:
    """``split`` as a partition (ordered by size) and its scores. The communities the cut
    flagged before keep their q-values, the second pass's larger number of tests does not take
    back what the first found; ``also``: (membership, communities, flagged accounts) of an
    earlier split whose flagged groups keep theirs too."""
    membership = relabel_by_size(split.membership)
    new = Communities(membership, np.bincount(membership),
                      f"{comms.method} + identifier groups", comms.quality)
    kept = np.full(new.n_communities, np.nan)
    was = split.was_flagged
    kept[membership[was]] = first["q_value"].to_numpy(float)[comms.membership[was]]
    if also is not None:
        prev_membership, prev_comms, prev_flagged = also
        kept[membership[prev_flagged]] = prev_comms["q_value"].to_numpy(float)[
            prev_membership[prev_flagged]]
    return new, rescore(new, crowd_ties=crowd_ties(links, split), kept_q=kept)


def _flagged_activity(dataset: Dataset, state: EventState | None, stages: StateStages | None,
                      flagged_ids: pd.Series) -> pd.DataFrame:
    """Requests per hour and model of the flagged accounts: from the merged state of an
    incremental run, the spilled aggregate state of a full one, else from the events."""
    if stages is not None:
        return stages.activity(flagged_ids)
    stored = None if state is None else state.hourly_activity(dataset.con, flagged_ids)
    return activity_table(dataset.con, flagged_ids) if stored is None else stored


def _kinds_outputs(registry, dataset: Dataset) -> dict[str, Any]:
    """Manifest entries: the run's declared and relation kinds, and the stages not run."""
    out: dict[str, Any] = {}
    if registry.declared_names or registry.relation_names:
        out["identifier_kinds"] = registry.declared_names
        out["relation_kinds"] = registry.relation_names
    if not dataset.has_events:
        out["stages_not_run"] = {s: "no request events" for s in EVENT_STAGES}
    return out


def _add_attribution(accounts: pd.DataFrame, communities: pd.DataFrame, attribution) -> None:
    """Add actor, actor_confidence, actor_evidence to the accounts (same order as the
    attribution) and to the communities (by community code), in place; the communities' actor
    (seed majority until now) becomes the attributed one (empty when none is likely)."""
    for col in ("actor", "actor_confidence", "actor_evidence"):
        accounts[col] = attribution.accounts[col].to_numpy()
        by_code = attribution.communities.set_index("community_id")[col]
        communities[col] = by_code.reindex(communities["community_id"].to_numpy()).to_numpy()
    communities["actor"] = pd.array(communities["actor"].replace("", pd.NA), dtype="string")


def _links_with_ids(links: Links, graph: HeteroGraph,
                    signals: tuple[str, ...] = SIGNALS) -> pd.DataFrame:
    # The ids are taken in Arrow: a pandas string column built from millions of Python
    # strings takes ten times as long.
    ids = pa.array(graph.accounts["account_id"].array, pa.string())
    t = links.table
    # Highest score first, ties in link order (one reordered copy of each column).
    order = np.argsort(-t["score"].to_numpy(), kind="stable")

    def column(name: str) -> Any:  # one reordered column (the gathers release the GIL)
        if name in ("account_a", "account_b"):
            codes = t["a" if name == "account_a" else "b"].to_numpy()[order]
            return pd.Series(ids.take(pa.array(codes)), dtype="str")
        if name == "inclusion" and name not in t:
            return np.ones(len(t))
        return t[name].to_numpy()[order]

    names = ["account_a", "account_b", "score", *signals, "inclusion"]
    return pd.DataFrame(dict(zip(names, thread_map(column, names, workers=2), strict=True)))


__all__ = ["SIGNAL_EDGES", "Communities", "Detection", "account_features", "detect",
           "model_releases", "signal_matrices"]
