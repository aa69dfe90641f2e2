"""PagerDuty follows the case: when a case that paged through PagerDuty is acknowledged,
resolved or closed here, its PagerDuty incident is acknowledged or resolved too, so nobody
there keeps being paged for work already taken (SPEC 6: an acknowledgement stops the
escalation everywhere).

The follow-up is an outbox row like any message, queued in the transaction of the change,
so it is sent at least once and its delivery is on the case's timeline. It carries the
case's dedup_key (the outbox gives every message of a case the same one), which is how
PagerDuty finds the incident.
"""

from __future__ import annotations

import sqlite3

from alerting.notifiers.base import Kind
from alerting.policy import Condition

# The only channel with incidents of its own to close; email, SMS, ntfy and chat messages
# are gone once sent.
CHANNEL = "pagerduty"
# Message kinds that open (or update) a PagerDuty incident.
TRIGGERS = (Kind.PAGE.value, Kind.SUMMARY.value)


def follow(conn: sqlite3.Connection, case_id: int, kind: Kind, now: float) -> None:
    """Queue `kind` (acknowledged or resolved) for the case's PagerDuty incident, if it may
    have one: a trigger was handed to PagerDuty at least once (a trigger in flight when the
    case was acknowledged may have landed; an acknowledgement of an incident PagerDuty does
    not have is answered 202 and changes nothing).

    The key names the latest trigger, so a later episode of the case (paged afresh) is
    followed again. Closing right after resolving cancels the case's pending messages,
    the resolution's follow-up with them: queuing it again brings it back."""
    page = conn.execute(
        "SELECT id, recipient FROM outbox WHERE case_id = ? AND channel = ? AND attempts > 0"
        f" AND kind IN ({','.join('?' * len(TRIGGERS))}) ORDER BY id DESC LIMIT 1",
        (case_id, CHANNEL, *TRIGGERS)).fetchone()
    if page is None:
        return
    conn.execute(
        "INSERT INTO outbox (case_id, idem_key, condition, channel, recipient, address,"
        " subject, body, next_attempt_at, kind) VALUES (?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (idem_key) DO UPDATE SET state = 'pending',"
        " next_attempt_at = excluded.next_attempt_at WHERE outbox.state = 'cancelled'",
        (case_id, f"{case_id}:{CHANNEL}:{kind.value}:after-{page['id']}",
         Condition.ALWAYS.value, CHANNEL, page["recipient"], "",
         f"[watchkeeper] Case #{case_id} {kind.value}", "", now, kind.value))
