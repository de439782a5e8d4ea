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
>>> bool((flagged["suspicion"] >= result.settings.flag_threshold).all())
True
>>> result.write("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphkit.detection import links as links_mod
from graphkit.detection.account_score import ScoringOptions, score_accounts
from graphkit.detection.activity import activity_table
from graphkit.detection.communities import Communities, detect_communities
from graphkit.detection.evidence import community_evidence
from graphkit.detection.features import account_features, model_releases
from graphkit.detection.links import Links
from graphkit.detection.scoring import score_communities
from graphkit.detection.signals import ACCOUNT_CODES, SIGNAL_EDGES, signal_matrices
from graphkit.detection.synchrony import window_signatures
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph, build_graph
from graphkit.io import Dataset
from graphkit.io.manifest import describe_input, write_manifest
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

    def flagged_communities(self) -> pd.DataFrame:
        return self.communities[self.communities["flagged"]]

    def write(self, out_dir: str | Path) -> Path:
        """Write accounts.csv, communities.csv, links.csv and manifest.json into ``out_dir``."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory: {exc}", file=str(out)) from exc
        self.accounts.to_csv(out / "accounts.csv", index=False)
        self.communities.to_csv(out / "communities.csv", index=False)
        _write_numeric_csv(self.links, out / "links.csv", decimals=4)
        for name, table in self.extra_tables.items():
            table.to_csv(out / name, index=False)
        if self.activity is not None:
            self.activity.to_parquet(out / "activity.parquet", index=False)
        if self.graph is not None:  # export reads entities and their aggregates from here
            self.graph.save(out / "graph")
        write_manifest(
            out, command="detect", settings=self.settings, inputs=self.inputs,
            outputs={"accounts": len(self.accounts), "communities": len(self.communities),
                     "flagged_communities": int(self.communities["flagged"].sum()),
                     "flagged_accounts": int(self.accounts["flagged"].sum()),
                     "links": len(self.links), "model_releases": self.releases,
                     "candidate_ring_neighbours": self.ring_neighbours,
                     "account_scoring": self.scoring, **self.extra_outputs},
            timings=self.timings, run_id=self.run_id,
        )
        return out


def _write_numeric_csv(frame: pd.DataFrame, path: Path, decimals: int) -> None:
    """CSV of a large table of ids and numbers through Arrow's multi-threaded writer (pandas
    formats floats in Python and takes seconds per million rows); floats rounded to
    ``decimals``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rounded = frame.copy(deep=False)
    for col in rounded.columns:
        if pd.api.types.is_float_dtype(rounded[col]):
            rounded[col] = rounded[col].round(decimals)
    pacsv.write_csv(pa.Table.from_pandas(rounded, preserve_index=False), path,
                    pacsv.WriteOptions(quoting_style="needed"))


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
    """A run tag: UTC time plus a digest of settings and inputs (what export tags nodes with)."""
    digest = hashlib.sha256(
        json.dumps([settings.to_dict(), inputs], sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + digest


def detect(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    graph: HeteroGraph | None = None,
    progress: Progress | None = None,
    previous: str | Path | None = None,
    scoring: ScoringOptions | None = None,
    engine: str = "duckdb",
    spark: Any = None,
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
    engine : {"duckdb", "spark"}
        Where the event-sized stages run (:mod:`graphkit.engine`): DuckDB on this machine, or
        Spark (the same stage SQL transpiled; needs the ``spark`` extra). Recorded in the
        manifest's outputs as ``engine``.
    spark : graphkit.engine.spark.SparkOptions, optional
        The Spark master and configuration (``local[*]`` by default) when ``engine="spark"``.

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
     'synchrony', 'inclusion']
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

    settings = settings or Settings()
    progress = progress or quiet()
    prev = None if previous is None else stable_ids.read_previous(previous)
    engine_entry: dict[str, Any] = {"name": engine}
    if engine == "spark" and graph is None:
        from graphkit.engine.spark import spark_detection_graph

        with progress.step("graph (spark)"):
            graph, engine_entry = spark_detection_graph(dataset, settings, spark)
    elif engine not in ("duckdb", "spark"):
        raise ConfigError(f"unknown engine {engine!r} (duckdb or spark)")
    if graph is None:
        with progress.step("graph"):
            graph = build_graph(dataset)
    inputs = describe_inputs(dataset)
    run_id = make_run_id(settings, inputs)
    n = len(graph.accounts)
    codes = pd.DataFrame({"account_id": graph.accounts["account_id"].to_numpy(),
                          "account_idx": np.arange(n, dtype=np.int64)})
    dataset.con.register(_CODES, codes)
    try:
        with progress.step("links: entity shares"):
            signals = signal_matrices(graph, dataset, settings, _CODES)
        with progress.step("links: event arrays"):
            events = dataset.event_arrays()
        sync = None
        if settings.weight("synchrony") > 0:
            with progress.step("links: window signatures"):
                sync = window_signatures(dataset.con, _CODES, n, settings,
                                         times=(events.account, events.us))
        links = links_mod.score_links(signals, sync, settings, progress)
        with progress.step("communities"):
            start = None if prev is None else stable_ids.initial_membership(
                graph.accounts["account_id"].to_numpy(), prev)
            comms = detect_communities(links, settings, fixed=None, initial=start)
        with progress.step("scoring"):
            with progress.step("scoring: account features"):
                releases = model_releases(events, settings)
                feats = account_features(graph, dataset, events, releases, settings)
                del events
            with progress.step("scoring: indicators"):
                scored = score_communities(feats, signals, links, comms, settings)
            with progress.step("scoring: evidence"):
                communities = community_evidence(scored.communities, comms, signals, settings,
                                                  run_id)
            with progress.step("scoring: accounts"):
                acc_scores = score_accounts(graph, feats, links, scored.accounts, options=scoring,
                                            clock_aligned=getattr(sync, "clock_aligned", None),
                                            seed=settings.seed,
                                            flag_threshold=settings.flag_threshold)
        with progress.step("activity of flagged accounts"):
            activity = activity_table(
                dataset.con,
                acc_scores.accounts.loc[acc_scores.accounts["flagged"], "account_id"])
    finally:
        dataset.con.unregister(_CODES)
    link_table = _links_with_ids(links, graph)
    result = Detection(
        accounts=acc_scores.accounts, communities=communities, links=link_table, settings=settings,
        run_id=run_id, graph=graph,
        timings=dict(progress.timings), inputs=inputs,
        releases={m: t.isoformat() for m, t in releases.items()},
        ring_neighbours=links.ring_neighbours, scoring=acc_scores.manifest, activity=activity,
        extra_outputs={"engine": {**engine_entry, "communities": (
            f"{settings.method} on the driver (account-link graph collected: "
            f"{len(link_table)} links)")}},
    )
    with progress.step("stable ids"):
        stable_ids.assign_stable_ids(result, prev)
    result.timings = dict(progress.timings)
    return result


def _links_with_ids(links: Links, graph: HeteroGraph) -> pd.DataFrame:
    ids = graph.accounts["account_id"].to_numpy()
    t = links.table
    out = pd.DataFrame({"account_a": ids[t["a"].to_numpy()], "account_b": ids[t["b"].to_numpy()],
                        "score": t["score"].to_numpy()})
    for name in SIGNALS:
        out[name] = t[name].to_numpy()
    out["inclusion"] = t["inclusion"].to_numpy() if "inclusion" in t else 1.0
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


__all__ = ["SIGNAL_EDGES", "Communities", "Detection", "account_features", "detect",
           "model_releases", "signal_matrices"]
