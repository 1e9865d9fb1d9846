"""A flood guard for client → server Socket.IO events: one token bucket per connection.

A console sends a few events a minute (``view_ticket``, ``typing``, ``presence``).  A
client that sends more than ``rate`` a second, beyond a burst of ``burst``, gets an error
ack instead of a handler run, so one broken or hostile tab cannot keep a web worker and
the database busy.  Buckets live in the process that holds the connection (sticky
sessions keep a client on one process) and go with the disconnect.
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

REFUSED = {"error": {"code": "rate_limited", "message": "Too many events from this connection; slow down."}}


class EventBuckets:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, list[float]] = {}  # sid → [tokens, last refill, refusals]
        self._lock = threading.Lock()

    def allow(self, sid: str) -> bool:
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(sid, [float(self.burst), now, 0])
            bucket[0] = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if bucket[0] >= 1:
                bucket[0] -= 1
                return True
            bucket[2] += 1
            first_refusal = bucket[2] == 1
        if first_refusal:  # once per connection: a flood must not flood the log too
            log.warning("socket %s sends events faster than %s/s; refusing the excess", sid, self.rate)
        return False

    def forget(self, sid: str) -> None:
        with self._lock:
            self._buckets.pop(sid, None)

    def __len__(self) -> int:
        return len(self._buckets)
