"""Synthetic API request logs with planted coordinated campaigns, for testing detection.

One call of :func:`simulate` writes a 30-day log (2026-09-01 .. 2026-10-01 UTC) of a legitimate
population (home users, carrier-NAT mobile users, offices, commercial-VPN users,
datacenter-hosted apps, proxy reseller customers) mixed with four campaigns modelled on public
distillation cases: a synchronized reasoning-extraction fleet, a diversified fleet, a
very-high-volume agentic-coding fleet and a proxy-reseller "hydra" cluster. See
docs/simulator.md for what each looks like.

Everything is generated vectorized on integer codes; strings are only materialized per row group
while writing, so memory stays around 1 GB per 30M events.

This module orchestrates: the population table, the shared pools, the random streams, the
account tables and the summary. The pieces live next to it: ``params`` (time window, models,
user agents, providers, activity profiles), ``corpora`` (template text), ``strings`` (vectorized
string helpers), ``entities`` (the world's entity tables), ``behaviour`` (timing, addresses,
templates), ``populations`` (legitimate customers), ``campaigns`` (the planted fleets) and
``writer`` (the output files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.errors import ConfigError
from graphkit.progress import Progress, quiet
from graphkit.simulate.behaviour import _Shared, _size
from graphkit.simulate.campaigns import _coding, _diversified, _hydra, _reasoning
from graphkit.simulate.corpora import _CODING_AGENT, _POPULAR_FRAMES, _POPULAR_WORDS
from graphkit.simulate.entities import _Accounts, _World
from graphkit.simulate.params import _NO_BAN, _RELAY, _RESI, _VPN, PRESETS, PROVIDERS, Preset
from graphkit.simulate.populations import (
    _carrier,
    _datacenter,
    _home,
    _office,
    _reseller_customers,
    _vpn,
)
from graphkit.simulate.strings import _ids, _pick
from graphkit.simulate.writer import _iso, _write_csv, _write_events

__all__ = ["PRESETS", "Preset", "SimulationResult", "simulate"]

# (population, generator, accounts at scale 1, events at scale 1, min accounts, min events)
_POPULATIONS = [
    ("home", _home, 56_000, 4_800_000, 40, 300),
    ("carrier_nat", _carrier, 16_000, 900_000, 15, 80),
    ("office", _office, 14_000, 3_300_000, 12, 200),
    ("vpn", _vpn, 8_000, 600_000, 10, 60),
    ("datacenter_app", _datacenter, 1_500, 4_000_000, 3, 300),
    ("reseller_customer", _reseller_customers, 5_000, 400_000, 8, 50),
    ("reasoning_extraction", _reasoning, 1_400, 4_500_000, 6, 400),
    ("diversified", _diversified, 4_800, 4_500_000, 12, 300),
    ("agentic_coding", _coding, 500, 4_000_000, 4, 400),
    ("hydra", _hydra, 300, 2_800_000, 4, 200),  # accounts = live slots
]
_CAMPAIGN_KINDS = {"reasoning_extraction", "diversified", "agentic_coding", "hydra"}
_HYDRA_EXITS_PER_SLOT = 400 / 300  # relay exit addresses per live hydra slot at scale 1


def _shared_pools(rng: np.random.Generator, w: _World, scale: float,
                  relay_scale: float | None = None) -> _Shared:
    """Template and address pools; ``scale`` sizes them with the accounts, ``relay_scale``
    (default ``scale``) the reseller's exit addresses."""
    popular = w.frames(_POPULAR_FRAMES, np.repeat(np.arange(len(_POPULAR_FRAMES)),
                                                  len(_POPULAR_WORDS)),
                       _POPULAR_WORDS * len(_POPULAR_FRAMES))
    popular = rng.permutation(popular)
    zipf = 1.0 / np.arange(1, len(popular) + 1)
    coding = w.frames(_CODING_AGENT)
    # Residential space sized so addresses stay sparse (a few per /24) at any scale.
    w.ipv4(0, space="residential", blocks=max(8, round(200 * scale)))
    carriers = [w.ipv4(_size(scale, 512, 8), space="carrier-a", blocks=1),
                w.ipv4(_size(scale, 256, 8), space="carrier-b", blocks=1),
                w.ipv6(_size(scale, 256, 8), n_prefixes=2),
                w.ipv4(_size(scale, 128, 6), space="carrier-c", blocks=1)]
    vpn = [w.ipv4(_size(scale, s, 4), p, space=PROVIDERS[p], blocks=1)
           for s, p in zip([200, 120, 80, 60], _VPN)]
    # Residential proxies are home connections: their addresses are in the residential space.
    resi = w.ipv4(_size(scale, 6000, 30), _RESI)
    relay_scale = scale if relay_scale is None else relay_scale
    relay = w.ipv4(_size(relay_scale, 400, 10), _RELAY, space=PROVIDERS[_RELAY], blocks=1)
    return _Shared(popular, zipf / zipf.sum(), coding, carriers, vpn, resi, relay)


