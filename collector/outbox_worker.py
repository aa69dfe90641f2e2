"""Sends what the outbox holds: at least once, retried with backoff, every attempt on the
case timeline. A message being sent holds a lease; if the collector dies mid-send, the
lease runs out and the message is sent again (with the same key, so receivers can fold it).

A channel that fails for good (a permanent refusal, or its retries spent) falls over to the
recipient's next channel: a new message, with its own key, queued in the same transaction
that gives up on this one.
"""

from __future__ import annotations

import json
import logging
import sqlite3

import aiohttp

from alerting.cases import CaseState
from alerting.messages import clean
from alerting.notifiers.base import DeliveryError, Kind, Notification
from alerting.policy import Condition, condition_holds
from alerting.targets import Route
from collector.casework import add_event
from collector.config import CollectorConfig
from collector.store.db import Database
from watchkeeper.clock import Clock

log = logging.getLogger(__name__)
LEASE = 120.0
MAX_ATTEMPTS = 8
# With another channel to fall over to, a page waits on a failing one for three attempts
# (about 20 s) rather than eight (about 40 min): reaching somebody beats reaching them there.
FALL_OVER_AFTER = 3


def backoff(attempts: int) -> float:
    """5 s, 15 s, 45 s ... capped at 15 minutes."""
    return float(min(5 * 3 ** (attempts - 1), 900))


def retry_wait(attempt: int, error: DeliveryError) -> float:
    """Our backoff, or longer when the receiver asked for longer (Retry-After)."""
    return max(backoff(attempt), error.retry_after or 0.0)


def gives_up(error: DeliveryError, attempt: int, can_fall_over: bool) -> bool:
    """Whether this channel is done with, after `attempt` attempts ending in `error`."""
    if not error.retryable:
        return True
    return attempt >= (FALL_OVER_AFTER if can_fall_over else MAX_ATTEMPTS)


def dedup_key(case_id: int) -> str:
    """One key for every message about a case: a pager provider keeps one incident."""
    return f"watchkeeper-case-{case_id}"


def claim_due(db: Database, now: float, limit: int = 10) -> list[sqlite3.Row]:
    # Due messages, and messages whose sender died mid-send (lease run out); each half
    # of the union reads its own partial index.
    rows = db.conn.execute(
        "SELECT id FROM (SELECT id, next_attempt_at AS t FROM outbox WHERE state = 'pending'"
        " AND next_attempt_at <= ? UNION ALL SELECT id, lease_until FROM outbox"
        " WHERE state = 'sending' AND lease_until < ?) ORDER BY t LIMIT ?",
        (now, now, limit)).fetchall()
    claimed = []
    for row in rows:
        with db.transaction() as conn:
            ok = conn.execute(
                "UPDATE outbox SET state = 'sending', lease_until = ?, attempts = attempts + 1"
                " WHERE id = ? AND (state = 'pending' OR (state = 'sending' AND lease_until < ?))",
                (now + LEASE, row["id"], now)).rowcount
            if ok:
                claimed.append(conn.execute("SELECT * FROM outbox WHERE id = ?",
                                            (row["id"],)).fetchone())
    return claimed


def _claimed(conn: sqlite3.Connection, msg: sqlite3.Row) -> bool:
    """Still ours to send: an acknowledgement cancels the case's claimed messages too."""
    row = conn.execute("SELECT state FROM outbox WHERE id = ?", (msg["id"],)).fetchone()
    return row["state"] == "sending"


def _who(msg: sqlite3.Row) -> str:
    address = f" <{msg['address']}>" if msg["address"] else ""
    return f"{msg['channel']} to {msg['recipient']}{address}"


def _fall_over(conn: sqlite3.Connection, msg: sqlite3.Row, error: DeliveryError, now: float
               ) -> str:
    """Queue the message on the recipient's next channel, if any is left and the step's
    condition still holds; returns what happened, for the timeline."""
    attempts = f" after {msg['attempts']} attempts" if error.retryable else ""
    head = f"{_who(msg)} failed for good{attempts} ({error})"
    fallback = [Route(channel, address) for channel, address in json.loads(msg["fallback"])]
    if not fallback:
        return f"{head}; no other channel is left to reach {msg['recipient']}"
    nxt = fallback[0]
    state = CaseState(conn.execute("SELECT state FROM cases WHERE id = ?",
                                   (msg["case_id"],)).fetchone()["state"])
    if not condition_holds(Condition(msg["condition"]), state):
        return f"{head}; not falling over to {nxt.channel}: the case is {state.value}"
    # The key names the channel last: (case, step, run, target, recipient, channel).
    key = f"{msg['idem_key'].rsplit(':', 1)[0]}:{nxt.channel}"
    conn.execute(
        "INSERT OR IGNORE INTO outbox (case_id, idem_key, condition, channel, recipient,"
        " address, subject, body, next_attempt_at, kind, ack_url, fallback)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (msg["case_id"], key, msg["condition"], nxt.channel, msg["recipient"], nxt.address,
         msg["subject"], msg["body"], now, msg["kind"], msg["ack_url"],
         json.dumps([[r.channel, r.address] for r in fallback[1:]])))
    return f"{head}; falling over to {nxt.channel}"


