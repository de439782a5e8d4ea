"""Sharing results with other teams: flagged communities as STIX 2.1 indicators, and back."""
