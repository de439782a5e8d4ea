"""--pseudonymize: no raw value of a chosen kind in anything a run writes or exports; the same
key gives the same pseudonyms, another key others; results equal the un-pseudonymized run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from neo4j import Driver

from graphkit.cli import main
from graphkit.errors import ConfigError
from graphkit.io.tables import read_csv_strings
from graphkit.neo4j import server as ns
from graphkit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "fixtures" / "hand"
SMALL = ROOT / "fixtures" / "sim-small"
KEY = "k3y-never-written-anywhere"
ENV = {"GRAPHKIT_PSEUDONYM_KEY": KEY}
HAND_ARGS = [str(HAND / "events.csv"), "--accounts", str(HAND / "accounts.csv"), "--seeds",
             str(HAND / "seeds.csv"), "--identifiers", str(HAND / "identifiers.csv"),
             "--relations", str(HAND / "relations.csv"), "--identifier", "device"]
SMALL_ARGS = [str(SMALL / "events.parquet"), "--accounts", str(SMALL / "accounts.csv"),
              "--seeds", str(SMALL / "seeds.csv")]
CHOSEN = ["--pseudonymize", "ip,payment", "--pseudonymize", "device"]


def _run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def _detect(out: Path, args: list[str], *extra: str, env: dict | None = None) -> Path:
    res = _run("detect", *args, *extra, "--out", str(out), env=env)
    assert res.exit_code == 0, res.output
    return out


def _raw_values(events: Path, accounts: Path, identifiers: Path | None) -> set[str]:
    """Every IP, payment id and device of the input, as written in the files."""
    if events.suffix == ".parquet":
        ev = pq.read_table(events, columns=["ip", "payment_id"]).to_pandas()
    else:
        ev = read_csv_strings(events, all_strings=True)
    values = set(ev["ip"]) | set(ev["payment_id"]) | set(ev.get("device", []))
    values |= set(read_csv_strings(accounts, all_strings=True)["payment_id"])
    if identifiers is not None:
        ids = read_csv_strings(identifiers, all_strings=True)
        values |= set(ids.loc[ids["kind"] == "device", "value"])
    return {str(v).strip() for v in values if v is not None and str(v).strip()}


def _texts(root: Path) -> dict[Path, str]:
    """Every file under ``root`` as text: text files as read, Parquet tables as CSV of every
    column (plus their raw bytes decoded, for values outside the columns)."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data.decode("utf-8", "replace")
        if path.suffix == ".parquet":
            text += pq.read_table(path).to_pandas().to_csv()
        out[path] = text
    return out


def _leaks(root: Path, raw: set[str]) -> dict[str, list[str]]:
    found = {}
    for path, text in _texts(root).items():
        hits = sorted(v for v in raw if v in text or v.lower() in text)
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pseudo")
    return {
        "plain": _detect(d / "plain", HAND_ARGS),
        "key": _detect(d / "key", HAND_ARGS, *CHOSEN, "--report", env=ENV),
        "again": _detect(d / "again", HAND_ARGS, *CHOSEN, env=ENV),
        "other": _detect(d / "other", HAND_ARGS, *CHOSEN,
                         env={"GRAPHKIT_PSEUDONYM_KEY": "another key"}),
    }


def test_no_file_written_holds_a_raw_value_or_the_key(runs: dict[str, Path],
                                                      tmp_path: Path) -> None:
    raw = _raw_values(HAND / "events.csv", HAND / "accounts.csv", HAND / "identifiers.csv")
    assert {"10.0.0.1", "pm_A", "dev-shared-9", "dev-laptop-1"} <= raw
    assert _leaks(runs["plain"], raw)  # the check finds them where they are not hashed
    out = runs["key"]
    assert (out / "report.html").is_file() and (out / "activity.parquet").is_file()
    # A STIX bundle of the result, with and without share's own --pseudonymize.
    for name, extra in (("plain.json", ()), ("hashed.json", ("--pseudonymize",))):
        res = _run("share", str(out), "--out", str(tmp_path / name), *extra, env=ENV)
        assert res.exit_code == 0, res.output
    assert _leaks(out, raw | {KEY}) == {}
    assert _leaks(tmp_path, raw | {KEY}) == {}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["pseudonymize"] == ["device", "ip", "payment"]