def record(db: Database, msg: sqlite3.Row, error: DeliveryError | None, reply: str,
           now: float) -> None:
    who = _who(msg)
    attempt = msg["attempts"]
    with db.transaction() as conn:
        if error is None:
            conn.execute("UPDATE outbox SET state = 'sent', sent_at = ?, lease_until = NULL"
                         " WHERE id = ?", (now, msg["id"]))
            add_event(conn, msg["case_id"], now, "notification",
                      f"{who}: delivered, {reply} (attempt {attempt})")
            log.info("notification delivered: %s", who, extra={"case": msg["case_id"]})
        elif not _claimed(conn, msg):
            add_event(conn, msg["case_id"], now, "notification",
                      f"{who}: attempt {attempt} failed ({error}); not retried: the message"
                      " was cancelled meanwhile")
        elif not gives_up(error, attempt, msg["fallback"] != "[]"):
            wait = retry_wait(attempt, error)
            conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?,"
                         " last_error = ?, lease_until = NULL WHERE id = ?",
                         (now + wait, str(error), msg["id"]))
            add_event(conn, msg["case_id"], now, "notification",
                      f"{who}: attempt {attempt} failed ({error}); retrying in {wait:g}s")
            log.warning("notification failed, will retry: %s: %s", who, error,
                        extra={"case": msg["case_id"]})
        else:
            conn.execute("UPDATE outbox SET state = 'failed', last_error = ?, lease_until = NULL"
                         " WHERE id = ?", (str(error), msg["id"]))
            outcome = _fall_over(conn, msg, error, now)
            add_event(conn, msg["case_id"], now, "notification", outcome)
            log.error("notification failed for good: %s", outcome, extra={"case": msg["case_id"]})


def notification(conn: sqlite3.Connection, msg: sqlite3.Row) -> Notification:
    """What the channel is handed: the queued message with the case's facts as they are now."""
    case = conn.execute(
        "SELECT c.id, c.severity, c.title, c.customer, d.hostname FROM cases c"
        " LEFT JOIN devices d ON d.id = c.device_id WHERE c.id = ?", (msg["case_id"],)).fetchone()
    return Notification(
        key=msg["idem_key"], case_id=case["id"], case_number=case["id"],
        severity=case["severity"], kind=Kind(msg["kind"]), title=clean(case["title"]),
        subject=msg["subject"], body=msg["body"], recipient=msg["recipient"],
        address=msg["address"], dedup_key=dedup_key(case["id"]), ack_url=msg["ack_url"],
        customer=clean(case["customer"]), source=clean(case["hostname"] or ""))


async def _send(config: CollectorConfig, msg: sqlite3.Row, n: Notification,
                session: aiohttp.ClientSession, clock: Clock) -> str:
    """The receiver's reply; raises DeliveryError, whatever went wrong."""
    try:
        channel = config.channel(msg["channel"])
    except KeyError:
        raise DeliveryError(f"{msg['channel']} is no longer set up in the collector's"
                            " configuration", retryable=False) from None
    try:
        return (await channel.notifier(session, clock).send(n)).reply
    except DeliveryError:
        raise
    except Exception as exc:
        # A bug or a library's surprise must not lose the message; its text may hold a
        # secret, so the timeline gets the type only and the log the rest.
        log.exception("%s channel failed unexpectedly", msg["channel"],
                      extra={"case": msg["case_id"]})
        raise DeliveryError(f"unexpected {type(exc).__name__} in the {msg['channel']} channel"
                            " (see the collector's log)", retryable=True) from exc


async def deliver(db: Database, config: CollectorConfig, msg: sqlite3.Row, clock: Clock,
                  session: aiohttp.ClientSession | None = None) -> None:
    """Send one claimed message and record how it went. The collector passes its one HTTP
    session; without one (a test, a one-off send) a session is opened for this message."""
    if not _claimed(db.conn, msg):  # cancelled while the messages claimed before it were sent
        log.info("notification cancelled before sending: %s to %s", msg["channel"],
                 msg["recipient"], extra={"case": msg["case_id"]})
        return
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await deliver(db, config, msg, clock, own)
    try:
        reply, error = await _send(config, msg, notification(db.conn, msg), session, clock), None
    except DeliveryError as exc:
        reply, error = "", exc
    record(db, msg, error, reply, clock.now())


def seconds_to_next_message(db: Database, now: float) -> float | None:
    nxt = db.conn.execute(
        "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'"
        " UNION ALL SELECT MIN(lease_until) FROM outbox WHERE state = 'sending')").fetchone()[0]
    return None if nxt is None else nxt - now
