"""Fires due SLA timers: attaches a new case's target, and writes each breach and
administrative escalation on the case's timeline, dated when it happened (so one that fell
while the collector was down is dated right), then sets the timer to the next.

Its own table, `sla_timers`, rather than escalation_timers: those rows are steps of the
case's policy (a step index and a run, fired once each), while an SLA timer is one moving
"look again at" per case, rescheduled by every hold, resume, acknowledgement or resolution.

Each event is recorded once an episode (sla_marks), and each email about it has its own
outbox key, so a restart between the two, or a pass run twice, repeats nothing.
"""

from __future__ import annotations

import logging
import sqlite3

from alerting.messages import clean, when
from alerting.notifiers.base import Kind
from alerting.policy import Condition
from alerting.sla import SlaEvent, SlaEventKind, describe
from collector.casework import add_event
from collector.config import CollectorConfig
from collector.sla_hooks import CaseClock, calendar_snapshot, instant, load, schedule
from collector.store.db import Database

log = logging.getLogger(__name__)
# A case whose clock cannot be worked out (a bug, a damaged row) is looked at again after
# this, instead of holding up every timer behind it.
RETRY_AFTER = 300.0
SUPERSEDED_BY = {SlaEventKind.ADMIN_ESCALATION_RESPONSE: SlaEventKind.RESPONSE_BREACHED,
                 SlaEventKind.ADMIN_ESCALATION_RESOLUTION: SlaEventKind.RESOLUTION_BREACHED}


def management_mail(case: sqlite3.Row, event: SlaEvent, text: str, summary: str,
                    recipient: str) -> tuple[str, str]:
    """What the people told of a breach or an administrative escalation read."""
    title = clean(case["title"])
    head = f"Severity {case['severity']} case #{case['id']}: {title}"
    what = "breached" if event.is_breach else "escalation"
    subject = f"[watchkeeper] SLA {what}: {head} ({clean(case['customer'])})"
    lines = [
        f"{recipient},",
        "",
        f"{text}, on {head}.",
        "",
        f"Customer:  {clean(case['customer'])}",
        f"Opened:    {when(case['opened_at'])}",
        f"State:     {case['state']}",
        summary,
        "",
        f"The case and its timeline: watchkeeper case show {case['id']}",
    ]
    return subject, "\n".join(lines) + "\n"


def _tell_management(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row,
                     clock: CaseClock, event: SlaEvent, text: str, now: float) -> int:
    """Queue one email about `event` to each person of `sla_escalation_to`."""
    told = []
    for name in config.sla_escalation_to:
        person = config.person(name)
        assert person is not None and person.email  # load_config checked both
        subject, body = management_mail(case, event, text, clock.summary(instant(now)), name)
        conn.execute(
            "INSERT OR IGNORE INTO outbox (case_id, idem_key, condition, channel, recipient,"
            " address, subject, body, next_attempt_at, kind) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (case["id"], f"{case['id']}:sla:{clock.episode}:{event.kind.value}:{name}:email",
             Condition.ALWAYS.value, "email", name, person.email, subject, body, now,
             Kind.NOTICE.value))
        told.append(f"{name} <{person.email}>")
    if told:
        add_event(conn, case["id"], now, "sla", f"Telling {', '.join(told)} by email")
    return len(told)


def _attach(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row,
            now: float) -> CaseClock | None:
    """Copy the target and the customer's calendar onto a new case; its clock counts from
    its opening, however late this runs."""
    tier = config.tier_of(case["customer"])
    target = config.sla.target_for(case["severity"], tier)
    if target is None:
        conn.execute("DELETE FROM sla_timers WHERE case_id = ?", (case["id"],))
        add_event(conn, case["id"], now, "sla", f"No SLA target for severity"
                  f" {case['severity']} in the {tier!r} tier: the case has no SLA clock")
        return None
    customer = config.customer(case["customer"])
    calendar = config.sla.calendar(customer.calendar if customer else None)
    conn.execute("UPDATE cases SET sla_target = ?, sla_calendar = ? WHERE id = ?",
                 (target.snapshot(),
                  None if calendar is None else calendar_snapshot(calendar),
                  case["id"]))
    clock = load(conn, conn.execute("SELECT * FROM cases WHERE id = ?",
                                    (case["id"],)).fetchone())
    assert clock is not None
    started = case["sla_started_at"]
    scope = f"the {target.tier!r} tier" if target.tier else "every tier without its own"
    add_event(conn, case["id"], started, "sla",
              f"SLA clock started (the severity {target.severity} target for {scope})."
              f" {clock.summary(instant(started))}")
    return clock


def fire(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row,
         now: float) -> int:
    """Record what has happened on the case's clock by `now` and set its timer to the next;
    returns the emails queued."""
    clock = load(conn, case)
    if clock is None:
        clock = _attach(conn, config, case, now)
        if clock is None:
            return 0
    queued = 0
    happened = clock.happened(instant(now))
    kinds = {e.kind for e in happened}
    for event in happened:
        new = conn.execute("INSERT OR IGNORE INTO sla_marks (case_id, episode, kind, at)"
                           " VALUES (?, ?, ?, ?)", (case["id"], clock.episode, event.kind.value,
                                                    event.at.timestamp())).rowcount
        if not new:
            continue
        text = describe(event, clock.target)
        add_event(conn, case["id"], event.at.timestamp(), "sla", text)
        log.warning("%s", text, extra={"case": case["id"]})
        # After an outage a warning and the breach it warned of can fall due together:
        # management hears of the breach only.
        if SUPERSEDED_BY.get(event.kind) not in kinds:
            queued += _tell_management(conn, config, case, clock, event, text, now)
    schedule(conn, case["id"], clock)
    return queued


def fire_due(db: Database, config: CollectorConfig, now: float, limit: int = 100) -> int:
    """Work every case whose SLA timer is due; returns the emails queued."""
    due = db.conn.execute("SELECT case_id FROM sla_timers WHERE due_at <= ? ORDER BY due_at"
                          " LIMIT ?", (now, limit)).fetchall()
    queued = 0
    for (case_id,) in due:
        try:
            with db.transaction() as conn:
                case = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
                queued += fire(conn, config, case, now)
        except Exception:
            log.exception("SLA clock of case %d failed; looking again in %gs", case_id,
                          RETRY_AFTER, extra={"case": case_id})
            with db.transaction() as conn:
                conn.execute("UPDATE sla_timers SET due_at = ? WHERE case_id = ?",
                             (now + RETRY_AFTER, case_id))
    return queued


def seconds_to_next_timer(db: Database, now: float) -> float | None:
    nxt = db.conn.execute("SELECT MIN(due_at) FROM sla_timers").fetchone()[0]
    return None if nxt is None else nxt - now
