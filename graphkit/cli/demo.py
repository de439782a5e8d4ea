"""`graphkit demo DIR`: the whole pipeline on simulated data, one command.

simulate -> detect -> evaluate, and with ``--neo4j`` the local Neo4j server is installed if
needed, started, and the top communities exported for Neo4j Browser. Each step is the same
sub-command a user would type; the demo only chains them.
"""

from __future__ import annotations

from pathlib import Path

import click

from graphkit.cli import detect as detect_cli
from graphkit.cli import evaluate as evaluate_cli
from graphkit.cli import export as export_cli
from graphkit.cli import simulate as simulate_cli


@click.command("demo")
@click.argument("directory", type=click.Path(file_okay=False), default="graphkit-demo")
@click.option("--scale", type=float, default=0.1, show_default=True,
              help="simulated size (0.1: about 3M events, 11k accounts)")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--neo4j/--no-neo4j", "with_neo4j", default=True, show_default=True,
              help="install/start the local Neo4j and export the top communities")
@click.pass_context
def command(ctx: click.Context, directory: str, scale: float, seed: int,
            with_neo4j: bool) -> None:
    """Simulate a log with planted campaigns, detect them, score against the truth, export."""
    data, out = Path(directory), Path(directory) / "detect"
    if not (data / "truth.csv").exists():
        click.echo(f"== graphkit simulate {data} --scale {scale} --seed {seed}")
        ctx.invoke(simulate_cli.command, out=str(data), scale=scale, seed=seed, prompts=False)
    click.echo(f"== graphkit detect {data}/events.parquet --accounts ... --seeds ... --out {out}")
    ctx.invoke(detect_cli.command, events=(str(data / "events.parquet"),),
               accounts=str(data / "accounts.csv"), seeds=str(data / "seeds.csv"),
               out=str(out), settings_file=None, resolution=None, method=None, seed=None,
               flag_fdr=None, flag_threshold=None, on_bad_rows="error", rejects=None, top=10)
    click.echo(f"== graphkit evaluate {out} --truth {data}/truth.csv")
    ctx.invoke(evaluate_cli.command, result_dir=str(out), truth=str(data / "truth.csv"),
               no_naive=False, as_json=False)
    if not with_neo4j:
        return
    from graphkit.neo4j import server as neo4j_server

    click.echo("== graphkit neo4j start  (first time: resolves Neo4j 5.26 from Maven Central)")
    neo4j_server.install()
    info = neo4j_server.start()
    click.echo(f"== graphkit export {out} --neo4j-uri {info.bolt_uri} --communities top:5")
    ctx.invoke(export_cli.command, result_dir=str(out), uri=info.bolt_uri, spec="top:5",
               ids=(), min_suspicion=None, replace=True, fmt="bolt", out=None, database=None,
               batch_size=10_000)
    where = ("NEO4J_PASSWORD" if info.credentials_source == "environment"
             else info.credentials_source)
    click.echo(f"Neo4j Browser: {info.browser_url} (user neo4j, password in {where}); paste "
               f"the 'cypher' column of {out}/communities.csv to see a community. Stop the "
               "server with `graphkit neo4j stop`.")
