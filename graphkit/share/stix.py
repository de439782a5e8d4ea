"""Flagged communities as a STIX 2.1 bundle, and back.

:func:`write_bundle` turns a ``detect`` result directory into a bundle of

* one **Identity** (the producer, ``--producer``, default "graphkit");
* per flagged community, **Indicators** for the values at least
  ``Settings.share_min_accounts`` (2) of its members used, read from DIR/graph:

  ========================  =======================================================  ==========
  kind                      STIX pattern                                             from edge
  ========================  =======================================================  ==========
  ``ip``                    ``[ipv4-addr:value = '203.0.113.7']`` (ipv6-addr for     USED_IP
                            IPv6; a network key stays CIDR, e.g. '10.0.0.0/24')
  ``payment_sha256``        ``[x-graphkit-payment:fingerprint_sha256 = '<hex>']``    PAID_WITH
                            (SHA-256 of the payment id: card ids never leave)
  ``template``              ``[x-graphkit-template:hash = '<template hash>']``        SENT
  ``proxy_operator``        ``[x-graphkit-proxy-operator:name = 'RelayHub']``        USED_IP ->
                                                                                     OPERATED_BY
  ``ip_hmac`` /             ``[x-graphkit-ip:value_hmac_sha256 = '<hex>']`` /        with
  ``payment_hmac``          ``[x-graphkit-payment:fingerprint_hmac_sha256 = ...]``   --pseudonymize
  ========================  =======================================================  ==========

  Custom observable types (``x-graphkit-*``) are what stix2's pattern validator accepts for
  things STIX has no type for; each Indicator also carries ``x_graphkit_kind`` and
  ``x_graphkit_value`` so a reader need not parse the pattern;
* per flagged community, a **Grouping** (context ``suspicious-activity``) whose
  ``object_refs`` are its indicators, ``description`` its evidence lines (one per line) and
  custom properties ``x_graphkit_community_id``, ``x_graphkit_suspicion``,
  ``x_graphkit_actor``.

``pseudonymize=True`` replaces IP addresses and payment ids by HMAC-SHA256 under the key in
the environment variable ``GRAPHKIT_PSEUDONYM_KEY`` (a :class:`ConfigError` when it is unset;
:mod:`graphkit.io.pseudonyms`): a partner holding the same key can match its own logs, nobody
else can reverse them. A result whose IPs or payment ids were already pseudonymized at ingest
(``detect --pseudonymize ip,payment``) shares them as the same ``ip_hmac`` / ``payment_hmac``
digests, with or without ``pseudonymize``.

Ids are UUIDv5 of the content (producer, run id, community id, kind, value) and every
timestamp is the result's ``manifest.json`` ``created_at``: sharing the same directory twice
gives byte-identical bundles.

:func:`read_indicators` parses a bundle (with ``stix2.parse``) back into rows ``actor, kind,
value, community_id``; :func:`match_indicators` finds the accounts of a graph that used any of
those values.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from pathlib import Path

import pandas as pd

from graphkit import registry
from graphkit.errors import ConfigError, InputError
from graphkit.io.outputs import DETECT_FILES, atomic_file, verify_result_dir
from graphkit.io.pseudonyms import KEY_ENV, hmac_hex, pseudonym_key, strip_pseudonym
from graphkit.io.tables import read_csv_strings
from graphkit.settings import Settings

_NS = uuid.UUID("6f1d8c3e-2b1a-5c7e-9a55-0c1f6b2d4e17")  # graphkit's STIX id namespace
KINDS = ("ip", "ip_hmac", "payment_sha256", "payment_hmac", "template", "proxy_operator")
# Registry kinds whose values can be shared as indicators (proxy operators through the IPs).
SHARED_KINDS = ("ip", "payment", "template", "proxy")


def _sha(values: pd.Series) -> pd.Series:
    return values.map(lambda v: hashlib.sha256(str(v).encode()).hexdigest())


def _stix_str(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def _pattern(kind: str, value: str) -> str:
    v = _stix_str(value)
    if kind == "ip":
        try:
            version = ipaddress.ip_network(value, strict=False).version
        except ValueError:
            version = 4
        return f"[ipv{version}-addr:value = '{v}']"
    return {"ip_hmac": f"[x-graphkit-ip:value_hmac_sha256 = '{v}']",
            "payment_sha256": f"[x-graphkit-payment:fingerprint_sha256 = '{v}']",
            "payment_hmac": f"[x-graphkit-payment:fingerprint_hmac_sha256 = '{v}']",
            "template": f"[x-graphkit-template:hash = '{v}']",
            "proxy_operator": f"[x-graphkit-proxy-operator:name = '{v}']"}[kind]


def account_values(graph) -> pd.DataFrame:
    """Every (account_id, kind, raw value) the graph records: IPs, payment ids, templates and
    proxy operators (through the operators of the account's IPs). Raw, not yet hashed."""
    ids = graph.accounts["account_id"].astype(str).to_numpy()
    parts = []
    for name in SHARED_KINDS:
        k = registry.kind(name)
        inc = graph.account_incidence(k.label)
        if inc is None:
            continue
        coo = inc.tocoo()
        keys = graph.nodes[k.label]["key"].astype(str).to_numpy()
        parts.append(pd.DataFrame({"account_id": ids[coo.row], "kind": name,
                                   "raw": keys[coo.col]}))
    if not parts:
        return pd.DataFrame(columns=["account_id", "kind", "raw"])
    return pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)


