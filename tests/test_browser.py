"""A real browser: Debian's headless Chromium drives Neo4j Browser, served by the local server,
through an investigation of an exported simulated scenario, and saves a screenshot.

Set GRAPHKIT_BROWSER_SCREENSHOT=docs/img/browser-community.png to refresh the image the docs
show. Nothing is downloaded: Playwright drives the system Chromium (.ci/install installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest
from _neo4j_expect import expected_export
from neo4j import Driver

from graphkit.neo4j import server as ns
from graphkit.neo4j.export import export_to_neo4j

pytestmark = [pytest.mark.neo4j, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GRASS = Path(__file__).resolve().parent.parent / "cypher" / "graphkit.grass"


def _grass_colour(selector: str) -> str:
    block = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", GRASS.read_text())
    assert block, selector
    colour = re.search(r"(?<![-\w])color:\s*(#[0-9A-Fa-f]{6})", block.group(1))
    assert colour, selector
    return colour.group(1).lower()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_neo4j_browser_shows_an_exported_community(
    neo4j_server: ns.ServerInfo, neo4j_driver: Driver, neo4j_auth: tuple[str, str],
    sim_detection: Path, tmp_path: Path,
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")  # a dev dependency; .ci/install has it
    assert Path(CHROMIUM).is_file(), "Debian chromium is missing (run .ci/install)"
    report = export_to_neo4j(sim_detection, neo4j_server.bolt_uri, communities="top:4")
    comms = pd.read_csv(sim_detection / "communities.csv")
    chosen = comms[comms["community_id"].isin(report.community_ids)]
    # The most suspicious community small enough to read at a glance.
    readable = chosen[chosen["size"] <= 20].sort_values("suspicion", ascending=False)
    assert len(readable) and readable["suspicion"].iloc[0] >= 0.5
    row = readable.iloc[0]
    community = int(row["community_id"])
    exp = expected_export(sim_detection, report.community_ids)
    accounts, entities = exp.community_view(community)
    want_nodes = len(accounts) + len(entities) + 1  # and the Community node

    # What an investigator pastes: the evidence Cypher from communities.csv, line by line.
    lines = [line for line in row["cypher"].splitlines() if line.startswith(":param")]
    query = "\n".join(line for line in row["cypher"].splitlines()
                      if not line.startswith(":param"))
    shot = tmp_path / "browser-community.png"

    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            # The investigator logs in as user neo4j with the server's password.
            page.goto(f"{neo4j_server.browser_url}?dbms={neo4j_server.bolt_uri}"
                      "&preselectAuthMethod=NATIVE")
            page.get_by_test_id("username").fill(neo4j_auth[0])
            page.get_by_test_id("password").fill(neo4j_auth[1])
            page.get_by_test_id("connect").click()
            page.get_by_text("Connected to Neo4j").wait_for()

            def run(command: str) -> None:
                page.locator(".monaco-editor").first.click()
                page.keyboard.press("Control+A")
                page.keyboard.press("Delete")
                page.keyboard.insert_text(command)
                page.keyboard.press("Control+Enter")

            # The kit's style, as docs/neo4j.md loads it (one line: the editor runs it whole).
            run(":style " + " ".join(GRASS.read_text().split()))
            for line in lines:
                run(line)
                name = line.split()[1]
                page.get_by_text(f'"{name}":').first.wait_for()
            run(":clear")
            run(query)
            page.locator("svg .node").nth(want_nodes - 1).wait_for()
            page.wait_for_timeout(4_000)  # let the force layout settle for the picture
            assert "Something went wrong" not in page.inner_text("body")
            assert page.locator("svg .node").count() == want_nodes
            fills = {f.lower() for f in page.locator("svg .node circle.b-outline").evaluate_all(
                "els => els.map(e => e.getAttribute('fill'))") if f}
            assert _grass_colour("node.Community") in fills  # the .grass style is applied
            # Suspicious accounts are drawn in the style's suspicion colours.
            assert fills & {_grass_colour("node.SuspicionHigh"),
                            _grass_colour("node.SuspicionMedium")}
            for button in page.get_by_label("Close").all():  # the usage-data banner
                if button.is_visible() and button.bounding_box()["y"] < 120:
                    button.click()
                    break
            page.screenshot(path=str(shot))
        finally:
            context.close()

    width, height = _png_size(shot)
    assert (width, height) == (1400, 900)
    target = os.environ.get("GRAPHKIT_BROWSER_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
