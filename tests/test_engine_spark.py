"""The Spark engine against the local one: the same stage definitions, the same results.

Spark runs in local mode (one session for the module, two shuffle partitions, UI off) on the
hand-made fixture and the small simulation. Parity: identical stage outputs and graphs,
link scores equal to 1e-9, the same flagged accounts and communities for the same seed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import graphkit
from graphkit.cli import main
from graphkit.detection import learned
from graphkit.detection.communities import detect_communities
from graphkit.detection.features import account_activity, model_releases
from graphkit.detection.links import score_links
from graphkit.detection.pipeline import detect
from graphkit.detection.signals import signal_matrices
from graphkit.detection.synchrony import window_signatures
from graphkit.engine import link_stages, runner
from graphkit.engine.components import components, duckdb_tables
from graphkit.engine.spark import (
    SparkOptions,
    executor_predictor,
    link_stage_runner,
    run_spark,
    session,
    spark_tables,
)
from graphkit.engine.stages import stages
from graphkit.errors import InputError
from graphkit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = {
    "hand": (ROOT / "fixtures/hand/events.csv", ROOT / "fixtures/hand/accounts.csv",
             ROOT / "fixtures/hand/seeds.csv"),
    "sim-small": (ROOT / "fixtures/sim-small/events.parquet",
                  ROOT / "fixtures/sim-small/accounts.csv", ROOT / "fixtures/sim-small/seeds.csv"),
}
OPTIONS = SparkOptions(master="local[2]", shuffle_partitions=2,
                       conf={"spark.ui.enabled": "false"})


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    s = session(OPTIONS)
    yield s


@pytest.fixture(scope="module")
def spark_outputs(spark) -> dict[str, runner.Outputs]:
    """Each fixture's stage outputs computed on Spark, once for the module."""
    return {name: run_spark(_load(name), Settings(), spark) for name in FIXTURES}


def _load(name: str) -> graphkit.Dataset:
    events, accounts, seeds = FIXTURES[name]
    return graphkit.load(events, accounts=accounts, seeds=seeds)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("first_seen", "last_seen"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    for col in frame.columns:
        if frame[col].dtype == object or str(frame[col].dtype).startswith("str"):
            frame[col] = frame[col].astype(object)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_both_engines_run_the_registered_stage_sql(name: str, spark_outputs) -> None:
    """Every stage in the registry, transpiled for Spark and run as written on DuckDB, gives
    the same table (entity aggregates, totals, statistics)."""
    ds = _load(name)
    settings = Settings()
    local = runner.run_duckdb(ds, settings)
    distributed = spark_outputs[name]
    plan = [s.name for s in runner.plan(ds, settings)]
    assert list(local) == list(distributed)
    assert [stage for stage in local if stage != "release_traffic"] == plan
    assert any(stage.startswith("edges_") for stage in plan)
    for stage in local:
        a, b = _sorted(local[stage]), _sorted(distributed[stage])
        assert list(a.columns) == list(b.columns), stage
        assert len(a) == len(b), stage
        for col in a.columns:
            if pd.api.types.is_float_dtype(a[col]):
                np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float),
                                           rtol=0, atol=1e-12, err_msg=stage)
            else:
                left, right = a[col].astype(object), b[col].astype(object)
                assert (left.isna().to_numpy() == right.isna().to_numpy()).all(), (stage, col)
                held = left.notna().to_numpy()
                assert (left[held].astype(str).to_numpy()
                        == right[held].astype(str).to_numpy()).all(), (stage, col)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_stages_rebuild_the_local_graph_on_both_engines(name: str, spark_outputs) -> None:
    """The stage outputs give exactly build_graph's node and edge tables, from either engine."""
    ds = _load(name)
    expected = graphkit.build_graph(ds)
    from_duckdb = runner.graph_from_outputs(ds, runner.run_duckdb(ds, Settings()))
    from_spark = runner.graph_from_outputs(ds, spark_outputs[name])
    for graph in (from_duckdb, from_spark):
        assert list(graph.nodes) == list(expected.nodes)
        assert list(graph.edges) == list(expected.edges)
        for t in expected.nodes:
            pd.testing.assert_frame_equal(graph.nodes[t], expected.nodes[t])
        for t in expected.edges:
            pd.testing.assert_frame_equal(graph.edges[t], expected.edges[t])


