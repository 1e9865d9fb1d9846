"""The per-connection flood guard of client Socket.IO events (core.socket_limits)."""
import logging

from core.socket_limits import EventBuckets


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_burst_then_refill_at_the_rate_per_connection():
    clock = Clock()
    buckets = EventBuckets(rate=2, burst=3, clock=clock)
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.allow("b")  # its own bucket
    clock.now += 0.5  # one token back at 2/s
    assert buckets.allow("a") and not buckets.allow("a")
    clock.now += 60  # refill stops at the burst
    assert [buckets.allow("a") for _ in range(4)] == [True, True, True, False]


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_forgetting_a_connection_frees_its_bucket():
    buckets = EventBuckets(rate=1, burst=1, clock=Clock())
    records = Records()
    logger = logging.getLogger("core.socket_limits")
    disabled = logger.disabled  # Alembic's logging setup disables loggers that existed before it
    logger.disabled = False
    logger.addHandler(records)
    try:
        buckets.allow("a")
        assert not buckets.allow("a") and not buckets.allow("a")
    finally:
        logger.removeHandler(records)
        logger.disabled = disabled
    assert sum("faster than" in r.getMessage() for r in records.records) == 1  # logged once
    buckets.forget("a")
    assert len(buckets) == 0 and buckets.allow("a")
