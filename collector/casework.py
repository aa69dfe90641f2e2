"""Opening, joining, acknowledging and resolving cases, with their timeline and timers.

Every state change and the escalation work it causes are written in one transaction, so a
crash can never leave a case without its timers or a timer without its case.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from alerting.cases import (
    CaseAction,
    CaseSource,
    CaseState,
    InvalidTransition,
    apply,
)
from alerting.policy import Condition, Policy, choose
from collector.store.db import Database


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class Trigger:
    severity: int
    customer: str
    tier: str
    device_id: str | None
    title: str
    source: CaseSource
    dedup_key: str
    evidence: str


@dataclass(frozen=True, slots=True)
class Outcome:
    case_id: int
    opened: bool  # False when the trigger joined a case that was already there


def add_event(conn: sqlite3.Connection, case_id: int, at: float, kind: str, text: str) -> None:
    conn.execute("INSERT INTO case_events (case_id, at, kind, text) VALUES (?, ?, ?, ?)",
                 (case_id, at, kind, text))


def _schedule(conn: sqlite3.Connection, case_id: int, policy: Policy, start: float,
              run: int = 0) -> None:
    for index, step in enumerate(policy.steps):
        conn.execute("INSERT INTO escalation_timers (case_id, step, run, due_at) VALUES (?,?,?,?)",
                     (case_id, index, run, start + step.after))


def _cancel_unacknowledged(conn: sqlite3.Connection, case_id: int, policy: Policy | None) -> int:
    """Stop the steps that run only while nobody works the case, and their unsent messages."""
    steps = [i for i, s in enumerate(policy.steps) if s.condition is Condition.UNACKNOWLEDGED] \
        if policy else []
    cancelled = 0
    if steps:
        marks = ",".join("?" * len(steps))
        cancelled += conn.execute(
            f"UPDATE escalation_timers SET state = 'cancelled' WHERE case_id = ? AND state ="
            f" 'pending' AND step IN ({marks})", (case_id, *steps)).rowcount
    cancelled += conn.execute(
        "UPDATE outbox SET state = 'cancelled' WHERE case_id = ? AND state = 'pending'"
        " AND condition = ?", (case_id, Condition.UNACKNOWLEDGED.value)).rowcount
    return cancelled


def _cancel_all(conn: sqlite3.Connection, case_id: int) -> None:
    conn.execute("UPDATE escalation_timers SET state = 'cancelled' WHERE case_id = ?"
                 " AND state = 'pending'", (case_id,))
    conn.execute("UPDATE outbox SET state = 'cancelled' WHERE case_id = ? AND state = 'pending'",
                 (case_id,))


def _policy_of(row: sqlite3.Row) -> Policy | None:
    return Policy.from_snapshot(row["policy"]) if row["policy"] else None


def open_or_join(db: Database, trigger: Trigger, policies: tuple[Policy, ...],
                 now: float) -> Outcome:
    with db.transaction() as conn:
        row = find_active(conn, trigger.dedup_key)
        if row is not None:
            case_id = row["id"]
            state = CaseState(row["state"])
            if state is CaseState.RESOLVED:
                # The problem came back before anyone closed the case: page again, from step 1.
                conn.execute("UPDATE cases SET state = ?, acknowledged_at = NULL,"
                             " acknowledged_by = NULL, acknowledged_via = NULL, resolved_at = NULL"
                             " WHERE id = ?", (apply(state, CaseAction.RETRIGGER), case_id))
                add_event(conn, case_id, now, "retriggered",
                          f"Triggered again after resolution: {trigger.evidence}")
                policy = _policy_of(row)
                if policy:
                    _cancel_all(conn, case_id)  # the new run replaces what is left of the old
                    run = conn.execute("SELECT COALESCE(MAX(run), -1) + 1 FROM escalation_timers"
                                       " WHERE case_id = ?", (case_id,)).fetchone()[0]
                    _schedule(conn, case_id, policy, now, run)
            else:
                add_event(conn, case_id, now, "triggered", f"Triggered again: {trigger.evidence}")
            return Outcome(case_id, opened=False)

        policy = choose(policies, trigger.severity, trigger.tier)
        case_id = conn.execute(
            "INSERT INTO cases (severity, customer, device_id, title, source, dedup_key, state,"
            " opened_at, policy) VALUES (?,?,?,?,?,?,?,?,?)",
            (trigger.severity, trigger.customer, trigger.device_id, trigger.title,
             trigger.source.value, trigger.dedup_key, CaseState.NEW.value, now,
             policy.snapshot() if policy else None)).lastrowid
        assert case_id is not None
        add_event(conn, case_id, now, "opened",
                  f"Severity {trigger.severity} case opened ({trigger.source.value}):"
                  f" {trigger.evidence}")
        if policy:
            add_event(conn, case_id, now, "escalation",
                      f"Escalation policy {policy.name!r} with {len(policy.steps)} step(s)")
            _schedule(conn, case_id, policy, now)
        else:
            add_event(conn, case_id, now, "escalation",
                      f"No escalation policy matches severity {trigger.severity}: nobody is paged")
        return Outcome(case_id, opened=True)


def _load(conn: sqlite3.Connection, case_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise CaseNotFound(f"there is no case {case_id}")
    return row


@dataclass(frozen=True, slots=True)
class AckResult:
    acknowledged: bool  # False: it already was; `by` and `at` say by whom and when
    by: str
    at: float
    via: str


def acknowledge(db: Database, case_id: int, by: str, via: str, now: float) -> AckResult:
    with db.transaction() as conn:
        row = _load(conn, case_id)
        if row["acknowledged_at"] is not None:
            return AckResult(False, row["acknowledged_by"], row["acknowledged_at"],
                             row["acknowledged_via"])
        state = CaseState(row["state"])
        if state is not CaseState.NEW:
            raise InvalidTransition(f"case {case_id} is {state.value}; there is nothing to"
                                    " acknowledge")
        conn.execute("UPDATE cases SET state = ?, acknowledged_at = ?, acknowledged_by = ?,"
                     " acknowledged_via = ? WHERE id = ?",
                     (apply(state, CaseAction.ACKNOWLEDGE).value, now, by, via, case_id))
        stopped = _cancel_unacknowledged(conn, case_id, _policy_of(row))
        add_event(conn, case_id, now, "acknowledged",
                  f"Acknowledged by {by} via {via}; escalation stopped"
                  f" ({stopped} pending step(s) and message(s) cancelled)")
        return AckResult(True, by, now, via)


def resolve(db: Database, case_id: int, by: str, note: str, now: float) -> None:
    with db.transaction() as conn:
        row = _load(conn, case_id)
        state = apply(CaseState(row["state"]), CaseAction.RESOLVE)
        conn.execute("UPDATE cases SET state = ?, resolved_at = ? WHERE id = ?",
                     (state.value, now, case_id))
        _cancel_unacknowledged(conn, case_id, _policy_of(row))
        add_event(conn, case_id, now, "resolved", f"Resolved by {by}: {note}")


def close(db: Database, case_id: int, by: str, now: float) -> None:
    with db.transaction() as conn:
        row = _load(conn, case_id)
        state = apply(CaseState(row["state"]), CaseAction.CLOSE)
        conn.execute("UPDATE cases SET state = ?, closed_at = ? WHERE id = ?",
                     (state.value, now, case_id))
        _cancel_all(conn, case_id)
        add_event(conn, case_id, now, "closed", f"Closed by {by}")


def find_active(conn: sqlite3.Connection, dedup_key: str) -> sqlite3.Row | None:
    """The case a new trigger joins (SPEC 5: any that is not closed). Written as
    `state != 'closed'` so SQLite uses the partial index instead of scanning every case."""
    return conn.execute("SELECT * FROM cases WHERE dedup_key = ? AND state != 'closed'",
                        (dedup_key,)).fetchone()
