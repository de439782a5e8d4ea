"""Any value length: a 100 KB account id, card and user agent export verbatim and complete,
over Bolt and through the neo4j-admin bulk import, into the real server.

Neo4j cannot index a key over about 8 KB; such keys are stored as ``sha256:<hex>`` with the
whole value in ``<key>_full`` (docs/neo4j.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from _neo4j_expect import dump
from click.testing import CliRunner
from neo4j import Driver, GraphDatabase

from graphkit.cli import main
from graphkit.neo4j import server as ns
from graphkit.neo4j.selection import LONG_KEY_PREFIX, MAX_KEY_BYTES, stable_keys

SIM_SMALL = Path(__file__).resolve().parent.parent / "fixtures" / "sim-small"

# About 100 KB each in UTF-8, with multi-byte characters and separators.
LONG_ID = "acct-" + "A" * 50_000 + "é" * 25_000
LONG_CARD = "card-" + "9" * 100_000
LONG_UA = "Mozilla/5.0 " + "(X11; Linux x86_64) " * 5_000


def _hashed(value: str) -> str:
    return LONG_KEY_PREFIX + hashlib.sha256(value.encode("utf-8")).hexdigest()


def test_long_and_prefixed_keys_get_distinct_stable_hashes() -> None:
    at_limit = "b" * MAX_KEY_BYTES
    poser = _hashed(LONG_ID)  # a given value that looks like another value's hash
    keys, full = stable_keys(pd.Series([LONG_ID, "short", at_limit, at_limit + "b", poser,
                                        "é" * 2001]))
    assert keys[0] == _hashed(LONG_ID) and full[0] == LONG_ID
    assert (keys[1], keys[2]) == ("short", at_limit) and full[[1, 2]].isna().all()
    assert keys[3] == _hashed(at_limit + "b")  # one byte over the limit
    assert keys[4] == _hashed(poser) != keys[0] and full[4] == poser  # never merged
    assert keys[5] == _hashed("é" * 2001)  # 4,002 bytes in 2,001 characters
    assert keys.is_unique
    assert stable_keys(pd.Series([LONG_ID]))[0][0] == keys[0]  # stable across runs


@pytest.fixture(scope="module")
def long_detection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """sim-small with one fleet account's id, its card and its user agent made 100 KB long,
    detected: (output directory, the account's community, the community's size)."""
    work = tmp_path_factory.mktemp("long")
    events = pd.read_parquet(SIM_SMALL / "events.parquet")
    accounts = pd.read_csv(SIM_SMALL / "accounts.csv", dtype=str, keep_default_na=False)
    seeds = pd.read_csv(SIM_SMALL / "seeds.csv", dtype=str, keep_default_na=False)
    victim = seeds["account_id"].iloc[0]
    own = events[events["account_id"] == victim]
    card, agent = own["payment_id"].iloc[0], own["user_agent"].iloc[0]
    events.loc[events["payment_id"] == card, "payment_id"] = LONG_CARD
    events.loc[events["user_agent"] == agent, "user_agent"] = LONG_UA
    accounts.loc[accounts["payment_id"] == card, "payment_id"] = LONG_CARD
    for table in (events, accounts, seeds):
        table.loc[table["account_id"] == victim, "account_id"] = LONG_ID
    events.to_parquet(work / "events.parquet")
    accounts.to_csv(work / "accounts.csv", index=False)
    seeds.to_csv(work / "seeds.csv", index=False)
    out = work / "out"
    res = CliRunner().invoke(main, [
        "detect", str(work / "events.parquet"), "--accounts", str(work / "accounts.csv"),
        "--seeds", str(work / "seeds.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = pd.read_csv(out / "accounts.csv", dtype={"account_id": str},
                         keep_default_na=False)
    communities = pd.to_numeric(result["community_id"])
    community = int(communities[result["account_id"] == LONG_ID].iloc[0])
    assert community >= 0
    return out, community, int((communities == community).sum())


def _check_long_values(driver: Driver, size: int) -> None:
    """The three long values are stored whole, once each, reachable from the account."""
    records, _, _ = driver.execute_query(
        "MATCH (a:Account {account_id: $key}) "
        "OPTIONAL MATCH (a)-[:PAID_WITH]->(p:PaymentMethod {payment_id: $card}) "
        "OPTIONAL MATCH (a)-[:USED_AGENT]->(u:UserAgent {user_agent: $agent}) "
        "RETURN a.account_id_full AS id, p.payment_id_full AS card, "
        "u.user_agent_full AS agent",
        key=_hashed(LONG_ID), card=_hashed(LONG_CARD), agent=_hashed(LONG_UA))
    assert len(records) == 1
    assert records[0]["id"] == LONG_ID
    assert records[0]["card"] == LONG_CARD
    assert records[0]["agent"] == LONG_UA
    records, _, _ = driver.execute_query(
        "MATCH (a:Account)-[:MEMBER_OF]->(c:Community) RETURN count(DISTINCT a) AS n, "
        "count(a.account_id_full) AS full")
    assert (records[0]["n"], records[0]["full"]) == (size, 1)  # none lost, none merged
    records, _, _ = driver.execute_query(
        "MATCH (n) WHERE any(k IN keys(n) WHERE k ENDS WITH '_full') "
        "RETURN count(n) AS n")
    assert records[0]["n"] == 3


@pytest.mark.neo4j
def test_a_100_kb_id_card_and_user_agent_export_whole_by_both_routes(
    neo4j_server: ns.ServerInfo, neo4j_driver: Driver, neo4j_auth: tuple[str, str],
    long_detection: tuple[Path, int, int], tmp_path: Path, free_port: Callable[[], int],
) -> None:
    out, community, size = long_detection
    res = CliRunner().invoke(main, ["export", str(out), "--community", str(community)],
                             env={"NEO4J_URI": neo4j_server.bolt_uri})
    assert res.exit_code == 0, res.output
    _check_long_values(neo4j_driver, size)
    bolt = dump(neo4j_driver)

    bulk = tmp_path / "bulk"
    res = CliRunner().invoke(main, ["export", str(out), "--community", str(community),
                                    "--format", "neo4j-admin", "--out", str(bulk)])
    assert res.exit_code == 0, res.output
    inst = tmp_path / "imported"
    ns.admin_import(neo4j_server.home, "graphkit",
                    [(None, p) for p in sorted(bulk.glob("nodes/*.csv"))],
                    [(None, p) for p in sorted(bulk.glob("relationships/*.csv"))],
                    instance=inst, multiline_fields=True)
    with ns.running(neo4j_server.home, free_port(), free_port(), instance=inst,
                    database="graphkit") as second, \
            GraphDatabase.driver(second.bolt_uri, auth=neo4j_auth) as driver:
        _check_long_values(driver, size)
        assert dump(driver) == bolt  # the same graph, property for property
