"""Shared benchmark plumbing: the cached simulation, measured subprocesses, reports.

* :func:`ensure_simulation` simulates once into ``benchmarks/.cache/`` (git-ignored) and reuses
  the files; the cache key is scale + seed + a digest of the simulator's source and graphkit's
  version, so a changed simulator regenerates instead of benchmarking stale data.
* :func:`measure` runs one repetition in a fresh Python process and reads that process's own
  peak RSS (``ru_maxrss``, taken by a small launcher that forks it, so that it does not start
  from the runner's memory), so repetitions never share caches or heaps.
* A worker mode (``python benchmarks/common.py worker SPEC.json``) runs the same library calls
  as the CLI command being measured with a :class:`NestedProgress`, and writes the stage
  timings (with their nesting) as JSON for the parent.

Figures are medians over repetitions: the machines are shared and noisy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphkit.progress import Progress, proc_status_bytes

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE_DIR = HERE / ".cache"
RESULTS_DIR = HERE / "results"

# --- the cached simulation ---------------------------------------------------------------------

@dataclass(frozen=True)
class SimFiles:
    """Paths of one simulated data set and what it holds."""

    directory: Path
    events: Path
    accounts: Path
    seeds: Path
    truth: Path
    scale: float
    seed: int
    n_events: int
    n_accounts: int
    simulator: str

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("directory", "events", "accounts", "seeds", "truth"):
            d[k] = rel(d[k])
        return d


def simulator_version() -> str:
    """graphkit's version plus a digest of the simulator's source: changes when its output may."""
    import graphkit
    import graphkit.simulate as simpkg

    h = hashlib.sha256()
    for src in sorted(Path(simpkg.__file__).parent.glob("*.py")):
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    digest = h.hexdigest()[:10]
    return f"{graphkit.__version__}-{digest}"


def ensure_simulation(scale: float, seed: int = 0, cache_dir: Path = CACHE_DIR,
                      log: bool = True) -> SimFiles:
    """The simulated data set for (scale, seed, simulator version), generated on first use.

    Generation writes into a temporary sibling and renames it when complete, so an interrupted
    run never leaves a half-written cache behind. Older versions for the same scale and seed are
    removed (a 30M-event set is about 1 GB).
    """
    from graphkit.simulate import simulate

    version = simulator_version()
    stem = f"sim-scale{scale:g}-seed{seed}"
    target = cache_dir / f"{stem}-v{version}"
    meta_path = target / "cache.json"
    if not meta_path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        for stale in cache_dir.glob(f"{stem}-v*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = cache_dir / f".tmp-{stem}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        if log:
            print(f"simulating scale={scale:g} seed={seed} into {rel(target)} (cached for next "
                  "runs) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        res = simulate(tmp, scale=scale, seed=seed)
        meta = {"scale": scale, "seed": seed, "simulator": version, "n_events": res.n_events,
                "n_accounts": res.n_accounts,
                "seconds": round(time.perf_counter() - start, 1),
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        (tmp / "cache.json").write_text(json.dumps(meta, indent=2) + "\n")
        tmp.rename(target)
        if log:
            print(f"  {res.n_events:,} events, {res.n_accounts:,} accounts in {meta['seconds']}s",
                  file=sys.stderr, flush=True)
    meta = json.loads(meta_path.read_text())
    return SimFiles(directory=target, events=target / "events.parquet",
                    accounts=target / "accounts.csv", seeds=target / "seeds.csv",
                    truth=target / "truth.csv", scale=scale, seed=seed,
                    n_events=int(meta["n_events"]), n_accounts=int(meta["n_accounts"]),
                    simulator=version)


def ensure_sample(sim: SimFiles, n_accounts: int) -> SimFiles:
    """The events of the ``n_accounts`` accounts with the smallest ids, cached beside ``sim``.

    Account ids are random, so this is a random sample of accounts that keeps every event of
    each sampled account (and its accounts-file and seed rows): the same sample for graphkit and
    the reference.
    """
    import duckdb

    target = sim.directory / f"sample-first{n_accounts}accounts"
    meta_path = target / "cache.json"
    if not meta_path.is_file():
        tmp = sim.directory / f".tmp-sample-{n_accounts}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        ev, acc, sd = (str(p).replace("'", "''") for p in (sim.events, sim.accounts, sim.seeds))
        con.execute(f"CREATE TEMP TABLE keep AS SELECT DISTINCT account_id FROM "
                    f"read_parquet('{ev}') ORDER BY account_id LIMIT {int(n_accounts)}")
        con.execute(f"COPY (SELECT e.* FROM read_parquet('{ev}') e SEMI JOIN keep USING "
                    f"(account_id) ORDER BY e.ts) TO '{tmp / 'events.parquet'}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        for name, src in (("accounts", acc), ("seeds", sd), ("truth", str(sim.truth))):
            con.execute(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true) SEMI JOIN keep "
                        f"USING (account_id)) TO '{tmp / (name + '.csv')}' (HEADER)")
        n_ev = con.execute(f"SELECT count(*) FROM read_parquet('{tmp / 'events.parquet'}')"
                           ).fetchone()[0]
        n_acc = con.execute("SELECT count(*) FROM keep").fetchone()[0]
        con.close()
        meta = {"sample": f"first {n_accounts} accounts by account_id", "n_events": n_ev,
                "n_accounts": n_acc, "of": rel(sim.directory)}
        (tmp / "cache.json").write_text(json.dumps(meta, indent=2) + "\n")
        tmp.rename(target)
    meta = json.loads(meta_path.read_text())
    return dataclasses.replace(sim, directory=target, events=target / "events.parquet",
                               accounts=target / "accounts.csv", seeds=target / "seeds.csv",
                               truth=target / "truth.csv", n_events=int(meta["n_events"]),
                               n_accounts=int(meta["n_accounts"]))


# --- measured subprocesses ---------------------------------------------------------------------

@dataclass
class Sample:
    """One repetition in a fresh process: wall seconds, the process's peak RSS and CPU time
    (user + system: wall well above cpu / cores means the process waited for a busy machine),
    the 1-minute load average when it started, stage timings and the stages' memory (GiB
    resident at each stage's end and the process's peak so far, :attr:`Progress.memory`)."""

    wall_s: float
    peak_rss_bytes: int
    cpu_s: float = 0.0
    load_at_start: float = 0.0
    stdout: str = field(default="", repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class BenchmarkError(RuntimeError):
    """A measured command failed; carries its stderr tail."""


class BudgetExceeded(BenchmarkError):
    """A measured command ran past its time or memory budget and was stopped."""

    def __init__(self, message: str, reason: str, wall_s: float, peak_rss_bytes: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.wall_s = wall_s
        self.peak_rss_bytes = peak_rss_bytes


# Starts the measured command and reports its rusage. On Linux a child's ru_maxrss starts from
# what its parent held when it forked, so the command is forked from this small process
# (about 10 MB), never from the benchmark runner (GBs once it has simulated its data).
_LAUNCHER = """
import json, os, sys
report, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"{argv[0]}: {exc}\\n")
    finally:
        os._exit(127)
