"""Stage 4, investigation: evaluation against truth and, from known accounts, the next steps."""
