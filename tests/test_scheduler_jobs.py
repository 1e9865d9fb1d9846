"""Periodic jobs run once per period across workers; jobs are enqueued after commit."""
import redis as redis_lib
from rq import Queue
from rq.job import JobStatus

from core import scheduler


def test_periodic_tick_runs_once_per_period_across_workers(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    task = scheduler.Periodic("unit-sweep", "routing.jobs.sweep_presence", every_s=10, queue="high")
    saved = dict(scheduler._registry)
    scheduler._registry.clear()
    scheduler.register(task)
    try:
        # Two workers tick in the same period: one enqueue.
        assert scheduler.tick(client, now=1000.0) == ["unit-sweep"]
        assert scheduler.tick(client, now=1005.0) == []
        assert scheduler.tick(client, now=1009.9) == []
        # Next period while the first run still waits in the queue: no second copy.
        assert scheduler.tick(client, now=1010.0) == []
        assert len(Queue("high", connection=client)) == 1
        # Once it has run, the next period enqueues again.
        Queue("high", connection=client).jobs[0].set_status(JobStatus.FINISHED)
        assert scheduler.tick(client, now=1020.0) == ["unit-sweep"]
        assert len(Queue("high", connection=client)) == 2
    finally:
        scheduler._registry.clear()
        scheduler._registry.update(saved)
        client.flushdb()


def test_daily_task_waits_for_its_next_period_after_a_restart(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    saved = dict(scheduler._registry)
    scheduler._registry.clear()
    scheduler.register(scheduler.Periodic("nightly", "routing.jobs.sweep_presence", every_s=86400, offset_s=18 * 3600))
    try:
        assert scheduler.tick(client, now=1_000_000.0) == []
        assert scheduler.tick(client, now=1_000_000.0 + 86400) == ["nightly"]
    finally:
        scheduler._registry.clear()
        scheduler._registry.update(saved)
        client.flushdb()


def test_enqueue_waits_for_commit_and_job_status_endpoint(app, client, login):
    from core import jobs
    from extensions import db

    user_id, _ = login(client)
    with app.test_request_context():
        job_id = jobs.enqueue("routing.jobs.sweep_presence", meta={"owner_id": user_id})
        queue = jobs.queue()
        assert queue.fetch_job(job_id) is None  # not before commit
        db.session.commit()
        assert queue.fetch_job(job_id) is not None
    body = client.get(f"/api/v1/jobs/{job_id}").get_json()
    assert body["status"] == "queued" and body["progress"] == 0.0
    assert client.get("/api/v1/jobs/does-not-exist").status_code == 404


def test_job_status_hides_other_users_jobs(app, client, login, make_user):
    from core import jobs
    from extensions import db

    other_id, _ = make_user("other-owner")
    login(client)
    with app.test_request_context():
        job_id = jobs.enqueue("routing.jobs.sweep_presence", meta={"owner_id": other_id})
        db.session.commit()
    assert client.get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_job_wrapper_commits_and_reports(app, make_user):
    from datetime import timedelta

    from core.db import utcnow
    from extensions import db
    from routing import jobs as routing_jobs
    from routing.presence import set_presence, state_of

    user_id, _ = make_user("goner")
    with app.app_context():
        from accounts.models import User

        user = db.session.get(User, user_id)
        set_presence(user, "available")
        state = state_of(user_id)
        state.presence_since = utcnow() - timedelta(minutes=5)
        state.disconnected_at = utcnow() - timedelta(minutes=2)
        db.session.commit()
        assert routing_jobs.sweep_presence() == [user_id]
        db.session.expire_all()
        assert state_of(user_id).presence == "offline"


def test_a_drain_job_hands_over_after_its_batches_and_puts_a_failed_batch_back(app):
    """Batched.drain_batches: items in arrival order, ``batch`` at a time; after
    ``batches`` batches a new drain job goes to the back of the queue (so the sweeps
    queued meanwhile run first) and nothing is lost; a failing batch goes back whole."""
    from core.jobs import Batched
    from core.redis_conn import get_redis

    drain = Batched("unit-drain", "routing.jobs.sweep_presence")
    with app.app_context():
        client = get_redis()
        client.flushdb()
        for item in range(1, 12):
            drain.add(item)
        high = Queue("high", connection=client)
        assert len(high) == 1  # one job for the eleven
        seen: list[list[int]] = []
        assert drain.drain_batches(seen.append, batch=3, batches=2, job_id=high.job_ids[0]) == 6
        assert seen == [[1, 2, 3], [4, 5, 6]]
        assert len(high) == 2  # handed over: a drain for the rest

        def fails(items):
            raise RuntimeError("deadlock")

        try:
            drain.drain_batches(fails, batch=3, batches=2, job_id=high.job_ids[1])
        except RuntimeError:
            pass
        assert [int(x) for x in client.lrange(drain.items_key, 0, -1)] == [7, 8, 9, 10, 11]  # put back whole
        assert drain.drain_batches(seen.append, batch=3, batches=2, job_id=high.job_ids[1]) == 5
        assert seen[2:] == [[7, 8, 9], [10, 11]]
        assert len(high) == 2  # emptied: no new job
        client.flushdb()


def test_a_stale_drain_job_leaves_the_newer_jobs_flag_so_items_do_not_get_a_job_each(app):
    """A drain job still queued when its flag expired (a backed-up queue) is followed by a
    second one.  When the older one runs first it must not clear the newer one's flag:
    the items added after it are the newer job's, not a new job each."""
    from core.jobs import Batched
    from core.redis_conn import get_redis

    drain = Batched("unit-stale", "routing.jobs.sweep_presence")
    with app.app_context():
        client = get_redis()
        client.flushdb()
        high = Queue("high", connection=client)
        drain.add(1)
        older = high.job_ids[0]
        client.delete(drain.kick_key)  # its flag expired while it waited in the queue
        drain.add(2)
        assert len(high) == 2
        newer = high.job_ids[1]
        seen: list[list[int]] = []
        assert drain.drain_batches(seen.extend, job_id=older) == 2  # the older job runs first: drains both
        for item in range(3, 13):
            drain.add(item)
        assert len(high) == 2  # the newer job, still queued, will drain them: no job per item
        assert drain.drain_batches(seen.extend, job_id=newer) == 10
        assert seen == list(range(1, 13))
        drain.add(13)  # after the newer job started, an item needs a job again
        assert len(high) == 3
        client.flushdb()


INLINE_RUNS: list[str] = []


def inline_probe():
    INLINE_RUNS.append("ran")


def inline_failure():
    raise RuntimeError("database gone")


def test_an_inline_periodic_runs_in_the_tick_once_per_period_and_a_failure_does_not_stop_the_tick(redis_url):
    """Inline sweeps (wrap-up ends, offer time-outs) run in the ticking worker's thread at
    once, never queued; once per period across workers; a failing one is logged and the
    other tasks of the tick still run."""
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    saved = dict(scheduler._registry)
    scheduler._registry.clear()
    scheduler.register(scheduler.Periodic("unit-failing", "tests.test_scheduler_jobs.inline_failure", every_s=1,
                                          inline=True))
    scheduler.register(scheduler.Periodic("unit-inline", "tests.test_scheduler_jobs.inline_probe", every_s=1,
                                          inline=True))
    INLINE_RUNS.clear()
    try:
        assert scheduler.tick(client, now=2000.0) == ["unit-failing", "unit-inline"]
        assert scheduler.tick(client, now=2000.5) == []  # the other worker, same period
        assert INLINE_RUNS == ["ran"]
        assert scheduler.tick(client, now=2001.0) == ["unit-failing", "unit-inline"]
        assert INLINE_RUNS == ["ran", "ran"]
        assert len(Queue("high", connection=client)) == 0 and len(Queue("default", connection=client)) == 0
    finally:
        scheduler._registry.clear()
        scheduler._registry.update(saved)
        client.flushdb()
