"""Stage 3, detection: signals, links, communities, indicators, scoring and evidence."""
