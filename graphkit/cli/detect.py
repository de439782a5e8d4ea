"""`graphkit detect`: ranked suspicious communities with evidence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from graphkit.cli.inputs import (
    events_spec,
    identifier_options,
    skipped_rows_line,
    with_identifiers,
)
from graphkit.errors import ConfigError
from graphkit.progress import Progress
from graphkit.settings import Settings


@click.command("detect")
@click.argument("events", nargs=-1, required=False)
@click.option("--accounts", "accounts", type=click.Path(dir_okay=False), help="accounts file")
@click.option("--seeds", "seeds", type=click.Path(dir_okay=False), help="attributed seed accounts")
@click.option("--indicators", "indicators", type=click.Path(dir_okay=False, exists=True),
              help="shared indicators (actor, kind, value): attribute accounts to actors")
@click.option("--release", "release", multiple=True, metavar="MODEL@TIME",
              help="a model release (repeatable), e.g. frontier-2@2026-09-21T08:00Z")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="output directory")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="JSON settings (a previous manifest.json works) to reproduce a run")
@click.option("--resolution", type=float,
              help="link density a community must exceed (CPM, default 0.03); the modularity "
                   "resolution with --method leiden")
@click.option("--method", type=click.Choice(["leiden", "leiden-cpm", "components"]))
@click.option("--seed", type=int, help="random seed for community detection")
@click.option("--flag-fdr", type=float,
              help="false discovery rate q of the data-driven flag cut (default 0.05)")
@click.option("--flag-threshold", type=float,
              help="flag at this fixed community suspicion instead of the FDR cut")
@click.option("--on-bad-rows", type=click.Choice(["error", "skip"]), default="error",
              show_default=True)
@click.option("--rejects", type=click.Path(dir_okay=False), help="where skipped rows go")
@click.option("--top", type=int, default=10, show_default=True,
              help="flagged communities to print")
@click.option("--previous", "previous", type=click.Path(),
              help="previous result directory: keep its community ids, report what changed, "
                   "read only the event files its aggregate state does not cover")
@click.option("--no-incremental", "no_incremental", is_flag=True,
              help="with --previous: read every event file again instead of reusing the "
                   "previous run's aggregate state (the outputs are the same)")
@click.option("--report", "report", is_flag=True, help="also write OUT/report.html (HTML report)")
@click.option("--account-feature", "account_feature", multiple=True,
              help="accounts-file column to use as an account feature (repeatable)")
@click.option("--labels", type=click.Path(dir_okay=False, exists=True),
              help="investigator labels (account_id, label 0/1): supervised account score")
@click.option("--labels-include-banned", is_flag=True, help="banned accounts count as positive")
@click.option("--labels-include-seeds", is_flag=True, help="seed accounts count as positive")
@click.option("--model", "model", type=click.Path(dir_okay=False, exists=True),
              help="apply an account model saved by --save-model")
@click.option("--save-model", "save_model", type=click.Path(dir_okay=False),
              help="save the model trained on --labels")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
              show_default=True, help="where the event-sized stages run (spark: pip install "
              "'graphkit[spark]'; docs/scale-out.md)")
@click.option("--spark-master", "spark_master", default="local[*]", show_default=True,
              help="Spark master URL with --engine spark")
@identifier_options
def command(events, accounts, seeds, indicators, release, out, settings_file, resolution,
            method, seed, flag_fdr, flag_threshold, on_bad_rows, rejects, top, previous,
            no_incremental, report,
            account_feature, labels, labels_include_banned, labels_include_seeds, model,
            save_model, engine, spark_master, identifier, identifiers_file, relations_file,
            asn_file, pseudonymize) -> None:
    """Detect coordinated account networks in EVENTS and write them to --out.

    Writes accounts.csv, communities.csv, links.csv, graph/, state/ (the events' aggregates,
    reused by the next run with --previous) and manifest.json (with the settings that
    reproduce the run). EVENTS may be omitted when --accounts, --identifiers or
    --relations give the data; the stages that need request events then report that they did
    not run.

    \b
    Examples:
      graphkit detect logs/ --accounts accounts.csv --out result/
      graphkit detect logs/ --identifier device_id:device --identifier key:api_key --out r/
      graphkit detect logs/ --accounts accounts.csv --identifier email --asn ip2asn.csv --out r/
      graphkit detect --accounts accounts.csv --identifiers identifiers.csv \\
          --relations transfers.csv --out result/
      GRAPHKIT_PSEUDONYM_KEY=... graphkit detect logs/ --pseudonymize ip,payment --out r/
    """
    from graphkit.detection.features import parse_releases
    from graphkit.detection.incremental import Resume, load_incremental
    from graphkit.detection.pipeline import detect
    from graphkit.io import load
    from graphkit.io.outputs import result_dir

    settings = Settings.from_file(settings_file) if settings_file else Settings()
    overrides = {k: v for k, v in {"resolution": resolution, "method": method, "seed": seed,
                                   "flag_fdr": flag_fdr, "flag_threshold": flag_threshold,
                                   "flag_rule": None if flag_threshold is None else "threshold",
                                   }.items() if v is not None}
    settings = with_identifiers(dataclasses.replace(settings, **overrides), identifier,
                                pseudonymize)
    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    spec = events_spec(events, accounts, identifiers_file, relations_file)
    given_releases = parse_releases(release)
    progress = Progress()
    # Held from the start: a second run on the same --out is refused before any work.
    with result_dir(Path(out)) as tmp:
        with progress.step("load"):
            side = {"accounts": accounts, "seeds": seeds, "identifiers": identifiers_file,
                    "relations": relations_file, "asn": asn_file, "on_bad_rows": on_bad_rows,
                    "rejects_path": rejects}
            resume, dataset = None, None
            if previous is not None and no_incremental:
                resume = Resume(None, "asked for with --no-incremental", previous)
            if resume is None and previous is not None and engine == "duckdb" and spec:
                # Only the event files the previous run's aggregate state lacks.
                dataset, resume = load_incremental(spec, previous, settings=settings,
                                                   releases=given_releases, progress=progress,
                                                   **side)
            if dataset is None:
                dataset = load(spec, settings=settings, progress=progress, **side)
        scoring = scoring_options(account_feature, labels, labels_include_banned,
                                  labels_include_seeds, model, save_model, settings)
        spark = None
        if engine == "spark":
            from graphkit.engine.spark import SparkOptions
            spark = SparkOptions(master=spark_master)
        result = detect(dataset, settings, progress=progress, previous=previous,
                        scoring=scoring,
                        indicators=read_indicators(indicators, settings) if indicators
                        else None,
                        releases=given_releases, engine=engine, spark=spark, resume=resume,
                        release_events=True)
        # The loaded events (GBs at a million accounts) went once no stage read them; nothing
        # else of the dataset is needed to write the results.
        skipped = skipped_rows_line(dataset.rejects)
        dataset.con.close()
        del dataset
        with progress.step("write"):
            result.write_into(tmp)
        if result.state is not None:  # the spilled state is in the result now
            result.state.release()
    if report:
        from graphkit.report.writer import write_report
        with progress.step("report"):
            write_report(out, Path(out) / "report.html")
    flagged = result.flagged_communities()
    click.echo(f"{int(result.accounts['flagged'].sum())} accounts flagged in {len(flagged)} "
               f"communities (of {len(result.accounts)} accounts); results in {out}")
    if skipped:
        click.echo(skipped)
    echo_account_scoring(result.scoring)
    not_run = result.extra_outputs.get("stages_not_run")
    if not_run:
        click.echo(f"not run (no request events): {', '.join(not_run)}")
    for _, row in flagged.head(top).iterrows():
        actor = f" [{row['actor']}]" if isinstance(row["actor"], str) else ""
        click.echo(f"  #{row['community_id']}{actor} suspicion {row['suspicion']:.2f}, "
                   f"q {row['q_value']:.1e}: "
                   f"{row['evidence']}")
    if previous is not None:
        from graphkit.investigate.stable_ids import print_changes

        echo_incremental(result.extra_outputs.get("incremental"), previous)
        print_changes(result, click.echo)


def read_indicators(path: str, settings: Settings):
    """``--indicators``, their values of pseudonymized kinds as pseudonyms (so they match)."""
    from graphkit.investigate.attribution import read_indicators as read
    from graphkit.io.pseudonyms import pseudonym_key, pseudonymize_rows

    table = read(path)
    if not settings.pseudonymize:
        return table
    return pseudonymize_rows(table, settings.pseudonymize, pseudonym_key())


def scoring_options(features, labels, include_banned, include_seeds, model, save_model,
                    settings: Settings | None = None):
    """The account score's options from the command line (labels' account ids as pseudonyms
    when ``settings`` pseudonymize accounts)."""
    from graphkit.detection.account_score import ScoringOptions
    from graphkit.detection.learned import read_labels
    from graphkit.io.pseudonyms import ACCOUNT, pseudonym_key, pseudonymize_frame

    if save_model and not (labels or include_banned or include_seeds):
        raise click.UsageError("--save-model needs labels (--labels or --labels-include-*)")
    label_table = read_labels(labels) if labels else None
    if label_table is not None and settings is not None and ACCOUNT in settings.pseudonymize:
        label_table = pseudonymize_frame(label_table, "account_id", pseudonym_key(), ACCOUNT)
    return ScoringOptions(account_features=tuple(features),
                          labels=label_table,
                          labels_include_banned=include_banned,
                          labels_include_seeds=include_seeds, model_path=model,
                          save_model=save_model)


def echo_account_scoring(info: dict) -> None:
    """One line on the account score: its mode and, when supervised, its validation."""
    line = f"account score: {info.get('mode')}"
    if "cv_auc" in info:
        line += (f"; {info['labelled_accounts']} labelled accounts, cross-fitted AUC "
                 f"{info['cv_auc']:.3f}, average precision {info['cv_average_precision']:.3f}")
    if "holdout_auc" in info:
        line += (f"; on {info['labelled_accounts']} labelled accounts AUC "
                 f"{info['holdout_auc']:.3f}, average precision "
                 f"{info['holdout_average_precision']:.3f}")
    click.echo(line)


def echo_incremental(info: dict | None, previous: str) -> None:
    """One line on what a run with --previous reused of the previous run's aggregate state."""
    if info is None:
        click.echo(f"full run (not incremental): the aggregate state of {previous} is not used "
                   "by this engine or without request events")
    elif info["mode"] == "incremental":
        read = info["event_files_read"]
        click.echo(f"incremental: reused the aggregate state of {info['event_files_reused']} "
                   f"event file(s) from {previous}, read {len(read)} new: {', '.join(read)}")
    else:
        click.echo(f"full run (not incremental): {info.get('reason')}")
