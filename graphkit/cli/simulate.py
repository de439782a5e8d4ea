"""`graphkit simulate` (being built)."""

import click


@click.command("simulate")
def command() -> None:
    """Not built yet."""
    raise click.UsageError("'simulate' is not built yet")
