"""Command-line interface: a thin layer over the library.

Each sub-command lives in its own module in this package and exposes ``command``. Errors derived
from :class:`graphkit.errors.GraphkitError` are printed as one line and exit with status 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from graphkit import __version__
from graphkit.errors import GraphkitError

# Sub-command modules, in the order `graphkit --help` lists them (pipeline order).
_COMMAND_MODULES = ("simulate", "build", "detect", "expand", "report", "evaluate", "neo4j",
                    "export", "share", "demo")


class _GraphkitGroup(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except GraphkitError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except click.UsageError as exc:  # a bad option value: one line, as for the others
            hint = f" (see: graphkit {exc.ctx.info_name} --help)" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(2)
        except OSError as exc:  # missing, unreadable, read-only: one line naming the path
            where = exc.filename if exc.filename is not None else "(file system)"
            click.echo(f"error: {where}: {exc.strerror or exc}", err=True)
            sys.exit(2)


@click.group(cls=_GraphkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphkit")
def main() -> None:
    """graphkit: attribute coordinated account networks in API request logs."""


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(f"graphkit.cli.{_name}")
    main.add_command(_module.command)
