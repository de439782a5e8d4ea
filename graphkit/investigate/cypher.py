"""Saved Cypher an investigator runs after ``graphkit export``, built from the registry.

Labels and relationship types come from :mod:`graphkit.registry` (and pass
:func:`~graphkit.registry.check_identifier`); data only travels as parameters.

>>> print(COMMUNITY_QUERY.replace(" OPTIONAL", "\\nOPTIONAL"))  # doctest: +NORMALIZE_WHITESPACE
MATCH (c:Community {run_id: $run_id, community_id: $community_id})<-[m:MEMBER_OF]-(a:Account)
OPTIONAL MATCH (a)-[r:USED_IP|PAID_WITH|SENT|USED_AGENT]->(e) WITH c, a, m, r, e,
count { (e)<-[]-(:Account)-[:MEMBER_OF]->(c) } AS members_using
WHERE e IS NULL OR members_using >= 2 RETURN c, a, m, r, e
"""

from __future__ import annotations

from graphkit.registry import (
    ACCOUNT_LABEL,
    COMMUNITY_LABEL,
    check_identifier,
    signal_kinds,
)

# Relationships from an account to the entities of its link signals (a proxy provider hangs
# off an IP, so it is not among them), in registry order.
SIGNAL_RELS: tuple[str, ...] = tuple(check_identifier(k.rel) for k in signal_kinds()
                                     if k.source == ACCOUNT_LABEL)

_ACCOUNT = check_identifier(ACCOUNT_LABEL)
_COMMUNITY = check_identifier(COMMUNITY_LABEL)
_MEMBER_OF = check_identifier("MEMBER_OF")

# The Cypher an investigator runs (after `graphkit export`) to see a community and what ties it
# together: its members and every entity two or more of them share. Parameters only; in Neo4j
# Browser they are set with `:param run_id => '...'` and `:param community_id => N`.
COMMUNITY_QUERY = (
    f"MATCH (c:{_COMMUNITY} {{run_id: $run_id, community_id: $community_id}})"
    f"<-[m:{_MEMBER_OF}]-(a:{_ACCOUNT}) "
    f"OPTIONAL MATCH (a)-[r:{'|'.join(SIGNAL_RELS)}]->(e) "
    f"WITH c, a, m, r, e, count {{ (e)<-[]-(:{_ACCOUNT})-[:{_MEMBER_OF}]->(c) }} AS members_using "
    "WHERE e IS NULL OR members_using >= 2 "
    "RETURN c, a, m, r, e"
)

__all__ = ["COMMUNITY_QUERY", "SIGNAL_RELS"]
