// Top communities by suspicion
// Shows: the run's most suspicious communities with size, actor and plain-English evidence.
// Parameters: $run_id (the run to rank; from manifest.json or a Community node), $limit (rows).
MATCH (c:Community {run_id: $run_id})
RETURN c.community_id AS community_id, c.size AS size, c.suspicion AS suspicion,
       c.flagged AS flagged, c.actor AS actor, c.evidence AS evidence
ORDER BY suspicion DESC, size DESC, community_id
LIMIT $limit
