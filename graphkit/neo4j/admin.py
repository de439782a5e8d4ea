"""``admin_import``: the real ``neo4j-admin database import full``, run from the server's jars.

The tool builds a new store offline into an instance's ``data/`` (whose server must be
stopped). Bad input rows are errors, never skipped: with ``--verbose`` the tool names the file,
line and field, and :func:`_import_failure` turns that into a located
:class:`~graphkit.errors.InputError`. A failed import's leftovers are removed, since Neo4j
calls such a store unusable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from graphkit.errors import ConfigError, GraphkitError, InputError, Neo4jServerError
from graphkit.neo4j.auth import _write_private
from graphkit.neo4j.instance import _alive, _classpath, _read_state, _render_conf
from graphkit.neo4j.local import (
    _ADMIN_TOOL,
    _JVM_FLAGS,
    ImportReport,
    PathLike,
    _home,
    _instance,
    _java,
    _require_installed,
    _tail,
)
from graphkit.neo4j.permissions import modes, open_log

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


def _check_database_name(database: str) -> None:
    if not _NAME.fullmatch(database) or database.lower() == "system":
        raise ConfigError(
            f"'{database}' is not a valid database name (3-63 characters: letters, digits, "
            "dots and dashes, starting with a letter; not 'system')"
        )


def _check_target(inst: Path, database: str, overwrite: bool) -> Path:
    """The store directory the import writes, checked: the instance's server is stopped and
    the database does not exist unless ``overwrite``."""
    state = _read_state(inst)
    if state and _alive(int(state["pid"]), inst):  # type: ignore[arg-type]
        raise Neo4jServerError(
            f"the Neo4j server in {inst} (pid {state['pid']}) is running; stop it before "
            "importing into its data directory"
        )
    data_dir = inst / "data"
    target = data_dir / "databases" / database
    if target.exists() and not overwrite:
        raise Neo4jServerError(
            f"database '{database}' already exists in {data_dir}; pass overwrite=True "
            "(--overwrite) to replace it"
        )
    return target


def _import_conf(home_dir: Path, inst: Path, database: str) -> Path:
    """The instance's neo4j.conf for the tool (its ports kept, ``database`` the default)."""
    prior = _read_state(inst) or {}
    return _render_conf(
        home_dir,
        inst,
        bolt_port=int(prior.get("bolt_port", 7687)),  # type: ignore[arg-type]
        http_port=int(prior.get("http_port", 7474)),  # type: ignore[arg-type]
        database=database,
        pagecache="256m",
        tx_memory="1g",
    )


def _import_argv(
    java: str, home_dir: Path, inst: Path, database: str, files: list[str], *, overwrite: bool,
    delimiter: str, array_delimiter: str, id_type: str, multiline_fields: bool, heap: str,
) -> list[str]:
    """The JVM command line of ``neo4j-admin database import full``."""
    return [
        java,
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        "-cp",
        _classpath(home_dir),
        _ADMIN_TOOL,
        "database",
        "import",
        "full",
        *files,
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


def _run_tool(
    argv: list[str], home_dir: Path, inst: Path, conf: Path, log_path: Path
) -> tuple[int, str, float]:
    """Run the tool, its output to ``log_path``: exit code, output, seconds."""
    # The admin tool finds its configuration through these variables, as the neo4j-admin
    # script sets them.
    env = {**os.environ, "NEO4J_HOME": str(home_dir), "NEO4J_CONF": str(conf.parent)}
    began = time.perf_counter()
    log = open_log(log_path)
    try:  # the store it writes is owner-only, as the server's (graphkit.neo4j.permissions)
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=inst,
                              check=False, umask=modes().umask)
    finally:
        os.close(log)
    seconds = time.perf_counter() - began
    return done.returncode, log_path.read_text(encoding="utf-8", errors="replace"), seconds


