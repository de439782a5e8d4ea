"""Writing the simulated world: timestamps, template hashes or generated prompt text, CSV
tables and the time-ordered events parquet file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from graphkit.simulate.corpora import _QUOTED
from graphkit.simulate.entities import _World
from graphkit.simulate.params import _CHUNK, _T0_MS, MODELS, PROVIDERS, USER_AGENTS, WINDOW_START
from graphkit.simulate.strings import _hex_of, _join, _pick


def _fill(rng: np.random.Generator, slot: np.ndarray) -> pa.Array:
    """One slot filling per row: number, quoted string, hex id, or nothing."""
    n = len(slot)
    ints = rng.integers(1, 5000, n)
    num = pa.array(ints).cast(pa.string())
    dec = _join(num, ".", pa.array(rng.integers(0, 10, n)).cast(pa.string()))
    num = pc.if_else(pa.array(rng.random(n) < 0.15), dec, num)
    quoted = _join('"', _pick(_QUOTED, rng.integers(0, len(_QUOTED), n)), '"')
    # ids: 16 hex digits, starting with a letter then a digit, so they never read as a word
    # or as a number.
    raw = rng.integers(0, 2**63 - 1, n, dtype=np.int64).astype(np.uint64)
    raw &= np.uint64(0x00FFFFFFFFFFFFFF)
    raw |= rng.integers(10, 16, n).astype(np.uint64) << np.uint64(60)
    raw |= rng.integers(0, 10, n).astype(np.uint64) << np.uint64(56)
    hexes = _hex_of(raw, 16)
    s = pa.array(slot)
    return pc.case_when(pc.make_struct(pc.equal(s, 1), pc.equal(s, 2), pc.equal(s, 3)),
                        num, quoted, hexes, "")


def _prompts(rng: np.random.Generator, segs: list[pa.Array], slots: np.ndarray,
             tpl: pa.Array) -> pa.Array:
    """Prompt text per row: the template's literal text with slots filled, then random case
    and whitespace changes that a normalizer has to undo."""
    parts: list[pa.Array] = [segs[0].take(tpl)]
    for k in range(4):
        parts += [_fill(rng, slots[:, k][tpl.to_numpy()]), segs[k + 1].take(tpl)]
    text = _join(*parts)
    n = len(text)
    u = rng.random(n)
    text = pc.if_else(pa.array(u < 0.1), pc.utf8_lower(text), text)
    text = pc.if_else(pa.array((u >= 0.1) & (u < 0.15)), pc.utf8_upper(text), text)
    text = pc.if_else(pa.array((u >= 0.15) & (u < 0.2)), pc.utf8_swapcase(text), text)
    v = rng.random(n)
    text = pc.if_else(pa.array(v < 0.15), pc.replace_substring(text, " ", "  ",
                                                               max_replacements=2), text)
    text = pc.if_else(pa.array((v >= 0.15) & (v < 0.25)), _join(text, "\n"), text)
    text = pc.if_else(pa.array((v >= 0.25) & (v < 0.3)), _join("  ", text), text)
    return pc.if_else(pa.array((v >= 0.3) & (v < 0.35)),
                      pc.replace_substring(text, " ", "\n", max_replacements=1), text)


def _template_keys(segs: list[pa.Array], slots: np.ndarray) -> pa.Array:
    """Template hash: 16 hex digits of a hash of the canonical (slotted) text, so two
    templates with the same text share a hash."""
    marks = ["", "<num>", "<str>", "<id>"]
    parts: list[pa.Array] = [segs[0]]
    for k in range(4):
        parts += [_pick(marks, slots[:, k]), segs[k + 1]]
    canon = pc.utf8_lower(_join(*parts)).to_numpy(zero_copy_only=False)
    return _hex_of(pd.util.hash_array(canon.astype(object)), 16)


def _iso(ms: np.ndarray) -> pa.Array:
    dt = (WINDOW_START + ms.astype("timedelta64[ms]")).astype("datetime64[s]")
    return pa.array(np.char.add(np.datetime_as_string(dt), "Z"))


def _write_csv(table: pa.Table, path: Path) -> None:
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def _events_schema(text_col: str) -> pa.Schema:
    """Columns of events.parquet; ``text_col`` is ``template_hash`` or ``prompt``."""
    return pa.schema([
        ("account_id", pa.string()), ("ts", pa.timestamp("ms", tz="UTC")), ("ip", pa.string()),
        ("payment_id", pa.string()), ("proxy_provider", pa.string()), (text_col, pa.string()),
        ("user_agent", pa.string()), ("model", pa.string()), ("tokens_in", pa.int64()),
        ("tokens_out", pa.int64()),
    ])


def _event_columns(w: _World) -> dict[str, np.ndarray]:
    """The world's event parts as one array per column, freeing the parts on the way."""
    cols = {}
    for k in list(w.events[0]):  # concatenate column by column, freeing the parts
        cols[k] = np.concatenate([e.pop(k) for e in w.events])
    w.events.clear()
    return cols


def _write_events(w: _World, path: Path, ids: pa.Array, cards: pa.Array, prompts: bool,
                  rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """Writes the events in time order, one row group per chunk; returns the number of
    events and the events per account."""
    cols = _event_columns(w)
    order = np.argsort(cols["ts"], kind="stable")
    card_of = pa.array(np.concatenate([b.card for b in w.blocks]))
    ips = pa.concat_arrays(w.ip_parts)
    ip_prov = np.concatenate(w.ip_provider).astype(np.int64)
    providers = pa.array(PROVIDERS + [None], pa.string())
    ip_prov = pa.array(np.where(ip_prov < 0, len(PROVIDERS), ip_prov))
    segs = [pa.concat_arrays([s[k] for s in w.tpl_segs]) for k in range(5)]
    slots = np.concatenate(w.tpl_slots)
    keys = None if prompts else _template_keys(segs, slots)
    uas, models = pa.array(USER_AGENTS), pa.array(MODELS)
    schema = _events_schema("prompt" if prompts else "template_hash")
    n = len(order)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for lo in range(0, n, _CHUNK):
            idx = order[lo:lo + _CHUNK]
            acc = pa.array(cols["acc"][idx])
            ip = pa.array(cols["ip"][idx])
            tpl = pa.array(cols["tpl"][idx])
            text = _prompts(rng, segs, slots, tpl) if prompts else keys.take(tpl)
            writer.write_table(pa.table([
                ids.take(acc),
                pa.array(cols["ts"][idx] + _T0_MS, pa.timestamp("ms", tz="UTC")),
                ips.take(ip),
                cards.take(card_of.take(acc)),
                providers.take(ip_prov.take(ip)),
                text,
                uas.take(pa.array(cols["ua"][idx])),
                models.take(pa.array(cols["model"][idx])),
                pa.array(cols["tin"][idx].astype(np.int64)),
                pa.array(cols["tout"][idx].astype(np.int64)),
            ], schema=schema))
    return n, np.bincount(cols["acc"], minlength=w.n_accounts)
