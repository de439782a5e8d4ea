"""The registry: every identifier kind, signal, node label and relationship type, declared once.

Each stage reads this module instead of keeping its own table: ingest (which columns hold
identifiers), the graph (node and edge types), link scoring (which kinds propose candidate
pairs and which only corroborate), evidence lines and the communities' "top shared" columns,
the Neo4j export and bulk import (labels, keys, relationship types, the uniqueness
constraints) and the Cypher kit. In the spirit of Splink's comparison library, an entry is
declarative: it says what a kind is called everywhere, how much a shared value weighs by
default and how it is explained; the code that uses it is generic.

Adding an identifier kind is one :class:`Kind` entry in :data:`KINDS`. Labels and relationship
types are the whitelist from which Cypher text is built (data only travels as parameters);
:func:`check_identifier` guards every name that reaches Cypher.

>>> [k.name for k in signal_kinds()]
['ip', 'payment', 'template', 'proxy', 'user_agent']
>>> SIGNALS
('ip', 'payment', 'template', 'proxy', 'user_agent', 'synchrony')
>>> kind("payment").rel, kind("payment").label
('PAID_WITH', 'PaymentMethod')
>>> EDGE_TYPES["OPERATED_BY"]
('IP', 'ProxyProvider', 'proxy_provider')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from graphkit.errors import ConfigError

Role = Literal["specific", "supporting", "context"]


@dataclass(frozen=True)
class Kind:
    """One identifier kind: a value that accounts can share.

    Attributes
    ----------
    name : str
        The signal name (a ``links.csv`` column, a key of ``Settings.signal_weights``).
    column : str
        The canonical input column that carries the value.
    label : str
        Node label in the graph and in Neo4j.
    key : str
        The node's key property in Neo4j (unique per label).
    rel : str
        Relationship type from ``source`` to the entity.
    weight : float
        Default evidence weight of a shared value (``Settings.signal_weights``).
    role : {"specific", "supporting", "context"}
        ``specific``: a shared value alone proposes a candidate link and counts as footprint
        evidence (an IP, a card, a template). ``supporting``: shared by many unrelated
        customers by design (a proxy operator, an SDK's user agent); scored on candidates only
        and counted only as far as specific evidence corroborates it. ``context``: in the graph
        and the export, never a link signal (the models an account calls).
    source : str
        Label of the node the relationship starts from (``Account`` except for entities that
        hang off another entity, such as the operator of an IP).
    optional : bool
        The node type exists only when the input carries the column.
    top_column : str or None
        The ``communities.csv`` column listing the values most members share.
    noun : str
        How evidence lines name the values ("payment methods").
    title : str
        One value's name in reports and figure legends ("payment method").
    colour : str
        Node colour in reports, the palette of the Neo4j Browser style (cypher/graphkit.grass).
    """

    name: str
    column: str
    label: str
    key: str
    rel: str
    weight: float
    role: Role
    noun: str
    title: str
    colour: str
    source: str = "Account"
    optional: bool = False
    top_column: str | None = None

    @property
    def is_signal(self) -> bool:
        return self.role != "context"


# Order matters: it is the column order of links.csv and the edge order of the graph.
KINDS: tuple[Kind, ...] = (
    Kind("ip", "ip", "IP", "ip", "USED_IP", 1.5, "specific", "IP addresses", "IP address",
         "#57C7E3", top_column="top_ips"),
    Kind("payment", "payment_id", "PaymentMethod", "payment_id", "PAID_WITH", 3.0, "specific",
         "payment methods", "payment method", "#FFC454", top_column="top_payment_methods"),
    Kind("template", "template_hash", "PromptTemplate", "template_hash", "SENT", 2.0, "specific",
         "prompt templates", "prompt template", "#8DCC93", top_column="top_templates"),
    Kind("proxy", "proxy_provider", "ProxyProvider", "name", "OPERATED_BY", 0.2, "supporting",
         "proxy providers", "proxy provider", "#DA7194", source="IP",
         top_column="top_proxy_providers"),
    Kind("user_agent", "user_agent", "UserAgent", "user_agent", "USED_AGENT", 0.3, "supporting",
         "user agents", "user agent", "#C990C0", optional=True),
    Kind("model", "model", "Model", "name", "CALLED", 0.0, "context", "models", "model",
         "#569480", optional=True),
)

# Behavioural signals: evidence from how accounts act, not from a shared value.
BEHAVIOURAL_SIGNALS: dict[str, float] = {"synchrony": 3.0}

ACCOUNT_LABEL = "Account"
ACCOUNT_KEY = "account_id"
ACCOUNT_COLOUR = "#4C8EDA"
COMMUNITY_LABEL = "Community"
COMMUNITY_KEY = "community_id"  # unique together with run_id
# Relationships the detection adds on top of the heterogeneous graph.
DETECTION_RELS: dict[str, tuple[str, str]] = {
    "SIMILAR_TO": (ACCOUNT_LABEL, ACCOUNT_LABEL),
    "MEMBER_OF": (ACCOUNT_LABEL, COMMUNITY_LABEL),
}


def kind(name: str) -> Kind:
    """The kind called ``name``; :class:`~graphkit.errors.ConfigError` when there is none."""
    for k in KINDS:
        if k.name == name:
            return k
    raise ConfigError(f"unknown identifier kind {name!r}; known: {[k.name for k in KINDS]}")


def kind_of_label(label: str) -> Kind:
    """The kind whose nodes carry ``label``; :class:`~graphkit.errors.ConfigError` when none."""
    for k in KINDS:
        if k.label == label:
            return k
    raise ConfigError(f"no identifier kind has the label {label!r}")


def signal_kinds(role: Role | None = None) -> tuple[Kind, ...]:
    """Kinds that are link signals (optionally of one role), in registry order."""
    return tuple(k for k in KINDS if k.is_signal and (role is None or k.role == role))


def default_signal_weights() -> dict[str, float]:
    """``Settings.signal_weights`` default: each signal kind's weight, then behavioural ones."""
    return {**{k.name: k.weight for k in signal_kinds()}, **BEHAVIOURAL_SIGNALS}


# Every link signal, in links.csv column order.
SIGNALS: tuple[str, ...] = (*(k.name for k in signal_kinds()), *BEHAVIOURAL_SIGNALS)
# Entity signals and the kinds that propose candidates on their own / only corroborate.
ENTITY_SIGNALS: tuple[str, ...] = tuple(k.name for k in signal_kinds())
SPECIFIC_SIGNALS: tuple[str, ...] = tuple(k.name for k in signal_kinds("specific"))
SUPPORTING_SIGNALS: tuple[str, ...] = (*BEHAVIOURAL_SIGNALS,
                                       *(k.name for k in signal_kinds("supporting")))

# The heterogeneous graph's schema: node types and edge type -> (source, target, column).
NODE_TYPES: tuple[str, ...] = (ACCOUNT_LABEL, *(k.label for k in KINDS))
EDGE_TYPES: dict[str, tuple[str, str, str]] = {k.rel: (k.source, k.label, k.column)
                                                for k in KINDS}
OPTIONAL_NODE_TYPES: dict[str, str] = {k.label: k.column for k in KINDS if k.optional}

# The Neo4j schema: label -> key property, relationship type -> (start label, end label).
NODE_KEYS: dict[str, str] = {ACCOUNT_LABEL: ACCOUNT_KEY, **{k.label: k.key for k in KINDS},
                             COMMUNITY_LABEL: COMMUNITY_KEY}
REL_ENDS: dict[str, tuple[str, str]] = {**{k.rel: (k.source, k.label) for k in KINDS},
                                        **DETECTION_RELS}
# Relationships from an account to an entity it used.
ACCOUNT_RELS: tuple[str, ...] = tuple(k.rel for k in KINDS if k.source == ACCOUNT_LABEL)
# Relationships from an account to the values of a link signal (what the naive recipe joins on).
ACCOUNT_SIGNAL_RELS: tuple[str, ...] = tuple(k.rel for k in signal_kinds()
                                             if k.source == ACCOUNT_LABEL)
# Per signal: the communities.csv column that lists the values most members share.
TOP_ENTITY_COLUMNS: dict[str, str] = {k.name: k.top_column for k in KINDS if k.top_column}

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Return ``name`` if it is a label or type on the whitelist, else raise ConfigError.

    Cypher cannot take labels and relationship types as parameters; every one that is spliced
    into query text must come from this registry and pass this check.
    """
    if name in NODE_KEYS or name in REL_ENDS:
        if not _IDENTIFIER.match(name):  # pragma: no cover - the registry is static
            raise ConfigError(f"registry name {name!r} is not a plain identifier")
        return name
    raise ConfigError(f"{name!r} is not a label or relationship type of the registry")
