"""`graphkit demo`: the README's main command chains simulate -> detect -> evaluate."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from graphkit.cli import main


def test_demo_runs_the_pipeline_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", str(out), "--scale", "0.01", "--seed", "2",
                                    "--no-neo4j"])
    assert res.exit_code == 0, res.output
    for step in ("graphkit simulate", "graphkit detect", "graphkit evaluate"):
        assert f"== {step}" in res.output
    assert "precision" in res.output and "naive" in res.output
    manifest = json.loads((out / "detect" / "manifest.json").read_text())
    assert manifest["outputs"]["accounts"] > 1000
    assert manifest["outputs"]["flagged_accounts"] > 0
    for name in ("accounts.csv", "communities.csv", "links.csv"):
        assert (out / "detect" / name).stat().st_size > 0
