"""Day-over-day detect: a month plus one day, incremental vs a full rerun.

Simulates a month (``--scale``, default 0.1), splits its events at the start of the last day
into "month minus a day" and "the last day", detects the first once (the previous run, which
writes its aggregate state), then times, each in a fresh process, ``graphkit detect MONTH DAY
--previous PREV`` incrementally (reads the day only, merges it into PREV's state) and as a full
rerun (the same command with ``--no-incremental``: every event file read again). Prints median
wall times (of ``--repeat``), stage times from the manifests, the DuckDB floor of the same run (a
plain ``GROUP BY account_id, ip`` count over the month's events, and over the day's), the share
of ids kept, and checks that both runs wrote the same accounts.csv, links.csv and
communities.csv (apart from the run id).

Then the aggregate state (:mod:`graphkit.graph.state`): in this process, the month's aggregates
from scratch (load the month, aggregate) against the incremental update (read the saved state
of month minus a day, load and aggregate the one new day, merge), medians of ``--repeat``, with
the DuckDB floor of reading the month's events in the same run, and a check that both give the
same tables (``merge_saved_state``, what ``detect --previous`` runs). ``--state-only`` skips the
detect runs; ``--no-state-part`` skips this part.

    python benchmarks/bench_incremental.py --scale 0.1 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _detect(events: list[Path], accounts: Path, out: Path, previous: Path | None,
            *extra: str) -> float:
    cmd = [sys.executable, "-c", "from graphkit.cli import main; main()", "detect",
           *map(str, events), "--accounts", str(accounts), "--out", str(out), *extra]
    if previous is not None:
        cmd += ["--previous", str(previous)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".cache" / "incremental")
    ap.add_argument("--state-only", action="store_true", help="only the aggregate-state figures")
    ap.add_argument("--no-state-part", action="store_true",
                    help="skip the in-process aggregate-state figures")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import duckdb
    import pandas as pd

    from graphkit.simulate.world import simulate

    work = args.work / f"scale{args.scale}-seed{args.seed}"
    sim = work / "sim"
    if not (sim / "events.parquet").is_file():
        simulate(sim, scale=args.scale, seed=args.seed)
    full = sim / "events.parquet"
    short = work / "short.parquet"
    con = duckdb.connect()
    last_day = con.execute(f"SELECT date_trunc('day', max(ts)) FROM '{full}'").fetchone()[0]
    con.execute(f"COPY (SELECT * FROM '{full}' WHERE ts < TIMESTAMP '{last_day}' ORDER BY ts) "
                f"TO '{short}' (FORMAT parquet)")
    n_full = con.execute(f"SELECT count(*) FROM '{full}'").fetchone()[0]
    n_short = con.execute(f"SELECT count(*) FROM '{short}'").fetchone()[0]
    accounts = sim / "accounts.csv"
    day = work / "day.parquet"
    con.execute(f"COPY (SELECT * FROM '{full}' WHERE ts >= TIMESTAMP '{last_day}' ORDER BY ts) "
                f"TO '{day}' (FORMAT parquet)")
    print(f"events: month minus a day {n_short:,}, month {n_full:,} (scale {args.scale})")
    if not args.no_state_part:
        _bench_state(work, full, short, day, args.repeat)
    if args.state_only:
        return
    prev = work / "prev"
    for d in [prev, *work.glob("full[0-9]*"), *work.glob("warm[0-9]*")]:
        shutil.rmtree(d, ignore_errors=True)
    t_prev = _detect([short], accounts, prev, None)

    floor, floor_day = [], []
    for _ in range(args.repeat):
        for path, out in ((full, floor), (day, floor_day)):
            t0 = time.perf_counter()
            con.execute(f"SELECT account_id, ip, count(*) FROM '{path}' GROUP BY ALL").fetchall()
            out.append(time.perf_counter() - t0)
    rerun, warm = [], []
    for r in range(args.repeat):
        rerun.append(_detect([short, day], accounts, work / f"full{r}", prev,
                             "--no-incremental"))
        warm.append(_detect([short, day], accounts, work / f"warm{r}", prev))

    def timing(d: Path, step: str) -> float:
        return json.loads((d / "manifest.json").read_text())["timings_seconds"].get(step, 0.0)

    def same(a: Path, b: Path) -> bool:
        run_id = re.compile(r'run_id => "+[0-9A-Za-z-]+"+')
        return all(run_id.sub("", (a / f).read_text()) == run_id.sub("", (b / f).read_text())
                   for f in ("accounts.csv", "links.csv", "communities.csv"))

    m = json.loads((work / "warm0" / "manifest.json").read_text())["outputs"]
    assert m["incremental"]["mode"] == "incremental", m["incremental"]
    ids = m["community_ids"]
    pacc = pd.read_csv(prev / "accounts.csv", dtype={"account_id": str})
    pcom = pd.read_csv(prev / "communities.csv")
    now = pd.read_csv(work / "warm0" / "accounts.csv", dtype={"account_id": str}) \
        .set_index("account_id")["community_id"]
    pacc = pacc[pacc["community_id"].isin(pcom["community_id"])]
    stay = (pacc["account_id"].map(now) == pacc["community_id"]).groupby(pacc["community_id"])
    kept = float((stay.mean() >= 0.5).mean())
    med = statistics.median
    print(f"previous run (month minus a day): {t_prev:.1f} s (writing its aggregate state: "
          f"{timing(prev, 'aggregate state'):.2f} s)")
    for name, runs, d in (("full rerun (--previous --no-incremental)", rerun, "full0"),
                          ("incremental (--previous)", warm, "warm0")):
        print(f"detect month + day, {name}: median {med(runs):.1f} s of {args.repeat} "
              f"(load {timing(work / d, 'load'):.2f} s, graph {timing(work / d, 'graph'):.2f} s, "
              f"aggregate state {timing(work / d, 'aggregate state'):.2f} s, Leiden "
              f"{timing(work / d, 'communities'):.2f} s)")
    print(f"saving: {med(rerun) - med(warm):.1f} s ({100 * (1 - med(warm) / med(rerun)):.0f}%)")
    for name, (full_med, warm_med) in _stage_medians(work, args.repeat).items():
        print(f"{name} stages (medians of the manifests' stage times): full rerun "
              f"{full_med:.2f} s, incremental {warm_med:.2f} s")
    print(f"DuckDB floor (GROUP BY account_id, ip): month median {med(floor):.2f} s, "
          f"day {med(floor_day):.2f} s")
    print("incremental outputs equal the full rerun's (accounts, links, communities): "
          f"{same(work / 'full0', work / 'warm0')}")
    print(f"ids kept: {ids['kept_from_previous']:,} of {ids['communities']:,} communities "
          f"(all sizes); multi-account communities keeping >= half their members under the "
          f"same id: {100 * kept:.1f}%")
    print(f"changes: {m['changes']}")


# Stages whose work an incremental run changes (they read events or the state), and the rest.
EVENT_SIDE = ("load", "graph", "links: event arrays", "links: window signatures",
              "links: account activity",
              "activity of flagged accounts", "aggregate state")
OTHER = ("links: entity shares", "links: candidate pairs", "links: scoring pairs",
         "links: synchrony of pairs", "communities", "scoring", "attribution", "stable ids")


def _stage_medians(work: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """Median over the runs of the summed stage times of the event-side and the other stages,
    full rerun and incremental, from each run's manifest."""
    def total(d: Path, steps: tuple[str, ...]) -> float:
        t = json.loads((d / "manifest.json").read_text())["timings_seconds"]
        return sum(t.get(k, 0.0) for k in steps)
    return {name: tuple(statistics.median(total(work / f"{kind}{r}", steps)
                                          for r in range(repeat))
                        for kind in ("full", "warm"))
            for name, steps in (("event-side", EVENT_SIDE), ("other", OTHER))}


