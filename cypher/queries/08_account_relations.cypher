// Transfers, referrals and other relations of an account
// Shows: every account-to-account relation (the relations file: TRANSFERRED_TO, REFERRED,
// INVITED, user kinds) in either direction, with how many, the summed amount, when, and the
// other account's community and suspicion. Scored links (SIMILAR_TO) are left out.
// Parameters: $account_id.
MATCH (a:Account {account_id: $account_id})-[r]-(b:Account)
WHERE type(r) <> 'SIMILAR_TO'
RETURN type(r) AS relation,
       CASE WHEN startNode(r) = a THEN 'out' ELSE 'in' END AS direction,
       b.account_id AS account_id, r.count AS count, r.amount AS amount,
       r.first_seen AS first_seen, r.last_seen AS last_seen,
       b.community_id AS community_id, b.suspicion AS suspicion
ORDER BY first_seen, relation, account_id
