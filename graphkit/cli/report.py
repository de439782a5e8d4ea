"""`graphkit report`: one self-contained HTML investigation report of a detection run."""

from __future__ import annotations

import click


@click.command("report")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False),
              help="HTML file to write (default DIRECTORY/report.html)")
@click.option("--events", "events", multiple=True, type=click.Path(dir_okay=False),
              help="event file(s) (Parquet or CSV: account_id, ts, model) for the timelines; "
                   "repeat for several; DIRECTORY/activity.parquet is used instead when present")
@click.option("--previous", is_flag=True,
              help="add 'what changed since the last run' from DIRECTORY/changes.csv")
@click.option("--bin", "bin_", default="1h", show_default=True,
              help="timeline bucket width (e.g. 15min, 1h, 1d)")
def command(directory, out, events, previous, bin_) -> None:
    """Write an HTML report of the `graphkit detect` output in DIRECTORY.

    Overview (ranked clusters, suspicion histogram with the flag cut, signals, settings), then
    per flagged cluster: its account-entity subgraph, request timeline, shared entities,
    creation and bans, per-signal waterfalls, successions and the evidence with its Cypher.
    The file embeds everything it shows and fetches nothing when opened.
    """
    from graphkit.report.writer import write_report

    result = write_report(directory, out, events=list(events) or None, previous=previous,
                          bin=bin_)
    click.echo(f"report of {result.clusters} flagged clusters in {result.path} "
               f"({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s)")
