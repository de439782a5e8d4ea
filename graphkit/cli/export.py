"""`graphkit export`: detected communities to Neo4j (Bolt) or to neo4j-admin import CSVs."""

from __future__ import annotations

from pathlib import Path

import click

from graphkit.errors import ConfigError
from graphkit.progress import Progress


def _ask_credentials() -> tuple[str, str]:
    # Only reached when the server demands auth and NEO4J_USER/NEO4J_PASSWORD are unset.
    user = click.prompt("Neo4j user", default="neo4j", err=True)
    password = click.prompt("Neo4j password", hide_input=True, err=True)
    return user, password


@click.command("export")
@click.argument("result_dir", type=click.Path(file_okay=False))
@click.option("--neo4j-uri", "uri", envvar="NEO4J_URI", show_envvar=True,
              help="bolt://, neo4j://, neo4j+s:// ... (credentials: NEO4J_USER, NEO4J_PASSWORD)")
@click.option("--communities", "spec", default=None,
              help="top:N (default top:20), flagged or all")
@click.option("--community", "ids", type=int, multiple=True, help="a community id (repeatable)")
@click.option("--min-suspicion", type=float, help="only communities at least this suspicious")
@click.option("--replace", is_flag=True,
              help="first remove what earlier exports wrote (see docs/neo4j.md)")
@click.option("--format", "fmt", type=click.Choice(["bolt", "neo4j-admin"]), default="bolt",
              show_default=True)
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="directory for the neo4j-admin CSVs (--format neo4j-admin)")
@click.option("--database", default=None, help="Neo4j database (default: the server's)")
@click.option("--batch-size", type=int, default=10_000, show_default=True,
              help="rows per transaction")
def command(result_dir, uri, spec, ids, min_suspicion, replace, fmt, out, database,
            batch_size) -> None:
    """Export the communities detected in RESULT_DIR (`graphkit detect --out`) to Neo4j.

    Writes the chosen communities, their accounts, the IPs, payment methods, proxy providers,
    prompt templates, user agents and models they used, and the scored links between them.
    """
    if spec and ids:
        raise ConfigError("use either --communities or --community, not both")
    selection = list(ids) if ids else (spec or "top:20")
    progress = Progress()
    if fmt == "neo4j-admin":
        from graphkit.neo4j.bulk import write_import_csvs
        from graphkit.neo4j.selection import select

        if not out:
            raise ConfigError("--format neo4j-admin needs --out DIR")
        if replace:
            raise ConfigError("--replace applies to --format bolt (the import builds a new "
                              "database)")
        with progress.step("export: select"):
            chosen = select(result_dir, selection, min_suspicion)
        with progress.step("export: write CSVs"):
            files = write_import_csvs(chosen, out, database=database or "neo4j")
        total = sum(files.counts.values())
        click.echo(f"wrote {total:,} elements of {len(chosen.community_ids)} communities to "
                   f"{out}; import with: sh {Path(out) / 'import.sh'}")
        return
    from graphkit.neo4j.export import export_to_neo4j

    report = export_to_neo4j(result_dir, uri, communities=selection, min_suspicion=min_suspicion,
                             replace=replace, batch_size=batch_size, database=database,
                             progress=progress, ask_credentials=_ask_credentials)
    click.echo(report.summary())
