"""`graphkit detect`: ranked suspicious communities with evidence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from graphkit.progress import Progress
from graphkit.settings import Settings


@click.command("detect")
@click.argument("events", nargs=-1, required=True)
@click.option("--accounts", "accounts", type=click.Path(dir_okay=False), help="accounts file")
@click.option("--seeds", "seeds", type=click.Path(dir_okay=False), help="attributed seed accounts")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="output directory")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="JSON settings (a previous manifest.json works) to reproduce a run")
@click.option("--resolution", type=float,
              help="link density a community must exceed (CPM, default 0.03); the modularity "
                   "resolution with --method leiden")
@click.option("--method", type=click.Choice(["leiden", "leiden-cpm", "components"]))
@click.option("--seed", type=int, help="random seed for community detection")
@click.option("--flag-threshold", type=float, help="community suspicion needed to flag")
@click.option("--on-bad-rows", type=click.Choice(["error", "skip"]), default="error",
              show_default=True)
@click.option("--rejects", type=click.Path(dir_okay=False), help="where skipped rows go")
@click.option("--top", type=int, default=10, show_default=True,
              help="flagged communities to print")
@click.option("--previous", "previous", type=click.Path(),
              help="previous result directory: keep its community ids, report what changed")
@click.option("--report", "report", is_flag=True, help="also write OUT/report.html (HTML report)")
def command(events, accounts, seeds, out, settings_file, resolution, method, seed,
            flag_threshold, on_bad_rows, rejects, top, previous, report) -> None:
    """Detect coordinated account networks in EVENTS and write them to --out.

    Writes accounts.csv, communities.csv, links.csv, graph/ and manifest.json (with the settings
    that reproduce the run).
    """
    from graphkit.detection.pipeline import detect
    from graphkit.io import load

    settings = Settings.from_file(settings_file) if settings_file else Settings()
    overrides = {k: v for k, v in {"resolution": resolution, "method": method, "seed": seed,
                                   "flag_threshold": flag_threshold}.items() if v is not None}
    settings = dataclasses.replace(settings, **overrides)
    progress = Progress()
    with progress.step("load"):
        dataset = load(list(events) if len(events) > 1 else events[0], accounts=accounts,
                       seeds=seeds, on_bad_rows=on_bad_rows, rejects_path=rejects,
                       progress=progress)
    result = detect(dataset, settings, progress=progress, previous=previous)
    with progress.step("write"):
        result.write(Path(out))
    if report:
        from graphkit.report.writer import write_report
        with progress.step("report"):
            write_report(out, Path(out) / "report.html")
    flagged = result.flagged_communities()
    click.echo(f"{int(result.accounts['flagged'].sum())} accounts flagged in {len(flagged)} "
               f"communities (of {len(result.accounts)} accounts); results in {out}")
    for _, row in flagged.head(top).iterrows():
        actor = f" [{row['actor']}]" if isinstance(row["actor"], str) else ""
        click.echo(f"  #{row['community_id']}{actor} suspicion {row['suspicion']:.2f}: "
                   f"{row['evidence']}")
    if previous is not None:
        from graphkit.investigate.stable_ids import print_changes

        print_changes(result, click.echo)
