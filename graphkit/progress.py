"""Stage timing and progress display for long steps.

A :class:`Progress` is passed explicitly to the pipeline functions (no global state). It always
records how long each stage took (benchmarks and manifests read ``timings``) and prints a line per
stage to stderr only when stderr is a terminal, so logs and pipes stay quiet.

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
            if self.enabled:
                print(f" {elapsed:.1f}s", file=self.stream, flush=True)


def quiet() -> Progress:
    """A Progress that records timings and prints nothing."""
    return Progress(enabled=False)
