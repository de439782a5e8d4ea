"""``install`` from Maven: Neo4j 5.26, Neo4j Browser and OpenGDS laid out as jars by Maven.

No Docker and no download from neo4j.com: the jars come from Maven Central (or the local Maven
cache) through the pom in ``graphkit/neo4j/assets``, into ``HOME/lib`` (the GDS jars into
``HOME/plugins``, where Neo4j registers procedures from), with Maven's repository at
``HOME/m2``, so nothing outside the home is written. A fresh machine needs Java 17+ and Maven.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from graphkit.errors import Neo4jServerError
from graphkit.neo4j.local import (
    _GDS_GROUP,
    _INSTALL_MARK,
    PathLike,
    ServerPaths,
    _asset,
    _home,
    _java,
    _pom_versions,
    _tail,
    _which,
)


def _paths(home_dir: Path, versions: dict[str, str], installed_now: bool) -> ServerPaths:
    """What an install under ``home_dir`` holds."""
    lib_dir, plugins_dir = home_dir / "lib", home_dir / "plugins"
    jars = len(list(lib_dir.glob("*.jar"))) + len(list(plugins_dir.glob("*.jar")))
    return ServerPaths(
        home=home_dir,
        lib_dir=lib_dir,
        plugins_dir=plugins_dir,
        maven_repo=home_dir / "m2",
        neo4j_version=versions["neo4j"],
        gds_version=versions["gds"],
        browser_version=versions["neo4j-browser"],
        jars=jars,
        installed_now=installed_now,
    )


def _maven_runs(mvn: str, home_dir: Path) -> tuple[list[str], list[str]]:
    """The two Maven runs: every runtime jar but GDS into lib/, the GDS jars into plugins/."""
    common = [mvn, "-B", "-q", f"-Dmaven.repo.local={home_dir / 'm2'}", "-f",
              str(home_dir / "pom.xml")]
    goal = ["dependency:copy-dependencies", "-DincludeScope=runtime"]
    return (
        [*common, *goal, f"-DexcludeGroupIds={_GDS_GROUP}",
         f"-DoutputDirectory={home_dir / 'lib'}"],
        [*common, *goal, f"-DincludeGroupIds={_GDS_GROUP}",
         f"-DoutputDirectory={home_dir / 'plugins'}"],
    )


def _resolve_jars(mvn: str, home_dir: Path, log_path: Path) -> None:
    """Run Maven into empty lib/ and plugins/ folders, logging to ``log_path``."""
    # Start from empty jar folders so a version change never leaves two versions on -cp.
    for folder in (home_dir / "lib", home_dir / "plugins"):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    with log_path.open("w", encoding="utf-8") as log:
        for argv in _maven_runs(mvn, home_dir):
            log.write("$ " + " ".join(argv) + "\n")
            log.flush()
            done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise Neo4jServerError(
                    f"Maven could not resolve the Neo4j server jars (exit {done.returncode}); "
                    f"log: {log_path}\n{_tail(log_path)}"
                )


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
    mark = home_dir / _INSTALL_MARK
    digest = hashlib.sha256(pom.encode()).hexdigest()
    if not force and mark.is_file() and mark.read_text().strip() == digest:
        return _paths(home_dir, versions, False)

    mvn = _which("mvn", "graphkit resolves the Neo4j server jars from Maven Central with Maven")
    _java()
    home_dir.mkdir(parents=True, exist_ok=True)
    (home_dir / "logs").mkdir(exist_ok=True)
    (home_dir / "pom.xml").write_text(pom, encoding="utf-8")
    mark.unlink(missing_ok=True)
    log_path = home_dir / "logs" / "install.log"
    _resolve_jars(mvn, home_dir, log_path)
    if not (home_dir / "lib" / f"neo4j-{versions['neo4j']}.jar").is_file() or not any(
        (home_dir / "plugins").glob("proc-*.jar")
    ):
        raise Neo4jServerError(
            f"Maven finished but the Neo4j or GDS jars are missing; log: {log_path}"
        )
    mark.write_text(digest + "\n")
    return _paths(home_dir, versions, True)


__all__ = ["install"]
