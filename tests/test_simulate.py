"""The campaign simulator: contract, determinism and the planted case properties."""

from __future__ import annotations

import ipaddress

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from graphkit.cli import main
from graphkit.errors import ConfigError
from graphkit.simulate import CAMPAIGNS, NEW_MODEL, RELEASE_TIME, simulate

LEGIT = {"home", "carrier_nat", "office", "vpn", "datacenter_app", "reseller_customer"}
FLEETS = set(CAMPAIGNS)
TINY, SMALL = 0.0001, 0.01
WINDOW = (pd.Timestamp("2026-09-01", tz="UTC"), pd.Timestamp("2026-10-01", tz="UTC"))


def _sec(s: pd.Series | np.ndarray) -> np.ndarray:
    """Seconds since the epoch, whatever the datetime resolution."""
    utc = pd.to_datetime(pd.Series(s), utc=True).dt.tz_localize(None)
    return utc.to_numpy().astype("datetime64[ms]").astype(np.int64) / 1e3


def _load(out) -> dict[str, pd.DataFrame]:
    csv = {"keep_default_na": False, "na_values": [""]}
    ev = pq.read_table(out / "events.parquet").to_pandas()
    acc = pd.read_csv(out / "accounts.csv", parse_dates=["created_at", "banned_at"], **csv)
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    seeds = pd.read_csv(out / "seeds.csv", dtype=str)
    kind = truth.set_index("account_id")["kind"]
    ev["kind"] = ev["account_id"].map(kind)
    acc["kind"] = acc["account_id"].map(kind)
    return {"events": ev, "accounts": acc, "truth": truth, "seeds": seeds}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    res = simulate(out, scale=TINY, seed=3)
    return res, _load(out)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    res = simulate(out, scale=SMALL, seed=5)
    return res, _load(out)


@pytest.fixture(scope="module")
def prompted(tmp_path_factory):
    out = tmp_path_factory.mktemp("prompts")
    simulate(out, scale=0.002, seed=7, prompts=True)
    plain = tmp_path_factory.mktemp("plain")
    simulate(plain, scale=0.002, seed=7)
    return (pq.read_table(out / "events.parquet").to_pandas(),
            pq.read_table(plain / "events.parquet").to_pandas(),
            pd.read_csv(plain / "truth.csv", dtype=str, keep_default_na=False))