def _bench_state(work: Path, full: Path, short: Path, day: Path, repeat: int) -> None:
    """Aggregate state: from scratch vs saved state + one new day; the read floor."""
    import duckdb
    import pandas as pd

    import graphkit
    from graphkit.graph.state import (
        event_aggregates,
        merge_aggregates,
        merge_saved_state,
        save_state,
    )
    from graphkit.settings import Settings

    window = Settings().sync_window_seconds
    hours = Settings().model_release_window_hours
    save_state(work / "prev-state", event_aggregates(graphkit.load(short).con, window),
               ["month-minus-a-day"], window)
    scratch, incremental, floor = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"SELECT account_id, ip, count(*) FROM '{full}' GROUP BY ALL").fetchall()
        con.close()
        floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        whole = event_aggregates(graphkit.load(full).con, window)
        scratch.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        con = graphkit.load(day).con
        own = con.execute("SELECT model, min(ts) AS first_seen FROM events "
                          "WHERE model IS NOT NULL GROUP BY ALL").df()
        models = pd.read_parquet(work / "prev-state" / "state" / "models.parquet")
        starts = merge_aggregates({"models": models}, {"models": own})["models"]
        merged = merge_saved_state(con, work / "prev-state", window, hours, starts)
        incremental.append(time.perf_counter() - t0)
    for name, table in whole.items():
        pd.testing.assert_frame_equal(merged[name], table, check_dtype=False, obj=name)
    rows = {name: len(t) for name, t in whole.items()}
    med = statistics.median
    print(f"aggregate state rows: {sum(rows.values()):,} ({rows})")
    print(f"aggregates of the month from scratch (load + aggregate): median "
          f"{med(scratch):.2f} s of {repeat}")
    print("aggregates incremental (load the day, merge its aggregates into the saved state): "
          "median "
          f"{med(incremental):.2f} s of {repeat}; identical tables")
    print(f"DuckDB floor (GROUP BY account_id, ip over the month): median {med(floor):.2f} s")


if __name__ == "__main__":
    main()
