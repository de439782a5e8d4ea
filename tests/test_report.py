"""`graphkit report`: one self-contained HTML file per detection run (issue #18).

The report of fixtures/sim-small is checked as a file (size, one picture per flagged cluster,
nothing it would fetch) and, marked ``browser``, in headless Chromium: no console error and no
network request at all. Set GRAPHKIT_REPORT_SCREENSHOT=docs/img/report-cluster.png to refresh
the image the docs show.
"""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.detection.activity import activity_table
from graphkit.io.outputs import seal
from graphkit.report.cluster import link_contributions
from graphkit.report.data import read_output

SIM_SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_BYTES = 20_000_000


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    res = CliRunner().invoke(main, [
        "detect", str(SIM_SMALL / "events.parquet"), "--accounts", str(SIM_SMALL / "accounts.csv"),
        "--seeds", str(SIM_SMALL / "seeds.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def report(detected: Path) -> Path:
    html = detected.parent / "report.html"
    res = CliRunner().invoke(main, ["report", str(detected), "--out", str(html),
                                    "--events", str(SIM_SMALL / "events.parquet")])
    assert res.exit_code == 0, res.output
    return html


class _Refs(HTMLParser):
    """Element attributes that would make a browser fetch (script text is not parsed)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "data", "poster", "srcset", "action") and value:
                self.refs.append((tag, name, value))


def _flagged(detected: Path) -> list[int]:
    comms = pd.read_csv(detected / "communities.csv")
    return comms.loc[comms["flagged"].astype(bool), "community_id"].astype(int).tolist()


def test_report_is_one_self_contained_file(detected: Path, report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert 0 < report.stat().st_size < MAX_BYTES
    flagged = _flagged(detected)
    assert flagged
    # One picture (subgraph) and one timeline per flagged cluster, in rank order.
    graphs = re.findall(r'<div id="cluster-graph-(\d+)"', html)
    assert sorted(map(int, graphs)) == sorted(flagged)
    assert len(re.findall(r'<div id="cluster-timeline-(\d+)"', html)) == len(flagged)
    assert len(re.findall(r'<div id="cluster-links-(\d+)"', html)) == len(flagged)
    # plotly.js inlined exactly once; no figure carries its own copy or a CDN reference.
    assert len(re.findall(r"\* plotly\.js v\d", html)) == 1
    from plotly.offline import get_plotlyjs

    own = html.replace(get_plotlyjs(), "")  # the bundle's own strings name URLs it never loads
    assert "cdn.plot.ly" not in own and "<script src" not in own
    parser = _Refs()
    parser.feed(html)
    remote = [r for r in parser.refs if not r[2].startswith("#")]
    assert remote == [], remote
    # The overview: the flag cut from the manifest, the evidence and its Cypher.
    assert "flag cut (false discovery rate)" in html and "flag cut 0.7" not in html
    assert "MATCH (c:Community" in html
    assert "The timeline needs the events" not in html
    # Written atomically: no temporary file left beside it.
    assert [p.name for p in report.parent.iterdir() if p.name.startswith(".report")] == []


def test_report_uses_detects_activity_table(detected: Path, tmp_path: Path) -> None:
    """detect writes activity.parquet for flagged accounts: timelines need no --events."""
    assert (detected / "activity.parquet").exists()
    html = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(detected), "--out", str(html)])
    assert res.exit_code == 0, res.output
    assert 'id="cluster-timeline-' in html.read_text()


def test_report_without_events_asks_for_them(detected: Path, tmp_path: Path) -> None:
    d = tmp_path / "out"
    shutil.copytree(detected, d)
    (d / "activity.parquet").unlink()
    seal(d)  # a complete result written without activity.parquet
    html = tmp_path / "r.html"
    res = CliRunner().invoke(main, ["report", str(d), "--out", str(html)])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    assert "The timeline needs the events" in text
    assert 'id="cluster-timeline-' not in text


def test_optional_inputs_are_rendered(detected: Path, tmp_path: Path) -> None:
    """activity.parquet replaces --events; successions.csv and changes.csv (with --previous)."""
    d = tmp_path / "out"
    shutil.copytree(detected, d)
    acc = pd.read_csv(d / "accounts.csv", dtype={"account_id": str})
    members = acc[acc["flagged"]]["account_id"].tolist()
    activity_table(SIM_SMALL / "events.parquet", members).to_parquet(d / "activity.parquet")
    pd.DataFrame({"predecessor": members[:2], "successor": members[2:4], "gap": ["2 days"] * 2,
                  "shared identifiers": ["payment; ip"] * 2, "confidence": [0.9, 0.8]}
                 ).to_csv(d / "successions.csv", index=False)
    pd.DataFrame({"change": ["new"], "community_id": [4], "previous_id": [None], "size": [56]}
                 ).to_csv(d / "changes.csv", index=False)
    seal(d)  # the added files are part of the result
    res = CliRunner().invoke(main, ["report", str(d), "--previous"])
    assert res.exit_code == 0, res.output
    text = (d / "report.html").read_text()
    assert 'id="cluster-timeline-' in text
    assert "Succession chains" in text and "payment; ip" in text
    assert "What changed since the last run" in text
    res = CliRunner().invoke(main, ["report", str(d), "--out", str(tmp_path / "n.html")])
    assert "What changed since the last run" not in (tmp_path / "n.html").read_text()


def test_waterfall_contributions_reproduce_the_link_score(detected: Path) -> None:
    out = read_output(detected, graph=False)
    links = out.links.head(2000)
    contrib = link_contributions(links, out.signal_weights)
    # Similarities are rounded to 4 digits in links.csv.
    np.testing.assert_allclose(contrib["score"], links["score"], atol=2e-3)


def test_activity_table_reads_csv_and_parquet_alike(tmp_path: Path) -> None:
    ev = pd.read_parquet(SIM_SMALL / "events.parquet", columns=["account_id", "ts", "model"])
    ids = ev["account_id"].drop_duplicates().head(5).tolist()
    ev.head(5000).to_csv(tmp_path / "e.csv", index=False)
    a = activity_table(tmp_path / "e.csv", ids, bin="1d")
    b = activity_table(ev.head(5000), ids, bin="1d")
    pd.testing.assert_frame_equal(a, b)
    assert a["n"].sum() == ev.head(5000)["account_id"].isin(ids).sum()


def test_report_errors_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 2
    assert "no manifest.json" in res.output


@pytest.mark.browser
def test_report_opens_offline_in_chromium(detected: Path, report: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).is_file(), "Debian chromium is missing (run .ci/install)"
    shot = Path(os.environ.get("GRAPHKIT_REPORT_SCREENSHOT") or tmp_path / "report-cluster.png")
    first = _flagged(detected)[0]
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url)
                    if not r.url.startswith(("file:", "data:", "blob:")) else None)
            page.goto(report.as_uri())
            page.wait_for_selector(f"#cluster-graph-{first} .main-svg")
            page.wait_for_selector(f"#cluster-timeline-{first} .main-svg")
            # Every figure drew (plotly adds an svg to each plot div).
            n_divs = page.locator("div.plotly-graph-div").count()
            assert page.locator("div.plotly-graph-div .main-svg").count() >= n_divs > 0
            section = page.locator(f"#cluster-{first}")
            section.scroll_into_view_if_needed()
            page.evaluate(f"document.getElementById('cluster-{first}').scrollIntoView()")
            page.wait_for_timeout(300)
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert errors == []
    assert requests == []
    assert shot.stat().st_size > 10_000
