"""Storing one report: de-duplicated by sequence number, heartbeat, samples, transitions,
events, inventory changes and the agent's spool drops.

All of it in one transaction: a report is stored whole or not at all.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass

from alerting.cases import CaseAction, CaseSource, CaseState, can
from alerting.messages import clean
from collector import casework, site_cases
from collector.api.payload import InventoryDoc, Report
from collector.config import CollectorConfig, Recovery
from collector.enrolment import Device
from collector.heartbeats import DeviceStatus
from collector.store.db import Database
from collector.sweeper import heartbeat_dedup_key
from rules.model import Transition, TransitionKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    duplicate: bool


def rule_dedup_key(device_id: str, t: Transition) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(t.labels.items()))
    return f"{device_id}:rule:{t.rule}:{labels}"


def _transition(db: Database, config: CollectorConfig, device: Device, t: Transition,
                now: float) -> None:
    key = rule_dedup_key(device.id, t)
    summary = clean(t.summary, 500)
    if t.kind is TransitionKind.FIRING:
        outcome = casework.rule_fired(db, casework.Trigger(
            severity=t.severity, customer=device.customer,
            tier=config.tier_of(device.customer), device_id=device.id,
            title=f"{clean(device.hostname)}: {summary}", source=CaseSource.RULE, dedup_key=key,
            evidence=f"rule {t.rule} fired on the agent, value {t.value:g}"), config.policies, now)
        log.warning("rule %s firing; case %d", t.rule, outcome.case_id,
                    extra={"device": device.id, "case": outcome.case_id})
        return
    case_id = casework.rule_cleared(db, key, f"Rule {t.rule} cleared on the agent, value"
                                             f" {t.value:g}", now)
    if case_id is not None:
        log.info("rule %s cleared; case %d", t.rule, case_id,
                 extra={"device": device.id, "case": case_id})


def _recovered(db: Database, config: CollectorConfig, device: Device, now: float) -> None:
    row = casework.find_active(db.conn, heartbeat_dedup_key(device.id))
    log.info("device reporting again", extra={"device": device.id})
    if row is None:
        return
    casework.add_event(db.conn, row["id"], now, "recovery", "Heartbeats received again; device up")
    if config.recovery is Recovery.RESOLVE and can(CaseState(row["state"]), CaseAction.RESOLVE):
        casework.resolve(db, row["id"], "watchkeeper", "device reporting again", now)
    site_cases.device_back(db, config, row, now)


def _inventory(conn: sqlite3.Connection, device: Device, inv: InventoryDoc, now: float) -> bool:
    """Keep the document if it differs from the device's latest one; say whether it did."""
    latest = conn.execute(
        "SELECT hash FROM inventory WHERE device_id = ? ORDER BY id DESC LIMIT 1",
        (device.id,)).fetchone()
    if latest is not None and latest["hash"] == inv.hash:
        return False  # the daily repeat of an unchanged configuration
    conn.execute(
        "INSERT INTO inventory (device_id, at, hash, doc, received_at) VALUES (?,?,?,?,?)",
        (device.id, inv.at, inv.hash, inv.text(), now))
    return True


def store_report(db: Database, config: CollectorConfig, device: Device, report: Report,
                 now: float) -> Stored:
    with db.transaction() as conn:
        fresh = conn.execute(
            "INSERT OR IGNORE INTO reports (device_id, seq, received_at, sent_at, samples)"
            " VALUES (?,?,?,?,?)",
            (device.id, report.seq, now, report.sent_at, len(report.samples))).rowcount
        if not fresh:
            # Already stored: acknowledge so the agent drops it, but it proves nothing
            # about liveness now, so the heartbeat is left alone.
            return Stored(duplicate=True)
        conn.executemany(
            "INSERT INTO samples (device_id, at, metric, labels, value) VALUES (?,?,?,?,?)",
            [(device.id, s.at, s.metric, json.dumps(dict(s.labels), sort_keys=True), s.value)
             for s in report.samples])
        conn.executemany(
            "INSERT INTO events (device_id, at, log, source, event_id, level, message,"
            " received_at) VALUES (?,?,?,?,?,?,?,?)",
            [(device.id, e.at, e.log, e.source, e.event_id, e.level.value, e.message, now)
             for e in report.events])
        changed = report.inventory is not None and _inventory(conn, device, report.inventory,
                                                              now)
        d = report.dropped
        if d.any:
            conn.execute(
                "INSERT INTO spool_drops (device_id, seq, received_at, samples, events,"
                " transitions, reports) VALUES (?,?,?,?,?,?,?)",
                (device.id, report.seq, now, d.samples, d.events, d.transitions, d.reports))
        prev = conn.execute("SELECT status FROM devices WHERE id = ?", (device.id,)).fetchone()
        hb = device.heartbeat
        conn.execute(
            "UPDATE devices SET last_seen = ?, last_seq = MAX(COALESCE(last_seq, -1), ?),"
            " status = 'up', missed = 0, next_deadline = ? WHERE id = ?",
            (now, report.seq, now + hb.interval + hb.grace, device.id))
        if prev["status"] == DeviceStatus.DOWN:
            _recovered(db, config, device, now)
        for t in report.transitions:
            _transition(db, config, device, t, now)
    # Logged once committed, so the log never reports what the store does not hold.
    if changed:
        log.info("configuration inventory changed; new version kept", extra={"device": device.id})
    if d.any:
        log.warning("agent spool overflowed: dropped %s before report %d", d.describe(),
                    report.seq, extra={"device": device.id, "seq": report.seq})
    return Stored(duplicate=False)