@dataclass
class SimulationResult:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    out_dir : Path
        The output directory.
    paths : dict of str to Path
        The files written, keyed ``accounts``, ``truth``, ``seeds``, ``successions_truth`` and ``events``.
    n_events, n_accounts : int
        Rows of ``events.parquet`` and of ``accounts.csv``.
    accounts_by_kind, events_by_kind : dict of str to int
        Accounts and events per population kind (legitimate and campaign kinds).
    accounts_by_campaign, events_by_campaign : dict of str to int
        Accounts and events per planted campaign name.
    """

    out_dir: Path
    paths: dict[str, Path]  # events, accounts, truth, seeds
    n_events: int
    n_accounts: int
    accounts_by_kind: dict[str, int]
    events_by_kind: dict[str, int]
    accounts_by_campaign: dict[str, int]
    events_by_campaign: dict[str, int]


@dataclass
class _AccountTables:
    """The account-level output of one world, in account-code order."""

    ids: pa.Array  # account id per account code
    cards: pa.Array  # payment id per card code
    kind: np.ndarray  # block (population) index per account
    is_banned: np.ndarray
    accounts: pa.Table
    truth: pa.Table
    successions: pa.Table  # predecessor, successor: the hydra's replacements


def _preset(name: str | Preset | None, scale: float | None) -> tuple[float, Preset | None]:
    """The events scale and the preset (None: sized by ``scale`` alone, 0.1 by default)."""
    if name is None:
        return (0.1 if scale is None else scale), None
    if isinstance(name, Preset):
        if scale is not None:
            raise ConfigError("give either a preset or a scale, not both")
        return name.events, name
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    if scale is not None:
        raise ConfigError("give either a preset or a scale, not both")
    return PRESETS[name].events, PRESETS[name]


def _checked_dir(out_dir: str | Path, scale: float, seed: int) -> Path:
    """The output directory, after checking ``scale``, ``seed`` and the location."""
    if not isinstance(scale, (int, float)) or not (0 < scale <= 10):
        raise ConfigError(f"scale must be in (0, 10], got {scale!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output location {str(out)!r} exists and is not a directory")
    return out


def _generate(w: _World, streams: list[np.random.SeedSequence], scale: float,
              preset: Preset | None = None) -> None:
    """Shared pools, then every population in ``_POPULATIONS`` order, each on its own stream.

    Without a preset every size follows ``scale``; a preset sizes the legitimate populations'
    accounts and the address pools by ``preset.accounts``, the hydra by its live slots and
    lifetime, and the events (and other campaigns' accounts) by ``scale``.
    """
    if preset is None:
        sh = _shared_pools(np.random.default_rng(streams[1]), w, scale)
    else:
        sh = _shared_pools(np.random.default_rng(streams[1]), w, preset.accounts,
                           relay_scale=preset.hydra_slots * _HYDRA_EXITS_PER_SLOT / 400)
    for (name, gen, n_acc, n_ev, min_acc, min_ev), ss in zip(_POPULATIONS, streams[3:]):
        rng, events = np.random.default_rng(ss), _size(scale, n_ev, min_ev)
        if preset is None:
            gen(rng, w, sh, _size(scale, n_acc, min_acc), events)
        elif name == "hydra":
            gen(rng, w, sh, preset.hydra_slots, events, life_days=preset.hydra_life_days)
        else:
            acc_scale = scale if name in _CAMPAIGN_KINDS else preset.accounts
            gen(rng, w, sh, _size(acc_scale, n_acc, min_acc), events)


def _account_tables(w: _World) -> _AccountTables:
    """Random ids for accounts, cards and orgs, and the accounts and truth tables."""
    ids = _ids(w.rng, w.n_accounts, "", 16)
    cards = _ids(w.rng, w.n_cards, "pm_", 14)
    org_ids = _ids(w.rng, w.n_orgs, "org_", 12)
    blocks = w.blocks
    kind = np.concatenate([np.full(len(b.created), i) for i, b in enumerate(blocks)])
    created = np.concatenate([b.created for b in blocks])
    banned = np.concatenate([b.banned for b in blocks])
    card = np.concatenate([b.card for b in blocks])
    org = np.concatenate([b.org for b in blocks])
    is_banned = banned != _NO_BAN
    org_col = org_ids.take(pa.array(np.where(org >= 0, org, 0)))
    accounts = pa.table({
        "account_id": ids,
        "created_at": _iso(created),
        "payment_id": cards.take(pa.array(card)),
        "email_domain": pa.concat_arrays([b.email for b in blocks]),
        "org_id": pc.if_else(pa.array(org >= 0), org_col, pa.nulls(len(org), pa.string())),
        "status": pc.if_else(pa.array(is_banned), "banned", "active"),
        "banned_at": pc.if_else(pa.array(is_banned), _iso(np.where(is_banned, banned, 0)),
                                pa.nulls(len(org), pa.string())),
    })
    truth = pa.table({
        "account_id": ids,
        "campaign": _pick([b.campaign for b in blocks], kind),
        "actor": _pick([b.actor for b in blocks], kind),
        "kind": _pick([b.kind for b in blocks], kind),
    })
    return _AccountTables(ids, cards, kind, is_banned, accounts, truth,
                          _succession_truth(blocks, ids))


def _succession_truth(blocks: list[_Accounts], ids: pa.Array) -> pa.Table:
    """Banned hydra accounts and the accounts that replaced them (predecessor, successor)."""
    starts = np.cumsum([0] + [len(b.created) for b in blocks])[:-1]
    pred = np.concatenate([np.full(len(b.created), -1, np.int64) if b.predecessor is None
                           else np.where(b.predecessor >= 0, b.predecessor + s0, -1)
                           for b, s0 in zip(blocks, starts)])
    succ = np.flatnonzero(pred >= 0)
    table = pa.table({"predecessor": ids.take(pa.array(pred[succ])),
                      "successor": ids.take(pa.array(succ))})
    return table.sort_by("predecessor")


def _result(w: _World, out: Path, paths: dict[str, Path], kind: np.ndarray, n_events: int,
            ev_per_acc: np.ndarray) -> SimulationResult:
    """Accounts and events per population kind and per campaign."""
    names = [b.kind for b in w.blocks]
    camp = [b.campaign for b in w.blocks]
    by_kind_acc: dict[str, int] = {}
    by_kind_ev: dict[str, int] = {}
    for i, nm in enumerate(names):  # one pass per population block (ten)
        sel = kind == i
        by_kind_acc[nm] = by_kind_acc.get(nm, 0) + int(sel.sum())
        by_kind_ev[nm] = by_kind_ev.get(nm, 0) + int(ev_per_acc[sel].sum())
    return SimulationResult(
        out_dir=out, paths=paths, n_events=n_events, n_accounts=w.n_accounts,
        accounts_by_kind=by_kind_acc, events_by_kind=by_kind_ev,
        accounts_by_campaign={c: by_kind_acc[k] for k, c in zip(names, camp) if c},
        events_by_campaign={c: by_kind_ev[k] for k, c in zip(names, camp) if c},
    )


def simulate(out_dir: str | Path, scale: float | None = None, seed: int = 0,
             prompts: bool = False, progress: Progress | None = None,
             preset: str | Preset | None = None) -> SimulationResult:
    """Write a synthetic 30-day request log with planted campaigns into `out_dir`.

    The log covers 2026-09-01 .. 2026-10-01 UTC: legitimate customers (home, carrier-NAT,
    office, VPN, datacenter-app and proxy-reseller users) and four planted campaigns
    (:data:`CAMPAIGNS`). Every population keeps a minimum size at tiny scales.

    Parameters
    ----------
    out_dir : str or Path
        Output directory; created if missing, existing files of the same names are replaced.
    scale : float, optional
        Size, in (0, 10]: 1.0 is about 30M events and 110k accounts (0.1 when neither `scale`
        nor `preset` is given). Scales events and accounts together.

    seed : int, default 0
        Non-negative random seed. The same `seed` and `scale` give byte-identical files.
    prompts : bool, default False
        Write a generated ``prompt`` column (template text with filled slots and random
        case and whitespace changes) instead of the ``template_hash`` column. Every other
        column is unchanged.
    progress : Progress, optional
        Stage timer and display (stages ``generate``, ``accounts``, ``events``); quiet when
        omitted.
    preset : str or Preset, optional
        A size on every axis (a name in :data:`PRESETS`: ``month``, ``seed``; or a
        :class:`Preset`), instead of `scale`:
        accounts grow with the preset, not only events, and the hydra network has the preset's
        live slots and account lifetime.

    Returns
    -------
    SimulationResult
        The directory, the four file paths and counts of accounts and events per population
        kind and per campaign. Files: ``events.parquet`` (time-ordered), ``accounts.csv``,
        ``truth.csv`` (account_id, campaign, actor, kind) and ``seeds.csv`` (account_id,
        actor: a few accounts per actor that investigators already know) and
        ``successions_truth.csv`` (predecessor, successor: each banned hydra account and the
        account that replaced it).

    Raises
    ------
    ConfigError
        If `scale` is outside (0, 10], `preset` is unknown or given with `scale`, `seed` is
        not a non-negative integer, or `out_dir`
        exists and is not a directory.

    See Also
    --------
    graphkit.cli.simulate : the ``graphkit simulate OUT`` command.

    References
    ----------
    .. [1] docs/simulator.md: what each population and campaign looks like, and why.

    Examples
    --------
    >>> import tempfile
    >>> from graphkit.simulate import simulate
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     res = simulate(tmp, scale=0.0002, seed=1)
    ...     files = sorted(p.name for p in res.paths.values())
    >>> files
    ['accounts.csv', 'events.parquet', 'seeds.csv', 'successions_truth.csv', 'truth.csv']
    >>> sorted(res.accounts_by_kind)[:3]
    ['agentic_coding', 'carrier_nat', 'datacenter_app']
    >>> sorted(res.accounts_by_campaign)
    ['meridian-agents', 'quarry-code', 'relayhub-hydra', 'tessellate-cot']
    >>> res.n_events > 1000
    True
    """
    scale, chosen = _preset(preset, scale)
    out = _checked_dir(out_dir, scale, seed)
    progress = progress or quiet()
    out.mkdir(parents=True, exist_ok=True)
    streams = np.random.SeedSequence(seed).spawn(len(_POPULATIONS) + 3)
    w = _World(np.random.default_rng(streams[0]))
    paths = {name: out / f"{name}.csv"
             for name in ("accounts", "truth", "seeds", "successions_truth")}
    paths["events"] = out / "events.parquet"

    with progress.step("generate"):
        _generate(w, streams, scale, chosen)

    with progress.step("accounts"):
        tables = _account_tables(w)
        order = pc.sort_indices(tables.ids)  # random ids: row order says nothing of populations
        _write_csv(tables.accounts.take(order), paths["accounts"])
        _write_csv(tables.truth.take(order), paths["truth"])
        _write_csv(tables.successions, paths["successions_truth"])

    with progress.step("events"):
        n_events, ev_per_acc = _write_events(w, paths["events"], tables.ids, tables.cards,
                                             prompts,
                                             np.random.default_rng(streams[2].spawn(1)[0]))
        seeds = _seeds(np.random.default_rng(streams[2]), tables.truth, tables.is_banned,
                       ev_per_acc > 0)
        _write_csv(seeds, paths["seeds"])

    return _result(w, out, paths, tables.kind, n_events, ev_per_acc)


def _seeds(rng: np.random.Generator, truth: pa.Table, banned: np.ndarray,
           seen: np.ndarray) -> pa.Table:
    """A few accounts per actor that investigators already attributed: accounts seen in the
    log, banned ones first."""
    df = truth.to_pandas()
    df["banned"] = banned
    df["seen"] = seen
    df["r"] = rng.random(len(df))
    df = df[df["actor"] != ""].sort_values(["actor", "seen", "banned", "r"],
                                           ascending=[True, False, False, True])
    size = df.groupby("actor")["actor"].transform("size")
    k = np.clip(size // 40, 2, 5)
    df = df[df.groupby("actor").cumcount() < k]
    return pa.table({"account_id": df["account_id"].to_numpy(), "actor": df["actor"].to_numpy()})
