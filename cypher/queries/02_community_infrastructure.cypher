// A community's shared infrastructure
// Shows: the community's members and every IP, payment method, prompt template and user agent
// that two or more of them share (the graph graphkit's evidence is about). Same text as
// graphkit.detection.scoring.COMMUNITY_QUERY, which communities.csv's `cypher` column pastes in.
// Parameters: $run_id, $community_id.
MATCH (c:Community {run_id: $run_id, community_id: $community_id})<-[m:MEMBER_OF]-(a:Account) OPTIONAL MATCH (a)-[r:USED_IP|PAID_WITH|SENT|USED_AGENT]->(e) WITH c, a, m, r, e, count { (e)<-[]-(:Account)-[:MEMBER_OF]->(c) } AS members_using WHERE e IS NULL OR members_using >= 2 RETURN c, a, m, r, e
