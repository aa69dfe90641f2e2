"""Fires due escalation timers: each due step becomes outbox messages, in the same
transaction that marks the timer done, so a step is enqueued exactly once.

Who a target names is worked out here, when the step runs: the person on call now, the
role's members now. Each recipient gets one message, on the first channel of their order
(the step's channels, or their own); the rest of the order rides along for the outbox to
fall over to.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from alerting.cases import CaseState
from alerting.messages import CaseFacts, compose
from alerting.oncall import UnknownTarget
from alerting.policy import MessageKind, Policy, Step, condition_holds
from alerting.targets import Recipient, Route
from collector import ack_links
from collector.casework import add_event
from collector.config import CollectorConfig
from collector.store.db import Database

log = logging.getLogger(__name__)


def ack_url(conn: sqlite3.Connection, config: CollectorConfig, case_id: int, recipient: str,
            channels: tuple[str, ...], now: float) -> str:
    """The acknowledgement link in a page to `recipient`, recorded in the transaction that
    queues the page; `channels` are those the page may go by."""
    token = ack_links.issue(conn, config.secret, case_id, recipient, channels, now,
                            config.ack_link_ttl)
    return f"{config.public_url}/ack/{token}"


def describe(recipient: str, routes: tuple[Route, ...]) -> str:
    """For the timeline: 'carol <+447700900123> by sms (then email)'."""
    first = routes[0]
    who = f"{recipient} <{first.address}>" if first.address else recipient
    rest = f" (then {', '.join(r.channel for r in routes[1:])})" if len(routes) > 1 else ""
    return f"{who} by {first.channel}{rest}"


@dataclass(frozen=True, slots=True)
class Reached:
    target: str
    name: str
    routes: tuple[Route, ...]  # in the order to try; never empty


def _recipients(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row,
                label: str, target: str, now: float) -> list[Recipient]:
    try:
        found = config.directory.recipients(target, case["customer"],
                                            datetime.fromtimestamp(now, UTC))
    except UnknownTarget as exc:  # the configuration changed since the case opened
        add_event(conn, case["id"], now, "escalation", f"{label}: {exc}; skipped")
        return []
    if not found:
        add_event(conn, case["id"], now, "escalation",
                  f"{label}: {target} names nobody in the configuration; skipped")
    return found


def reach(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row, step: Step,
          label: str, now: float) -> list[Reached]:
    """Everyone the step's targets name at `now`, each once however many targets name them,
    with the ways to reach them with the step's message. Whoever cannot be reached is
    skipped, and the timeline says why."""
    reached: list[Reached] = []
    for target in step.notify:
        for recipient in _recipients(conn, config, case, label, target, now):
            if any(r.name == recipient.label for r in reached):
                continue
            routes, left_out = config.directory.routes(recipient, step.channels,
                                                       step.message.kind)
            if routes:
                reached.append(Reached(target, recipient.label, routes))
            else:
                add_event(conn, case["id"], now, "escalation",
                          f"{label}: nothing reaches {recipient.label} with a"
                          f" {step.message.value} message ({'; '.join(left_out)}); skipped")
    return reached


def _enqueue_step(conn: sqlite3.Connection, config: CollectorConfig, case: sqlite3.Row,
                  timer: sqlite3.Row, step: Step, label: str, now: float) -> list[str]:
    first = conn.execute("SELECT text FROM case_events WHERE case_id = ? ORDER BY id LIMIT 1",
                         (case["id"],)).fetchone()
    facts = CaseFacts(case["id"], case["severity"], case["customer"], case["title"],
                      case["opened_at"], case["state"], first["text"] if first else "")
    sent_to: list[str] = []
    for r in reach(conn, config, case, step, label, now):
        link = ack_url(conn, config, case["id"], r.name, tuple(x.channel for x in r.routes),
                       now) if step.message is MessageKind.PAGE else None
        subject, body = compose(step.message, facts, r.name, link, now)
        route = r.routes[0]
        key = f"{case['id']}:{timer['step']}:{timer['run']}:{r.target}:{r.name}:{route.channel}"
        conn.execute(
            "INSERT OR IGNORE INTO outbox (case_id, idem_key, condition, channel, recipient,"
            " address, subject, body, next_attempt_at, kind, ack_url, fallback)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (case["id"], key, step.condition.value, route.channel, r.name, route.address,
             subject, body, now, step.message.value, link,
             json.dumps([[x.channel, x.address] for x in r.routes[1:]])))
        sent_to.append(describe(r.name, r.routes))
    return sent_to


def schedule_repeat(conn: sqlite3.Connection, case_id: int, index: int, step: Step, run: int,
                    due_at: float) -> None:
    """A step that repeats runs again `step.repeat` after the run due at `due_at`."""
    if step.repeat is not None:
        conn.execute("INSERT OR IGNORE INTO escalation_timers (case_id, step, run, due_at)"
                     " VALUES (?,?,?,?)", (case_id, index, run + 1, due_at + step.repeat))


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
            targets = _enqueue_step(conn, config, case, timer, step, label, now)
            enqueued += len(targets)
            add_event(conn, case["id"], now, "escalation",
                      f"{label} ({step.message.value}): notifying {', '.join(targets) or 'nobody'}")
            log.info("%s: %d message(s) queued", label, len(targets), extra={"case": case["id"]})
            schedule_repeat(conn, case["id"], timer["step"], step, timer["run"], timer["due_at"])
    return enqueued


def seconds_to_next_timer(db: Database, now: float) -> float | None:
    nxt = db.conn.execute("SELECT MIN(due_at) FROM escalation_timers WHERE state = 'pending'"
                          ).fetchone()[0]
    return None if nxt is None else nxt - now
