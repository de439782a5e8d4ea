"""File modes of a server instance: owner-only by default, group-readable with ``--shared``.

The store, the logs and the configuration hold the investigation (IPs, payment fingerprints,
e-mail domains) and the password file. By default an instance's directories are 0700 and its
files 0600, and the server and the import tool run with umask 077 so that everything they
create is owner-only too. ``shared=True`` (``graphkit neo4j start --shared``) lets the owner's
group read them: directories 0750, files 0640, umask 027. Others never get access.
Existing files are brought to the chosen modes on each start, so a home created before
(world-readable) is tightened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The instance's own directories (the home's lib/, plugins/ and m2/ hold only public jars; the
# home directory itself gets the directory mode, which closes them to others as well).
INSTANCE_DIRS = ("conf", "data", "logs", "run", "import")


@dataclass(frozen=True)
class Modes:
    """The modes an instance's files get."""

    directory: int
    file: int
    umask: int


OWNER_ONLY = Modes(directory=0o700, file=0o600, umask=0o077)
SHARED = Modes(directory=0o750, file=0o640, umask=0o027)


def modes(shared: bool = False) -> Modes:
    """:data:`SHARED` when ``shared``, else :data:`OWNER_ONLY`.

    >>> oct(modes().directory), oct(modes(shared=True).file)
    ('0o700', '0o640')
    """
    return SHARED if shared else OWNER_ONLY


def secure_instance(home_dir: Path, inst: Path, shared: bool = False) -> Modes:
    """Create the instance's directories and give them, and every file in them, the modes."""
    m = modes(shared)
    for path in {home_dir, inst}:
        path.mkdir(mode=m.directory, parents=True, exist_ok=True)
        if path.stat().st_uid == os.getuid():  # a home installed by another user stays as is
            path.chmod(m.directory)
    for sub in INSTANCE_DIRS:
        top = inst / sub
        top.mkdir(mode=m.directory, exist_ok=True)
        for root, dirs, files in os.walk(top):  # a store has hundreds of files, not rows
            os.chmod(root, m.directory)
            for name in files:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.chmod(path, m.file)
            for name in dirs:
                os.chmod(os.path.join(root, name), m.directory)
    return m


def write_file(path: Path, text: str, shared: bool = False) -> None:
    """Write ``path`` with the instance's file mode (whatever the process umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, modes(shared).file)
    os.fchmod(fd, modes(shared).file)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def open_log(path: Path, shared: bool = False) -> int:
    """A file descriptor of ``path`` opened for writing (truncated) with the file mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, modes(shared).file)
    os.fchmod(fd, modes(shared).file)
    return fd


__all__ = ["INSTANCE_DIRS", "OWNER_ONLY", "SHARED", "Modes", "modes", "open_log",
           "secure_instance", "write_file"]
