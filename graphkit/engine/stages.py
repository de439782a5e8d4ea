"""The distributed stages, each defined once as SQL in DuckDB's dialect.

Every event-sized stage of the pipeline that a cluster must run is a :class:`Stage`: a SQL text
written in DuckDB's dialect over named relations (``events``, ``declared_payments`` and the
outputs of earlier stages), generated from :mod:`graphkit.registry`, so a new identifier kind
gets its stages without new code. The local engine runs the text as is on DuckDB; the Spark
engine (:mod:`graphkit.engine.spark`) runs the same text transpiled with SQLGlot to Spark SQL
(:func:`transpile`), the way Splink runs one linkage pipeline on both. There is no second,
hand-written copy to drift apart.

The stages:

* ``validation``: rows that break the contract in ways SQL can see (no account, no time).
* ``account_totals``: events, first and last request of every account (account features).
* ``edges_<REL>``: the account-entity aggregates of each relationship of the registry
  (``count``, ``first_seen``, ``last_seen``, ``share`` of the source's events); payment links
  declared in the accounts file are merged in, marked ``from_events`` / ``from_accounts_file``.
* ``nodes_<Label>``: per entity, its events, sources (degree), first and last request.
* ``stats_<Label>``: per entity of an account signal, the degree counted from
  ``min_entity_share`` up and the idf weight of the link score (:func:`graphkit.detection.links.
  idf_weights`), with hubs at 0.
* ``account_hours`` / ``account_seconds``: events per (account, hour of the day / second of the
  minute): hour-of-day entropy and clock alignment; ``account_windows``: the distinct
  (account, ``sync_window_seconds`` window) pairs synchrony's MinHash reads;
  ``account_proxy``: events per (account, proxy provider); ``model_firsts``: the first request of
  each model; then ``release_traffic``: per account, requests in the window after each release
  (read from the relation ``releases``, which the driver derives from ``model_firsts``).

The pair-sized stages of link scoring are in :mod:`graphkit.engine.link_stages`.

>>> [s.name for s in stages(Settings(), n_accounts=5, columns={"ip", "template_hash"})][:4]
['validation', 'account_totals', 'edges_USED_IP', 'nodes_IP']
>>> print(transpile("SELECT list_value(1, 2) AS xs FROM events"))
SELECT ARRAY(1, 2) AS xs FROM events
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from graphkit.registry import ACCOUNT_LABEL, KINDS, Kind
from graphkit.settings import Settings

# Relations a stage may read besides earlier stages' outputs.
INPUTS: tuple[str, ...] = ("events", "declared_payments", "releases")
# The account key's column and the payment kind's relationship (merged with the accounts file).
_ACCOUNT_COLUMN = "account_id"
_DECLARED_REL = "PAID_WITH"


@dataclass(frozen=True)
class Stage:
    """One stage: its output name, its SQL (DuckDB dialect) and what it is for.

    ``kind`` names the identifier kind of a per-kind stage (None for the others); ``reads``
    lists the relations the SQL reads (inputs and earlier stages).
    """

    name: str
    sql: str
    reads: tuple[str, ...]
    kind: str | None = None


def transpile(sql: str, dialect: str = "spark") -> str:
    """``sql`` (DuckDB dialect) in ``dialect`` through SQLGlot; DuckDB's own text unchanged.

    >>> transpile("SELECT ln(2.0) AS x", "duckdb")
    'SELECT ln(2.0) AS x'
    """
    if dialect == "duckdb":
        return sql
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=False)[0]


def _source_column(k: Kind) -> str:
    """The events column holding the key of the node a kind's relationship starts from."""
    if k.source == ACCOUNT_LABEL:
        return _ACCOUNT_COLUMN
    return next(s.column for s in KINDS if s.label == k.source)


def validation_sql() -> str:
    """Rows of ``events`` without an account or a time (the contract's SQL-checkable part)."""
    return ("SELECT count(*) AS n_rows, "
            "count(*) FILTER (WHERE account_id IS NULL) AS missing_account_id, "
            "count(*) FILTER (WHERE ts IS NULL) AS missing_ts FROM events")


