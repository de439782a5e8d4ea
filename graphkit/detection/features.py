"""Per-account activity features for the community indicators, vectorized over events.

>>> import graphkit
>>> ds = graphkit.load("fixtures/sim-small/events.parquet",
...                    accounts="fixtures/sim-small/accounts.csv")
>>> model_releases(ds.event_arrays())
{'frontier-2': datetime.datetime(2026, 9, 21, 8, 44, 16, 984000)}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection.synchrony import bucket_entropy
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph
from graphkit.io import Dataset, EventArrays
from graphkit.settings import Settings

_EPOCH = dt.datetime(1970, 1, 1)


def model_releases(events: EventArrays, settings: Settings | None = None
                   ) -> dict[str, dt.datetime]:
    """Models released inside the observed period, with their first sighting (UTC, naive).

    A model counts as released when first seen at least ``settings.release_after_start_hours``
    after the data starts; earlier first sightings are models that already existed.
    """
    has = events.model >= 0
    if not has.any():
        return {}
    first = np.full(len(events.models), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, events.model[has], events.us[has])
    return released_models(events.models, first, int(events.us.min()), settings)


def released_models(models: np.ndarray, first_us: np.ndarray, start_us: int,
                    settings: Settings | None = None) -> dict[str, dt.datetime]:
    """:func:`model_releases` from each model's first request and the data's start (epoch
    microseconds; a first request of int64 max is a model never requested)."""
    settings = settings or Settings()
    after_start_us = int(settings.release_after_start_hours * 3600 * 1_000_000)
    first = np.asarray(first_us, np.int64)
    released = np.flatnonzero((first < np.iinfo(np.int64).max)
                              & (first >= start_us + after_start_us))
    released = released[np.argsort(first[released], kind="stable")]
    return {str(models[m]): _EPOCH + dt.timedelta(microseconds=int(first[m]))
            for m in released}  # a handful of models, not rows


def parse_releases(specs: tuple[str, ...] | list[str]) -> dict[str, dt.datetime]:
    """``MODEL@TIME`` strings (ISO-8601, UTC when no zone) -> model -> release time (UTC,
    naive), as ``--release`` takes them.

    >>> parse_releases(["frontier-2@2026-09-21T08:00Z"])
    {'frontier-2': datetime.datetime(2026, 9, 21, 8, 0)}
    >>> parse_releases(["frontier-2"])
    Traceback (most recent call last):
    ...
    graphkit.errors.ConfigError: release 'frontier-2' must be MODEL@TIME
    """
    out: dict[str, dt.datetime] = {}
    for spec in specs:  # a few command-line values
        model, sep, when = spec.rpartition("@")
        if not sep or not model:
            raise ConfigError(f"release {spec!r} must be MODEL@TIME")
        try:
            t = pd.Timestamp(when)
        except ValueError as exc:
            raise ConfigError(f"release {spec!r}: bad time {when!r}") from exc
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        out[model] = t.tz_localize(None).to_pydatetime()
    return out


@dataclass
class AccountActivity:
    """The per-account features read from the events, one value per account code."""

    proxy_events: np.ndarray
    hour_entropy: np.ndarray  # normalized to [0, 1]
    release_events: np.ndarray
    release_window_events: np.ndarray


def account_activity(events: EventArrays, releases: dict[str, dt.datetime], n: int,
                     settings: Settings) -> AccountActivity:
    """:class:`AccountActivity` from the event arrays (the local engine; the Spark engine
    computes it from stage outputs, :func:`graphkit.engine.runner.activity_from_outputs`)."""
    acc = events.account
    # Hour-of-day entropy (normalized to [0, 1]): 24/7 automation is near 1.
    hour_entropy = bucket_entropy(acc, (events.us // 3_600_000_000) % 24, n, 24)[0] / np.log(24)
    return AccountActivity(np.bincount(acc, weights=events.proxied, minlength=n), hour_entropy,
                           *_release_traffic(events, releases, n, settings))


def account_features(graph: HeteroGraph, dataset: Dataset, events: EventArrays | None,
                     releases: dict[str, dt.datetime], settings: Settings,
                     activity: AccountActivity | None = None) -> pd.DataFrame:
    """Per-account activity features (one row per account code), vectorized over events.

    Columns: account_id, n_events, proxy_events, tokens, hour_entropy (normalized to [0, 1]),
    release_events (requests on a released model in its first ``model_release_window_hours``),
    release_window_events (all requests in those windows), created_at, first_seen, status,
    org_id, banned_at and seed_actor; with relations, the :func:`relation_features` columns.
    ``activity`` (computed elsewhere, e.g. on Spark) replaces reading ``events``.
    """
    n = len(graph.accounts)
    act = activity or account_activity(events, releases, n, settings)
    proxy_events, hour_entropy = act.proxy_events, act.hour_entropy
    release_events, release_window_events = act.release_events, act.release_window_events
    accounts = graph.accounts.reset_index(drop=True)
    tokens = np.zeros(n, np.int64)
    for col in ("tokens_in", "tokens_out"):
        if col in accounts:
            tokens += accounts[col].fillna(0).to_numpy(np.int64)
    out = pd.DataFrame({"account_id": accounts["account_id"].to_numpy(),
                        "n_events": accounts["n_events"].to_numpy(),
                        "proxy_events": proxy_events.astype(np.int64),
                        "tokens": tokens,
                        "hour_entropy": hour_entropy,
                        "release_events": release_events.astype(np.int64),
                        "release_window_events": release_window_events.astype(np.int64)})
    for col in ("created_at", "first_seen", "status", "org_id", "banned_at"):
        out[col] = accounts[col].to_numpy() if col in accounts else pd.NA
    rel = relation_features(graph)
    for col in rel.columns:
        out[col] = rel[col].to_numpy()
    seeds = dataset.seeds
    out["seed_actor"] = pd.array([pd.NA] * len(out), dtype="string")
    if seeds is not None and len(seeds):
        actor = out["account_id"].map(seeds.drop_duplicates("account_id")
                                      .set_index("account_id")["actor"])
        out["seed_actor"] = actor.astype("string")
    return out


def _release_traffic(events: EventArrays, releases: dict[str, dt.datetime], n: int,
                     settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Per account: requests on each released model, and all requests, in the window after
    its release."""
    release_events = np.zeros(n)
    release_window_events = np.zeros(n)
    window = int(settings.model_release_window_hours * 3600 * 1_000_000)
    codes = {str(m): i for i, m in enumerate(events.models)}
    acc = events.account
    for model, released in releases.items():  # one pass per released model
        t0 = (released - _EPOCH) // dt.timedelta(microseconds=1)
        inside = (events.us >= t0) & (events.us < t0 + window)
        release_window_events += np.bincount(acc[inside], minlength=n)
        on_model = inside & (events.model == codes[model])
        release_events += np.bincount(acc[on_model], minlength=n)
    return release_events, release_window_events


