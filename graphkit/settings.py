"""The one dataclass of detection knobs, and the manifest written beside every output.

Every knob has a default chosen from the problem's facts (see docs/detection.md for the
reasoning and how to tune each). A result directory's ``manifest.json`` records the exact
settings, inputs and graphkit version, so any result can be reproduced.

>>> s = Settings(resolution=0.5)
>>> Settings.from_dict(s.to_dict()) == s
True
>>> Settings().signal_weights["payment"], Settings().indicator_weights["seeds"]
(3.0, 1.0)
>>> Settings(indicator_weights={"luck": 1.0})
Traceback (most recent call last):
...
graphkit.errors.ConfigError: unknown indicator(s) in indicator_weights: ['luck']
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphkit.errors import ConfigError
from graphkit.registry import (
    default_signal_weights,
    default_weight,
    normalize_kind_name,
)
from graphkit.settings_rules import check_settings

# Community indicators (see graphkit.detection.indicators), in the order their ind_* columns
# appear in communities.csv and their weighted evidence is summed, with default weights.
INDICATOR_WEIGHTS: dict[str, float] = {
    "shared_payment": 0.6,
    "exclusive_templates": 0.6,
    "exclusive_client": 0.6,
    "synchrony": 0.8,
    "volume": 0.3,
    "infrastructure": 0.3,
    "creation_burst": 0.5,
    "new_accounts": 0.6,
    "automation": 0.3,
    "model_jump": 0.8,
    "banned": 1.0,
    "seeds": 1.0,
}
INDICATORS: tuple[str, ...] = tuple(INDICATOR_WEIGHTS)
# Evidence lines (graphkit.detection.evidence): a line is shown once its indicator (or the
# org_share column) reaches this value. Seeds, banned members and replacements of banned
# accounts are always reported.
EVIDENCE_THRESHOLDS: dict[str, float] = {
    "shared_payment": 0.2,
    "exclusive_templates": 0.2,
    "exclusive_client": 0.2,
    "synchrony": 0.2,
    "infrastructure": 0.3,
    "creation_burst": 0.3,
    "new_accounts": 0.3,
    "volume": 0.3,
    "automation": 0.5,
    "model_jump": 0.2,
    "org_share": 0.5,
}


@dataclass(frozen=True)
class Settings:
    """Detection knobs. Frozen: derive variants with :func:`dataclasses.replace`."""

    # --- link scoring -------------------------------------------------------------------------
    # Evidence weight per signal (score = 1 - exp(-sum_s weight_s * similarity_s)). Payment
    # methods and lock-step timing are hard to share by accident; IPs and templates are shared by
    # NAT pools, VPNs and popular prompts, so they count less; a proxy provider or an SDK user
    # agent is shared by very many unrelated customers.
    # Defaults come from graphkit.registry (each kind's weight, then behavioural signals).
    signal_weights: dict[str, float] = field(default_factory=default_signal_weights)
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
    # R of the idf above: an entity used by at most one account in R = min(idf_reference, N/2)
    # gets full weight; fixed so weights stay comparable across dataset sizes.
    idf_reference: float = 1000.0
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
    # Fewest co-members each member of a sampled entity is paired with, whatever the budget.
    min_ring_neighbours: int = 10
    # Most pairs one drawn pair stands in for (the Horvitz-Thompson factor 1 / inclusion,
    # trimmed): a weak tie drawn through a value tens of thousands of accounts share has
    # inclusion ~0.002, and at 1 / inclusion it would weigh ~100 on one pair and gather its crowd
    # in stars around a few fleet accounts. Large enough for CPM to keep a sampled fleet of
    # tens of thousands together (see Links.edge_weights).
    max_expansion: float = 32.0

    # --- temporal synchrony (SynchroTrap / CopyCatch style, via MinHash LSH) -------------------
    sync_window_seconds: int = 90
    # Accounts active in fewer windows than this take no part: too little to tell lock-step
    # from coincidence.
    sync_min_windows: int = 8
    minhash_permutations: int = 64
    lsh_bands: int = 16  # rows per band = permutations / bands
    # Prior added to the denominator of the excess-overlap ratio: shrinks low-activity pairs.
    sync_shrinkage: float = 8.0
    # The MinHash Jaccard estimate is lowered by this many standard errors before the excess
    # overlap is computed, so estimation noise does not read as lock-step.
    sync_jaccard_sd: float = 2.0
    # Timing alone is not evidence of common control (apps on wall-clock timers fire together):
    # synchrony counts in full once a pair's entity evidence (IP, payment, template) reaches this,
    # proportionally below it.
    sync_corroboration: float = 0.5

    # --- near-duplicate templates (when raw prompts are present) --------------------------------
    template_shingle_words: int = 3
    template_similarity: float = 0.7

    # --- template libraries (graphkit.detection.template_libraries) ----------------------------
    # Templates the same accounts use together are linked as one library, weighted as one of its
    # templates: joined when their co-users are at least template_library_lift times what
    # independent use gives and at least template_library_overlap of the larger template's
    # users, both used by at least template_library_min_users accounts. A library is kept when
    # its median user (of those sending two of its templates or more) sends at least
    # template_library_min_templates of them.
    template_libraries: bool = True
    template_library_lift: float = 10.0
    template_library_overlap: float = 0.3
    template_library_min_users: int = 20
    template_library_min_templates: int = 4
    # Joined templates are grouped (Leiden CPM) at this density: each joined with about this
    # share of its library's other templates, so two fleets sharing one template stay apart.
    template_library_density: float = 0.5
    # Sign-up cohorts (graphkit.detection.cohorts): accounts whose main client (user agent) is
    # one client and that were created in one window of cohort_window_hours share a value (the
    # cohort signal) when the window holds at least cohort_min_accounts of them and
    # cohort_lift times what the client's share of all accounts gives. A custom tool's batch
    # of sign-ups is a cohort; a popular browser's share of an hour's sign-ups never is.
    signup_cohorts: bool = True
    cohort_window_hours: float = 2.0
    cohort_min_accounts: int = 5
    cohort_lift: float = 10.0
    # ...counting only accounts whose main client carries at least this share of their requests
    # (an account rotating user agents runs no one client).
    cohort_client_share: float = 0.5
    # ...and cohort_own_lift times the client's own sign-ups per window over the
    # cohort_context_days either side: a batch, not the steady uptake of a new client release.
    cohort_own_lift: float = 5.0
    cohort_context_days: float = 3.0

    # --- communities ---------------------------------------------------------------------------
    method: str = "leiden-cpm"  # leiden-cpm | leiden | components
    resolution: float = 0.03
    seed: int = 42
    # Passes of Leiden over the graph (-1: until nothing moves). Two is igraph's and leidenalg's
    # default: on the 30M-event simulation, convergence took 8 s instead of 1 s and changed the
    # partition little (ARI 0.95, CPM quality +0.4 %).
    leiden_iterations: int = 2
    # The Spark engine collects the account-link graph to the driver for Leiden up to this many
    # links; beyond it, communities are the connected components, computed on the cluster.
    max_collected_links: int = 50_000_000

    # --- suspicion -----------------------------------------------------------------------------
    min_community_size: int = 3
    # In the communities the cut does not flag, the accounts joined by identifiers they hold
    # (a card, a device, a phone number: graphkit.registry.Kind.held) are tested again as groups
    # of their own (graphkit.detection.identifier_groups): a phone farm inside the crowd of its
    # carrier's NAT pool.
    identifier_groups: bool = True
    # ... and so are their dense cores (0: none): Leiden (CPM) again over the links at this
    # score or more inside each cleared community, at this resolution; a core of
    # min_community_size or more accounts, smaller than its community, joins the identifier
    # groups it meets. A ring tied completely inside a VPN's crowd (docs/detection.md, section 2).
    core_resolution: float = 0.5
    # How communities are flagged. "fdr" (default): the cut comes from the data; each
    # community of min_community_size or more gets a p-value from the member counts of its
    # coordination indicators against the dataset's own background rates (binomial mid-p,
    # Fisher's combination over the indicators whose background rate is inside (0, 1), the
    # strongest fdr_drop_strongest left out), and the communities whose Benjamini-Hochberg
    # q-value is at most flag_fdr are flagged (graphkit.detection.cut). "threshold": flagged
    # when suspicion >= flag_threshold (a fixed cut).
    flag_rule: str = "fdr"
    # The false discovery rate q: the expected share of flagged communities that are no more
    # marked than the dataset's background.
    flag_fdr: float = 0.05
    # The purpose test (graphkit.detection.purpose): a community the cut finds run together is
    # flagged only when its members also do what extraction takes more than the dataset's
    # accounts do (many requests or tokens, proxy or hosting egress, round-the-clock hours, the
    # jump to a released model, bans): its purpose p-value, the smallest over these marks
    # Sidak-corrected, at most purpose_alpha. An agency running its clients' accounts on one
    # card, a hackathon signed up in one morning, a family on one device are run together and
    # do none of it. Off: the cut alone decides (the rule before).
    purpose_test: bool = True
    purpose_alpha: float = 0.05
    # A member is heavy when its requests (or tokens) exceed this quantile of the dataset's
    # active accounts'.
    purpose_quantile: float = 0.9
    # ...or this many times the active accounts' median, when lower (a fleet of more than a
    # tenth of the accounts moves the quantile into itself, not the median while it is less
    # than half).
    purpose_median_factor: float = 10.0
    # A member's traffic is egress when at least this share of it goes through proxy, VPN or
    # hosting operators.
    purpose_egress_share: float = 0.5
    # Indicators left out of each community's combination, strongest first: one indicator
    # alone (a reseller's customers on its app's template) never flags; it takes several.
    fdr_drop_strongest: int = 1
    # When on, the resource indicators (resource_indicators: the shared card, the exclusive
    # templates) enter the FDR cut's combination as one piece of evidence (their smallest
    # p-value, Sidak corrected), not as two dependent tests. Off by default: it removes the
    # false positives of large companies (offices and hosted apps on one card and one set of
    # templates) but leaves a fleet without bans and account ages nothing else to show
    # (docs/detection.md, section 3).
    fdr_resource_family: bool = False
    # The coordination indicators read from one field (the creation time: a creation burst and
    # a new account) enter the FDR cut's combination as one test (their smallest p-value,
    # Sidak corrected), as they count once in a member's own evidence: a cohort signed up
    # together and used at once (a hackathon, a class) is both by one fact, and Fisher's
    # combination assumes independent tests. Off: two tests, the rule before.
    fdr_same_source: bool = True
    # Intra-community correlation of the shared-resource marks (resource_indicators) in the FDR
    # cut: their counts are tested with a beta-binomial of this correlation, whose variance is
    # the binomial's times 1 + (n - 1) rho. A community found through shared entities shares
    # them through one another, not member by member: 900 hosted apps whose keys pay with their
    # app's card (22 % against 3.4 % of all accounts) are p = 1e-29 under the binomial and 0.004
    # here; a fleet sharing almost all alike stays far below. 0: the binomial. Behaviour
    # indicators are always binomial.
    resource_correlation: float = 0.05
    # Indicators that count what members hold in common (a card several pay with, a template
    # concentrated among them): what colleagues share as much as a fleet does. In the FDR cut,
    # the members of a community whose traffic keeps a human day (its members' hour entropy,
    # weighted by requests, <= human_hour_entropy; see human_hours_quorum) are left out of
    # their counts, as members of a declared organisation are: an office's staff share the
    # company card and templates and keep working hours; a fleet's scripts do not sleep.
    resource_indicators: tuple[str, ...] = ("shared_payment", "exclusive_templates")
    # Signals that name the client software (graphkit.registry kinds): a client concentrated
    # in a community, across payers, is its exclusive_client indicator (the rule of
    # exclusive_templates). Empty: no such indicator.
    client_signals: tuple[str, ...] = ("user_agent", "tls_fingerprint")
    # Indicators that make a group but never a member's own mark (graphkit.detection.cut.
    # member_evidence): a proxy reseller's resold customers run its client app as its fleet
    # does, so the client says the community is one operator's, not which member is.
    group_indicators: tuple[str, ...] = ("exclusive_client",)
    # Coordination indicators whose marks come in groups, not member by member: a member is in
    # lock-step only with another member, so marks arrive in pairs and cliques. In the FDR cut
    # their counts are tested with the beta-binomial of resource_correlation, as the shared
    # resources are. Hosted apps on timers fire on the wall clock (:00, :05) together: 8 of
    # 150 judged members in lock-step against 0.27 % of all accounts is p = 5e-9 under the
    # binomial and about 0.01 here; a fleet in lock-step almost whole stays far below.
    # A client concentrated in a community (exclusive_client) is shared the same way: by all
    # the members running one app, not member by member.
    relational_indicators: tuple[str, ...] = ("synchrony", "exclusive_client")
    # Indicators a shared e-mail domain explains, as an organisation's: its staff sign up with
    # the company's address, pay with its card, send its internal templates and are
    # onboarded together (creation bursts, new accounts). A domain counts when it is not a
    # free-mail one (graphkit/data/freemail.txt) and at least org_domain_concentration of its
    # accounts are in the community (a popular provider missing from the list is spread over
    # the whole population). Behaviour (bans, lock-step, the model jump) is never explained
    # by it: a fleet signed up on a domain of its own still shows what it does. Empty: e-mail
    # domains explain nothing (a declared org_id explains every indicator).
    org_domain_indicators: tuple[str, ...] = ("shared_payment", "exclusive_templates",
                                              "exclusive_client",
                                              "creation_burst", "new_accounts")
    org_domain_concentration: float = 0.5
    # Fixed suspicion cut of flag_rule "threshold"; under "fdr" accounts outside flagged
    # communities are still kept below it (suspicion >= flag_threshold implies flagged).
    flag_threshold: float = 0.7
    # An account inherits its community's suspicion in proportion to how much of its link weight
    # stays inside the community, relative to the community's core members.
    min_membership: float = 0.35
    # A member of a flagged community that shows none of the coordination indicators its
    # community stands out on (banned, new, in the burst, on the shared card or templates, in
    # lock-step, in the model jump: mid-p <= flag_fdr) is flagged only when it is tied this
    # strongly (membership); its ties alone then make the case. A proxy reseller's
    # customers share its exits with the fleet, never its marks.
    unmarked_membership: float = 0.9
    # A member shows its community's marks when their likelihood ratio under the community's
    # core rates against the dataset's (graphkit.detection.cut.member_evidence, a Bayes factor)
    # is above this: 3 is the lower bound of "substantial" evidence on Jeffreys' scale (and
    # of "positive" on Kass and Raftery's). At 1 any ratio above even counts, and a public
    # template's users a fleet gathered count as its members on that template alone.
    member_bayes_factor: float = 3.0
    # ...and only over the ties inside its community that at least this many kinds of evidence
    # support (identifier kinds, relations, synchrony; not a proxy operator or a user agent):
    # one popular template's users are tied to each other as strongly as a fleet, by one fact.
    # 1: every tie counts.
    unmarked_min_kinds: int = 2
    # An unflagged account paying with the payment methods of flagged accounts (its payer
    # unit: accounts joined by shared payment methods) is flagged with them once at least this
    # share of its unit is flagged: what a fleet paid for is the fleet's, traffic or not.
    # Above 1: off.
    payer_flag_share: float = 0.5
    # An unflagged account of a hydra succession chain (banned accounts and the accounts
    # created within hours to replace them, sharing their identifiers: graphkit.investigate.
    # successions; only successions of at least succession_join_confidence) is flagged with
    # the chain's flagged accounts once at least this share of the chain is flagged (0: one
    # flagged account suffices). A replacement is the banned account's operator, however few
    # requests it has sent yet. Above 1: off. Succession confidence (graphkit.investigate.
    # successions) is (1 - exp(-overlap)) * exp(-|gap| / window): 0.4 asks for an overlap of
    # 0.51 at once after the ban, 1.07 three hours later. On the simulated presets the
    # successors that are not a campaign's score 0.23 on average, the hydra's 0.88 (docs/
    # detection.md, section 3). The successors of these successions are each community's
    # n_replacements (reported in its evidence).
    succession_flag_share: float = 0.0
    succession_join_confidence: float = 0.4
    burst_window_hours: float = 72.0
    # An account the accounts file gives no created_at is taken, for successions, as created at
    # its first request (its activation) when that request is late for it: at its own request
    # rate it would have sent one earlier in the log with probability 1 - activation_p or more
    # (an account older than the log, sending now and then, is not taken as new when it shows
    # up). Its age ("new accounts"), creation bursts and sign-up cohorts stay unknown.
    first_request_activation: bool = True
    activation_p: float = 0.01
    # Accounts younger than this at their first request count as new: fleets are created for the
    # job (and hydra replacements minutes after a ban); most customers have history.
    new_account_days: float = 30.0
    model_release_window_hours: float = 24.0
    # A model first seen at least this long after the data starts was released inside the
    # observed period (earlier first sightings are models that already existed).
    release_after_start_hours: float = 48.0

    # --- indicators (graphkit.detection.indicators) ---------------------------------------------
    # Evidence weight of each indicator: evidence = sum_i weight_i * indicator_i.
    indicator_weights: dict[str, float] = field(
        default_factory=lambda: dict(INDICATOR_WEIGHTS))
    # Indicators that do not say the members are run together: how busy and automated a
    # customer is, and whether an attributed account sits among them (a seed on a VPN shares
    # exits with strangers). They count in full once coordination evidence reaches profile_gate,
    # proportionally below it.
    profile_indicators: tuple[str, ...] = ("volume", "infrastructure", "automation", "seeds")
    profile_gate: float = 2.0
    # A template concentrated in a community counts in full once this share of its members use
    # it (a fleet runs its scripts across many accounts; one small app among several does not).
    template_breadth: float = 0.25
    # A template is concentrated in a community that holds this many times more of its users
    # than the community's size alone would give.
    template_min_lift: float = 10.0
    # A concentrated template counts only when its users in the community pay as two payers or
    # more (accounts joined by shared payment methods are one payer): a customer's accounts
    # sending the customer's own templates (an app's keys, an office on the company card)
    # share nothing beyond that customer. Without payment data every account is its own payer.
    template_across_payers: bool = True
    # A member is in a creation burst when at least two other members, and this many times the
    # number chance would give, were created within burst_window_hours of it.
    burst_excess: float = 3.0
    # Members with an internal link of at least this synchrony act in lock-step.
    sync_member_similarity: float = 0.3
    # Volume indicator: 1 once the community's median account is this many decades (powers of
    # ten) above the population's typical (median active) account.
    volume_decades: float = 1.5
    # Hour-of-day entropy (normalized) of a human day: ~16 waking hours, log(16)/log(24) = 0.87.
    # The automation indicator rises from here to 1 (24/7 activity).
    human_hour_entropy: float = 0.87
    # A community's day (resource_indicators in the FDR cut) is judged on its members with
    # enough requests to show round-the-clock activity, once they carry at least this share of
    # its requests (most of it: sparse accounts show nothing either way).
    human_hours_quorum: float = 0.5
    # A community mostly of sparse accounts (below the quorum) is judged on its pooled day:
    # the mean resultant length of its requests' hours of the day against a uniform day of
    # 24 ** human_hour_entropy hours (graphkit.detection.indicators.human_hours_communities).
    # Off: such a community is not judged (the rule before).
    pooled_day: bool = True
    # A community holding seeds is never excused by its working day, as it is not by a declared
    # organisation: investigators say its actor is there. Off: the rule before (a seeded
    # community keeping a human day was excused from the shared-resource counts).
    seeds_override_day: bool = True
    # Model-jump indicator: 1 once a community's share of release-window traffic on the new
    # model exceeds the population's by this much.
    model_jump_scale: float = 0.3
    # The move is weighed by its evidence: excess * w / (w + model_jump_prior_requests), w the
    # requests made in the release window (a community whose 2 of 5 window requests went to
    # the new model has moved little evidence; a fleet's thousands of requests count in full).
    model_jump_prior_requests: float = 30.0
    # Size factor of suspicion: 1 - exp(-(size - 1) / size_scale); a pair or a trio of accounts
    # stays far below a fleet.
    size_scale: float = 5.0
    # Benign factor: suspicion is scaled by 1 - org_discount * (share of members declaring the
    # same org_id), unless the community holds seeds.
    org_discount: float = 0.9

    # --- evidence (graphkit.detection.evidence) -------------------------------------------------
    # Indicator value from which each evidence line is shown (keys: see EVIDENCE_THRESHOLDS).
    evidence_thresholds: dict[str, float] = field(
        default_factory=lambda: dict(EVIDENCE_THRESHOLDS))
    # Entities listed per community in the top_* columns.
    top_entities_shown: int = 3

    # --- identifiers and relations (docs/data-contract.md) --------------------------------------
    # Declared identifier columns: column of the events or accounts file -> kind (a built-in
    # kind of graphkit.registry, or any other name: a user kind with generic defaults).
    identifiers: dict[str, str] = field(default_factory=dict)
    # Derived identifiers. The IP's network (/24 IPv4, /48 IPv6) as a weaker kind ip_network.
    derive_ip_network: bool = False
    ipv4_network_prefix: int = 24
    ipv6_network_prefix: int = 48
    # E-mail values canonicalized (lower case; dots and +tags dropped for providers that
    # ignore them) and their domain as kind email_domain (free-mail domains excluded).
    canonical_email: bool = True
    derive_email_domain: bool = True
    # Phone values written as E.164 (phonenumbers); numbers without a country code are read in
    # this region. Values that do not parse as a possible number are dropped.
    canonical_phone: bool = True
    phone_region: str = "US"
    # Accounts named in the identifiers or relations file but absent from the accounts file
    # and the events: "keep" (they become accounts) or "error".
    unknown_accounts: str = "keep"
    # Kinds whose values are replaced by keyed pseudonyms (HMAC-SHA256, key from the environment
    # variable GRAPHKIT_PSEUDONYM_KEY) right after validation: "account", "ip", "payment",
    # "email", ... (graphkit.io.pseudonyms; docs/security.md). The key is never recorded.
    pseudonymize: tuple[str, ...] = ()
    # --- investigations (graphkit.investigate: walk, expand, attribution, successions) --------
    # Random walk with restart: probability of following an edge rather than restarting at the
    # seeds (PageRank damping); lower keeps the mass closer to the seeds.
    walk_damping: float = 0.7
    # Random walk: the solver (conjugate gradients) stops once a walk's residual is this
    # share of its right-hand side (2-norm). Measured on the 600k-account attribution: 1e-8
    # takes 27 % less time than 1e-10 with the same actor for every account and community,
    # scores moved by at most 4e-4 (the outputs' last digit); 1e-6 moved one actor.
    walk_tolerance: float = 1e-8
    # Weight of a scored link (Links.edge_weights) in the walk graph, beside the account ->
    # entity edges (weight_s * share * idf).
    walk_link_weight: float = 1.0
    # Attribution: an account or community gets an actor when its calibrated confidence reaches
    # this (below it the actor column stays empty).
    attribution_threshold: float = 0.6
    # Attribution: folds of the seeds for cross-fitted calibration (each held-out seed is scored
    # by walks that did not start from it).
    attribution_folds: int = 5
    # Attribution: weight of the community's per-actor score beside the account's own.
    attribution_community_weight: float = 0.15
    # Successions: a replacement is created within this many hours after its predecessor's ban.
    succession_window_hours: float = 6.0
    # Successions: minimum weighted identifier overlap (IPs, cards, templates, agents,
    # idf-weighted Bhattacharyya sum as in link scoring) between predecessor and successor.
    succession_min_overlap: float = 0.3
    # Expansion: accounts listed by default, and shared entities shown per result.
    expand_top: int = 50
    expand_entities_shown: int = 3

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
        # Types, ranges and finiteness of every field (graphkit.settings_rules); tuples survive
        # a JSON round trip as lists and are stored as tuples again.
        check_settings(self)
        # Thresholds not given keep their defaults.
        object.__setattr__(self, "evidence_thresholds",
                           {**EVIDENCE_THRESHOLDS, **self.evidence_thresholds})
        for name in self.signal_weights:  # declared kinds have weights too
            normalize_kind_name(name)
        object.__setattr__(self, "identifiers", {
            str(col): normalize_kind_name(k) for col, k in self.identifiers.items()})
        object.__setattr__(self, "pseudonymize", tuple(sorted(
            {normalize_kind_name(k) for k in self.pseudonymize})))
        if self.unknown_accounts not in ("keep", "error"):
            raise ConfigError("unknown_accounts must be 'keep' or 'error'")
        if not (8 <= self.ipv4_network_prefix <= 32 and 16 <= self.ipv6_network_prefix <= 128):
            raise ConfigError("network prefixes must be within /8../32 (IPv4), /16../128 (IPv6)")
        for name, known in (("indicator_weights", INDICATORS),
                            ("profile_indicators", INDICATORS),
                            ("resource_indicators", INDICATORS),
                            ("relational_indicators", INDICATORS),
                            ("org_domain_indicators", INDICATORS),
                            ("group_indicators", INDICATORS),
                            ("evidence_thresholds", EVIDENCE_THRESHOLDS)):
            unknown = set(getattr(self, name)) - set(known)
            if unknown:
                raise ConfigError(f"unknown indicator(s) in {name}: {sorted(unknown)}")
        if any(w < 0 for w in self.indicator_weights.values()):
            raise ConfigError("indicator weights must be >= 0")
        if any(w < 0 for w in self.signal_weights.values()):
            raise ConfigError("signal weights must be >= 0")
        if self.minhash_permutations % self.lsh_bands:
            raise ConfigError("minhash_permutations must be a multiple of lsh_bands")
        if self.flag_rule not in ("fdr", "threshold"):
            raise ConfigError(f"unknown flag_rule {self.flag_rule!r}; known: fdr, threshold")
        if not 0.0 < self.flag_fdr < 1.0:
            raise ConfigError(f"flag_fdr must be within (0, 1), got {self.flag_fdr}")
        if self.fdr_drop_strongest < 0:
            raise ConfigError("fdr_drop_strongest must be >= 0")
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
        for name in ("profile_gate", "template_breadth", "volume_decades", "model_jump_scale",
                     "size_scale", "idf_reference"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.walk_damping < 1.0:
            raise ConfigError(f"walk_damping must be within (0, 1), got {self.walk_damping}")
        if not 0.0 <= self.attribution_threshold <= 1.0:
            raise ConfigError("attribution_threshold must be within [0, 1]")
        if self.attribution_folds < 2:
            raise ConfigError("attribution_folds must be >= 2")
        if not 0.0 <= self.human_hour_entropy < 1.0:
            raise ConfigError("human_hour_entropy must be within [0, 1)")

    def weight(self, signal: str) -> float:
        """Evidence weight of a link signal: ``signal_weights``, else the registry default of
        the kind (a declared or relation kind not named in ``signal_weights``)."""
        if signal in self.signal_weights:
            return float(self.signal_weights[signal])
        return float(default_weight(signal))

    def with_signals(self, signals) -> Settings:
        """These settings with a weight recorded for every signal of ``signals`` (declared
        kinds get their registry default), so the manifest holds every weight a run used."""
        missing = {s: self.weight(s) for s in signals if s not in self.signal_weights}
        if not missing:
            return self
        return dataclasses.replace(self, signal_weights={**self.signal_weights, **missing})

    def indicator_weight(self, indicator: str) -> float:
        """Evidence weight of a community indicator (0 when absent from ``indicator_weights``)."""
        return float(self.indicator_weights.get(indicator, 0.0))

    def hub_degree(self, n_accounts: int) -> float:
        """Entities used by more accounts than this are hubs (see ``max_entity_fraction``)."""
        return max(float(self.max_entity_degree), self.max_entity_fraction * n_accounts)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values (tuples as lists), as manifest.json holds them."""
        out = dataclasses.asdict(self)
        out["profile_indicators"] = list(self.profile_indicators)
        out["resource_indicators"] = list(self.resource_indicators)
        out["relational_indicators"] = list(self.relational_indicators)
        out["org_domain_indicators"] = list(self.org_domain_indicators)
        out["client_signals"] = list(self.client_signals)
        out["group_indicators"] = list(self.group_indicators)
        out["pseudonymize"] = list(self.pseudonymize)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        if not isinstance(data, dict):
            raise ConfigError(f"settings must be a JSON object, got {type(data).__name__}")
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