def test_evidence_stays_readable_with_pseudonyms(runs: dict[str, Path]) -> None:
    comm = read_csv_strings(runs["key"] / "communities.csv")
    row = comm.iloc[0]
    assert "payment methods" in row["evidence"] and "devices shared by" in row["evidence"]
    assert row["top_ips"].startswith("ip:") and row["top_payment_methods"].startswith("payment:")
    assert row["top_devices"].startswith("device:")
    assert row["top_templates"] == read_csv_strings(
        runs["plain"] / "communities.csv").iloc[0]["top_templates"]  # not chosen: unchanged


def _keys(out: Path, label: str) -> set[str]:
    graph = out / "graph" if (out / "graph").is_dir() else out
    return set(pq.read_table(graph / f"nodes_{label}.parquet")
               .column("key").to_pylist())


def test_same_key_same_pseudonyms_other_key_others(runs: dict[str, Path]) -> None:
    for label, prefix in (("IP", "ip:"), ("PaymentMethod", "payment:"), ("Device", "device:")):
        key, again, other = (_keys(runs[r], label) for r in ("key", "again", "other"))
        assert key == again and key and all(k.startswith(prefix) for k in key)
        assert not key & other and len(other) == len(key)
    for name in ("accounts.csv", "links.csv"):
        assert (runs["key"] / name).read_bytes() == (runs["again"] / name).read_bytes()


def _same_results(a: Path, b: Path) -> None:
    acc_a, acc_b = (read_csv_strings(d / "accounts.csv") for d in (a, b))
    assert acc_a["account_id"].tolist() == acc_b["account_id"].tolist()
    for col in ("community_id", "flagged", "suspicion", "membership", "actor"):
        assert acc_a[col].tolist() == acc_b[col].tolist(), col
    assert (a / "links.csv").read_bytes() == (b / "links.csv").read_bytes()
    com_a, com_b = (read_csv_strings(d / "communities.csv") for d in (a, b))
    for col in ("community_id", "size", "suspicion", "flagged", "evidence", "q_value"):
        assert com_a[col].tolist() == com_b[col].tolist(), col


def test_results_equal_the_unpseudonymized_run(runs: dict[str, Path]) -> None:
    _same_results(runs["plain"], runs["key"])


def test_parquet_fast_path_equal_results_and_no_raw_value(tmp_path: Path) -> None:
    plain = _detect(tmp_path / "plain", SMALL_ARGS)
    hashed = _detect(tmp_path / "hashed", SMALL_ARGS, "--pseudonymize", "ip,payment", env=ENV)
    _same_results(plain, hashed)
    raw = _raw_values(SMALL / "events.parquet", SMALL / "accounts.csv", None)
    assert len(raw) > 50 and _leaks(hashed, raw) == {}


def test_accounts_pseudonymized_everywhere_and_days_join(runs: dict[str, Path],
                                                         tmp_path: Path) -> None:
    from graphkit.io.pseudonyms import pseudonyms

    first = _detect(tmp_path / "a", HAND_ARGS, "--pseudonymize", "account", env=ENV)
    ids = {"a1", "a2", "a3", "a4", "a5"}
    acc = read_csv_strings(first / "accounts.csv")
    assert len(acc) == len(ids) and all(a.startswith("account:") for a in acc["account_id"])
    # Flags, communities and actors of the raw run, account by account.
    plain = read_csv_strings(runs["plain"] / "accounts.csv")
    plain["account_id"] = pseudonyms(plain["account_id"].to_numpy(object), KEY.encode(),
                                     "account")
    both = plain.merge(acc, on="account_id", suffixes=("_raw", "_hashed"))
    assert len(both) == len(ids)
    for col in ("flagged", "actor", "community_suspicion"):
        assert both[f"{col}_raw"].tolist() == both[f"{col}_hashed"].tolist(), col
    members = [both.groupby(f"community_id_{s}")["account_id"].apply(frozenset)
               for s in ("raw", "hashed")]
    assert set(members[0]) == set(members[1])
    assert acc["actor"].eq("fleet-x").sum() >= 2  # the seeds file matched its hashed ids
    assert int(read_csv_strings(first / "accounts.csv")["rel_out_degree"].astype(int).sum()) > 0
    raw_id = re.compile(r"\ba[1-5]\b")  # a hex digest's "a1" has word characters around
    for path, text in _texts(first).items():
        assert not raw_id.search(text), (path, raw_id.search(text))
    second = _detect(tmp_path / "b", HAND_ARGS, "--pseudonymize", "account",
                     "--previous", str(first), env=ENV)
    again = read_csv_strings(second / "accounts.csv")
    assert again["account_id"].tolist() == acc["account_id"].tolist()
    assert again["community_id"].tolist() == acc["community_id"].tolist()