def test_entity_statistics_match_the_link_stage() -> None:
    """The stats stage's degree and idf are those the link scores use."""
    ds = _load("sim-small")
    settings = Settings()
    out = runner.run_duckdb(ds, settings)
    graph = graphkit.build_graph(ds)
    ds.con.register("gk_codes", pd.DataFrame({
        "account_id": graph.accounts["account_id"].to_numpy(),
        "account_idx": np.arange(len(graph.accounts))}))
    signals = signal_matrices(graph, ds, settings, "gk_codes")
    compared = 0
    for name, label in (("ip", "IP"), ("payment", "PaymentMethod"),
                        ("template", "PromptTemplate"), ("user_agent", "UserAgent")):
        if name not in signals or f"stats_{label}" not in out:
            continue
        sig = signals[name]
        stats = out[f"stats_{label}"].set_index("key").loc[list(sig.keys)]
        np.testing.assert_array_equal(stats["degree"].to_numpy(), sig.degree)
        idf = stats["idf"].to_numpy(float)
        if name == "ip" and "OPERATED_BY" in graph.edges:
            factor = np.ones(len(idf))
            factor[graph.edges["OPERATED_BY"]["src"].to_numpy()] = settings.operated_ip_factor
            idf = idf * factor
        np.testing.assert_allclose(idf, sig.idf, rtol=0, atol=1e-12)
        compared += 1
    assert compared >= 3


def _flagged(result) -> set[str]:
    return set(result.accounts.loc[result.accounts["flagged"], "account_id"])


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_detect_parity(name: str, spark_outputs) -> None:
    """Detection on the graph from Spark's aggregates, with candidate pairs and similarities
    on Spark, equals the local engine's (the CLI test below runs --engine spark end to end)."""
    settings = Settings(seed=7)
    local = detect(_load(name), settings)
    ds = _load(name)
    dist = detect(ds, settings, graph=runner.graph_from_outputs(ds, spark_outputs[name]),
                  engine="spark", spark=OPTIONS)
    key = ["account_a", "account_b"]
    a = local.links.sort_values(key).reset_index(drop=True)
    b = dist.links.sort_values(key).reset_index(drop=True)
    assert (a[key].to_numpy() == b[key].to_numpy()).all()
    num = [c for c in a.columns if c not in key]
    np.testing.assert_allclose(a[num].to_numpy(float), b[num].to_numpy(float), rtol=0, atol=1e-9)
    assert _flagged(local) == _flagged(dist)
    pd.testing.assert_frame_equal(local.accounts, dist.accounts)
    cols = ["community_id", "size", "suspicion", "flagged"]
    pd.testing.assert_frame_equal(local.communities[cols], dist.communities[cols])


def test_validation_stage_rejects_events_without_account(tmp_path: Path, spark) -> None:
    ds = _load("hand")
    bad = tmp_path / "bad.parquet"
    ds.con.execute(f"COPY (SELECT * REPLACE (CASE WHEN ip = '10.0.0.2' THEN NULL ELSE account_id "
                   f"END AS account_id) FROM events) TO '{bad}' (FORMAT parquet)")
    with pytest.raises(InputError, match="no account_id"):
        run_spark(ds, Settings(), spark, events_path=str(bad))