def _encode(values: pd.DataFrame, key: bytes | None,
            pseudonymized: tuple[str, ...] = ()) -> pd.DataFrame:
    """Add ``kind`` (the indicator kind) and ``value`` (as shared) to (kind, raw) rows.

    Kinds in ``pseudonymized`` hold ``kind:<hmac>`` pseudonyms already (ingest
    pseudonymization): they are shared as their bare HMAC digests."""
    out = values.copy()
    kind = out["kind"].to_numpy()
    value = out["raw"].astype(str).copy()
    hashed = {k: bool(key) or k in pseudonymized for k in ("ip", "payment")}
    new_kind = pd.Series(kind, index=out.index).map(
        {"ip": "ip_hmac" if hashed["ip"] else "ip",
         "payment": "payment_hmac" if hashed["payment"] else "payment_sha256",
         "template": "template", "proxy": "proxy_operator"})
    for raw_kind in ("ip", "payment"):
        sel = kind == raw_kind
        if not sel.any():
            continue
        if raw_kind in pseudonymized:
            value[sel] = strip_pseudonym(value[sel], raw_kind)
        elif key:
            value[sel] = hmac_hex(value[sel].to_numpy(object), key)
        elif raw_kind == "payment":
            value[sel] = _sha(value[sel])
    out["kind"], out["value"] = new_kind.to_numpy(), value.to_numpy()
    return out


def _load_result(result_dir: str | Path):
    from graphkit.graph.hetero import HeteroGraph

    d = Path(result_dir)
    if not d.is_dir():
        raise ConfigError("result directory not found", file=str(d))
    manifest = verify_result_dir(d, required=DETECT_FILES)
    if not (d / "graph").is_dir():
        raise InputError("result directory has no graph/ (written by detect)", file=str(d))
    accounts = read_csv_strings(d / "accounts.csv")
    communities = read_csv_strings(d / "communities.csv")
    communities["actor"] = communities["actor"].astype("string")
    return manifest, accounts, communities, HeteroGraph.load(d / "graph")


