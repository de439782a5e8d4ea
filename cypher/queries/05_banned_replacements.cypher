// A banned account's likely replacements
// Shows: accounts created within $hours after the account was banned that share one of its
// IPs or payment methods (how hydra clusters replace banned accounts), earliest first.
// Parameters: $account_id (a banned account), $hours (window after the ban, e.g. 72).
MATCH (b:Account {account_id: $account_id})
WHERE b.banned_at IS NOT NULL
MATCH (b)-[:USED_IP|PAID_WITH]->(e)<-[:USED_IP|PAID_WITH]-(n:Account)
WHERE n <> b AND n.created_at >= b.banned_at
  AND n.created_at < b.banned_at + duration({hours: $hours})
WITH b, n, collect(DISTINCT coalesce(e.ip, e.payment_id)) AS shared
RETURN n.account_id AS account_id, n.created_at AS created_at,
       duration.between(b.banned_at, n.created_at).hours AS hours_after_ban,
       n.status AS status, n.community_id AS community_id, shared
ORDER BY created_at, account_id
