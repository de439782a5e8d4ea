"""`graphkit build` (being built)."""

import click


@click.command("build")
def command() -> None:
    """Not built yet."""
    raise click.UsageError("'build' is not built yet")