def community_indicators(accounts: pd.DataFrame, communities: pd.DataFrame, graph,
                         key: bytes | None, min_accounts: int,
                         pseudonymized: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per flagged community, values used by >= ``min_accounts`` members: community_id, kind,
    value, raw, n_accounts (``pseudonymized``: the kinds pseudonymized at ingest)."""
    flagged = communities[communities["flagged"].astype(bool)]
    members = accounts[accounts["community_id"].isin(flagged["community_id"])][
        ["account_id", "community_id"]]
    vals = account_values(graph).merge(members, on="account_id")
    counts = (vals.groupby(["community_id", "kind", "raw"], sort=True)["account_id"].nunique()
              .reset_index(name="n_accounts"))
    counts = counts[counts["n_accounts"] >= min_accounts]
    return _encode(counts, key, pseudonymized).reset_index(drop=True)


def build_bundle(result_dir: str | Path, *, producer: str = "graphkit",
                 pseudonymize: bool = False):
    """The STIX 2.1 bundle (a ``stix2.Bundle``) of ``result_dir``'s flagged communities."""
    import stix2

    key = pseudonym_key() if pseudonymize else None
    manifest, accounts, communities, graph = _load_result(result_dir)
    settings = Settings.from_dict(manifest.get("settings") or {})
    created = manifest.get("created_at") or "1970-01-01T00:00:00+00:00"
    stamp = pd.Timestamp(created).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z")
    run_id = str(manifest.get("run_id"))
    ind = community_indicators(accounts, communities, graph, key, settings.share_min_accounts,
                               settings.pseudonymize)

    def uid(kind: str, *parts) -> str:
        return f"{kind}--{uuid.uuid5(_NS, '|'.join(map(str, (producer, run_id, *parts))))}"

    identity = stix2.Identity(id=uid("identity"), name=producer, identity_class="system",
                              created=stamp, modified=stamp)
    objects: list = [identity]
    flagged = communities[communities["flagged"].astype(bool)].sort_values("community_id")
    size = flagged.set_index("community_id")["size"]
    by_comm = dict(tuple(ind.groupby("community_id", sort=True)))
    for _, row in flagged.iterrows():  # one Grouping per flagged community (a handful)
        cid = int(row["community_id"])
        actor = row["actor"] if isinstance(row["actor"], str) else None
        refs = []
        rows = by_comm.get(cid, pd.DataFrame(columns=["kind", "value", "n_accounts"]))
        for kind, value, n in zip(rows["kind"], rows["value"], rows["n_accounts"]):
            i = stix2.Indicator(
                id=uid("indicator", cid, kind, value), created=stamp, modified=stamp,
                valid_from=stamp, created_by_ref=identity.id, pattern_type="stix",
                pattern=_pattern(kind, value), indicator_types=["anomalous-activity"],
                name=f"{kind} {value}",
                description=f"used by {int(n)} of the {int(size[cid])} accounts of community "
                            f"{cid}" + (f" ({actor})" if actor else ""),
                x_graphkit_kind=kind, x_graphkit_value=str(value), allow_custom=True)
            objects.append(i)
            refs.append(i.id)
        if not refs:  # a Grouping needs at least one reference
            refs = [identity.id]
        evidence = row["evidence"] if isinstance(row["evidence"], str) else ""
        props = {"x_graphkit_community_id": cid,
                 "x_graphkit_suspicion": float(row["suspicion"])}
        if actor:
            props["x_graphkit_actor"] = actor
        objects.append(stix2.Grouping(
            id=uid("grouping", cid), created=stamp, modified=stamp, created_by_ref=identity.id,
            name=f"graphkit community {cid}" + (f" ({actor})" if actor else ""),
            context="suspicious-activity", object_refs=refs,
            description="\n".join(s.strip() for s in evidence.split(";") if s.strip()),
            allow_custom=True, **props))
    bundle_id = uid("bundle", pseudonymize, *[o.id for o in objects])
    return stix2.Bundle(objects=objects, id=bundle_id, allow_custom=True)


def write_bundle(result_dir: str | Path, out: str | Path, *, producer: str = "graphkit",
                 pseudonymize: bool = False) -> dict[str, int]:
    """Write the bundle as JSON to ``out``; returns counts of groupings and indicators."""
    bundle = build_bundle(result_dir, producer=producer, pseudonymize=pseudonymize)
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the bundle's directory: {exc.strerror}",
                          file=str(path.parent)) from exc
    with atomic_file(path) as tmp:
        try:
            tmp.write_text(bundle.serialize(pretty=True) + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write bundle: {exc.strerror}", file=str(path)) from exc
    types = pd.Series([o.type for o in bundle.objects]).value_counts()
    return {"groupings": int(types.get("grouping", 0)),
            "indicators": int(types.get("indicator", 0))}


_PATTERN = re.compile(r"^\[([a-z0-9-]+):([a-z0-9_]+) = '((?:[^'\\]|\\.)*)'\]$")
_PATTERN_KIND = {("ipv4-addr", "value"): "ip", ("ipv6-addr", "value"): "ip",
                 ("x-graphkit-ip", "value_hmac_sha256"): "ip_hmac",
                 ("x-graphkit-payment", "fingerprint_sha256"): "payment_sha256",
                 ("x-graphkit-payment", "fingerprint_hmac_sha256"): "payment_hmac",
                 ("x-graphkit-template", "hash"): "template",
                 ("x-graphkit-proxy-operator", "name"): "proxy_operator"}


def read_indicators(path: str | Path) -> pd.DataFrame:
    """Indicator rows ``actor, kind, value, community_id`` from a STIX bundle file.

    The actor is the enclosing Grouping's ``x_graphkit_actor`` (else its name); indicators in
    no grouping get their own name as actor. Kinds are those of the module docstring; patterns
    of other forms are skipped."""
    import stix2

    p = Path(path)
    try:
        bundle = stix2.parse(p.read_text(encoding="utf-8"), allow_custom=True)
    except OSError as exc:
        raise ConfigError(f"cannot read bundle: {exc.strerror}", file=str(p)) from exc
    except Exception as exc:  # stix2 raises many kinds of parse errors
        raise InputError(f"not a STIX 2.1 bundle: {exc}", file=str(p)) from exc
    objects = getattr(bundle, "objects", None) or [bundle]
    owner: dict[str, tuple[str | None, int | None]] = {}
    for o in objects:
        if o.type == "grouping":
            actor = o.get("x_graphkit_actor") or o.get("name")
            for ref in o.object_refs:
                owner.setdefault(ref, (actor, o.get("x_graphkit_community_id")))
    rows = []
    for o in objects:
        if o.type != "indicator":
            continue
        kind, value = o.get("x_graphkit_kind"), o.get("x_graphkit_value")
        if kind is None or value is None:
            m = _PATTERN.match(o.pattern.strip())
            if not m or (m.group(1), m.group(2)) not in _PATTERN_KIND:
                continue
            kind = _PATTERN_KIND[(m.group(1), m.group(2))]
            value = re.sub(r"\\(.)", r"\1", m.group(3))
        actor, cid = owner.get(o.id, (o.get("name"), None))
        rows.append({"actor": actor, "kind": kind, "value": value, "community_id": cid})
    out = pd.DataFrame(rows, columns=["actor", "kind", "value", "community_id"])
    out["community_id"] = pd.array(out["community_id"], dtype="Int64")
    return out


def match_indicators(indicators: pd.DataFrame, graph, *, key: bytes | None = None
                     ) -> pd.DataFrame:
    """Accounts of ``graph`` (a HeteroGraph or a graph directory, e.g. DIR/graph) that used any
    indicator value: ``account_id, actor, kind, value``. HMAC kinds need the key (``key`` or
    the environment variable); without it they match nothing."""
    from graphkit.graph.hetero import HeteroGraph

    if not isinstance(graph, HeteroGraph):
        graph = HeteroGraph.load(graph)
    if key is None and indicators["kind"].isin(["ip_hmac", "payment_hmac"]).any():
        key = pseudonym_key(required=False)
    vals = account_values(graph)
    encoded = [_encode(vals, None)]
    if key:
        hashed = _encode(vals[vals["kind"].isin(["ip", "payment"])], key)
        encoded.append(hashed)
    enc = pd.concat(encoded, ignore_index=True)[["account_id", "kind", "value"]]
    out = enc.merge(indicators[["actor", "kind", "value"]].drop_duplicates(),
                    on=["kind", "value"])
    return (out[["account_id", "actor", "kind", "value"]].drop_duplicates()
            .sort_values(["account_id", "kind", "value"], ignore_index=True))


__all__ = ["KEY_ENV", "KINDS", "build_bundle", "community_indicators", "match_indicators",
           "read_indicators", "write_bundle"]
