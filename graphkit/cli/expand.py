"""`graphkit expand`: accounts ranked by their tie to seed accounts."""

from __future__ import annotations

import click

from graphkit.errors import ConfigError
from graphkit.settings import Settings


@click.command("expand")
@click.argument("events", nargs=-1, required=True)
@click.option("--seed", "seed", multiple=True, help="seed account id (repeatable)")
@click.option("--seeds", "seeds_file", type=click.Path(dir_okay=False, exists=True),
              help="CSV with an account_id column (e.g. a seeds file)")
@click.option("--accounts", "accounts", type=click.Path(dir_okay=False), help="accounts file")
@click.option("--top", type=int, help="accounts listed (default: settings expand_top, 50)")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False),
              help="JSON settings (a manifest.json works)")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="output directory (expansion.csv, manifest.json)")
def command(events, seed, seeds_file, accounts, top, settings_file, out) -> None:
    """Rank the accounts of EVENTS by how strongly they are tied to the seed accounts."""
    from graphkit.investigate.expand import expand
    from graphkit.io import load
    from graphkit.io.tables import read_csv_strings

    seeds = list(seed)
    if seeds_file:
        table = read_csv_strings(seeds_file, all_strings=True, required=("account_id",))
        seeds += table["account_id"].tolist()
    if not seeds:
        raise ConfigError("give --seed ACCOUNT (repeatable) or --seeds FILE")
    settings = Settings.from_file(settings_file) if settings_file else Settings()
    dataset = load(list(events) if len(events) > 1 else events[0], accounts=accounts)
    result = expand(dataset, list(dict.fromkeys(seeds)), top=top, settings=settings)
    result.write(out)
    click.echo(f"{len(result.results)} accounts ranked from {len(result.seeds)} seed(s); "
               f"results in {out}/expansion.csv")
    for _, row in result.results.head(10).iterrows():
        click.echo(f"  {row['rank']:>3} {row['account_id']} mass {row['mass']:.4f} "
                   f"tied to {row['seed']}: {row['shared']}")
