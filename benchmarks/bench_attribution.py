"""Attribution, successions and seed expansion on simulated scenarios.

For each scale and simulator seed: 10 % of every campaign (at least one account) is given as
seeds; ``detect`` attributes every account; the figures are

* accuracy: share of the other campaign accounts given their true actor;
* legit above threshold: legitimate accounts whose confidence reaches
  ``attribution_threshold`` (must be 0);
* a reliability table against the truth: all non-seed accounts binned by confidence, with the
  share whose named actor is right (legitimate accounts count as right when unnamed);
* succession precision / recall of successions.csv against successions_truth.csv;
* expansion coverage: from the first banned account of each of the longest three hydra chains,
  the share of the chain's other accounts (those with requests) among the top 50 results;
* model-release shift: per true actor (and the legitimate accounts), among its accounts with
  requests in a release window, the share that moved at least ``model_jump_scale`` beyond the
  other accounts (weighed by their window requests, as the flag cut counts them), and the
  mean moved share; and the communities whose ``model_jump`` reaches
  its evidence threshold, with the share of their members that are campaign accounts.

Results go to benchmarks/results/attribution.{json,md}.

    python benchmarks/bench_attribution.py --scales 0.05 0.1 --seeds 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, ensure_simulation

import graphkit
from graphkit.detection.indicators import jump_members
from graphkit.detection.pipeline import detect
from graphkit.investigate.attribution import reliability_table
from graphkit.investigate.expand import expand
from graphkit.settings import Settings

SEED_SHARE = 0.1
TOP = 50


def pick_seeds(truth: pd.DataFrame, seen: set[str], rng: np.random.Generator) -> pd.DataFrame:
    """10 % of each campaign's accounts seen in the log (at least one), at random."""
    camp = truth[(truth["actor"] != "") & truth["account_id"].isin(seen)]
    return pd.concat([g.sample(max(1, round(SEED_SHARE * len(g))), random_state=rng)
                      for _, g in camp.groupby("actor")])[["account_id", "actor"]]


def chains(pairs: pd.DataFrame) -> list[list[str]]:
    """Succession chains of the truth, longest first, accounts in chain order."""
    ids = pd.Index(pd.unique(pd.concat([pairs["predecessor"], pairs["successor"]])))
    m = sp.coo_matrix((np.ones(len(pairs)), (ids.get_indexer(pairs["predecessor"]),
                                             ids.get_indexer(pairs["successor"]))),
                      shape=(len(ids), len(ids)))
    _, lab = connected_components(m, directed=False)
    nxt = dict(zip(pairs["predecessor"], pairs["successor"]))
    out = []
    for c in np.argsort(-np.bincount(lab))[:3]:  # three chains
        members = set(ids[lab == c])
        first = next(a for a in members if a not in set(pairs["successor"]))
        chain = [first]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        out.append(chain)
    return out


def release_shift(res, truth: pd.DataFrame, settings: Settings) -> dict:
    """The model-release shift against the truth (see the module docstring)."""
    acc = res.accounts.merge(truth, on="account_id", suffixes=("", "_true"))
    win = acc[acc["release_model"].notna()]
    moved, _ = jump_members(win["release_shift"].to_numpy(float),
                            win["release_background"].to_numpy(float),
                            win["release_window_events"].to_numpy(float), settings)
    per = (win.assign(moved=moved, actor=win["actor_true"].replace("", "(legitimate)"))
           .groupby("actor").agg(accounts=("moved", "size"), moved=("moved", "mean"),
                                 mean_shift=("release_shift", "mean")).round(4))
    comm = res.communities
    shown = comm.loc[comm["ind_model_jump"] >= settings.evidence_thresholds["model_jump"],
                     "community_id"]
    members = acc[acc["community_id"].isin(shown)]
    return {"releases": res.releases, "by_actor": per.reset_index().to_dict("records"),
            "communities_shown": len(shown), "shown_members": len(members),
            "shown_campaign_share": round(float((members["actor_true"] != "").mean()), 4)
            if len(members) else None}


