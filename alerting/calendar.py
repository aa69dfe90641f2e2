"""A customer's business calendar: time zone, working hours per weekday, holidays.

Pure: every function takes the moment it is asked about. Moments are aware datetimes and
everything returned is in UTC, because Python compares and subtracts two datetimes that
share a tzinfo by their wall-clock fields, which is wrong across a DST change (01:30 before
and after the clocks go back would compare equal). Local time is used only to find where a
working day starts and ends; durations are always measured between UTC instants.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_MINUTES = 24 * 60
FOREVER = datetime.max.replace(tzinfo=UTC)

# A stretch of counted time between two UTC instants, start included, end excluded.
Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Span:
    """Working hours within one local day, in minutes after midnight; `end` may be 1440
    (24:00), so a day worked round the clock is one span."""

    start: int
    end: int


def as_utc(at: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused, since its instant is unknown."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone; an aware datetime is needed")
    return at.astimezone(UTC)


def _local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local day. A time the clocks skip (inside
    the spring-forward gap) resolves with the offset before the change, i.e. an hour later in
    real time, which is where a person would start work that morning."""
    if minute == DAY_MINUTES:
        day, minute = day + timedelta(days=1), 0
    return datetime.combine(day, time(minute // 60, minute % 60), tz).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    name: str
    tz: ZoneInfo
    week: tuple[tuple[Span, ...], ...]  # seven entries, Monday first; empty: closed
    holidays: frozenset[date]

    def __post_init__(self) -> None:
        # Without one working day every search for the next working minute would never end.
        if len(self.week) != 7 or not any(self.week):
            raise ValueError(f"calendar {self.name!r} needs working hours on at least one weekday")

    def hours_on(self, day: date) -> tuple[Span, ...]:
        return () if day in self.holidays else self.week[day.weekday()]

    def intervals(self, since: datetime) -> Iterator[Interval]:
        """Working intervals in time order, without end, from the one holding `since` or
        the first after it. The first may start before `since`."""
        since = as_utc(since)
        day = since.astimezone(self.tz).date()
        while True:
            for span in self.hours_on(day):
                start = _local_instant(day, span.start, self.tz)
                end = _local_instant(day, span.end, self.tz)
                if end > since:
                    yield start, end
            day += timedelta(days=1)

    def is_business_time(self, at: datetime) -> bool:
        at = as_utc(at)
        start, _ = next(self.intervals(at))
        return start <= at

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of working time has passed since `start`."""
        deadline = advance(self.intervals(start), start, duration)
        assert deadline is not None  # the working intervals never run out
        return deadline

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b`; negative when `b` is before `a`."""
        if as_utc(b) < as_utc(a):
            return -self.business_time_between(b, a)
        return measure(self.intervals(a), a, b)

    def next_business_day(self, at: datetime) -> datetime:
        """When the first working day after the local date of `at` begins. Strictly after:
        from 08:00 on a working Monday, the next business day is Tuesday."""
        day = as_utc(at).astimezone(self.tz).date() + timedelta(days=1)
        while not self.hours_on(day):
            day += timedelta(days=1)
        return _local_instant(day, self.hours_on(day)[0].start, self.tz)


def advance(intervals: Iterable[Interval], start: datetime, duration: timedelta) -> datetime | None:
    """The moment `duration` of counted time has passed since `start`, counting only inside
    `intervals` (ordered, not overlapping); None if they end first. A zero duration gives the
    first counted moment at or after `start`: a case opened at night starts its clock at
    opening time."""
    start = as_utc(start)
    remaining = duration
    for begin, end in intervals:
        if end <= start:
            continue
        begin = max(begin, start)
        if remaining <= end - begin:
            return begin + remaining
        remaining -= end - begin
    return None


def measure(intervals: Iterable[Interval], a: datetime, b: datetime) -> timedelta:
    """Counted time from `a` to `b` inside `intervals` (ordered, not overlapping)."""
    a, b = as_utc(a), as_utc(b)
    total = timedelta(0)
    for begin, end in intervals:
        if begin >= b:
            break
        overlap = min(end, b) - max(begin, a)
        if overlap > timedelta(0):
            total += overlap
    return total


def always(since: datetime) -> Iterator[Interval]:
    """Wall-clock time: one interval that never ends."""
    yield as_utc(since), FOREVER
