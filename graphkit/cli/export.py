"""`graphkit export` (being built)."""

import click


@click.command("export")
def command() -> None:
    """Not built yet."""
    raise click.UsageError("'export' is not built yet")
