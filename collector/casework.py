"""Opening, joining and working cases: each move of the state machine with its timeline
entry (who did it, when) and the escalation work it starts or stops.

Every state change and the escalation work it causes are written in one transaction, so a
crash can never leave a case without its timers or a timer without its case.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alerting.cases import (
    FLAP,
    CaseAction,
    CaseSource,
    CaseState,
    HoldReason,
    InvalidTransition,
    apply,
    can,
    is_flapping,
    on_trigger,
)
from alerting.maintenance import Occurrence
from alerting.messages import clean
from alerting.notifiers.base import Kind
from alerting.policy import Condition, Policy, choose
from collector import maintenance_store, pager_sync, sla_hooks
from collector.store.db import Database

if TYPE_CHECKING:
    from collector.config import Person

# Timeline text written by people is kept on one line and bounded.
NOTE_LIMIT = 2000


class CaseNotFound(LookupError):
    pass


class CaseConflict(ValueError):
    """The move is allowed for the case's state but another case stands in its way."""


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
    # The site of a case without a device ("site unreachable"), so that a maintenance window
    # for the site keeps it quiet; a device's own site is read from the device.
    site: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    case_id: int
    opened: bool  # False when the trigger joined a case that was already there


def add_event(conn: sqlite3.Connection, case_id: int, at: float, kind: str, text: str,
              actor: str | None = None, minutes: int = 0) -> None:
    """One timeline entry; `actor` is the person who did it (None: watchkeeper itself) and
    `minutes` the work it records, summed into the case's time spent."""
    conn.execute("INSERT INTO case_events (case_id, at, kind, text, actor, minutes)"
                 " VALUES (?, ?, ?, ?, ?, ?)", (case_id, at, kind, text, actor, minutes))


def _schedule(conn: sqlite3.Connection, case_id: int, policy: Policy, start: float,
              run: int = 0) -> None:
    for index, step in enumerate(policy.steps):
        conn.execute("INSERT INTO escalation_timers (case_id, step, run, due_at) VALUES (?,?,?,?)",
                     (case_id, index, run, start + step.after))


def start_escalation(conn: sqlite3.Connection, case_id: int, policy: Policy,
                     start: float) -> int:
    """Schedule every step of the policy from `start`, as a new run; returns the run."""
    run = conn.execute("SELECT COALESCE(MAX(run), -1) + 1 FROM escalation_timers"
                       " WHERE case_id = ?", (case_id,)).fetchone()[0]
    _schedule(conn, case_id, policy, start, run)
    return run


def _mute(conn: sqlite3.Connection, case_id: int, muted: Occurrence | None, now: float) -> None:
    """Inside a maintenance window the case is recorded and pages nobody until the window
    ends; outside one (`muted` None) no window holds it any more."""
    if muted is None:
        maintenance_store.release(conn, case_id)
        return
    maintenance_store.suppress(conn, case_id, muted)
    add_event(conn, case_id, now, "maintenance", maintenance_store.quiet_note(muted))


def _unacknowledged_steps(conn: sqlite3.Connection, case_id: int, policy: Policy | None,
                          to_state: str) -> int:
    """Move the pending steps that run only while nobody works the case to `to_state`, and
    cancel their unsent messages."""
    steps = [i for i, s in enumerate(policy.steps) if s.condition is Condition.UNACKNOWLEDGED] \
        if policy else []
    changed = 0
    if steps:
        marks = ",".join("?" * len(steps))
        changed += conn.execute(
            f"UPDATE escalation_timers SET state = ? WHERE case_id = ? AND state = 'pending'"
            f" AND step IN ({marks})", (to_state, case_id, *steps)).rowcount
    # 'sending' too: a message claimed by the outbox but not handed to its channel yet (the
    # outbox looks again before sending), or whose sender died holding the lease.
    changed += conn.execute(
        "UPDATE outbox SET state = 'cancelled' WHERE case_id = ?"
        " AND state IN ('pending', 'sending') AND condition = ?",
        (case_id, Condition.UNACKNOWLEDGED.value)).rowcount
    return changed


def _cancel_suspended(conn: sqlite3.Connection, case_id: int) -> None:
    conn.execute("UPDATE escalation_timers SET state = 'cancelled' WHERE case_id = ?"
                 " AND state = 'suspended'", (case_id,))


