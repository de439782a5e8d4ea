"""`graphkit build`: load and validate events, build the heterogeneous graph, print its size."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

from graphkit.cli.inputs import (
    events_spec,
    identifier_options,
    skipped_rows_line,
    with_identifiers,
)
from graphkit.graph.hetero import build_graph
from graphkit.io import load
from graphkit.io.outputs import result_dir
from graphkit.progress import Progress
from graphkit.settings import Settings


@click.command("build")
@click.argument("events", nargs=-1, required=False)
@click.option("--accounts", "accounts", type=click.Path(dir_okay=False),
              help="Accounts file (CSV or Parquet).")
@click.option("--seeds", "seeds", type=click.Path(dir_okay=False),
              help="Seeds file (CSV: account_id, actor).")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Save the graph here (Parquet tables + manifest.json).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of counts.")
@click.option("--on-bad-rows", type=click.Choice(["error", "skip"]), default="error",
              show_default=True, help="Stop at the first bad row, or skip and count bad rows.")
@click.option("--rejects", "rejects", type=click.Path(dir_okay=False),
              help="With --on-bad-rows skip: write skipped rows here (CSV).")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="JSON settings (declared identifiers, derived identifiers).")
@identifier_options
def command(events: tuple[str, ...], accounts: str | None, seeds: str | None, out: str | None,
            as_json: bool, on_bad_rows: str, rejects: str | None, settings_file: str | None,
            identifier: tuple[str, ...], identifiers_file: str | None,
            relations_file: str | None, asn_file: str | None,
            pseudonymize: tuple[str, ...]) -> None:
    """Build the account graph from EVENTS (files, globs or directories).

    EVENTS may be omitted when --accounts, --identifiers or --relations give the data.

    \b
    Examples:
      graphkit build logs/ --accounts accounts.csv --out graph/ --json
      graphkit build logs/ --identifier device_id:device --identifiers ids.csv --json
      graphkit build --accounts accounts.csv --relations transfers.csv --json
      GRAPHKIT_PSEUDONYM_KEY=... graphkit build logs/ --pseudonymize ip,payment --out g/
    """
    settings = with_identifiers(
        Settings.from_file(settings_file) if settings_file else Settings(), identifier,
        pseudonymize)
    progress = Progress()
    with result_dir(Path(out)) if out else contextlib.nullcontext() as tmp:
        spec = events_spec(events, accounts, identifiers_file, relations_file)
        dataset = load(spec, accounts, seeds, identifiers=identifiers_file,
                       relations=relations_file, asn=asn_file, settings=settings,
                       on_bad_rows=on_bad_rows,  # type: ignore[arg-type]
                       rejects_path=rejects, progress=progress)
        graph = build_graph(dataset, progress=progress)
        if settings.pseudonymize:  # recorded (never the key): readers know what is hashed
            graph.meta["pseudonymize"] = list(settings.pseudonymize)
        if tmp is not None:
            with progress.step("save"):
                graph.save(tmp)
    summary = graph.summary()
    if as_json:
        click.echo(json.dumps(summary))
        if dataset.rejects.total:
            click.echo(f"skipped {dataset.rejects.total} bad rows", err=True)
        return
    click.echo(f"events: {dataset.n_events}")
    for section in ("nodes", "edges"):
        click.echo(f"{section}:")
        for name, n in summary[section].items():
            click.echo(f"  {name:<15} {n}")
    skipped = skipped_rows_line(dataset.rejects)
    if skipped:
        click.echo(skipped)
    if out:
        click.echo(f"saved to {out}")
