"""SLA targets per rank × priority, counted in the business hours of a calendar.

The default calendar is Monday–Friday 9:00–18:00 Asia/Tokyo without Japanese public
holidays (the maintained ``holidays`` package).  A ticket's due times are the moment its
business time since creation, minus the business time it spent ``pending``, reaches the
target — so pausing and resuming keep exactly the business time that was left.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select

from core.db import utcnow
from extensions import db
from tickets.models import ACTIVE, BusinessCalendar, SlaPolicy, Ticket

# Business minutes: (first response, resolution).  Platinum is tightest; a 9-hour day is 540.
DEFAULT_TARGETS: dict[str, dict[str, tuple[int, int]]] = {
    "platinum": {"urgent": (30, 240), "high": (60, 480), "normal": (120, 960), "low": (240, 1440)},
    "gold": {"urgent": (60, 480), "high": (120, 960), "normal": (240, 1440), "low": (480, 2160)},
    "silver": {"urgent": (120, 960), "high": (240, 1440), "normal": (480, 2160), "low": (960, 2700)},
    "bronze": {"urgent": (120, 960), "high": (240, 1440), "normal": (540, 2700), "low": (1080, 4320)},
    "new": {"urgent": (120, 960), "high": (240, 1440), "normal": (540, 2700), "low": (1080, 4320)},
}
DEFAULT_HOURS = {str(day): [["09:00", "18:00"]] for day in range(5)} | {"5": [], "6": []}
_CACHE_S = 30.0
_MAX_DAYS = 1500  # a search bound: a calendar open at least once in four years


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@functools.lru_cache(maxsize=64)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def load_holiday_rules() -> None:
    """The first ``country_holidays`` imports every country's rules (≈ 300 ms, during
    which the process's other threads wait): done at start-up instead (core.heap)."""
    _public_holidays("JP", datetime.now(UTC).year)