def cancel_all(conn: sqlite3.Connection, case_id: int,
               claimed: bool = False) -> tuple[int, int]:
    """Cancel the case's pending and suspended steps and its unsent messages (`claimed`:
    those the outbox has claimed too, as it looks again before sending); returns how many
    steps and messages."""
    steps = conn.execute("UPDATE escalation_timers SET state = 'cancelled' WHERE case_id = ?"
                         " AND state IN ('pending', 'suspended')", (case_id,)).rowcount
    states = "('pending', 'sending')" if claimed else "('pending')"
    unsent = conn.execute("UPDATE outbox SET state = 'cancelled' WHERE case_id = ?"
                          f" AND state IN {states}", (case_id,)).rowcount
    return steps, unsent


def _policy_of(row: sqlite3.Row) -> Policy | None:
    return Policy.from_snapshot(row["policy"]) if row["policy"] else None


def _minutes_ago(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def _retrigger(conn: sqlite3.Connection, row: sqlite3.Row, trigger: Trigger, now: float,
               escalate: bool = True) -> None:
    """A new episode: unacknowledged again, paged again from the first step (unless not
    `escalate`: inside a maintenance window)."""
    case_id = row["id"]
    conn.execute("UPDATE cases SET state = ?, acknowledged_at = NULL, acknowledged_by = NULL,"
                 " acknowledged_via = NULL, resolved_at = NULL, resolved_by = NULL,"
                 " resolved_automatically = 0, resolution_actions = NULL, covered_by_sla = NULL"
                 " WHERE id = ?",
                 (apply(CaseState(row["state"]), CaseAction.RETRIGGER).value, case_id))
    add_event(conn, case_id, now, "retriggered",
              f"Triggered again after resolution: {trigger.evidence}")
    policy = _policy_of(row)
    if policy:
        cancel_all(conn, case_id)  # the new run replaces what is left of the old
        if escalate:
            start_escalation(conn, case_id, policy, now)
    sla_hooks.on_change(conn, case_id, now, restart=True)


def _relapse(conn: sqlite3.Connection, row: sqlite3.Row, trigger: Trigger, now: float) -> None:
    """The same episode: back to where the case was before it resolved, with the steps its
    resolution paused, and no new page."""
    case_id = row["id"]
    state = apply(CaseState(row["state"]), CaseAction.RELAPSE)
    acknowledged = row["acknowledged_at"] is not None
    if acknowledged:  # still in the hands of whoever acknowledged it
        state = apply(state, CaseAction.ACKNOWLEDGE)
    conn.execute("UPDATE cases SET state = ?, resolved_at = NULL, resolved_by = NULL,"
                 " resolved_automatically = 0, resolution_actions = NULL, covered_by_sla = NULL"
                 " WHERE id = ?", (state.value, case_id))
    resumed = conn.execute("UPDATE escalation_timers SET state = 'pending' WHERE case_id = ?"
                           " AND state = 'suspended'", (case_id,)).rowcount
    why = "it is flapping" if row["flapping_since"] is not None else \
        f"it resolved by itself {_minutes_ago(now - row['resolved_at'])} ago"
    then = f"stays with {row['acknowledged_by']}" if acknowledged else \
        f"its escalation goes on where it was ({resumed} step(s) resumed)"
    add_event(conn, case_id, now, "retriggered",
              f"Triggered again: {trigger.evidence}. Same episode, because {why}: the case"
              f" is {state.value} again and {then}; nobody is paged afresh")
    sla_hooks.on_change(conn, case_id, now)


def _muting(conn: sqlite3.Connection, trigger: Trigger, now: float) -> Occurrence | None:
    return maintenance_store.muting_occurrence(conn, trigger.device_id, trigger.customer, now,
                                               trigger.site)


def open_or_join(db: Database, trigger: Trigger, policies: tuple[Policy, ...],
                 now: float) -> Outcome:
    with db.transaction() as conn:
        row = find_active(conn, trigger.dedup_key)
        if row is not None:
            move = on_trigger(CaseState(row["state"]), row["resolved_at"],
                              bool(row["resolved_automatically"]),
                              row["flapping_since"] is not None, now, FLAP)
            if move is None:  # a case not resolved: the trigger only goes on its timeline
                add_event(conn, row["id"], now, "triggered",
                          f"Triggered again: {trigger.evidence}")
                return Outcome(row["id"], opened=False)
            muted = _muting(conn, trigger, now)
            quiet = row["suppressed_by"] is not None  # kept quiet by maintenance: never paged
            if move is CaseAction.RELAPSE and quiet and muted is None:
                move = CaseAction.RETRIGGER  # back after the window: news, not a relapse
            if move is CaseAction.RETRIGGER:
                _retrigger(conn, row, trigger, now, escalate=muted is None)
                _mute(conn, row["id"], muted, now)
            else:
                _relapse(conn, row, trigger, now)
                if quiet:
                    _mute(conn, row["id"], muted, now)
            return Outcome(row["id"], opened=False)

        muted = _muting(conn, trigger, now)
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
            if muted is None:
                _schedule(conn, case_id, policy, now)
        else:
            add_event(conn, case_id, now, "escalation",
                      f"No escalation policy matches severity {trigger.severity}: nobody is paged")
        if muted is not None:
            _mute(conn, case_id, muted, now)
        sla_hooks.on_change(conn, case_id, now, restart=True)
        return Outcome(case_id, opened=True)


def _count_transition(conn: sqlite3.Connection, row: sqlite3.Row, firing: bool,
                      now: float) -> bool:
    """Record a fire or clear of the case's rule, start or end its flapping; say whether it
    is flapping now."""
    case_id = row["id"]
    earlier = [r[0] for r in conn.execute(
        "SELECT at FROM case_transitions WHERE case_id = ? AND at > ?",
        (case_id, now - FLAP.window))]
    conn.execute("INSERT INTO case_transitions (case_id, at, firing) VALUES (?, ?, ?)",
                 (case_id, now, int(firing)))
    was = row["flapping_since"] is not None
    now_flapping = is_flapping(earlier, now, was, FLAP)
    window = _minutes_ago(FLAP.window)
    if now_flapping and not was:
        conn.execute("UPDATE cases SET flapping_since = ? WHERE id = ?", (now, case_id))
        add_event(conn, case_id, now, "flapping",
                  f"Flapping: {len(earlier) + 1} fires and clears within {window}. The case"
                  " stays open: a clear no longer resolves it and a fire no longer pages"
                  f" afresh. It stops flapping after {window} without a fire or clear")
    elif was and not now_flapping:
        conn.execute("UPDATE cases SET flapping_since = NULL WHERE id = ?", (case_id,))
        add_event(conn, case_id, now, "flapping",
                  f"Stopped flapping: no fire or clear for {window}")
    return now_flapping


def rule_fired(db: Database, trigger: Trigger, policies: tuple[Policy, ...],
               now: float) -> Outcome:
    """A rule fired: open or join its case, counting the fire towards flapping."""
    with db.transaction() as conn:
        row = find_active(conn, trigger.dedup_key)
        if row is not None:
            _count_transition(conn, row, True, now)
        outcome = open_or_join(db, trigger, policies, now)
        if outcome.opened:
            _count_transition(conn, _load(conn, outcome.case_id), True, now)
        return outcome


def rule_cleared(db: Database, dedup_key: str, evidence: str, now: float) -> int | None:
    """A rule cleared: its case resolves by itself, unless it is flapping, when it stays
    open for the NOC. Returns the case's number (None: it has no case that is not closed)."""
    with db.transaction() as conn:
        row = find_active(conn, dedup_key)
        if row is None:
            return None  # resolved before it ever reached us, or its case was closed by hand
        flapping = _count_transition(conn, row, False, now)
        state = CaseState(row["state"])
        if not can(state, CaseAction.RESOLVE):
            add_event(conn, row["id"], now, "rule", evidence)
        elif flapping:
            add_event(conn, row["id"], now, "rule",
                      f"{evidence}; the case is flapping, so it stays {state.value}")
        else:
            add_event(conn, row["id"], now, "rule", evidence)
            resolve(db, row["id"], "the agent", "none: the rule cleared by itself", now,
                    automatic=True)
        return row["id"]


def _load(conn: sqlite3.Connection, case_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise CaseNotFound(f"there is no case {case_id}")
    return row


def _next(row: sqlite3.Row, action: CaseAction) -> CaseState:
    """The state `action` takes the case to; a refusal names the case and what is allowed."""
    try:
        return apply(CaseState(row["state"]), action)
    except InvalidTransition as exc:
        raise InvalidTransition(f"case {row['id']}: {exc}") from None


def _move(conn: sqlite3.Connection, case_id: int,
          action: CaseAction) -> tuple[sqlite3.Row, CaseState]:
    row = _load(conn, case_id)
    return row, _next(row, action)


def _line(text: str) -> str:
    """People's text on the timeline: one line (no control characters reach a terminal that
    prints it), bounded."""
    return clean(text.strip(), NOTE_LIMIT)


def _with_minutes(text: str, minutes: int) -> str:
    return f"{text} ({minutes} min)" if minutes else text


@dataclass(frozen=True, slots=True)
class AckResult:
    acknowledged: bool  # False: it already was; `by` and `at` say by whom and when
    by: str
    at: float
    via: str


def acknowledge(db: Database, case_id: int, by: str, via: str, now: float) -> AckResult:
    """new -> open, and the "unless acknowledged" steps stop at once."""
    with db.transaction() as conn:
        row = _load(conn, case_id)
        if row["acknowledged_at"] is not None:
            return AckResult(False, row["acknowledged_by"], row["acknowledged_at"],
                             row["acknowledged_via"])
        state = _next(row, CaseAction.ACKNOWLEDGE)
        conn.execute("UPDATE cases SET state = ?, acknowledged_at = ?, acknowledged_by = ?,"
                     " acknowledged_via = ? WHERE id = ?", (state.value, now, by, via, case_id))
        stopped = _unacknowledged_steps(conn, case_id, _policy_of(row), "cancelled")
        pager_sync.follow(conn, case_id, Kind.ACKNOWLEDGED, now)
        add_event(conn, case_id, now, "acknowledged",
                  f"Acknowledged by {by} via {via}; escalation stopped"
                  f" ({stopped} pending step(s) and message(s) cancelled)", by)
        sla_hooks.on_change(conn, case_id, now)
        return AckResult(True, by, now, via)


class UnknownPerson(LookupError):
    pass


def assign(db: Database, case_id: int, name: str, people: tuple[Person, ...], by: str,
           now: float) -> CaseState:
    """Give the case to one of `people`; returns its state. Assigning does not acknowledge:
    the escalation goes on until somebody (the assignee or anyone) acknowledges, because
    being handed a case is not having seen it."""
    if not any(p.name == name for p in people):
        known = ", ".join(p.name for p in people) or "none"
        raise UnknownPerson(f"{name!r} is not a [[person]] in the configuration (people:"
                            f" {known})")
    with db.transaction() as conn:
        row, state = _move(conn, case_id, CaseAction.ASSIGN)
        before = row["assignee"]
        conn.execute("UPDATE cases SET assignee = ? WHERE id = ?", (name, case_id))
        was = f" (was {before})" if before else ""
        add_event(conn, case_id, now, "assigned", f"Assigned to {name} by {by}{was}", by)
        return state


def add_note(db: Database, case_id: int, text: str, by: str, now: float,
             minutes: int = 0) -> int:
    """A note, with the minutes of work it records; returns the case's total minutes."""
    with db.transaction() as conn:
        _move(conn, case_id, CaseAction.NOTE)
        add_event(conn, case_id, now, "note",
                  _with_minutes(f"Note by {by}: {_line(text)}", minutes), by, minutes)
        return time_spent(conn, case_id)


def hold(db: Database, case_id: int, reason: HoldReason, by: str, now: float,
         note: str | None = None, minutes: int = 0) -> None:
    with db.transaction() as conn:
        row, state = _move(conn, case_id, CaseAction.HOLD)
        conn.execute("UPDATE cases SET state = ?, hold_reason = ? WHERE id = ?",
                     (state.value, reason.value, case_id))
        before = row["hold_reason"]
        text = f"On hold ({reason.label}) by {by}" if before is None else \
            f"Hold reason changed from {HoldReason(before).label} to {reason.label} by {by}"
        if note:
            text += f": {_line(note)}"
        add_event(conn, case_id, now, "hold", _with_minutes(text, minutes), by, minutes)
        sla_hooks.on_change(conn, case_id, now)


def resume(db: Database, case_id: int, by: str, now: float, note: str | None = None) -> None:
    """hold -> open: the wait is over and the case is being worked again."""
    with db.transaction() as conn:
        row, state = _move(conn, case_id, CaseAction.RESUME)
        conn.execute("UPDATE cases SET state = ?, hold_reason = NULL WHERE id = ?",
                     (state.value, case_id))
        text = f"Resumed by {by} (was on hold: {HoldReason(row['hold_reason']).label})"
        add_event(conn, case_id, now, "resumed", f"{text}: {_line(note)}" if note else text, by)
        sla_hooks.on_change(conn, case_id, now)


def resolve(db: Database, case_id: int, by: str, actions: str, now: float,
            covered_by_sla: bool | None = None, minutes: int = 0,
            automatic: bool = False) -> None:
    """Record the resolution: the actions taken, who resolved it, whether the SLA covers
    it. `automatic` when watchkeeper resolved it (a rule cleared, a device reported again):
    if the problem comes back within the flap window, the case relapses instead of paging
    afresh."""
    with db.transaction() as conn:
        row, state = _move(conn, case_id, CaseAction.RESOLVE)
        conn.execute("UPDATE cases SET state = ?, resolved_at = ?, resolved_by = ?,"
                     " resolved_automatically = ?, resolution_actions = ?, covered_by_sla = ?,"
                     " hold_reason = NULL WHERE id = ?",
                     (state.value, now, by, int(automatic), _line(actions),
                      None if covered_by_sla is None else int(covered_by_sla), case_id))
        # Paused, not cancelled: a relapse resumes them where they were.
        _unacknowledged_steps(conn, case_id, _policy_of(row), "suspended")
        pager_sync.follow(conn, case_id, Kind.RESOLVED, now)
        sla = "" if covered_by_sla is None else \
            f"; covered by the SLA: {'yes' if covered_by_sla else 'no'}"
        add_event(conn, case_id, now, "resolved",
                  _with_minutes(f"Resolved by {by}: {_line(actions)}{sla}", minutes),
                  None if automatic else by, minutes)
        sla_hooks.on_change(conn, case_id, now)


def close(db: Database, case_id: int, by: str, now: float) -> None:
    with db.transaction() as conn:
        _, state = _move(conn, case_id, CaseAction.CLOSE)
        conn.execute("UPDATE cases SET state = ?, closed_at = ?, closed_by = ?,"
                     " hold_reason = NULL WHERE id = ?", (state.value, now, by, case_id))
        cancel_all(conn, case_id)
        pager_sync.follow(conn, case_id, Kind.RESOLVED, now)
        add_event(conn, case_id, now, "closed", f"Closed by {by}", by)
        sla_hooks.on_change(conn, case_id, now)


def reopen(db: Database, case_id: int, by: str, reason: str, now: float) -> None:
    """A resolved or closed case is open again, worked by whoever reopened it: it pages
    nobody. Its resolution and closure stay on the timeline only."""
    with db.transaction() as conn:
        row, state = _move(conn, case_id, CaseAction.REOPEN)
        if row["state"] == CaseState.CLOSED:
            # Only one case per device and rule may be other than closed (dedup).
            other = find_active(conn, row["dedup_key"])
            if other is not None:
                raise CaseConflict(
                    f"case {case_id} cannot be reopened: case {other['id']} ({other['state']})"
                    " is already open for the same device and problem; work on case"
                    f" {other['id']}, or close it first")
        conn.execute("UPDATE cases SET state = ?, resolved_at = NULL, resolved_by = NULL,"
                     " resolved_automatically = 0, resolution_actions = NULL,"
                     " covered_by_sla = NULL, closed_at = NULL, closed_by = NULL WHERE id = ?",
                     (state.value, case_id))
        _cancel_suspended(conn, case_id)
        add_event(conn, case_id, now, "reopened", f"Reopened by {by}: {_line(reason)}", by)
        sla_hooks.on_change(conn, case_id, now)


def time_spent(conn: sqlite3.Connection, case_id: int) -> int:
    """Minutes of work recorded on the case's timeline."""
    return conn.execute("SELECT COALESCE(SUM(minutes), 0) FROM case_events WHERE case_id = ?",
                        (case_id,)).fetchone()[0]


def find_active(conn: sqlite3.Connection, dedup_key: str) -> sqlite3.Row | None:
    """The case a new trigger joins (SPEC 5: any that is not closed). Written as
    `state != 'closed'` so SQLite uses the partial index instead of scanning every case."""
    return conn.execute("SELECT * FROM cases WHERE dedup_key = ? AND state != 'closed'",
                        (dedup_key,)).fetchone()
