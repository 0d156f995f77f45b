"""Bounded, ordered concurrency for slow reads (nodes over SSH, pod logs over the API).

Results come back in input order through a window of at most twice the worker count,
so memory does not grow with the number of items however many there are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], concurrency: int, name: str) -> Iterator[R]:
    """``map(fn, items)`` run by ``concurrency`` threads named ``name``, yielded in order."""
    source = iter(items)
    window = max(concurrency * 2, 1)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name) as pool:
        pending: deque[Future[R]] = deque(pool.submit(fn, item) for item in islice(source, window))
        while pending:
            result = pending.popleft().result()
            pending.extend(pool.submit(fn, item) for item in islice(source, 1))
            yield result