with open(report + ".pid.tmp", "w") as f:
    f.write(str(pid))
os.replace(report + ".pid.tmp", report + ".pid")
_, status, ru = os.wait4(pid, 0)
with open(report, "w") as f:
    f.write(json.dumps([ru.ru_maxrss, ru.ru_utime + ru.ru_stime]))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _read_pid(report: Path) -> int | None:
    try:
        return int(Path(f"{report}.pid").read_text())
    except (OSError, ValueError):
        return None


def measure(argv: Sequence[str], *, cwd: Path | None = None, timeout: float | None = None,
            max_rss_bytes: int | None = None, env: dict[str, str] | None = None) -> Sample:
    """Run ``argv`` in a fresh process; return its wall time, peak RSS, CPU time and stdout.

    The peak RSS is the process's own ``ru_maxrss`` (not the whole process tree of the
    benchmark runner), taken by a small launcher that forks it (:data:`_LAUNCHER`): forked
    from the runner itself, it would start from the runner's memory. Raises
    :class:`BudgetExceeded` when the process runs past ``timeout`` seconds or
    ``max_rss_bytes`` (it is killed: the machine is shared), and :class:`BenchmarkError` on a
    non-zero exit.
    """
    out_f, err_f, report = _tmpfile("stdout"), _tmpfile("stderr"), _tmpfile("usage")
    load = os.getloadavg()[0]
    try:
        with open(out_f, "w+b") as out, open(err_f, "w+b") as err:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(report),
                                     *argv], cwd=cwd, stdout=out, stderr=err,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
            deadline = None if timeout is None else start + timeout
            seen_rss = seen_peak = 0
            child = None
            while True:
                child = child or _read_pid(report)
                if child:  # for the budget, and the peak of a run stopped before its end
                    now = proc_status_bytes(child, ("VmRSS", "VmHWM"))
                    seen_rss = max(seen_rss, now.get("VmRSS", 0))
                    seen_peak = max(seen_peak, now.get("VmHWM", 0), seen_rss)
                pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                over = None
                if deadline is not None and time.perf_counter() > deadline:
                    over = "time"
                elif max_rss_bytes is not None and seen_rss > max_rss_bytes:
                    over = "memory"
                if over:
                    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command
                    os.wait4(proc.pid, 0)
                    wall = time.perf_counter() - start
                    raise BudgetExceeded(f"stopped at the {over} budget after {wall:.0f}s "
                                         f"({seen_peak / 2**30:.1f} GiB): {shlex.join(argv)}",
                                         over, wall, seen_peak)
                time.sleep(0.05)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
        if proc.returncode != 0:
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise BenchmarkError(f"exit {proc.returncode}: {shlex.join(argv)}\n{tail}")
        maxrss_kib, cpu = json.loads(report.read_text())
    finally:
        for f in (out_f, err_f, report, Path(f"{report}.pid"), Path(f"{report}.pid.tmp")):
            f.unlink(missing_ok=True)
    return Sample(wall_s=wall, peak_rss_bytes=int(maxrss_kib) * 1024, cpu_s=float(cpu),
                  load_at_start=load, stdout=stdout)


