"""Background jobs on RQ.

* ``enqueue`` waits for the current transaction to commit, so a job never runs against
  data that was rolled back (or not yet visible to the worker).
* ``job`` wraps an entry point so it runs in an application context with its own session
  and commits once at the end (jobs take ids and must be idempotent: RQ retries them).
* ``set_progress`` records 0..1 progress in ``job.meta`` for ``GET /jobs/{id}``.
"""
from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context
from rq import Queue, Retry, SimpleWorker, get_current_job
from rq.worker import DequeueStrategy, WorkerStatus

from core.db import on_commit

log = logging.getLogger(__name__)

QUEUES = ("high", "default", "low")
# Delete KEYS[1] if it holds ARGV[1], in one step (a Batched drain clears only its own flag).
_DELETE_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# The first retry goes straight back to the queue (a deadlock victim, or the job of a
# worker that died): a delayed retry would wait for RQ's scheduler, whose lock a killed
# worker keeps for a minute.  Later retries back off.
RETRY_INTERVALS_S = [0, 5, 30]
_worker_app = None


def queue(name: str = "default") -> Queue:
    from core.redis_conn import get_redis

    return Queue(name, connection=get_redis())


def enqueue(func: Callable | str, *args, queue_name: str = "default", job_id: str | None = None,
            retry: int = 3, meta: dict | None = None, now: bool = False, **kwargs):
    """Enqueue ``func(*args, **kwargs)`` after commit (or at once with ``now=True``).

    Returns the job id (chosen up front so the caller can answer 202 with it).
    """
    from extensions import db

    job_id = job_id or uuid.uuid4().hex

    def _send():
        queue(queue_name).enqueue(
            func, *args, job_id=job_id, meta=meta or {},
            retry=Retry(max=retry, interval=RETRY_INTERVALS_S) if retry else None,
            result_ttl=86400, failure_ttl=7 * 86400, job_timeout=3600, **kwargs)

    if now:
        _send()
    else:
        on_commit(db.session(), _send)
    return job_id


class Batched:
    """Items handled by one drain job at a time instead of a job each (enqueueing an RQ job
    costs several Redis round trips; a list push and a flag cost one).

    ``add`` (call it after commit) appends the item and enqueues ``func`` unless a drain is
    already due: the flag holds that job's id.  ``drain_batches`` (inside that job) clears
    the flag *before* reading, so an item added meanwhile starts a new job and none is
    missed.  The flag expires in case its job is lost; a batch whose handler failed goes
    back to the head of the list.

    Only the flagged job clears the flag.  When the queue is backed up past the flag's
    lifetime a second job is enqueued; if the older one, starting first, cleared the newer
    one's flag, every later item would enqueue a job of its own (seen under load: thousands
    of drain jobs queued, one per item, ahead of everything else in their queue).
    """

    KICK_TTL_MS = 5000

    def __init__(self, name: str, func: str, queue_name: str = "high"):
        self.items_key = f"tsunagu:batched:{name}"
        self.kick_key = f"tsunagu:batched:{name}:kick"
        self.func, self.queue_name = func, queue_name

    def add(self, item: int) -> None:
        from core.redis_conn import get_redis

        job_id = uuid.uuid4().hex
        pipe = get_redis().pipeline(transaction=False)
        pipe.rpush(self.items_key, item)
        pipe.set(self.kick_key, job_id, nx=True, px=self.KICK_TTL_MS)
        if pipe.execute()[1]:
            self._enqueue_drain(job_id)

    def drain_batches(self, handle: Callable[[list[int]], Any], batch: int = 50, *, batches: int = 5,
                      job_id: str | None = None) -> int:
        """``handle(items)`` for up to ``batch`` items at a time, in arrival order; returns
        how many were handled.  If it fails the whole batch goes back to the head of the
        list (the handler must be safe to run again).  After ``batches`` batches the job
        hands over to a new one at the back of its queue, so a steady stream of items
        cannot hold a worker for long while the once-a-second sweeps wait.  ``job_id``:
        the drain job's own (default: the running RQ job's)."""
        from core.redis_conn import get_redis

        client = get_redis()
        if job_id is None and (current := get_current_job()) is not None:
            job_id = current.id
        client.eval(_DELETE_IF_EQUAL, 1, self.kick_key, job_id or "")
        handled = 0
        for _ in range(batches):
            items = [int(raw) for raw in (client.lpop(self.items_key, batch) or [])]
            if not items:
                return handled
            try:
                handle(items)
            except BaseException:
                self._put_back(items)
                raise
            handled += len(items)
        if client.llen(self.items_key):
            successor = uuid.uuid4().hex
            if client.set(self.kick_key, successor, nx=True, px=self.KICK_TTL_MS):
                self._enqueue_drain(successor)
        return handled

    def _enqueue_drain(self, job_id: str) -> None:
        """The drain job, under the id its flag holds."""
        enqueue(self.func, queue_name=self.queue_name, retry=1, now=True, job_id=job_id)

    def _put_back(self, items: list[int]) -> None:
        """Items not handled go back to the head of the list, in order."""
        from core.redis_conn import get_redis

        get_redis().lpush(self.items_key, *reversed(items))


