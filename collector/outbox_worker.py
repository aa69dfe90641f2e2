"""Sends what the outbox holds: at least once, retried with backoff, every attempt on the
case timeline. A message being sent holds a lease; if the collector dies mid-send, the
lease runs out and the message is sent again (with the same Message-ID)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from alerting.notifiers import email
from collector.casework import add_event
from collector.config import CollectorConfig
from collector.store.db import Database
from watchkeeper.clock import Clock

log = logging.getLogger(__name__)
LEASE = 120.0
MAX_ATTEMPTS = 8


def backoff(attempts: int) -> float:
    """5 s, 15 s, 45 s ... capped at 15 minutes."""
    return float(min(5 * 3 ** (attempts - 1), 900))


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


def record(db: Database, msg: sqlite3.Row, error: email.DeliveryError | None, reply: str,
           now: float) -> None:
    who = f"{msg['channel']} to {msg['recipient']} <{msg['address']}>"
    attempt = msg["attempts"]
    with db.transaction() as conn:
        if error is None:
            conn.execute("UPDATE outbox SET state = 'sent', sent_at = ?, lease_until = NULL"
                         " WHERE id = ?", (now, msg["id"]))
            add_event(conn, msg["case_id"], now, "notification",
                      f"{who}: delivered, {reply} (attempt {attempt})")
            log.info("notification delivered: %s", who, extra={"case": msg["case_id"]})
        elif error.retryable and attempt < MAX_ATTEMPTS:
            wait = backoff(attempt)
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
            why = "permanent failure" if not error.retryable else f"{attempt} attempts"
            add_event(conn, msg["case_id"], now, "notification",
                      f"{who}: gave up after {why}: {error}")
            log.error("notification failed for good: %s: %s", who, error,
                      extra={"case": msg["case_id"]})


async def deliver(db: Database, config: CollectorConfig, msg: sqlite3.Row, clock: Clock) -> None:
    mail = email.build(config.smtp, msg["recipient"], msg["address"], msg["subject"], msg["body"],
                       f"<{msg['idem_key'].replace(':', '.')}@watchkeeper>", clock.now())
    try:
        reply = await asyncio.to_thread(email.send, config.smtp, mail)
        error = None
    except email.DeliveryError as exc:
        reply, error = "", exc
    record(db, msg, error, reply, clock.now())


def seconds_to_next_message(db: Database, now: float) -> float | None:
    nxt = db.conn.execute(
        "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'pending'"
        " UNION ALL SELECT MIN(lease_until) FROM outbox WHERE state = 'sending')").fetchone()[0]
    return None if nxt is None else nxt - now
