// Who shares a value of any identifier kind with this account
// Shows: for each value the account holds (an IP, a card, a device, an e-mail, an API key, a
// phone, any declared kind), the other accounts holding it, with the value's label and key.
// Works for every kind: the kind is a label passed as a parameter (null: all kinds), never
// spliced into the query; values are compared through the key property of their label.
// Models and communities are left out (context, not identifiers).
// Parameters: $account_id, $label (e.g. 'Device', 'PaymentMethod'; null for every kind).
MATCH (a:Account {account_id: $account_id})-[r1]->(v)<-[r2]-(b:Account)
WHERE type(r1) = type(r2) AND b <> a AND NOT v:Model AND NOT v:Community
  AND ($label IS NULL OR $label IN labels(v))
WITH v, b, type(r1) AS via,
     coalesce(v.value, v.ip, v.payment_id, v.template_hash, v.user_agent, v.name) AS value
RETURN labels(v)[0] AS kind, value, via, count(b) AS accounts,
       collect(b.account_id)[..50] AS account_ids
ORDER BY accounts DESC, kind, value
LIMIT 1000
