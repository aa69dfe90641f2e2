"""One collector's workers per database, and the leases a starting collector takes back.

The outbox leases a message to the sender handing it to its channel (outbox_worker.LEASE).
A sender that dies mid-send (SIGKILL, OOM, power cut) keeps its lease until it runs out, so
a page claimed just before a crash would wait minutes after the restart. The workers hold
an operating-system lock on the database for as long as they run; the system drops it when
the process dies, however it dies. Holding it proves no live sender holds any lease, so a
starting collector takes every lease back at once and sends those messages again.

Sending again is at least once: if the crash fell between the channel accepting a message
and the outbox recording it, the message goes out twice, with the same Message-ID (and the
same PagerDuty dedup_key) so the receiving end can tell.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from collector.casework import add_event
from collector.store.db import Database


class AlreadyRunning(RuntimeError):
    pass


class WorkerLock:
    """Held from construction until `release`, or until the process dies."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        # SQLite's own file lock: the same on every platform the collector runs on, and it
        # also excludes other connections within this process.
        self._conn = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            self._conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            self._conn.close()
            raise AlreadyRunning(f"another collector is already running on {database} (it"
                                 f" holds {self.path}); stop it first") from None

    def release(self) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


def take_back_leases(db: Database, now: float) -> int:
    """Make every message a dead sender was handing over due now; returns how many. Call
    only while holding the WorkerLock."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, case_id, channel, recipient, address, attempts"
                            " FROM outbox WHERE state = 'sending'").fetchall()
        for r in rows:
            conn.execute("UPDATE outbox SET state = 'pending', next_attempt_at = ?,"
                         " lease_until = NULL WHERE id = ?", (now, r["id"]))
            add_event(conn, r["case_id"], now, "notification",
                      f"{r['channel']} to {r['recipient']} <{r['address']}>: the collector"
                      f" stopped during attempt {r['attempts']}, before it knew whether the"
                      " message got through; sending it again now")
    return len(rows)
