"""Fires due escalation timers: each due step becomes outbox messages, in the same
transaction that marks the timer done, so a step is enqueued exactly once."""

from __future__ import annotations

import logging
import sqlite3

from alerting import acklink
from alerting.cases import UNACKNOWLEDGED_STATES, CaseState
from alerting.messages import CaseFacts, compose
from alerting.policy import Condition, MessageKind, Policy, Step
from collector.casework import add_event
from collector.config import CollectorConfig
from collector.store.db import Database

log = logging.getLogger(__name__)


def condition_holds(condition: Condition, state: CaseState) -> bool:
    if condition is Condition.UNACKNOWLEDGED:
        return state in UNACKNOWLEDGED_STATES
    if condition is Condition.UNTIL_CLOSED:
        return state is not CaseState.CLOSED
    return True


def recipients(config: CollectorConfig, customer: str, target: str) -> list[tuple[str, str]]:
    """(name, email) pairs for a step target."""
    kind, _, who = target.partition(":")
    if kind == "person":
        person = config.person(who)
        return [(person.name, person.email)] if person else []
    cust = config.customer(customer)
    return [(c.name or c.role, c.email) for c in (cust.contacts if cust else ()) if c.role == who]


def _enqueue_step(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row,
                  timer: sqlite3.Row, step: Step, now: float) -> list[str]:
    first = conn.execute("SELECT text FROM case_events WHERE case_id = ? ORDER BY id LIMIT 1",
                         (case["id"],)).fetchone()
    facts = CaseFacts(case["id"], case["severity"], case["customer"], case["title"],
                      case["opened_at"], case["state"], first["text"] if first else "")
    sent_to = []
    for target in step.notify:
        people = recipients(config, case["customer"], target)
        if not people:
            add_event(conn, case["id"], now, "escalation",
                      f"Step {timer['step'] + 1}: {target} names nobody in the configuration;"
                      " skipped")
        for name, address in people:
            ack_url = None
            if step.message is MessageKind.PAGE:
                token = acklink.sign(config.secret, acklink.AckClaim(
                    case["id"], name, now + config.ack_link_ttl))
                ack_url = f"{config.public_url}/ack/{token}"
            subject, body = compose(step.message, facts, name, ack_url, now)
            for channel in step.channels:
                key = f"{case['id']}:{timer['step']}:{timer['run']}:{target}:{name}:{channel}"
                conn.execute(
                    "INSERT OR IGNORE INTO outbox (case_id, idem_key, condition, channel,"
                    " recipient, address, subject, body, next_attempt_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    (case["id"], key, step.condition.value, channel.value, name, address,
                     subject, body, now))
                sent_to.append(f"{name} <{address}> by {channel.value}")
    return sent_to


def fire_due(db: Database, config: CollectorConfig, now: float, limit: int = 100) -> int:
    timers = db.conn.execute(
        "SELECT * FROM escalation_timers WHERE state = 'pending' AND due_at <= ?"
        " ORDER BY due_at LIMIT ?", (now, limit)).fetchall()
    enqueued = 0
    for timer in timers:
        with db.transaction() as conn:
            claimed = conn.execute("UPDATE escalation_timers SET state = 'done' WHERE id = ?"
                                   " AND state = 'pending'", (timer["id"],)).rowcount
            if not claimed:
                continue
            case = conn.execute("SELECT * FROM cases WHERE id = ?", (timer["case_id"],)).fetchone()
            policy = Policy.from_snapshot(case["policy"])
            step = policy.steps[timer["step"]]
            state = CaseState(case["state"])
            label = f"Step {timer['step'] + 1} of {policy.name!r}"
            if not condition_holds(step.condition, state):
                add_event(conn, case["id"], now, "escalation",
                          f"{label} not run: the case is {state.value}")
                continue
            targets = _enqueue_step(conn, config, case, timer, step, now)
            enqueued += len(targets)
            add_event(conn, case["id"], now, "escalation",
                      f"{label} ({step.message.value}): notifying {', '.join(targets) or 'nobody'}")
            log.info("%s: %d message(s) queued", label, len(targets), extra={"case": case["id"]})
            if step.repeat is not None:
                conn.execute("INSERT OR IGNORE INTO escalation_timers (case_id, step, run, due_at)"
                             " VALUES (?,?,?,?)", (case["id"], timer["step"], timer["run"] + 1,
                                                   timer["due_at"] + step.repeat))
    return enqueued


def seconds_to_next_timer(db: Database, now: float) -> float | None:
    nxt = db.conn.execute("SELECT MIN(due_at) FROM escalation_timers WHERE state = 'pending'"
                          ).fetchone()[0]
    return None if nxt is None else nxt - now