def test_cli_engine_spark_writes_the_same_outputs(tmp_path: Path, spark) -> None:
    """Both engines, end to end with a model trained on labels (applied on the executors with
    --engine spark), write the same CSV files."""
    events, accounts, seeds = FIXTURES["sim-small"]
    truth = pd.read_csv(ROOT / "fixtures/sim-small/truth.csv", keep_default_na=False)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"account_id": truth["account_id"],
                  "label": (truth["campaign"] != "").astype(int)}).iloc[::3].to_csv(
        labels, index=False)
    outs = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        args = ["detect", str(events), "--accounts", str(accounts), "--seeds", str(seeds),
                "--out", str(out), "--engine", engine, "--labels", str(labels)]
        if engine == "spark":
            args += ["--spark-master", "local[2]"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        outs[engine] = out
    for name in ("accounts.csv", "communities.csv", "links.csv"):
        local = pd.read_csv(outs["duckdb"] / name)
        dist = pd.read_csv(outs["spark"] / name)
        pd.testing.assert_frame_equal(local.drop(columns=["cypher"], errors="ignore"),
                                      dist.drop(columns=["cypher"], errors="ignore"))
    manifest = json.loads((outs["spark"] / "manifest.json").read_text())
    assert manifest["outputs"]["engine"]["name"] == "spark"
    assert "edges_USED_IP" in manifest["outputs"]["engine"]["distributed_stages"]
    assert manifest["outputs"]["engine"]["master"] == "local[2]"
    assert "executors" in manifest["outputs"]["engine"]["account_model"]
    assert manifest["outputs"]["account_scoring"]["mode"] == "supervised"
    local_manifest = json.loads((outs["duckdb"] / "manifest.json").read_text())
    assert local_manifest["outputs"]["engine"]["name"] == "duckdb"


def test_stage_plan_follows_the_registry() -> None:
    names = [s.name for s in stages(Settings(), 10, ["ip", "payment_id", "template_hash",
                                                     "proxy_provider", "user_agent", "model"])]
    from graphkit.registry import KINDS
    for k in KINDS:
        assert f"edges_{k.rel}" in names and f"nodes_{k.label}" in names


def _signals(name: str, settings: Settings):
    ds = _load(name)
    graph = graphkit.build_graph(ds)
    ds.con.register("gk_codes", pd.DataFrame({
        "account_id": graph.accounts["account_id"].to_numpy(),
        "account_idx": np.arange(len(graph.accounts))}))
    signals = signal_matrices(graph, ds, settings, "gk_codes")
    sync = window_signatures(ds.con, "gk_codes", len(graph.accounts), settings)
    return signals, sync


@pytest.mark.parametrize(("name", "budget"), [("hand", None), ("sim-small", None),
                                              ("sim-small", 2000)])
def test_link_stages_give_the_local_links_on_both_engines(name: str, budget: int | None,
                                                          spark) -> None:
    """The link stage SQL run by DuckDB as written and by Spark transpiled gives the same
    tables, and both give score_links' links: the same pairs, every column within 1e-9; with a
    small pair budget the seeded ring of large entities is the local engine's too."""
    settings = Settings(seed=7) if budget is None else Settings(seed=7,
                                                                max_candidate_pairs=budget)
    signals, sync = _signals(name, settings)
    expected = score_links(signals, sync, settings)
    inputs = link_stages.link_inputs(signals, sync, settings)
    local_out = link_stages.run_link_stages_duckdb(inputs.tables, link_stages.link_stages())
    spark_out = link_stage_runner(spark)(inputs.tables, link_stages.link_stages())
    for stage in link_stages.link_stages():
        a, b = _sorted(local_out[stage.name]), _sorted(spark_out[stage.name])
        assert len(a) == len(b) > 0, stage.name
        for col in a.columns:
            np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float),
                                       rtol=0, atol=1e-12, err_msg=f"{stage.name}.{col}")
    for out in (local_out, spark_out):
        got = link_stages.links_from_outputs(inputs, out, sync, settings)
        assert got.ring_neighbours == expected.ring_neighbours
        t, e = got.table, expected.table
        assert len(e) > 0 and list(t.columns) == list(e.columns)
        assert (t[["a", "b"]].to_numpy() == e[["a", "b"]].to_numpy()).all()
        np.testing.assert_allclose(t.to_numpy(float), e.to_numpy(float), rtol=0, atol=1e-9)
    if budget is not None:  # the ring was drawn, and some pairs were sampled
        assert expected.ring_neighbours is not None
        assert (expected.table["inclusion"] < 1).any()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_activity_stages_give_the_event_features(name: str, spark_outputs) -> None:
    """Account features, synchrony's windows and clock alignment and the releases from the
    activity stages (either engine) equal those the local engine reads from the events."""
    ds = _load(name)
    settings = Settings()
    graph = graphkit.build_graph(ds)
    ids = graph.accounts["account_id"].to_numpy()
    n = len(ids)
    events = ds.event_arrays()
    releases = model_releases(events, settings)
    expected = account_activity(events, releases, n, settings)
    codes = pd.DataFrame({"account_id": ids, "account_idx": np.arange(n)})
    ds.con.register("gk_codes", codes)
    sync = window_signatures(ds.con, "gk_codes", n, settings, times=(events.account, events.us))
    proxy = signal_matrices(graph, ds, settings, "gk_codes")
    if name == "sim-small":
        assert releases and expected.traffic.on_model.sum() > 0
    for out in (runner.run_duckdb(ds, settings), spark_outputs[name]):
        staged = runner.activity_from_outputs(out, ids, settings)
        assert staged.releases == releases
        np.testing.assert_array_equal(staged.activity.proxy_events, expected.proxy_events)
        assert staged.activity.traffic.models == expected.traffic.models
        for field in ("on_model", "in_window", "before_on", "before"):
            np.testing.assert_array_equal(getattr(staged.activity.traffic, field),
                                          getattr(expected.traffic, field), err_msg=field)
        np.testing.assert_allclose(staged.activity.hour_entropy, expected.hour_entropy,
                                   rtol=0, atol=1e-12)
        # The pooled day's input: each account's sum of hour-of-day unit vectors.
        assert np.abs(expected.hour_vector).sum() > 0
        np.testing.assert_allclose(staged.activity.hour_vector, expected.hour_vector,
                                   rtol=0, atol=1e-9)
        np.testing.assert_allclose(staged.clock_aligned, sync.clock_aligned, rtol=0, atol=1e-12)
        got = staged.signatures(settings)
        for field in ("signature", "n_windows", "hour_signature", "n_hours", "active"):
            np.testing.assert_array_equal(getattr(got, field), getattr(sync, field),
                                          err_msg=field)
        if "proxy" in proxy:  # the proxy signal from the stage's counts, not the events
            staged_proxy = signal_matrices(graph, ds, settings, "gk_codes",
                                           staged.proxy_counts)["proxy"]
            assert (staged_proxy.shares != proxy["proxy"].shares).nnz == 0
            np.testing.assert_array_equal(staged_proxy.keys, proxy["proxy"].keys)
    assert name == "hand" or "proxy" in proxy


