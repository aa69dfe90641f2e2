"""Maintenance windows: when a device, a site or a whole customer is expected to fail, as
pure functions of the moment asked about.

A window is one-off (a start and an end) or recurring: every day, or every given weekday,
from a wall-clock time for a duration, in a time zone ("every Sunday 02:00 for 2h
Europe/London"). Occurrences follow the clock on the wall: 02:00 London is 02:00 UTC in
winter and 01:00 UTC in summer, and the end is the wall-clock start plus the duration, so
"02:00 for 2h" ends at 04:00 on the wall even on a night the clocks change (that night it
lasts an hour more or less). A start the clocks skip (01:30 on the night they go forward)
is read with the offset before the change, i.e. an hour later on the new clock (02:30), and
that occurrence lasts its full duration from then rather than shrinking to nothing.

Every instant is a float of seconds since the epoch (UTC). An occurrence is named by its
scheduled start (`Occurrence.key`); cases kept quiet and the summary sent when it ends
refer to it by (window id, key).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from alerting.calendar import WEEKDAYS
from rules.durations import format_duration

DAY = 86400.0


class Scope(StrEnum):
    DEVICE = "device"  # target: the device id (a hostname is resolved when the window is added)
    SITE = "site"  # target: the site name
    CUSTOMER = "customer"  # target: the customer name


@dataclass(frozen=True, slots=True)
class Recurrence:
    weekday: int | None  # Monday is 0, as in date.weekday(); None: every day
    at: time  # wall-clock start in the window's time zone
    duration: float  # seconds on the wall clock

    def __post_init__(self) -> None:
        period = DAY if self.weekday is None else 7 * DAY
        if not 0 < self.duration <= period:
            every = "day" if self.weekday is None else "week"
            raise ValueError(f"a window repeated every {every} lasts more than 0 and at most"
                             f" {period / 3600:g}h, not {self.duration / 3600:g}h")

    @property
    def every(self) -> str:
        """What `--every` takes: 'daily' or a weekday name."""
        return "daily" if self.weekday is None else WEEKDAYS[self.weekday]


def parse_every(text: str) -> int | None:
    """The weekday number for a weekday name (None for 'daily'); ValueError says what is
    accepted."""
    word = text.strip().lower()
    if word == "daily":
        return None
    if word in WEEKDAYS:
        return WEEKDAYS.index(word)
    raise ValueError(f"{text!r} is not 'daily' or a weekday ({', '.join(WEEKDAYS)})")


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    scope: Scope
    target: str
    # One-off: its start. Recurring: when the schedule took effect (no occurrence counts
    # before it; one already under way then counts from then).
    start: float
    end: float | None  # one-off: its end; recurring: None
    recurrence: Recurrence | None  # None: one-off
    time_zone: ZoneInfo
    reason: str
    created_by: str
    ended_at: float | None = None  # ended by hand: nothing of it lasts past this
    # Occurrences of a recurring window ended early by hand: (key, when) pairs.
    cut_short: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if (self.recurrence is None) == (self.end is None):
            raise ValueError("a window has an end, or a recurrence, and not both")
        if self.end is not None and self.end <= self.start:
            raise ValueError("a window ends after it starts")


@dataclass(frozen=True, slots=True)
class Occurrence:
    window: Window
    key: float  # the scheduled start: names the occurrence
    start: float  # when it takes effect (later than `key` if the window was added meanwhile)
    end: float  # when it ends (earlier than scheduled if ended by hand)

    def contains(self, at: float) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What a window matches a device on. A device without a site (`site` None) is matched
    by device and customer windows only."""
    id: str | None
    customer: str
    site: str | None = None


def _instant(local: datetime, zone: ZoneInfo) -> float:
    # fold=0: an ambiguous wall time is its first passing, a skipped one is read with the
    # offset before the change.
    return local.replace(tzinfo=zone, fold=0).timestamp()


def _scheduled(window: Window, frm: float, to: float) -> Iterator[tuple[float, float]]:
    """(start, end) of each scheduled occurrence that overlaps [frm, to), in order."""
    rec = window.recurrence
    if rec is None:
        assert window.end is not None
        if window.end > frm and window.start < to:
            yield window.start, window.end
        return
    zone = window.time_zone
    # An occurrence that started up to `duration` (plus a day for offset changes) before
    # `frm` may still be running.
    day = datetime.fromtimestamp(frm, zone).date() - timedelta(
        days=math.ceil(rec.duration / DAY) + 1)
    last: date = datetime.fromtimestamp(to, zone).date() + timedelta(days=1)
    while day <= last:
        if rec.weekday is None or day.weekday() == rec.weekday:
            local = datetime.combine(day, rec.at)
            start = _instant(local, zone)
            if datetime.fromtimestamp(start, zone).replace(tzinfo=None) == local:
                end = _instant(local + timedelta(seconds=rec.duration), zone)
            else:  # the clocks skipped the start
                end = start + rec.duration
            if end > frm and start < to:
                yield start, end
        day += timedelta(days=1)


