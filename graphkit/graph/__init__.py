"""Stage 2, graph: the heterogeneous account-entity graph built from a Dataset."""
