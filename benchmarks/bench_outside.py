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

    python benchmarks/bench_outside.py --accounts 200000 --seed 0
"""

from __future__ import annotations

import argparse
import json
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


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} ... failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def scenario(name: str, accounts: int, seed: int, work: Path) -> dict[str, Any]:
    """Generate scenario ``name``, detect and evaluate; the evaluation figures and timings."""
    script, options = SCENARIOS[name]
    data, out = work / f"{name}-data", work / f"{name}-out"
    _run([sys.executable, str(HERE / script), str(data), "--accounts", str(accounts),
          "--seed", str(seed)])
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
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="graphkit-outside-") as tmp:
        rows = [scenario(s, args.accounts, args.seed, Path(tmp))
                for s in args.scenarios.split(",")]
    command = command_line([__file__, *(sys.argv[1:] if argv is None else argv)])
    md = "\n".join(["# Outside scenarios", "", f"Reproduce with `{command}`.", "",
                    table(rows), ""])
    write_report(args.out, "outside", {"command": command, "rows": rows}, md)
    print(md)


if __name__ == "__main__":
    main()
