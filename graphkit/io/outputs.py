"""Atomic, locked result directories and files, and their verification by readers.

A result directory (``detect --out``, ``build --out``, the neo4j-admin import CSVs) is written
into a temporary sibling. When every file is written, each is flushed to disk, ``manifest.json``
is (re)written last with the SHA-256 digest of every other file under ``"files"`` and its own
digest (``"manifest_sha256"``, over everything else it records), and the directory is renamed
into place. A previous result at the same place is renamed aside first
and deleted after the new one is in, so a crash leaves either the old complete result or the
new complete one (or, between the two renames, none; never a mix). An exclusive lock on a
sibling lock file (``.NAME.lock``) refuses a second concurrent run on the same output.

Readers call :func:`verify_result_dir`: a directory without ``manifest.json``, without
digests, whose manifest or files do not match their digests, or holding files the manifest
does not list is refused with a one-line error.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
>>> with result_dir(out) as tmp:
...     _ = (tmp / "a.csv").write_text("x\\n1\\n")
>>> sorted(verify_result_dir(out, required=("a.csv",))["files"])
['a.csv']
>>> _ = (out / "a.csv").write_text("x\\n2\\n")
>>> try:
...     verify_result_dir(out)
... except InputError as exc:
...     print(exc.message)
does not match the digest in manifest.json (modified or half-written result)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from graphkit.errors import ConfigError, InputError
from graphkit.parallel import thread_map

MANIFEST = "manifest.json"
# The manifest's own digest (:func:`manifest_digest`), the last thing sealed.
SEAL = "manifest_sha256"
# Results hold IPs, payment ids and verdicts: owner-only, whatever the umask (to share one
# with a team, ``chmod -R g+rX`` it after the run; docs/security.md).
DIR_MODE, FILE_MODE = 0o700, 0o600
# The files every ``detect`` result holds (readers require them to be listed and intact).
DETECT_FILES: tuple[str, ...] = ("accounts.csv", "communities.csv", "links.csv")
# Files graphkit writes beside a sealed result after the run (``graphkit report``'s default
# output), which no reader reads back: the only files a result may hold unlisted.
DERIVED_FILES: frozenset[str] = frozenset({"report.html"})
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _os_error(action: str, path: Path, exc: OSError) -> ConfigError:
    reason = exc.strerror or type(exc).__name__
    return ConfigError(f"cannot {action}: {reason}", file=str(exc.filename or path))


@contextlib.contextmanager
def output_lock(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on ``target`` (a sibling ``.NAME.lock`` file) for the block.

    A second holder (another process, or this one) is refused at once with a
    :class:`~graphkit.errors.ConfigError`. The lock dies with the process that holds it, so a
    killed run never leaves a stale lock; the lock file is removed on release (a holder checks
    that the file it locked is still the one at the path, so removal races are harmless).
    """
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error("create output directory", parent, exc) from None
    lock_path = parent / f".{target.name}.lock"
    try:
        fh: IO[bytes] = open(lock_path, "a+b")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise _os_error("write to the output location", lock_path, exc) from None
    busy = ConfigError("another graphkit run is writing this output; wait for it to finish "
                       "or choose another --out", file=str(target))
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise busy from None
            raise _os_error("lock the output", lock_path, exc) from None
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder before us removed it while we opened it
            raise busy
        try:
            yield lock_path
        finally:
            lock_path.unlink(missing_ok=True)
    finally:
        fh.close()  # releases the lock


