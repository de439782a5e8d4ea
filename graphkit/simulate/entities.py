"""The world: entity tables (addresses, cards, organisations, templates, accounts, events)
shared by all populations, held as integer codes until the files are written."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from graphkit.simulate.corpora import (
    _ADJ,
    _APP_NAMES,
    _APP_SUFFIX,
    _NOUN,
    _PERSONAL_FRAMES,
    _PLACE,
    _TLDS,
    _TOPIC,
    _segments_with_word,
)
from graphkit.simulate.params import _NO_BAN, SEC, WINDOW
from graphkit.simulate.strings import _hex_of, _join, _pick


@dataclass
class _Accounts:
    kind: str
    campaign: str
    actor: str
    created: np.ndarray  # int64 ms from window start (negative: before the window)
    card: np.ndarray  # int64 payment code
    email: pa.Array  # email domain per account
    org: np.ndarray  # int64 org code, -1 for none
    banned: np.ndarray  # int64 ms, _NO_BAN when active
    # Local index of the banned account this one replaced (-1: none); hydra chains only.
    predecessor: np.ndarray | None = None


@dataclass
class _World:
    rng: np.random.Generator
    ip_parts: list[pa.Array] = field(default_factory=list)
    ip_provider: list[np.ndarray] = field(default_factory=list)
    n_ips: int = 0
    n_cards: int = 0
    org_domains: list[pa.Array] = field(default_factory=list)
    n_orgs: int = 0
    tpl_segs: list[list[pa.Array]] = field(default_factory=list)
    tpl_slots: list[np.ndarray] = field(default_factory=list)
    tpl_tokens: list[np.ndarray] = field(default_factory=list)
    n_tpl: int = 0
    blocks: list[_Accounts] = field(default_factory=list)
    n_accounts: int = 0
    events: list[dict[str, np.ndarray]] = field(default_factory=list)
    prefixes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    next_prefix: int = 0
    spaces: dict[str, np.ndarray] = field(default_factory=dict)
    used: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        first = np.repeat(np.arange(1, 224), 256)
        second = np.tile(np.arange(256), 223)
        private = np.isin(first, [10, 100, 127, 169, 172, 192, 198, 203])
        self.prefixes = self.rng.permutation(((first << 8) | second)[~private]).astype(np.uint32)

    # IP addresses ---------------------------------------------------------------------------
    def _add_ips(self, strings: pa.Array, provider: int | np.ndarray) -> np.ndarray:
        codes = np.arange(self.n_ips, self.n_ips + len(strings))
        self.ip_parts.append(strings)
        self.ip_provider.append(np.broadcast_to(np.asarray(provider, np.int8), len(strings)))
        self.n_ips += len(strings)
        return codes

    def ipv4(self, n: int, provider: int = -1, space: str = "residential",
             blocks: int = 2) -> np.ndarray:
        """``n`` new distinct IPv4 addresses drawn uniformly from the /16 blocks of the address
        space ``space`` (given ``blocks`` /16s on first use). Every population draws its home
        and office addresses from one residential space, and a provider's tenants share its
        blocks, so no population sits in address blocks of its own."""
        if space not in self.spaces:
            self.spaces[space] = self.prefixes[self.next_prefix:self.next_prefix + blocks]
            self.next_prefix += blocks
        pool = self.spaces[space].astype(np.uint64)
        used = self.used.get(space, np.zeros(0, np.uint64))
        out = np.zeros(0, np.uint64)
        while len(out) < n:  # a few rounds at most: candidates rarely collide
            k = (n - len(out)) * 5 // 4 + 16
            cand = ((pool[self.rng.integers(0, len(pool), k)] << np.uint64(16))
                    | self.rng.integers(256, 65280, k).astype(np.uint64))
            cand = cand[(cand % np.uint64(256) != 0) & (cand % np.uint64(256) != 255)]
            cand = cand[~np.isin(cand, used) & ~np.isin(cand, out)]
            _, idx = np.unique(cand, return_index=True)
            out = np.concatenate([out, cand[np.sort(idx)]])[:n]
        self.used[space] = np.concatenate([used, out])
        octets = [pa.array((out >> np.uint64(b)) & np.uint64(255)).cast(pa.string())
                  for b in (24, 16, 8, 0)]
        return self._add_ips(pc.binary_join_element_wise(*octets, "."), provider)

    def ipv6(self, n: int, provider: int = -1, n_prefixes: int = 1) -> np.ndarray:
        """``n`` new IPv6 addresses in ``n_prefixes`` random /48 networks."""
        groups = np.empty((n, 8), np.uint64)
        nets = self.rng.integers(0, 65536, size=(max(1, n_prefixes), 3), dtype=np.uint64)
        nets[:, 0] = 0x2A00 + nets[:, 0] % 16
        groups[:, :3] = nets[self.rng.integers(0, len(nets), size=n)]
        groups[:, 3:] = self.rng.integers(0, 65536, size=(n, 5), dtype=np.uint64)
        parts = []
        for g in range(8):
            hexed = _hex_of(groups[:, g], 4)
            parts.append(pc.if_else(pc.equal(hexed, "0000"), "0", pc.utf8_ltrim(hexed, "0")))
        return self._add_ips(pc.binary_join_element_wise(*parts, ":"), provider)

    # payment methods, orgs, templates ---------------------------------------------------
    def cards(self, n: int) -> np.ndarray:
        codes = np.arange(self.n_cards, self.n_cards + n)
        self.n_cards += n
        return codes

    def orgs(self, n: int) -> tuple[np.ndarray, pa.Array]:
        """``n`` new organisations; returns their codes and email domains."""
        r = self.rng
        names = _join(_pick(_APP_NAMES, r.integers(0, len(_APP_NAMES), n)),
                      _pick(_APP_SUFFIX, r.integers(0, len(_APP_SUFFIX), n)))
        dom = _join(pc.utf8_lower(pc.replace_substring(names, " ", "")),
                    _pick(_TLDS, r.integers(0, len(_TLDS), n)))
        self.org_domains.append(dom)
        codes = np.arange(self.n_orgs, self.n_orgs + n)
        self.n_orgs += n
        return codes, dom

    def templates(self, segs: list[pa.Array], slots: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        codes = np.arange(self.n_tpl, self.n_tpl + len(slots))
        self.tpl_segs.append(segs)
        self.tpl_slots.append(slots.astype(np.int8))
        self.tpl_tokens.append(tokens.astype(np.int32))
        self.n_tpl += len(slots)
        return codes

    def frames(self, frames: list[str], frame_idx: np.ndarray | None = None,
               words: list[str] | pa.Array | None = None) -> np.ndarray:
        """Templates from ``frames`` (with ``{w}`` filled per template from ``words``)."""
        if frame_idx is None:
            frame_idx = np.arange(len(frames))
        if words is None:
            words = pa.array([""] * len(frame_idx))
        elif isinstance(words, list):
            words = pa.array(words)
        segs, slots = _segments_with_word(frames, frame_idx, words)
        tokens = pc.divide(pc.utf8_length(_join(*segs)), 4).to_numpy() + 8
        return self.templates(segs, slots, tokens + self.rng.integers(0, 40, len(slots)))

    def personal_templates(self, n: int) -> np.ndarray:
        r = self.rng
        words = pc.utf8_trim_whitespace(pc.binary_join_element_wise(
            _pick(_ADJ, r.integers(0, len(_ADJ), n)), _pick(_NOUN, r.integers(0, len(_NOUN), n)),
            _pick(_TOPIC, r.integers(0, len(_TOPIC), n)),
            _pick(_PLACE, r.integers(0, len(_PLACE), n)), " "))
        return self.frames(_PERSONAL_FRAMES, r.integers(0, len(_PERSONAL_FRAMES), n), words)

    # accounts and events ------------------------------------------------------------------
    def accounts(self, block: _Accounts) -> int:
        """Registers a block of accounts; returns the global code of its first account."""
        start = self.n_accounts
        # Whole seconds, as accounts.csv states them, so no event precedes its creation or
        # follows its ban by a fraction of a second.
        block.created = block.created // SEC * SEC
        block.banned = np.where(block.banned == _NO_BAN, _NO_BAN, block.banned // SEC * SEC)
        self.blocks.append(block)
        self.n_accounts += len(block.created)
        return start

    def emit(self, first: int, acc: np.ndarray, ts: np.ndarray, ip: np.ndarray,
             tpl: np.ndarray, ua: np.ndarray, model: np.ndarray, tok_in: np.ndarray,
             tok_out: np.ndarray) -> None:
        """Adds events of one block (``acc`` local to the block starting at ``first``)."""
        block = self.blocks[-1]
        keep = (ts >= np.maximum(block.created[acc], 0)) & (ts < block.banned[acc]) & (ts < WINDOW)
        self.events.append({
            "acc": (acc[keep] + first).astype(np.int32), "ts": ts[keep].astype(np.int64),
            "ip": ip[keep].astype(np.int32), "tpl": tpl[keep].astype(np.int32),
            "ua": ua[keep].astype(np.uint8), "model": model[keep].astype(np.uint8),
            "tin": tok_in[keep].astype(np.int32), "tout": tok_out[keep].astype(np.int32),
        })
