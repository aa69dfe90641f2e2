"""Finds devices whose heartbeat deadline has passed, in deadline order, and opens a
Severity 1 case for those that are down. Touches only what is due.

A device at a site most of whose devices went silent with it joins the site's one
"site unreachable" case instead of paging on its own (collector/site_cases.py)."""

from __future__ import annotations

import logging
import sqlite3

from alerting.cases import CaseSource
from alerting.messages import when
from collector import site_cases
from collector.casework import Outcome, Trigger, find_active, open_or_join
from collector.config import CollectorConfig
from collector.heartbeats import DeviceStatus, HeartbeatPolicy, liveness
from collector.store.db import Database

log = logging.getLogger(__name__)
BATCH = 500


def heartbeat_dedup_key(device_id: str) -> str:
    return f"{device_id}:heartbeat"


# The WHERE repeats the partial index's condition, or SQLite would scan every device.
NEXT_DEADLINE = "SELECT MIN(next_deadline) FROM devices WHERE next_deadline IS NOT NULL"


def sweep(db: Database, config: CollectorConfig, intake_since: float, now: float) -> int:
    """Re-judge every device whose deadline is due; return how many cases were opened."""
    opened = 0
    rows = db.conn.execute(
        "SELECT * FROM devices WHERE next_deadline IS NOT NULL AND next_deadline <= ?"
        " ORDER BY next_deadline LIMIT ?", (now, BATCH)).fetchall()
    for row in rows:
        policy = HeartbeatPolicy(row["interval"], row["grace"], row["missed_before_case"])
        lv = liveness(row["last_seen"], intake_since, policy, now)
        with db.transaction() as conn:
            conn.execute("UPDATE devices SET status = ?, missed = ?, next_deadline = ?"
                         " WHERE id = ?", (lv.status.value, lv.missed, lv.next_deadline, row["id"]))
            if lv.status is DeviceStatus.DOWN and row["status"] != DeviceStatus.DOWN:
                outcome = _down(db, config, row, Trigger(
                    severity=1, customer=row["customer"],
                    tier=config.tier_of(row["customer"]), device_id=row["id"],
                    title=f"{row['hostname']} is not reporting",
                    source=CaseSource.HEARTBEAT, dedup_key=heartbeat_dedup_key(row["id"]),
                    evidence=f"{lv.missed} heartbeats missed in a row (every"
                             f" {policy.interval:g}s); last heard from {when(row['last_seen'])}",
                ), intake_since, now)
                opened += outcome.opened
                log.warning("device down after %d missed heartbeats; case %d", lv.missed,
                            outcome.case_id, extra={"device": row["id"], "case": outcome.case_id})
            elif lv.status is DeviceStatus.LATE and lv.missed != row["missed"]:
                log.info("device late: %d heartbeat(s) missed", lv.missed,
                         extra={"device": row["id"]})
    return opened


def _down(db: Database, config: CollectorConfig, device: sqlite3.Row, trigger: Trigger,
          intake_since: float, now: float) -> Outcome:
    """Open (or join) the device's case; if most of its site went silent with it, the case
    is attached to the site's case, which pages once for all of them."""
    if device["site"] is None:
        return open_or_join(db, trigger, config.policies, now)
    verdict, names = site_cases.judge(db.conn, device, intake_since, now)
    if not verdict.out:
        outcome = open_or_join(db, trigger, config.policies, now)
        site_cases.stand_alone(db.conn, _case(db, outcome), now)
        return outcome
    site = site_cases.site_case(db, config, device["customer"], device["site"], verdict,
                                names, now)
    outcome = open_or_join(db, trigger, config.policies, now)
    site_cases.attach(db.conn, _case(db, outcome), site.case_id, now)
    if site.opened:
        # Devices of the outage that went down before it counted as one have cases of
        # their own already: they belong to the site case too.
        for other in verdict.silent:
            case = find_active(db.conn, heartbeat_dedup_key(other))
            if other != device["id"] and case is not None:
                site_cases.attach(db.conn, case, site.case_id, now)
    return outcome


def _case(db: Database, outcome: Outcome) -> sqlite3.Row:
    return db.conn.execute("SELECT * FROM cases WHERE id = ?", (outcome.case_id,)).fetchone()


def seconds_to_next_deadline(db: Database, now: float) -> float | None:
    nxt = db.conn.execute(NEXT_DEADLINE).fetchone()[0]
    return None if nxt is None else nxt - now
