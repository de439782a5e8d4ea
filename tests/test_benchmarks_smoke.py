"""The benchmark runners still run: tiny scale, one repetition, checks what they write.

No timing is asserted here (figures live in benchmarks/ and docs/performance.md); these tests
only check that the runners work end to end and report every figure they promise.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_build
import bench_detect
import common

SCALE = "0.002"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


def _stats_ok(block: dict) -> None:
    assert block["repetitions"] == 1
    assert block["wall_s"]["median"] > 0
    assert block["peak_rss_bytes"]["median"] > 10 * 2**20  # a Python process with data loaded


def test_simulation_cache_is_reused_and_keyed(cache: Path) -> None:
    first = common.ensure_simulation(0.001, 3, cache, log=False)
    stamp = (first.directory / "cache.json").stat().st_mtime_ns
    again = common.ensure_simulation(0.001, 3, cache, log=False)
    assert again == first
    assert (again.directory / "cache.json").stat().st_mtime_ns == stamp  # not regenerated
    assert common.simulator_version() in first.directory.name
    assert first.n_events > 0 and first.events.is_file() and first.seeds.is_file()
    # A cache written by another simulator version is stale: replaced, not reused.
    stale = first.directory.with_name(first.directory.name.split("-v")[0] + "-vold")
    first.directory.rename(stale)
    fresh = common.ensure_simulation(0.001, 3, cache, log=False)
    assert fresh.directory.is_dir() and not stale.exists()


def test_measure_reports_own_peak_rss_and_stops_at_budgets(tmp_path: Path) -> None:
    grow = "b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    s = common.measure([sys.executable, "-c", grow + "; print('done')"])
    assert s.peak_rss_bytes >= 300 * 2**20 and s.wall_s > 0 and s.cpu_s > 0
    assert s.stdout.strip() == "done"
    with pytest.raises(common.BudgetExceeded) as exc:
        common.measure([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)
    assert exc.value.reason == "time" and exc.value.peak_rss_bytes > 2**20  # what it held
    with pytest.raises(common.BenchmarkError, match=r"(?s)exit 127.*No such file"):
        common.measure([str(tmp_path / "no-such-program")])
    hold = grow + "; import time; time.sleep(30)"
    start = time.perf_counter()
    with pytest.raises(common.BudgetExceeded) as exc:
        common.measure([sys.executable, "-c", hold], max_rss_bytes=100 * 2**20)
    assert exc.value.reason == "memory" and time.perf_counter() - start < 20
    with pytest.raises(common.BenchmarkError):
        common.measure([sys.executable, "-c", "raise SystemExit(3)"])


def test_a_childs_peak_is_its_own_not_the_parents_memory_at_the_fork() -> None:
    # On Linux a child's ru_maxrss starts from what its parent held when it forked: a
    # benchmark that simulated its data first reported the simulator's memory as detect's.
    held = np.ones(600 * 2**20 // 8)  # 600 MiB resident in this (the parent) process
    small = common.measure([sys.executable, "-c", "import time; time.sleep(0.3)"])
    assert small.peak_rss_bytes < 200 * 2**20
    grow = ("b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
            "import time; time.sleep(0.3)")
    grown = common.measure([sys.executable, "-c", grow])
    assert 300 * 2**20 <= grown.peak_rss_bytes < 500 * 2**20
    report = ("import json; from graphkit.progress import memory_gib; "
              "print(json.dumps(memory_gib()))")
    mem = json.loads(common.measure([sys.executable, "-c", report]).stdout)
    assert mem["peak"] < 0.2 and mem["rss"] <= mem["peak"]
    assert held.sum() > 0


def test_bench_build_writes_json_and_markdown(cache: Path, tmp_path: Path) -> None:
    data = bench_build.main(["--scale", SCALE, "--repeat", "1", "--cli-runs", "1",
                             "--out", str(tmp_path), "--cache-dir", str(cache)])
    saved = json.loads((tmp_path / "build.json").read_text())
    assert saved["build"] == json.loads(json.dumps(data["build"]))
    assert {"benchmark", "reproduce", "data", "graph", "build", "cli", "machine"} <= set(saved)
    _stats_ok(saved["build"])
    _stats_ok(saved["cli"])
    stages = saved["build"]["stages_s"]
    assert {"load", "graph", "read events", "graph: USED_IP"} <= set(stages)
    assert saved["build"]["stage_parents"]["graph: USED_IP"] == "graph"
    assert saved["graph"]["nodes"]["Account"] == saved["data"]["n_accounts"]
    assert saved["reproduce"].startswith("python benchmarks/bench_build.py --scale 0.002")
    md = (tmp_path / "build.md").read_text()
    assert "peak RSS" in md and saved["reproduce"] in md


def test_bench_detect_compares_on_a_named_sample(cache: Path, tmp_path: Path) -> None:
    data = bench_detect.main(["--scale", SCALE, "--repeat", "1", "--cli-runs", "1",
                              "--skip-full-reference", "--sample-accounts", "120",
                              "--reference-budget", "120", "--out", str(tmp_path),
                              "--cache-dir", str(cache)])
    saved = json.loads((tmp_path / "detect.json").read_text())
    assert {"benchmark", "reproduce", "data", "target", "graphkit", "cli", "reference_full",
            "reference_samples", "comparison", "target_met", "machine"} <= set(saved)
    _stats_ok(saved["graphkit"])
    _stats_ok(saved["cli"])
    stages = set(saved["graphkit"]["stages_s"])
    assert {"load", "communities", "scoring", "write"} <= stages
    assert any(s.startswith("links") for s in stages)
    assert set(saved["graphkit"]["phases_s"]) == set(bench_detect.PHASES)
    # 120 accounts finish well within budget, so the sample doubles to 240 (of 280: the last
    # size below the whole data set) and the comparison is made on the larger one.
    first, run = saved["reference_samples"]
    assert first["reference"]["finished"] and "graphkit" not in first
    assert first["sample"]["n_accounts"] == 120
    assert run["reference"]["finished"]
    assert run["sample"]["n_accounts"] == 240
    assert run["sample"]["n_events"] < saved["data"]["n_events"]
    assert run["graphkit"]["result"]["accounts"] >= 240
    comp = saved["comparison"]
    assert "240 accounts" in comp["on"]
    assert comp["speedup"] == pytest.approx(comp["reference_wall_s"] / comp["graphkit_wall_s"],
                                            rel=0.01)
    assert isinstance(saved["target_met"]["wall"], bool)
    md = (tmp_path / "detect.md").read_text()
    assert "Side by side" in md and "sample-first240accounts" in md
    assert data["comparison"]["on"] == comp["on"]


def test_reference_stopped_at_budget_is_reported(cache: Path, tmp_path: Path) -> None:
    sim = common.ensure_simulation(float(SCALE), 0, cache, log=False)
    ref = bench_detect.run_reference(sim, 1, tmp_path, "full", budget=0.5, max_rss=8 * 2**30)
    assert ref["finished"] is False and ref["stopped_by"] == "time"
    assert ref["wall_s"] >= 0.5


def test_bench_detect_reports_a_graphkit_run_stopped_at_its_memory_budget(
        cache: Path, tmp_path: Path) -> None:
    data = bench_detect.main(["--scale", SCALE, "--repeat", "1", "--cli-runs", "1",
                              "--max-rss-gib", "0.05", "--skip-full-reference",
                              "--sample-accounts", "60", "--out", str(tmp_path),
                              "--cache-dir", str(cache)])
    assert data["graphkit"]["finished"] is False
    assert data["graphkit"]["stopped_by"] == "memory"
    assert data["cli"] == {"command": data["cli"]["command"]}  # not run after a stopped run
    assert data["target_met"] == {"wall": False, "memory": False, "speedup": False}
    md = (tmp_path / "detect.md").read_text()
    assert "stopped at the memory budget" in md


def test_bench_scale_reports_floor_ratio_growth_and_stages(cache: Path, tmp_path: Path) -> None:
    import bench_scale

    out = tmp_path / "scale"
    assert bench_scale.main(["--sizes", "tiny,tiny", "--out", str(out),
                             "--cache-dir", str(cache)]) == 0
    data = json.loads((out / "scale.json").read_text())
    assert [p["size"] for p in data["sizes"]] == ["tiny", "tiny"]
    for p in data["sizes"]:
        _stats_ok(p["detect"])
        _stats_ok(p["floor"])
        assert p["detect_over_floor"] > 0
        assert p["n_accounts"] > 0 and p["n_events"] > p["n_accounts"]
        assert {"links: candidate pairs", "communities", "scoring: evidence"} \
            <= set(p["detect"]["stages_s"])
        memory = p["detect"]["stages_memory_gib"]  # every timed stage, resident and peak
        assert set(memory) == set(p["detect"]["stages_s"])
        peaks = [memory[k]["peak"] for k in memory]
        assert all(0 < memory[k]["rss"] <= memory[k]["peak"] + 1e-3 for k in memory)
        assert max(peaks) <= p["detect"]["peak_rss_bytes"]["max"] / 2**30 + 1e-3
    assert data["growth_wall"] is None  # two runs of one size: no slope to measure
    md = (out / "scale.md").read_text()
    assert "detect / floor" in md and "python benchmarks/bench_scale.py" in md
    assert "Memory at the end of each stage" in md
    stages = [common.peak_stage(p["detect"]) for p in data["sizes"]]
    assert all(stage in p["detect"]["stages_s"] for stage, p in zip(stages, data["sizes"]))
    assert f"| **the peak was set in** | {' | '.join(stages)} |" in md


def test_peak_stage_names_the_nested_stage_not_the_one_it_ran_in() -> None:
    # stages_s is in the order stages ended: "read events" before "load", which held it
    summary = {"stages_s": {"read events": 1.0, "load": 1.5, "graph": 2.0, "links": 1.0},
               "stages_memory_gib": {"read events": {"rss": 1.0, "peak": 2.0},
                                     "load": {"rss": 1.0, "peak": 2.0},
                                     "graph": {"rss": 1.5, "peak": 2.0},
                                     "links": {"rss": 1.5, "peak": 2.5}}}
    assert common.peak_stage(summary) == "links"
    summary["stages_memory_gib"]["links"]["peak"] = 2.0
    assert common.peak_stage(summary) == "read events"
    assert common.peak_stage({"stages_s": {"load": 1.0}}) is None


def test_bench_pseudonyms_reports_every_figure(cache: Path, tmp_path: Path, monkeypatch) -> None:
    import bench_pseudonyms

    monkeypatch.setenv("GRAPHKIT_PSEUDONYM_KEY", "smoke")
    out = bench_pseudonyms.main(["--scale", SCALE, "--repeat", "1", "--out", str(tmp_path),
                                 "--cache-dir", str(cache)])
    assert out["load_seconds"] > 0 and out["load_pseudonymized_seconds"] > 0
    assert out["pseudonymize_seconds"] > 0 and out["distinct_values"] > out["data"]["n_accounts"]
    written = json.loads((tmp_path / "pseudonyms.json").read_text())
    assert written["command"].startswith("python benchmarks/bench_pseudonyms.py")
    assert "Reproduce:" in (tmp_path / "pseudonyms.md").read_text()


def test_bench_outside_generates_detects_and_scores_both_scenarios(tmp_path: Path) -> None:
    import bench_outside

    bench_outside.main(["--accounts", "20000", "--seed", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "outside.json").read_text())
    rows = {row["scenario"]: row for row in data["rows"]}
    assert set(rows) == {"A", "B"}
    for row in rows.values():
        assert set(row["figures"]) == {"graphkit", "naive"}
        ours = row["figures"]["graphkit"]
        assert ours["n_accounts"] >= 20000 and ours["n_positive"] > 0
        assert 0 < ours["auc"] <= 1 and ours["recall_per_campaign"] and ours["fpr_per_kind"]
    assert rows["B"]["options"] == ["--identifier", "device_id:device", "--identifier", "phone"]
    md = (tmp_path / "outside.md").read_text()
    assert "| A | graphkit |" in md and "| B | naive |" in md