def test_model_applied_on_the_executors_scores_as_the_driver(spark) -> None:
    """A LightGBM model applied with mapInPandas on the executors gives the driver's log-odds
    and contributions (missing values included), in the accounts' order, and cross-fitting
    with it gives the same scores."""
    rng = np.random.default_rng(3)
    n = 900
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, size=n).astype(float),
                      "c": rng.normal(size=n)})
    x.loc[rng.random(n) < 0.1, "c"] = np.nan
    y = np.full(n, np.nan)
    y[:400] = (x["a"][:400] + (x["b"][:400] == 2) + rng.normal(scale=0.5, size=400) > 0.5)
    local = learned.cross_fit(x, y, folds=3, seed=1)
    predict = executor_predictor(spark)
    raw, contrib = predict(local.model, x)
    expected_raw, expected_contrib = learned._predict(local.model, x)
    assert np.ptp(raw) > 0
    np.testing.assert_allclose(raw, expected_raw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(contrib, expected_contrib, rtol=0, atol=1e-12)
    distributed = learned.cross_fit(x, y, folds=3, seed=1, predict=predict)
    np.testing.assert_allclose(distributed.raw, local.raw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(distributed.contributions, local.contributions, rtol=0,
                               atol=1e-12)


def test_components_stage_sql_gives_igraphs_components_on_both_engines(spark) -> None:
    """Connected components by label propagation, run by DuckDB and by Spark, are igraph's."""
    settings = Settings(seed=7)
    signals, sync = _signals("sim-small", settings)
    links = score_links(signals, sync, settings)
    expected = detect_communities(links, Settings(method="components"))
    assert (expected.sizes >= 3).sum() >= 2
    for tables in (duckdb_tables(), spark_tables(spark)):
        got = components(links, tables)
        np.testing.assert_array_equal(got.membership, expected.membership)
        np.testing.assert_array_equal(got.sizes, expected.sizes)


def test_detect_beyond_max_collected_links_runs_components_on_the_cluster() -> None:
    """A link graph larger than max_collected_links is not collected for Leiden: the Spark
    engine's communities are the connected components, as the local components method's, and
    the manifest says where they ran."""
    dist = detect(_load("hand"), Settings(seed=7, max_collected_links=1), engine="spark",
                  spark=OPTIONS)
    local = detect(_load("hand"), Settings(seed=7, method="components"))
    assert "on the cluster" in dist.extra_outputs["engine"]["communities"]
    assert len(dist.links) > 1
    pd.testing.assert_series_equal(dist.accounts["community_id"], local.accounts["community_id"])
