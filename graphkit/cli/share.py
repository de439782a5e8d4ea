"""`graphkit share`: a detect result's flagged communities as a STIX 2.1 bundle."""

from __future__ import annotations

import click


@click.command("share")
@click.argument("result_dir", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["stix"]), default="stix", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="bundle file to write (JSON)")
@click.option("--producer", default="graphkit", show_default=True,
              help="name of the producing Identity")
@click.option("--pseudonymize", is_flag=True,
              help="HMAC-SHA256 IPs and payment ids with the key in GRAPHKIT_PSEUDONYM_KEY")
def command(result_dir, fmt, out, producer, pseudonymize) -> None:
    """Write RESULT_DIR's flagged communities (a `graphkit detect` output) as a STIX bundle:
    an Identity, one Grouping per community and Indicators for the IPs, payment fingerprints,
    templates and proxy operators its members share."""
    from graphkit.share.stix import write_bundle

    counts = write_bundle(result_dir, out, producer=producer, pseudonymize=pseudonymize)
    click.echo(f"wrote {counts['indicators']} indicators in {counts['groupings']} groupings "
               f"to {out}")
