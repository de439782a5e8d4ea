"""The local Neo4j 5.26 server graphkit assembles from Maven Central and runs itself.

No Docker and no download from neo4j.com: ``install`` lays out Neo4j Community 5.26 LTS, Neo4j
Browser and OpenGDS 2.13 (the GDS line built for Neo4j 5.26) as jars under a server *home*
(``$GRAPHKIT_NEO4J_HOME`` or ``./.neo4j``) with Maven, using a Maven repository inside that home,
so a fresh machine needs only Java 17+ and Maven. ``start`` runs the server in the background
the way the official tarball does (``org.neo4j.server.CommunityEntryPoint``), with
authentication off and listening on 127.0.0.1 only, and waits until Bolt answers.
``admin_import`` runs the real ``neo4j-admin database import full`` from the same jars.

An *instance* is a directory with its own ``conf/``, ``data/``, ``logs/`` and ``run/``; the home
is the default instance. Other instances (a temporary server over an imported store, say) share
the home's jars::

    from graphkit.neo4j import server as ns
    paths = ns.install()                     # minutes the first time; idempotent
    info = ns.start()                        # bolt://localhost:7687, http://localhost:7474
    ns.status().running                      # True
    ns.stop()

Community edition serves one user database (the instance's default database), so an imported
store is served by starting an instance whose ``database`` is the imported one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from string import Template

import psutil

from graphkit.errors import ConfigError, GraphkitError, InputError, Neo4jServerError

__all__ = [
    "ImportReport",
    "ServerInfo",
    "ServerPaths",
    "ServerStatus",
    "admin_import",
    "default_home",
    "install",
    "running",
    "start",
    "status",
    "stop",
]

PathLike = str | os.PathLike[str]

_ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
_ADMIN_TOOL = "org.neo4j.cli.AdminTool"
_GDS_GROUP = "org.neo4j.gds"
_MIN_JAVA = 17
_STATE_FILE = "graphkit-neo4j.json"
_PID_FILE = "neo4j.pid"
_CONSOLE_LOG = "console.log"
_INSTALL_MARK = ".installed"
_LOG_TAIL_LINES = 25

# The JVM flags the official 5.26 neo4j.conf passes on Java 17 (server.jvm.additional is read
# only by the official start script, which is not used here). AlwaysPreTouch is left out: it
# slows start-up and a local investigation server does not need it.
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


@dataclass(frozen=True)
class ServerPaths:
    """Where an installed server lives and which versions it runs."""

    home: Path
    lib_dir: Path  # Neo4j, Neo4j Browser and every third-party jar
    plugins_dir: Path  # the OpenGDS jars (Neo4j registers procedures only from here)
    maven_repo: Path
    neo4j_version: str
    gds_version: str
    browser_version: str
    jars: int  # jars in lib_dir and plugins_dir together
    installed_now: bool  # False when an up-to-date install was found and kept


@dataclass(frozen=True)
class ServerInfo:
    """A running server: how to reach it and where its log is."""

    pid: int
    bolt_uri: str
    http_url: str
    browser_url: str
    database: str
    home: Path
    instance: Path
    log_path: Path
    started_now: bool  # False when the server was already running
    startup_seconds: float  # 0.0 when it was already running


@dataclass(frozen=True)
class ServerStatus:
    """What ``status`` finds: ``running`` means the process is alive *and* Bolt answers."""

    running: bool
    process_alive: bool
    pid: int | None
    bolt_uri: str | None
    http_url: str | None
    browser_url: str | None
    database: str | None
    home: Path
    instance: Path
    log_path: Path


@dataclass(frozen=True)
class ImportReport:
    """The outcome of ``neo4j-admin database import full``, as the tool reported it."""

    database: str
    data_dir: Path
    nodes: int
    relationships: int
    properties: int
    seconds: float
    log_path: Path  # the tool's full output


# --------------------------------------------------------------------------------------------
# Locations


def default_home() -> Path:
    """``$GRAPHKIT_NEO4J_HOME`` if set, else ``./.neo4j`` (absolute)."""
    return Path(os.environ.get("GRAPHKIT_NEO4J_HOME") or ".neo4j").resolve()


def _home(home: PathLike | None) -> Path:
    return Path(home).resolve() if home is not None else default_home()


def _instance(home: Path, instance: PathLike | None) -> Path:
    return Path(instance).resolve() if instance is not None else home


def _asset(name: str) -> str:
    return resources.files("graphkit").joinpath("neo4j", "assets", name).read_text(encoding="utf-8")


def _pom_versions(pom: str) -> dict[str, str]:
    return dict(re.findall(r"<([\w.-]+)\.version>([^<]+)</", pom))


# --------------------------------------------------------------------------------------------
# Tools (java, mvn)


def _which(tool: str, why: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if tool == "java" and java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which(tool)
    if not found:
        raise Neo4jServerError(
            f"'{tool}' was not found on PATH; {why} (on Debian: apt-get install -y "
            f"{'openjdk-17-jre-headless' if tool == 'java' else 'maven'}, or run .ci/install)"
        )
    return found


def _java() -> str:
    """The java binary, checked to be Java 17 or newer (Neo4j 5.26 needs 17 or 21)."""
    java = _which("java", "the local Neo4j server needs Java 17 or newer")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise Neo4jServerError(f"cannot tell the Java version from '{java} -version'")
    major = int(match.group(1))
    if major == 1:  # "1.8.0_x" style
        major = int(match.group(2) or 0)
    if major < _MIN_JAVA:
        raise Neo4jServerError(
            f"{java} is Java {major}; the local Neo4j 5.26 server needs Java {_MIN_JAVA} or 21"
        )
    return java


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return "(no log written)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    # neo4j-admin draws progress bars of dots; they say nothing about a failure.
    kept = [line for line in text if line.strip() and not line.startswith((".", "-."))]
    return "\n".join(kept[-lines:]) or "(log is empty)"


# --------------------------------------------------------------------------------------------
# install


def install(home: PathLike | None = None, *, force: bool = False) -> ServerPaths:
    """Lay out Neo4j 5.26, Neo4j Browser and OpenGDS under ``home`` with Maven.

    Idempotent: when the jars were already resolved from the same pom they are kept. Jars go
    to ``HOME/lib`` (and the GDS jars to ``HOME/plugins``); Maven's repository is
    ``HOME/m2``, so nothing outside the home is written.

    For example (on this machine's local Neo4j home)::

        paths = install()
        paths.neo4j_version  # -> '5.26.30'
    """
    home_dir = _home(home)
    pom = _asset("pom.xml")
    versions = _pom_versions(pom)
    lib_dir, plugins_dir, repo = home_dir / "lib", home_dir / "plugins", home_dir / "m2"
    mark = home_dir / _INSTALL_MARK
    digest = hashlib.sha256(pom.encode()).hexdigest()

    def paths(installed_now: bool) -> ServerPaths:
        jars = len(list(lib_dir.glob("*.jar"))) + len(list(plugins_dir.glob("*.jar")))
        return ServerPaths(
            home=home_dir,
            lib_dir=lib_dir,
            plugins_dir=plugins_dir,
            maven_repo=repo,
            neo4j_version=versions["neo4j"],
            gds_version=versions["gds"],
            browser_version=versions["neo4j-browser"],
            jars=jars,
            installed_now=installed_now,
        )

    if not force and mark.is_file() and mark.read_text().strip() == digest:
        return paths(False)

    mvn = _which("mvn", "graphkit resolves the Neo4j server jars from Maven Central with Maven")
    _java()
    home_dir.mkdir(parents=True, exist_ok=True)
    (home_dir / "logs").mkdir(exist_ok=True)
    (home_dir / "pom.xml").write_text(pom, encoding="utf-8")
    mark.unlink(missing_ok=True)
    log_path = home_dir / "logs" / "install.log"
    # Start from empty jar folders so a version change never leaves two versions on -cp.
    for folder in (lib_dir, plugins_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    common = [mvn, "-B", "-q", f"-Dmaven.repo.local={repo}", "-f", str(home_dir / "pom.xml")]
    goal = ["dependency:copy-dependencies", "-DincludeScope=runtime"]
    runs = (
        [*common, *goal, f"-DexcludeGroupIds={_GDS_GROUP}", f"-DoutputDirectory={lib_dir}"],
        [*common, *goal, f"-DincludeGroupIds={_GDS_GROUP}", f"-DoutputDirectory={plugins_dir}"],
    )
    with log_path.open("w", encoding="utf-8") as log:
        for argv in runs:
            log.write("$ " + " ".join(argv) + "\n")
            log.flush()
            done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise Neo4jServerError(
                    f"Maven could not resolve the Neo4j server jars (exit {done.returncode}); "
                    f"log: {log_path}\n{_tail(log_path)}"
                )
    if not (lib_dir / f"neo4j-{versions['neo4j']}.jar").is_file() or not any(
        plugins_dir.glob("proc-*.jar")
    ):
        raise Neo4jServerError(
            f"Maven finished but the Neo4j or GDS jars are missing; log: {log_path}"
        )
    mark.write_text(digest + "\n")
    return paths(True)


def _require_installed(home_dir: Path) -> None:
    if not (home_dir / _INSTALL_MARK).is_file():
        raise Neo4jServerError(
            f"no Neo4j server is installed in {home_dir}; run 'graphkit neo4j install' first"
        )


# --------------------------------------------------------------------------------------------
# Configuration and process state


def _render_conf(
    home_dir: Path,
    inst: Path,
    *,
    bolt_port: int,
    http_port: int,
    database: str,
    pagecache: str,
    tx_memory: str,
) -> Path:
    for sub in ("conf", "data", "logs", "run", "import"):
        (inst / sub).mkdir(parents=True, exist_ok=True)
    text = Template(_asset("neo4j.conf")).substitute(
        bolt_port=bolt_port,
        http_port=http_port,
        database=database,
        data_dir=inst / "data",
        logs_dir=inst / "logs",
        run_dir=inst / "run",
        import_dir=inst / "import",
        plugins_dir=home_dir / "plugins",
        pagecache=pagecache,
        tx_memory=tx_memory,
    )
    conf = inst / "conf" / "neo4j.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


def _classpath(home_dir: Path) -> str:
    # Java expands these wildcards itself; GDS must be on the main classpath *and* in plugins.
    return f"{home_dir / 'plugins'}/*{os.pathsep}{home_dir / 'lib'}/*"


def _read_state(inst: Path) -> dict[str, object] | None:
    path = inst / "run" / _STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int, inst: Path) -> bool:
    """Is ``pid`` a live Neo4j server process of this instance (not a recycled pid)?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return _ENTRY_POINT in cmdline and f"--config-dir={inst / 'conf'}" in cmdline


def _clear_state(inst: Path) -> None:
    for name in (_STATE_FILE, _PID_FILE):
        (inst / "run" / name).unlink(missing_ok=True)


def _port_in_use(port: int) -> bool:
    """Whether another program listens on ``port``. SO_REUSEADDR as the server itself binds:
    connections of a server stopped a moment ago linger in TIME_WAIT and must not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _bolt_answers(bolt_uri: str, timeout: float = 5.0) -> bool:
    from neo4j import GraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    try:
        with GraphDatabase.driver(bolt_uri, auth=None, connection_timeout=timeout) as driver:
            driver.verify_connectivity()
        return True
    except (DriverError, Neo4jError, OSError):
        return False


def _info(state: dict[str, object], home_dir: Path, inst: Path, **extra: object) -> ServerInfo:
    bolt_port, http_port = state["bolt_port"], state["http_port"]
    return ServerInfo(
        pid=int(state["pid"]),  # type: ignore[arg-type]
        bolt_uri=f"bolt://localhost:{bolt_port}",
        http_url=f"http://localhost:{http_port}",
        browser_url=f"http://localhost:{http_port}/browser/",
        database=str(state["database"]),
        home=home_dir,
        instance=inst,
        log_path=inst / "logs" / _CONSOLE_LOG,
        **extra,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------------------------
# start / status / stop


def start(
    home: PathLike | None = None,
    bolt_port: int = 7687,
    http_port: int = 7474,
    timeout: float = 180,
    *,
    instance: PathLike | None = None,
    database: str = "neo4j",
    heap: str = "1g",
    pagecache: str = "256m",
    tx_memory: str = "1g",
) -> ServerInfo:
    """Start the server in the background and wait until Bolt answers (or ``timeout`` s).

    Idempotent: if this instance is already running on the same ports its info is returned.
    Logs go to ``INSTANCE/logs`` (``console.log`` is the server's output), the pid to
    ``INSTANCE/run/neo4j.pid``. ``database`` is the default database; it is fixed when the
    instance's data directory is first created (Neo4j's ``initial.`` setting).

    For example (on this machine's local Neo4j home)::

        info = start()
        info.bolt_uri  # -> 'bolt://localhost:7687'
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    _require_installed(home_dir)
    if bolt_port == http_port:
        raise ConfigError(f"the Bolt and HTTP ports must differ (both are {bolt_port})")

    state = _read_state(inst)
    if state and _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        if (state["bolt_port"], state["http_port"]) != (bolt_port, http_port):
            raise Neo4jServerError(
                f"the Neo4j server in {inst} is already running on Bolt port "
                f"{state['bolt_port']} and HTTP port {state['http_port']}, not "
                f"{bolt_port}/{http_port}; stop it first ('graphkit neo4j stop')"
            )
        info = _info(state, home_dir, inst, started_now=False, startup_seconds=0.0)
        if not _bolt_answers(info.bolt_uri, timeout=max(1.0, min(timeout, 30.0))):
            raise Neo4jServerError(
                f"the Neo4j server in {inst} (pid {info.pid}) is running but Bolt does not "
                f"answer at {info.bolt_uri}; log: {info.log_path}\n{_tail(info.log_path)}"
            )
        return info
    _clear_state(inst)

    java = _java()
    for port, what in ((bolt_port, "Bolt"), (http_port, "HTTP")):
        if _port_in_use(port):
            raise Neo4jServerError(
                f"port {port} on 127.0.0.1 ({what}) is already in use by another program; "
                f"stop it or choose another {what} port"
            )

    conf = _render_conf(
        home_dir,
        inst,
        bolt_port=bolt_port,
        http_port=http_port,
        database=database,
        pagecache=pagecache,
        tx_memory=tx_memory,
    )
    log_path = inst / "logs" / _CONSOLE_LOG
    argv = [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        "-cp",
        _classpath(home_dir),
        _ENTRY_POINT,
        f"--home-dir={home_dir}",
        f"--config-dir={conf.parent}",
        "--console-mode",
    ]
    began = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        # A new session: the server outlives this process and ignores the terminal's Ctrl-C.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=inst,
            start_new_session=True,
        )
    state = {
        "pid": proc.pid,
        "bolt_port": bolt_port,
        "http_port": http_port,
        "database": database,
        "home": str(home_dir),
    }
    (inst / "run" / _PID_FILE).write_text(f"{proc.pid}\n")
    (inst / "run" / _STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    info = _info(state, home_dir, inst, started_now=True, startup_seconds=0.0)

    deadline = began + timeout
    while True:
        if proc.poll() is not None:
            _clear_state(inst)
            raise Neo4jServerError(
                f"Neo4j exited during start-up (exit {proc.returncode}); log: {log_path}\n"
                f"{_tail(log_path)}"
            )
        if _bolt_answers(info.bolt_uri, timeout=2.0):
            break
        if time.perf_counter() > deadline:
            _terminate(proc.pid, inst, grace=20)
            raise Neo4jServerError(
                f"Neo4j did not answer on {info.bolt_uri} within {timeout:.0f}s and was "
                f"stopped; log: {log_path}\n{_tail(log_path)}"
            )
        time.sleep(0.5)
    return _info(
        state, home_dir, inst, started_now=True, startup_seconds=time.perf_counter() - began
    )


def status(home: PathLike | None = None, *, instance: PathLike | None = None) -> ServerStatus:
    """Whether this instance's server runs and answers on Bolt, with its addresses.

    For example (on this machine's local Neo4j home)::

        status().running  # -> False
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    log_path = inst / "logs" / _CONSOLE_LOG
    state = _read_state(inst)
    if not state or not _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        return ServerStatus(False, False, None, None, None, None, None, home_dir, inst, log_path)
    info = _info(state, home_dir, inst, started_now=False, startup_seconds=0.0)
    return ServerStatus(
        running=_bolt_answers(info.bolt_uri),
        process_alive=True,
        pid=info.pid,
        bolt_uri=info.bolt_uri,
        http_url=info.http_url,
        browser_url=info.browser_url,
        database=info.database,
        home=home_dir,
        instance=inst,
        log_path=log_path,
    )


def _terminate(pid: int, inst: Path, grace: float) -> None:
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)  # Neo4j shuts down cleanly on SIGTERM
        try:
            proc.wait(grace)  # also reaps it when it is our own child
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    except psutil.NoSuchProcess:
        pass
    _clear_state(inst)


def stop(
    home: PathLike | None = None, *, instance: PathLike | None = None, timeout: float = 60
) -> bool:
    """Stop this instance's server (SIGTERM, then SIGKILL after ``timeout`` s).

    Returns False when it was not running.
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    state = _read_state(inst)
    if not state or not _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        _clear_state(inst)
        return False
    _terminate(int(state["pid"]), inst, grace=timeout)  # type: ignore[arg-type]
    return True


@contextmanager
def running(
    home: PathLike | None = None,
    bolt_port: int = 7687,
    http_port: int = 7474,
    timeout: float = 180,
    **options: str | PathLike,
) -> Iterator[ServerInfo]:
    """Run a server for the ``with`` block; stop it afterwards only if this block started it.

    ``options`` are ``start``'s keyword options (``instance``, ``database``, ``heap``, ...).

    For example (on this machine's local Neo4j home)::

        with running(instance="/tmp/imported", bolt_port=7690, http_port=7477,
                     database="graphkit") as info:
            print(info.bolt_uri)  # -> bolt://localhost:7690
    """
    info = start(home, bolt_port, http_port, timeout, **options)  # type: ignore[arg-type]
    try:
        yield info
    finally:
        if info.started_now:
            stop(home, instance=info.instance)


# --------------------------------------------------------------------------------------------
# neo4j-admin database import full

_IMPORTED = re.compile(
    r"IMPORT DONE.*?Imported:\s+(\d+) nodes\s+(\d+) relationships\s+(\d+) properties", re.DOTALL
)
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9.\-]{2,62}$")  # Neo4j's database-name rule


def _file_spec(
    kind: str, entries: Sequence[tuple[str | None, object]], headed: set[Path]
) -> list[str]:
    """``--nodes=``/``--relationships=`` arguments; adds each group's header file to ``headed``."""
    args = []
    for name, files in entries:
        if isinstance(files, (str, os.PathLike)):
            paths = [Path(files).resolve()]
        else:
            paths = [Path(p).resolve() for p in files]  # type: ignore[attr-defined]
        if not paths:
            raise ConfigError(f"no files given for {kind} '{name}'")
        for path in paths:
            if not path.is_file():
                raise ConfigError(f"{kind} file not found", file=str(path))
            # The tool splits its argument on ',' (files) and the first '=' (label/type).
            if "," in str(path) or (name is None and "=" in str(path)):
                raise ConfigError(
                    f"neo4j-admin cannot take a {kind} file whose path contains ',' or '='",
                    file=str(path),
                )
        headed.add(paths[0])  # the first file of a group carries the header line
        joined = ",".join(map(str, paths))
        args.append(f"--{kind}={name}={joined}" if name else f"--{kind}={joined}")
    return args


# What --verbose prints for bad input data: the file and line, the field, the cause.
_BAD_SOURCE = re.compile(
    r"data source: BufferedCharSeeker\[source:(.*), position:\d+, line:(\d+)\]"
)
_BAD_FIELD = re.compile(r"^\s*in field: (.*):\d+$", re.MULTILINE)
_BAD_CAUSE = re.compile(r"^\s*original error: (.*)$", re.MULTILINE)
_MISSING_NODE = re.compile(r"^(.*) \(.*\)-\[.*\]->(.*) \(.*\) referring to missing node (.*)$")
_LAST_CAUSE = re.compile(
    r"^Caused by: [\w.$]+: (?:[\w.$]+(?:Exception|Error): )*(.*)$", re.MULTILINE
)


def _import_failure(output: str, headed: set[Path], log_path: Path) -> GraphkitError:
    """A located :class:`InputError` for bad CSV data, else a :class:`Neo4jServerError`."""
    where = f" (neo4j-admin log: {log_path})"
    if "Error in input data" not in output and "idmapping" not in output:
        return Neo4jServerError(
            f"neo4j-admin database import failed; log: {log_path}\n{_tail(log_path)}"
        )
    source, cause = _BAD_SOURCE.search(output), _BAD_CAUSE.search(output)
    if source and cause:
        file = Path(source.group(1))
        # The reader counts lines after the header line, from 1.
        line = int(source.group(2)) + (1 if file in headed else 0)
        message = cause.group(1).strip()
        missing = _MISSING_NODE.match(message)
        if missing:
            column = ":END_ID" if missing.group(3) == missing.group(2) else ":START_ID"
        else:
            field = _BAD_FIELD.search(output)
            column = field.group(1) if field else None
        return InputError(message + where, file=str(file), column=column, line=line)
    causes = _LAST_CAUSE.findall(output)
    message = causes[-1].strip() if causes else "bad input data"
    return InputError(message + where)


def admin_import(
    home: PathLike | None,
    database: str,
    nodes: Sequence[tuple[str | None, PathLike | Sequence[PathLike]]],
    relationships: Sequence[tuple[str | None, PathLike | Sequence[PathLike]]],
    *,
    instance: PathLike | None = None,
    overwrite: bool = False,
    delimiter: str = ",",
    array_delimiter: str = ";",
    id_type: str = "string",
    multiline_fields: bool = False,
    heap: str = "1g",
) -> ImportReport:
    """Bulk-load CSVs into a new database with ``neo4j-admin database import full``.

    ``nodes`` are ``(label or None, file or [header file, data files...])`` pairs (``None``
    when the file has a ``:LABEL`` column; ``"A:B"`` for two labels); ``relationships`` are
    ``(type or None, files)`` likewise. ``multiline_fields`` lets quoted values span lines
    (slower: the tool then parses each file on one thread). The store is written to ``INSTANCE/data`` (the home by
    default), whose server must be stopped. Bad rows are errors, never skipped. Serve the
    result with ``start(instance=..., database=database)`` on a fresh instance, or import as
    ``neo4j`` into a stopped home.

    For example (on this machine's local Neo4j home)::

        rep = admin_import(None, "graphkit", [("Account", "accounts.csv")],
                           [("USED_IP", "used_ip.csv")], instance="/tmp/imported")
        rep.nodes, rep.relationships  # -> (3, 2)
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    _require_installed(home_dir)
    if not _NAME.fullmatch(database) or database.lower() == "system":
        raise ConfigError(
            f"'{database}' is not a valid database name (3-63 characters: letters, digits, "
            "dots and dashes, starting with a letter; not 'system')"
        )
    if not nodes:
        raise ConfigError("neo4j-admin import needs at least one node file")
    headed: set[Path] = set()
    args = [
        *_file_spec("nodes", nodes, headed),
        *_file_spec("relationships", relationships, headed),
    ]
    java = _java()

    st = status(home_dir, instance=inst)
    if st.process_alive:
        raise Neo4jServerError(
            f"the Neo4j server in {inst} (pid {st.pid}) is running; stop it before importing "
            "into its data directory"
        )
    data_dir = inst / "data"
    target = data_dir / "databases" / database
    if target.exists() and not overwrite:
        raise Neo4jServerError(
            f"database '{database}' already exists in {data_dir}; pass overwrite=True "
            "(--overwrite) to replace it"
        )
    prior = _read_state(inst) or {}
    conf = _render_conf(
        home_dir,
        inst,
        bolt_port=int(prior.get("bolt_port", 7687)),  # type: ignore[arg-type]
        http_port=int(prior.get("http_port", 7474)),  # type: ignore[arg-type]
        database=database,
        pagecache="256m",
        tx_memory="1g",
    )
    log_path = inst / "logs" / f"import-{database}.log"
    argv = [
        java,
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        "-cp",
        _classpath(home_dir),
        _ADMIN_TOOL,
        "database",
        "import",
        "full",
        *args,
        f"--delimiter={delimiter}",
        f"--array-delimiter={array_delimiter}",
        f"--id-type={id_type}",
        f"--multiline-fields={'true' if multiline_fields else 'false'}",
        f"--report-file={inst / 'logs' / f'import-{database}.report'}",
        f"--overwrite-destination={'true' if overwrite else 'false'}",
        "--verbose",  # makes the tool name the file, line and field of bad input
        "--",
        database,
    ]
    # The admin tool finds its configuration through these variables, as the neo4j-admin
    # script sets them.
    env = {**os.environ, "NEO4J_HOME": str(home_dir), "NEO4J_CONF": str(conf.parent)}
    began = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        done = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=inst, check=False
        )
    seconds = time.perf_counter() - began
    output = log_path.read_text(encoding="utf-8", errors="replace")
    match = _IMPORTED.search(output)
    if done.returncode != 0 or not match:
        # A failed import leaves a store Neo4j calls unusable; never leave it to be served.
        for leftover in (target, data_dir / "transactions" / database):
            shutil.rmtree(leftover, ignore_errors=True)
        raise _import_failure(output, headed, log_path)
    return ImportReport(
        database=database,
        data_dir=data_dir,
        nodes=int(match.group(1)),
        relationships=int(match.group(2)),
        properties=int(match.group(3)),
        seconds=seconds,
        log_path=log_path,
    )


def as_dict(result: ServerPaths | ServerInfo | ServerStatus | ImportReport) -> dict[str, object]:
    """A JSON-ready dict of a result (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}
