"""Day-over-day detect: a month plus one day, from scratch vs with --previous.

Simulates a month (``--scale``, default 0.1), splits its events at the start of the last day
into "month minus a day" and "full month", detects the first once (the previous run), then
times, each in a fresh process, ``graphkit detect`` on the full month from scratch and with
``--previous``. Prints median wall times (of ``--repeat``), the Leiden stage's time from each
manifest, the DuckDB aggregation floor (a plain GROUP BY account_id, ip count over the same
events) and the share of ids kept.

Then the aggregate state (:mod:`graphkit.graph.state`): in this process, the month's aggregates
from scratch (load the month, aggregate) against the incremental update (read the saved state
of month minus a day, load and aggregate the one new day, merge), medians of ``--repeat``, with
the DuckDB floor of reading the month's events in the same run, and a check that both give the
same tables. ``--state-only`` skips the detect runs.

    python benchmarks/bench_incremental.py --scale 0.1 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _detect(events: Path, accounts: Path, out: Path, previous: Path | None) -> float:
    cmd = [sys.executable, "-c", "from graphkit.cli import main; main()", "detect", str(events),
           "--accounts", str(accounts), "--out", str(out)]
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
    _bench_state(work, full, short, day, args.repeat)
    if args.state_only:
        return
    prev = work / "prev"
    t_prev = _detect(short, accounts, prev, None)

    floor = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        con.execute(f"SELECT account_id, ip, count(*) FROM '{full}' GROUP BY ALL").fetchall()
        floor.append(time.perf_counter() - t0)
    scratch, warm = [], []
    for r in range(args.repeat):
        scratch.append(_detect(full, accounts, work / f"scratch{r}", None))
        warm.append(_detect(full, accounts, work / f"warm{r}", prev))

    def leiden(d: Path) -> float:
        return json.loads((d / "manifest.json").read_text())["timings_seconds"]["communities"]

    m = json.loads((work / "warm0" / "manifest.json").read_text())["outputs"]
    ids = m["community_ids"]
    pacc = pd.read_csv(prev / "accounts.csv", dtype={"account_id": str})
    pcom = pd.read_csv(prev / "communities.csv")
    now = pd.read_csv(work / "warm0" / "accounts.csv", dtype={"account_id": str}) \
        .set_index("account_id")["community_id"]
    pacc = pacc[pacc["community_id"].isin(pcom["community_id"])]
    stay = (pacc["account_id"].map(now) == pacc["community_id"]).groupby(pacc["community_id"])
    kept = float((stay.mean() >= 0.5).mean())
    med = statistics.median
    print(f"previous run (month minus a day): {t_prev:.1f} s")
    print(f"detect month from scratch:  median {med(scratch):.1f} s of {args.repeat} "
          f"(Leiden {leiden(work / 'scratch0'):.2f} s)")
    print(f"detect month --previous:    median {med(warm):.1f} s of {args.repeat} "
          f"(Leiden {leiden(work / 'warm0'):.2f} s)")
    print(f"DuckDB floor (GROUP BY account_id, ip): median {med(floor):.2f} s")
    print(f"ids kept: {ids['kept_from_previous']:,} of {ids['communities']:,} communities "
          f"(all sizes); multi-account communities keeping >= half their members under the "
          f"same id: {100 * kept:.1f}%")
    print(f"changes: {m['changes']}")


def _bench_state(work: Path, full: Path, short: Path, day: Path, repeat: int) -> None:
    """Aggregate state: from scratch vs saved state + one new day; the read floor."""
    import duckdb
    import pandas as pd

    import graphkit
    from graphkit.graph.state import event_aggregates, load_state, merge_aggregates, save_state
    from graphkit.settings import Settings

    window = Settings().sync_window_seconds
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
        state, _ = load_state(work / "prev-state")
        merged = merge_aggregates(state, event_aggregates(graphkit.load(day).con, window))
        incremental.append(time.perf_counter() - t0)
    for name, table in whole.items():
        pd.testing.assert_frame_equal(merged[name], table, check_dtype=False, obj=name)
    rows = {name: len(t) for name, t in whole.items()}
    med = statistics.median
    print(f"aggregate state rows: {sum(rows.values()):,} ({rows})")
    print(f"aggregates of the month from scratch (load + aggregate): median "
          f"{med(scratch):.2f} s of {repeat}")
    print(f"aggregates incremental (read state + load and aggregate the day + merge): median "
          f"{med(incremental):.2f} s of {repeat}; identical tables")
    print(f"DuckDB floor (GROUP BY account_id, ip over the month): median {med(floor):.2f} s")


if __name__ == "__main__":
    main()
