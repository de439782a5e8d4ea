"""`graphkit simulate OUT`: write a synthetic request log with planted campaigns."""

from __future__ import annotations

import click

from graphkit.progress import Progress
from graphkit.simulate import PRESETS, simulate


@click.command("simulate")
@click.argument("out", type=click.Path(file_okay=False, writable=True))
@click.option("--scale", type=float, default=None,
              help="Size: 1.0 is about 30M events and 110k accounts (default 0.1).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="A size on every axis instead of --scale: "
              + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()) + ".")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed and scale give the same files.")
@click.option("--prompts", is_flag=True,
              help="Write a generated 'prompt' column instead of 'template_hash'.")
def command(out: str, scale: float | None, preset: str | None, seed: int,
            prompts: bool) -> None:
    """Write events.parquet, accounts.csv, truth.csv and seeds.csv into OUT."""
    res = simulate(out, scale=scale, seed=seed, prompts=prompts, progress=Progress(),
                   preset=preset)
    campaign = sum(res.events_by_campaign.values())
    click.echo(f"{res.n_events:,} events, {res.n_accounts:,} accounts -> {res.out_dir}")
    for name, n_acc in sorted(res.accounts_by_campaign.items()):
        click.echo(f"  campaign {name}: {n_acc:,} accounts, "
                   f"{res.events_by_campaign[name]:,} events")
    click.echo(f"  campaign share of events: {campaign / max(res.n_events, 1):.0%}")