def account_totals_sql() -> str:
    """Events, first and last request per account."""
    return ("SELECT account_id, count(*) AS n_events, min(ts) AS first_seen, "
            "max(ts) AS last_seen FROM events GROUP BY account_id")


def edges_sql(k: Kind) -> str:
    """Aggregates of ``k``'s relationship: source, key, count, first_seen, last_seen, share."""
    src, col = _source_column(k), k.column
    sql = (f"SELECT g.s AS source, g.k AS key, g.n AS count, g.f AS first_seen, "
           f"g.l AS last_seen, CASE WHEN t.n > 0 THEN g.n / t.n ELSE 0.0 END AS share "
           f"FROM (SELECT {src} AS s, {col} AS k, count(*) AS n, min(ts) AS f, max(ts) AS l "
           f"FROM events WHERE {col} IS NOT NULL AND {src} IS NOT NULL GROUP BY {src}, {col}) g "
           f"JOIN (SELECT {src} AS s, count(*) AS n FROM events WHERE {src} IS NOT NULL "
           f"GROUP BY {src}) t ON t.s = g.s")
    if k.rel != _DECLARED_REL:
        return sql
    # A payment method declared in the accounts file is a link even without events.
    return ("SELECT coalesce(e.source, d.account_id) AS source, "
            "coalesce(e.key, d.payment_id) AS key, coalesce(e.count, 0) AS count, "
            "e.first_seen, e.last_seen, coalesce(e.share, 0.0) AS share, "
            "e.source IS NOT NULL AS from_events, d.account_id IS NOT NULL AS from_accounts_file "
            f"FROM ({sql}) e FULL OUTER JOIN declared_payments d "
            "ON e.source = d.account_id AND e.key = d.payment_id")


def nodes_sql(k: Kind) -> str:
    """Per entity of ``k``: events, distinct sources, first and last request."""
    n_src = "n_accounts" if k.source == ACCOUNT_LABEL else f"n_{_source_column(k)}s"
    return (f"SELECT key, CAST(sum(count) AS BIGINT) AS n_events, count(*) AS {n_src}, "
            f"min(first_seen) AS first_seen, max(last_seen) AS last_seen "
            f"FROM edges_{k.rel} GROUP BY key")


def _literal(x: float) -> str:
    return repr(float(x))


def stats_sql(k: Kind, settings: Settings, n_accounts: int) -> str:
    """Degree (accounts from ``min_entity_share`` up) and idf weight per entity of ``k``.

    The formula is :func:`graphkit.detection.links.idf_weights`: ``clip(log(N / deg) / log(R),
    0, 1) ** idf_power`` with ``R = min(idf_reference, N / 2)``, 0 above the hub degree.
    """
    n = max(n_accounts, 3)
    log_ref = math.log(min(settings.idf_reference, n / 2.0))
    hub = settings.hub_degree(n_accounts)
    share = ("CASE WHEN from_accounts_file THEN 1.0 ELSE least(share, 1.0) END"
             if k.rel == _DECLARED_REL else "least(share, 1.0)")
    return (f"SELECT key, degree, CASE WHEN greatest(degree, 1) > {_literal(hub)} THEN 0.0 "
            f"ELSE power(least(greatest(ln({_literal(n)} / greatest(degree, 1)) "
            f"/ {_literal(log_ref)}, 0.0), 1.0), {_literal(settings.idf_power)}) END AS idf "
            f"FROM (SELECT key, count(*) FILTER (WHERE {share} >= "
            f"{_literal(settings.min_entity_share)}) AS degree FROM edges_{k.rel} GROUP BY key) d")


def _micros(col: str) -> str:
    """Microseconds since the epoch of a timestamp column (SQLGlot maps ``date_diff``)."""
    return f"date_diff('microsecond', TIMESTAMP '1970-01-01 00:00:00', {col})"


