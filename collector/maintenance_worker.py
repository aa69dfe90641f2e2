"""Deals with the end of each maintenance occurrence that kept cases quiet.

When an occurrence ends, each case it held is looked at again:
- resolved or closed meanwhile (the device reported again, the rule cleared, someone
  closed it): left as it is, with a note; nobody is paged;
- still covered by another window (overlapping windows): handed to that one;
- part of a "site unreachable" case: left to that case, which escalates for it;
- still failing (the device is still down, the rule still firing: heartbeats and rules are
  judged as they arrive, so a case that is not resolved by now still fails): its escalation
  starts now, as if it had opened now. The steps due at once are not sent case by case:
  each of their recipients gets ONE summary listing every such case. Later steps (the VP
  after 2 hours, hourly status) run per case at their times.

All of it, for one occurrence, is one transaction that also marks the occurrence dealt
with; the summary's outbox rows carry a key per occurrence and recipient. A restart, or a
second pass, never sends anything twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from dataclasses import dataclass, field

from alerting.cases import CaseState
from alerting.maintenance import label, next_change
from alerting.maintenance_messages import HeldCase, compose_summary
from alerting.messages import when
from alerting.notifiers.base import Kind
from alerting.policy import Condition, MessageKind, Policy, condition_holds
from alerting.targets import Route
from collector import maintenance_store
from collector.casework import add_event, start_escalation
from collector.config import CollectorConfig
from collector.escalation_worker import ack_url, describe, reach, schedule_repeat
from collector.maintenance_store import PendingEnd
from collector.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class _Summary:
    """One message, of one kind, to one recipient, by their first channel (the others to
    fall over to)."""
    kind: MessageKind
    name: str
    routes: tuple[Route, ...]  # never empty
    cases: dict[int, sqlite3.Row] = field(default_factory=dict)  # by number, in order

    def key(self, pending: PendingEnd) -> str:
        # Per occurrence and recipient, hashed so that no address or space reaches the
        # Message-ID made of it; the channel comes last, as the outbox's fall-over expects.
        who = hashlib.sha256(json.dumps(
            [self.kind, self.name, [[r.channel, r.address] for r in self.routes]]).encode())
        return (f"maintenance:{pending.window.id}:{pending.key:.0f}:{who.hexdigest()[:16]}:"
                f"{self.routes[0].channel}")


@dataclass(frozen=True, slots=True)
class EndResult:
    window_id: int
    held: int  # cases the occurrence kept quiet
    failing: int  # of them, those whose escalation started now
    messages: int  # summary messages queued


def process_due(db: Database, config: CollectorConfig, now: float) -> list[EndResult]:
    """Deal with every occurrence that has ended by `now`."""
    done = []
    for pending in maintenance_store.pending_ends(db.conn):
        if pending.end > now:
            break  # soonest first: the rest have not ended either
        with db.transaction() as conn:
            if maintenance_store.claim_end(conn, pending, now):
                done.append(_end(conn, config, pending, now))
    return done


def seconds_to_next_change(db: Database, now: float) -> float | None:
    """Until the next start or end of a window that holds cases (None: none does)."""
    windows = {p.window.id: p.window for p in maintenance_store.pending_ends(db.conn)}
    nxt = next_change(windows.values(), now)
    return None if nxt is None else nxt - now


def _end(conn: sqlite3.Connection, config: CollectorConfig, pending: PendingEnd,
         now: float) -> EndResult:
    window = pending.window
    ended = f"{label(window)} ended at {when(pending.end)}"
    ended = ended[0].upper() + ended[1:]  # it opens each timeline entry below
    escalating: list[tuple[sqlite3.Row, Policy, int]] = []
    held = maintenance_store.held_cases(conn, window.id, pending.key)
    for case in held:
        state = CaseState(case["state"])
        if state in (CaseState.RESOLVED, CaseState.CLOSED):
            # It stays marked: it never paged, so if it comes back it pages afresh.
            add_event(conn, case["id"], now, "maintenance",
                      f"{ended}; the case was already {state.value}, so nobody is paged")
            continue
        later = maintenance_store.muting_occurrence(conn, case["device_id"], case["customer"],
                                                    now)
        if later is not None:
            maintenance_store.suppress(conn, case["id"], later)
            add_event(conn, case["id"], now, "maintenance",
                      f"{ended}, but the case is still in {label(later.window)}, until"
                      f" {when(later.end)}: still not paging")
            continue
        maintenance_store.release(conn, case["id"])
        parent = case["parent_case_id"]
        if parent is not None:
            add_event(conn, case["id"], now, "maintenance",
                      f"{ended}; the case is part of site outage case #{parent}, which"
                      " escalates for it")
            continue
        if not case["policy"]:
            add_event(conn, case["id"], now, "maintenance",
                      f"{ended} and the case is still {state.value}; no escalation policy"
                      " matches it, so nobody is paged")
            continue
        policy = Policy.from_snapshot(case["policy"])
        run = start_escalation(conn, case["id"], policy, now)
        add_event(conn, case["id"], now, "maintenance",
                  f"{ended} and the case is still {state.value}: its escalation"
                  f" ({policy.name!r}) starts now; what is due at once goes out in one summary"
                  " with the window's other cases")
        escalating.append((case, policy, run))
    summaries = _cover_first_steps(conn, config, escalating, now)
    for summary in summaries.values():
        _enqueue(conn, config, pending, summary, now)
    log.info("%s: %d case(s) still failing, %d summary message(s) queued", ended,
             len(escalating), len(summaries))
    return EndResult(window.id, len(held), len(escalating), len(summaries))


def _cover_first_steps(conn: sqlite3.Connection, config: CollectorConfig,
                       escalating: list[tuple[sqlite3.Row, Policy, int]],
                       now: float) -> dict[tuple, _Summary]:
    """Mark the steps due at once of each case as covered by a summary (so they do not page
    one by one) and gather the summaries: one per recipient and kind of message. Who a
    target names (on-call schedules included) is worked out now, as for any step."""
    summaries: dict[tuple, _Summary] = {}
    for case, policy, run in escalating:
        state = CaseState(case["state"])
        for index, step in enumerate(policy.steps):
            if step.after > 0 or not condition_holds(step.condition, state):
                continue  # later steps run per case; one whose condition fails is skipped
            step_label = f"Step {index + 1} of {policy.name!r}"
            told = []
            for r in reach(conn, config, case, step, step_label, now):
                summary = summaries.setdefault((step.message, r.name, r.routes),
                                               _Summary(step.message, r.name, r.routes))
                summary.cases[case["id"]] = case
                told.append(describe(r.name, r.routes))
            conn.execute("UPDATE escalation_timers SET state = 'covered' WHERE case_id = ?"
                         " AND step = ? AND run = ? AND state = 'pending'",
                         (case["id"], index, run))
            schedule_repeat(conn, case["id"], index, step, run, now)
            add_event(conn, case["id"], now, "escalation",
                      f"{step_label} ({step.message.value}): in the maintenance summary to"
                      f" {', '.join(told) or 'nobody'}")
    return summaries


def _enqueue(conn: sqlite3.Connection, config: CollectorConfig, pending: PendingEnd,
             summary: _Summary, now: float) -> None:
    cases = list(summary.cases.values())
    channels = tuple(r.channel for r in summary.routes)
    held = [HeldCase(case["id"], case["severity"], case["customer"], case["hostname"],
                     case["title"], case["state"],
                     ack_url(conn, config, case["id"], summary.name, channels, now)
                     if summary.kind is MessageKind.PAGE else None)
            for case in cases]
    subject, body = compose_summary(summary.kind, label(pending.window), pending.end, held,
                                    summary.name, now)
    # A page becomes a summary (each channel renders it from the subject and body, since it
    # is about several cases); notices and status to customers stay what they are.
    kind = Kind.SUMMARY if summary.kind is MessageKind.PAGE else summary.kind.kind
    # The outbox sends a message for one case and records its delivery there: the summary
    # rides on the first case it lists. 'always': acknowledging that one case must not
    # cancel the summary of the others.
    carrier = cases[0]["id"]
    route = summary.routes[0]
    conn.execute(
        "INSERT OR IGNORE INTO outbox (case_id, idem_key, condition, channel, recipient,"
        " address, subject, body, next_attempt_at, kind, fallback)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (carrier, summary.key(pending), Condition.ALWAYS.value, route.channel, summary.name,
         route.address, subject, body, now, kind.value,
         json.dumps([[r.channel, r.address] for r in summary.routes[1:]])))
    others = ", ".join(f"#{c['id']}" for c in cases[1:])
    add_event(conn, carrier, now, "notification",
              f"Maintenance summary to {describe(summary.name, summary.routes)} queued here"
              + (f", for this case and {others}" if others else ""))
