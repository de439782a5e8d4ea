"""Time ``graphkit build`` (load + heterogeneous graph) on simulated events; report peak RSS.

Simulates ``--scale`` (1.0: about 29M events, 106k accounts) once into ``benchmarks/.cache/``
and reuses it. Each repetition runs in a fresh process (so its peak RSS is its own): the load
and graph calls of ``graphkit build`` with per-stage timings. ``--cli-runs`` more runs time
the ``graphkit build --json`` command itself as a cross-check. Prints medians, writes
``build.json`` and ``build.md`` into ``--out``, and the command that reproduces them.

    python benchmarks/bench_build.py                # 30M events, 3 repetitions
    python benchmarks/bench_build.py --scale 0.01 --repeat 1 --out /tmp/bench
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Sample,
    add_common_args,
    command_line,
    contention_note,
    data_line,
    ensure_simulation,
    gib,
    machine,
    measure,
    rel,
    run_worker,
    stage_rows,
    summarize,
    write_report,
)


def graphkit_cli() -> list[str]:
    """The installed ``graphkit`` console script, or the same entry point via this Python."""
    exe = shutil.which("graphkit")
    return [exe] if exe else [sys.executable, "-c", "from graphkit.cli import main; main()"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    reproduce = command_line([__file__, *(sys.argv[1:] if argv is None else argv)])
    sim = ensure_simulation(args.scale, args.seed, args.cache_dir)
    work = {"events": str(sim.events), "accounts": str(sim.accounts)}
    samples: list[Sample] = []
    for i in range(args.repeat):
        s = run_worker("build", work)
        samples.append(s)
        print(f"  build rep {i + 1}/{args.repeat}: {s.wall_s:.1f}s, peak RSS "
              f"{gib(s.peak_rss_bytes)}", file=sys.stderr, flush=True)
    cli_cmd = [*graphkit_cli(), "build", str(sim.events), "--accounts", str(sim.accounts),
               "--json"]
    cli: list[Sample] = []
    for _ in range(args.cli_runs):
        cli.append(measure(cli_cmd))
    data = {
        "benchmark": "build",
        "reproduce": reproduce,
        "data": sim.to_dict(),
        "graph": samples[0].extra.get("summary") if samples else None,
        "build": summarize(samples),
        "cli": {"command": "graphkit build " + " ".join(rel(c) for c in cli_cmd[-4:]),
                **(summarize(cli) if cli else {})},
        "machine": machine(),
    }
    md = markdown(data)
    jp, mp = write_report(args.out, "build", data, md)
    print(md)
    print(f"wrote {rel(jp)} and {rel(mp)}")
    return data


def markdown(data: dict[str, Any]) -> str:
    b = data["build"]
    d = data["data"]
    lines = [
        f"## graphkit build: {d['n_events']:,} events, {d['n_accounts']:,} accounts",
        "",
        data_line(d, data["machine"]),
        "",
        "| measure | median | min | max | runs |",
        "|---|---:|---:|---:|---:|",
        (f"| wall, load + graph (fresh process) | {b['wall_s']['median']:.1f} s "
         f"| {b['wall_s']['min']:.1f} s | {b['wall_s']['max']:.1f} s | {b['repetitions']} |"),
        (f"| peak RSS | {gib(b['peak_rss_bytes']['median'])} | | "
         f"{gib(b['peak_rss_bytes']['max'])} | {b['repetitions']} |"),
    ]
    c = data["cli"]
    if c.get("repetitions"):
        lines.append(f"| `graphkit build --json` wall (cross-check) | {c['wall_s']['median']:.1f} s "
                     f"| {c['wall_s']['min']:.1f} s | {c['wall_s']['max']:.1f} s "
                     f"| {c['repetitions']} |")
        lines.append(f"| `graphkit build --json` peak RSS | {gib(c['peak_rss_bytes']['median'])} "
                     f"| | {gib(c['peak_rss_bytes']['max'])} | {c['repetitions']} |")
    lines += ["", contention_note(b, data["machine"]["cpus_usable"])]
    lines += ["", "Stages (median seconds; indented stages run inside the one above):", "",
              "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {sec:.2f} |" for name, sec in stage_rows(b)]
    if data.get("graph"):
        g = data["graph"]
        lines += ["", "Graph: " + ", ".join(f"{k} {v:,}" for k, v in g["nodes"].items())
                  + "; edges " + ", ".join(f"{k} {v:,}" for k, v in g["edges"].items()) + "."]
    lines += ["", "Reproduce:", "", "```", data["reproduce"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
