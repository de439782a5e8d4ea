"""The one dataclass of detection knobs, and the manifest written beside every output.

Every knob has a default chosen from the problem's facts (see docs/detection.md for the
reasoning and how to tune each). A result directory's ``manifest.json`` records the exact
settings, inputs and graphkit version, so any result can be reproduced.

>>> s = Settings(resolution=0.5)
>>> Settings.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphkit.errors import ConfigError

SIGNALS = ("ip", "payment", "template", "proxy", "user_agent", "synchrony")


@dataclass(frozen=True)
class Settings:
    """Detection knobs. Frozen: derive variants with :func:`dataclasses.replace`."""

    # --- link scoring -------------------------------------------------------------------------
    # Evidence weight per signal (score = 1 - exp(-sum_s weight_s * similarity_s)). Payment
    # methods and lock-step timing are hard to share by accident; IPs and templates are shared by
    # NAT pools, VPNs and popular prompts, so they count less; a proxy provider or an SDK user
    # agent is shared by very many unrelated customers.
    signal_weights: dict[str, float] = field(
        default_factory=lambda: {
            "payment": 3.0,
            "synchrony": 3.0,
            "ip": 1.5,
            "template": 2.0,
            "user_agent": 0.3,
            "proxy": 0.2,
        }
    )
    # Hubs (carrier NAT pools, VPN exits, the most popular templates) carry no pairwise
    # evidence: entities used by more than max_entity_degree accounts *and* by more than
    # max_entity_fraction of all accounts. The fraction keeps the cut where it was validated
    # when the log grows: a fixed count would turn a 3,000-account fleet's own templates into
    # hubs in a log of 100,000 accounts. Below the cut the entity weight (idf) already discounts
    # widely shared entities.
    max_entity_degree: int = 2000
    max_entity_fraction: float = 0.2
    # Entity weight = idf ** idf_power, idf = log(N/deg) / log(min(1000, N/2)) clipped to [0, 1];
    # a power > 1 discounts widely shared entities more steeply than plain IDF.
    idf_power: float = 2.0
    # Weight factor for addresses operated by a VPN, proxy or hosting provider (proxy_provider
    # set): such operators share exit addresses among unrelated customers by design.
    operated_ip_factor: float = 0.5
    # An account's use of an entity counts only from this share of its traffic up; below it the
    # use is incidental (one request through a VPN, a one-off popular prompt).
    min_entity_share: float = 0.01
    # Links below this score are not written and not used for communities.
    min_link_score: float = 0.2
    # Candidate pairs drawn from shared IPs, cards and templates: every pair while the total
    # fits, else large entities link each member to k random co-members (k as large as the
    # budget allows) and links are weighed by 1 / inclusion probability. Bounds memory and time
    # on fleets of thousands of accounts; it is a resource limit, not a detection threshold.
    max_candidate_pairs: int = 6_000_000

    # --- temporal synchrony (SynchroTrap / CopyCatch style, via MinHash LSH) -------------------
    sync_window_seconds: int = 90
    # Accounts active in fewer windows than this take no part: too little to tell lock-step
    # from coincidence.
    sync_min_windows: int = 8
    minhash_permutations: int = 64
    lsh_bands: int = 16  # rows per band = permutations / bands
    # Prior added to the denominator of the excess-overlap ratio: shrinks low-activity pairs.
    sync_shrinkage: float = 8.0
    # Timing alone is not evidence of common control (apps on wall-clock timers fire together):
    # synchrony counts in full once a pair's entity evidence (IP, payment, template) reaches this,
    # proportionally below it.
    sync_corroboration: float = 0.5

    # --- near-duplicate templates (when raw prompts are present) --------------------------------
    template_shingle_words: int = 3
    template_similarity: float = 0.7

    # --- communities ---------------------------------------------------------------------------
    method: str = "leiden-cpm"  # leiden-cpm | leiden | components
    resolution: float = 0.03
    seed: int = 42
    # Passes of Leiden over the graph (-1: until nothing moves). Two is igraph's and leidenalg's
    # default: on the 30M-event simulation, convergence took 8 s instead of 1 s and changed the
    # partition little (ARI 0.95, CPM quality +0.4 %).
    leiden_iterations: int = 2

    # --- suspicion -----------------------------------------------------------------------------
    min_community_size: int = 3
    flag_threshold: float = 0.7
    # An account inherits its community's suspicion in proportion to how much of its link weight
    # stays inside the community, relative to the community's core members.
    min_membership: float = 0.35
    burst_window_hours: float = 72.0
    # Accounts younger than this at their first request count as new: fleets are created for the
    # job (and hydra replacements minutes after a ban); most customers have history.
    new_account_days: float = 30.0
    model_release_window_hours: float = 24.0

    # --- day-over-day runs (detect --previous; docs/daily-runs.md) -----------------------------
    # A community keeps a previous run's id when the Jaccard overlap of their members reaches
    # this (one-to-one, maximal total overlap). 0.3 lets a community that doubled (0.5) or
    # tripled (0.33) keep its id; one that lost most of its members does not.
    stable_id_min_jaccard: float = 0.3
    # Change report: merged = previous communities each sending >= this share of their members
    # into one; split = one previous community making up >= this share of several.
    change_share: float = 0.5
    # Grown / shrunk: size moved by at least max(1, this * previous size) accounts.
    change_size_ratio: float = 0.1
    # Suspicion up / down: suspicion moved by at least this.
    change_suspicion_delta: float = 0.1
    # graphkit share: a value (IP, card, template, operator) becomes an indicator of a flagged
    # community when at least this many of its members used it.
    share_min_accounts: int = 2

    def __post_init__(self) -> None:
        unknown = set(self.signal_weights) - set(SIGNALS)
        if unknown:
            raise ConfigError(f"unknown signal(s) in signal_weights: {sorted(unknown)}")
        if any(w < 0 for w in self.signal_weights.values()):
            raise ConfigError("signal weights must be >= 0")
        if self.minhash_permutations % self.lsh_bands:
            raise ConfigError("minhash_permutations must be a multiple of lsh_bands")
        if self.method not in ("leiden", "leiden-cpm", "components"):
            raise ConfigError(f"unknown community method {self.method!r}")
        for name in ("min_link_score", "flag_threshold", "min_membership", "min_entity_share",
                     "max_entity_fraction", "stable_id_min_jaccard", "change_share",
                     "change_suspicion_delta"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be within [0, 1], got {value}")
        if self.max_candidate_pairs < 1:
            raise ConfigError("max_candidate_pairs must be >= 1")
        if self.sync_window_seconds <= 0 or self.max_entity_degree < 2:
            raise ConfigError("sync_window_seconds must be > 0 and max_entity_degree >= 2")

    def weight(self, signal: str) -> float:
        return float(self.signal_weights.get(signal, 0.0))

    def hub_degree(self, n_accounts: int) -> float:
        """Entities used by more accounts than this are hubs (see ``max_entity_fraction``)."""
        return max(float(self.max_entity_degree), self.max_entity_fraction * n_accounts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown setting(s): {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Settings:
        """Read settings from a JSON file (a manifest's ``settings`` object works too)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read settings: {exc}", file=str(path)) from exc
        if isinstance(data, dict) and "settings" in data:
            data = data["settings"]
        return cls.from_dict(data)


def describe_input(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Name, size and modification time of an input file (enough to notice a changed input)."""
    p = Path(path)
    entry: dict[str, Any] = {"path": str(p)}
    if p.is_file():
        stat = p.stat()
        entry["bytes"] = stat.st_size
        entry["modified"] = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).isoformat()
        if stat.st_size <= 64 * 1024 * 1024:  # hash small files; big ones are named by size/mtime
            entry["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return entry


def write_manifest(
    out_dir: str | os.PathLike[str],
    *,
    command: str,
    settings: Settings | None,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    timings: dict[str, float] | None = None,
    run_id: str | None = None,
) -> Path:
    """Write ``manifest.json`` into ``out_dir``: how to reproduce what lies beside it."""
    from graphkit import __version__

    manifest = {
        "graphkit_version": __version__,
        "command": command,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "settings": settings.to_dict() if settings is not None else None,
        "inputs": inputs,
        "outputs": outputs,
        "timings_seconds": {k: round(v, 3) for k, v in (timings or {}).items()},
    }
    path = Path(out_dir) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return path
