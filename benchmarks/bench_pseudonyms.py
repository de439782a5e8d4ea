"""Cost of ``--pseudonymize`` at ingest: ``graphkit.load`` with and without pseudonyms.

Loads the cached simulation (``--scale``; 1.0 is about 30M events) plainly and with
``pseudonymize=("account", "ip", "payment")`` (every event's account id, IP and payment id
replaced), alternately, ``--repeat`` times each in this process, and prints the median load
time, the ``pseudonymize`` stage alone and the distinct values hashed. Parquet events take the
coded fast path (dictionaries hashed, codes remapped); ``--csv`` converts the events to CSV
once (beside the cached simulation) to time the row path (one joined UPDATE per column).
Writes ``pseudonyms.json`` and ``pseudonyms.md`` into ``--out``.

    python benchmarks/bench_pseudonyms.py --scale 0.1 --repeat 3
    python benchmarks/bench_pseudonyms.py --scale 0.1 --repeat 3 --csv
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    add_common_args,
    command_line,
    data_line,
    ensure_simulation,
    machine,
    median,
    write_report,
)

KINDS = ("account", "ip", "payment")


def _csv_events(parquet: Path) -> Path:
    """The events as CSV beside the Parquet file (written once)."""
    import duckdb

    csv = parquet.with_suffix(".csv")
    if not csv.is_file():
        tmp = csv.with_suffix(".csv.tmp")
        duckdb.sql(f"COPY (SELECT * FROM read_parquet('{parquet.as_posix()}')) "
                   f"TO '{tmp.as_posix()}' (HEADER, DELIMITER ',')")
        tmp.rename(csv)
    return csv


def _load(events: Path, sim, kinds: tuple[str, ...]) -> tuple[float, float, int]:
    """(load seconds, pseudonymize-stage seconds, distinct values hashed)."""
    from graphkit.io import load
    from graphkit.progress import Progress
    from graphkit.settings import Settings

    progress = Progress(enabled=False)
    start = time.perf_counter()
    ds = load(events, sim.accounts, sim.seeds, settings=Settings(pseudonymize=kinds),
              progress=progress)
    seconds = time.perf_counter() - start
    distinct = 0
    if kinds:
        distinct = sum(ds.con.execute(f"SELECT count(DISTINCT {c}) FROM events").fetchone()[0]
                       for c in ("account_id", "ip", "payment_id"))
    return seconds, progress.timings.get("pseudonymize", 0.0), distinct


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    p.add_argument("--csv", action="store_true", help="time the CSV (row) path")
    args = p.parse_args(argv)
    reproduce = command_line([__file__, *(sys.argv[1:] if argv is None else argv)])
    os.environ.setdefault("GRAPHKIT_PSEUDONYM_KEY", "benchmark key")
    sim = ensure_simulation(args.scale, args.seed, args.cache_dir)
    events = _csv_events(sim.events) if args.csv else sim.events
    plain, hashed, stage = [], [], []
    distinct = 0
    for _ in range(args.repeat):
        plain.append(_load(events, sim, ())[0])
        seconds, step, distinct = _load(events, sim, KINDS)
        hashed.append(seconds)
        stage.append(step)
    data = {"scale": args.scale, "seed": args.seed, "simulator": sim.simulator,
            "n_events": sim.n_events, "n_accounts": sim.n_accounts}
    m = machine()
    result = {"data": data, "machine": m, "kinds": list(KINDS), "repeat": args.repeat,
              "events_format": "csv" if args.csv else "parquet",
              "load_seconds": median(plain), "load_pseudonymized_seconds": median(hashed),
              "pseudonymize_seconds": median(stage), "distinct_values": distinct,
              "command": reproduce}
    lines = [
        (f"load, {sim.n_events:,} events ({result['events_format']}): {median(plain):.2f} s plain, {median(hashed):.2f} s "
        f"with --pseudonymize {','.join(KINDS)} (median of {args.repeat})"),
        (f"pseudonymize stage: {median(stage):.2f} s for {distinct:,} distinct values "
        "hashed and every event rewritten"),
    ]
    for line in lines:
        print(line)
    print(f"reproduce: {reproduce}")
    md = "# Pseudonymization at ingest\n\n" + "\n".join(f"- {x}" for x in lines) + (
        f"\n\n{data_line(data, m)}\n\nReproduce: `{reproduce}`\n")
    write_report(args.out, "pseudonyms", result, md)
    return result


if __name__ == "__main__":
    main()