RELATION_FEATURES = ("rel_out_degree", "rel_in_degree", "rel_out_amount", "rel_in_amount",
                     "rel_reciprocity", "rel_counterparties")


def relation_features(graph: HeteroGraph) -> pd.DataFrame:
    """Per-account features of the account-to-account relations (every relation kind of the
    run's registry together); no columns when the run has no relations.

    ``rel_out_degree`` / ``rel_in_degree``: relations sent / received (a repeated transfer
    counts each time); ``rel_out_amount`` / ``rel_in_amount``: summed amounts;
    ``rel_counterparties``: distinct accounts related either way; ``rel_reciprocity``: the
    share of those counterparties related in both directions (money going round a ring).

    >>> import pandas as pd
    >>> from graphkit.graph.hetero import HeteroGraph
    >>> acc = pd.DataFrame({"key": list("xyz"), "account_id": list("xyz")})
    >>> e = pd.DataFrame({"src": [0, 1, 0], "dst": [1, 0, 2], "count": [2, 1, 1],
    ...                   "amount": [10.0, 5.0, None]})
    >>> g = HeteroGraph({"Account": acc}, {"TRANSFERRED_TO": e}, {"relations": ["transfer"]})
    >>> relation_features(g).to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'rel_out_degree': [3, 1, 0], 'rel_in_degree': [1, 2, 1], 'rel_out_amount': [10.0, 5.0, 0.0],
     'rel_in_amount': [5.0, 10.0, 0.0], 'rel_reciprocity': [0.5, 1.0, 0.0],
     'rel_counterparties': [2, 1, 1]}
    """
    n = len(graph.accounts)
    rels = [graph.edges[r] for r in graph.registry.relation_rels if r in graph.edges]
    if not rels:
        return pd.DataFrame(index=range(n))
    e = pd.concat([r[["src", "dst", "count", "amount"]] for r in rels], ignore_index=True)
    src, dst = e["src"].to_numpy(np.int64), e["dst"].to_numpy(np.int64)
    count = e["count"].to_numpy(np.float64)
    amount = e["amount"].fillna(0.0).to_numpy(np.float64)
    directed = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))
    directed.data[:] = 1.0
    either = ((directed + directed.T) > 0).astype(np.float64)
    both = directed.multiply(directed.T)
    partners = np.asarray(either.sum(axis=1)).ravel()
    mutual = np.asarray(both.sum(axis=1)).ravel()
    return pd.DataFrame({
        "rel_out_degree": np.bincount(src, weights=count, minlength=n).astype(np.int64),
        "rel_in_degree": np.bincount(dst, weights=count, minlength=n).astype(np.int64),
        "rel_out_amount": np.bincount(src, weights=amount, minlength=n),
        "rel_in_amount": np.bincount(dst, weights=amount, minlength=n),
        "rel_reciprocity": np.where(partners > 0, mutual / np.maximum(partners, 1), 0.0),
        "rel_counterparties": partners.astype(np.int64),
    })
