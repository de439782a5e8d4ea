"""Property tests (hypothesis): ids round-trip, link scores are symmetric and order-free, and a
hub alone never links two accounts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphkit.detection.pipeline import detect
from graphkit.io import load
from graphkit.io.tables import read_csv_strings
from graphkit.settings import Settings

# Any unicode text with a visible character (an empty or blank id is rejected at ingest);
# surrogates cannot be encoded in UTF-8 at all.
IDS = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s.strip() != "")
# CSV input: a carriage return inside a quoted id is not read back yet (the CSV reader's
# newline normalization; docs/security.md lists it), so CSV ids here have none.
CSV_IDS = IDS.filter(lambda s: "\r" not in s)
FAST = settings(max_examples=6, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _events(ids: list[str], draw_ip: list[int], draw_card: list[int]) -> pd.DataFrame:
    n = len(ids)
    rows = pd.DataFrame({
        "account_id": [ids[i % n] for i in range(3 * n)],
        "ts": pd.date_range("2024-05-01", periods=3 * n, freq="7min", tz="UTC"),
        "ip": [f"10.0.0.{draw_ip[i % len(draw_ip)]}" for i in range(3 * n)],
        "payment_id": [f"pm_{draw_card[i % len(draw_card)]}" for i in range(3 * n)],
    })
    return rows


def _detect(frame: pd.DataFrame, s: Settings | None = None, fmt: str = "csv"):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"events.{fmt}"
        if fmt == "csv":
            frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
                path, index=False)
        else:
            frame.to_parquet(path, index=False)
        result = detect(load(path), s)
        result.write(Path(tmp) / "out")
        accounts = read_csv_strings(Path(tmp) / "out" / "accounts.csv")
    return result, accounts


def _pairs(links: pd.DataFrame) -> dict[frozenset, float]:
    return {frozenset((a, b)): round(float(s), 4)
            for a, b, s in zip(links["account_a"], links["account_b"], links["score"],
                               strict=True)}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@FAST
@given(data=st.data())
def test_any_unicode_id_round_trips_ingest_detect_write(fmt: str, data: st.DataObject) -> None:
    ids = data.draw(st.lists(IDS if fmt == "parquet" else CSV_IDS, min_size=2, max_size=8,
                             unique=True))
    ips = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    cards = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=5))
    result, accounts = _detect(_events(ids, ips, cards), fmt=fmt)
    assert sorted(accounts["account_id"]) == sorted(ids)
    assert sorted(result.accounts["account_id"]) == sorted(ids)
    assert set(result.links["account_a"]) | set(result.links["account_b"]) <= set(ids)


@FAST
@given(st.lists(IDS, min_size=3, max_size=8, unique=True),
       st.lists(st.integers(1, 4), min_size=1, max_size=5),
       st.lists(st.integers(1, 3), min_size=1, max_size=5),
       st.randoms(use_true_random=False))
def test_link_scores_symmetric_and_free_of_row_and_account_order(ids, ips, cards, rnd) -> None:
    frame = _events(ids, ips, cards)
    base, _ = _detect(frame, fmt="parquet")
    links = base.links
    assert (links["account_a"] != links["account_b"]).all()
    pairs = _pairs(links)
    assert len(pairs) == len(links)  # each unordered pair once: a score, not a direction
    order = list(range(len(frame)))
    rnd.shuffle(order)
    shuffled, _ = _detect(frame.iloc[order].reset_index(drop=True), fmt="parquet")
    assert _pairs(shuffled.links) == pairs
    swapped = frame.copy()  # accounts renamed in reverse order: same pairs, same scores
    rename = dict(zip(ids, reversed(ids), strict=True))
    swapped["account_id"] = swapped["account_id"].map(rename)
    renamed, _ = _detect(swapped, fmt="parquet")
    back = {frozenset(rename[x] for x in p): s for p, s in _pairs(renamed.links).items()}
    assert back == pairs


@FAST
@given(st.integers(12, 30), st.floats(0.4, 0.9))
def test_a_hub_alone_never_makes_a_link(n: int, share: float) -> None:
    ids = [f"acct-{i}" for i in range(n)]
    users = max(3, int(n * share))
    frame = pd.DataFrame({
        "account_id": ids * 2,
        "ts": pd.date_range("2024-05-01", periods=2 * n, freq="13min", tz="UTC"),
        # Each account's own card and address; half the traffic of ``users`` accounts goes
        # through one shared address (the rest through their own second address).
        "ip": [f"10.1.0.{i}" for i in range(n)] + ["192.0.2.1"] * users
              + [f"10.2.0.{i}" for i in range(n - users)],
        "payment_id": [f"pm_{i}" for i in range(n)] * 2,
    })
    loose = {"idf_power": 0.1, "min_link_score": 0.05}
    # Not a hub: the shared address links its users ...
    shared, _ = _detect(frame, Settings(max_entity_degree=10**6, max_entity_fraction=1.0,
                                        **loose), fmt="parquet")
    assert len(shared.links) > 0
    # ... as a hub (used by more than max_entity_degree and max_entity_fraction of accounts)
    # it links no one.
    hub, _ = _detect(frame, Settings(max_entity_degree=2, max_entity_fraction=0.2, **loose),
                     fmt="parquet")
    assert len(hub.links) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.1, 0.5, 0.5, 0.9, 1.0])),
                max_size=40), st.integers(0, 5))
def test_kth_strongest_is_the_kth_of_each_owners_sorted_scores(pairs, k: int) -> None:
    """Per owner, the k-th largest score counting ties one by one (0 below k scores), as a
    plain sort of each owner's scores gives it."""
    import numpy as np

    from graphkit.detection.scoring import kth_strongest

    owner = np.array([o for o, _ in pairs], np.int64)
    score = np.array([s for _, s in pairs], float)
    got = kth_strongest(owner, score, k, 6)
    for o in range(6):
        mine = sorted(score[owner == o], reverse=True)
        want = mine[k - 1] if k >= 1 and len(mine) >= k else 0.0
        assert got[o] == want