def _tmpfile(tag: str) -> Path:
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f"gk-bench-{tag}-")
    os.close(fd)
    return Path(name)


def run_worker(task: str, args: dict[str, Any], *, timeout: float | None = None,
               max_rss_bytes: int | None = None) -> Sample:
    """Run ``task`` (see :data:`WORKER_TASKS`) in a fresh process via worker mode.

    On :class:`BudgetExceeded` the exception carries ``partial``: the stages finished before
    the process was stopped and the one it was in.
    """
    spec = _tmpfile("spec")
    result = _tmpfile("result")
    spec.write_text(json.dumps({"task": task, "args": args, "result": str(result)}))
    try:
        try:
            sample = measure([sys.executable, str(Path(__file__).resolve()), "worker", str(spec)],
                             timeout=timeout, max_rss_bytes=max_rss_bytes)
        except BudgetExceeded as exc:
            text = result.read_text() if result.is_file() else ""
            exc.partial = json.loads(text) if text.strip() else {}  # type: ignore[attr-defined]
            raise
        data = json.loads(result.read_text())
    finally:
        spec.unlink(missing_ok=True)
        result.unlink(missing_ok=True)
    return dataclasses.replace(sample, timings=data["timings"], parents=data["parents"],
                               memory=data.get("memory", {}), extra=data.get("extra", {}))


# --- worker mode (runs inside the measured process) ---------------------------------------------

@dataclass
class NestedProgress(Progress):
    """A quiet :class:`Progress` that also records which stage each stage ran inside."""

    parents: dict[str, str | None] = field(default_factory=dict)
    live_path: Path | None = None  # rewritten at every stage boundary (read if the run is killed)
    _stack: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.enabled = False

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.parents.setdefault(name, self._stack[-1] if self._stack else None)
        self._stack.append(name)
        self._save()
        try:
            with super().step(name):
                yield
        finally:
            self._stack.pop()
            self._save()

    def _save(self) -> None:
        if self.live_path is not None:
            self.live_path.write_text(json.dumps({"timings": self.timings,
                                                  "parents": self.parents,
                                                  "running": list(self._stack)}))


def _task_build(args: dict[str, Any], progress: NestedProgress) -> dict[str, Any]:
    """What ``graphkit build EVENTS --accounts F`` does (graphkit/cli/build.py)."""
    from graphkit.graph.hetero import build_graph
    from graphkit.io import load

    with progress.step("load"):
        dataset = load(args["events"], args.get("accounts"), args.get("seeds"),
                       progress=progress)
    with progress.step("graph"):
        graph = build_graph(dataset, progress=progress)
    return {"summary": graph.summary(), "n_events": dataset.n_events}


