"""Seed-scale detection benchmark: ``graphkit detect`` per stage vs the reference pipeline.

1. Simulates ``--scale`` (1.0: about 29M events, 110k accounts) once into ``benchmarks/.cache/``.
2. graphkit: ``--repeat`` runs, each in a fresh process, of what ``graphkit detect EVENTS
   --accounts F --seeds F --out DIR`` does (load, detect, write), timing every stage; wall time
   and peak RSS are the process's own. ``--cli-runs`` more runs time the command itself.
3. Reference (``benchmarks/reference.py``: pandas groupby, networkx projection, networkx
   Louvain) on the full data, stopped at ``--reference-budget`` seconds or
   ``--reference-max-rss-gib``; where it cannot finish, on a sample: the events of the first
   ``--sample-accounts`` accounts by id, doubled while the reference is predicted to finish
   (halved if even the first size does not), the largest finished one kept. graphkit runs on
   that same sample, so the ratio compares like with like.
4. Writes ``detect.json`` and ``detect.md`` into ``--out`` with medians, the target of the
   seed-scale issue (<= 60 s, <= 6 GB, >= 10x the reference) and the command that reproduces it.

    python benchmarks/bench_detect.py                 # 30M events, 3 repetitions
    python benchmarks/bench_detect.py --scale 0.002 --repeat 1 --reference-budget 60 --out /tmp/b
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import graphkit_cli
from common import (
    BudgetExceeded,
    Sample,
    SimFiles,
    add_common_args,
    command_line,
    contention_note,
    data_line,
    ensure_sample,
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

TARGET = {"wall_s": 60.0, "peak_rss_gib": 6.0, "speedup_vs_reference": 10.0}
# Top-level stages of both pipelines, grouped into the phases compared side by side.
PHASES = ("load", "aggregate + graph", "link scoring", "communities", "scoring", "write",
          "other")
_PHASE_OF = {
    "load": "load", "read": "load",
    "graph": "aggregate + graph", "aggregate": "aggregate + graph",
    "projection": "link scoring", "synchrony windows": "link scoring", "combine": "link scoring",
    "communities": "communities", "scoring": "scoring", "write": "write",
}


def phase_of(stage: str) -> str:
    if stage.startswith("links"):
        return "link scoring"
    return _PHASE_OF.get(stage, "other")


def phases(summary: dict[str, Any]) -> dict[str, float]:
    """Median seconds per phase from the top-level stages; 'other' includes process start-up
    and imports (wall minus the timed stages)."""
    out = dict.fromkeys(PHASES, 0.0)
    top = {k: v for k, v in summary["stages_s"].items()
           if summary["stage_parents"].get(k) is None}
    for k, v in top.items():
        out[phase_of(k)] += v
    out["other"] += max(0.0, summary["wall_s"]["median"] - sum(top.values()))
    return {k: round(v, 3) for k, v in out.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_common_args(p)
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds a graphkit run may take before it is stopped (default: none)")
    p.add_argument("--max-rss-gib", type=float, default=16.0,
                   help="memory a graphkit run may take before it is stopped (shared machine)")
    p.add_argument("--reference-budget", type=float, default=600.0,
                   help="seconds the reference may take before it is stopped")
    p.add_argument("--reference-max-rss-gib", type=float, default=12.0,
                   help="memory the reference may take before it is stopped (shared machine)")
    p.add_argument("--reference-repeat", type=int, default=1, help="reference repetitions")
    p.add_argument("--sample-accounts", type=int, default=2_000,
                   help="first sample size (accounts) when the reference cannot do the full "
                        "data; doubled while the reference is predicted to fit its budget")
    p.add_argument("--skip-full-reference", action="store_true",
                   help="do not try the reference on the full data (go straight to the sample)")
    return p.parse_args(argv)


def _inputs(sim: SimFiles, out: Path) -> dict[str, str]:
    return {"events": str(sim.events), "accounts": str(sim.accounts), "seeds": str(sim.seeds),
            "out": str(out)}


def run_pipeline(task: str, sim: SimFiles, repeat: int, work: Path, label: str,
                 budget: float | None, max_rss: int | None) -> dict[str, Any]:
    """``repeat`` runs of ``task`` ("detect" or "reference"), each in a fresh process.

    ``finished`` is False (with where it stopped) when a run exceeded the time or memory
    budget: it is stopped rather than left to take the shared machine down."""
    name = "graphkit detect" if task == "detect" else "reference"
    samples: list[Sample] = []
    for i in range(repeat):
        out = work / f"{task}-{label}-{i}"
        try:
            s = run_worker(task, _inputs(sim, out), timeout=budget, max_rss_bytes=max_rss)
        except BudgetExceeded as exc:
            partial = getattr(exc, "partial", {})
            print(f"  {name} ({label}): stopped at the {exc.reason} budget after "
                  f"{exc.wall_s:.0f}s in {partial.get('running')}", file=sys.stderr, flush=True)
            return {"finished": False, "stopped_by": exc.reason, "wall_s": round(exc.wall_s, 1),
                    "peak_rss_bytes": exc.peak_rss_bytes,
                    "stopped_in_stage": (partial.get("running") or [None])[-1],
                    "stages_done_s": {k: round(v, 3)
                                      for k, v in partial.get("timings", {}).items()}}
        finally:
            shutil.rmtree(out, ignore_errors=True)
        samples.append(s)
        print(f"  {name} ({label}) rep {i + 1}/{repeat}: {s.wall_s:.1f}s, peak RSS "
              f"{gib(s.peak_rss_bytes)}", file=sys.stderr, flush=True)
    summary = summarize(samples)
    return {"finished": True, **summary, "phases_s": phases(summary),
            "result": samples[0].extra}


def run_reference(sim: SimFiles, repeat: int, work: Path, label: str, budget: float,
                  max_rss: int) -> dict[str, Any]:
    return run_pipeline("reference", sim, repeat, work, label, budget, max_rss)


def _largest_sample(sim: SimFiles, args: argparse.Namespace, work: Path, budget: float,
                    max_rss: int, runs: list[dict[str, Any]]
                    ) -> tuple[SimFiles, dict[str, Any]] | None:
    """The largest account sample on which the reference finishes within its budgets.

    Starts at ``--sample-accounts``; doubles while the next size is predicted to fit (the
    projection's cost grows about quadratically with accounts per entity, so 4x the time);
    halves when even the first size does not finish. Every attempt is recorded in ``runs``."""
    k = min(args.sample_accounts, sim.n_accounts)
    best: tuple[SimFiles, dict[str, Any]] | None = None
    while k >= 50:
        sample = ensure_sample(sim, k)
        ref = run_reference(sample, args.reference_repeat, work, f"sample{k}", budget, max_rss)
        runs.append({"sample": sample.to_dict(), "reference": ref})
        if not ref["finished"]:
            if best is not None:
                return best
            k //= 2
            continue
        best = (sample, ref)
        if 2 * k >= sim.n_accounts or 4 * ref["wall_s"]["median"] > budget:
            return best
        k *= 2
    return best


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    reproduce = command_line([__file__, *(sys.argv[1:] if argv is None else argv)])
    sim = ensure_simulation(args.scale, args.seed, args.cache_dir)
    budget, max_rss = args.reference_budget, int(args.reference_max_rss_gib * 2**30)
    gk_rss = int(args.max_rss_gib * 2**30)
    with tempfile.TemporaryDirectory(prefix="gk-bench-detect-") as tmp:
        work = Path(tmp)
        full = run_pipeline("detect", sim, args.repeat, work, "full", args.timeout, gk_rss)
        cli_cmd = [*graphkit_cli(), "detect", str(sim.events), "--accounts", str(sim.accounts),
                   "--seeds", str(sim.seeds), "--out", str(work / "cli")]
        cli: list[Sample] = []
        for _ in range(args.cli_runs if full["finished"] else 0):
            cli.append(measure(cli_cmd, timeout=args.timeout, max_rss_bytes=gk_rss))
            shutil.rmtree(work / "cli", ignore_errors=True)
        ref_full = (None if args.skip_full_reference else
                    run_reference(sim, args.reference_repeat, work, "full", budget, max_rss))
        comparison: dict[str, Any] = {}
        sample_runs: list[dict[str, Any]] = []
        if ref_full is not None and ref_full["finished"] and full["finished"]:
            comparison = {"on": "full data", "data": sim.to_dict(),
                          "graphkit_wall_s": full["wall_s"]["median"],
                          "reference_wall_s": ref_full["wall_s"]["median"]}
        else:
            best = _largest_sample(sim, args, work, budget, max_rss, sample_runs)
            if best is not None:
                sample, ref = best
                gk = run_pipeline("detect", sample, args.repeat, work,
                                  f"sample{sample.n_accounts}", args.timeout, gk_rss)
                next(r for r in sample_runs if r["reference"] is ref)["graphkit"] = gk
                if gk["finished"]:
                    comparison = {"on": f"sample: events of the first {sample.n_accounts:,} "
                                        "accounts by id",
                                  "data": sample.to_dict(),
                                  "graphkit_wall_s": gk["wall_s"]["median"],
                                  "reference_wall_s": ref["wall_s"]["median"],
                                  "graphkit_phases_s": gk["phases_s"],
                                  "reference_phases_s": ref["phases_s"]}
        if comparison:
            comparison["speedup"] = round(comparison["reference_wall_s"]
                                          / comparison["graphkit_wall_s"], 2)
        if ref_full is not None and not ref_full["finished"] and full["finished"]:
            # The reference was stopped at the budget: graphkit's full-data lead is at least this.
            comparison["full_data_speedup_at_least"] = round(
                ref_full["wall_s"] / full["wall_s"]["median"], 2)
    data = {
        "benchmark": "detect",
        "reproduce": reproduce,
        "data": sim.to_dict(),
        "target": TARGET,
        "graphkit": full,
        "cli": {"command": "graphkit detect EVENTS --accounts F --seeds F --out DIR",
                **(summarize(cli) if cli else {})},
        "reference_full": ref_full,
        "reference_samples": sample_runs,
        "comparison": comparison,
        "budgets": {"reference_seconds": budget, "reference_max_rss_gib":
                    args.reference_max_rss_gib, "graphkit_seconds": args.timeout,
                    "graphkit_max_rss_gib": args.max_rss_gib},
        "machine": machine(),
    }
    data["target_met"] = {
        "wall": full["finished"] and full["wall_s"]["median"] <= TARGET["wall_s"],
        "memory": full["finished"] and full["peak_rss_gib"] <= TARGET["peak_rss_gib"],
        "speedup": (comparison.get("speedup") or 0) >= TARGET["speedup_vs_reference"],
    }
    md = markdown(data)
    jp, mp = write_report(args.out, "detect", data, md)
    print(md)
    print(f"wrote {rel(jp)} and {rel(mp)}")
    return data


def _stopped(what: str, run: dict[str, Any]) -> str:
    return (f"{what}: stopped at the {run['stopped_by']} budget after {run['wall_s']:.0f} s "
            f"({gib(run['peak_rss_bytes'])}) while in stage `{run['stopped_in_stage']}`; stages "
            "finished: " + (", ".join(f"{k} {v:.1f} s" for k, v in run["stages_done_s"].items())
                            or "none") + ".")


def _yes(ok: bool) -> str:
    return "met" if ok else "**not met**"


def markdown(data: dict[str, Any]) -> str:
    g, d, m, c = data["graphkit"], data["data"], data["machine"], data["comparison"]
    t, met = data["target"], data["target_met"]
    lines = [
        f"## graphkit detect: {d['n_events']:,} events, {d['n_accounts']:,} accounts",
        "",
        data_line(d, m),
        "",
    ]
    if not g["finished"]:
        lines += [_stopped("graphkit detect on the full data", g), ""]
    lines += ["| measure | median | min | max | runs | target |", "|---|---:|---:|---:|---:|---|"]
    if g["finished"]:
        lines += [
            (f"| wall, load to written output (fresh process) | {g['wall_s']['median']:.1f} s "
             f"| {g['wall_s']['min']:.1f} s | {g['wall_s']['max']:.1f} s | {g['repetitions']} "
             f"| <= {t['wall_s']:.0f} s: {_yes(met['wall'])} |"),
            (f"| peak RSS | {gib(g['peak_rss_bytes']['median'])} | | "
             f"{gib(g['peak_rss_bytes']['max'])} | {g['repetitions']} "
             f"| <= {t['peak_rss_gib']:.0f} GiB: {_yes(met['memory'])} |"),
        ]
    cli = data["cli"]
    if cli.get("repetitions"):
        lines.append(
            f"| `graphkit detect` command wall (cross-check) | {cli['wall_s']['median']:.1f} s "
            f"| {cli['wall_s']['min']:.1f} s | {cli['wall_s']['max']:.1f} s "
            f"| {cli['repetitions']} | |")
        lines.append(
            f"| `graphkit detect` command peak RSS | {gib(cli['peak_rss_bytes']['median'])} | "
            f"| {gib(cli['peak_rss_bytes']['max'])} | {cli['repetitions']} | |")
    if c.get("speedup") is not None:
        lines.append(f"| speedup vs reference ({c['on']}) | {c['speedup']:.1f}x | | | "
                     f"| >= {t['speedup_vs_reference']:.0f}x: {_yes(met['speedup'])} |")
    r = g.get("result") or {}
    if r:
        lines += ["", (f"Output: {r.get('accounts', 0):,} accounts, {r.get('links', 0):,} links, "
                       f"{r.get('communities', 0):,} communities, "
                       f"{r.get('flagged_communities', 0):,} flagged "
                       f"({r.get('flagged_accounts', 0):,} accounts).")]
    if g["finished"]:
        lines += ["", contention_note(g, m["cpus_usable"])]
        lines += ["", "Stages (median seconds; indented stages run inside the one above):", "",
                  "| stage | seconds |", "|---|---:|"]
        lines += [f"| {name} | {sec:.2f} |" for name, sec in stage_rows(g)]
    lines += ["", "### Reference pipeline (pandas + networkx)", ""]
    rf = data["reference_full"]
    if rf is None:
        lines.append("Not tried on the full data (`--skip-full-reference`).")
    elif rf["finished"]:
        lines.append(f"Full data: {rf['wall_s']['median']:.1f} s, peak RSS "
                     f"{gib(rf['peak_rss_bytes']['median'])}.")
    else:
        lines.append(_stopped("Full data", rf))
        if c.get("full_data_speedup_at_least") is not None:
            lines.append(f"graphkit is therefore at least "
                         f"{c['full_data_speedup_at_least']:.1f}x faster on the full data.")
    for run in data["reference_samples"]:
        s, ref = run["sample"], run["reference"]
        label = f"Sample `{rel(s['directory'])}` ({s['n_events']:,} events, " \
                f"{s['n_accounts']:,} accounts)"
        if ref["finished"]:
            lines.append(f"{label}: {ref['wall_s']['median']:.1f} s, peak RSS "
                         f"{gib(ref['peak_rss_bytes']['median'])}.")
        else:
            lines.append(_stopped(label, ref))
        gk = run.get("graphkit")
        if gk:
            lines.append(f"graphkit detect on the same sample: {gk['wall_s']['median']:.1f} s, "
                         f"peak RSS {gib(gk['peak_rss_bytes']['median'])}." if gk["finished"]
                         else _stopped("graphkit detect on the same sample", gk))
    if c.get("graphkit_phases_s") or (rf and rf.get("finished") and g["finished"]):
        gp = c.get("graphkit_phases_s") or g["phases_s"]
        rp = c.get("reference_phases_s") or rf["phases_s"]
        lines += ["", f"Side by side on the same data ({c['on']}), median seconds:", "",
                  "| phase | graphkit | reference | ratio |", "|---|---:|---:|---:|"]
        for ph in PHASES:
            ratio = f"{rp[ph] / gp[ph]:.1f}x" if gp[ph] > 0.005 else ""
            lines.append(f"| {ph} | {gp[ph]:.2f} | {rp[ph]:.2f} | {ratio} |")
        lines.append(f"| **total wall** | {c['graphkit_wall_s']:.2f} | "
                     f"{c['reference_wall_s']:.2f} | {c['speedup']:.1f}x |")
        lines += ["", "'other' is process start-up and imports."]
    lines += ["", "Reproduce:", "", "```", data["reproduce"], "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
