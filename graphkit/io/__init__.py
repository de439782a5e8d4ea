"""Stage 1, input: read, validate and code request logs, accounts and seeds into a Dataset."""
