"""`graphkit neo4j` (being built)."""

import click


@click.command("neo4j")
def command() -> None:
    """Not built yet."""
    raise click.UsageError("'neo4j' is not built yet")
