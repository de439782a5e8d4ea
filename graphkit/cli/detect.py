"""`graphkit detect` (being built)."""

import click


@click.command("detect")
def command() -> None:
    """Not built yet."""
    raise click.UsageError("'detect' is not built yet")