def test_build_records_the_kinds_and_hashes_the_graph(tmp_path: Path) -> None:
    res = _run("build", *HAND_ARGS, "--pseudonymize", "ip", "--out", str(tmp_path / "g"),
               env=ENV)
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    assert manifest["meta"]["pseudonymize"] == ["ip"]
    assert all(k.startswith("ip:") for k in _keys(tmp_path / "g", "IP"))


@pytest.mark.parametrize("command", ["detect", "build"])
def test_missing_key_is_one_line_exit_2_and_nothing_written(tmp_path: Path, command: str,
                                                            monkeypatch) -> None:
    monkeypatch.delenv("GRAPHKIT_PSEUDONYM_KEY", raising=False)
    res = _run(command, *HAND_ARGS, "--pseudonymize", "ip", "--out", str(tmp_path / "o"))
    assert res.exit_code == 2, res.output
    assert res.output.strip().count("\n") == 0 and "GRAPHKIT_PSEUDONYM_KEY" in res.output
    assert not (tmp_path / "o").exists()


def test_settings_file_pseudonymize_is_checked(tmp_path: Path) -> None:
    assert Settings.from_dict({"pseudonymize": ["IP", "ip", "payment"]}).pseudonymize == (
        "ip", "payment")
    for bad in ("ip", [1], ["?"]):
        with pytest.raises(ConfigError):
            Settings.from_dict({"pseudonymize": bad})
    (tmp_path / "s.json").write_text(json.dumps({"pseudonymize": "ip"}))
    res = _run("detect", *HAND_ARGS, "--settings", str(tmp_path / "s.json"), "--out",
               str(tmp_path / "o"), env=ENV)
    assert res.exit_code == 2 and res.output.strip().count("\n") == 0, res.output


def test_share_of_a_pseudonymized_result_gives_share_s_own_digests(
        runs: dict[str, Path], tmp_path: Path) -> None:
    from graphkit.share.stix import read_indicators

    def digests(result: Path, *extra: str) -> set[tuple[str, str]]:
        path = tmp_path / f"{result.name}{len(extra)}.json"
        res = _run("share", str(result), "--out", str(path), *extra, env=ENV)
        assert res.exit_code == 0, res.output
        ind = read_indicators(path)
        return set(ind.loc[ind["kind"].isin(["ip_hmac", "payment_hmac"]),
                           ["kind", "value"]].itertuples(index=False, name=None))

    # No community is flagged on the hand fixture with the default cut: flag with a threshold.
    flagged = {}
    for name in ("plain", "key"):
        args = [*HAND_ARGS, "--flag-threshold", "0.1"]
        extra = CHOSEN if name == "key" else []
        flagged[name] = _detect(tmp_path / f"flag-{name}", args, *extra, env=ENV)
    want = digests(flagged["plain"], "--pseudonymize")
    assert want and digests(flagged["key"]) == want == digests(flagged["key"], "--pseudonymize")


@pytest.mark.neo4j
def test_export_of_a_pseudonymized_result_holds_no_raw_value(
        runs: dict[str, Path], neo4j_server: ns.ServerInfo, neo4j_driver: Driver,
        declared_constraints_dropped: Driver) -> None:
    res = _run("export", str(runs["key"]), "--communities", "all",
               env={"NEO4J_URI": neo4j_server.bolt_uri})
    assert res.exit_code == 0, res.output
    raw = _raw_values(HAND / "events.csv", HAND / "accounts.csv", HAND / "identifiers.csv")
    with neo4j_driver.session() as s:
        nodes = [(r["labels"], r["props"]) for r in s.run(
            "MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")]
        rels = [r["props"] for r in s.run("MATCH ()-[r]->() RETURN properties(r) AS props")]
    ips = {p["ip"] for labels, p in nodes if "IP" in labels}
    assert ips == _keys(runs["key"], "IP")
    text = json.dumps([p for _, p in nodes] + rels, default=str)
    assert not [v for v in raw | {KEY} if v in text or v.lower() in text]
