"""The Spark engine: the stage SQL of :mod:`graphkit.engine.stages`, transpiled by SQLGlot and
run by Spark, then the driver-side stages on the collected aggregates.

Distributed (on the executors): validation, account totals, the account-entity aggregates of
every relationship in the registry, entity nodes and entity statistics: everything whose input
is the events. On the driver: link scoring, synchrony, communities (the account-link graph is
collected: Leiden needs it whole), indicators and the account score, which read the aggregates
and the event arrays. See docs/scale-out.md.

Needs the ``spark`` extra (``pip install 'graphkit[spark]'``: pyspark 4 on Java 17, sqlglot).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graphkit.detection.links import Links, SignalMatrix
from graphkit.engine.components import Tables
from graphkit.engine.link_stages import LINK_INPUTS, Runner, link_stages, score_links_staged
from graphkit.engine.runner import (
    Outputs,
    StagedActivity,
    activity_from_outputs,
    declared_payments,
    graph_from_outputs,
    plan,
    run_stages,
)
from graphkit.engine.stages import Stage, transpile
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph
from graphkit.io import Dataset
from graphkit.progress import Progress
from graphkit.registry import Registry
from graphkit.settings import Settings

DEFAULT_MASTER = "local[*]"
# Spark schemas of the relations the driver hands to the stages.
SCHEMAS: dict[str, str] = {**LINK_INPUTS,
                           "declared_payments": "account_id string, payment_id string",
                           "releases": "model string, released timestamp",
                           "cc_links": "a bigint, b bigint"}
# What runs on the driver after the aggregates are collected (docs/scale-out.md).
DRIVER_STAGES: tuple[str, ...] = ("signal shares", "link roots",
                                  "window signatures (MinHash of the collected windows)",
                                  "link evidence (gate, synchrony, noisy-OR)", "communities",
                                  "account features (from the collected histograms)",
                                  "indicators", "account score", "evidence")


@dataclass(frozen=True)
class SparkOptions:
    """How to reach Spark: the master URL and extra ``spark.*`` configuration.

    ``shuffle_partitions`` sets ``spark.sql.shuffle.partitions`` (Spark's default, 200, suits
    a cluster; a laptop or CI wants a few).
    """

    master: str = DEFAULT_MASTER
    shuffle_partitions: int | None = None
    conf: dict[str, str] = field(default_factory=dict)

    def partitions(self) -> int | None:
        """Shuffle partitions to set: the given number, else twice the cores of a ``local``
        master (Spark's 200 tiny tasks per group-by dominate a run on one machine), else
        Spark's own default."""
        if self.shuffle_partitions:
            return self.shuffle_partitions
        if self.master.startswith("local"):
            return 2 * (os.cpu_count() or 1)
        return None


def session(options: SparkOptions | None = None) -> Any:
    """A SparkSession for ``options`` (the running one when it exists), UTC, Arrow transfers.

    Raises
    ------
    graphkit.errors.ConfigError
        When pyspark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("the Spark engine needs pyspark: pip install 'graphkit[spark]'") from exc
    options = options or SparkOptions()
    builder = (SparkSession.builder.master(options.master).appName("graphkit")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.ui.showConsoleProgress", "false"))
    if options.partitions():
        builder = builder.config("spark.sql.shuffle.partitions", str(options.partitions()))
    for key, value in options.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stage_events(dataset: Dataset, directory: str | Path) -> Path:
    """Write the dataset's validated events as Parquet for Spark to read; returns the path."""
    path = Path(directory) / "events.parquet"
    dataset.con.execute(f"COPY (SELECT * FROM events) TO '{path.as_posix()}' (FORMAT parquet)")
    return path


def run_spark(dataset: Dataset, settings: Settings, spark: Any,
              events_path: str | None = None,
              releases: dict[str, dt.datetime] | None = None) -> Outputs:
    """Run the stages on Spark; returns the collected stage results.

    ``events_path`` is validated events as Parquet at any path Spark reads (a cluster's storage);
    without it the dataset's events are staged to a local temporary Parquet file. ``releases``
    are model releases given besides those found in the events (``--release``).
    """
    with tempfile.TemporaryDirectory(prefix="graphkit-spark-") as tmp:
        path = events_path or str(stage_events(dataset, tmp))
        events = spark.read.parquet(path).persist()  # every stage scans the events
        events.createOrReplaceTempView("events")
        declared = declared_payments(dataset)
        _register(spark, "declared_payments", declared if len(declared) else pd.DataFrame(
            {"account_id": pd.Series([], dtype=str), "payment_id": pd.Series([], dtype=str)}))

        try:
            return run_stages(plan(dataset, settings), lambda stage: _execute(spark, stage),
                              lambda name, frame: _register(spark, name, frame), settings,
                              releases)
        finally:
            _drop_views(spark)


def _execute(spark: Any, stage: Stage) -> pd.DataFrame:
    """Run ``stage`` transpiled, keep it as a temporary view (cached when later stages read
    it more than once) and return it collected."""
    frame = spark.sql(transpile(stage.sql, "spark"))
    frame.createOrReplaceTempView(stage.name)
    if stage.name.startswith("edges_") or stage.name == "link_candidates":
        frame.cache()
    with warnings.catch_warnings():  # pyspark 4.x notes pandas 3 as not yet vetted
        warnings.simplefilter("ignore", FutureWarning)
        return frame.toPandas()


def _register(spark: Any, name: str, frame: pd.DataFrame) -> Any:
    """``frame`` as the temporary view ``name`` (schema from :data:`SCHEMAS`); returns it."""
    with warnings.catch_warnings():  # pandas 3 not yet vetted by pyspark 4.x
        warnings.simplefilter("ignore", FutureWarning)
        view = spark.createDataFrame(frame, schema=SCHEMAS[name])
    view.createOrReplaceTempView(name)
    return view


def _drop_views(spark: Any) -> None:
    for name in spark.catalog.listTables():
        if name.isTemporary:
            spark.catalog.dropTempView(name.name)
    spark.catalog.clearCache()


def link_stage_runner(spark: Any) -> Runner:
    """A runner for :func:`graphkit.engine.link_stages.score_links_staged` on ``spark``: the
    input tables become temporary views (``roots`` cached: every stage joins it), the stages
    run transpiled on the executors and are collected."""

    def run(tables: dict[str, pd.DataFrame], stages_: list[Stage]) -> dict[str, pd.DataFrame]:
        try:
            for name, frame in tables.items():  # three input tables
                view = _register(spark, name, frame)
                if name == "roots":
                    view.cache()
            return {stage.name: _execute(spark, stage) for stage in stages_}
        finally:
            _drop_views(spark)

    return run


def spark_detection_graph(dataset: Dataset, settings: Settings,
                          options: SparkOptions | None = None,
                          releases: dict[str, dt.datetime] | None = None
                          ) -> tuple[HeteroGraph, StagedActivity, dict[str, Any]]:
    """The graph for :func:`graphkit.detection.pipeline.detect` with ``engine="spark"``, what
    the driver reads instead of the events (account features, synchrony windows, releases),
    and the manifest's ``engine`` entry (master, Spark version, distributed stages)."""
    options = options or SparkOptions()
    spark = session(options)
    out = run_spark(dataset, settings, spark, releases=releases)
    graph = graph_from_outputs(dataset, out)
    staged = activity_from_outputs(out, graph.accounts["account_id"].to_numpy(), settings,
                                   releases)
    return graph, staged, {
        "name": "spark", "master": options.master, "spark_version": spark.version,
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "distributed_stages": [*out, *(s.name for s in link_stages())],
        "driver_stages": list(DRIVER_STAGES)}


def spark_score_links(signals: dict[str, SignalMatrix], sync: Any, settings: Settings,
                      options: SparkOptions | None = None, progress: Progress | None = None,
                      registry: Registry | None = None) -> Links:
    """:func:`graphkit.detection.links.score_links` with candidate pairs and similarities run
    on Spark (:mod:`graphkit.engine.link_stages`): the same links as the local engine."""
    return score_links_staged(signals, sync, settings, link_stage_runner(session(options)),
                              progress, registry)


def executor_predictor(spark: Any, partitions: int | None = None
                       ) -> Callable[[Any, pd.DataFrame], tuple[np.ndarray, np.ndarray]]:
    """A ``ScoringOptions.predict`` that applies a LightGBM booster on Spark's executors.

    The feature table becomes a Spark DataFrame (columns by position, with a row number); the
    booster's text is broadcast, and ``mapInPandas`` rebuilds it once per task and scores each
    Arrow batch (log-odds and the per-feature contributions); the driver collects the scores in
    row order. Executors need lightgbm in their Python, like the driver.
    """

    def predict(booster: Any, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        width = x.shape[1]
        frame = pd.DataFrame(x.to_numpy(np.float64), columns=[f"f{i}" for i in range(width)])
        frame.insert(0, "row", np.arange(len(frame), dtype=np.int64))
        model = spark.sparkContext.broadcast(booster.model_to_string())
        features = [f"f{i}" for i in range(width)]
        schema = ", ".join(["row bigint", "raw double",
                            *(f"c{i} double" for i in range(width))])

        def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            import lightgbm as lgb

            tree = lgb.Booster(model_str=model.value)
            for batch in batches:  # Arrow batches of accounts, each scored at once
                values = batch[features].to_numpy(np.float64)
                contrib = tree.predict(values, pred_contrib=True)[:, :-1]
                out = pd.DataFrame(contrib, columns=[f"c{i}" for i in range(width)])
                out.insert(0, "raw", tree.predict(values, raw_score=True))
                out.insert(0, "row", batch["row"].to_numpy())
                yield out

        with warnings.catch_warnings():  # pandas 3 not yet vetted by pyspark 4.x
            warnings.simplefilter("ignore", FutureWarning)
            accounts = spark.createDataFrame(frame)
            if partitions:
                accounts = accounts.repartition(partitions)
            scored = accounts.mapInPandas(score, schema).toPandas()
        model.unpersist()
        scored = scored.sort_values("row").reset_index(drop=True)
        return (scored["raw"].to_numpy(np.float64),
                scored[[f"c{i}" for i in range(width)]].to_numpy(np.float64))

    return predict


@dataclass
class _SparkTables:
    """:class:`graphkit.engine.components.Tables` on Spark: each materialized result is
    checkpointed on the executors (the rounds' lineage does not grow)."""

    spark: Any

    def register(self, name: str, frame: pd.DataFrame) -> None:
        _register(self.spark, name, frame)

    def materialize(self, name: str, sql: str) -> None:
        self.spark.sql(transpile(sql, "spark")).localCheckpoint().createOrReplaceTempView(name)

    def collect(self, sql: str) -> pd.DataFrame:
        with warnings.catch_warnings():  # pyspark 4.x notes pandas 3 as not yet vetted
            warnings.simplefilter("ignore", FutureWarning)
            return self.spark.sql(transpile(sql, "spark")).toPandas()

    def close(self) -> None:
        _drop_views(self.spark)


def spark_tables(spark: Any) -> Tables:
    """Connected components (:func:`graphkit.engine.components.components`) on ``spark``."""
    return _SparkTables(spark)
