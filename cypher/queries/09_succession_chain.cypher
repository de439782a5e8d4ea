// A hydra succession chain
// Shows: the chain of replacements an account belongs to: every banned account and the
// account created to replace it (SUCCEEDED_BY, from successions.csv), in order, with the gap
// after the ban and what the two shared.
// Parameters: $account_id (any account of the chain).
MATCH (a:Account {account_id: $account_id})
MATCH p = (first:Account)-[:SUCCEEDED_BY*0..]->(a)
WHERE NOT ()-[:SUCCEEDED_BY]->(first)
WITH first ORDER BY length(p) DESC LIMIT 1
MATCH chain = (first)-[:SUCCEEDED_BY*0..]->(last:Account)
WHERE NOT (last)-[:SUCCEEDED_BY]->()
WITH chain ORDER BY length(chain) DESC LIMIT 1
UNWIND relationships(chain) AS r
RETURN startNode(r).account_id AS predecessor, endNode(r).account_id AS successor,
       startNode(r).banned_at AS banned_at, endNode(r).created_at AS created_at,
       r.gap_hours AS gap_hours, r.confidence AS confidence, r.shared AS shared
ORDER BY r.position, banned_at
