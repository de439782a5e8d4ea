"""The local server lets no one in: authentication, CORS, file modes, credentials, masked URIs.

Everything runs against real servers: the session's (``neo4j_server``) and servers started
here in fresh homes that share its jars.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from graphkit.cli import main
from graphkit.errors import ConfigError, ExportError
from graphkit.neo4j import server as ns
from graphkit.neo4j.admin import set_initial_password
from graphkit.neo4j.auth import (
    PASSWORD_FILE,
    credentials,
    initial_credentials,
    mask_secrets,
    mask_uri,
)
from graphkit.neo4j.credentials import open_driver
from graphkit.neo4j.permissions import INSTANCE_DIRS

pytestmark = pytest.mark.neo4j

FOREIGN = "http://evil.example"


def _refused(uri: str, auth: tuple[str, str] | None) -> bool:
    try:
        with GraphDatabase.driver(uri, auth=auth, connection_timeout=10) as driver:
            driver.verify_connectivity()
    except AuthError:
        return True
    return False


def _http(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


def _modes(inst: Path) -> tuple[set[int], set[int]]:
    """The permission bits of every directory and every file of an instance's own trees."""
    dirs, files = {stat.S_IMODE(inst.stat().st_mode)}, set()
    for sub in INSTANCE_DIRS:
        for root, subdirs, names in os.walk(inst / sub):
            dirs.add(stat.S_IMODE(os.stat(root).st_mode))
            dirs |= {stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) for d in subdirs}
            files |= {stat.S_IMODE(os.lstat(os.path.join(root, n)).st_mode) for n in names
                      if not os.path.islink(os.path.join(root, n))}
    return dirs, files


