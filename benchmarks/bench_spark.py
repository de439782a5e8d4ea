"""Both engines on simulated logs: ``graphkit detect --engine duckdb`` and ``--engine spark``.

For every ``--scales`` value (0.1 is about 3M events, 1.0 about 30M) the simulation is made
once (cached in ``benchmarks/.cache/``), then each engine runs ``--repeat`` times as the
command line in a fresh process. Figures per run: wall time, peak memory of the whole process
tree (the Python driver plus Spark's JVM, sampled every 0.2 s: ``ru_maxrss`` would see only the
largest process), the manifest's stage times, and agreement of the two engines' results
(Jaccard of the flagged accounts, largest link-score difference). Writes ``spark.json`` and
``spark.md`` into ``--out`` with the command that reproduces them.

    python benchmarks/bench_spark.py                          # 3M and 30M events
    python benchmarks/bench_spark.py --scales 0.1 0.33 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CACHE_DIR, command_line, ensure_simulation, gib, machine, median, write_report

ENGINES = ("duckdb", "spark")


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of ``proc`` and all its descendants, in bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run ``argv``; its wall time and the peak resident memory of its process tree."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=None if env is None else {**os.environ, **env})
    handle = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(handle))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"exit {proc.returncode}: {' '.join(argv)}\n"
                         + proc.stderr.read().decode(errors="replace")[-2000:])
    return wall, peak


def agreement(a: Path, b: Path) -> dict[str, float]:
    """Jaccard of the flagged accounts and the largest link-score difference of two runs."""
    fa, fb = (set(pd.read_csv(d / "accounts.csv").query("flagged")["account_id"]) for d in (a, b))
    la, lb = (pd.read_csv(d / "links.csv").set_index(["account_a", "account_b"])["score"]
              for d in (a, b))
    joined = la.to_frame("a").join(lb.to_frame("b"), how="outer")
    return {"flagged_jaccard": len(fa & fb) / max(len(fa | fb), 1),
            "max_link_score_difference": float((joined["a"] - joined["b"]).abs().max()),
            "links_only_in_one": int(joined.isna().any(axis=1).sum())}


def bench(scale: float, seed: int, repeat: int, work: Path, master: str,
          driver_memory: str) -> dict[str, Any]:
    sim = ensure_simulation(scale, seed, CACHE_DIR)
    out: dict[str, Any] = {"scale": scale, "n_events": sim.n_events,
                           "n_accounts": sim.n_accounts}
    dirs = {}
    for engine in ENGINES:
        walls, peaks = [], []
        for i in range(repeat):
            target = work / f"{scale:g}-{engine}-{i}"
            argv = [sys.executable, "-m", "graphkit", "detect", str(sim.events), "--accounts",
                    str(sim.accounts), "--seeds", str(sim.seeds), "--out", str(target),
                    "--engine", engine]
            env = None
            if engine == "spark":  # the JVM's heap is fixed when it starts
                argv += ["--spark-master", master]
                env = {"PYSPARK_SUBMIT_ARGS": f"--driver-memory {driver_memory} pyspark-shell"}
            wall, peak = run(argv, env)
            walls.append(wall)
            peaks.append(peak)
            print(f"scale {scale:g} {engine}: {wall:.1f} s, {gib(peak)}", file=sys.stderr)
        dirs[engine] = target
        manifest = json.loads((target / "manifest.json").read_text())
        out[engine] = {"wall_s": round(median(walls), 2), "peak_tree_rss_bytes": int(median(peaks)),
                       "runs": len(walls),
                       "stages_s": {k: round(v, 2) for k, v in manifest["timings_seconds"].items()},
                       "engine": manifest["outputs"]["engine"]}
    out["agreement"] = agreement(dirs["duckdb"], dirs["spark"])
    return out


def markdown(rows: list[dict[str, Any]], cmd: str, info: dict[str, Any]) -> str:
    lines = [f"# Engines: duckdb vs spark ({info.get('cpus_usable', '?')} cores)", "",
             "| events | accounts | engine | wall s | peak memory (tree) | graph stage s |",
             "|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        for e in ENGINES:
            st = r[e]["stages_s"]
            graph = st.get("graph (spark)", st.get("graph", 0.0))
            lines.append(f"| {r['n_events']:,} | {r['n_accounts']:,} | {e} | {r[e]['wall_s']} | "
                         f"{gib(r[e]['peak_tree_rss_bytes'])} | {graph} |")
    lines += ["", "| events | flagged Jaccard | max link score difference | links in one only |",
              "|---:|---:|---:|---:|"]
    for r in rows:
        a = r["agreement"]
        lines.append(f"| {r['n_events']:,} | {a['flagged_jaccard']:.4f} | "
                     f"{a['max_link_score_difference']:.2e} | {a['links_only_in_one']} |")
    if len(rows) > 1:
        lines += ["", "Growth from the smallest to the largest log (wall, memory):"]
        for e in ENGINES:
            w = rows[-1][e]["wall_s"] / rows[0][e]["wall_s"]
            m = rows[-1][e]["peak_tree_rss_bytes"] / rows[0][e]["peak_tree_rss_bytes"]
            lines.append(f"- {e}: x{w:.2f} wall, x{m:.2f} memory for "
                         f"x{rows[-1]['n_events'] / rows[0]['n_events']:.1f} events")
    lines += ["", f"`{cmd}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--master", default="local[*]")
    p.add_argument("--driver-memory", default="6g",
                   help="Spark driver JVM heap (in local mode the executors share it)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--work", type=Path, default=None, help="where run outputs go (temporary)")
    args = p.parse_args(argv)
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="gk-bench-spark-"))
    rows = [bench(s, args.seed, args.repeat, work, args.master, args.driver_memory)
            for s in args.scales]
    info = machine()
    cmd = command_line(sys.argv if argv is None else ["benchmarks/bench_spark.py", *argv])
    data = {"command": cmd, "machine": info, "load_at_end": os.getloadavg()[0], "results": rows}
    paths = write_report(args.out, "spark", data, markdown(rows, cmd, info))
    print(markdown(rows, cmd, info))
    print("written:", *paths)


if __name__ == "__main__":
    main()
