// graphkit schema: uniqueness constraints (each also creates the index MERGE looks keys up in)
// and the indexes the investigator queries filter on. Idempotent (IF NOT EXISTS).
// `graphkit export` runs exactly these statements before writing; tests check they match.
CREATE CONSTRAINT graphkit_account IF NOT EXISTS FOR (n:Account) REQUIRE n.account_id IS UNIQUE;
CREATE CONSTRAINT graphkit_ip IF NOT EXISTS FOR (n:IP) REQUIRE n.ip IS UNIQUE;
CREATE CONSTRAINT graphkit_payment_method IF NOT EXISTS FOR (n:PaymentMethod) REQUIRE n.payment_id IS UNIQUE;
CREATE CONSTRAINT graphkit_prompt_template IF NOT EXISTS FOR (n:PromptTemplate) REQUIRE n.template_hash IS UNIQUE;
CREATE CONSTRAINT graphkit_proxy_provider IF NOT EXISTS FOR (n:ProxyProvider) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT graphkit_user_agent IF NOT EXISTS FOR (n:UserAgent) REQUIRE n.user_agent IS UNIQUE;
CREATE CONSTRAINT graphkit_model IF NOT EXISTS FOR (n:Model) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT graphkit_community IF NOT EXISTS FOR (n:Community) REQUIRE (n.run_id, n.community_id) IS UNIQUE;
CREATE INDEX graphkit_community_suspicion IF NOT EXISTS FOR (n:Community) ON (n.suspicion);
CREATE INDEX graphkit_account_suspicion IF NOT EXISTS FOR (n:Account) ON (n.suspicion);
CREATE INDEX graphkit_account_created IF NOT EXISTS FOR (n:Account) ON (n.created_at);
