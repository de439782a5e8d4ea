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

from graphkit.detection.links import SignalMatrix
from graphkit.detection.synchrony import row_entropy
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph
from graphkit.io import Dataset, EventArrays
from graphkit.settings import Settings

_EPOCH = dt.datetime(1970, 1, 1)
# Per-account columns of the model-release shift, written to accounts.csv.
RELEASE_COLUMNS = ("release_model", "release_shift", "release_background",
                   "release_window_events")


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


_HOUR_ANGLE = 2.0 * np.pi * np.arange(24) / 24.0


@dataclass
class AccountActivity:
    """The per-account features read from the events, one value per account code."""

    proxy_events: np.ndarray
    hour_entropy: np.ndarray  # normalized to [0, 1]
    traffic: ReleaseTraffic  # per account and released model, around each release
    # Per account, the sum of its requests' hour-of-day unit vectors (cos, sin): summed over a
    # community, the direction and strength of its pooled day (:func:`hour_vectors`).
    hour_vector: np.ndarray | None = None


def hour_vectors(counts: np.ndarray) -> np.ndarray:
    """Per row of an accounts x 24 matrix of requests per hour of the day: the sum of its
    requests' hour-of-day unit vectors, ``(sum cos, sum sin)`` of ``2 pi hour / 24``.

    Sums pool: a community's vector is the sum of its members', and its length over the
    requests (the mean resultant length) is 1 when every request falls in one hour, near 0
    round the clock.

    >>> c = np.zeros((2, 24)); c[0, 9] = 4; c[1] = 1
    >>> np.hypot(*hour_vectors(c).T).round(6).tolist()
    [4.0, 0.0]
    """
    out = np.zeros((counts.shape[0], 2))
    for hour, angle in enumerate(_HOUR_ANGLE):  # 24 columns: no float copy of the matrix
        out[:, 0] += counts[:, hour] * np.cos(angle)
        out[:, 1] += counts[:, hour] * np.sin(angle)
    return out


def account_activity(events: EventArrays, releases: dict[str, dt.datetime], n: int,
                     settings: Settings) -> AccountActivity:
    """:class:`AccountActivity` from the event arrays (the local engine; the Spark engine
    computes it from stage outputs, :func:`graphkit.engine.runner.activity_from_outputs`)."""
    acc = events.account
    key = acc.astype(np.int64)  # account x hour of the day, updated in place
    key *= 24
    key += (events.us // 3_600_000_000) % 24
    hours = np.bincount(key, minlength=n * 24).reshape(n, 24)
    del key
    # Hour-of-day entropy (normalized to [0, 1]): 24/7 automation is near 1.
    hour_entropy = row_entropy(hours)[0] / np.log(24)
    vector = hour_vectors(hours)
    del hours
    return AccountActivity(np.bincount(acc, weights=events.proxied, minlength=n), hour_entropy,
                           release_traffic(events, releases, n, settings), vector)


def account_features(graph: HeteroGraph, dataset: Dataset, events: EventArrays | None,
                     releases: dict[str, dt.datetime], settings: Settings,
                     activity: AccountActivity | None = None) -> pd.DataFrame:
    """Per-account activity features (one row per account code), vectorized over events.

    Columns: account_id, n_events, proxy_events, tokens, hour_entropy (normalized to [0, 1]),
    hour_cos and hour_sin (:func:`hour_vectors`; NaN when not computed),
    release_events (requests on a released model in its first ``model_release_window_hours``),
    release_window_events (all requests in those windows), release_model, release_shift and
    release_background (the account's strongest move to a released model and the other
    accounts' move to it: :meth:`ReleaseTraffic.shift`), created_at, first_seen, status,
    org_id, email_domain, banned_at, activated_at (:func:`activation_times`) and seed_actor;
    with relations, the :func:`relation_features` columns.
    ``activity`` (computed elsewhere, e.g. on Spark) replaces reading ``events``.
    """
    n = len(graph.accounts)
    act = activity or account_activity(events, releases, n, settings)
    proxy_events, hour_entropy, traffic = act.proxy_events, act.hour_entropy, act.traffic
    shift = traffic.shift()
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
                        "hour_cos": np.nan if act.hour_vector is None else act.hour_vector[:, 0],
                        "hour_sin": np.nan if act.hour_vector is None else act.hour_vector[:, 1],
                        "release_events": traffic.on_model.sum(axis=1).astype(np.int64),
                        "release_window_events": traffic.in_window.sum(axis=1).astype(np.int64),
                        "release_model": shift.model_names.array,
                        "release_shift": shift.moved,
                        "release_background": shift.against})
    for col in ("created_at", "first_seen", "status", "org_id", "email_domain",
                "banned_at"):
        out[col] = accounts[col].to_numpy() if col in accounts else pd.NA
    out["activated_at"] = activation_times(accounts, settings).to_numpy()
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


