"""Ids that pandas would read as missing or mangle survive ingest -> detect -> export verbatim."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from neo4j import Driver

from graphkit.cli import main
from graphkit.io.tables import read_csv_strings
from graphkit.neo4j import server as ns

HAND = Path(__file__).resolve().parent.parent / "fixtures" / "hand"
# Hand fixture accounts renamed to values pandas treats as NA or that lose their padding.
RENAME = {"a1": "NA", "a2": "null", "a3": " a ", "a4": "#N/A", "a5": "None"}
CARDS = {"pm_A": "NA", "pm_B": "null"}


def _rewrite(src: Path, dst: Path) -> None:
    with open(src, newline="", encoding="utf-8") as fin, \
            open(dst, "w", newline="", encoding="utf-8") as fout:
        rows = csv.reader(fin)
        out = csv.writer(fout, quoting=csv.QUOTE_MINIMAL)
        header = next(rows)
        out.writerow(header)
        for row in rows:
            rec = dict(zip(header, row, strict=True))
            rec["account_id"] = RENAME.get(rec["account_id"], rec["account_id"])
            if "payment_id" in rec:
                rec["payment_id"] = CARDS.get(rec["payment_id"], rec["payment_id"])
            out.writerow([rec[h] for h in header])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("hostile")
    for name in ("events.csv", "accounts.csv", "seeds.csv"):
        _rewrite(HAND / name, d / name)
    out = d / "out"
    res = CliRunner().invoke(main, ["detect", str(d / "events.csv"), "--accounts",
                                    str(d / "accounts.csv"), "--seeds", str(d / "seeds.csv"),
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    return d, out


def test_detect_keeps_every_hostile_id(hostile: tuple[Path, Path]) -> None:
    _d, out = hostile
    accounts = read_csv_strings(out / "accounts.csv")
    assert set(RENAME.values()) <= set(accounts["account_id"])
    assert accounts["account_id"].is_unique and len(accounts) == len(RENAME)
    links = read_csv_strings(out / "links.csv")
    assert set(links["account_a"]) | set(links["account_b"]) <= set(RENAME.values())


@pytest.mark.neo4j
def test_hostile_ids_export_as_distinct_accounts_with_their_edges(
        hostile: tuple[Path, Path], neo4j_server: ns.ServerInfo, neo4j_driver: Driver) -> None:
    d, out = hostile
    res = CliRunner().invoke(main, ["export", str(out), "--communities", "all"],
                             env={"NEO4J_URI": neo4j_server.bolt_uri})
    assert res.exit_code == 0, res.output
    events = read_csv_strings(d / "events.csv", all_strings=True)
    listed = read_csv_strings(d / "accounts.csv", all_strings=True).set_index("account_id")
    with neo4j_driver.session() as s:
        got = {r["id"]: (r["cards"], r["ips"]) for r in s.run(
            "MATCH (a:Account) RETURN a.account_id AS id, "
            "COLLECT { MATCH (a)-[:PAID_WITH]->(p) RETURN p.payment_id } AS cards, "
            "COLLECT { MATCH (a)-[:USED_IP]->(i) RETURN i.ip } AS ips")}
        assert s.run("MATCH (a:Account) WHERE a.account_id IS NULL RETURN count(a) AS n"
                     ).single()["n"] == 0
    assert None not in got
    for account, rows in events.groupby("account_id"):
        assert account in got, account
        cards, ips = got[account]
        want_cards = sorted((set(rows["payment_id"]) | {listed["payment_id"].get(account, "")})
                            - {""})
        assert sorted(cards) == want_cards, account
        assert len(ips) == rows["ip"].str.strip().str.lower().nunique(), account
    assert "NA" in {c for cards, _ in got.values() for c in cards}  # the card called NA too
