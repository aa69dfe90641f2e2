"""Site outage cases: one "site unreachable" case per outage, with the device cases of the
site attached to it, so the outage pages once.

alerting/site_outage.py decides; this module reads a site's devices and writes the cases,
inside the caller's transaction (the sweeper's when a device goes down, ingest's when one
reports again).

An attached device case escalates through its site case only: attaching cancels its own
pending steps and unsent messages. What it had already sent before the site outage was
recognised (the first devices of a site can go down before the rest count) stays sent, and
its timeline says so.
"""

from __future__ import annotations

import logging
import sqlite3

from alerting.cases import CaseAction, CaseSource, CaseState, can
from alerting.messages import clean, when
from alerting.policy import Policy
from alerting.site_outage import SiteDevice, SiteVerdict, site_verdict
from collector import casework
from collector.config import CollectorConfig, Recovery
from collector.store.db import Database

log = logging.getLogger(__name__)
# Names listed in a timeline entry; the rest are counted.
NAMES_SHOWN = 10


def site_key(customer: str, site: str) -> str:
    return f"site:{customer}:{site}"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def judge(conn: sqlite3.Connection, device: sqlite3.Row, intake_since: float,
          now: float) -> tuple[SiteVerdict, dict[str, str]]:
    """The verdict on the site of `device`, which is going down now, and the hostnames of
    the site's devices by id."""
    rows = conn.execute(
        "SELECT id, hostname, last_seen, interval, grace FROM devices WHERE customer = ?"
        " AND site = ? AND revoked_at IS NULL", (device["customer"], device["site"])).fetchall()
    # Silent from the first missed deadline, counted as the sweeper counts it: from the
    # collector's own start when it was down (nobody listened before).
    devices = [SiteDevice(r["id"], r["last_seen"],
                          max(r["last_seen"], intake_since) + r["interval"] + r["grace"])
               for r in rows]
    span = device["interval"] + device["grace"]
    verdict = site_verdict(devices, device["id"], now, span)
    return verdict, {r["id"]: clean(r["hostname"]) for r in rows}


def site_case(db: Database, config: CollectorConfig, customer: str, site: str,
              verdict: SiteVerdict, names: dict[str, str], now: float) -> casework.Outcome:
    """The site's case: opened, or active again after it resolved (`opened` True: a new
    episode, whose escalation runs now), or the one already being escalated."""
    key = site_key(customer, site)
    row = casework.find_active(db.conn, key)
    if row is not None and row["state"] != CaseState.RESOLVED:
        return casework.Outcome(row["id"], opened=False)
    silent = _names([names[i] for i in verdict.silent])
    outcome = casework.open_or_join(db, casework.Trigger(
        severity=1, customer=customer, tier=config.tier_of(customer), device_id=None,
        title=f"Site {site} is unreachable", source=CaseSource.HEARTBEAT, dedup_key=key,
        evidence=f"{verdict.describe()} at site {site} went silent together, last heard"
                 f" from {when(verdict.since)}: {silent}", site=site), config.policies, now)
    log.warning("site %s of %s unreachable: %s silent together; case %d", site, customer,
                verdict.describe(), outcome.case_id, extra={"case": outcome.case_id})
    return casework.Outcome(outcome.case_id, opened=True)


def attach(conn: sqlite3.Connection, case: sqlite3.Row, site_case_id: int, now: float) -> None:
    """Make `case` part of the site case: its own escalation stops, the site case's runs."""
    if case["parent_case_id"] == site_case_id:
        return
    case_id = case["id"]
    conn.execute("UPDATE cases SET parent_case_id = ? WHERE id = ?", (site_case_id, case_id))
    steps, unsent = casework.cancel_all(conn, case_id, claimed=True)
    sent = [f"{r['channel']} to {r['recipient']} at {when(r['sent_at'])}" for r in conn.execute(
        "SELECT channel, recipient, sent_at FROM outbox WHERE case_id = ? AND state = 'sent'"
        " ORDER BY sent_at", (case_id,))]
    text = (f"Part of site outage case #{site_case_id}: escalated there, not on its own"
            f" ({steps} pending step(s) and {unsent} unsent message(s) cancelled)")
    if sent:
        text += (f". Sent before the site outage was recognised, and not recalled:"
                 f" {_names(sent)}")
    casework.add_event(conn, case_id, now, "site", text)
    casework.add_event(conn, site_case_id, now, "site",
                       f"Case #{case_id} attached: {clean(case['title'])}")


def stand_alone(conn: sqlite3.Connection, case: sqlite3.Row, now: float) -> None:
    """A case once attached to a site case whose device went down again on its own: it is
    escalated on its own again, from its first step, unless steps of its own are pending."""
    if case["parent_case_id"] is None:
        return
    case_id = case["id"]
    conn.execute("UPDATE cases SET parent_case_id = NULL WHERE id = ?", (case_id,))
    pending = conn.execute("SELECT COUNT(*) FROM escalation_timers WHERE case_id = ?"
                           " AND state = 'pending'", (case_id,)).fetchone()[0]
    text = f"No longer part of site outage case #{case['parent_case_id']}: the device is down" \
           " on its own"
    if not pending and case["policy"]:
        policy = Policy.from_snapshot(case["policy"])
        casework.start_escalation(conn, case_id, policy, now)
        text += f"; escalated on its own from step 1 of {policy.name!r}"
    casework.add_event(conn, case_id, now, "site", text)


def device_back(db: Database, config: CollectorConfig, case: sqlite3.Row,
                now: float) -> None:
    """The device of `case` reports again. If the case is part of a site case that is
    still active, say so there; once every attached device reports again, the site case
    records its recovery (and resolves, per the recovery policy)."""
    parent = case["parent_case_id"]
    if parent is None:
        return
    with db.transaction() as conn:
        site = conn.execute("SELECT * FROM cases WHERE id = ?", (parent,)).fetchone()
        if site["state"] in (CaseState.RESOLVED, CaseState.CLOSED):
            return
        members = conn.execute(
            "SELECT DISTINCT d.id, d.hostname, d.status FROM cases c JOIN devices d"
            " ON d.id = c.device_id WHERE c.parent_case_id = ?", (parent,)).fetchall()
        silent = [clean(m["hostname"]) for m in members if m["status"] == "down"]
        host = next(clean(m["hostname"]) for m in members if m["id"] == case["device_id"])
        text = f"{host} reporting again (case #{case['id']}): {len(members) - len(silent)}" \
               f" of {len(members)} attached device(s) back"
        casework.add_event(conn, parent, now, "site",
                           f"{text}; still silent: {_names(silent)}" if silent else text)
        if silent:
            return
        casework.add_event(conn, parent, now, "recovery",
                           "Every attached device reports again; the site is reachable")
        if config.recovery is Recovery.RESOLVE and can(CaseState(site["state"]),
                                                       CaseAction.RESOLVE):
            casework.resolve(db, parent, "watchkeeper", "site reachable again", now,
                             automatic=True)
        log.info("site case %d: every device reporting again", parent, extra={"case": parent})
