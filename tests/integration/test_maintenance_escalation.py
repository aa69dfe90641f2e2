"""Maintenance windows end to end: heartbeats and rules through the real sweeper and ingest,
the maintenance, escalation and outbox workers driven as the collector's loops drive them,
with a fake clock over a real SQLite store and a real SMTP server.

The starter configuration's Severity 1 policy: at once, page ops-manager and tell the
customer's technical contact; after 2 hours unacknowledged, page the VP; hourly status to
the customer until closed."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from alerting.maintenance import Scope
from collector import (
    escalation_worker,
    maintenance_store,
    maintenance_worker,
    outbox_worker,
    sweeper,
)
from collector.api.payload import parse_report
from collector.config import CollectorConfig
from collector.enrolment import Device, create_token, enroll
from collector.ingest import store_report
from collector.store.db import Database
from tests.integration.test_query_plans import scans
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0  # Fri 2027-01-15 08:00 UTC
OPS, VP, CUSTOMER = "ops-manager@noc.example", "vp-operations@noc.example", "it@acme.example"
UTC = ZoneInfo("UTC")
DOWN = 330  # five missed heartbeats of 60 s, plus 30 s grace


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


class Fleet:
    """Enrolled devices whose agents report (or stay silent) on the fake clock."""

    def __init__(self, db: Database, config: CollectorConfig, clock: FakeClock) -> None:
        self.db, self.config, self.clock = db, config, clock
        self.devices: dict[str, tuple[Device, int]] = {}
        self.up: set[str] = set()  # those whose agents report every minute

    def enrol(self, *hostnames: str, customer: str = "acme", site: str | None = None) -> None:
        token = create_token(self.db, customer, len(hostnames), 3600, self.clock.now(), site)
        for name in hostnames:
            self.devices[name] = (enroll(self.db, token, name, self.config.heartbeat_for,
                                         self.clock.now())[0], 0)

    def report(self, name: str, transitions: list[dict] | None = None) -> None:
        device, seq = self.devices[name]
        now = self.clock.now()
        store_report(self.db, self.config, device, parse_report(
            {"seq": seq, "sent_at": now, "samples": [], "transitions": transitions or []}), now)
        self.devices[name] = (device, seq + 1)

    def id(self, name: str) -> str:
        return self.devices[name][0].id


async def run_workers(db: Database, config: CollectorConfig, clock: FakeClock,
                      fleet: Fleet | None = None) -> None:
    """One pass of each loop, in the order work flows between them."""
    now = clock.now()
    for name in sorted(fleet.up if fleet else ()):
        fleet.report(name)
    sweeper.sweep(db, config, 0.0, now)
    maintenance_worker.process_due(db, config, now)
    escalation_worker.fire_due(db, config, now)
    for msg in outbox_worker.claim_due(db, now, limit=100):
        await outbox_worker.deliver(db, config, msg, clock)


async def advance(fleet: Fleet, seconds: float, step: float = 60) -> None:
    """Move the clock on, running the loops every `step` seconds as the collector would."""
    end = fleet.clock.now() + seconds
    while fleet.clock.now() < end:
        fleet.clock.advance(min(step, end - fleet.clock.now()))
        await run_workers(fleet.db, fleet.config, fleet.clock, fleet)


def add_window(db: Database, scope: Scope, target: str, start: float, end: float,
               reason: str = "kernel patching") -> int:
    with db.transaction() as conn:
        return maintenance_store.add(conn, scope, target, start, end, None, UTC, reason,
                                     "alice", T0).id


def timeline(db: Database, case_id: int) -> list[str]:
    return [r["text"] for r in db.conn.execute(
        "SELECT text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


def case_of(db: Database, device_id: str) -> int:
    return db.conn.execute("SELECT id FROM cases WHERE device_id = ?",
                           (device_id,)).fetchone()[0]


def subjects(smtp: Controller, address: str) -> list[str]:
    return [m["Subject"] for m in smtp.handler.to(address)]


@pytest.fixture
def fleet(db: Database, config: CollectorConfig, clock: FakeClock) -> Fleet:
    fleet = Fleet(db, config, clock)
    fleet.enrol("srv1", "srv2", "srv3")
    return fleet


async def test_down_in_a_window_pages_nobody_then_one_summary_per_recipient(
        db: Database, config: CollectorConfig, clock: FakeClock, fleet: Fleet,
        smtp: Controller) -> None:
    window = add_window(db, Scope.CUSTOMER, "acme", T0 + 60, T0 + 3600)
    # All three fall silent; srv3 comes back inside the window and stays up.
    await advance(fleet, DOWN)
    assert db.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 3
    await advance(fleet, 600)
    fleet.up.add("srv3")
    await advance(fleet, 3600 - DOWN - 600 - 60)
    assert smtp.handler.messages == []  # a minute before the end: nobody paged yet

    await advance(fleet, 60)  # the window ends
    # ONE page to ops-manager, listing both cases that still fail, each with its own link.
    (page,) = smtp.handler.to(OPS)
    assert page["Subject"] == ("[watchkeeper] PAGE 2 cases still failing after maintenance"
                               " window #1 (kernel patching) (acme)")
    body = page.get_body().get_content()
    one, two, three = (case_of(db, fleet.id(n)) for n in ("srv1", "srv2", "srv3"))
    assert f"#{one}" in body and "srv1 is not reporting" in body
    assert f"#{two}" in body and "srv2 is not reporting" in body
    assert "srv3" not in body  # it recovered inside the window
    assert body.count(f"{config.public_url}/ack/") == 2
    # ONE notice to the customer's technical contact, listing the same two.
    (notice,) = smtp.handler.to(CUSTOMER)
    notice_body = notice.get_body().get_content()
    assert f"#{one}" in notice_body and f"#{two}" in notice_body and "srv3" not in notice_body
    assert "/ack/" not in notice_body
    assert smtp.handler.to(VP) == []

    assert any("not paging" in e and f"maintenance window #{window}" in e
               for e in timeline(db, one))
    assert any("the case was already resolved, so nobody is paged" in e
               for e in timeline(db, three))
    assert any("in the maintenance summary to ops-manager <ops-manager@noc.example> by email"
               in e for e in timeline(db, two))

    # The customer's hourly status and the VP's page, 2 hours on, run case by case.
    await advance(fleet, 3600)
    assert len([s for s in subjects(smtp, CUSTOMER) if s.startswith("[watchkeeper] Status")]) == 2
    assert smtp.handler.to(VP) == []
    await advance(fleet, 3600)
    assert sorted(subjects(smtp, VP)) == [
        f"[watchkeeper] PAGE Severity 1 case #{one}: srv1 is not reporting (acme)",
        f"[watchkeeper] PAGE Severity 1 case #{two}: srv2 is not reporting (acme)"]
    # Never a page per case for the first step.
    assert len(smtp.handler.to(OPS)) == 1


async def test_a_device_window_quiets_that_device_only(
        db: Database, fleet: Fleet, smtp: Controller) -> None:
    add_window(db, Scope.DEVICE, fleet.id("srv1"), T0, T0 + 7200)
    fleet.up.add("srv3")
    await advance(fleet, DOWN)
    assert subjects(smtp, OPS) == [
        f"[watchkeeper] PAGE Severity 1 case #{case_of(db, fleet.id('srv2'))}: srv2 is not"
        " reporting (acme)"]


async def test_a_rule_firing_in_the_window_is_in_the_summary_if_still_firing(
        db: Database, config: CollectorConfig, clock: FakeClock, fleet: Fleet,
        smtp: Controller) -> None:
    add_window(db, Scope.DEVICE, fleet.id("srv1"), T0, T0 + 600)
    fleet.up.update(("srv1", "srv2", "srv3"))  # all report; srv1's rule keeps firing
    fleet.report("srv1", [{"rule": "raid_degraded", "state": "firing", "at": T0,
                           "value": 1.0, "severity": 1, "summary": "RAID array degraded"}])
    await advance(fleet, 540)
    assert smtp.handler.messages == []
    await advance(fleet, 60)
    (page,) = smtp.handler.to(OPS)
    assert page["Subject"].startswith("[watchkeeper] PAGE 1 case still failing after")
    assert "srv1: RAID array degraded" in page.get_body().get_content()


async def test_ending_twice_or_after_a_restart_sends_nothing_twice(
        db: Database, config: CollectorConfig, clock: FakeClock, fleet: Fleet,
        smtp: Controller) -> None:
    add_window(db, Scope.CUSTOMER, "acme", T0, T0 + 3600)
    await advance(fleet, DOWN)
    clock.advance(3600)
    now = clock.now()
    first = maintenance_worker.process_due(db, config, now)
    assert [(r.held, r.failing, r.messages) for r in first] == [(3, 3, 2)]
    queued = db.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert maintenance_worker.process_due(db, config, now) == []
    restarted = Database(config.database)  # a new process on the same file
    assert maintenance_worker.process_due(restarted, config, now + 5) == []
    assert db.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == queued
    await run_workers(restarted, config, clock)
    await run_workers(restarted, config, clock)
    assert len(smtp.handler.to(OPS)) == 1 and len(smtp.handler.to(CUSTOMER)) == 1
    # The steps due at once of each case are covered by the summary, once.
    covered = db.conn.execute("SELECT COUNT(*) FROM escalation_timers WHERE state = 'covered'"
                              ).fetchone()[0]
    assert covered == 3 * 2  # three cases, two steps due at once


async def test_overlapping_windows_hand_the_case_on_and_page_at_the_last_end(
        db: Database, fleet: Fleet, smtp: Controller) -> None:
    add_window(db, Scope.DEVICE, fleet.id("srv1"), T0, T0 + 1800, "disk swap")
    add_window(db, Scope.CUSTOMER, "acme", T0 + 1200, T0 + 3600, "core switch upgrade")
    fleet.up.update(("srv2", "srv3"))
    await advance(fleet, 3540)
    one = case_of(db, fleet.id("srv1"))
    assert smtp.handler.messages == []
    assert any(e.startswith("Maintenance window #1 (disk swap) ended at 2027-01-15 08:30:00")
               and e.endswith("the case is still in maintenance window #2 (core switch"
                              " upgrade), until 2027-01-15 09:00:00 UTC: still not paging")
               for e in timeline(db, one))
    await advance(fleet, 60)
    (page,) = smtp.handler.to(OPS)
    assert "after maintenance window #2 (core switch upgrade)" in page["Subject"]


async def test_back_after_the_window_it_resolved_in_pages_afresh(
        db: Database, fleet: Fleet, smtp: Controller) -> None:
    add_window(db, Scope.DEVICE, fleet.id("srv1"), T0, T0 + 1200)
    fleet.up.update(("srv2", "srv3"))
    await advance(fleet, DOWN)
    fleet.up.add("srv1")  # back inside the window: its case resolves by itself
    await advance(fleet, 1200 - DOWN)
    assert smtp.handler.to(OPS) == []
    # It goes silent again after the window, within the flap window (30 min): it never
    # paged, so this is news, not the same episode quietly resumed.
    fleet.up.discard("srv1")
    await advance(fleet, DOWN + 60)
    one = case_of(db, fleet.id("srv1"))
    assert subjects(smtp, OPS) == [
        f"[watchkeeper] PAGE Severity 1 case #{one}: srv1 is not reporting (acme)"]


async def test_a_site_window_quiets_the_devices_of_that_site(
        db: Database, config: CollectorConfig, clock: FakeClock, smtp: Controller) -> None:
    fleet = Fleet(db, config, clock)
    fleet.enrol("leeds1", site="leeds")
    fleet.enrol("york1", site="york")
    add_window(db, Scope.SITE, "leeds", T0, T0 + 7200)
    await advance(fleet, DOWN)
    york = case_of(db, fleet.id("york1"))
    assert [s.split(":")[0] for s in subjects(smtp, OPS)] == [
        f"[watchkeeper] PAGE Severity 1 case #{york}"]


async def test_a_whole_site_silent_in_its_window_pages_once_when_it_ends(
        db: Database, config: CollectorConfig, clock: FakeClock, smtp: Controller) -> None:
    fleet = Fleet(db, config, clock)
    fleet.enrol("leeds1", "leeds2", "leeds3", site="leeds")
    add_window(db, Scope.SITE, "leeds", T0, T0 + 3600)
    await advance(fleet, 3540)
    assert smtp.handler.messages == []
    await advance(fleet, 60)
    (page,) = smtp.handler.to(OPS)  # the site case only: its device cases escalate there
    assert page["Subject"].startswith("[watchkeeper] PAGE 1 case still failing after")
    assert "Site leeds is unreachable" in page.get_body().get_content()


async def test_the_trigger_and_end_paths_read_only_indexes(
        db: Database, fleet: Fleet, smtp: Controller) -> None:
    add_window(db, Scope.CUSTOMER, "acme", T0, T0 + 600)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    await advance(fleet, 660)
    maintenance_worker.seconds_to_next_change(db, fleet.clock.now())
    db.conn.set_trace_callback(None)
    assert scans(db.conn, [s for s in statements if "maintenance" in s or "suppressed" in s]
                 ) == []
