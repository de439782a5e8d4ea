"""`graphkit neo4j install|start|stop|status`: the local Neo4j 5.26 server.

The server home is ``--home``, else ``$GRAPHKIT_NEO4J_HOME``, else ``./.neo4j``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from graphkit.neo4j import server as ns
from graphkit.neo4j.auth import credentials

_home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Server home (default: $GRAPHKIT_NEO4J_HOME or ./.neo4j).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _emit(result: object, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(ns.as_dict(result), indent=2))  # type: ignore[arg-type]
    else:
        click.echo("\n".join(lines))


@click.group("neo4j")
def command() -> None:
    """Install and run a local Neo4j 5.26 server with OpenGDS and Neo4j Browser.

    Everything is resolved from Maven Central into the server home; only Java 17+ and Maven
    are needed. The server listens on 127.0.0.1 only and demands the password of user neo4j:
    NEO4J_PASSWORD, else the one generated into HOME/conf/graphkit-password on first start.
    """


@command.command("install")
@_home_option
@click.option("--force", is_flag=True, help="Resolve the jars again even if installed.")
@_json_option
def install_cmd(home: Path | None, force: bool, as_json: bool) -> None:
    """Resolve Neo4j, Neo4j Browser and OpenGDS jars with Maven (idempotent)."""
    paths = ns.install(home, force=force)
    state = "installed" if paths.installed_now else "already installed"
    _emit(
        paths,
        as_json,
        [
            (
                f"Neo4j {paths.neo4j_version} + OpenGDS {paths.gds_version} + Neo4j Browser "
                f"{paths.browser_version} {state} in {paths.home} ({paths.jars} jars)"
            )
        ],
    )


@command.command("start")
@_home_option
@click.option("--bolt-port", type=int, default=7687, show_default=True)
@click.option("--http-port", type=int, default=7474, show_default=True)
@click.option("--timeout", type=float, default=180, show_default=True, help="Seconds to wait.")
@click.option("--heap", default="1g", show_default=True, help="JVM heap (-Xms/-Xmx).")
@click.option("--no-auth", is_flag=True,
              help="Turn authentication off: anyone on this machine can read and change the "
                   "database. Only for throw-away data.")
@click.option("--shared", is_flag=True,
              help="Let the owner's group read the store, logs and password file (0750/0640) "
                   "instead of the owner only (0700/0600).")
@_json_option
def start_cmd(
    home: Path | None, bolt_port: int, http_port: int, timeout: float, heap: str,
    no_auth: bool, shared: bool, as_json: bool,
) -> None:
    """Start the server in the background and wait until Bolt answers."""
    if no_auth:
        click.echo("warning: authentication is off (--no-auth): any user or process on this "
                   "machine can read and delete the investigation", err=True)
    info = ns.start(home, bolt_port, http_port, timeout, heap=heap, auth=not no_auth,
                    shared=shared)
    head = f"started in {info.startup_seconds:.1f}s" if info.started_now else "already running"
    _emit(
        info,
        as_json,
        [
            f"Neo4j {head} (pid {info.pid})",
            f"  bolt:    {info.bolt_uri}",
            f"  http:    {info.http_url}",
            f"  browser: {info.browser_url}",
            f"  auth:    {_auth_line(info.auth, info.credentials_source)}",
            f"  log:     {info.log_path}",
        ],
    )


def _auth_line(auth: bool | None, source: str | None) -> str:
    if not auth:
        return "OFF (--no-auth)"
    where = "NEO4J_PASSWORD" if source == "environment" else source
    return f"user neo4j, password from {where}"


@command.command("stop")
@_home_option
@click.option(
    "--timeout", type=float, default=60, show_default=True, help="Seconds before SIGKILL."
)
def stop_cmd(home: Path | None, timeout: float) -> None:
    """Stop the server."""
    click.echo("stopped" if ns.stop(home, timeout=timeout) else "not running")


@command.command("status")
@_home_option
@_json_option
def status_cmd(home: Path | None, as_json: bool) -> None:
    """Show whether the server runs, its URIs, pid and log. Exit status 1 when not running."""
    st = ns.status(home)
    if st.running:
        creds = credentials(st.home, uri=st.bolt_uri)
        auth = _auth_line(st.auth, creds.source if creds else "nowhere (set NEO4J_PASSWORD)")
        if st.auth:
            auth += ": accepted" if st.credentials_accepted else ": REFUSED"
        lines = [
            f"running (pid {st.pid})",
            f"  bolt:    {st.bolt_uri}",
            f"  http:    {st.http_url}",
            f"  browser: {st.browser_url}",
            f"  auth:    {auth}",
            f"  log:     {st.log_path}",
        ]
    elif st.process_alive:
        lines = [f"process {st.pid} is alive but Bolt does not answer", f"  log: {st.log_path}"]
    else:
        lines = [f"not running (home {st.home})", f"  log: {st.log_path}"]
    _emit(st, as_json, lines)
    if not st.running:
        sys.exit(1)
