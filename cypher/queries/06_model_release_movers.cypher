// Accounts whose traffic moved right after a model release
// Shows: accounts that started calling a newly released model within $hours of its release and
// sent at least $min_share of their requests to it (distillation fleets switch at once).
// A model's release time is `released_at` (set by export from detection's manifest) or else
// the first time any exported account called it.
// Parameters: $model (model name), $hours (e.g. 24), $min_share (e.g. 0.5).
MATCH (m:Model {name: $model})<-[c:CALLED]-(:Account)
WITH m, min(c.first_seen) AS first_call
WITH m, coalesce(m.released_at, first_call) AS released
MATCH (a:Account)-[r:CALLED]->(m)
WHERE r.first_seen < released + duration({hours: $hours}) AND r.share >= $min_share
RETURN a.account_id AS account_id, r.first_seen AS first_call, r.count AS requests,
       r.share AS share, a.community_id AS community_id, a.suspicion AS suspicion
ORDER BY first_call, account_id
