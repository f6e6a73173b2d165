"""The HTTP API's model work runs at most `slots` calls at once; other requests wait their turn.

Analyze, compare, verify, search (face features) and enrolment run the ONNX networks and
Python glue that holds the GIL. Starlette's thread pool would run up to 40 of them at once:
on a 2-core machine, 32 clients meant 32 analyses sharing 2 cores, each 16 times slower,
and the event loop (parsing uploads, writing answers) queued for the GIL and the CPU
behind all of them: 19.9% fewer analyses/s than the library's own 32 threads, p50 +30%.
Bounded to the cores, each call runs at its one-at-a-time speed, waiting requests cost
nothing but a place in line (no thread), the loop keeps its turn: -1.9% and -25%
(bench/bench_http.py; docs/performance.md, "HTTP API").

`slots`: $VIGIL_HTTP_MODEL_CALLS, else the CPU cores this process may use divided by the
network threads per call ($VIGIL_MODEL_THREADS), at least 1.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import anyio
from anyio.lowlevel import RunVar
from fastapi import Request

T = TypeVar("T")
# per event loop (a limiter belongs to one), per application (its own slot count)
_LIMITERS: RunVar[dict[int, anyio.CapacityLimiter]] = RunVar("vigil_model_limiters")


def model_slots(configured: int, model_threads: int) -> int:
    """Model calls to run at once: `configured`, else one per usable core per call's threads."""
    if configured > 0:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, model_threads))


def limiter(request: Request) -> anyio.CapacityLimiter:
    try:
        limiters = _LIMITERS.get()
    except LookupError:
        limiters = {}
        _LIMITERS.set(limiters)
    app = request.app
    if id(app) not in limiters:
        limiters[id(app)] = anyio.CapacityLimiter(app.state.model_slots)
    return limiters[id(app)]


async def run_model(request: Request, work: Callable[[], T]) -> T:
    """`work()` in a worker thread once one of the application's model slots is free."""
    return await anyio.to_thread.run_sync(work, limiter=limiter(request))
