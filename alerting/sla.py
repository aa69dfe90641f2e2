"""SLA clocks (SPEC section 5): response and resolution targets per severity and customer
tier, on the wall clock or in the customer's business hours, with administrative escalation
at a percentage of each limit. Pure: the case's times and `now` are parameters.

Deadlines are computed once when a case opens (so they can be stored and indexed) and again
whenever a hold starts or ends. Work done at or after a deadline is late: the deadline is
the first moment the target is missed.

Holds. Only a hold "awaiting customer" stops the resolution clock. The time is the
customer's, not ours: an answer we are waiting for cannot be ours to be late with, which is
how service desks commonly count it. The other hold reasons (research/testing, pending fix,
RFC submitted) are our own work, so the clock runs on; otherwise parking a case in "pending
fix" would hide a breach. The response clock is never paused: only an acknowledged case
can be put on hold, so its response is already on record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from alerting.calendar import FOREVER, BusinessCalendar, Interval, advance, always, as_utc
from alerting.cases import HoldReason


class SlaClock(StrEnum):
    WALL = "wall"  # every hour counts, nights and holidays included
    BUSINESS = "business"  # only the customer calendar's working hours count


@dataclass(frozen=True, slots=True)
class SlaTarget:
    severity: int
    tier: str | None  # None: every tier that has no target of its own
    response: timedelta
    resolution: timedelta | None  # None: no resolution target
    clock: SlaClock
    admin_escalation_percent: int | None  # None: no administrative escalation

    def snapshot(self) -> str:
        """The target as text to keep on the case, so a later edit of the file does not move
        the deadlines of a case that is already open."""
        return json.dumps({
            "severity": self.severity, "tier": self.tier,
            "response": self.response.total_seconds(),
            "resolution": None if self.resolution is None else self.resolution.total_seconds(),
            "clock": self.clock.value, "admin_escalation_percent": self.admin_escalation_percent,
        })

    @classmethod
    def from_snapshot(cls, text: str) -> SlaTarget:
        d = json.loads(text)
        return cls(d["severity"], d["tier"], timedelta(seconds=d["response"]),
                   None if d["resolution"] is None else timedelta(seconds=d["resolution"]),
                   SlaClock(d["clock"]), d["admin_escalation_percent"])


@dataclass(frozen=True, slots=True)
class Hold:
    start: datetime
    end: datetime | None  # None: still on hold
    reason: HoldReason


def holds_from_changes(changes: Iterable[tuple[datetime, HoldReason | None]]) -> list[Hold]:
    """The holds of a case from its timeline: each moment its hold reason changed, in time
    order, with None when it left hold (resumed, resolved or closed)."""
    holds: list[Hold] = []
    current: tuple[datetime, HoldReason] | None = None
    for at, reason in changes:
        if current is not None:
            holds.append(Hold(current[0], at, current[1]))
        current = None if reason is None else (at, reason)
    if current is not None:
        holds.append(Hold(current[0], None, current[1]))
    return holds


@dataclass(frozen=True, slots=True)
class Deadlines:
    """All in UTC. A resolution deadline is None when there is no resolution target, or
    while an "awaiting customer" hold has stopped its clock (`resolution_paused`)."""

    clock: SlaClock
    response_due: datetime
    resolution_due: datetime | None
    admin_response_at: datetime | None
    admin_resolution_at: datetime | None
    resolution_paused: bool


class SlaEventKind(StrEnum):
    ADMIN_ESCALATION_RESPONSE = "admin_escalation_response"
    RESPONSE_BREACHED = "response_breached"
    ADMIN_ESCALATION_RESOLUTION = "admin_escalation_resolution"
    RESOLUTION_BREACHED = "resolution_breached"


BREACHES = frozenset({SlaEventKind.RESPONSE_BREACHED, SlaEventKind.RESOLUTION_BREACHED})


@dataclass(frozen=True, slots=True)
class SlaEvent:
    kind: SlaEventKind
    at: datetime  # when it happens (UTC): the deadline, or the escalation moment

    @property
    def is_breach(self) -> bool:
        """A breach is final; an administrative escalation is a warning while there is time."""
        return self.kind in BREACHES


def _pauses(holds: Iterable[Hold]) -> list[Interval]:
    """The resolution clock's stops, sorted and merged so no two overlap."""
    spans = sorted((as_utc(h.start), FOREVER if h.end is None else as_utc(h.end))
                   for h in holds if h.reason is HoldReason.AWAITING_CUSTOMER)
    merged: list[Interval] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _without(intervals: Iterable[Interval], pauses: list[Interval]) -> Iterator[Interval]:
    """Counted time with the pauses cut out. Stops at a pause that has not ended: nothing
    counts after it until the hold is lifted."""
    for begin, end in intervals:
        for p_start, p_end in pauses:
            if p_end <= begin or p_start >= end:
                continue
            if p_start > begin:
                yield begin, p_start
            if p_end == FOREVER:
                return
            begin = p_end
        if begin < end:
            yield begin, end


