"""`graphkit evaluate`: detection figures against ground truth, beside the naive recipe."""

from __future__ import annotations

import json

import click


@click.command("evaluate")
@click.argument("result_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--truth", required=True, type=click.Path(dir_okay=False, exists=True),
              help="truth.csv (account_id, campaign, actor, kind)")
@click.option("--no-naive", is_flag=True, help="skip the naive-recipe comparison")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def command(result_dir, truth, no_naive, as_json) -> None:
    """Precision, recall, F1, AUC, per-campaign recall, per-kind false positives and ARI."""
    from graphkit.investigate.evaluate import evaluate, format_metrics

    rows = evaluate(result_dir, truth, naive=not no_naive)
    if as_json:
        click.echo(json.dumps({m.method: m.to_dict() for m in rows}, indent=2))
    else:
        click.echo(format_metrics(rows))
