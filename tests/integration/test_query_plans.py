"""Every query the collector runs on its hot paths reads an index: nothing scans a table
that grows with devices, cases or messages (SPEC 4: no scan when nothing is due)."""

from __future__ import annotations

import sqlite3

from collector import casework, escalation_worker, outbox_worker, sweeper
from collector.api.payload import parse_report
from collector.config import CollectorConfig
from collector.enrolment import authenticate, create_token, enroll
from collector.ingest import store_report
from collector.store.db import Database
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
# One row, by design.
SMALL_TABLES = {"collector_state"}


def scans(conn: sqlite3.Connection, statements: list[str]) -> list[str]:
    found = []
    for sql in statements:
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue
        for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"):
            detail = row[3]
            # SQLite reads a table without an index as "SCAN t", and for MIN() without a
            # usable index as a bare "SEARCH t"; with an index the line says USING.
            table = detail.split()[1] if detail.startswith(("SCAN ", "SEARCH ")) else ""
            # A scan of a subquery's rows is fine; a scan of a table is not.
            if table and "USING" not in detail and not table.startswith("(") \
                    and table not in SMALL_TABLES:
                found.append(f"{detail}  <-  {sql}")
    return found


async def test_no_hot_path_query_scans_a_table(config: CollectorConfig, smtp) -> None:
    db = Database(config.database)
    clock = FakeClock(T0)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)

    token = create_token(db, "acme", 3, 3600, T0)
    creds = [enroll(db, token, f"srv{i}", config.heartbeat_for, T0)[1] for i in range(3)]
    fire = {"rule": "cpu_high", "state": "firing", "at": T0, "value": 97.0, "severity": 2,
            "summary": "CPU at 97%"}
    for seq, credential in enumerate(creds):
        store_report(db, config, authenticate(db, credential), parse_report(
            {"seq": seq, "sent_at": T0, "samples": [], "transitions": [fire]}), T0)
    # Events, an inventory (new, repeated, changed) and spool drops: the latest-inventory
    # lookup runs once per report that carries one.
    event = {"at": T0, "log": "System", "source": "disk", "id": 7, "level": "error",
             "message": "bad block"}
    for seq, digest in [(10, "aa"), (11, "aa"), (12, "bb")]:
        for credential in creds:
            store_report(db, config, authenticate(db, credential), parse_report(
                {"seq": seq, "sent_at": T0, "events": [event],
                 "inventory": {"at": T0, "hash": digest, "doc": {"os": {"name": digest}}},
                 "dropped": {"samples": 5}}), T0)
    clock.advance(400)
    sweeper.sweep(db, config, 0.0, clock.now())
    sweeper.seconds_to_next_deadline(db, clock.now())
    escalation_worker.fire_due(db, config, clock.now())
    escalation_worker.seconds_to_next_timer(db, clock.now())
    for msg in outbox_worker.claim_due(db, clock.now()):
        await outbox_worker.deliver(db, config, msg, clock)
    outbox_worker.seconds_to_next_message(db, clock.now())
    casework.acknowledge(db, 1, "ops-manager", "cli", clock.now())
    casework.resolve(db, 1, "ops-manager", "done", clock.now())
    casework.close(db, 1, "ops-manager", clock.now())

    db.conn.set_trace_callback(None)
    assert len(statements) > 50
    assert scans(db.conn, statements) == []