def run(scale: float, seed: int, work: Path) -> dict:
    sim = ensure_simulation(scale, seed)
    d = Path(sim.directory)
    truth = pd.read_csv(d / "truth.csv", keep_default_na=False)
    ev = graphkit.load(str(d / "events.parquet"), accounts=str(d / "accounts.csv"))
    seen = set(ev.con.execute("SELECT DISTINCT account_id FROM events").df()["account_id"])
    seeds = pick_seeds(truth, seen, np.random.default_rng(seed))
    work.mkdir(parents=True, exist_ok=True)
    seeds.to_csv(work / "seeds.csv", index=False)
    ds = graphkit.load(str(d / "events.parquet"), accounts=str(d / "accounts.csv"),
                       seeds=str(work / "seeds.csv"))
    settings = Settings()
    t0 = time.perf_counter()
    res = detect(ds, settings)
    seconds = time.perf_counter() - t0
    m = res.accounts.merge(truth, on="account_id", suffixes=("", "_true"))
    held = ~m["account_id"].isin(seeds["account_id"])
    camp = m[(m["actor_true"] != "") & held]
    legit = m[m["actor_true"] == ""]
    correct = np.where(m["actor"] != "", m["actor"] == m["actor_true"], m["actor_true"] == "")
    conf = np.where(m["actor"] != "", m["actor_confidence"], 1 - m["actor_confidence"])
    rel = reliability_table(conf[held.to_numpy()], correct[held.to_numpy()].astype(int))
    per_actor = (camp.assign(ok=camp["actor"] == camp["actor_true"])
                 .groupby("actor_true")["ok"].mean().round(4).to_dict())
    pairs = pd.read_csv(d / "successions_truth.csv")
    found = res.extra_tables.get("successions.csv", pd.DataFrame(
        columns=["predecessor", "successor"]))
    got = set(zip(found["predecessor"], found["successor"]))
    want = set(zip(pairs["predecessor"], pairs["successor"]))
    want_seen = {p for p in want if p[0] in seen and p[1] in seen}
    coverage = []
    for chain in chains(pairs):
        chain = [a for a in chain if a in seen]
        start = chain[0]
        top = set(expand(ds, [start], top=TOP, settings=settings).results["account_id"])
        coverage.append({"start": start, "chain": len(chain),
                         "covered": len(top & set(chain[1:])) / max(len(chain) - 1, 1)})
    return {
        "scale": scale, "seed": seed, "accounts": len(m), "campaign_accounts": int(
            (m["actor_true"] != "").sum()), "seeds": len(seeds), "detect_s": round(seconds, 1),
        "accuracy": round(float((camp["actor"] == camp["actor_true"]).mean()), 4),
        "accuracy_by_actor": per_actor,
        "legit_above_threshold": int(
            (legit["actor_confidence"] >= settings.attribution_threshold).sum()),
        "max_legit_confidence": float(legit["actor_confidence"].max()),
        "reliability": rel.round(4).to_dict("records"),
        "succession_precision": round(len(got & want) / max(len(got), 1), 4),
        "succession_recall": round(len(got & want) / max(len(want), 1), 4),
        "succession_recall_seen": round(len(got & want_seen) / max(len(want_seen), 1), 4),
        "expansion_coverage": coverage,
        "release_shift": release_shift(res, truth, settings),
        "calibration": {k: v for k, v in res.extra_outputs["attribution"].items()
                        if k in ("a", "b", "c", "scales", "threshold")},
    }


def markdown(runs: list[dict], command: str) -> str:
    header = ("| scale | seed | accounts | seeds | accuracy | legit >= threshold | "
              "max legit conf. | succ. precision | succ. recall | expansion coverage |")
    lines = ["# Attribution, successions, expansion", "", f"`{command}`", "", header,
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        cov = ", ".join(f"{c['covered']:.2f} of {c['chain']}" for c in r["expansion_coverage"])
        lines.append(f"| {r['scale']} | {r['seed']} | {r['accounts']} | {r['seeds']} | "
                     f"{r['accuracy']:.3f} | {r['legit_above_threshold']} | "
                     f"{r['max_legit_confidence']:.3f} | {r['succession_precision']:.3f} | "
                     f"{r['succession_recall']:.3f} | {cov} |")
    intro = ("Reliability (all non-seed accounts, confidence of the decision against the "
             "truth):")
    lines += ["", intro, ""]
    for r in runs:
        lines += [f"scale {r['scale']}, seed {r['seed']}:", "",
                  "| confidence | accounts | mean confidence | observed correct |",
                  "|---|---|---|---|"]
        lines += [f"| {b['bin']} | {b['pairs']} | {b['mean_confidence']:.3f} | "
                  f"{b['observed']:.3f} |" for b in r["reliability"]]
        lines.append("")
    lines += [("Model-release shift (accounts with release-window requests; moved: at least "
               "model_jump_scale beyond the other accounts, weighed by their window requests):"), "",
              "| scale | seed | actor | accounts | moved | mean moved share |",
              "|---|---|---|---|---|---|"]
    for r in runs:
        lines += [f"| {r['scale']} | {r['seed']} | {a['actor']} | {a['accounts']} | "
                  f"{a['moved']:.3f} | {a['mean_shift']:.3f} |"
                  for a in r["release_shift"]["by_actor"]]
    lines += ["", ("| scale | seed | releases | communities with the evidence line | "
                   "their members | campaign share |"), "|---|---|---|---|---|---|"]
    for r in runs:
        rs = r["release_shift"]
        share = "-" if rs["shown_campaign_share"] is None else f"{rs['shown_campaign_share']:.3f}"
        lines.append(f"| {r['scale']} | {r['seed']} | {', '.join(rs['releases'])} | "
                     f"{rs['communities_shown']} | {rs['shown_members']} | {share} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=RESULTS_DIR)
    ap.add_argument("--work", type=Path, default=Path("/tmp/graphkit-bench-attribution"))
    args = ap.parse_args(argv)
    command = ("python benchmarks/bench_attribution.py --scales "
               + " ".join(f"{s:g}" for s in args.scales) + " --seeds "
               + " ".join(str(s) for s in args.seeds))
    runs = [run(s, seed, args.work / f"{s:g}-{seed}") for s in args.scales for seed in args.seeds]
    for r in runs:
        print(json.dumps({k: r[k] for k in ("scale", "seed", "accuracy", "legit_above_threshold",
                                            "succession_precision", "succession_recall")}))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "attribution.json").write_text(json.dumps(
        {"reproduce": command, "runs": runs}, indent=2, default=str))
    (args.out / "attribution.md").write_text(markdown(runs, command))
    print(command)
    return runs


if __name__ == "__main__":
    main()
