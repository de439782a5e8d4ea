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
('ip', 'payment', 'template', 'proxy', 'user_agent', 'cohort', 'synchrony')
>>> kind("payment").rel, kind("payment").label
('PAID_WITH', 'PaymentMethod')
>>> EDGE_TYPES["OPERATED_BY"]
('IP', 'ProxyProvider', 'proxy_provider')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    # Hub cap of this kind: values held by more accounts never tie two accounts (None: only
    # the run-wide cut of Settings.hub_degree applies).
    hub_cap: int | None = None
    # Declared kinds are read from the run's identifier table (declared columns, the long
    # identifiers file, derived values), not from a canonical events column.
    declared: bool = False
    # Held kinds are identifiers an account holds itself (its card, device, phone number, API
    # key, e-mail or billing address), not services shared with strangers by design (an IP, a
    # template, an agent, request metadata such as a client library's tag): in the communities
    # the cut clears, accounts joined by them are tested as a group of their own
    # (graphkit.detection.identifier_groups). A kind the user names is not held: nothing says
    # what it is (a loyalty card, or a country).
    held: bool = False

    @property
    def is_signal(self) -> bool:
        return self.role != "context"


# Order matters: it is the column order of links.csv and the edge order of the graph.
KINDS: tuple[Kind, ...] = (
    Kind("ip", "ip", "IP", "ip", "USED_IP", 1.5, "specific", "IP addresses", "IP address",
         "#57C7E3", top_column="top_ips"),
    Kind("payment", "payment_id", "PaymentMethod", "payment_id", "PAID_WITH", 3.0, "specific",
         "payment methods", "payment method", "#FFC454", top_column="top_payment_methods",
         held=True),
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

# Built-in kinds a run gains when it declares them (``--identifier COLUMN:KIND``, the long
# identifiers file) or derives them (docs/data-contract.md, "Derived identifiers"). Their
# values live in the run's ``identifiers`` table; links.csv has their column only in such runs.
CATALOGUE: tuple[Kind, ...] = (
    Kind("device", "device", "Device", "value", "USED_DEVICE", 2.5, "specific", "devices",
         "device", "#F79767", top_column="top_devices", hub_cap=50, declared=True, held=True),
    Kind("api_key", "api_key", "ApiKey", "value", "USED_API_KEY", 3.0, "specific", "API keys",
         "API key", "#D9C8AE", top_column="top_api_keys", declared=True, held=True),
    Kind("email", "email", "Email", "value", "HAS_EMAIL", 3.0, "specific", "e-mail addresses",
         "e-mail address", "#F16667", top_column="top_emails", declared=True, held=True),
    Kind("phone", "phone", "Phone", "value", "HAS_PHONE", 2.5, "specific", "phone numbers",
         "phone number", "#6DCE9E", top_column="top_phones", declared=True, held=True),
    Kind("address", "address", "Address", "value", "HAS_ADDRESS", 1.5, "specific",
         "billing addresses", "billing address", "#A5ABB6", top_column="top_addresses",
         hub_cap=20, declared=True, held=True),
    Kind("metadata", "metadata", "Metadata", "value", "SENT_METADATA", 1.5, "specific",
         "request metadata values", "request metadata value", "#FFE081",
         top_column="top_metadata", declared=True),
    Kind("org", "org", "Org", "value", "IN_ORG", 0.5, "supporting", "organisations",
         "organisation", "#68BDF6", top_column="top_orgs", declared=True),
    Kind("tls_fingerprint", "tls_fingerprint", "TlsFingerprint", "value", "USED_TLS", 0.3,
         "supporting", "TLS client fingerprints", "TLS client fingerprint", "#C9A3E0",
         declared=True),
    Kind("ip_network", "ip_network", "IPNetwork", "value", "USED_NETWORK", 0.5, "supporting",
         "IP networks (/24, /48)", "IP network", "#3FA7C9", declared=True),
    Kind("email_domain", "email_domain", "EmailDomain", "value", "HAS_EMAIL_DOMAIN", 0.5,
         "supporting", "e-mail domains", "e-mail domain", "#E9868F", declared=True),
    Kind("asn", "asn", "NetworkOperator", "value", "ROUTED_VIA", 0.2, "supporting",
         "network operators (ASN)", "network operator", "#B3477A",
         top_column="top_network_operators", declared=True),
)
# Defaults of a kind nobody declared before: a shared value proposes a link, weighs 1.
USER_KIND_WEIGHT = 1.0
USER_KIND_ROLE: Role = "specific"
USER_KIND_COLOUR = "#A5ABB6"


@dataclass(frozen=True)
class RelationKind:
    """One kind of account-to-account relation (a transfer, a referral, an invitation).

    A relation is an edge ``rel`` between two Account nodes in the graph and in Neo4j, and a
    link signal ``name`` (similarity 1 for a pair related either way) that counts like a
    supporting kind: as far as shared values corroborate it (a transfer between accounts that
    also share a card), or on its own when declared ``specific``.
    """

    name: str
    rel: str
    weight: float
    noun: str
    role: Role = "supporting"


RELATION_CATALOGUE: tuple[RelationKind, ...] = (
    RelationKind("transfer", "TRANSFERRED_TO", 1.5, "money transfers"),
    RelationKind("referral", "REFERRED", 1.0, "referrals"),
    RelationKind("invite", "INVITED", 1.0, "invitations"),
)
USER_RELATION_WEIGHT = 1.0

# Behavioural signals: evidence from how accounts act, not from a shared value.
BEHAVIOURAL_SIGNALS: dict[str, float] = {"synchrony": 3.0}
# Shared values the detection derives from the others, not graph entities: the sign-up cohort
# (graphkit.detection.cohorts: accounts created together on one rare client). Specific: a
# shared cohort proposes a candidate link, like a card.
DERIVED_SIGNALS: dict[str, float] = {"cohort": 1.5}

ACCOUNT_LABEL = "Account"
ACCOUNT_KEY = "account_id"
ACCOUNT_COLOUR = "#4C8EDA"
# Accounts-file columns that hold an identifier kind's values (what ``--pseudonymize KIND``
# rewrites in the accounts file besides declared columns).
ACCOUNT_FILE_KINDS: dict[str, str] = {"payment_id": "payment", "email_domain": "email_domain",
                                      "org_id": "org"}
COMMUNITY_LABEL = "Community"
COMMUNITY_KEY = "community_id"  # unique together with run_id
# Relationships the detection adds on top of the heterogeneous graph.
DETECTION_RELS: dict[str, tuple[str, str]] = {
    "SIMILAR_TO": (ACCOUNT_LABEL, ACCOUNT_LABEL),
    "MEMBER_OF": (ACCOUNT_LABEL, COMMUNITY_LABEL),
    # A banned account and the account created to replace it (successions.csv).
    "SUCCEEDED_BY": (ACCOUNT_LABEL, ACCOUNT_LABEL),
}


def kind(name: str) -> Kind:
    """The kind called ``name``; :class:`~graphkit.errors.ConfigError` when there is none."""
    for k in KINDS:
        if k.name == name:
            return k
    raise ConfigError(f"unknown identifier kind {name!r}; known: {[k.name for k in KINDS]}")


_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def normalize_kind_name(name: str) -> str:
    """A kind name as graphkit spells it: lower case, runs of other characters as ``_``.

    Raises ConfigError when nothing usable is left (it must start with a letter, 40 characters
    at most).

    >>> normalize_kind_name(" TLS-Fingerprint "), normalize_kind_name("API key")
    ('tls_fingerprint', 'api_key')
    """
    norm = re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")
    if not _KIND_NAME.match(norm):
        raise ConfigError(f"{name!r} is not a usable kind name (letters, digits and _, starting "
                          "with a letter, at most 40 characters)")
    return norm


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def declared_kind(name: str) -> Kind:
    """The kind a run gains when it declares ``name``: a built-in entry of :data:`CATALOGUE`
    or :data:`KINDS`, else a user kind with generic defaults (weight 1, specific) whose label
    and relationship type are derived from the sanitized name.

    >>> declared_kind("device").rel, declared_kind("loyalty_card").label
    ('USED_DEVICE', 'LoyaltyCard')
    >>> declared_kind("loyalty_card").rel, declared_kind("loyalty_card").weight
    ('HAS_LOYALTY_CARD', 1.0)
    """
    name = normalize_kind_name(name)
    for k in (*KINDS, *CATALOGUE):
        if k.name == name:
            return k
    return Kind(name, name, _camel(name), "value", f"HAS_{name.upper()}", USER_KIND_WEIGHT,
                USER_KIND_ROLE, f"{name.replace('_', ' ')} values",
                f"{name.replace('_', ' ')} value", USER_KIND_COLOUR, declared=True)


def relation_kind(name: str) -> RelationKind:
    """The relation kind ``name``: built in (:data:`RELATION_CATALOGUE`) or a user kind whose
    relationship type is the upper-cased name (``REL_`` in front when that would collide).

    >>> relation_kind("transfer").rel, relation_kind("shared org").rel
    ('TRANSFERRED_TO', 'SHARED_ORG')
    """
    name = normalize_kind_name(name)
    for r in RELATION_CATALOGUE:
        if r.name == name:
            return r
    rel = name.upper()
    taken = {k.rel for k in (*KINDS, *CATALOGUE)} | set(DETECTION_RELS)
    return RelationKind(name, "REL_" + rel if rel in taken else rel, USER_RELATION_WEIGHT,
                        f"{name.replace('_', ' ')} relations")


def default_weight(signal: str) -> float:
    """Default weight of any signal: the static table, a catalogue kind, a relation kind, or
    the generic weight of a user kind."""
    static = default_signal_weights()
    if signal in static:
        return static[signal]
    for r in RELATION_CATALOGUE:
        if r.name == signal:
            return r.weight
    return declared_kind(signal).weight


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
    """``Settings.signal_weights`` default: each signal kind's weight, then the derived and
    behavioural ones."""
    return {**{k.name: k.weight for k in signal_kinds()}, **DERIVED_SIGNALS,
            **BEHAVIOURAL_SIGNALS}


# Every link signal, in links.csv column order.
SIGNALS: tuple[str, ...] = (*(k.name for k in signal_kinds()), *DERIVED_SIGNALS,
                            *BEHAVIOURAL_SIGNALS)
# Entity signals and the kinds that propose candidates on their own / only corroborate.
ENTITY_SIGNALS: tuple[str, ...] = (*(k.name for k in signal_kinds()), *DERIVED_SIGNALS)
SPECIFIC_SIGNALS: tuple[str, ...] = (*(k.name for k in signal_kinds("specific")),
                                     *DERIVED_SIGNALS)
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


@dataclass(frozen=True)
class Registry:
    """The kinds of one run: the static :data:`KINDS` plus the kinds and relation kinds the
    run declares (columns, the identifiers file, derived values, the relations file).

    Every stage reads its tables from a Registry instead of the module constants when a run
    may declare kinds; :meth:`static` holds exactly the module constants.

    >>> reg = Registry.for_names(["device", "email"], ["transfer"])
    >>> reg.signals  # doctest: +NORMALIZE_WHITESPACE
    ('ip', 'payment', 'template', 'proxy', 'user_agent', 'device', 'email', 'transfer',
     'cohort', 'synchrony')
    >>> reg.rel_ends["TRANSFERRED_TO"], reg.node_keys["Device"]
    (('Account', 'Account'), 'value')
    >>> reg.check_identifier("USED_DEVICE")
    'USED_DEVICE'
    """

    kinds: tuple[Kind, ...] = KINDS
    relations: tuple[RelationKind, ...] = ()

    def __post_init__(self) -> None:
        names = [k.name for k in self.kinds] + [r.name for r in self.relations]
        dup = sorted({n for n in names if names.count(n) > 1}
                     | (set(names) & {*BEHAVIOURAL_SIGNALS, *DERIVED_SIGNALS}))
        if dup:
            raise ConfigError(f"kind name(s) used twice (identifier and relation) or reserved "
                              f"for a behavioural or derived signal: {dup}")
        for name in (*self.node_keys, *self.rel_ends):
            if not _IDENTIFIER.match(name):
                raise ConfigError(f"{name!r} is not a plain identifier")

    @classmethod
    def static(cls) -> Registry:
        """The six built-in kinds and no relations (the module constants)."""
        return cls()

    @classmethod
    def for_names(cls, kinds: Sequence[str] = (), relations: Sequence[str] = ()) -> Registry:
        """Static kinds plus the named declared kinds (catalogue order, then user kinds by
        name) and relation kinds (catalogue order, then by name). Names that are static kinds
        are already there."""
        static = {k.name for k in KINDS}
        declared = {k.name: k for k in (declared_kind(n) for n in kinds) if k.name not in static}
        order = {k.name: i for i, k in enumerate(CATALOGUE)}
        extra = sorted(declared.values(), key=lambda k: (order.get(k.name, len(order)), k.name))
        rels = {r.name: r for r in (relation_kind(n) for n in relations)}
        rorder = {r.name: i for i, r in enumerate(RELATION_CATALOGUE)}
        rel_list = sorted(rels.values(), key=lambda r: (rorder.get(r.name, len(rorder)), r.name))
        return cls((*KINDS, *extra), tuple(rel_list))

    @classmethod
    def for_settings(cls, settings, kinds: Sequence[str] = (),
                     relations: Sequence[str] = ()) -> Registry:
        """The run's registry: static kinds, the kinds ``settings.identifiers`` declares, the
        derived kinds switched on in ``settings`` (when their source is present, pass them in
        ``kinds``) and the given data kinds and relation kinds."""
        return cls.for_names([*settings.identifiers.values(), *kinds], relations)

    def with_kinds(self, kinds: Sequence[str] = (), relations: Sequence[str] = ()) -> Registry:
        """This registry plus more declared kinds and relation kinds."""
        return Registry.for_names([k.name for k in self.kinds if k.declared] + list(kinds),
                                  [r.name for r in self.relations] + list(relations))

    @property
    def declared_names(self) -> list[str]:
        return [k.name for k in self.kinds if k.declared]

    @property
    def relation_names(self) -> list[str]:
        return [r.name for r in self.relations]

    def kind_of_label(self, label: str) -> Kind:
        """The kind whose nodes carry ``label``; ConfigError when none."""
        for k in self.kinds:
            if k.label == label:
                return k
        raise ConfigError(f"no identifier kind has the label {label!r}")

    def kind(self, name: str) -> Kind:
        for k in self.kinds:
            if k.name == name:
                return k
        raise ConfigError(f"unknown identifier kind {name!r}; known: "
                          f"{[k.name for k in self.kinds]}")

    def signal_kinds(self, role: Role | None = None) -> tuple[Kind, ...]:
        return tuple(k for k in self.kinds if k.is_signal and (role is None or k.role == role))

    @property
    def entity_signals(self) -> tuple[str, ...]:
        """Signals scored as shared values: kinds, relation kinds, then derived values."""
        return (*(k.name for k in self.signal_kinds()), *(r.name for r in self.relations),
                *DERIVED_SIGNALS)

    @property
    def signals(self) -> tuple[str, ...]:
        """Every link signal, in links.csv column order."""
        return (*self.entity_signals, *BEHAVIOURAL_SIGNALS)

    @property
    def specific_signals(self) -> tuple[str, ...]:
        return (*(k.name for k in self.signal_kinds("specific")),
                *(r.name for r in self.relations if r.role == "specific"), *DERIVED_SIGNALS)

    @property
    def held_signals(self) -> tuple[str, ...]:
        """The signals of identifiers an account holds (:attr:`Kind.held`)."""
        return tuple(k.name for k in self.signal_kinds("specific") if k.held)

    @property
    def supporting_signals(self) -> tuple[str, ...]:
        return (*BEHAVIOURAL_SIGNALS, *(k.name for k in self.signal_kinds("supporting")),
                *(r.name for r in self.relations if r.role != "specific"))

    @property
    def node_types(self) -> tuple[str, ...]:
        return (ACCOUNT_LABEL, *(k.label for k in self.kinds))

    @property
    def edge_types(self) -> dict[str, tuple[str, str, str]]:
        """Edge type -> (source, target, column); relations: (Account, Account, kind name)."""
        return {**{k.rel: (k.source, k.label, k.column) for k in self.kinds},
                **{r.rel: (ACCOUNT_LABEL, ACCOUNT_LABEL, r.name) for r in self.relations}}

    @property
    def node_keys(self) -> dict[str, str]:
        return {ACCOUNT_LABEL: ACCOUNT_KEY, **{k.label: k.key for k in self.kinds},
                COMMUNITY_LABEL: COMMUNITY_KEY}

    @property
    def rel_ends(self) -> dict[str, tuple[str, str]]:
        return {**{k.rel: (k.source, k.label) for k in self.kinds},
                **{r.rel: (ACCOUNT_LABEL, ACCOUNT_LABEL) for r in self.relations},
                **DETECTION_RELS}

    @property
    def account_rels(self) -> tuple[str, ...]:
        return tuple(k.rel for k in self.kinds if k.source == ACCOUNT_LABEL)

    @property
    def relation_rels(self) -> tuple[str, ...]:
        return tuple(r.rel for r in self.relations)

    @property
    def top_entity_columns(self) -> dict[str, str]:
        return {k.name: k.top_column for k in self.kinds if k.top_column}

    def check_identifier(self, name: str) -> str:
        """Return ``name`` if it is a label or type of this registry, else raise ConfigError."""
        if name in self.node_keys or name in self.rel_ends:
            return name
        raise ConfigError(f"{name!r} is not a label or relationship type of the registry")


def check_identifier(name: str, registry: Registry | None = None) -> str:
    """Return ``name`` if it is a label or type on the whitelist, else raise ConfigError.

    Cypher cannot take labels and relationship types as parameters; every one that is spliced
    into query text must come from this registry (the static one, or a run's
    :class:`Registry`, whose names are sanitized) and pass this check.
    """
    return (registry or Registry.static()).check_identifier(name)
