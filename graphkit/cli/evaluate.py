"""`graphkit evaluate` (being built)."""

import click


@click.command("evaluate")
def command() -> None:
    """Not built yet."""
    raise click.UsageError("'evaluate' is not built yet")
