"""Refactoring guard: outputs byte-identical to the recorded ones.

The digests in ``tests/golden/outputs.json`` were taken before the package was reorganized into
stage subpackages; a restructuring must leave every result file as it was. A change that is
*meant* to change results regenerates them (``python tests/test_golden_outputs.py``) in its own
commit that says why.

Compared: the simulator's files for a small scenario (as a canonical CSV of each table, so the
Parquet writer's metadata does not count) and detect's accounts.csv, communities.csv and
links.csv (with the run id, which names the time of the run, replaced) on the hand-built fixture, the checked-in simulated scenario and that scenario.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "outputs.json"
SCENARIO = {"scale": "0.01", "seed": "7"}
DETECT_FILES = ("accounts.csv", "communities.csv", "links.csv")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _table_digest(path: Path) -> str:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(
        path, dtype=str, keep_default_na=False)
    return _sha(frame.to_csv(index=False).encode())


def _run(args: list[str]) -> None:
    from graphkit.cli import main

    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output


def _detect_digests(out: Path, events: Path, accounts: Path, seeds: Path | None) -> dict:
    args = ["detect", str(events), "--accounts", str(accounts), "--out", str(out)]
    if seeds is not None:
        args += ["--seeds", str(seeds)]
    _run(args)
    run_id = json.loads((out / "manifest.json").read_text())["run_id"]
    # The run id (time and digest) appears in the Cypher column; it is the one allowed change.
    return {name: _sha((out / name).read_bytes().replace(run_id.encode(), b"RUN"))
            for name in DETECT_FILES}


def compute(work: Path) -> dict[str, dict[str, str]]:
    """Every digest the guard compares, computed from scratch under ``work``."""
    hand, small = ROOT / "fixtures" / "hand", ROOT / "fixtures" / "sim-small"
    sim = work / "sim"
    _run(["simulate", str(sim), "--scale", SCENARIO["scale"], "--seed", SCENARIO["seed"]])
    return {
        "simulate": {p.name: _table_digest(p) for p in sorted(sim.iterdir())},
        "detect-hand": _detect_digests(work / "hand", hand / "events.csv",
                                       hand / "accounts.csv", hand / "seeds.csv"),
        "detect-sim-small": _detect_digests(work / "small", small / "events.parquet",
                                            small / "accounts.csv", small / "seeds.csv"),
        "detect-scenario": _detect_digests(work / "scenario", sim / "events.parquet",
                                           sim / "accounts.csv", sim / "seeds.csv"),
    }


@pytest.mark.slow
def test_outputs_match_recorded_digests(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    got = compute(tmp_path)
    for group, files in expected.items():
        for name, digest in files.items():
            assert got[group][name] == digest, f"{group}/{name} changed"
    assert set(got) == set(expected)


if __name__ == "__main__":  # regenerate (only for a change meant to alter results)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(compute(Path(tmp)), indent=2, sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {GOLDEN}\n")
