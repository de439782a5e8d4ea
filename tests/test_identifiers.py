"""Declared identifier kinds, the long identifiers file, relations, derived identifiers, the
no-events mode and their path through detection and the Neo4j export (issue: every identifier
and relation an investigator has)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import graphkit.io as gio
from graphkit.cli import main
from graphkit.detection.pipeline import detect
from graphkit.errors import ConfigError, InputError
from graphkit.graph import build_graph
from graphkit.io.derived import read_asn
from graphkit.registry import Registry, check_identifier, declared_kind, relation_kind
from graphkit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "fixtures" / "hand"
SMALL = ROOT / "fixtures" / "sim-small"
NOEV = ROOT / "fixtures" / "no-events"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the registry --------------------------------------------------------------------------------

def test_registry_names_are_sanitized_whitelisted_and_unique() -> None:
    reg = Registry.for_names(["Device", "loyalty card", "ip"], ["transfer", "shared org"])
    assert reg.declared_names == ["device", "loyalty_card"]
    assert reg.kind("loyalty_card").label == "LoyaltyCard"
    assert reg.rel_ends["SHARED_ORG"] == ("Account", "Account")
    assert check_identifier("USED_DEVICE", reg) == "USED_DEVICE"
    with pytest.raises(ConfigError):
        check_identifier("USED_DEVICE")  # not in the static whitelist
    with pytest.raises(ConfigError):
        check_identifier("Device) DETACH DELETE (n", reg)
    # a hostile name is sanitized into a plain identifier, never spliced as given
    assert declared_kind("`); MATCH (n").label == "MatchN"
    assert declared_kind("`); MATCH (n").rel == "HAS_MATCH_N"
    with pytest.raises(ConfigError):
        declared_kind("%%%")
    with pytest.raises(ConfigError, match="used twice"):
        Registry.for_names(["transfer"], ["transfer"])
    assert relation_kind("member_of").rel == "REL_MEMBER_OF"  # would collide with detection's


def test_settings_record_identifiers_and_weights() -> None:
    s = Settings(identifiers={"fp": "Device"}, signal_weights={"device": 4.0})
    assert s.identifiers == {"fp": "device"}
    assert Settings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.weight("device") == 4.0 and Settings().weight("api_key") == 3.0
    assert Settings().with_signals(("ip", "device")).signal_weights["device"] == 2.5
    with pytest.raises(ConfigError):
        Settings(unknown_accounts="maybe")


# --- the hand fixture: devices, e-mails, transfers ----------------------------------------------

def test_hand_fixture_declared_column_long_file_and_relations() -> None:
    settings = Settings(identifiers={"device": "device"})
    ds = gio.load(HAND / "events.csv", HAND / "accounts.csv", identifiers=HAND / "identifiers.csv",
                  relations=HAND / "relations.csv", settings=settings)
    ids = ds.con.execute("SELECT account_id, kind, value, n_events, from_file FROM identifiers "
                         "ORDER BY ALL").df()
    dev = ids[ids["kind"] == "device"]
    # the events column (n_events from traffic) and the long file (from_file) meet per value
    assert set(dev["value"]) == {"dev-laptop-1", "dev-phone-7", "dev-shared-9"}
    assert dev["n_events"].sum() == ds.con.execute(
        "SELECT count(device) FROM events").fetchone()[0]
    emails = set(ids.loc[ids["kind"] == "email", "value"])
    assert "alice@gmail.com" in emails  # A.Lice+work@GoogleMail.com canonicalized
    assert "email_domain" in ds.identifier_kinds
    assert set(ids.loc[ids["kind"] == "email_domain", "value"]) == {"fleet-mail.net", "example.com"}
    graph = build_graph(ds)
    assert {"Device", "Email", "EmailDomain"} <= set(graph.nodes)
    assert len(graph.edges["TRANSFERRED_TO"]) == 2
    assert graph.edges["TRANSFERRED_TO"]["amount"].sum() == pytest.approx(300.0)
    result = detect(ds, settings)
    link = result.links.set_index(["account_a", "account_b"])
    assert link.loc[("a1", "a2"), "device"] > 0 and link.loc[("a1", "a2"), "transfer"] == 1.0
    assert {"device", "email", "transfer"} <= set(result.links.columns)
    feats = result.accounts.set_index("account_id")
    assert feats.loc["a1", "rel_out_degree"] == 2 and feats.loc["a2", "rel_in_amount"] == 250.0


# --- validation at the boundary -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "reason", "column", "line"), [
    ("account_id,kind,value\na1,device,x\n,device,y\n", "empty account_id", "account_id", 3),
    ("account_id,kind,value\na1,device,\n", "empty value", "value", 2),
    ("account_id,kind,value\na1,%%%,x\n", "empty kind", "kind", 2),
    ("account_id,kind,value\na1,9lives,x\n", "not a usable kind", "kind", 2),
    ("account_id,kind,value,first_seen\na1,device,x,yesterday\n", "unparsable", "first_seen", 2),
])
def test_identifiers_file_errors_name_file_column_row(tmp_path: Path, text: str, reason: str,
                                                      column: str, line: int) -> None:
    path = _write(tmp_path / "ids.csv", text)
    with pytest.raises(InputError) as err:
        gio.load(None, identifiers=path)
    assert err.value.file == str(path) and err.value.column == column
    assert err.value.line == line and reason in str(err.value)


@pytest.mark.parametrize(("text", "reason", "column"), [
    ("src_account,dst_account,kind\na1,,transfer\n", "empty dst_account", "dst_account"),
    ("src_account,dst_account,kind,amount\na1,a2,transfer,-5\n", "non-negative", "amount"),
    ("src_account,dst_account,kind,amount\na1,a2,transfer,lots\n", "non-negative", "amount"),
    ("src_account,dst_account,kind,ts\na1,a2,transfer,soon\n", "unparsable", "ts"),
    ("src_account,dst_account,kind\na1,a1,transfer\n", "related to itself", "dst_account"),
])
def test_relations_file_errors(tmp_path: Path, text: str, reason: str, column: str) -> None:
    path = _write(tmp_path / "rel.csv", text)
    with pytest.raises(InputError) as err:
        gio.load(None, relations=path)
    assert err.value.file == str(path) and err.value.column == column and err.value.line == 2
    assert reason in str(err.value)


def test_bad_rows_skip_unknown_accounts_and_missing_columns(tmp_path: Path) -> None:
    rel = _write(tmp_path / "rel.csv", "src_account,dst_account,kind,amount\na1,a2,transfer,5\n"
                 "a1,a1,transfer,1\na2,a3,referral,x\n")
    ds = gio.load(None, relations=rel, on_bad_rows="skip")
    assert ds.rejects.by_reason == {"bad_number": 1, "self_relation": 1}
    acc = _write(tmp_path / "acc.csv", "account_id\na1\na2\n")
    with pytest.raises(InputError, match="'a9'") as err:
        gio.load(None, acc, relations=_write(tmp_path / "r2.csv",
                                             "src_account,dst_account,kind\na1,a9,invite\n"),
                 settings=Settings(unknown_accounts="error"))
    assert err.value.column == "dst_account"
    kept = gio.load(None, acc, relations=tmp_path / "r2.csv")
    assert list(kept.accounts["account_id"]) == ["a1", "a2", "a9"]
    with pytest.raises(InputError, match="required column"):
        gio.load(None, identifiers=_write(tmp_path / "i.csv", "account_id,value\na1,x\n"))
    with pytest.raises(InputError, match="neither the events nor the accounts"):
        gio.load(HAND / "events.csv", settings=Settings(identifiers={"nope": "device"}))
    with pytest.raises(ConfigError, match="without events"):
        gio.load(None)


def test_blank_declared_identifier_values_tie_no_accounts(tmp_path: Path) -> None:
    # Tabs, spaces and line breaks alone are a missing value, as in every other text column.
    events = _write(tmp_path / "e.csv", "account_id,ts,ip,device\n"
                    "a1,2024-05-01T10:00:00Z,10.0.0.1,\t\n"
                    "a2,2024-05-01T10:00:00Z,10.0.0.2,\t\n"
                    "a3,2024-05-01T10:00:00Z,10.0.0.3, \n"
                    'a4,2024-05-01T10:00:00Z,10.0.0.4,"\r\n"\n'
                    "a5,2024-05-01T10:00:00Z,10.0.0.5,\tdev-1 \n"
                    "a6,2024-05-01T10:00:00Z,10.0.0.6,dev-1\n")
    ds = gio.load(events, settings=Settings(identifiers={"device": "device"}))
    rows = ds.con.execute("SELECT account_id, value FROM identifiers WHERE kind = 'device' "
                          "ORDER BY 1").fetchall()
    assert rows == [("a5", "dev-1"), ("a6", "dev-1")]


def test_floating_point_id_columns_are_refused_not_merged_as_nan(tmp_path: Path) -> None:
    # Parquet written from pandas turns an id column with a missing value into float64: cast
    # to text every NaN became the one id "nan", a single account or a card shared by all.
    import pyarrow as pa
    import pyarrow.parquet as pq

    nan = float("nan")
    base = {"account_id": pa.array(["a1", "a2", "a3"]),
            "ts": pa.array(["2024-05-01T10:00:00Z"] * 3),
            "ip": pa.array(["10.0.0.1", "10.0.0.2", "10.0.0.3"])}
    cases = {"account_id": ("account_id", {}), "payment_id": ("payment_id", {}),
             "fp": ("fp", {"fp": "device"})}
    for name, (column, declared) in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({**base, column: pa.array([nan, nan, 7.0])}), path)
        with pytest.raises(InputError, match="floating-point") as err:
            gio.load(path, settings=Settings(identifiers=declared))
        assert err.value.column == column
    accounts = tmp_path / "accounts.parquet"
    pq.write_table(pa.table({"account_id": pa.array(["a1", "a2"]),
                             "payment_id": pa.array([nan, nan])}), accounts)
    with pytest.raises(InputError, match="floating-point") as err:
        gio.load(HAND / "events.csv", accounts)
    assert (err.value.column, err.value.file) == ("payment_id", str(accounts))
    res = CliRunner().invoke(main, ["build", str(tmp_path / "payment_id.parquet"),
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "payment_id" in res.output and "floating-point" in res.output
    # Integer ids stay ids (their digits, no ".0").
    path = tmp_path / "int.parquet"
    pq.write_table(pa.table({**base, "payment_id": pa.array([7, 7, None], pa.int64())}), path)
    ds = gio.load(path)
    assert ds.con.execute("SELECT DISTINCT payment_id FROM events WHERE payment_id IS NOT NULL"
                          ).fetchall() == [("7",)]


# --- derived identifiers --------------------------------------------------------------------------

def test_derived_network_asn_phone_email(tmp_path: Path) -> None:
    events = _write(tmp_path / "e.csv", "account_id,ts,ip\na,2024-01-01,203.0.113.5\n"
                    "b,2024-01-01,203.0.113.77\nc,2024-01-01,2001:db8:7:1::5\n"
                    "c,2024-01-02,198.51.100.1\n")
    asn = _write(tmp_path / "asn.csv", "start,end,asn,name\n203.0.113.0,203.0.113.255,64500,"
                 "HOST-A\n2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,AS64501,V6NET\n")
    ids = _write(tmp_path / "i.csv", "account_id,kind,value\na,phone,+1 202-555-0143\n"
                 "b,phone,(202) 555 0143\nc,phone,12\na,email,X.Y+tag@gmail.com\n"
                 "b,email,xy@googlemail.com\nc,email,Z+t@corp.example\n")
    ds = gio.load(events, identifiers=ids, asn=asn, settings=Settings(derive_ip_network=True))
    t = ds.con.execute("SELECT kind, account_id, value FROM identifiers ORDER BY ALL").df()
    got = {(k, a): v for k, a, v in t.itertuples(index=False)}
    assert got[("ip_network", "a")] == got[("ip_network", "b")] == "203.0.113.0/24"
    assert got[("ip_network", "c")] in ("2001:db8:7::/48", "198.51.100.0/24")
    assert got[("asn", "a")] == "AS64500 HOST-A"
    assert {v for (k, a), v in got.items() if k == "asn" and a == "c"} == {"AS64501 V6NET"}
    assert got[("phone", "a")] == got[("phone", "b")] == "+12025550143"
    assert ("phone", "c") not in got  # not a possible number: dropped
    assert got[("email", "a")] == got[("email", "b")] == "xy@gmail.com"
    assert got[("email", "c")] == "z+t@corp.example"  # +tags kept where the provider keeps them
    assert got[("email_domain", "c")] == "corp.example" and ("email_domain", "a") not in got
    off = gio.load(events, identifiers=ids, settings=Settings(
        canonical_email=False, derive_email_domain=False, canonical_phone=False))
    assert off.identifier_kinds == ["email", "phone"]
    with pytest.raises(InputError) as err:
        read_asn(_write(tmp_path / "bad.csv", "cidr,asn\n10.0.0.0/8,1\n10.1/99,2\n"))
    assert err.value.line == 3 and err.value.column == "cidr"
    lookup = read_asn(asn).lookup(np.array(["203.0.112.255", "203.0.113.0", "::1"]))
    assert lookup.tolist() == [None, "AS64500 HOST-A", None]


# --- old columns through the new mechanism -------------------------------------------------------

def test_builtin_columns_declared_give_identical_results(tmp_path: Path) -> None:
    events = pd.read_parquet(SMALL / "events.parquet").rename(
        columns={"payment_id": "card", "template_hash": "tpl", "user_agent": "client"})
    renamed = tmp_path / "events.parquet"
    events.to_parquet(renamed, index=False)
    base = detect(gio.load(SMALL / "events.parquet", SMALL / "accounts.csv", SMALL / "seeds.csv"))
    settings = Settings(identifiers={"card": "payment", "tpl": "template",
                                     "client": "user_agent"})
    ds = gio.load(renamed, SMALL / "accounts.csv", SMALL / "seeds.csv", settings=settings)
    declared = detect(ds, settings)
    pd.testing.assert_frame_equal(base.links, declared.links)
    cols = ["account_id", "community_id", "suspicion", "flagged"]
    pd.testing.assert_frame_equal(base.accounts[cols], declared.accounts[cols])


# --- no request events ----------------------------------------------------------------------------

def _no_events(out: Path) -> CliRunner:
    res = CliRunner().invoke(main, [
        "detect", "--accounts", str(NOEV / "accounts.csv"), "--identifiers",
        str(NOEV / "identifiers.csv"), "--relations", str(NOEV / "relations.csv"),
        "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "not run (no request events): synchrony, volume, templates" in res.output
    return res


def test_no_events_detect_evidence_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _no_events(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["outputs"]["stages_not_run"]) >= {"synchrony", "volume", "templates"}
    assert manifest["outputs"]["relation_kinds"] == ["transfer", "referral"]
    assert manifest["settings"]["signal_weights"]["device"] == 2.5
    comms = pd.read_csv(out / "communities.csv")
    ring, family = comms.iloc[0], comms[comms["size"] == 3].iloc[0]
    accounts = pd.read_csv(out / "accounts.csv").set_index("account_id")
    ring_ids = {f"r{i:02d}" for i in range(1, 9)}
    assert set(accounts.index[accounts["community_id"] == ring["community_id"]]) == ring_ids
    assert "3 devices shared by 8 accounts" in ring["evidence"]
    assert "8 money transfers between members" in ring["evidence"]
    assert "3 payment methods" in ring["evidence"]
    # the family sharing a tablet and sending pocket money stays far below the ring
    assert family["suspicion"] < 0.5 * ring["suspicion"]
    # the default cut flags the ring, and only the ring, with no request events at all
    assert set(accounts.index[accounts["flagged"]]) == ring_ids
    links = pd.read_csv(out / "links.csv")
    assert {"device", "email", "transfer", "referral"} <= set(links.columns)
    referred = links[(links["account_a"] == "u01") & (links["account_b"] == "u02")]
    assert referred.empty  # a referral alone, uncorroborated, is no link


def test_build_help_and_detect_help_document_options() -> None:
    for cmd in ("build", "detect"):
        res = CliRunner().invoke(main, [cmd, "--help"])
        for opt in ("--identifier COLUMN[:KIND]", "--identifiers", "--relations", "--asn"):
            assert opt in res.output
    res = CliRunner().invoke(main, ["build", "--accounts", str(NOEV / "accounts.csv"),
                                    "--relations", str(NOEV / "relations.csv"), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["edges"]["REFERRED"] == 3
    res = CliRunner().invoke(main, ["detect", "--out", "x"])
    assert res.exit_code == 2 and "--identifiers" in res.output


@pytest.mark.neo4j
def test_no_events_export_and_kit_queries(tmp_path: Path, neo4j_server, neo4j_driver,
                                          declared_constraints_dropped) -> None:
    out = tmp_path / "out"
    _no_events(out)
    res = CliRunner().invoke(main, ["export", str(out), "--neo4j-uri", neo4j_server.bolt_uri,
                                    "--communities", "all"])
    assert res.exit_code == 0, res.output
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (d:Device)<-[:USED_DEVICE]-(a:Account) RETURN d.value AS d, count(a) AS n "
        "ORDER BY d")
    assert {r["d"]: r["n"] for r in records}["dev-ring-1"] == 3
    constraints, _, _ = neo4j_driver.execute_query(
        "SHOW CONSTRAINTS YIELD labelsOrTypes RETURN collect(labelsOrTypes[0]) AS l")
    assert {"Device", "Email", "EmailDomain"} <= set(constraints[0]["l"])
    kit = (ROOT / "cypher" / "queries" / "07_shared_any_kind.cypher").read_text()
    records, _, _ = neo4j_driver.execute_query(kit, account_id="r01", label="Device")
    assert [(r["kind"], r["value"], sorted(r["account_ids"])) for r in records] == [
        ("Device", "dev-ring-1", ["r04", "r07"])]
    records, _, _ = neo4j_driver.execute_query(kit, account_id="r01", label=None)
    assert {r["kind"] for r in records} >= {"Device", "PaymentMethod", "EmailDomain"}
    kit = (ROOT / "cypher" / "queries" / "08_account_relations.cypher").read_text()
    records, _, _ = neo4j_driver.execute_query(kit, account_id="r01")
    got = {(r["relation"], r["direction"], r["account_id"], r["amount"]) for r in records}
    assert got == {("TRANSFERRED_TO", "out", "r02", 95.5), ("TRANSFERRED_TO", "in", "r08", 102.5)}


def test_bulk_import_files_carry_declared_labels(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _no_events(out)
    res = CliRunner().invoke(main, ["export", str(out), "--format", "neo4j-admin", "--out",
                                    str(tmp_path / "bulk"), "--communities", "all"])
    assert res.exit_code == 0, res.output
    names = {p.name for p in (tmp_path / "bulk").rglob("*.csv")}
    assert any("Device" in n for n in names) and any("TRANSFERRED_TO" in n for n in names)