def _task_detect(args: dict[str, Any], progress: NestedProgress) -> dict[str, Any]:
    """What ``graphkit detect EVENTS --accounts F --seeds F --out DIR`` does
    (graphkit/cli/detect.py), with default settings."""
    from graphkit.detection.pipeline import detect
    from graphkit.io import load
    from graphkit.settings import Settings

    with progress.step("load"):
        dataset = load(args["events"], accounts=args.get("accounts"), seeds=args.get("seeds"),
                       progress=progress)
    result = detect(dataset, Settings(), progress=progress, release_events=True)
    # As the command does: the events went once no stage read them, the connection goes
    # before the write.
    dataset.con.close()
    del dataset
    with progress.step("write"):
        result.write(Path(args["out"]))
    return {"accounts": len(result.accounts), "links": len(result.links),
            "communities": len(result.communities),
            "flagged_communities": int(result.communities["flagged"].sum()),
            "flagged_accounts": int(result.accounts["flagged"].sum())}


def _task_reference(args: dict[str, Any], progress: NestedProgress) -> dict[str, Any]:
    """The straightforward pandas + networkx pipeline (benchmarks/reference.py)."""
    sys.path.insert(0, str(HERE))
    import reference

    return reference.run(args, progress)


def _task_floor(args: dict[str, Any], progress: NestedProgress) -> dict[str, Any]:
    """The DuckDB aggregation floor: one GROUP BY account_id, ip over the events file, every
    row read and aggregated, with graphkit's connection settings."""
    from graphkit.io.dataset import connect

    con = connect()
    with progress.step("aggregate"):
        rows = con.execute("SELECT account_id, ip, count(*) FROM read_parquet(?) GROUP BY ALL",
                           [str(args["events"])]).fetchall()
    return {"groups": len(rows)}


WORKER_TASKS = {"build": _task_build, "detect": _task_detect, "reference": _task_reference,
                "floor": _task_floor}
# Modules each task imports before its first timed stage (import time is not a stage's).
PRELOAD = {"build": ("graphkit.io", "graphkit.graph.hetero"),
           "detect": ("graphkit.io", "graphkit.graph.hetero", "graphkit.detection.pipeline"),
           "reference": ("pandas", "numpy", "networkx", "pyarrow.parquet"),
           "floor": ("graphkit.io.dataset",)}


def _worker_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    progress = NestedProgress(live_path=Path(spec["result"]))
    with progress.step("imports"):
        import importlib

        for module in PRELOAD[spec["task"]]:
            importlib.import_module(module)
    extra = WORKER_TASKS[spec["task"]](spec["args"], progress)
    Path(spec["result"]).write_text(json.dumps(
        {"timings": progress.timings, "parents": progress.parents, "memory": progress.memory,
         "extra": extra}, default=str))