def enqueue_in(seconds: float, func: Callable | str, *args, queue_name: str = "high",
               job_id: str | None = None, **kwargs):
    """Schedule ``func`` to run after ``seconds`` (needs a worker started with the scheduler)."""
    from datetime import timedelta

    from extensions import db

    def _send():
        queue(queue_name).enqueue_in(timedelta(seconds=seconds), func, *args, job_id=job_id,
                                     result_ttl=3600, **kwargs)

    on_commit(db.session(), _send)


def set_progress(fraction: float, **extra: Any) -> None:
    """Record progress of the running job (no-op outside a job)."""
    current = get_current_job()
    if current is None:
        return
    current.meta["progress"] = max(0.0, min(1.0, float(fraction)))
    current.meta.update(extra)
    current.save_meta()


def _app():
    """The app for a worker process, created once."""
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    return _worker_app


def job(func: Callable) -> Callable:
    """Decorate an RQ entry point: its own app context and session, commit on success.

    Inside a worker each job gets a fresh application context (so a fresh session whose
    identity map does not grow job after job); called directly in an existing context
    (tests, CLI) it shares that context's session.
    """

    def _run(args, kwargs):
        from extensions import db

        try:
            result = func(*args, **kwargs)
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            raise

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context() and get_current_job() is None:
            return _run(args, kwargs)
        app = current_app._get_current_object() if has_app_context() else _app()
        with app.app_context():
            return _run(args, kwargs)

    return wrapper


# A worker that dies mid-job (kill -9, out of memory, a lost machine) leaves its job
# "started"; RQ retries such a job once its heartbeat has lapsed.  SimpleWorker runs jobs
# in its own thread and would let the heartbeat lapse only after the job's whole timeout
# (an hour), so a side thread beats while a job runs and registries are checked often:
# the job of a dead worker is retried within about HEARTBEAT_TTL_S + MAINTENANCE_EVERY_S.
HEARTBEAT_TTL_S = 10
HEARTBEAT_EVERY_S = 2
MAINTENANCE_EVERY_S = 5


class HeartbeatWorker(SimpleWorker):
    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        return HEARTBEAT_TTL_S

    def execute_job(self, job, queue):
        import threading

        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), daemon=True, name="job-heartbeat")
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job, execution, stop) -> None:
        while not stop.wait(HEARTBEAT_EVERY_S):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception:  # Redis blip: the next beat tries again
                log.warning("job heartbeat failed", exc_info=True)


def run_worker(app, burst: bool = False, name: str | None = None) -> None:
    """Run an RQ worker (with RQ's scheduler for delayed jobs) plus the periodic ticker."""
    import threading

    from core import scheduler
    from core.redis_conn import connect

    global _worker_app
    _worker_app = app
    # No read timeout: the worker blocks on BLPOP for longer than the web's client allows.
    connection = connect(app.config["REDIS_URL"], blocking=True)
    stop = threading.Event()
    ticker = threading.Thread(target=scheduler.run_forever, args=(connection, stop), daemon=True,
                              name="periodic")
    if not burst:
        ticker.start()
    worker = HeartbeatWorker([Queue(q, connection=connection) for q in QUEUES], connection=connection,
                             name=name, maintenance_interval=MAINTENANCE_EVERY_S)
    if not burst:
        from core.heap import settle_after_start

        settle_after_start()
    try:
        # Round robin over the queues: a burst of routing jobs must not starve inbound mail.
        worker.work(with_scheduler=True, burst=burst, logging_level="WARNING",
                    dequeue_strategy=DequeueStrategy.ROUND_ROBIN)
    finally:
        stop.set()


def status(job_id: str) -> dict | None:
    """The contract's view of a job: ``{id, status, progress, result}``, or None if unknown."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from core.redis_conn import get_redis

    try:
        found = Job.fetch(job_id, connection=get_redis())
    except (NoSuchJobError, ValueError):  # ValueError: not even a valid job id
        return None
    state = found.get_status(refresh=False)
    state = getattr(state, "value", state)
    mapped = {"queued": "queued", "deferred": "queued", "scheduled": "queued", "started": "started",
              "finished": "finished", "failed": "failed", "stopped": "failed", "canceled": "failed"}
    result = found.return_value() if state == "finished" else None
    progress = found.meta.get("progress", 1.0 if state == "finished" else 0.0)
    body = {"id": found.id, "status": mapped.get(state, "queued"), "progress": progress,
            "result": result}
    if state == "failed":
        body["error"] = found.meta.get("error") or "The job failed."
    for key in ("kind", "owner_id"):
        if key in found.meta:
            body[key] = found.meta[key]
    return body
