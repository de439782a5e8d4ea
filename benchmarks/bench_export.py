"""Export throughput: Bolt (``write_selection``) and the bulk path (CSVs + real neo4j-admin import).

The element tables (about 1M nodes + relationships) are synthesized directly with numpy in the
exact shape :func:`graphkit.neo4j.selection.select` produces, because running detection on a simulation
big enough to yield 1M exported elements takes far longer than the export being measured.

Needs the local Neo4j (``graphkit neo4j install``). Starts its own instances under a temporary
directory on free ports, so it never touches a server you are using. Prints medians.

Bolt runs first write into an emptied graph (``clear_previous``, as ``--replace`` does): the
figure the target is about. Then the same selection is exported again over what is there, the
idempotent re-export (every node and relationship found and updated, none created).

    python benchmarks/bench_export.py [--accounts 80000] [--runs 3] [--batch-size 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from neo4j import GraphDatabase

from graphkit.neo4j import server as ns
from graphkit.neo4j.auth import credentials
from graphkit.neo4j.bolt import apply_schema, clear_previous, write_selection
from graphkit.neo4j.bulk import write_import_csvs
from graphkit.neo4j.selection import END, START, Selection

T0 = pd.Timestamp("2026-09-01", tz="UTC")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _edges(rng: np.random.Generator, accounts: np.ndarray, per_account: float, keys: np.ndarray,
           run_id: str) -> pd.DataFrame:
    n = int(len(accounts) * per_account)
    df = pd.DataFrame({START: accounts[rng.integers(0, len(accounts), n)],
                       END: keys[rng.zipf(1.6, n) % len(keys)]}).drop_duplicates()
    m = len(df)
    first = T0 + pd.to_timedelta(rng.integers(0, 30 * 86400, m), unit="s")
    df["count"] = rng.integers(1, 500, m)
    df["first_seen"] = first
    df["last_seen"] = first + pd.to_timedelta(rng.integers(0, 86400, m), unit="s")
    df["share"] = rng.random(m).round(4)
    df["run_id"] = run_id
    return df.reset_index(drop=True)


def synthetic_selection(n_accounts: int, seed: int = 0) -> Selection:
    """A selection shaped like ``select`` output: ~17 elements per account."""
    rng = np.random.default_rng(seed)
    run_id = "bench-run"
    ids = np.char.add("acct-", np.arange(n_accounts).astype(str)).astype(object)
    n_comm = max(1, n_accounts // 100)
    comm = rng.integers(0, n_comm, n_accounts)
    susp = rng.random(n_accounts).round(4)
    accounts = pd.DataFrame({
        "account_id": ids, "community_id": comm, "suspicion": susp, "flagged": susp > 0.5,
        "membership": rng.random(n_accounts).round(4),
        "created_at": T0 + pd.to_timedelta(rng.integers(0, 30 * 86400, n_accounts), unit="s"),
        "status": np.where(rng.random(n_accounts) < 0.1, "banned", "active"),
        "n_events": rng.integers(10, 10_000, n_accounts), "run_id": run_id,
    })
    communities = pd.DataFrame({
        "community_id": np.arange(n_comm), "size": np.bincount(comm, minlength=n_comm),
        "suspicion": rng.random(n_comm).round(4), "flagged": rng.random(n_comm) < 0.3,
        "evidence": "shared payment methods; lock-step activity", "run_id": run_id,
    })
    keyspace = {
        "IP": np.char.add("10.0.", np.arange(n_accounts).astype(str)).astype(object),
        "PaymentMethod": np.char.add("card-", np.arange(n_accounts // 3).astype(str)),
        "PromptTemplate": np.char.add("tpl-", np.arange(n_accounts // 2).astype(str)),
        "UserAgent": np.char.add("ua-", np.arange(200).astype(str)),
        "Model": np.array(["frontier-1", "frontier-1-mini", "reasoner-1", "frontier-2"]),
    }
    plan = {"USED_IP": ("IP", "ip", 3.0), "PAID_WITH": ("PaymentMethod", "payment_id", 1.2),
            "SENT": ("PromptTemplate", "template_hash", 4.0),
            "USED_AGENT": ("UserAgent", "user_agent", 1.0), "CALLED": ("Model", "name", 2.0)}
    nodes: dict[str, pd.DataFrame] = {"Account": accounts}
    rels: dict[str, pd.DataFrame] = {}
    for rel, (label, key, per) in plan.items():
        rels[rel] = _edges(rng, ids, per, keyspace[label].astype(object), run_id)
        nodes[label] = pd.DataFrame({key: rels[rel][END].drop_duplicates().to_numpy()})
    providers = np.char.add("proxy-", np.arange(20).astype(str)).astype(object)
    ips = nodes["IP"]["ip"].to_numpy()
    proxied = ips[rng.random(len(ips)) < 0.3]
    rels["OPERATED_BY"] = _edges(rng, proxied, 1.0, providers, run_id)
    nodes["ProxyProvider"] = pd.DataFrame({"name": rels["OPERATED_BY"][END].unique()})
    a, b = rng.integers(0, n_accounts, (2, 2 * n_accounts))
    sim = pd.DataFrame({START: ids[np.minimum(a, b)], END: ids[np.maximum(a, b)]})
    sim = sim[a != b].drop_duplicates().reset_index(drop=True)
    sim["score"] = rng.random(len(sim)).round(4)
    for signal in ("ip", "payment", "template", "proxy", "user_agent", "synchrony"):
        sim[signal] = rng.random(len(sim)).round(4)
    sim["run_id"] = run_id
    rels["SIMILAR_TO"] = sim
    rels["MEMBER_OF"] = pd.DataFrame({START: ids, END: comm,
                                      "membership": accounts["membership"]})
    nodes["Community"] = communities
    return Selection(run_id=run_id, nodes=nodes, relationships=rels,
                     community_ids=list(range(n_comm)))


def bench_bolt(selection: Selection, bolt_uri: str, batch_size: int, fresh: bool = True) -> float:
    creds = credentials(uri=bolt_uri)
    driver = GraphDatabase.driver(bolt_uri, auth=creds and creds.auth)
    try:
        apply_schema(driver)
        if fresh:
            clear_previous(driver)  # replace: every run starts from an empty graphkit graph
        started = time.perf_counter()
        write_selection(driver, selection, batch_size=batch_size)
        return time.perf_counter() - started
    finally:
        driver.close()


def bench_bulk(selection: Selection, home: Path, instance: Path, out: Path) -> tuple[float, float]:
    started = time.perf_counter()
    files = write_import_csvs(selection, out)
    csv_seconds = time.perf_counter() - started
    report = ns.admin_import(
        home, "neo4j", [(None, out / p) for p in files.nodes.values()],
        [(None, out / p) for p in files.relationships.values()], instance=instance,
        overwrite=True, multiline_fields=True)  # as import.sh runs it
    expected = selection.n_elements
    imported = report.nodes + report.relationships
    if imported != expected:
        raise SystemExit(f"bulk import wrote {imported} elements, expected {expected}")
    return csv_seconds, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=80_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args(argv)

    home = ns.default_home()
    ns.install(home)
    selection = synthetic_selection(args.accounts)
    nodes, rels = selection.counts()
    n = selection.n_elements
    print(f"elements: {n:,} ({sum(nodes.values()):,} nodes, {sum(rels.values()):,} "
          f"relationships; {args.accounts:,} accounts)")
    work = Path(tempfile.mkdtemp(prefix="graphkit-bench-export-"))
    try:
        bolt: list[float] = []
        again: list[float] = []
        info = ns.start(home, bolt_port=_port(), http_port=_port(), instance=work / "bolt",
                        heap="2g", pagecache="1g", timeout=300)
        try:
            for _ in range(args.runs):
                bolt.append(bench_bolt(selection, info.bolt_uri, args.batch_size))
            for _ in range(args.runs):
                again.append(bench_bolt(selection, info.bolt_uri, args.batch_size, fresh=False))
        finally:
            ns.stop(home, instance=info.instance)
        bulk: list[tuple[float, float]] = [
            bench_bulk(selection, home, work / "bulk", work / f"csv{i}") for i in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bolt_s = statistics.median(bolt)
    again_s = statistics.median(again)
    csv_s = statistics.median(b[0] for b in bulk)
    bulk_s = statistics.median(b[1] for b in bulk)
    print(f"bolt  (into an empty graph, batch {args.batch_size:,}): median {bolt_s:.1f}s of "
          f"{args.runs} runs = {n / bolt_s:,.0f} elements/s  [runs: "
          f"{', '.join(f'{s:.1f}' for s in bolt)}]")
    print(f"bolt  (re-export over the same graph): median {again_s:.1f}s = "
          f"{n / again_s:,.0f} elements/s  [runs: {', '.join(f'{s:.1f}' for s in again)}]")
    print(f"bulk  (CSVs + neo4j-admin import): median {bulk_s:.1f}s = {n / bulk_s:,.0f} "
          f"elements/s (writing CSVs {csv_s:.1f}s)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load}")
    print("reproduce: python benchmarks/bench_export.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