@pytest.fixture
def fresh_home(neo4j_server: ns.ServerInfo, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A new server home sharing the session server's jars; its server is stopped after."""
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    monkeypatch.delenv("NEO4J_USER", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    for name in ("lib", "plugins", ".installed"):
        (home / name).symlink_to(neo4j_server.home / name)
    try:
        yield home
    finally:
        ns.stop(home)


# --- the session's server, as `graphkit neo4j start` runs it --------------------------------------

def test_unauthenticated_and_bogus_clients_are_refused(
    neo4j_server: ns.ServerInfo, neo4j_auth: tuple[str, str]
) -> None:
    uri = neo4j_server.bolt_uri
    assert _refused(uri, None)
    assert _refused(uri, ("neo4j", "not-the-password"))
    assert _refused(uri, ("intruder", neo4j_auth[1]))
    assert not _refused(uri, neo4j_auth)
    # The HTTP API too: a query without credentials is refused, with them it runs.
    query = json.dumps({"statements": [{"statement": "RETURN 1"}]}).encode()
    tx = f"{neo4j_server.http_url}/db/neo4j/tx/commit"
    json_headers = {"Content-Type": "application/json"}
    assert _http(tx, method="POST", body=query, headers=json_headers)[0] == 401
    basic = base64.b64encode(":".join(neo4j_auth).encode()).decode()
    status, _ = _http(tx, method="POST", body=query,
                      headers={**json_headers, "Authorization": f"Basic {basic}"})
    assert status == 200


def test_http_cors_allows_only_the_browsers_own_origin(neo4j_server: ns.ServerInfo) -> None:
    own = neo4j_server.http_url  # http://localhost:PORT, where Neo4j Browser is served
    for url, method, extra in (
        (neo4j_server.http_url + "/", "GET", {}),
        (f"{neo4j_server.http_url}/db/neo4j/tx/commit", "OPTIONS",
         {"Access-Control-Request-Method": "POST",
          "Access-Control-Request-Headers": "authorization,content-type"}),
    ):
        _, headers = _http(url, method=method, headers={"Origin": FOREIGN, **extra})
        allowed = headers.get("Access-Control-Allow-Origin")
        assert allowed not in (FOREIGN, "*")  # a page from another origin cannot read it
        assert allowed == own
        _, headers = _http(url, method=method, headers={"Origin": own, **extra})
        assert headers.get("Access-Control-Allow-Origin") == own


def test_generated_password_is_private_and_never_logged(
    neo4j_server: ns.ServerInfo, neo4j_auth: tuple[str, str]
) -> None:
    home = neo4j_server.home
    creds = credentials(home, uri=neo4j_server.bolt_uri)
    assert creds is not None and creds.auth == neo4j_auth
    if creds.source == "environment":
        pytest.skip("NEO4J_PASSWORD is set: no password file is generated")
    path = home / "conf" / PASSWORD_FILE
    assert creds.source == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(creds.password) >= 32 and creds.password not in repr(creds)
    for sub in ("logs", "run"):
        for file in (home / sub).rglob("*"):
            if file.is_file():
                assert creds.password not in file.read_text(errors="replace"), file
    res = CliRunner().invoke(main, ["neo4j", "status", "--home", str(home)])
    assert res.exit_code == 0 and creds.password not in res.output
    assert f"password from {path}: accepted" in res.output


def test_credentials_come_from_the_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    monkeypatch.delenv("NEO4J_USER", raising=False)
    home = tmp_path / "home"
    assert credentials(home) is None
    generated = initial_credentials(home)
    assert credentials(home) == generated and generated.user == "neo4j"
    assert initial_credentials(home) == generated  # kept across starts
    # The local password is never offered to a remote server.
    assert credentials(home, uri="bolt://localhost:7687") == generated
    assert credentials(home, uri="neo4j+s://db.example:7687") is None
    for local in ("bolt://127.0.0.1:7687", "bolt://127.0.0.2:7687", "bolt://[::1]:7687"):
        assert credentials(home, uri=local) == generated
    # A name that only starts like a loopback address is a remote host.
    for remote in ("bolt://127.attacker.example:7687", "bolt://127.0.0.1.example:7687",
                   "bolt://localhost.example:7687"):
        assert credentials(home, uri=remote) is None, remote
    monkeypatch.setenv("NEO4J_PASSWORD", "from-the-environment")
    monkeypatch.setenv("NEO4J_USER", "investigator")
    env = credentials(home, uri="neo4j+s://db.example:7687")
    assert env is not None and env.auth == ("investigator", "from-the-environment")
    with pytest.raises(ConfigError, match="user is 'neo4j'"):
        initial_credentials(home)
    monkeypatch.delenv("NEO4J_USER")
    monkeypatch.setenv("NEO4J_PASSWORD", "short")
    with pytest.raises(ConfigError, match="at least 8 characters"):
        initial_credentials(home)


# --- servers started here ---------------------------------------------------------------------------

def test_no_auth_only_on_request_with_a_warning_then_upgraded_to_auth(
    fresh_home: Path, free_port: Callable[[], int]
) -> None:
    home = fresh_home
    bolt, http = free_port(), free_port()
    uri = f"bolt://localhost:{bolt}"
    start = ["neo4j", "start", "--home", str(home), "--bolt-port", str(bolt),
             "--http-port", str(http)]
    runner = CliRunner()

    res = runner.invoke(main, [*start, "--no-auth"])
    assert res.exit_code == 0, res.output
    assert "warning: authentication is off" in res.stderr
    assert "auth:    OFF (--no-auth)" in res.stdout
    assert not _refused(uri, None)
    with GraphDatabase.driver(uri, auth=None) as driver:
        driver.execute_query("CREATE (:Kept {v: 1})")
    assert runner.invoke(main, ["neo4j", "stop", "--home", str(home)]).exit_code == 0

    # The same home (it ran without authentication) started as usual: authentication on, the
    # generated password set, the data kept.
    res = runner.invoke(main, start)
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr
    password_file = home / "conf" / PASSWORD_FILE
    assert f"password from {password_file}" in res.stdout
    creds = credentials(home, uri=uri)
    assert creds is not None and creds.source == str(password_file)
    assert creds.password not in res.output
    assert _refused(uri, None) and _refused(uri, ("neo4j", "neo4j"))
    with GraphDatabase.driver(uri, auth=creds.auth) as driver:
        assert driver.execute_query("MATCH (k:Kept) RETURN k.v AS v")[0][0]["v"] == 1
    # Asking for --no-auth while it runs with authentication is refused, not obeyed.
    res = runner.invoke(main, [*start, "--no-auth"])
    assert res.exit_code == 2 and "already running with authentication" in res.stderr
    assert _refused(uri, None)

    # A restart keeps the password (nothing to set again).
    assert runner.invoke(main, ["neo4j", "stop", "--home", str(home)]).exit_code == 0
    info = ns.start(home, bolt, http)
    assert info.auth and info.started_now
    assert _refused(uri, None) and not _refused(uri, creds.auth)


def test_password_from_the_environment_and_owner_only_files(
    fresh_home: Path, free_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = fresh_home
    monkeypatch.setenv("NEO4J_PASSWORD", "investigator-chosen-secret")
    info = ns.start(home, free_port(), free_port())
    assert info.credentials_source == "environment"
    assert not (home / "conf" / PASSWORD_FILE).exists()  # nothing written when it is given
    assert _refused(info.bolt_uri, None)
    assert not _refused(info.bolt_uri, ("neo4j", "investigator-chosen-secret"))
    # Owner-only: the home, the store, the logs, the configuration.
    dirs, files = _modes(home)
    assert dirs == {0o700} and files == {0o600}
    assert (home / "data" / "databases" / "neo4j").is_dir() and (home / "logs").is_dir()
    ns.stop(home)

    # --shared: the owner's group may read (never write), others nothing.
    res = CliRunner().invoke(main, ["neo4j", "start", "--home", str(home), "--shared",
                                    "--bolt-port", str(free_port()),
                                    "--http-port", str(free_port())])
    assert res.exit_code == 0, res.output
    dirs, files = _modes(home)
    assert dirs == {0o750} and files == {0o640}
    assert "investigator-chosen-secret" not in res.output


def test_the_password_is_set_before_the_first_start(
    fresh_home: Path, free_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No moment with Neo4j's initial neo4j/neo4j login, which any local user could take
    # between the first start and the password change: neo4j-admin sets it in the new store,
    # reading it from an owner-only argument file (never the command line), deleted after.
    home = fresh_home
    info = ns.start(home, free_port(), free_port())
    creds = credentials(home, uri=info.bolt_uri)
    assert creds is not None and not _refused(info.bolt_uri, creds.auth)
    assert _refused(info.bolt_uri, ("neo4j", "neo4j"))
    log = (home / "logs" / "set-initial-password.log").read_text()
    assert "Changed password for user 'neo4j'" in log and creds.password not in log
    assert not list((home / "run").glob("*.args"))
    ns.stop(home)
    # Restarted, the store exists: nothing to set, the same password works.
    info = ns.start(home, free_port(), free_port())
    assert not _refused(info.bolt_uri, creds.auth)
    ns.stop(home)


def test_passwords_an_argument_file_would_misread_are_left_for_after_the_start(
    tmp_path: Path
) -> None:
    # A leading '-' reads as an option, whitespace splits, quotes are stripped, '#' starts a
    # comment: neo4j-admin is not run (nothing written), the password is set over Bolt.
    for password in ("-Xabcdefgh123", "with space", 'quo"ted', "#comment", "back\\slash"):
        assert not set_initial_password("java", tmp_path, tmp_path, tmp_path / "neo4j.conf",
                                        password), password
    assert not any(tmp_path.iterdir())
    assert all(not initial_credentials(tmp_path / f"h{i}").password.startswith("-")
               for i in range(200))


def test_a_password_an_argument_file_cannot_carry_is_set_after_the_start(
    fresh_home: Path, free_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = fresh_home
    secret = 'with spaces, "quotes" and #'
    monkeypatch.setenv("NEO4J_PASSWORD", secret)
    info = ns.start(home, free_port(), free_port())
    assert not (home / "logs" / "set-initial-password.log").exists()
    assert not _refused(info.bolt_uri, ("neo4j", secret))
    assert _refused(info.bolt_uri, ("neo4j", "neo4j"))


# --- URIs with credentials ----------------------------------------------------------------------------

def test_a_uri_with_embedded_credentials_never_appears(
    sim_detection: Path, free_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Pa55word-in-the-uri"
    port = free_port()
    for uri in (f"bolt://neo4j:{secret}@127.0.0.1:{port}",
                f"neo4j+s://investigator:{secret}@db.example:{port}",
                f"neo4j://{secret}@127.0.0.1:{port}/?routing=x",
                f"http://neo4j:{secret}@127.0.0.1:{port}"):
        assert secret not in mask_uri(uri) and "***@" in mask_uri(uri)
        with pytest.raises(ConfigError) as err:
            open_driver(uri)
        assert secret not in str(err.value) and "***@" in str(err.value)
        res = CliRunner().invoke(main, ["export", str(sim_detection), "--neo4j-uri", uri])
        assert res.exit_code == 2, res.output
        assert secret not in res.output and "Traceback" not in res.output
        res = CliRunner().invoke(main, ["export", str(sim_detection)], env={"NEO4J_URI": uri})
        assert res.exit_code == 2 and secret not in res.output
    # A driver message quoting the URI in pieces is scrubbed as well.
    uri = f"bolt://neo4j:{secret}@h:1"
    assert secret not in mask_secrets(f"cannot use {uri} (password {secret})", uri)
    # Errors after connecting name the server masked too.
    monkeypatch.setenv("NEO4J_PASSWORD", secret)
    with pytest.raises(ExportError) as err:
        open_driver(f"bolt://127.0.0.1:{port}")
    assert secret not in str(err.value)