@dataclass(frozen=True)
class Calendar:
    """Opening hours in a zone; ``add`` and ``between`` work in business seconds."""

    timezone: str = "Asia/Tokyo"
    hours: dict = field(default_factory=lambda: dict(DEFAULT_HOURS))
    holiday_country: str | None = "JP"
    closed_dates: frozenset = frozenset()

    def __hash__(self) -> int:  # dict field: hash what identifies the calendar
        return hash((self.timezone, repr(sorted(self.hours.items())), self.holiday_country, self.closed_dates))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open_day(self, day: date) -> bool:
        if day in self.closed_dates:
            return False
        if self.holiday_country and day in _public_holidays(self.holiday_country, day.year):
            return False
        return bool(self.hours.get(str(day.weekday())))

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of ``day`` (local date) as aware UTC datetimes."""
        if not self.is_open_day(day):
            return []
        zone = self.zone
        result = []
        for start, end in self.hours.get(str(day.weekday()), []):
            begin = datetime.combine(day, datetime.min.time(), zone) + timedelta(minutes=_minutes(start))
            finish = datetime.combine(day, datetime.min.time(), zone) + timedelta(minutes=_minutes(end))
            if finish > begin:
                result.append((begin.astimezone(UTC), finish.astimezone(UTC)))
        return result

    def _has_hours(self) -> bool:
        return any(self.hours.get(str(d)) for d in range(7))

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of business time after ``start``."""
        if not self._has_hours():
            return start + timedelta(seconds=seconds)
        remaining = max(0.0, float(seconds))
        day = start.astimezone(self.zone).date()
        for _ in range(_MAX_DAYS):
            for begin, finish in self.intervals(day):
                if finish <= start:
                    continue
                begin = max(begin, start)
                available = (finish - begin).total_seconds()
                if remaining <= available:
                    return begin + timedelta(seconds=remaining)
                remaining -= available
            day += timedelta(days=1)
        return start + timedelta(seconds=seconds)

    def between(self, start: datetime, end: datetime) -> float:
        """Business seconds from ``start`` to ``end`` (0 when ``end`` is not later)."""
        if end <= start:
            return 0.0
        if not self._has_hours():
            return (end - start).total_seconds()
        total = 0.0
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            for begin, finish in self.intervals(day):
                lo, hi = max(begin, start), min(finish, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


_cache: dict[str, tuple[float, object]] = {}


def invalidate() -> None:
    """Forget the cached calendar and targets (after a change through the API)."""
    _cache.clear()


def _cached(key: str, loader):
    hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < _CACHE_S:
        return hit[1]
    value = loader()
    _cache[key] = (time.monotonic(), value)
    return value


def calendar_from_row(row: BusinessCalendar | None) -> Calendar:
    if row is None:
        return Calendar()
    closed = frozenset(date.fromisoformat(d) for d in (row.closed_dates or []))
    return Calendar(timezone=row.timezone or "Asia/Tokyo", hours=dict(row.hours or DEFAULT_HOURS),
                    holiday_country=row.holiday_country or None, closed_dates=closed)


def calendar() -> Calendar:
    """The business calendar in force (the row named ``default``, else the built-in one)."""
    return _cached("calendar", lambda: calendar_from_row(
        db.session.scalar(select(BusinessCalendar).where(BusinessCalendar.name == "default"))))


def targets() -> dict[str, dict[str, tuple[int, int]]]:
    """Targets in business minutes: the defaults with the stored policies over them."""

    def _load():
        merged = {rank: dict(by_priority) for rank, by_priority in DEFAULT_TARGETS.items()}
        for policy in db.session.scalars(select(SlaPolicy)):
            merged.setdefault(policy.rank, {})[policy.priority] = (policy.first_response_minutes,
                                                                    policy.resolution_minutes)
        return merged

    return _cached("targets", _load)


def target_for(rank: str, priority: str) -> tuple[int, int]:
    table = targets()
    return table.get(rank, table["new"]).get(priority) or DEFAULT_TARGETS["new"]["normal"]


def recompute(ticket: Ticket) -> None:
    """Set the ticket's due times from its creation, its targets and the business time
    it has spent pending (accumulated in ``sla_paused_business_s``)."""
    first, resolution = target_for(ticket.rank, ticket.priority)
    cal = calendar()
    start = ticket.created_at or utcnow()
    paused = float(ticket.sla_paused_business_s or 0)
    ticket.first_response_due_at = cal.add(start, first * 60 + paused)
    ticket.resolution_due_at = cal.add(start, resolution * 60 + paused)


def pause(ticket: Ticket, now: datetime) -> None:
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume(ticket: Ticket, now: datetime) -> None:
    """Leave the pause: the business time spent pending moves the due times later."""
    if ticket.sla_paused_at is None:
        return
    ticket.sla_paused_business_s = int((ticket.sla_paused_business_s or 0)
                                       + calendar().between(ticket.sla_paused_at, now))
    ticket.sla_paused_at = None
    recompute(ticket)


def mark_met(ticket: Ticket, now: datetime, *, first_response: bool = False, resolved: bool = False) -> None:
    """Record a first response or a resolution; late ones count as breaches."""
    if first_response and ticket.first_responded_at is None:
        ticket.first_responded_at = now
        if ticket.first_response_due_at and now > ticket.first_response_due_at:
            ticket.first_response_breached = True
    if resolved and ticket.resolution_due_at and now > ticket.resolution_due_at:
        ticket.resolution_breached = True


def as_dict(ticket: Ticket) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {"first_response_due_at": iso(ticket.first_response_due_at),
            "resolution_due_at": iso(ticket.resolution_due_at),
            "first_responded_at": iso(ticket.first_responded_at),
            "first_response_breached": ticket.first_response_breached,
            "resolution_breached": ticket.resolution_breached,
            "breached": ticket.breached,
            "paused": ticket.sla_paused_at is not None,
            "running": ticket.status in ACTIVE}
