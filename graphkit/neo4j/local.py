"""The local server's locations, tools and result types, shared by install, start and import.

A server *home* (``$GRAPHKIT_NEO4J_HOME`` or ``./.neo4j``) holds the jars; an *instance* is a
directory with its own ``conf/``, ``data/``, ``logs/`` and ``run/`` (the home is the default
instance). The JVM is found on ``JAVA_HOME`` or ``PATH`` and checked to be Java 17 or newer.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from graphkit.errors import Neo4jServerError

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
    auth: bool = True  # False only when started with --no-auth
    credentials_source: str | None = None  # where clients find the password (never the value)


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
    auth: bool | None = None  # None when not running
    credentials_accepted: bool | None = None  # None when not checked (no auth, not running)


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


def _require_installed(home_dir: Path) -> None:
    if not (home_dir / _INSTALL_MARK).is_file():
        raise Neo4jServerError(
            f"no Neo4j server is installed in {home_dir}; run 'graphkit neo4j install' first"
        )


def as_dict(result: ServerPaths | ServerInfo | ServerStatus | ImportReport) -> dict[str, object]:
    """A JSON-ready dict of a result (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result).items()}
