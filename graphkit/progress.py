"""Stage timing and progress display for long steps.

A :class:`Progress` is passed explicitly to the pipeline functions (no global state). It always
records how long each stage took (benchmarks and manifests read ``timings``) and the process's
memory when it ended (``memory``: resident and peak resident GiB; the stage where the peak
jumps is the one that set it), and prints a line per stage to stderr only when stderr is a
terminal, so logs and pipes stay quiet.

>>> p = Progress(enabled=False)
>>> with p.step("aggregate"):
...     pass
>>> list(p.timings)
['aggregate']
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    """Times named stages; prints them when ``enabled`` (default: stderr is a terminal)."""

    enabled: bool | None = None
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    timings: dict[str, float] = field(default_factory=dict)
    memory: dict[str, dict[str, float]] = field(default_factory=dict)
    # At each stage's end, return what it freed to the operating system
    # (:func:`release_freed_memory`): the next stage's peak then starts from what is held.
    release: bool = True

    def __post_init__(self) -> None:
        if self.enabled is None:
            self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the enclosed block as stage ``name`` (repeated names accumulate)."""
        if self.enabled:
            print(f"  {name} ...", end="", file=self.stream, flush=True)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings[name] = self.timings.get(name, 0.0) + elapsed
            if self.release:
                release_freed_memory()
            self.memory[name] = memory_gib()
            if self.enabled:
                print(f" {elapsed:.1f}s", file=self.stream, flush=True)


def memory_gib() -> dict[str, float]:
    """This process's resident memory now and its peak so far, in GiB (empty where the
    platform does not tell: no ``/proc`` or no ``resource`` module).

    The peak is ``VmHWM`` of ``/proc/self/status`` where there is one: the high-water mark of
    this process's own address space. ``ru_maxrss`` (the fallback, macOS) also counts, on
    Linux, what the parent held when it forked this process, so a run started from a large
    parent (a benchmark that simulated its data first) would report the parent's memory.

    >>> sorted(memory_gib()) in ([], ["peak", "rss"], ["peak"])
    True
    """
    out: dict[str, float] = {}
    status = proc_status_bytes("self", ("VmHWM", "VmRSS"))
    if "VmHWM" in status:
        out["peak"] = round(status["VmHWM"] / 2**30, 3)
    else:
        try:
            import resource

            scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else kB
            out["peak"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30, 3)
        except (ImportError, OSError):
            return out
    if "VmRSS" in status:
        out["rss"] = round(status["VmRSS"] / 2**30, 3)
    return out


def proc_status_bytes(pid: int | str, fields: tuple[str, ...]) -> dict[str, int]:
    """The memory ``fields`` (``VmRSS``, ``VmHWM``, ...) of ``/proc/<pid>/status`` in bytes;
    the fields it lacks (or all, without ``/proc`` or once the process is gone) are left out.

    >>> set(proc_status_bytes("self", ("VmRSS",))) <= {"VmRSS"}
    True
    """
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in fields and value.strip().endswith("kB"):
                    out[name] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return out


def release_freed_memory() -> None:
    """Return freed memory to the operating system: Arrow's pool (whose allocator keeps freed
    pages for reuse) and glibc's malloc arenas (``malloc_trim``; freed NumPy and pandas buffers
    of a few hundred MB otherwise stay resident). Best effort: nothing happens where either is
    missing.

    >>> release_freed_memory()
    """
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except (ImportError, AttributeError):
        pass
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def quiet() -> Progress:
    """A Progress that records timings and prints nothing."""
    return Progress(enabled=False)
