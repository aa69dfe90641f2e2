"""Each case's SLA clock in the database: its deadlines, its hold history and the timer that
wakes collector/sla_worker.py.

collector/casework.py calls `on_change` inside the transaction of every change to a case,
so the stored deadlines and the timer always agree with the case. Everything here needs only
the database: the target and the customer calendar are copied onto the case when its clock
is attached (by the worker, which holds the configuration), for the same reason the
escalation policy is: a later edit of sla.toml must not move an open case's deadlines.

The timer is due at the earliest breach or administrative escalation not yet on the
timeline, past or future: a change that makes an event due at once (a reopened case whose
resolution deadline has gone by) is recorded within a second, dated when it happened.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from alerting.calendar import FOREVER, BusinessCalendar, Span
from alerting.cases import HoldReason
from alerting.sla import (
    Deadlines,
    SlaEvent,
    SlaTarget,
    holds_from_changes,
    sla_deadlines,
    sla_status,
    sla_summary,
)


def instant(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _instant(ts: float | None) -> datetime | None:
    return None if ts is None else instant(ts)


def _ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


def calendar_snapshot(calendar: BusinessCalendar) -> str:
    return json.dumps({
        "name": calendar.name, "time_zone": calendar.tz.key,
        "week": [[[s.start, s.end] for s in day] for day in calendar.week],
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
    })


def calendar_from_snapshot(text: str) -> BusinessCalendar:
    d = json.loads(text)
    return BusinessCalendar(d["name"], ZoneInfo(d["time_zone"]),
                            tuple(tuple(Span(a, b) for a, b in day) for day in d["week"]),
                            frozenset(date.fromisoformat(h) for h in d["holidays"]))


@dataclass(frozen=True, slots=True)
class CaseClock:
    """A case's SLA clock for its current episode, with the work done so far."""

    target: SlaTarget
    calendar: BusinessCalendar | None  # the customer's; None: the case's times show in UTC
    episode: int
    deadlines: Deadlines
    responded_at: datetime | None  # the first acknowledgement, hold, resolution or closure
    resolved_at: datetime | None  # the resolution, or the closure of a case never resolved

    @property
    def tz(self) -> ZoneInfo:
        return self.calendar.tz if self.calendar else ZoneInfo("UTC")

    def happened(self, now: datetime) -> list[SlaEvent]:
        return sla_status(self.deadlines, self.responded_at, self.resolved_at, now)

    def summary(self, now: datetime) -> str:
        return sla_summary(self.deadlines, self.responded_at, self.resolved_at, now, self.tz)


def load(conn: sqlite3.Connection, case: sqlite3.Row) -> CaseClock | None:
    """The case's clock; None when it has none (no target matched, or not attached yet)."""
    if case["sla_target"] is None:
        return None
    target = SlaTarget.from_snapshot(case["sla_target"])
    calendar = calendar_from_snapshot(case["sla_calendar"]) if case["sla_calendar"] else None
    changes = conn.execute("SELECT at, reason FROM case_holds WHERE case_id = ? AND at >= ?"
                           " ORDER BY at, rowid", (case["id"], case["sla_started_at"]))
    holds = holds_from_changes((instant(at), None if reason is None else HoldReason(reason))
                               for at, reason in changes)
    resolved = case["resolved_at"] if case["resolved_at"] is not None else case["closed_at"]
    return CaseClock(target, calendar, case["sla_episode"],
                     sla_deadlines(instant(case["sla_started_at"]), target, calendar, holds),
                     _instant(case["sla_responded_at"]), _instant(resolved))


def _load_case(conn: sqlite3.Connection, case_id: int) -> sqlite3.Row:
    return conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()


def _record_hold(conn: sqlite3.Connection, case: sqlite3.Row, now: float) -> None:
    """Add to the hold history when the case's hold reason differs from its last entry:
    put on hold, reason changed, or out of hold however it left (resume, resolve, close)."""
    last = conn.execute("SELECT reason FROM case_holds WHERE case_id = ?"
                        " ORDER BY at DESC, rowid DESC LIMIT 1", (case["id"],)).fetchone()
    if (last["reason"] if last else None) != case["hold_reason"]:
        conn.execute("INSERT INTO case_holds (case_id, at, reason) VALUES (?, ?, ?)",
                     (case["id"], now, case["hold_reason"]))


def _first_response(case: sqlite3.Row) -> float | None:
    """A person's first answer: the acknowledgement, or for a case resolved or closed
    straight from new, that (a hold needs an acknowledgement first)."""
    done = [case[k] for k in ("acknowledged_at", "resolved_at", "closed_at")
            if case[k] is not None]
    return min(done) if done else None


def schedule(conn: sqlite3.Connection, case_id: int, clock: CaseClock) -> None:
    """Store the deadlines and set the timer to the earliest event not yet recorded (none
    left: no timer)."""
    d = clock.deadlines
    conn.execute("UPDATE cases SET sla_response_due = ?, sla_resolution_due = ?,"
                 " sla_admin_response_at = ?, sla_admin_resolution_at = ? WHERE id = ?",
                 (_ts(d.response_due), _ts(d.resolution_due), _ts(d.admin_response_at),
                  _ts(d.admin_resolution_at), case_id))
    recorded = {row[0] for row in conn.execute(
        "SELECT kind FROM sla_marks WHERE case_id = ? AND episode = ?", (case_id, clock.episode))}
    pending = [e.at for e in clock.happened(FOREVER) if e.kind.value not in recorded]
    if pending:
        conn.execute("INSERT INTO sla_timers (case_id, due_at) VALUES (?, ?) ON CONFLICT"
                     " (case_id) DO UPDATE SET due_at = excluded.due_at",
                     (case_id, min(pending).timestamp()))
    else:
        conn.execute("DELETE FROM sla_timers WHERE case_id = ?", (case_id,))


def on_change(conn: sqlite3.Connection, case_id: int, now: float, restart: bool = False) -> None:
    """After any change to a case, in its transaction. `restart`: the case opened, or a
    retrigger began a new episode; its clocks start again from `now`."""
    case = _load_case(conn, case_id)
    _record_hold(conn, case, now)
    if restart:
        conn.execute("UPDATE cases SET sla_started_at = ?, sla_episode = sla_episode + 1,"
                     " sla_responded_at = NULL WHERE id = ?", (now, case_id))
        if case["sla_episode"] == 0:
            # A new case: the worker, which holds the configuration, attaches its target.
            conn.execute("INSERT OR IGNORE INTO sla_timers (case_id, due_at) VALUES (?, ?)",
                         (case_id, now))
            return
    elif case["sla_responded_at"] is None and (first := _first_response(case)) is not None:
        conn.execute("UPDATE cases SET sla_responded_at = ? WHERE id = ?", (first, case_id))
    clock = load(conn, _load_case(conn, case_id))
    if clock is None:
        return
    schedule(conn, case_id, clock)
    if restart:
        from collector.casework import add_event  # casework imports this module
        add_event(conn, case_id, now, "sla",
                  f"SLA clock restarted for the new episode. {clock.summary(instant(now))}")


def summary_lines(conn: sqlite3.Connection, case: sqlite3.Row, now: float) -> list[str]:
    """`case show`'s SLA line, in the customer's time zone (none for a case without one)."""
    clock = load(conn, case)
    return [] if clock is None else [f"  {clock.summary(instant(now))}"]