def sla_deadlines(opened_at: datetime, target: SlaTarget, calendar: BusinessCalendar | None,
                  holds: Iterable[Hold] = ()) -> Deadlines:
    """When each target and each administrative escalation falls due for a case opened at
    `opened_at`. `calendar` is the customer's; a wall-clock target does not need one."""
    opened_at = as_utc(opened_at)
    if target.clock is SlaClock.BUSINESS and calendar is None:
        raise ValueError(f"the severity {target.severity} target counts business hours,"
                         " but the customer has no calendar")

    def counted() -> Iterator[Interval]:
        if calendar is None or target.clock is SlaClock.WALL:
            return always(opened_at)
        return calendar.intervals(opened_at)

    pauses = _pauses(holds)

    def due(limit: timedelta | None, paused: bool, percent: int = 100) -> datetime | None:
        if limit is None:
            return None
        return advance(_without(counted(), pauses) if paused else counted(), opened_at,
                       limit * percent / 100)

    pct = target.admin_escalation_percent
    response_due = due(target.response, paused=False)
    assert response_due is not None  # unpaused counted time never runs out
    resolution_due = due(target.resolution, paused=True)
    return Deadlines(
        clock=target.clock,
        response_due=response_due,
        resolution_due=resolution_due,
        admin_response_at=None if pct is None else due(target.response, False, pct),
        admin_resolution_at=None if pct is None else due(target.resolution, True, pct),
        resolution_paused=target.resolution is not None and resolution_due is None,
    )


def _late(due: datetime | None, done: datetime | None) -> bool:
    return due is not None and (done is None or as_utc(done) >= due)


def _events(deadlines: Deadlines, acknowledged_at: datetime | None,
            resolved_at: datetime | None) -> list[SlaEvent]:
    """Every event the case has or will have, given the work done so far."""
    k, d = SlaEventKind, deadlines
    candidates = (
        (k.ADMIN_ESCALATION_RESPONSE, d.admin_response_at, acknowledged_at),
        (k.RESPONSE_BREACHED, d.response_due, acknowledged_at),
        (k.ADMIN_ESCALATION_RESOLUTION, d.admin_resolution_at, resolved_at),
        (k.RESOLUTION_BREACHED, d.resolution_due, resolved_at),
    )
    events = [SlaEvent(kind, at) for kind, at, done in candidates if at is not None
              and _late(at, done)]
    return sorted(events, key=lambda e: e.at)


def sla_status(deadlines: Deadlines, acknowledged_at: datetime | None,
               resolved_at: datetime | None, now: datetime) -> list[SlaEvent]:
    """The breaches and administrative escalations that have happened by `now`, in order.
    `acknowledged_at` is the first response of a person: the acknowledgement, or the
    resolution of a case resolved straight from new."""
    now = as_utc(now)
    return [e for e in _events(deadlines, acknowledged_at, resolved_at) if e.at <= now]


def next_sla_event(deadlines: Deadlines, acknowledged_at: datetime | None,
                   resolved_at: datetime | None, now: datetime) -> SlaEvent | None:
    """The next event that will happen unless someone works the case: when to wake up."""
    now = as_utc(now)
    return next((e for e in _events(deadlines, acknowledged_at, resolved_at) if e.at > now),
                None)


def describe(event: SlaEvent, target: SlaTarget) -> str:
    """The timeline text of an event."""
    clock = "business hours" if target.clock is SlaClock.BUSINESS else "wall clock"
    what = "response" if event.kind in (SlaEventKind.RESPONSE_BREACHED,
                                        SlaEventKind.ADMIN_ESCALATION_RESPONSE) else "resolution"
    limit = target.response if what == "response" else target.resolution
    assert limit is not None  # no resolution target, no resolution event
    if event.is_breach:
        return f"SLA breached: the {_span(limit)} {what} target ({clock}) has passed"
    return (f"Administrative escalation: {target.admin_escalation_percent}% of the"
            f" {_span(limit)} {what} target ({clock}) used without a {what}")


def _span(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def sla_summary(deadlines: Deadlines, acknowledged_at: datetime | None,
                resolved_at: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    """One line for `case show`, in the customer's time zone, e.g. "SLA (business hours,
    Europe/London): response due 10:30 (in 25 min); resolution due Mon 12:30 (in 3 d 2 h);
    admin escalation at 10:07"."""
    now = as_utc(now)
    today = now.astimezone(tz).date()

    def when(at: datetime) -> str:
        local = at.astimezone(tz)
        if local.date() == today:
            return local.strftime("%H:%M")
        if abs((local.date() - today).days) < 7:
            return local.strftime("%a %H:%M")
        return local.strftime("%Y-%m-%d %H:%M")

    def part(name: str, done_word: str, due: datetime, done: datetime | None) -> str:
        if done is not None:
            done = as_utc(done)
            verdict = f"{_span(done - due)} late" if done >= due else "on time"
            return f"{done_word} {when(done)} ({verdict})"
        if now < due:
            return f"{name} due {when(due)} (in {_span(due - now)})"
        return f"{name} overdue since {when(due)} ({_span(now - due)})"

    d = deadlines
    parts = [part("response", "responded", d.response_due, acknowledged_at)]
    if d.resolution_due is not None:
        parts.append(part("resolution", "resolved", d.resolution_due, resolved_at))
    elif d.resolution_paused:
        parts.append("resolution clock paused (awaiting customer)")
    admin = [at for at, done in ((d.admin_response_at, acknowledged_at),
                                 (d.admin_resolution_at, resolved_at))
             if at is not None and _late(at, done)]
    upcoming = [at for at in admin if at > now]
    if upcoming:
        parts.append(f"admin escalation at {when(min(upcoming))}")
    elif admin:
        parts.append(f"escalated to administration at {when(max(admin))}")
    clock = "business hours" if d.clock is SlaClock.BUSINESS else "wall clock"
    return f"SLA ({clock}, {tz.key}): " + "; ".join(parts)