# Characters a password may hold to reach neo4j-admin through an argument file (picocli
# splits its lines on whitespace, strips quotes and skips lines starting with '#'), and not
# starting with '-' (picocli would take it for an option).
_ARGFILE_SAFE = re.compile(r"[A-Za-z0-9_.~+=:,!%^*/?][A-Za-z0-9_\-.~+=:,!%^*/?]*")


def set_initial_password(java: str, home_dir: Path, inst: Path, conf: Path,
                         password: str) -> bool:
    """Set user ``neo4j``'s password in a store that has never started
    (``neo4j-admin dbms set-initial-password``), so that the server never runs with Neo4j's
    initial ``neo4j``/``neo4j`` login, which any local user could take in the moment between
    the first start and the password change. True when set; False (nothing done) when the
    store exists already or the password holds characters the argument file cannot carry:
    the caller then changes it after the start.

    The password reaches the tool in an owner-only argument file (``@FILE``, expanded by the
    tool's command-line parser), never on its command line, and the file is deleted after.
    """
    data = inst / "data"
    if (data / "dbms").exists() or (data / "databases").exists() or \
            not _ARGFILE_SAFE.fullmatch(password):
        return False
    argfile = inst / "run" / "initial-password.args"
    try:
        _write_private(argfile, password)  # 0600, never an existing file or a link
        argv = [java, "-Xmx256m", *_JVM_FLAGS, "-cp", _classpath(home_dir), _ADMIN_TOOL, "dbms",
                "set-initial-password", f"@{argfile}"]
        code, output, _ = _run_tool(argv, home_dir, inst, conf,
                                    inst / "logs" / "set-initial-password.log")
    finally:
        argfile.unlink(missing_ok=True)
    if code != 0:
        raise Neo4jServerError(f"neo4j-admin dbms set-initial-password failed (exit {code}): "
                               f"{' '.join(output.split())[-300:]}")
    return True


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
    (slower: the tool then parses each file on one thread). The store is written to
    ``INSTANCE/data`` (the home by default), whose server must be stopped. Bad rows are
    errors, never skipped. Serve the result with ``start(instance=..., database=database)`` on
    a fresh instance, or import as ``neo4j`` into a stopped home.

    For example (on this machine's local Neo4j home)::

        rep = admin_import(None, "graphkit", [("Account", "accounts.csv")],
                           [("USED_IP", "used_ip.csv")], instance="/tmp/imported")
        rep.nodes, rep.relationships  # -> (3, 2)
    """
    home_dir = _home(home)
    inst = _instance(home_dir, instance)
    _require_installed(home_dir)
    _check_database_name(database)
    if not nodes:
        raise ConfigError("neo4j-admin import needs at least one node file")
    headed: set[Path] = set()
    files = [
        *_file_spec("nodes", nodes, headed),
        *_file_spec("relationships", relationships, headed),
    ]
    java = _java()
    target = _check_target(inst, database, overwrite)
    conf = _import_conf(home_dir, inst, database)
    log_path = inst / "logs" / f"import-{database}.log"
    argv = _import_argv(
        java, home_dir, inst, database, files, overwrite=overwrite, delimiter=delimiter,
        array_delimiter=array_delimiter, id_type=id_type, multiline_fields=multiline_fields,
        heap=heap,
    )
    returncode, output, seconds = _run_tool(argv, home_dir, inst, conf, log_path)
    match = _IMPORTED.search(output)
    if returncode != 0 or not match:
        # A failed import leaves a store Neo4j calls unusable; never leave it to be served.
        for leftover in (target, inst / "data" / "transactions" / database):
            shutil.rmtree(leftover, ignore_errors=True)
        raise _import_failure(output, headed, log_path)
    return ImportReport(
        database=database,
        data_dir=inst / "data",
        nodes=int(match.group(1)),
        relationships=int(match.group(2)),
        properties=int(match.group(3)),
        seconds=seconds,
        log_path=log_path,
    )


__all__ = ["admin_import"]
