"""Work spread over threads where the libraries release the GIL (NumPy, pandas, Arrow, scipy,
file I/O): one helper, so every stage bounds its threads the same way.

>>> thread_map(lambda x: x * x, [1, 2, 3])
[1, 4, 9]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def thread_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None
               ) -> list[R]:
    """``[fn(x) for x in items]`` on up to ``workers`` threads (default: one per core), never
    more threads than items; results in the order of ``items``."""
    items = list(items)
    n = max(1, min(len(items), workers or os.cpu_count() or 1, os.cpu_count() or 1))
    if n == 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, items))