def activation_times(accounts: pd.DataFrame, settings: Settings) -> pd.Series:
    """When each account came to life: its ``created_at``, else (``first_request_activation``)
    its first request when that is late for the account, else NaT. What successions read: a log
    without creation times still shows a banned account replaced by one that comes to life
    within hours on its identifiers. (Creation bursts and sign-up cohorts keep ``created_at``:
    on outside scenario A, activations gave legitimate accounts chance bursts that raised the
    background a hydra's bursts are measured against; docs/detection.md, section 7.)

    A first request is late when an account at its own rate (its requests over its active
    span) would have sent one between the log's first request and its own with probability
    ``1 - activation_p`` or more: ``exp(-rate * gap) <= activation_p``. An account older than
    the log, sending now and then, is not taken as created when it happens to show up.

    >>> acc = pd.DataFrame({"created_at": [pd.NaT, pd.NaT, "2026-01-01T00:00Z"],
    ...                     "first_seen": ["2026-03-01T00:00Z", "2026-03-09T00:00Z",
    ...                                    "2026-03-05T00:00Z"],
    ...                     "last_seen": ["2026-03-02T00:00Z", "2026-03-10T00:00Z",
    ...                                   "2026-03-06T00:00Z"], "n_events": [24, 24, 1]})
    >>> activation_times(acc, Settings()).dt.strftime("%m-%d").tolist()
    [nan, '03-09', '01-01']
    """
    created = pd.to_datetime(accounts["created_at"], utc=True, errors="coerce") \
        if "created_at" in accounts else pd.Series(pd.NaT, index=accounts.index,
                                                   dtype="datetime64[ns, UTC]")
    if not settings.first_request_activation or "first_seen" not in accounts:
        return created
    first = pd.to_datetime(accounts["first_seen"], utc=True, errors="coerce")
    last = pd.to_datetime(accounts["last_seen"], utc=True, errors="coerce")
    hours = pd.Timedelta(hours=1)
    span = np.maximum(((last - first) / hours).to_numpy(np.float64, na_value=np.nan), 1.0)
    rate = (accounts["n_events"].to_numpy(np.float64) - 1.0) / span  # requests per hour
    gap = ((first - first.min()) / hours).to_numpy(np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        late = np.exp(-rate * gap) <= settings.activation_p
    return created.where(created.notna(), first.where(late))


def declared_orgs(org_id: pd.Series, sig: SignalMatrix | None) -> pd.Series:
    """Each account's organisation: its ``org_id`` (accounts file), else the value of the
    declared ``org`` kind it holds (``--identifier COLUMN:org``, the identifiers file), else
    NA; trimmed and lower-cased, so that both files' spellings meet. Both say the same thing:
    the account is one of an organisation's. An account holding several takes the one most
    accounts hold (a contractor is explained with the larger of its organisations' staff:
    a limit, one organisation per account).

    >>> import scipy.sparse as sp
    >>> shares = sp.csr_matrix(np.array([[0.0, 1.0], [0.0, 0.0], [0.7, 0.3], [1.0, 1.0]]))
    >>> sig = SignalMatrix("org", shares, np.ones(2), np.array([2, 3]), np.array(["a", "B"]))
    >>> declared_orgs(pd.Series([pd.NA, pd.NA, " X", pd.NA], dtype="string"), sig).tolist()
    ['b', <NA>, 'x', 'b']
    """
    out = org_id.astype("string").str.strip().str.lower().reset_index(drop=True)
    out = out.mask(out == "")
    if sig is None or sig.shares.nnz == 0:
        return out
    shares = sig.shares.tocsr()
    holds = np.diff(shares.indptr) > 0
    held = shares.copy()
    held.data = np.where(held.data > 0, sig.degree[held.indices].astype(float), 0.0)
    top = np.asarray(held.argmax(axis=1)).ravel()
    declared = pd.Series(pd.NA, index=out.index, dtype="string")
    declared[holds] = pd.array(pd.Series(sig.keys[top[holds]].astype(str)).str.strip()
                               .str.lower().to_numpy(), dtype="string")
    return out.fillna(declared)


@dataclass
class ReleaseShift:
    """How much traffic moved to a released model, per row (an account or a community).

    ``share[i, m]``: row ``i``'s share of its requests in model ``m``'s release window that went
    to ``m``, less its share on ``m`` before the release (what it already used is not a move),
    clipped at 0. ``background[i, m]``: the same over every *other* row's traffic together (the
    population's move, without the row's own). ``model[i]``: the model with the largest excess
    ``share - background`` among those in whose window the row made requests (-1: none).
    """

    models: tuple[str, ...]
    share: np.ndarray  # (rows, models)
    background: np.ndarray  # (rows, models)
    window: np.ndarray  # (rows, models) requests in each release window
    model: np.ndarray  # (rows,) index of the row's strongest move, -1 when none

    def _pick(self, values: np.ndarray) -> np.ndarray:
        if values.shape[1] == 0:
            return np.zeros(len(self.model))
        rows = np.arange(len(self.model))
        return np.where(self.model >= 0, values[rows, np.maximum(self.model, 0)], 0.0)

    @property
    def moved(self) -> np.ndarray:
        """Per row: the moved share on its strongest model (0 when none)."""
        return self._pick(self.share)

    @property
    def against(self) -> np.ndarray:
        """Per row: the background share of that model (0 when none)."""
        return self._pick(self.background)

    @property
    def excess(self) -> np.ndarray:
        """Per row: moved share above the background (0 when none)."""
        return self.moved - self.against

    def weighed_excess(self, prior_requests: float) -> np.ndarray:
        """Per row: :attr:`excess` times ``w / (w + prior_requests)``, ``w`` the row's requests
        in that model's release window (few requests carry little evidence of a move)."""
        w = self._pick(self.window)
        return self.excess * np.divide(w, w + prior_requests, out=np.zeros(len(w)),
                                       where=w + prior_requests > 0)

    @property
    def model_names(self) -> pd.Series:
        """Per row: the model's name, missing when the row made no release-window request."""
        names = np.array([*self.models, ""], dtype=object)[self.model]
        return pd.Series(names).replace("", pd.NA).astype("string")


@dataclass
class ReleaseTraffic:
    """Per account (rows) and released model (columns): the requests behind
    :class:`ReleaseShift`. ``on_model``: requests on the model in the
    ``model_release_window_hours`` after its release; ``in_window``: all requests in that
    window; ``before_on`` / ``before``: requests on the model / all requests before it."""

    models: tuple[str, ...]
    on_model: np.ndarray
    in_window: np.ndarray
    before_on: np.ndarray
    before: np.ndarray

    def shift(self, membership: np.ndarray | None = None, n_groups: int = 0) -> ReleaseShift:
        """The moved shares per account (``membership`` None) or per group of accounts
        (``membership[i]`` in ``range(n_groups)``), each against the other rows' traffic.

        >>> t = ReleaseTraffic(("m2",), np.array([[9.0], [1.0], [0.0]]),
        ...                    np.array([[10.0], [10.0], [0.0]]), np.zeros((3, 1)),
        ...                    np.array([[5.0], [5.0], [5.0]]))
        >>> s = t.shift()
        >>> s.moved.tolist(), s.against.round(2).tolist(), s.model.tolist()
        ([0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0, 0, -1])
        >>> t.shift(np.array([0, 0, 1]), 2).moved.tolist()
        [0.5, 0.0]
        """
        counts = (self.on_model, self.in_window, self.before_on, self.before)
        if membership is not None:
            n = len(membership)
            to_group = sp.csr_matrix((np.ones(n), (membership, np.arange(n))),
                                     shape=(n_groups, n))
            counts = tuple(np.asarray(to_group @ c) for c in counts)
        totals = [c.sum(axis=0, keepdims=True) for c in counts]
        own = _moved(*counts)
        others = _moved(*(t - c for t, c in zip(totals, counts)))
        win = counts[1]
        excess = np.where(win > 0, own - others, -np.inf)
        best = np.argmax(excess, axis=1) if excess.shape[1] else np.zeros(len(win), np.int64)
        has = (win > 0).any(axis=1)
        return ReleaseShift(self.models, own, others, win, np.where(has, best, -1))


def _moved(on_model: np.ndarray, in_window: np.ndarray, before_on: np.ndarray,
           before: np.ndarray) -> np.ndarray:
    """Share of window requests on the model less the share on it before, clipped at 0."""
    after = np.divide(on_model, in_window, out=np.zeros(on_model.shape), where=in_window > 0)
    prior = np.divide(before_on, before, out=np.zeros(on_model.shape), where=before > 0)
    return np.clip(after - prior, 0.0, 1.0)


def release_traffic(events: EventArrays, releases: dict[str, dt.datetime], n: int,
                    settings: Settings) -> ReleaseTraffic:
    """Per account and released model: the counts of :class:`ReleaseTraffic`. A given model
    absent from the log has no requests on it."""
    window = int(settings.model_release_window_hours * 3600 * 1_000_000)
    codes = {str(m): i for i, m in enumerate(events.models)}
    acc = events.account
    cols: list[list[np.ndarray]] = [[], [], [], []]
    for model, released in releases.items():  # one pass per released model
        t0 = (released - _EPOCH) // dt.timedelta(microseconds=1)
        inside = (events.us >= t0) & (events.us < t0 + window)
        earlier = events.us < t0
        on = events.model == codes.get(model, -2)
        for out, mask in zip(cols, (inside & on, inside, earlier & on, earlier)):
            out.append(np.bincount(acc[mask], minlength=n).astype(float))
    arrays = [np.column_stack(c) if c else np.zeros((n, 0)) for c in cols]
    return ReleaseTraffic(tuple(releases), *arrays)


def traffic_from_rows(frame: pd.DataFrame | None, index: pd.Index, models: tuple[str, ...]
                      ) -> ReleaseTraffic:
    """:class:`ReleaseTraffic` from (account_id, release) rows holding the four counts (the
    ``release_traffic`` stage of :mod:`graphkit.engine`, or the aggregate state's
    ``releases`` table); ``index``: the account ids in account-code order."""
    shape = (len(index), len(models))
    counts = {c: np.zeros(shape) for c in ("on_model", "in_window", "before_on", "before")}
    if frame is not None and len(frame) and models:
        row = index.get_indexer(frame["account_id"])
        col = pd.Index(models).get_indexer(frame["release"].astype(str))
        ok = (row >= 0) & (col >= 0)
        for name, values in counts.items():
            values[row[ok], col[ok]] = frame[name].to_numpy(np.float64)[ok]
    return ReleaseTraffic(models, **counts)


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
