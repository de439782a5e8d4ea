"""The detection pipeline: graph -> links -> communities -> scoring -> outputs.

On the small simulated log in fixtures/ (paths relative to the repository root):

>>> import graphkit
>>> from graphkit.detection.pipeline import detect
>>> ds = graphkit.load("fixtures/sim-small/events.parquet",
...                    accounts="fixtures/sim-small/accounts.csv",
...                    seeds="fixtures/sim-small/seeds.csv")
>>> result = detect(ds)
>>> flagged = result.communities.query("flagged")
>>> list(flagged.columns[:4])
['community_id', 'size', 'suspicion', 'flagged']
>>> bool((flagged["suspicion"] >= result.settings.flag_threshold).all())
True
>>> result.write("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from graphkit.detection import links as links_mod
from graphkit.detection.account_score import ScoringOptions, score_accounts
from graphkit.detection.communities import Communities, detect_communities
from graphkit.errors import ConfigError
from graphkit.graph.hetero import HeteroGraph, build_graph
from graphkit.io.ingest import Dataset, EventArrays
from graphkit.detection.links import Links, SignalMatrix
from graphkit.detection.near_duplicates import family_incidence, template_families
from graphkit.progress import Progress, quiet
from graphkit.detection.evidence import community_evidence
from graphkit.detection.scoring import score_communities
from graphkit.settings import SIGNALS, Settings, describe_input, write_manifest
from graphkit.detection.synchrony import bucket_entropy, window_signatures

# Entity signals and the graph edge that carries them.
SIGNAL_EDGES = {"ip": "USED_IP", "payment": "PAID_WITH", "template": "SENT",
                "user_agent": "USED_AGENT"}
_CODES = "gk_account_codes"


@dataclass
class Detection:
    """Everything ``detect`` found. DataFrames use account ids, not internal codes."""

    accounts: pd.DataFrame
    communities: pd.DataFrame
    links: pd.DataFrame
    settings: Settings
    run_id: str
    timings: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    releases: dict[str, str] = field(default_factory=dict)
    graph: HeteroGraph | None = field(default=None, repr=False)
    # Co-members each account was paired with inside entities too large to expand into all
    # their pairs (None: every pair was scored); see Settings.max_candidate_pairs.
    ring_neighbours: int | None = None
    scoring: dict[str, Any] = field(default_factory=dict)  # the account score's manifest entry

    def flagged_communities(self) -> pd.DataFrame:
        return self.communities[self.communities["flagged"]]

    def write(self, out_dir: str | Path) -> Path:
        """Write accounts.csv, communities.csv, links.csv and manifest.json into ``out_dir``."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory: {exc}", file=str(out)) from exc
        self.accounts.to_csv(out / "accounts.csv", index=False)
        self.communities.to_csv(out / "communities.csv", index=False)
        _write_numeric_csv(self.links, out / "links.csv", decimals=4)
        if self.graph is not None:  # export reads entities and their aggregates from here
            self.graph.save(out / "graph")
        write_manifest(
            out, command="detect", settings=self.settings, inputs=self.inputs,
            outputs={"accounts": len(self.accounts), "communities": len(self.communities),
                     "flagged_communities": int(self.communities["flagged"].sum()),
                     "flagged_accounts": int(self.accounts["flagged"].sum()),
                     "links": len(self.links), "model_releases": self.releases,
                     "candidate_ring_neighbours": self.ring_neighbours,
                     "account_scoring": self.scoring},
            timings=self.timings, run_id=self.run_id,
        )
        return out


