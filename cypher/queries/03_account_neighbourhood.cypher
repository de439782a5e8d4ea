// Accounts within two hops of an account
// Shows: accounts tied to one account directly by a scored link (SIMILAR_TO), through a link of
// a linked account, or through a shared IP, payment method or prompt template; with the
// fewest hops and their community. User agents and models are left out: they are shared by
// too many unrelated accounts to mean anything.
// Parameters: $account_id.
MATCH p = (a:Account {account_id: $account_id})-[:SIMILAR_TO|USED_IP|PAID_WITH|SENT*1..2]-(b:Account)
WHERE b <> a
RETURN b.account_id AS account_id, min(length(p)) AS hops, b.community_id AS community_id,
       b.suspicion AS suspicion, b.flagged AS flagged
ORDER BY hops, suspicion DESC, account_id
LIMIT 1000
