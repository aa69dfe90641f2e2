"""SLA clocks on real cases: a fake clock over a real SQLite store, the SLA worker, the
outbox and a real SMTP server; the targets are the starter sla.toml's."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from alerting.cases import CaseSource, HoldReason
from collector import casework, outbox_worker, sla_worker
from collector.app import create_app
from collector.casework import Trigger
from collector.cli import format_timeline
from collector.config import CollectorConfig, load_config
from collector.store.db import Database
from watchkeeper.clock import FakeClock
from watchkeeper.tomlconf import ConfigError

from .test_query_plans import scans

LONDON = ZoneInfo("Europe/London")
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=LONDON).timestamp()  # a Wednesday
MIN = 60.0
HOUR = 3600.0
# The premium tier's Severity 1 target: respond in 15 min, resolve in 4 h, administrative
# escalation at 75% of each.
ADMIN_RESPONSE, RESPONSE_DUE = T0 + 11 * MIN + 15, T0 + 15 * MIN
RESPONSE_BREACH = "SLA breached: the 15 min response target (wall clock) has passed"
ADMIN_TEXT = ("Administrative escalation: 75% of the 15 min response target (wall clock)"
              " used without a response")
RESOLUTION_BREACH = "SLA breached: the 4 h resolution target (wall clock) has passed"


@pytest.fixture
def config(config_dir: Path) -> CollectorConfig:
    """The starter configuration with a premium customer beside the standard one."""
    with (config_dir / "collector.toml").open("a") as fh:
        fh.write('\n[[customer]]\nname = "globex"\ntier = "premium"\n')
    return load_config(config_dir / "collector.toml")


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


def open_case(db: Database, config: CollectorConfig, customer: str, severity: int,
              at: float) -> int:
    outcome = casework.open_or_join(db, Trigger(
        severity=severity, customer=customer, tier=config.tier_of(customer), device_id=None,
        title="srv1 is not reporting", source=CaseSource.HEARTBEAT, dedup_key=f"{customer}:srv1",
        evidence="5 heartbeats missed in a row"), config.policies, at)
    # The collector's SLA loop runs within a second of any case opening.
    sla_worker.fire_due(db, config, at)
    return outcome.case_id


def sla_timeline(db: Database, case_id: int) -> list[tuple[float, str]]:
    """(when, text) of the case's SLA entries other than the clock's start."""
    return [(r["at"], r["text"]) for r in db.conn.execute(
        "SELECT at, text FROM case_events WHERE case_id = ? AND kind = 'sla'"
        " AND text NOT LIKE 'SLA clock started%' ORDER BY id", (case_id,))]


async def send_outbox(db: Database, config: CollectorConfig, clock: FakeClock) -> None:
    for msg in outbox_worker.claim_due(db, clock.now()):
        await outbox_worker.deliver(db, config, msg, clock)


async def test_premium_severity_1_unanswered_is_escalated_at_75_percent_then_breached(
        db: Database, config: CollectorConfig, smtp: Controller) -> None:
    clock = FakeClock(T0)
    case = open_case(db, config, "globex", 1, T0)
    clock.advance(11 * MIN + 14)
    sla_worker.fire_due(db, config, clock.now())
    assert sla_timeline(db, case) == []

    clock.advance(1)  # 11 min 15 s: 75% of 15 min
    assert sla_worker.fire_due(db, config, clock.now()) == 1  # one email, to ops-manager
    assert sla_timeline(db, case) == [(ADMIN_RESPONSE, ADMIN_TEXT),
                                      (ADMIN_RESPONSE, "Telling ops-manager"
                                       " <ops-manager@noc.example> by email")]
    await send_outbox(db, config, clock)
    (mail,) = smtp.handler.to("ops-manager@noc.example")
    assert mail["Subject"] == ("[watchkeeper] SLA escalation: Severity 1 case #1: srv1 is not"
                               " reporting (globex)")
    body = mail.get_body().get_content()
    assert ADMIN_TEXT in body and "response due 09:15 (in 3 min)" in body

    clock.advance(3 * MIN + 45)  # 15 min
    sla_worker.fire_due(db, config, clock.now())
    assert (RESPONSE_DUE, RESPONSE_BREACH) in sla_timeline(db, case)
    await send_outbox(db, config, clock)
    assert [m["Subject"].split(":")[0] for m in smtp.handler.to("ops-manager@noc.example")] \
        == ["[watchkeeper] SLA escalation", "[watchkeeper] SLA breached"]

    # Another pass, or an acknowledgement now, records nothing twice.
    before = sla_timeline(db, case)
    sla_worker.fire_due(db, config, clock.now())
    casework.acknowledge(db, case, "ops-manager", "cli", clock.now())
    sla_worker.fire_due(db, config, clock.now())
    assert sla_timeline(db, case) == before
    assert "responded 09:15 (under a minute late)" in format_timeline(config, case, clock.now())


async def test_acknowledged_in_time_no_breach(db: Database, config: CollectorConfig) -> None:
    clock = FakeClock(T0)
    case = open_case(db, config, "globex", 1, T0)
    clock.advance(10 * MIN)
    casework.acknowledge(db, case, "ops-manager", "cli", clock.now())
    for _ in range(6):  # look every 10 minutes for an hour
        clock.advance(10 * MIN)
        sla_worker.fire_due(db, config, clock.now())
    assert sla_timeline(db, case) == []
    assert db.conn.execute("SELECT COUNT(*) FROM outbox WHERE idem_key LIKE '%:sla:%'"
                           ).fetchone()[0] == 0
    shown = format_timeline(config, case, clock.now())
    assert "SLA (wall clock, Europe/London): responded 09:10 (on time); resolution due 13:00" \
        in shown
    # What remains is the resolution clock: its administrative escalation at 3 h.
    assert db.conn.execute("SELECT due_at FROM sla_timers WHERE case_id = ?",
                           (case,)).fetchone()[0] == T0 + 3 * HOUR


def test_business_hours_case_opened_friday_evening_is_due_monday(
        db: Database, config: CollectorConfig) -> None:
    friday_5pm = datetime(2026, 6, 12, 17, 0, tzinfo=LONDON).timestamp()
    # acme is a standard-tier customer: Severity 2 is 4 working hours, 09:00-17:30 in London.
    case = open_case(db, config, "acme", 2, friday_5pm)
    shown = format_timeline(config, case, friday_5pm + MIN)
    assert "SLA (business hours, Europe/London): response due Mon 12:30" in shown
    assert "resolution due Tue 17:00" in shown
    monday_1230 = datetime(2026, 6, 15, 12, 30, tzinfo=LONDON).timestamp()
    assert db.conn.execute("SELECT sla_response_due FROM cases WHERE id = ?",
                           (case,)).fetchone()[0] == monday_1230
    # Nothing happens over the weekend: the administrative escalation (3 working hours) is
    # Monday 11:30.
    assert db.conn.execute("SELECT due_at FROM sla_timers WHERE case_id = ?",
                           (case,)).fetchone()[0] == monday_1230 - HOUR


@pytest.mark.parametrize(("reason", "resolution_due"), [
    # Waiting for the customer stops the resolution clock for the 2 hours of the hold ...
    (HoldReason.AWAITING_CUSTOMER, T0 + 6 * HOUR),
    # ... waiting for our own fix does not.
    (HoldReason.PENDING_FIX, T0 + 4 * HOUR),
])
def test_a_hold_awaiting_the_customer_pauses_the_resolution_clock(
        db: Database, config: CollectorConfig, reason: HoldReason,
        resolution_due: float) -> None:
    case = open_case(db, config, "globex", 1, T0)
    casework.acknowledge(db, case, "ops-manager", "cli", T0 + 5 * MIN)
    casework.hold(db, case, reason, "ops-manager", T0 + HOUR)
    if reason is HoldReason.AWAITING_CUSTOMER:
        assert "resolution clock paused (awaiting customer)" in format_timeline(
            config, case, T0 + 2 * HOUR)
        assert db.conn.execute("SELECT sla_resolution_due FROM cases WHERE id = ?",
                               (case,)).fetchone()[0] is None
    casework.resume(db, case, "ops-manager", T0 + 3 * HOUR)
    assert db.conn.execute("SELECT sla_resolution_due FROM cases WHERE id = ?",
                           (case,)).fetchone()[0] == resolution_due
    for hours in (4, 5, 6):
        sla_worker.fire_due(db, config, T0 + hours * HOUR)
    assert (resolution_due, RESOLUTION_BREACH) in sla_timeline(db, case)


def test_a_retrigger_starts_the_clocks_again_from_the_new_trigger(
        db: Database, config: CollectorConfig) -> None:
    case = open_case(db, config, "globex", 1, T0)
    casework.acknowledge(db, case, "ops-manager", "cli", T0 + 5 * MIN)
    casework.resolve(db, case, "ops-manager", "restarted the agent", T0 + 10 * MIN)
    again = T0 + HOUR
    assert open_case(db, config, "globex", 1, again) == case  # the same case, a new episode
    assert db.conn.execute("SELECT sla_response_due FROM cases WHERE id = ?",
                           (case,)).fetchone()[0] == again + 15 * MIN
    sla_worker.fire_due(db, config, again + 15 * MIN)
    restarted, *events = sla_timeline(db, case)
    assert restarted[1].startswith("SLA clock restarted for the new episode")
    assert [(at, text) for at, text in events if "Telling" not in text] == [
        (again + 11 * MIN + 15, ADMIN_TEXT), (again + 15 * MIN, RESPONSE_BREACH)]


async def test_breach_during_a_collector_outage_is_dated_at_the_deadline(
        config: CollectorConfig, aiohttp_client, smtp: Controller) -> None:
    db = Database(config.database)
    case = open_case(db, config, "globex", 1, T0)
    db.close()
    # The collector stops just after the case opens, and is back two hours later.
    clock = FakeClock(T0 + 2 * HOUR)
    client: TestClient = await aiohttp_client(create_app(config, clock))
    db = Database(config.database)

    def sla_mail() -> list:
        return [m for m in smtp.handler.to("ops-manager@noc.example") if "SLA" in m["Subject"]]

    deadline = time.monotonic() + 10
    while not sla_mail() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await client.close()
    # Both events once each, dated when they happened, not when the collector came back ...
    assert sla_timeline(db, case) == [
        (ADMIN_RESPONSE, ADMIN_TEXT), (RESPONSE_DUE, RESPONSE_BREACH),
        (T0 + 2 * HOUR, "Telling ops-manager <ops-manager@noc.example> by email")]
    # ... and management hears of the breach, not also of the warning it overtook.
    (mail,) = sla_mail()
    assert mail["Subject"].startswith("[watchkeeper] SLA breached: Severity 1 case #1")


def test_sla_keys_are_checked_against_sla_toml_and_the_people(config_dir: Path) -> None:
    path = config_dir / "collector.toml"
    text = path.read_text().replace('sla_escalation_to = ["ops-manager"]',
                                    'sla_escalation_to = ["ops-manager", "nobody"]')
    path.write_text(text + '\n[[customer]]\nname = "globex"\ncalendar = "us-office"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert sorted(str(p).split(": ", 1)[1] for p in exc.value.problems) == [
        "collector.sla_escalation_to: 'nobody': no [[person]] named 'nobody'",
        "customer[1].calendar: no [[calendar]] is named 'us-office' (calendars: uk-office)",
    ]


def test_sla_work_reads_only_indexes(db: Database, config: CollectorConfig) -> None:
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    case = open_case(db, config, "globex", 1, T0)
    casework.acknowledge(db, case, "ops-manager", "cli", T0 + 20 * MIN)
    casework.hold(db, case, HoldReason.AWAITING_CUSTOMER, "ops-manager", T0 + HOUR)
    casework.resume(db, case, "ops-manager", T0 + 2 * HOUR)
    sla_worker.fire_due(db, config, T0 + 5 * HOUR)
    sla_worker.seconds_to_next_timer(db, T0 + 5 * HOUR)
    casework.resolve(db, case, "ops-manager", "replaced the PSU", T0 + 6 * HOUR)
    casework.close(db, case, "ops-manager", T0 + 7 * HOUR)
    db.conn.set_trace_callback(None)
    assert scans(db.conn, statements) == []
