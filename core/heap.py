"""Garbage-collector settings for the long-running processes (web workers, job workers,
the mail listener).

A started process holds ≈ 185,000 objects that live as long as it does (modules, the
app, its routes, prebuilt statements).  Python's full collection walks all of them, ≈ 100 ms
on this hardware, and every thread of the process waits meanwhile: a request that
meets one (a screen pop, say) is 100 ms late.  Once started, a process moves what it holds
into the collector's permanent generation (``gc.freeze``), so full collections only walk
what requests and jobs create since.  Tests and one-off commands keep the defaults.

Work a package would otherwise do on its first request (a lazy import, a table built
once) is registered with ``before_serving`` and done here, before the freeze: the first
request does not wait for it, and what it loads is not counted as growth later.
"""
from __future__ import annotations

import gc
from collections.abc import Callable

_WARM_UPS: dict[str, Callable[[], object]] = {}


def before_serving(name: str, warm_up: Callable[[], object]) -> None:
    """Run ``warm_up`` (no app context) when a long-running process starts serving."""
    _WARM_UPS[name] = warm_up


def settle_after_start() -> None:
    """Call when the process has loaded everything and is about to serve."""
    for warm_up in _WARM_UPS.values():
        warm_up()
    gc.collect()  # garbage of the start-up is freed, not kept for ever
    gc.freeze()