def test_same_seed_same_files_other_seed_differs(tmp_path):
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        simulate(tmp_path / name, scale=TINY, seed=seed)
    for f in ("accounts.csv", "truth.csv", "seeds.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    a, b, c = (pq.read_table(tmp_path / x / "events.parquet") for x in "abc")
    assert a.equals(b)
    assert not a.equals(c)


def test_schema_and_dtypes(tiny):
    res, d = tiny
    schema = pq.read_schema(res.paths["events"])
    assert schema.names == ["account_id", "ts", "ip", "payment_id", "proxy_provider",
                            "template_hash", "user_agent", "model", "tokens_in", "tokens_out"]
    assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    for col in ("account_id", "ip", "payment_id", "proxy_provider", "template_hash",
                "user_agent", "model"):
        assert schema.field(col).type == pa.string()
    assert schema.field("tokens_in").type == schema.field("tokens_out").type == pa.int64()
    assert list(d["accounts"].columns[:7]) == ["account_id", "created_at", "payment_id",
                                               "email_domain", "org_id", "status", "banned_at"]
    assert list(d["truth"].columns) == ["account_id", "campaign", "actor", "kind"]
    assert list(d["seeds"].columns) == ["account_id", "actor"]
    ev = d["events"]
    assert res.n_events == len(ev)
    assert ev["ts"].is_monotonic_increasing
    assert ev["ts"].min() >= WINDOW[0] and ev["ts"].max() < WINDOW[1]
    assert (ev["tokens_in"] > 0).all() and (ev["tokens_out"] > 0).all()
    assert ev["template_hash"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert ev.drop(columns=["proxy_provider"]).notna().all().all()
    versions = {ipaddress.ip_address(ip).version for ip in ev["ip"].unique()}
    assert versions == {4, 6}


def test_every_population_present_at_tiny_scale(tiny):
    res, d = tiny
    assert set(d["events"]["kind"]) == LEGIT | FLEETS
    assert 1_000 < res.n_events < 10_000
    for campaign, actor in CAMPAIGNS.values():
        assert res.events_by_campaign[campaign] > 0
        assert (d["truth"]["actor"] == actor).sum() == res.accounts_by_campaign[campaign]


def test_truth_accounts_and_seeds_are_consistent(small):
    _res, d = small
    truth, acc, seeds, ev = d["truth"], d["accounts"], d["seeds"], d["events"]
    assert set(ev["account_id"]) <= set(truth["account_id"])
    assert sorted(truth["account_id"]) == sorted(acc["account_id"])
    assert truth["account_id"].is_unique
    camp = truth[truth["campaign"] != ""]
    assert set(camp["kind"]) == FLEETS and set(truth.loc[truth["campaign"] == "", "kind"]) == LEGIT
    assert (truth.loc[truth["campaign"] == "", "actor"] == "").all()
    assert seeds["account_id"].isin(ev["account_id"]).all()
    merged = seeds.merge(camp, on="account_id", suffixes=("", "_truth"))
    assert len(merged) == len(seeds) and (merged["actor"] == merged["actor_truth"]).all()
    assert set(seeds["actor"]) == {a for _, a in CAMPAIGNS.values()}
    # Investigators know banned accounts first: an active seed only where too few are banned.
    banned = acc.set_index("account_id")["status"].eq("banned")
    seeds = seeds.assign(banned=banned[seeds["account_id"]].to_numpy())
    n_banned = camp.assign(b=banned[camp["account_id"]].to_numpy()).groupby("actor")["b"].sum()
    per_actor = seeds.groupby("actor").agg(n=("banned", "size"), b=("banned", "sum"))
    assert ((per_actor["b"] == per_actor["n"]) | (per_actor["b"] == n_banned)).all()
    assert per_actor["b"].sum() > 0.6 * per_actor["n"].sum()
    assert ((acc["status"] == "banned") == acc["banned_at"].notna()).all()
    assert set(acc["status"]) == {"active", "banned"}
    # No account acts before it exists or after its ban.
    a = ev.merge(acc[["account_id", "created_at", "banned_at"]], on="account_id")
    assert (a["ts"] >= a["created_at"]).all()
    assert not (a["ts"] >= a["banned_at"]).any()


def test_campaign_shares_at_small_scale(small):
    res, _d = small
    share_acc = sum(res.accounts_by_campaign.values()) / res.n_accounts
    share_ev = sum(res.events_by_campaign.values()) / res.n_events
    assert 0.06 < share_acc < 0.15
    assert 0.4 < share_ev < 0.65


def test_nothing_in_ids_or_domains_gives_campaigns_away(small):
    _, d = small
    acc = d["accounts"]
    assert acc["account_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert d["events"]["payment_id"].str.fullmatch(r"pm_[0-9a-f]{14}").all()
    legit_domains = set(acc.loc[acc["kind"].isin(LEGIT), "email_domain"])
    fleet = acc[acc["kind"].isin({"reasoning_extraction", "agentic_coding", "hydra"})]
    assert set(fleet["email_domain"]) <= legit_domains
    # The fleet's user agent and hosting providers are also used by legitimate accounts.
    ev = d["events"]
    legit = ev[ev["kind"].isin(LEGIT)]
    for kind in ("reasoning_extraction", "agentic_coding"):
        fleet_ev = ev[ev["kind"] == kind]
        assert set(fleet_ev["user_agent"]) <= set(legit["user_agent"])
        assert set(fleet_ev["proxy_provider"].dropna()) <= set(legit["proxy_provider"].dropna())


def test_fleets_hide_in_shared_address_space(small):
    _, d = small
    ev = d["events"]
    v4 = ev[~ev["ip"].str.contains(":")]
    block = v4["ip"].str.rsplit(".", n=2).str[0]  # the /16
    residential = v4["proxy_provider"].isna()
    legit = set(block[residential & v4["kind"].isin(LEGIT)])
    fleet = set(block[residential & v4["kind"].isin(FLEETS)])
    assert fleet and fleet <= legit  # no /16 of home addresses belongs to a fleet alone
    # Datacenter apps on timers fire on the wall clock, together with unrelated apps.
    dc = ev[ev["kind"] == "datacenter_app"]
    assert (dc["ts"].dt.second < 20).mean() > 0.5


def test_reasoning_fleet_fires_synchronized_waves(small):
    _, d = small
    ev, acc = d["events"], d["accounts"]
    f = ev[ev["kind"] == "reasoning_extraction"].sort_values("ts")
    wave = np.concatenate([[0], np.cumsum(np.diff(_sec(f["ts"])) > 75)])
    f = f.assign(wave=wave)
    g = f.groupby("wave").agg(span=("ts", lambda s: (s.max() - s.min()).total_seconds()),
                              start=("ts", "min"), n_acc=("account_id", "nunique"))
    fa = acc[acc["kind"] == "reasoning_extraction"]
    created = np.sort(fa["created_at"].to_numpy())
    banned = fa["banned_at"].dropna().to_numpy()
    live = (np.searchsorted(created, g["start"].to_numpy(), side="right")
            - np.searchsorted(np.sort(banned), g["start"].to_numpy(), side="right"))
    assert len(g) > 20
    assert g["span"].max() <= 90
    assert np.median(g["n_acc"] / np.maximum(live, 1)) > 0.9
    assert 3 <= f["payment_id"].nunique() <= 5
    assert f["user_agent"].nunique() == 1
    assert f["template_hash"].nunique() <= 30
    assert f["proxy_provider"].notna().all()
    assert f["ip"].nunique() < fa["account_id"].nunique()  # a rotating pool, not one per account
    gaps = np.diff(_sec(g["start"]))
    assert 150 <= np.median(gaps) <= 330  # a burst every few minutes while operating
    # Accounts come in creation bursts: most were created within 30 min of another.
    c = _sec(created)
    near = np.minimum(np.diff(c, prepend=-np.inf), np.diff(c, append=np.inf))
    assert (near < 1800).mean() > 0.9


def test_coding_fleet_moves_half_its_traffic_to_the_new_model_within_a_day(small):
    _, d = small
    ev = d["events"]
    release = pd.Timestamp(RELEASE_TIME, tz="UTC")
    day_after = (ev["ts"] >= release + pd.Timedelta(hours=18)) & (
        ev["ts"] < release + pd.Timedelta(hours=24))
    fleet = ev["kind"] == "agentic_coding"
    assert (ev.loc[ev["ts"] < release, "model"] != NEW_MODEL).all()
    share = (ev.loc[fleet & day_after, "model"] == NEW_MODEL).mean()
    assert 0.4 < share < 0.6
    legit_share = (ev.loc[ev["kind"].isin(LEGIT) & day_after, "model"] == NEW_MODEL).mean()
    assert legit_share < 0.1
    per_acc = ev[fleet].groupby("account_id").size()
    home = ev[ev["kind"] == "home"].groupby("account_id").size()
    assert per_acc.median() > 20 * home.median()


def test_hydra_replacements_inherit_ips_and_cards(small):
    _, d = small
    ev, acc = d["events"], d["accounts"]
    h = acc[acc["kind"] == "hydra"]
    ips = ev[ev["kind"] == "hydra"].groupby("account_id")["ip"].agg(set)
    dead = h[(h["status"] == "banned") & (h["banned_at"] > WINDOW[0])]
    assert len(dead) > 0.5 * len(h)
    pairs = dead.merge(h, how="cross", suffixes=("", "_new"))
    gap = pairs["created_at_new"] - pairs["banned_at"]
    pairs = pairs[(gap > pd.Timedelta(0)) & (gap <= pd.Timedelta(minutes=30))]
    pairs = pairs[pairs["account_id"].isin(ips.index) & pairs["account_id_new"].isin(ips.index)]
    shares_ip = [bool(ips[a] & ips[b]) for a, b in
                 zip(pairs["account_id"], pairs["account_id_new"])]
    pairs = pairs[shares_ip]
    replaced = dead["account_id"].isin(pairs["account_id"])
    replaced_early = replaced[dead["banned_at"] < WINDOW[1] - pd.Timedelta(days=1)]
    assert replaced_early.mean() > 0.9
    same_card = pairs.groupby("account_id").apply(
        lambda p: (p["payment_id"] == p["payment_id_new"]).any(), include_groups=False)
    assert same_card.mean() > 0.7
    # Its exit addresses are the reseller's, shared with the reseller's own customers.
    cust = ev[ev["kind"] == "reseller_customer"]
    hydra_ev = ev[ev["kind"] == "hydra"]
    assert set(hydra_ev["proxy_provider"]) == set(cust["proxy_provider"])
    assert len(set(hydra_ev["ip"]) & set(cust["ip"])) > 0.5 * hydra_ev["ip"].nunique()
    assert not set(hydra_ev["payment_id"]) & set(cust["payment_id"])


def test_offices_share_card_org_and_nat(small):
    _, d = small
    acc, ev = d["accounts"], d["events"]
    off = acc[acc["kind"] == "office"]
    assert off["org_id"].notna().all()
    per_org = off.groupby("org_id").agg(cards=("payment_id", "nunique"),
                                        n=("account_id", "size"),
                                        domains=("email_domain", "nunique"))
    assert (per_org["cards"] == 1).all() and (per_org["domains"] == 1).all()
    assert per_org["n"].median() >= 3
    e = ev[ev["kind"] == "office"].merge(off[["account_id", "org_id"]], on="account_id")
    top_ip = e.groupby(["org_id", "ip"])["account_id"].nunique().groupby("org_id").max()
    assert (top_ip / per_org["n"]).median() > 0.8  # everyone behind the office NAT
    # Onboarding days: some companies created all their accounts within a few hours.
    spread = off.groupby("org_id")["created_at"].agg(lambda s: s.max() - s.min())
    assert (spread[per_org["n"] >= 3] < pd.Timedelta(hours=3)).mean() > 0.2
    hours = e["ts"].dt.hour
    assert hours.nunique() > 12  # offices around the world


def test_legitimate_population_confounders(small):
    _, d = small
    ev, acc = d["events"], d["accounts"]
    home = ev[ev["kind"] == "home"]
    top = home["template_hash"].value_counts().index[0]
    users = ev.loc[ev["template_hash"] == top, "account_id"].nunique()
    assert users > 0.2 * home["account_id"].nunique()  # popular templates: many strangers
    assert home["proxy_provider"].isna().mean() > 0.99
    fam = acc[acc["kind"] == "home"].groupby("payment_id").size()
    assert (fam > 1).any()  # some families share a card
    nat = ev[ev["kind"] == "carrier_nat"]
    per_ip = nat.groupby("ip")["account_id"].nunique()
    assert per_ip.median() > 3  # carrier NAT addresses are shared by strangers
    assert nat.groupby("account_id")["ip"].nunique().mean() > 1.5  # users hop
    vpn = ev[ev["kind"] == "vpn"]
    assert vpn["proxy_provider"].notna().mean() > 0.6
    assert vpn[vpn["proxy_provider"].notna()].groupby("ip")["account_id"].nunique().max() > 5
    dc = ev[ev["kind"] == "datacenter_app"]
    assert dc["proxy_provider"].notna().all()
    assert dc.groupby("account_id").size().median() > 10 * home.groupby("account_id").size().median()
    banned_legit = acc[acc["kind"].isin(LEGIT)]["status"].eq("banned").sum()
    assert banned_legit > 0  # bans alone do not mark campaigns


def test_diversified_fleet_narrows_to_new_templates_late(small):
    _, d = small
    ev = d["events"]
    f = ev[ev["kind"] == "diversified"]
    day18 = pd.Timestamp("2026-09-18", tz="UTC")
    early = set(f.loc[f["ts"] < day18 - pd.Timedelta(days=1), "template_hash"])
    late = f[f["ts"] >= day18]
    new = ~late["template_hash"].isin(early)
    assert new.mean() > 0.6
    assert late.loc[new, "template_hash"].value_counts().iloc[:5].sum() > 0.9 * new.sum()
    assert f["payment_id"].nunique() > f["account_id"].nunique() / 7  # cards in small groups
    assert f["user_agent"].nunique() >= 4
    assert {"ResiPool Proxy"} < set(f["proxy_provider"].dropna())


def _normalize(s: pd.Series) -> pd.Series:
    s = s.str.lower().str.replace(r'"[^"]*"', "<str>", regex=True)
    s = s.str.replace(r"\b[0-9a-f]{16}\b", "<id>", regex=True)
    s = s.str.replace(r"\b\d+(?:\.\d+)?\b", "<num>", regex=True)
    return s.str.replace(r"\s+", " ", regex=True).str.strip()


def test_prompts_normalize_to_their_templates(prompted):
    with_prompts, plain, truth = prompted
    assert "prompt" in with_prompts and "template_hash" not in with_prompts
    pd.testing.assert_frame_equal(with_prompts.drop(columns="prompt"),
                                  plain.drop(columns="template_hash"))
    raw = with_prompts["prompt"]
    assert raw.nunique() > 0.5 * len(raw)  # fillings differ ...
    norm = _normalize(raw)
    pairs = pd.DataFrame({"norm": norm, "tpl": plain["template_hash"]})
    # ... but normalization maps every filling of a template to one form, and back.
    assert (pairs.groupby("tpl")["norm"].nunique() == 1).all()
    assert (pairs.groupby("norm")["tpl"].nunique() == 1).all()
    assert (raw != raw.str.lower()).any() and raw.str.contains("  |\n").any()
    # Some fleet templates have near-duplicate variants (a word or two changed).
    kind = plain["account_id"].map(truth.set_index("account_id")["kind"])
    forms = sorted(set(norm[kind == "reasoning_extraction"]))
    words = [set(f.split()) for f in forms]
    near = [len(a & b) / len(a | b) for i, a in enumerate(words) for b in words[i + 1:]]
    assert max(near) > 0.75 and max(near) < 1


def test_template_literals_contain_nothing_a_normalizer_erases(prompted):
    with_prompts, _plain, _ = prompted
    norm = _normalize(with_prompts["prompt"]).str.replace(r"<(num|str|id)>", "", regex=True)
    assert not norm.str.contains(r"\d|\"").any()
    assert not norm.str.contains(r"\b[a-f]{6,}\b", regex=True).any()


def test_bad_arguments_raise_config_error(tmp_path):
    for bad in (0, -1, 11, float("nan")):
        with pytest.raises(ConfigError):
            simulate(tmp_path, scale=bad)
    with pytest.raises(ConfigError):
        simulate(tmp_path, seed=-1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        simulate(tmp_path / "file", scale=TINY)


def test_cli_writes_files_and_maps_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["simulate", str(tmp_path / "o"), "--scale", str(TINY),
                               "--seed", "2", "--prompts"])
    assert res.exit_code == 0, res.output
    assert "events" in res.output and "campaign share" in res.output
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["accounts.csv", "events.parquet", "seeds.csv", "successions_truth.csv",
                     "truth.csv"]
    assert "prompt" in pq.read_schema(tmp_path / "o" / "events.parquet").names
    bad = runner.invoke(main, ["simulate", str(tmp_path / "p"), "--scale", "0"])
    assert bad.exit_code == 2 and "scale" in bad.output


def test_presets_grow_accounts_not_only_events(tmp_path):
    from graphkit.simulate import PRESETS, Preset

    assert {"month", "seed"} <= set(PRESETS)
    seed = PRESETS["seed"]
    assert seed.hydra_slots == 20_000 and seed.events == 1.0
    # The same events, ten times the legitimate accounts; a hydra of long-lived slots.
    few = simulate(tmp_path / "few", seed=3, preset=Preset("few", 0.001, 0.01, 30, 150.0, ""))
    many = simulate(tmp_path / "many", seed=3, preset=Preset("many", 0.001, 0.1, 30, 150.0, ""))
    legit_few = sum(v for k, v in few.accounts_by_kind.items() if k in LEGIT)
    legit_many = sum(v for k, v in many.accounts_by_kind.items() if k in LEGIT)
    assert 8 * legit_few <= legit_many <= 12 * legit_few
    assert abs(many.n_events - few.n_events) <= 0.05 * few.n_events + legit_many
    # 30 live slots over 30 days at a 150-day mean life: few replacements.
    assert 30 <= few.accounts_by_campaign["relayhub-hydra"] <= 45
    short = simulate(tmp_path / "short", seed=3, preset=Preset("short", 0.001, 0.01, 30, 3.0, ""))
    assert short.accounts_by_campaign["relayhub-hydra"] >= 150


def test_preset_arguments_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset"):
        simulate(tmp_path, preset="galaxy")
    with pytest.raises(ConfigError, match="not both"):
        simulate(tmp_path, scale=0.1, preset="month")
    res = CliRunner().invoke(main, ["simulate", str(tmp_path), "--preset", "seed", "--scale", "1"])
    assert res.exit_code == 2 and "not both" in res.output
