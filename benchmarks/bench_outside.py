"""Outside scenarios: detection on data generated apart from graphkit's simulator.

``outside_distill_a.py`` and ``outside_distill_b.py`` were written from the problem's public
facts and the input format (``docs/data-contract.md``) only, without reading the simulator or
the detection code: A stresses legitimate look-alikes (offices onboarding on a company card,
agencies, a hackathon, CI bots, early adopters of a new model) and small or stealthy actors;
B puts a seed-scale hydra (about 20,000 live accounts and their replacements) among carrier
NAT, offices, universities, agencies and families, with device and phone identifiers.

Each scenario is generated, run through ``graphkit detect`` as a user would (B with its
``device_id`` and ``phone`` columns declared) and scored with ``graphkit evaluate``, beside the
naive connected-components recipe. Writes ``outside.md`` and ``outside.json`` into ``--out``.

With ``--ablate``, each scenario is also run once per input family removed from its files
(:data:`FAMILIES`: the columns dropped from the events and the accounts file, where present),
so that no single family is load-bearing unseen; ``outside_ablation.md`` and ``.json``.

    python benchmarks/bench_outside.py --accounts 200000 --seed 0
    python benchmarks/bench_outside.py --scenarios A --ablate
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, command_line, write_report

HERE = Path(__file__).resolve().parent
SCENARIOS: dict[str, tuple[str, list[str]]] = {
    "A": ("outside_distill_a.py", []),
    "B": ("outside_distill_b.py", ["--identifier", "device_id:device", "--identifier", "phone"]),
}

# Input family -> (events columns, accounts-file columns) an ablation drops.
FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "user agent": (("user_agent",), ()),
    "templates": (("template_hash", "prompt"), ()),
    "tokens": (("tokens_in", "tokens_out"), ()),
    "proxy operator": (("proxy_provider",), ()),
    "payment ids (events and accounts)": (("payment_id",), ("payment_id",)),
    "accounts' created_at": ((), ("created_at",)),
    "accounts' status and bans": ((), ("status", "banned_at")),
}


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} ... failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def generate(name: str, accounts: int, seed: int, work: Path) -> Path:
    """Scenario ``name``'s files in ``work/<name>-data``."""
    data = work / f"{name}-data"
    _run([sys.executable, str(HERE / SCENARIOS[name][0]), str(data), "--accounts",
          str(accounts), "--seed", str(seed)])
    return data


def without(data: Path, family: str, target: Path) -> Path:
    """A copy of the scenario files in ``data`` without ``family``'s columns (DuckDB)."""
    import duckdb

    events_cols, account_cols = FAMILIES[family]
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    # The accounts file's text as it is (no type inference rewriting its timestamps).
    for src, dst, drop, fmt in ((f"'{data / 'events.parquet'}'", target / "events.parquet",
                                 events_cols, "(FORMAT parquet)"),
                                (f"read_csv('{data / 'accounts.csv'}', all_varchar = true)",
                                 target / "accounts.csv", account_cols, "(HEADER, FORMAT csv)")):
        keep = [c for c in con.sql(f"SELECT * FROM {src}").columns if c not in drop]
        cols = ", ".join(f'"{c}"' for c in keep)
        con.execute(f"COPY (SELECT {cols} FROM {src}) TO '{dst}' {fmt}")
    (target / "truth.csv").write_bytes((data / "truth.csv").read_bytes())
    return target


def scenario(name: str, accounts: int, seed: int, work: Path,
             data: Path | None = None, tag: str = "") -> dict[str, Any]:
    """Detect and evaluate scenario ``name`` (generated unless ``data`` is given); the
    evaluation figures and timings."""
    options = SCENARIOS[name][1]
    data = data or generate(name, accounts, seed, work)
    out = work / f"{name}{tag}-out"
    began = time.perf_counter()
    _run([sys.executable, "-m", "graphkit", "detect", str(data / "events.parquet"),
          "--accounts", str(data / "accounts.csv"), *options, "--out", str(out)])
    wall = time.perf_counter() - began
    figures = json.loads(_run([sys.executable, "-m", "graphkit", "evaluate", str(out),
                               "--truth", str(data / "truth.csv"), "--json"]))
    return {"scenario": name, "accounts": accounts, "seed": seed, "detect_wall_s": round(wall, 1),
            "options": options, "figures": figures}


def _methods(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(row["figures"].values())  # graphkit evaluate --json: method -> figures


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | method | flagged | precision | recall | F1 | AUC |",
             "|---|---|---:|---:|---:|---:|---:|"]
    detail = []
    for row in rows:
        for m in _methods(row):
            lines.append(f"| {row['scenario']} | {m['method']} | {m['n_flagged']} | "
                         f"{m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                         f"{m['auc']:.3f} |")
            if m["method"] == "graphkit":
                recall = ", ".join(f"{k} {v:.2f}" for k, v in m["recall_per_campaign"].items())
                fpr = ", ".join(f"{k} {v:.3f}" for k, v in m["fpr_per_kind"].items() if v > 0)
                detail.append(f"- {row['scenario']}: recall per campaign: {recall}. False-"
                              f"positive rate per legitimate kind (non-zero): {fpr}.")
    return "\n".join(lines + [""] + detail)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scenarios", default="A,B")
    p.add_argument("--out", type=Path, default=RESULTS_DIR)
    p.add_argument("--ablate", action="store_true",
                   help="also run each scenario once per input family removed")
    args = p.parse_args(argv)
    command = command_line([__file__, *(sys.argv[1:] if argv is None else argv)])
    rows, ablated = [], []
    with tempfile.TemporaryDirectory(prefix="graphkit-outside-") as tmp:
        for name in args.scenarios.split(","):  # a couple of scenarios
            data = generate(name, args.accounts, args.seed, Path(tmp))
            rows.append(scenario(name, args.accounts, args.seed, Path(tmp), data))
            for i, family in enumerate(FAMILIES if args.ablate else ()):  # a few families
                cut = without(data, family, Path(tmp) / f"{name}-no{i}")
                ablated.append({**scenario(name, args.accounts, args.seed, Path(tmp), cut,
                                           f"-no{i}"), "removed": family})
                shutil.rmtree(cut)
    md = "\n".join(["# Outside scenarios", "", f"Reproduce with `{command}`.", "",
                    table(rows), ""])
    write_report(args.out, "outside", {"command": command, "rows": rows}, md)
    print(md)
    if ablated:
        md = "\n".join(["# Outside scenarios, one input family removed at a time", "",
                        f"Reproduce with `{command}`.", "", ablation_table(rows + ablated), ""])
        write_report(args.out, "outside_ablation", {"command": command, "rows": ablated}, md)
        print(md)


def ablation_table(rows: list[dict[str, Any]]) -> str:
    """One line per (scenario, removed family): the overall figures and recall per campaign."""
    camps = sorted({c for r in rows for c in _graphkit(r)["recall_per_campaign"]})
    lines = ["| scenario | removed | flagged | precision | recall | F1 | "
             + " | ".join(camps) + " |", "|---|---|" + "---:|" * (4 + len(camps))]
    for r in rows:
        m = _graphkit(r)
        rec = m["recall_per_campaign"]
        lines.append(f"| {r['scenario']} | {r.get('removed', 'nothing')} | {m['n_flagged']} | "
                     f"{m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                     + " | ".join(f"{rec[c]:.2f}" if c in rec else "" for c in camps) + " |")
    return "\n".join(lines)


def _graphkit(row: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in _methods(row) if m["method"] == "graphkit")


if __name__ == "__main__":
    main()
