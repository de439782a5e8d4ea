"""Output to Neo4j: the local server, the Bolt writer and the neo4j-admin bulk files."""