def seal(directory: str | os.PathLike[str], *, command: str | None = None) -> dict[str, Any]:
    """Flush every file of ``directory`` to disk and write ``manifest.json`` last, with the
    SHA-256 of every other file under ``"files"`` (keeping what the manifest already holds);
    every file and directory is made owner-only (:data:`FILE_MODE`, :data:`DIR_MODE`)."""
    d = Path(directory)
    path = d / MANIFEST
    manifest: dict[str, Any] = {}
    if path.is_file():
        manifest = json.loads(path.read_text(encoding="utf-8"))
    elif command is not None:
        manifest["command"] = command
    paths = sorted(p for p in d.rglob("*") if p.is_file())
    for f in paths:
        _owner_only(f)
    paths = [f for f in paths if f.relative_to(d).as_posix() != MANIFEST]
    # Flushed and hashed on one thread per core (fsync and hashlib release the GIL).
    digests = thread_map(_flushed_digest, paths)
    manifest["files"] = {f.relative_to(d).as_posix(): h
                         for f, h in zip(paths, digests, strict=True)}
    manifest.pop(SEAL, None)
    manifest = json.loads(json.dumps(manifest, default=str))  # as a reader will see it
    manifest[SEAL] = manifest_digest(manifest)
    tmp = d / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(manifest, indent=2, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    _owner_only(tmp)
    os.replace(tmp, path)
    for sub in sorted({p.parent for p in d.rglob("*")} | {d}):
        os.chmod(sub, DIR_MODE)
        _fsync_dir(sub)
    return manifest


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of a manifest's canonical JSON (sorted keys, no spaces) without its
    :data:`SEAL` entry: the manifest's own digest, which covers the file digests with
    everything else it records (run id, settings, model releases).

    >>> manifest_digest({"files": {}, "run_id": "r1"}) == manifest_digest(
    ...     {"run_id": "r1", "files": {}, SEAL: "anything"})
    True
    """
    body = {k: v for k, v in manifest.items() if k != SEAL}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _flushed_digest(path: Path) -> str:
    """Flush ``path`` to disk; its SHA-256."""
    _fsync_file(path)
    return sha256_file(path)


def _owner_only(path: Path) -> None:
    """Owner-only mode for a result file (an executable, such as the bulk import script,
    stays executable by its owner)."""
    executable = os.stat(path).st_mode & 0o111
    os.chmod(path, FILE_MODE | (0o100 if executable else 0))


def _check_replaceable(out: Path) -> None:
    """Refuse to replace anything but a previous result (or an empty directory)."""
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir() or out.is_symlink():
        raise ConfigError("output exists and is not a directory", file=str(out))
    try:
        entries = [p.name for p in out.iterdir()]
    except OSError as exc:
        raise _os_error("read the output directory", out, exc) from None
    if not entries:
        return
    if MANIFEST not in entries:
        raise ConfigError("output directory exists and is not a graphkit result (no "
                          "manifest.json); refusing to replace it", file=str(out))
    # A previous result is replaced only when everything in it is its own: a folder that
    # merely holds a manifest.json (a browser extension's, a package's) or a result someone
    # added files to is left alone.
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise ConfigError("output directory exists and its manifest.json is not a graphkit "
                          "result's (no file digests); refusing to replace it", file=str(out))
    unlisted = _unlisted_files(out, files)
    if unlisted:
        raise ConfigError(f"output directory holds files its manifest.json does not list "
                          f"({_some(unlisted)}); refusing to replace it", file=str(out))


def _some(names: list[str]) -> str:
    """The first three ``names``, then ``...`` when there are more."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _unlisted_files(out: Path, files: dict[str, str]) -> list[str]:
    """The files under ``out`` that the manifest's ``files`` does not list (sorted), but
    :data:`DERIVED_FILES`."""
    try:
        present = [p.relative_to(out).as_posix() for p in out.rglob("*")
                   if p.is_file() or p.is_symlink()]
    except OSError as exc:
        raise _os_error("read the output directory", out, exc) from None
    return sorted(f for f in present
                  if f != MANIFEST and f not in files and not _derived(f))


def _derived(name: str) -> bool:
    """One of :data:`DERIVED_FILES`, or the temporary file of one being written."""
    return name in DERIVED_FILES or any(name.startswith(f".{d}.tmp-") for d in DERIVED_FILES)


@contextlib.contextmanager
def result_dir(out: str | os.PathLike[str], *, command: str | None = None) -> Iterator[Path]:
    """Write a result directory atomically: yields a temporary sibling to write into.

    On a clean exit the directory is sealed (:func:`seal`; owner-only modes, 0700 directories
    and 0600 files) and renamed to ``out``, replacing a
    previous result (renamed aside, then deleted); on an exception the temporary directory is
    removed and ``out`` is untouched. A concurrent run on the same ``out`` is refused
    (:func:`output_lock`).

    Parameters
    ----------
    out : path-like
        The final directory. When it exists it must be a previous result (it holds
        ``manifest.json``) or empty.
    command : str, optional
        Recorded in the manifest when the writer writes none of its own.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r"
    >>> with result_dir(out, command="demo") as tmp:
    ...     _ = (tmp / "x.txt").write_text("hi")
    >>> sorted(p.name for p in out.iterdir())
    ['manifest.json', 'x.txt']
    """
    out = Path(out)
    with output_lock(out):
        _recover(out)
        _check_replaceable(out)
        token = uuid.uuid4().hex[:12]
        tmp = out.parent / f".{out.name}.tmp-{token}"
        try:
            tmp.mkdir()
        except OSError as exc:
            raise _os_error("create output directory", out, exc) from None
        try:
            yield tmp
            try:
                seal(tmp, command=command)
            except OSError as exc:
                raise _os_error("write the output", out, exc) from None
            _swap_in(tmp, out, token)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _remove_stale(out)


def _swap_in(tmp: Path, out: Path, token: str) -> None:
    """Rename ``tmp`` to ``out``; a previous ``out`` is renamed aside first, then deleted."""
    old = out.parent / f".{out.name}.old-{token}"
    try:
        if out.exists():
            os.rename(out, old)
        os.rename(tmp, out)
        _fsync_dir(out.parent)
    except OSError as exc:
        if old.exists() and not out.exists():
            os.rename(old, out)
        raise _os_error("move the result into place", out, exc) from None
    shutil.rmtree(old, ignore_errors=True)


def _recover(out: Path) -> None:
    """A run killed between its two renames left the previous result aside and nothing in
    place: put the previous result back, then clear what killed runs left."""
    if not out.exists():
        aside = sorted(out.parent.glob(f".{glob.escape(out.name)}.old-*"))
        if aside and (aside[0] / MANIFEST).is_file():
            os.rename(aside[0], out)
    _remove_stale(out)


def _remove_stale(out: Path) -> None:
    """Delete temporary and set-aside siblings left by runs that were killed (we hold the lock,
    so none of them is in use)."""
    name = glob.escape(out.name)  # "r[1]" names itself, not "r1"
    for pattern in (f".{name}.tmp-*", f".{name}.old-*"):
        for p in out.parent.glob(pattern):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Write one file atomically: yields a temporary sibling path, renamed to ``target`` (after
    an fsync, owner-only) on a clean exit, deleted on an exception. A reader sees the previous file or the
    new one, whole; of two concurrent writers the last to finish wins."""
    target = Path(target)
    if target.is_dir():
        raise ConfigError("output is a directory; give a file name", file=str(target))
    if not target.parent.is_dir():
        raise ConfigError("the output's directory does not exist", file=str(target))
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        yield tmp
        try:
            _fsync_file(tmp)
            _owner_only(tmp)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            raise _os_error("write the output", target, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def verify_result_dir(directory: str | os.PathLike[str], *,
                      required: Iterable[str] = ()) -> dict[str, Any]:
    """Check a result directory before reading it; returns its manifest.

    Refused (:class:`~graphkit.errors.InputError`, one line naming the path): a missing
    directory or ``manifest.json``, a manifest without digests (written before results were
    sealed, or never finished), a manifest whose own digest (:data:`SEAL`) does not match it
    (edited after the run), a ``required`` file the manifest does not list, any listed
    file that is missing or whose SHA-256 differs (a half-written or mixed result), and any
    file the manifest does not list (but :data:`DERIVED_FILES`): a reader that looks for an
    optional part (``successions.csv``, ``graph/``, ``state/``) then never takes an added file
    for one.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputError("result directory not found", file=str(d))
    path = d / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("not a complete result directory (no manifest.json)",
                         file=str(d)) from None
    except OSError as exc:
        raise InputError(f"cannot read manifest.json: {exc.strerror}", file=str(path)) from None
    except ValueError as exc:
        raise InputError(f"manifest.json is not JSON ({exc})", file=str(path)) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise InputError("manifest.json lists no file digests (an incomplete result or one "
                         "written by an older graphkit; rerun it)", file=str(path))
    if manifest.get(SEAL) != manifest_digest(manifest):
        raise InputError("manifest.json was changed after the run or never sealed (its "
                         f"{SEAL} does not match; rerun it)", file=str(path))
    for name in required:
        if name not in files:
            raise InputError(f"{name} is not part of this result", file=str(d / name))
    for name, digest in files.items():
        f = d / name
        try:
            actual = sha256_file(f)
        except FileNotFoundError:
            raise InputError("listed in manifest.json but missing (half-written result)",
                             file=str(f)) from None
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", file=str(f)) from None
        if actual != digest:
            raise InputError("does not match the digest in manifest.json (modified or "
                             "half-written result)", file=str(f))
    unlisted = _unlisted_files(d, files)
    if unlisted:  # added after the run: no reader may take them for part of the result
        raise InputError(f"holds files manifest.json does not list ({_some(unlisted)}): added "
                         "after the run; move them out of the result directory", file=str(d))
    return manifest


__all__ = [
    "DERIVED_FILES",
    "DETECT_FILES",
    "MANIFEST",
    "SEAL",
    "atomic_file",
    "manifest_digest",
    "output_lock",
    "result_dir",
    "seal",
    "sha256_file",
    "verify_result_dir",
]