def _write_numeric_csv(frame: pd.DataFrame, path: Path, decimals: int) -> None:
    """CSV of a large table of ids and numbers through Arrow's multi-threaded writer (pandas
    formats floats in Python and takes seconds per million rows); floats rounded to
    ``decimals``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rounded = frame.copy(deep=False)
    for col in rounded.columns:
        if pd.api.types.is_float_dtype(rounded[col]):
            rounded[col] = rounded[col].round(decimals)
    pacsv.write_csv(pa.Table.from_pandas(rounded, preserve_index=False), path,
                    pacsv.WriteOptions(quoting_style="needed"))


def describe_inputs(dataset: Dataset) -> dict[str, Any]:
    """Input files by role (events, accounts, seeds) with sizes and digests, for the manifest."""
    out: dict[str, Any] = {}
    for f in dataset.files:
        entry = {**describe_input(f.path), "rows": f.rows, "rejected": f.rejected}
        if f.role == "events":
            out.setdefault("events", []).append(entry)
        else:
            out[f.role] = entry
    return out


def make_run_id(settings: Settings, inputs: dict[str, Any]) -> str:
    """A run tag: UTC time plus a digest of settings and inputs (what export tags nodes with)."""
    digest = hashlib.sha256(
        json.dumps([settings.to_dict(), inputs], sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + digest


def signal_matrices(graph: HeteroGraph, dataset: Dataset, settings: Settings
                    ) -> dict[str, SignalMatrix]:
    """Account x entity share matrices for every entity signal present in the graph."""
    n_events = graph.accounts["n_events"].to_numpy(dtype=np.float64)
    out: dict[str, SignalMatrix] = {}
    for name, edge in SIGNAL_EDGES.items():
        if edge not in graph.edges:
            continue
        counts, entities = graph.incidence(edge)
        keys = entities["key"].to_numpy()
        if name == "template" and dataset.has_prompt:
            # Link through families of near-identical templates, not only exact ones.
            family = template_families(dataset.con, keys, settings)
            counts = family_incidence(counts, family)
            keys = pd.Series(keys).groupby(family).first().to_numpy()
        floor = factor = None
        if edge == "PAID_WITH":
            floor = _declared_payments(graph)  # the accounts file's card pays for everything
        if edge == "USED_IP" and "OPERATED_BY" in graph.edges:
            # A VPN, proxy or hosting operator shares its addresses among customers by design.
            factor = np.ones(len(keys))
            factor[graph.edges["OPERATED_BY"]["src"].to_numpy()] = settings.operated_ip_factor
        out[name] = links_mod.signal_matrix(name, counts, n_events, keys, settings,
                                            floor_share=floor, entity_factor=factor)
    if "ProxyProvider" in graph.nodes and len(graph.nodes["ProxyProvider"]):
        counts, keys = _account_proxy_incidence(graph, dataset)
        out["proxy"] = links_mod.signal_matrix("proxy", counts, n_events, keys, settings)
    return out


def _declared_payments(graph: HeteroGraph) -> sp.csr_matrix:
    """Accounts x payment methods, 1 where the accounts file declares the payment method.

    A declared card pays for all of the account's traffic, whatever the events say, so its
    share is floored at 1."""
    edges = graph.edges["PAID_WITH"]
    declared = edges[edges["from_accounts_file"].fillna(False).to_numpy(bool)]
    shape = (len(graph.accounts), len(graph.nodes["PaymentMethod"]))
    return sp.csr_matrix((np.ones(len(declared)), (declared["src"].to_numpy(),
                                                    declared["dst"].to_numpy())), shape=shape)


def _account_proxy_incidence(graph: HeteroGraph, dataset: Dataset
                             ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Accounts x proxy providers event counts (an account's traffic through each provider)."""
    keys = graph.nodes["ProxyProvider"]["key"].to_numpy()
    df = dataset.con.execute(
        f"""
        SELECT c.account_idx AS a, p.code AS p, count(*) AS n
        FROM events e JOIN {_CODES} c USING (account_id)
        JOIN (SELECT key, CAST(row_number() OVER (ORDER BY key) - 1 AS INTEGER) AS code
              FROM (SELECT DISTINCT proxy_provider AS key FROM events
                    WHERE proxy_provider IS NOT NULL)) p ON p.key = e.proxy_provider
        GROUP BY ALL
        """
    ).df()
    mat = sp.csr_matrix((df["n"].to_numpy(np.float64), (df["a"].to_numpy(), df["p"].to_numpy())),
                        shape=(len(graph.accounts), len(keys)))
    return mat, keys


# A model first seen at least this long after the data starts was released inside the observed
# period (earlier first sightings are models that already existed).
_RELEASE_AFTER_START_US = 48 * 3600 * 1_000_000


def model_releases(events: EventArrays) -> dict[str, dt.datetime]:
    """Models released inside the observed period, with their first sighting (UTC, naive)."""
    has = events.model >= 0
    if not has.any():
        return {}
    first = np.full(len(events.models), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, events.model[has], events.us[has])
    start = int(events.us.min())
    released = np.flatnonzero((first < np.iinfo(np.int64).max)
                              & (first >= start + _RELEASE_AFTER_START_US))
    released = released[np.argsort(first[released], kind="stable")]
    epoch = dt.datetime(1970, 1, 1)
    return {str(events.models[m]): epoch + dt.timedelta(microseconds=int(first[m]))
            for m in released}  # a handful of models, not rows