def account_buckets_sql(bucket: str) -> str:
    """Events per (account, ``bucket`` of the time): ``hour`` of the day, ``second`` of the
    minute (hour-of-day entropy, clock alignment)."""
    return (f"SELECT account_id, {bucket}(ts) AS bucket, count(*) AS n FROM events "
            f"GROUP BY account_id, {bucket}(ts)")


def account_proxy_sql() -> str:
    """Events per (account, proxy, VPN or hosting provider): the proxy signal's shares and each
    account's proxied traffic."""
    return ("SELECT account_id, proxy_provider AS provider, count(*) AS n FROM events "
            "WHERE proxy_provider IS NOT NULL GROUP BY account_id, proxy_provider")


def account_windows_sql(settings: Settings) -> str:
    """The distinct (account, ``sync_window_seconds`` window) pairs: the input of synchrony's
    MinHash signatures (:func:`graphkit.detection.synchrony.windows_signatures`)."""
    width = int(settings.sync_window_seconds) * 1_000_000
    return (f"SELECT DISTINCT account_id, CAST({_micros('ts')} // {width} AS BIGINT) AS win "
            f"FROM events")


def model_firsts_sql() -> str:
    """First request per model (models released inside the period)."""
    return ("SELECT model, min(ts) AS first_seen FROM events WHERE model IS NOT NULL "
            "GROUP BY model")


def release_traffic_sql(settings: Settings) -> str:
    """Per account: requests in the ``model_release_window_hours`` after each release of
    ``releases`` (model, released), and those on the released model; a request inside two
    windows counts in both, as in :func:`graphkit.detection.features.account_features`."""
    width = int(settings.model_release_window_hours * 3600 * 1_000_000)
    return ("SELECT e.account_id AS account_id, count(*) AS release_window_events, "
            "count(*) FILTER (WHERE e.model = r.model) AS release_events "
            "FROM events e JOIN releases r ON e.ts >= r.released "
            f"AND date_diff('microsecond', r.released, e.ts) < {width} GROUP BY e.account_id")


def activity_stages(settings: Settings, columns: Iterable[str]) -> list[Stage]:
    """The event-sized stages of account features and synchrony (``release_traffic`` runs
    after them, once the releases are known: :func:`graphkit.engine.runner.run_stages`)."""
    present = set(columns)
    out = [Stage("account_hours", account_buckets_sql("hour"), ("events",)),
           Stage("account_seconds", account_buckets_sql("second"), ("events",)),
           Stage("account_windows", account_windows_sql(settings), ("events",))]
    if "proxy_provider" in present:
        out.append(Stage("account_proxy", account_proxy_sql(), ("events",)))
    if "model" in present:
        out.append(Stage("model_firsts", model_firsts_sql(), ("events",)))
    return out


def stages(settings: Settings, n_accounts: int, columns: Iterable[str]) -> list[Stage]:
    """Every distributed stage for events that carry ``columns``, in the order they run.

    Kinds whose column the events lack (optional node types) have no stages; kinds that hang
    off another entity follow it.
    """
    present = set(columns)
    out = [Stage("validation", validation_sql(), ("events",)),
           Stage("account_totals", account_totals_sql(), ("events",))]
    ordered = sorted(KINDS, key=lambda k: k.source != ACCOUNT_LABEL)
    for k in ordered:  # the registry's kinds, a handful
        if k.column not in present or _source_column(k) not in present | {_ACCOUNT_COLUMN}:
            continue
        reads = ("events", "declared_payments") if k.rel == _DECLARED_REL else ("events",)
        out.append(Stage(f"edges_{k.rel}", edges_sql(k), reads, k.name))
        out.append(Stage(f"nodes_{k.label}", nodes_sql(k), (f"edges_{k.rel}",), k.name))
        if k.is_signal and k.source == ACCOUNT_LABEL:
            out.append(Stage(f"stats_{k.label}", stats_sql(k, settings, n_accounts),
                             (f"edges_{k.rel}",), k.name))
    return out + activity_stages(settings, present)
