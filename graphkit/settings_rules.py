"""Type, range and finiteness rules for every :class:`graphkit.settings.Settings` field.

``Settings.__post_init__`` applies :func:`check_settings`, so settings built from the command
line, a settings file or Python all pass the same checks and fail with one
:class:`~graphkit.errors.ConfigError` line naming the field.

>>> check_value("resolution", float("nan"))
Traceback (most recent call last):
...
graphkit.errors.ConfigError: resolution must be a finite number, got nan
>>> check_value("lsh_bands", 0)
Traceback (most recent call last):
...
graphkit.errors.ConfigError: lsh_bands must be >= 1, got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from graphkit.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """What a field accepts: its type and an optional closed or open range."""

    type: str  # "int" | "float" | "str" | "bool" | "weights" | "names" | "columns"
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself excluded
    high_open: bool = False


def _unit() -> Rule:
    return Rule("float", 0.0, 1.0)


def _positive(kind: str = "float") -> Rule:
    return Rule(kind, 0.0, low_open=True) if kind == "float" else Rule(kind, 1)


def _nonneg(kind: str = "float") -> Rule:
    return Rule(kind, 0)


RULES: dict[str, Rule] = {
    "signal_weights": Rule("weights"),
    "max_entity_degree": Rule("int", 2),
    "max_entity_fraction": _unit(),
    "idf_power": _positive(),
    "idf_reference": _positive(),
    "operated_ip_factor": _nonneg(),
    "min_entity_share": _unit(),
    "min_link_score": _unit(),
    "max_candidate_pairs": _positive("int"),
    "min_ring_neighbours": _positive("int"),
    "max_expansion": Rule("float", 1.0),
    "sync_window_seconds": _positive("int"),
    "sync_min_windows": _positive("int"),
    "minhash_permutations": _positive("int"),
    "lsh_bands": _positive("int"),
    "sync_shrinkage": _nonneg(),
    "sync_jaccard_sd": _nonneg(),
    "sync_corroboration": _nonneg(),
    "template_shingle_words": _positive("int"),
    "template_similarity": _unit(),
    "template_libraries": Rule("bool"),
    "signup_cohorts": Rule("bool"),
    "first_request_activation": Rule("bool"),
    "activation_p": _unit(),
    "cohort_window_hours": Rule("float", 0.0, low_open=True),
    "cohort_min_accounts": Rule("int", 2),
    "cohort_lift": Rule("float", 1.0),
    "cohort_client_share": Rule("float", 0.0, 1.0, low_open=True),
    "cohort_own_lift": Rule("float", 0.0),
    "cohort_context_days": Rule("float", 0.0, low_open=True),
    "template_library_lift": Rule("float", low=1.0),
    "template_library_overlap": Rule("float", low=0.0, high=1.0, low_open=True),
    "template_library_min_users": Rule("int", low=2),
    "template_library_min_templates": Rule("int", low=1),
    "template_library_density": Rule("float", low=0.0, high=1.0, low_open=True),
    "unmarked_min_kinds": Rule("int", low=1),
    "method": Rule("str"),
    "resolution": _positive(),
    "seed": Rule("int", 0, 2**31 - 1),
    "leiden_iterations": Rule("int", -1),
    "max_collected_links": _positive("int"),
    "min_community_size": _positive("int"),
    "identifier_groups": Rule("bool"),
    "core_resolution": _unit(),
    "member_bayes_factor": Rule("float", 1.0),
    "flag_threshold": _unit(),
    "min_membership": _unit(),
    "unmarked_membership": _unit(),
    "payer_flag_share": _nonneg("float"),
    "succession_flag_share": _nonneg("float"),
    "succession_join_confidence": _unit(),
    "burst_window_hours": _positive(),
    "new_account_days": _nonneg(),
    "model_release_window_hours": _positive(),
    "release_after_start_hours": _nonneg(),
    "indicator_weights": Rule("weights"),
    "profile_indicators": Rule("names"),
    "profile_gate": _positive(),
    "template_breadth": _positive(),
    "template_min_lift": _positive(),
    "template_across_payers": Rule("bool"),
    "burst_excess": _nonneg(),
    "sync_member_similarity": _unit(),
    "volume_decades": _positive(),
    "human_hour_entropy": Rule("float", 0.0, 1.0, high_open=True),
    "human_hours_quorum": _unit(),
    "pooled_day": Rule("bool"),
    "seeds_override_day": Rule("bool"),
    "model_jump_scale": _positive(),
    "model_jump_prior_requests": _nonneg(),
    "size_scale": _positive(),
    "org_discount": _unit(),
    "evidence_thresholds": Rule("weights"),
    "top_entities_shown": _nonneg("int"),
    "stable_id_min_jaccard": _unit(),
    "change_share": _unit(),
    "change_size_ratio": _nonneg(),
    "change_suspicion_delta": _unit(),
    "share_min_accounts": _positive("int"),
    "flag_rule": Rule("str"),
    "flag_fdr": Rule("float", 0.0, 1.0, low_open=True, high_open=True),
    "purpose_test": Rule("bool"),
    "purpose_alpha": Rule("float", 0.0, 1.0, low_open=True, high_open=True),
    "purpose_quantile": Rule("float", 0.0, 1.0, low_open=True, high_open=True),
    "purpose_median_factor": Rule("float", 1.0),
    "purpose_egress_share": Rule("float", 0.0, 1.0, low_open=True),
    "fdr_drop_strongest": _nonneg("int"),
    "fdr_resource_family": Rule("bool"),
    "fdr_same_source": Rule("bool"),
    "resource_correlation": Rule("float", 0.0, 1.0, high_open=True),
    "resource_indicators": Rule("names"),
    "relational_indicators": Rule("names"),
    "org_domain_indicators": Rule("names"),
    "client_signals": Rule("names"),
    "group_indicators": Rule("names"),
    "org_domain_concentration": Rule("float", 0.0, 1.0, low_open=True),
    "identifiers": Rule("columns"),
    "derive_ip_network": Rule("bool"),
    "ipv4_network_prefix": Rule("int", 8, 32),
    "ipv6_network_prefix": Rule("int", 16, 128),
    "canonical_email": Rule("bool"),
    "derive_email_domain": Rule("bool"),
    "canonical_phone": Rule("bool"),
    "phone_region": Rule("str"),
    "unknown_accounts": Rule("str"),
    "pseudonymize": Rule("names"),
    "walk_damping": Rule("float", 0.0, 1.0, low_open=True, high_open=True),
    "walk_tolerance": Rule("float", 0.0, 1e-3, low_open=True),
    "walk_link_weight": _nonneg(),
    "attribution_threshold": _unit(),
    "attribution_folds": Rule("int", 2),
    "attribution_community_weight": _unit(),
    "succession_window_hours": _positive(),
    "succession_min_overlap": _nonneg(),
    "expand_top": _positive("int"),
    "expand_entities_shown": _nonneg("int"),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(name: str, value: Any, rule: Rule) -> None:
    # 3.0 from a JSON file is an integer written as a float: accept it, refuse 3.5 and True.
    integral = (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer())
    if rule.type == "int" and not integral:
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not _is_number(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low):
        op = ">" if rule.low_open else ">="
        raise ConfigError(f"{name} must be {op} {_fmt(rule.low)}, got {value!r}")
    if rule.high is not None and (value >= rule.high if rule.high_open else value > rule.high):
        op = "<" if rule.high_open else "<="
        raise ConfigError(f"{name} must be {op} {_fmt(rule.high)}, got {value!r}")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_value(name: str, value: Any) -> Any:
    """Check one field's value against its rule; returns it normalized (ints as ``int``,
    name lists as tuples)."""
    rule = RULES[name]
    if rule.type == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        return value
    if rule.type == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if rule.type == "columns":
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(f"{name} must be an object of column: kind, got {value!r}")
        return dict(value)
    if rule.type == "names":
        if isinstance(value, str) or not isinstance(value, list | tuple) or not all(
                isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of names, got {value!r}")
        return tuple(value)
    if rule.type == "weights":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{name} must be an object of name: number, got {value!r}")
        for key, v in value.items():
            _check_number(f"{name}[{key!r}]", v, Rule("float", 0.0))
        return {k: float(v) for k, v in value.items()}
    _check_number(name, value, rule)
    return int(value) if rule.type == "int" else float(value)


def check_settings(settings: Any) -> None:
    """Check and normalize every field of a Settings instance (frozen: set in place)."""
    for name in RULES:
        if hasattr(settings, name):
            object.__setattr__(settings, name, check_value(name, getattr(settings, name)))


__all__ = ["RULES", "Rule", "check_settings", "check_value"]
