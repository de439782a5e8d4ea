// Who else used this payment method
// Shows: every account that paid with the payment method, when and how much, with its
// community and suspicion; cards shared across a fleet are among the strongest evidence.
// Parameters: $payment_id.
MATCH (p:PaymentMethod {payment_id: $payment_id})<-[r:PAID_WITH]-(a:Account)
RETURN a.account_id AS account_id, a.status AS status, a.community_id AS community_id,
       a.suspicion AS suspicion, r.count AS requests, r.first_seen AS first_seen,
       r.last_seen AS last_seen
ORDER BY first_seen, account_id