def _effective(window: Window, key: float, end: float) -> Occurrence | None:
    """The occurrence as it really runs: from when the window took effect, until it was
    ended by hand; None if that leaves nothing."""
    start = max(key, window.start)
    for cut_key, at in window.cut_short:
        if cut_key == key:
            end = min(end, at)
    if window.ended_at is not None:
        end = min(end, window.ended_at)
    return Occurrence(window, key, start, end) if end > start else None


def occurrences(window: Window, frm: float, to: float) -> list[Occurrence]:
    """The occurrences that overlap [frm, to), in order."""
    found = []
    for key, end in _scheduled(window, frm, to):
        occ = _effective(window, key, end)
        if occ is not None and occ.end > frm and occ.start < to:
            found.append(occ)
    return found


def occurrence(window: Window, key: float) -> Occurrence | None:
    """The occurrence scheduled to start at `key`, as it runs (None if it was cut to
    nothing, or the window never had it)."""
    for scheduled_key, end in _scheduled(window, key, key + 1):
        if scheduled_key == key:
            return _effective(window, key, end)
    return None


def occurrence_at(window: Window, at: float) -> Occurrence | None:
    """The window's occurrence under way at `at`, if any."""
    return next((o for o in occurrences(window, at, at + 1) if o.contains(at)), None)


def applies_to(window: Window, device: DeviceRef) -> bool:
    if window.scope is Scope.DEVICE:
        return device.id is not None and window.target == device.id
    if window.scope is Scope.SITE:
        return device.site is not None and window.target == device.site
    return window.target == device.customer


def active_windows(windows: Iterable[Window], device: DeviceRef, at: float) -> list[Window]:
    """The windows that cover `device` at `at`."""
    return [w for w in windows if applies_to(w, device) and occurrence_at(w, at) is not None]


def muting(windows: Iterable[Window], device: DeviceRef, at: float) -> Occurrence | None:
    """The occurrence that keeps a trigger from `device` quiet at `at`: of the windows that
    cover it, the one that lasts longest (None: nothing covers it, page as usual)."""
    running = [occurrence_at(w, at) for w in active_windows(windows, device, at)]
    return max((o for o in running if o is not None), key=lambda o: (o.end, o.window.id),
               default=None)


def _horizon(window: Window, at: float) -> float:
    """How far ahead to look for the next start or end: to a one-off window's end; for a
    recurring one a fortnight, since its occurrences come at least weekly and last at most
    a week."""
    if window.end is not None:
        return max(window.end, at) + 1
    return at + 14 * DAY


def next_change(windows: Iterable[Window], at: float) -> float | None:
    """The next moment after `at` when an occurrence starts or ends (None: never), so a loop
    can sleep until then."""
    moments: list[float] = []
    for w in windows:
        for occ in occurrences(w, at, _horizon(w, at)):
            moments += [t for t in (occ.start, occ.end) if t > at]
    return min(moments, default=None)


def upcoming(window: Window, at: float) -> Occurrence | None:
    """The occurrence under way at `at`, or else the next one (None: the window is over)."""
    return next(iter(occurrences(window, at, _horizon(window, at))), None)


def describe(window: Window) -> str:
    """When the window runs, as `maintenance list` shows it: 'every sunday 02:00 for 2h
    (Europe/London)' or 'Sun 2026-11-22 22:00 to Mon 2026-11-23 02:00 GMT'."""
    zone = window.time_zone
    rec = window.recurrence
    if rec is None:
        assert window.end is not None
        return f"{local(window.start, zone)} to {local(window.end, zone)}"
    return (f"every {rec.every} {rec.at.strftime('%H:%M')} for {format_duration(rec.duration)}"
            f" ({zone.key})")


def local(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%a %Y-%m-%d %H:%M %Z")


def label(window: Window) -> str:
    """How timelines and messages name it: 'maintenance window #3 (kernel patching)'."""
    return f"maintenance window #{window.id} ({window.reason})"