# --- summaries and reports ---------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def summarize(samples: Sequence[Sample]) -> dict[str, Any]:
    """Medians (and min/max) of wall, peak RSS and every stage over the repetitions."""
    stages: dict[str, list[float]] = {}
    parents: dict[str, str | None] = {}
    for s in samples:
        for k, v in s.timings.items():
            stages.setdefault(k, []).append(v)
        parents.update(s.parents)
    memory: dict[str, dict[str, list[float]]] = {}
    for s in samples:
        for k, v in s.memory.items():
            for what, value in v.items():
                memory.setdefault(k, {}).setdefault(what, []).append(value)
    walls = [s.wall_s for s in samples]
    rss = [s.peak_rss_bytes for s in samples]
    return {
        "repetitions": len(samples),
        "wall_s": {"median": round(median(walls), 3), "min": round(min(walls), 3),
                   "max": round(max(walls), 3), "all": [round(w, 3) for w in walls]},
        "peak_rss_bytes": {"median": int(median(rss)), "max": max(rss), "all": rss},
        "peak_rss_gib": round(median(rss) / 2**30, 3),
        "cpu_s": {"median": round(median([s.cpu_s for s in samples]), 3),
                  "all": [round(s.cpu_s, 3) for s in samples]},
        "load_at_start": [round(s.load_at_start, 2) for s in samples],
        "stages_s": {k: round(median(v), 3) for k, v in stages.items()},
        "stage_parents": {k: parents[k] for k in parents if k in stages},
        # GiB at each stage's end: resident, and the process's peak so far (medians)
        "stages_memory_gib": {k: {what: round(median(v), 3) for what, v in m.items()}
                              for k, m in memory.items()},
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import duckdb
    import igraph
    import networkx
    import pandas
    import pyarrow

    import graphkit

    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gib": mem, "cpu": cpu, "platform": platform.platform(),
        "python": platform.python_version(), "graphkit": graphkit.__version__,
        "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
        "pandas": pandas.__version__, "igraph": igraph.__version__,
        "networkx": networkx.__version__, "git_commit": _git_commit(),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=False)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "graphkit"], capture_output=True, text=True, timeout=10,
                               check=False).stdout.strip()
        return out.stdout.strip() + ("+uncommitted-graphkit-changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def rel(path: str | Path) -> str:
    """A path relative to the repository when inside it (reports carry no machine paths)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(path)


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.2f} GiB"


def stage_rows(summary: dict[str, Any]) -> list[tuple[str, float]]:
    """Stages in run order, nested ones indented under their parent."""
    parents = summary["stage_parents"]
    stages = summary["stages_s"]

    def depth(name: str) -> int:
        d, p = 0, parents.get(name)
        while p is not None and d < 10:
            d, p = d + 1, parents.get(p)
        return d

    # ``parents`` is filled when a stage starts, ``timings`` when it ends: use start order.
    order = [k for k in parents if k in stages] + [k for k in stages if k not in parents]
    return [("\u2003" * depth(k) + k, stages[k]) for k in order]


def peak_stage(summary: dict[str, Any]) -> str | None:
    """The stage that set the run's peak: the first, in the order stages ended (a nested stage
    before the one it ran in), whose median peak so far is the largest (None without memory
    figures)."""
    memory = summary.get("stages_memory_gib", {})
    peaks = [(memory[k]["peak"], k) for k in summary["stages_s"] if "peak" in memory.get(k, {})]
    if not peaks:
        return None
    top = max(p for p, _ in peaks)
    return next(k for p, k in peaks if p == top)


def contention_note(summary: dict[str, Any], cores: int) -> str:
    """How busy the machine was: CPU time against wall, and the load average at the start."""
    cpu, wall = summary["cpu_s"]["median"], summary["wall_s"]["median"]
    loads = ", ".join(f"{x:.1f}" for x in summary["load_at_start"])
    return (f"CPU time (user + system) {cpu:.1f} s over {wall:.1f} s wall = {cpu / wall:.2f} of "
            f"{cores} cores busy on average; 1-minute load average at the start of each run: "
            f"{loads} (above {cores} means other work shared the machine).")


def write_report(out_dir: Path, name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``name.json`` and ``name.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jp = out_dir / f"{name}.json"
    mp = out_dir / f"{name}.md"
    jp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    mp.write_text(markdown)
    return jp, mp


def add_common_args(p: Any, repeat: int = 3) -> None:
    """Options every runner takes: the data set, repetitions, where results go."""
    p.add_argument("--scale", type=float, default=1.0, help="simulation scale (1.0 = ~30M events)")
    p.add_argument("--seed", type=int, default=0, help="simulation seed")
    p.add_argument("--repeat", type=int, default=repeat, help="repetitions (fresh process each)")
    p.add_argument("--cli-runs", type=int, default=1,
                   help="runs of the graphkit command itself (cross-check)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="where JSON + markdown go")
    p.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="simulation cache")


def data_line(d: dict[str, Any], m: dict[str, Any]) -> str:
    """One sentence naming the data set and the machine."""
    return (f"Simulated with `graphkit simulate DIR --scale {d['scale']:g} --seed {d['seed']}` "
            f"(simulator {d['simulator']}). Machine: {m['cpus_usable']} cores, "
            f"{m['memory_gib']} GiB RAM ({m['cpu']}); Python {m['python']}, DuckDB "
            f"{m['duckdb']}, networkx {m['networkx']}; code {m['git_commit']}.")


def command_line(argv: Sequence[str]) -> str:
    """The command that reproduces this run, as typed from the repository root."""
    parts = ["python", rel(argv[0]), *argv[1:]]
    return shlex.join(parts)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "worker":
        _worker_main(sys.argv[2])
    elif len(sys.argv) >= 2 and sys.argv[1] == "simulate":
        # python benchmarks/common.py simulate [SCALE] [SEED]: fill the cache ahead of a run.
        sim = ensure_simulation(float(sys.argv[2]) if len(sys.argv) > 2 else 1.0,
                                int(sys.argv[3]) if len(sys.argv) > 3 else 0)
        print(json.dumps(sim.to_dict(), indent=2))
    else:
        sys.exit("usage: common.py worker SPEC.json | common.py simulate [SCALE] [SEED]")