def account_features(graph: HeteroGraph, dataset: Dataset, events: EventArrays,
                     releases: dict[str, dt.datetime], settings: Settings) -> pd.DataFrame:
    """Per-account activity features (one row per account code), vectorized over events."""
    n = len(graph.accounts)
    acc = events.account
    proxy_events = np.bincount(acc, weights=events.proxied, minlength=n)
    # Hour-of-day entropy (normalized to [0, 1]): 24/7 automation is near 1.
    hour_entropy = bucket_entropy(acc, (events.us // 3_600_000_000) % 24, n, 24)[0] / np.log(24)
    # Traffic in the 24 h after each release, and on the released model itself.
    release_events = np.zeros(n)
    release_window_events = np.zeros(n)
    window = int(settings.model_release_window_hours * 3600 * 1_000_000)
    codes = {str(m): i for i, m in enumerate(events.models)}
    epoch = dt.datetime(1970, 1, 1)
    for model, released in releases.items():  # one pass per released model
        t0 = (released - epoch) // dt.timedelta(microseconds=1)
        inside = (events.us >= t0) & (events.us < t0 + window)
        release_window_events += np.bincount(acc[inside], minlength=n)
        on_model = inside & (events.model == codes[model])
        release_events += np.bincount(acc[on_model], minlength=n)
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
    seeds = dataset.seeds
    out["seed_actor"] = pd.array([pd.NA] * len(out), dtype="string")
    if seeds is not None and len(seeds):
        actor = out["account_id"].map(seeds.drop_duplicates("account_id")
                                      .set_index("account_id")["actor"])
        out["seed_actor"] = actor.astype("string")
    return out


def detect(
    dataset: Dataset,
    settings: Settings | None = None,
    *,
    graph: HeteroGraph | None = None,
    progress: Progress | None = None,
    scoring: ScoringOptions | None = None,
) -> Detection:
    """Run the whole detection on a loaded dataset."""
    settings = settings or Settings()
    progress = progress or quiet()
    if graph is None:
        with progress.step("graph"):
            graph = build_graph(dataset)
    inputs = describe_inputs(dataset)
    run_id = make_run_id(settings, inputs)
    n = len(graph.accounts)
    codes = pd.DataFrame({"account_id": graph.accounts["account_id"].to_numpy(),
                          "account_idx": np.arange(n, dtype=np.int64)})
    dataset.con.register(_CODES, codes)
    try:
        with progress.step("links: entity shares"):
            signals = signal_matrices(graph, dataset, settings)
        with progress.step("links: event arrays"):
            events = dataset.event_arrays()
        sync = None
        if settings.weight("synchrony") > 0:
            with progress.step("links: window signatures"):
                sync = window_signatures(dataset.con, _CODES, n, settings,
                                         times=(events.account, events.us))
        links = links_mod.score_links(signals, sync, settings, progress)
        with progress.step("communities"):
            comms = detect_communities(links, settings, fixed=None)
        with progress.step("scoring"):
            with progress.step("scoring: account features"):
                releases = model_releases(events)
                feats = account_features(graph, dataset, events, releases, settings)
                del events
            with progress.step("scoring: indicators"):
                scored = score_communities(feats, signals, links, comms, settings)
            with progress.step("scoring: evidence"):
                communities = community_evidence(scored.communities, comms, signals, settings,
                                                  run_id)
            with progress.step("scoring: accounts"):
                acc_scores = score_accounts(graph, feats, links, scored.accounts, options=scoring,
                                            clock_aligned=getattr(sync, "clock_aligned", None),
                                            seed=settings.seed,
                                            flag_threshold=settings.flag_threshold)
    finally:
        dataset.con.unregister(_CODES)
    link_table = _links_with_ids(links, graph)
    return Detection(
        accounts=acc_scores.accounts, communities=communities, links=link_table, settings=settings,
        run_id=run_id, graph=graph,
        timings=dict(progress.timings), inputs=inputs,
        releases={m: t.isoformat() for m, t in releases.items()},
        ring_neighbours=links.ring_neighbours, scoring=acc_scores.manifest,
    )


def _links_with_ids(links: Links, graph: HeteroGraph) -> pd.DataFrame:
    ids = graph.accounts["account_id"].to_numpy()
    t = links.table
    out = pd.DataFrame({"account_a": ids[t["a"].to_numpy()], "account_b": ids[t["b"].to_numpy()],
                        "score": t["score"].to_numpy()})
    for name in SIGNALS:
        out[name] = t[name].to_numpy()
    out["inclusion"] = t["inclusion"].to_numpy() if "inclusion" in t else 1.0
    return out.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


__all__ = ["Communities", "Detection", "detect"]
