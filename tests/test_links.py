"""Link scoring: each signal against hand-computed scores, hubs, camouflage, synchrony."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from graphkit.detection import links
from graphkit.detection.communities import detect_communities
from graphkit.detection.synchrony import window_signatures
from graphkit.settings import Settings

S = Settings()


def matrix(name, rows, n_accounts, n_entities, n_events=None, settings=S):
    """rows: (account, entity, count)."""
    a, e, c = (np.array(x) for x in zip(*rows, strict=True))
    counts = sp.csr_matrix((c.astype(float), (a, e)), shape=(n_accounts, n_entities))
    if n_events is None:
        n_events = np.asarray(counts.sum(axis=1)).ravel()
    keys = np.array([f"{name}{i}" for i in range(n_entities)])
    return links.signal_matrix(name, counts, np.asarray(n_events), keys, settings)


def test_idf_is_one_for_a_pair_and_zero_for_everyone():
    idf = links.idf_weights(np.array([2, 10, 1000]), 1000)
    assert idf[0] == pytest.approx(1.0)
    assert idf[2] == pytest.approx(0.0)
    assert idf[1] == pytest.approx(np.log(100) / np.log(500))


def test_entity_similarity_matches_hand_computation():
    # Accounts 0 and 1 share IP 0: account 0 sends 6 of 10 requests through it, account 1 sends
    # 3 of 10. sqrt(0.6 * 0.3) * idf(degree 2 in 4 accounts = 1.0) = 0.4243.
    m = matrix("ip", [(0, 0, 6), (0, 1, 4), (1, 0, 3), (1, 2, 7), (2, 3, 5), (3, 3, 5)], 4, 4)
    result = links.score_links({"ip": m}, None, S)
    t = result.table.set_index(["a", "b"])
    assert t.loc[(0, 1), "ip"] == pytest.approx(np.sqrt(0.18))
    assert t.loc[(0, 1), "score"] == pytest.approx(1 - np.exp(-1.5 * np.sqrt(0.18)))
    # Accounts 2 and 3 send all traffic through IP 3: sim = 1.0 * idf = 1.0.
    assert t.loc[(2, 3), "ip"] == pytest.approx(1.0)
    assert t.loc[(2, 3), "score"] == pytest.approx(1 - np.exp(-1.5))
    assert (0, 2) not in t.index


def test_small_incidental_shares_are_dropped():
    # Account 0 sent 1 of 200 requests (0.5 %) through account 1's IP: incidental, no link.
    m = matrix("ip", [(0, 0, 199), (0, 1, 1), (1, 1, 50), (2, 0, 10)], 3, 2)
    t = links.score_links({"ip": m}, None, S).table
    assert set(zip(t["a"], t["b"])) == {(0, 2)}


def test_signals_combine_as_noisy_or_of_weighted_evidence():
    ip = matrix("ip", [(0, 0, 10), (1, 0, 10)], 2, 1)
    pay = matrix("payment", [(0, 0, 10), (1, 0, 10)], 2, 1)
    t = links.score_links({"ip": ip, "payment": pay}, None, S).table
    expected = 1 - np.exp(-(S.weight("ip") * 1.0 + S.weight("payment") * 1.0))
    assert t["score"].iloc[0] == pytest.approx(expected)


def test_hub_entities_do_not_glue_strangers():
    # 400 strangers behind one carrier NAT IP, each also with a private home IP.
    n = 400
    rows = [(i, 0, 5) for i in range(n)] + [(i, i + 1, 5) for i in range(n)]
    m = matrix("ip", rows, n, n + 1)
    result = links.score_links({"ip": m}, None, S)
    assert len(result.table) == 0
    comms = detect_communities(result, S)
    assert comms.sizes.max() == 1


def test_entities_above_the_degree_cap_carry_no_evidence():
    # 30 of 300 accounts use template 0 heavily; accounts 0 and 1 also share template 1.
    n = 300
    rows = [(i, 0, 5) for i in range(30)] + [(0, 1, 5), (1, 1, 5)] + [(i, 2 + i, 5)
                                                                     for i in range(30, n)]
    uncapped = Settings(max_entity_degree=1000, idf_power=1.0)
    m = matrix("template", rows, n, n + 2, settings=uncapped)
    t = links.score_links({"template": m}, None, uncapped).table
    assert len(t) == 30 * 29 // 2  # below the cap, template 0 ties its 30 users together
    capped = Settings(max_entity_degree=20, max_entity_fraction=0.0, idf_power=1.0)
    m = matrix("template", rows, n, n + 2, settings=capped)
    t = links.score_links({"template": m}, None, capped).table
    assert set(zip(t["a"], t["b"])) == {(0, 1)}
    # Only template 1 counts: sqrt(0.5 * 0.5) * idf(degree 2) = 0.5.
    assert t["template"].iloc[0] == pytest.approx(0.5)


def test_idf_power_steepens_the_discount_of_shared_entities():
    plain = links.idf_weights(np.array([2, 20, 200]), 1000)
    steep = links.idf_weights(np.array([2, 20, 200]), 1000, power=2.0)
    assert steep == pytest.approx(plain ** 2)
    assert steep[0] == pytest.approx(1.0) and steep[2] < plain[2]


def test_camouflage_neither_dilutes_the_fleet_nor_ties_it_to_strangers():
    rng = np.random.default_rng(0)
    fleet = np.arange(20)
    legit = np.arange(20, 520)
    rows = []
    for a in fleet:  # 70 % on 5 private templates, 30 % on the popular template 0
        rows += [(a, 1 + t, 14) for t in range(5)] + [(a, 0, 30)]
    for a in legit:  # popular template plus a personal one
        rows += [(a, 0, int(rng.integers(5, 20))), (a, 6 + a, 5)]
    m = matrix("template", rows, 520, 6 + 520)
    t = links.score_links({"template": m}, None, S).table
    inside = t[(t["a"] < 20) & (t["b"] < 20)]
    assert len(inside) == 20 * 19 // 2
    # Five templates at 14 % each on both sides: 5 * 0.14 = 0.70 of the traffic, idf-weighted.
    idf = links.idf_weights(np.array([20]), 520, power=S.idf_power)[0]
    assert inside["template"].min() >= 0.70 * idf
    cross = t[(t["a"] < 20) & (t["b"] >= 20)]
    assert len(cross) == 0 or cross["score"].max() < inside["score"].min() / 2
    comms = detect_communities(links.score_links({"template": m}, None, S), S)
    assert len(set(comms.membership[fleet])) == 1
    assert comms.sizes[comms.membership[0]] == 20


def test_planted_clique_is_recovered_among_noise_and_is_deterministic():
    rng = np.random.default_rng(1)
    n = 2000
    clique = rng.choice(n, 30, replace=False)
    rows = [(int(a), 0, 10) for a in clique] + [(int(a), 1, 10) for a in clique]
    # noise: random pairs of other accounts, each pair sharing one card
    others = np.setdiff1d(np.arange(n), clique)
    for k in range(600):
        a, b = rng.choice(others, 2, replace=False)
        rows += [(int(a), 2 + k, 3), (int(b), 2 + k, 3)]
    m = matrix("payment", rows, n, 602, n_events=np.full(n, 20))
    res = links.score_links({"payment": m}, None, S)
    c1 = detect_communities(res, S)
    c2 = detect_communities(res, S)
    assert np.array_equal(c1.membership, c2.membership)
    assert len(set(c1.membership[clique])) == 1
    assert c1.sizes[c1.membership[clique[0]]] == 30
    assert c1.membership[clique[0]] == 0  # largest community gets id 0


def _events_con(rows):
    con = duckdb.connect()
    df = pd.DataFrame(rows, columns=["account_id", "ts"])
    con.register("events_df", df)
    con.execute("CREATE TABLE events AS SELECT account_id, ts::TIMESTAMP AS ts FROM events_df")
    ids = sorted(df["account_id"].unique())
    codes = pd.DataFrame({"account_id": ids, "account_idx": np.arange(len(ids))})
    con.register("codes", codes)
    return con, ids


def test_synchrony_finds_lockstep_accounts_but_not_always_on_services():
    rng = np.random.default_rng(2)
    t0 = dt.datetime(2026, 9, 1)
    rows = []
    waves = sorted(rng.choice(20_000, 200, replace=False))  # wave times in 90 s windows
    for k in range(10):  # fleet: every account fires in every wave, within seconds
        rows += [(f"fleet{k}", t0 + dt.timedelta(seconds=90 * int(w) + int(rng.integers(0, 30))))
                 for w in waves]
    for k in range(2):  # always-on services: active in every window
        rows += [(f"svc{k}", t0 + dt.timedelta(seconds=90 * w + 5)) for w in range(20_000)]
    for k in range(50):  # humans: random windows
        rows += [(f"user{k}", t0 + dt.timedelta(seconds=90 * int(w)))
                 for w in rng.choice(20_000, 40, replace=False)]
    con, ids = _events_con(rows)
    sig = window_signatures(con, "codes", len(ids), S)
    idx = {a: i for i, a in enumerate(ids)}
    cand = {tuple(p) for p in sig.candidate_pairs(S).tolist()}
    assert (idx["fleet0"], idx["fleet1"]) in cand
    pairs = np.array([[idx["fleet0"], idx["fleet1"]], [idx["svc0"], idx["svc1"]],
                      [idx["user0"], idx["user1"]], [idx["fleet0"], idx["svc0"]]])
    score = sig.score(pairs[:, 0], pairs[:, 1], S)
    assert score[0] > 0.8
    assert score[1] < 0.05 and score[2] < 0.05 and score[3] < 0.05


# --- candidate budget: large entities sampled through rings, links weighed by 1 / inclusion ----

def _fleet_with_cards(n_fleet=300, n_other=20_000, cards=30):
    """A fleet of 300 sharing one template (all of its traffic) and cards (10 accounts each),
    among 20,000 strangers with templates of their own: template and payment matrices."""
    tpl = [(a, 0, 10) for a in range(n_fleet)] + [(a, 1 + a, 10)
                                                   for a in range(n_fleet, n_fleet + n_other)]
    pay = [(a, a % cards, 10) for a in range(n_fleet)]
    n = n_fleet + n_other
    return (matrix("template", tpl, n, 1 + n), matrix("payment", pay, n, cards,
                                                       n_events=np.full(n, 10)))


def test_ring_sizes_follow_the_entity_weight():
    assert links.ring_sizes(40, np.array([1.0, 0.5, 0.26, 0.01])).tolist() == [40, 20, 10, 2]


def test_ring_neighbours_is_the_largest_k_within_the_budget():
    d = np.array([2, 3, 500, 800])
    assert links.ring_neighbours(d, budget=10**6) is None  # everything fits: exact projection
    k = links.ring_neighbours(d, budget=20_000)
    total = lambda k: int(np.minimum(d * (d - 1) // 2, d * k // 2).sum())
    assert k % 2 == 0 and total(k) <= 20_000 < total(k + 2)
    assert links.ring_neighbours(d, budget=10) == 10  # never below the minimum


def test_sampled_fleet_keeps_exact_scores_and_its_total_tie_weight():
    tpl, pay = _fleet_with_cards()
    exact = links.score_links({"template": tpl, "payment": pay}, None, S)
    budget = Settings(max_candidate_pairs=8_000)
    sampled = links.score_links({"template": tpl, "payment": pay}, None, budget)
    k = sampled.ring_neighbours
    assert exact.ring_neighbours is None and k is not None and k >= 10
    assert len(sampled.table) < len(exact.table) / 5
    # Every drawn pair is scored exactly, on every entity it shares (template and card).
    ex = exact.table.set_index(["a", "b"])
    got = sampled.table.set_index(["a", "b"])
    assert np.allclose(got["score"], ex.loc[got.index, "score"])
    assert np.allclose(got["payment"], ex.loc[got.index, "payment"])
    # Pairs sharing a card are expanded (inclusion 1); the others were drawn from the template
    # ring, whose size is k scaled by the template's weight, with probability k_e / (d - 1).
    k_e = links.ring_sizes(k, tpl.idf[[0]])[0]
    assert 2 <= k_e < k
    shares_card = got["payment"] > 0
    assert (got.loc[shares_card, "inclusion"] == 1).all()
    assert (~shares_card).any()
    assert np.allclose(got.loc[~shares_card, "inclusion"], k_e / 299)
    # Plain Horvitz-Thompson restores the full projection's total tie weight, within noise.
    plain = dataclasses.replace(sampled, max_expansion=None)
    assert plain.edge_weights().sum() == pytest.approx(exact.edge_weights().sum(), rel=0.05)
    # The default trims the factor at max_expansion: the expectation over the draw of
    # score * min(1 / p, F) * (drawn with p), from the exact scores, within noise.
    f = budget.max_expansion
    assert sampled.max_expansion == f
    p = np.where(ex["payment"] > 0, 1.0, k_e / 299)
    expected = (ex["score"].to_numpy() * np.minimum(1.0, p * f)).sum()
    assert sampled.edge_weights().sum() == pytest.approx(expected, rel=0.05)
    # ... so CPM still sees one dense fleet, apart from the strangers.
    comms = detect_communities(sampled, budget)
    assert len(set(comms.membership[:300])) == 1
    assert comms.sizes[comms.membership[0]] == 300


def test_edge_weights_trim_the_horvitz_thompson_factor():
    # An expanded pair weighs its score; a sampled one score / inclusion up to max_expansion
    # pairs: a weak tie drawn with probability 0.002 weighs 0.23 * 32, not 0.23 * 500.
    t = pd.DataFrame({"a": [0, 0, 1], "b": [1, 2, 2], "score": [0.9, 0.5, 0.23],
                      "inclusion": [1.0, 0.5, 0.002]})
    got = links.Links(t, 3, max_expansion=32.0).edge_weights()
    assert got == pytest.approx([0.9, 1.0, 0.23 * 32])
    plain = links.Links(t, 3).edge_weights()
    assert plain == pytest.approx([0.9, 1.0, 0.23 / 0.002])
    assert links.Links(t.drop(columns="inclusion"), 3).edge_weights() == pytest.approx(
        [0.9, 0.5, 0.23])


def test_ring_sampling_is_deterministic_and_gives_every_member_k_neighbours():
    tpl, _ = _fleet_with_cards(cards=1)
    s = Settings(max_candidate_pairs=3_000)
    t1 = links.score_links({"template": tpl}, None, s)
    t2 = links.score_links({"template": tpl}, None, s)
    assert t1.table.equals(t2.table)
    degree = np.bincount(np.concatenate([t1.table["a"], t1.table["b"]]), minlength=20_300)
    k_e = links.ring_sizes(t1.ring_neighbours, tpl.idf[[0]])[0]
    assert (degree[:300] == k_e).all() and (degree[300:] == 0).all()


def test_scoring_pairs_in_blocks_gives_the_same_links():
    """Candidates scored a few at a time (expanded, ring-sampled and synchrony evidence
    split across blocks) give exactly the links of one block of every pair."""
    from graphkit.detection.pipeline import signal_matrices
    from graphkit.detection.signals import ACCOUNT_CODES
    from graphkit.graph.hetero import build_graph
    from graphkit.io import load

    ds = load("fixtures/sim-small/events.parquet", accounts="fixtures/sim-small/accounts.csv")
    graph = build_graph(ds)
    n = len(graph.accounts)
    ds.con.register(ACCOUNT_CODES, pd.DataFrame({
        "account_id": graph.accounts["account_id"].to_numpy(),
        "account_idx": np.arange(n)}))
    settings = dataclasses.replace(S, max_candidate_pairs=500)  # some entities sampled
    signals = signal_matrices(graph, ds, settings)
    arrays = ds.event_arrays()
    sync = window_signatures(ds.con, ACCOUNT_CODES, n, settings,
                             times=(arrays.account, arrays.us))
    whole = links.score_links(signals, sync, settings)
    assert whole.ring_neighbours is not None and len(whole.table) > 50
    blocks = links.score_links(signals, sync, settings, block=37)
    pd.testing.assert_frame_equal(blocks.table, whole.table, check_exact=True)


def test_window_signatures_in_blocks_on_threads_equal_one_block():
    """Signatures built a few accounts at a time (the blocks run on threads) equal those of
    one block over all accounts: every account's signatures depend on its own windows."""
    from graphkit.detection.synchrony import windows_signatures

    rng = np.random.default_rng(11)
    n = 300
    key = np.unique(rng.integers(0, n, 6000) * 5000 + rng.integers(0, 2880, 6000))
    acc, win = key // 5000, key % 5000
    whole = windows_signatures(acc, win, n, Settings(), np.zeros(n), block=1 << 16)
    for block in (1, 7, 64):
        part = windows_signatures(acc, win, n, Settings(), np.zeros(n), block=block)
        np.testing.assert_array_equal(part.signature, whole.signature)
        np.testing.assert_array_equal(part.hour_signature, whole.hour_signature)
        np.testing.assert_array_equal(part.n_hours, whole.n_hours)
    assert whole.active.sum() > 100
