"""Periodic jobs that run once per period however many workers run.

Each worker ticks every second; for each due period, the first worker to ``SET NX`` the
period's key in Redis enqueues the job, the others see the key and skip.  RQ's own
scheduler (``--with-scheduler``) handles one-off delayed jobs (``enqueue_in``).

A short sweep that routing waits on (offer time-outs, wrap-up ends, escalations) is
``inline``: the winning worker runs it in its ticking thread at once, instead of queueing
it behind whatever the job queue holds.  Under load a queued sweep waited seconds, so
operators stayed in wrap-up long after their time.  The next period runs again a sweep
that failed.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str  # import path, e.g. "customers.jobs.recompute_ranks"
    every_s: int
    offset_s: int = 0  # e.g. nightly at 03:00 JST: every 86400, offset 18*3600 UTC
    queue: str = "default"
    inline: bool = False  # run in the ticking thread, not as a queued job


_registry: dict[str, Periodic] = {}


def register(task: Periodic) -> None:
    _registry[task.name] = task


def registered() -> list[Periodic]:
    return list(_registry.values())


def tick(redis_client, now: float | None = None) -> list[str]:
    """Enqueue every task whose period changed since it last ran; returns the names.

    ``SET key slot GET`` is atomic: of several workers ticking in the same period only
    the first sees the previous slot, the others see the new one and skip.  A task seen
    for the first time runs at once if it is frequent (sweeps) and waits for its next
    period if it is daily (so a restart does not trigger the nightly job).
    """
    from rq import Queue

    now = time.time() if now is None else now
    started = []
    for task in _registry.values():
        slot = int((now - task.offset_s) // task.every_s)
        previous = redis_client.set(f"tsunagu:periodic:{task.name}", slot, get=True)
        if previous is not None and int(previous) == slot:
            continue
        if previous is None and task.every_s >= 3600:
            continue
        if task.inline:
            _run_inline(task)
            started.append(task.name)
            continue
        if _still_pending(redis_client, task):
            continue  # the last run has not finished: no pile of second-by-second copies
        job = Queue(task.queue, connection=redis_client).enqueue(task.func, job_timeout=3600)
        redis_client.set(f"tsunagu:periodic:{task.name}:job", job.id, ex=max(60, 3 * task.every_s))
        started.append(task.name)
    return started


def _run_inline(task: Periodic) -> None:
    from importlib import import_module

    module, name = task.func.rsplit(".", 1)
    try:
        getattr(import_module(module), name)()  # a core.jobs.job: its own app context and commit
    except Exception:  # the next period runs it again
        log.exception("periodic %s failed", task.name)


def _still_pending(redis_client, task: Periodic) -> bool:
    last = redis_client.get(f"tsunagu:periodic:{task.name}:job")
    if last is None:
        return False
    status = redis_client.hget(f"rq:job:{last.decode()}", "status")
    return status in (b"queued", b"started")


def run_forever(redis_client, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            tick(redis_client)
        except Exception:  # Redis blip: try again next second
            log.warning("periodic tick failed", exc_info=True)
        stop.wait(1.0)
