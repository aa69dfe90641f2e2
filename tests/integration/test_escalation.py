"""Heartbeats to cases to pages, with a fake clock, a real SQLite store and a real SMTP server."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from aiosmtpd.controller import Controller

from collector import casework, escalation_worker, outbox_worker, sweeper
from collector.config import CollectorConfig
from collector.enrolment import create_token, enroll
from collector.heartbeats import HeartbeatPolicy
from collector.store.db import Database
from watchkeeper.clock import FakeClock
from watchkeeper.demo import free_port

T0 = 1_800_000_000.0


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


def enrol_device(db: Database, config: CollectorConfig, now: float = T0) -> str:
    token = create_token(db, "acme", 1, 3600, now)
    device, _ = enroll(db, token, "srv1", config.heartbeat_for, now)
    return device.id


def cases(db: Database) -> list:
    return db.conn.execute("SELECT * FROM cases ORDER BY id").fetchall()


def timeline(db: Database, case_id: int) -> list[str]:
    return [r["text"] for r in db.conn.execute(
        "SELECT text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


def down_device_case(db: Database, config: CollectorConfig, devices: int = 1) -> FakeClock:
    """Enrol devices that then fall silent until their Severity 1 cases open."""
    clock = FakeClock(T0)
    for _ in range(devices):
        enrol_device(db, config)
    clock.advance(330)  # five missed heartbeats of 60 s, plus 30 s grace
    sweeper.sweep(db, config, 0.0, clock.now())
    return clock


async def deliver_all(db: Database, config: CollectorConfig, clock: FakeClock) -> None:
    escalation_worker.fire_due(db, config, clock.now())
    for msg in outbox_worker.claim_due(db, clock.now()):
        await outbox_worker.deliver(db, config, msg, clock)


def test_no_case_until_five_deadlines_are_missed(db: Database, config: CollectorConfig) -> None:
    enrol_device(db, config)
    # Starter config: every 60 s with 30 s grace, a case after 5 missed.
    for now in (T0 + 89, T0 + 150, T0 + 329):
        assert sweeper.sweep(db, config, 0.0, now) == 0
    assert db.conn.execute("SELECT status, missed FROM devices").fetchone()[:] == ("late", 4)
    assert sweeper.sweep(db, config, 0.0, T0 + 330) == 1
    (case,) = cases(db)
    assert (case["severity"], case["state"], case["source"]) == (1, "new", "heartbeat")
    assert "5 heartbeats missed" in timeline(db, case["id"])[0]


def test_sweeper_reads_only_due_devices(db: Database, config: CollectorConfig) -> None:
    for _ in range(50):
        enrol_device(db, config)
    plan = db.conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM devices WHERE next_deadline IS NOT NULL AND"
        " next_deadline <= ? ORDER BY next_deadline LIMIT ?", (T0, 500)).fetchall()
    assert "USING INDEX devices_next_deadline" in " ".join(r["detail"] for r in plan)


def test_a_silent_device_opens_one_case_not_many(db: Database, config: CollectorConfig) -> None:
    enrol_device(db, config)
    for minutes in range(5, 60):
        sweeper.sweep(db, config, 0.0, T0 + minutes * 60 + 30)
    assert len(cases(db)) == 1


async def test_the_page_reaches_the_smtp_server_with_an_ack_link(
        db: Database, config: CollectorConfig, smtp: Controller) -> None:
    clock = down_device_case(db, config)
    await deliver_all(db, config, clock)
    mailbox = smtp.handler
    (page,) = mailbox.to("ops-manager@noc.example")
    assert "Severity 1 case #1" in page["Subject"]
    assert f"{config.public_url}/ack/" in page.get_body().get_content()
    (notice,) = mailbox.to("it@acme.example")
    assert "case #1" in notice.get_body().get_content() and "/ack/" not in str(notice)
    events = timeline(db, 1)
    assert any("ops-manager <ops-manager@noc.example>: delivered" in e for e in events)


async def test_vp_is_paged_after_two_hours_unless_acknowledged(
        db: Database, config: CollectorConfig, smtp: Controller) -> None:
    clock = down_device_case(db, config, devices=2)
    assert len(cases(db)) == 2
    casework.acknowledge(db, 1, "ops-manager", "cli", clock.now())
    clock.advance(2 * 3600)
    await deliver_all(db, config, clock)
    vp_pages = smtp.handler.to("vp-operations@noc.example")
    assert [p["Subject"].split(":")[0] for p in vp_pages] == [
        "[watchkeeper] PAGE Severity 1 case #2"]
    vp_timer = db.conn.execute("SELECT state FROM escalation_timers WHERE case_id = 1"
                               " AND step = 2").fetchone()
    assert vp_timer[0] == "cancelled"


async def test_customer_gets_hourly_status_until_the_case_is_closed(
        db: Database, config: CollectorConfig, smtp: Controller) -> None:
    clock = down_device_case(db, config)
    casework.acknowledge(db, 1, "ops-manager", "cli", clock.now())
    for _ in range(3):
        clock.advance(3600)
        await deliver_all(db, config, clock)
    statuses = [m for m in smtp.handler.to("it@acme.example") if "Status of case" in m["Subject"]]
    assert len(statuses) == 3
    casework.resolve(db, 1, "ops-manager", "replaced PSU", clock.now())
    casework.close(db, 1, "ops-manager", clock.now())
    clock.advance(3 * 3600)
    await deliver_all(db, config, clock)
    assert len([m for m in smtp.handler.to("it@acme.example")
                if "Status of case" in m["Subject"]]) == 3


async def test_a_failed_delivery_is_retried_with_backoff_and_logged(
        db: Database, config: CollectorConfig, smtp: Controller) -> None:
    clock = down_device_case(db, config)
    relay_down = replace(config, smtp=replace(config.smtp, port=free_port()))
    await deliver_all(db, relay_down, clock)
    assert any("attempt 1 failed" in e and "cannot reach mail server" in e
               and "retrying in 5s" in e for e in timeline(db, 1))
    clock.advance(4)
    await deliver_all(db, config, clock)
    assert smtp.handler.to("ops-manager@noc.example") == []  # not before its backoff
    clock.advance(1)
    await deliver_all(db, config, clock)
    assert len(smtp.handler.to("ops-manager@noc.example")) == 1
    assert any("delivered" in e and "(attempt 2)" in e for e in timeline(db, 1))


async def test_a_message_interrupted_mid_send_is_sent_again_after_its_lease(
        db: Database, config: CollectorConfig, smtp: Controller) -> None:
    clock = down_device_case(db, config)
    escalation_worker.fire_due(db, config, clock.now())
    claimed = outbox_worker.claim_due(db, clock.now())  # ... and the collector dies here
    assert claimed
    assert outbox_worker.claim_due(db, clock.now()) == []  # leased: nobody else sends it
    clock.advance(outbox_worker.LEASE + 1)
    await deliver_all(db, config, clock)
    assert len(smtp.handler.to("ops-manager@noc.example")) == 1


def test_each_step_is_enqueued_once_even_if_fired_twice(db: Database,
                                                       config: CollectorConfig) -> None:
    enrol_device(db, config)
    sweeper.sweep(db, config, 0.0, T0 + 330)
    first = escalation_worker.fire_due(db, config, T0 + 330)
    again = escalation_worker.fire_due(db, config, T0 + 330)
    assert (first, again) == (2, 0)
    assert db.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 2


def test_a_heartbeat_after_down_resolves_the_case(db: Database, config: CollectorConfig) -> None:
    from collector.api.payload import parse_report
    from collector.enrolment import authenticate
    from collector.ingest import store_report

    token = create_token(db, "acme", 1, 3600, T0)
    _, credential = enroll(db, token, "srv1", config.heartbeat_for, T0)
    sweeper.sweep(db, config, 0.0, T0 + 330)
    report = parse_report({"seq": 0, "sent_at": T0 + 400, "samples": []})
    store_report(db, config, authenticate(db, credential), report, T0 + 400)
    (case,) = cases(db)
    assert case["state"] == "resolved"
    assert "Heartbeats received again; device up" in timeline(db, case["id"])


def test_a_rule_firing_twice_joins_its_open_case(db: Database, config: CollectorConfig) -> None:
    from collector.api.payload import parse_report
    from collector.enrolment import authenticate
    from collector.ingest import store_report

    token = create_token(db, "acme", 1, 3600, T0)
    _, credential = enroll(db, token, "srv1", config.heartbeat_for, T0)
    dev = authenticate(db, credential)
    fire = {"rule": "cpu_high", "state": "firing", "at": T0, "value": 97.0, "severity": 2,
            "summary": "CPU at 97%"}
    for seq in (0, 1):
        store_report(db, config, dev, parse_report(
            {"seq": seq, "sent_at": T0, "samples": [], "transitions": [fire]}), T0 + seq)
    (case,) = cases(db)
    assert (case["severity"], case["source"]) == (2, "rule")
    assert "Triggered again" in timeline(db, case["id"])[-1]
    store_report(db, config, dev, parse_report({"seq": 2, "sent_at": T0, "samples": [],
                 "transitions": [{**fire, "state": "resolved", "value": 40.0}]}), T0 + 5)
    assert cases(db)[0]["state"] == "resolved"


def test_collector_restart_after_an_outage_opens_no_case(config: CollectorConfig) -> None:
    # Down from T0+10 to T0+1000: far more than five heartbeat windows.
    db = Database(config.database)
    enrol_device(db, config)
    from collector.heartbeats import intake_since
    since = intake_since(started_at=T0 + 1000, last_alive_at=T0 + 10, grace=30)
    assert since == T0 + 1000
    assert sweeper.sweep(db, config, since, T0 + 1000 + 89) == 0
    assert sweeper.sweep(db, config, since, T0 + 1000 + 329) == 0
    # A device that stays silent still goes down, a full window after the restart.
    assert sweeper.sweep(db, config, since, T0 + 1000 + 330) == 1


def test_per_customer_heartbeat_override(tmp_path, smtp: Controller) -> None:
    from collector.cli import write_starter
    from collector.config import load_config
    path = write_starter(tmp_path, listen_port=1, public_url="http://127.0.0.1:1",
                         interval="60s", grace="30s", missed=5, smtp_port=smtp.port)
    override = 'tier = "standard"\ninterval = "15m"\nmissed_before_case = 10\n'
    text = path.read_text().replace('tier = "standard"\n', override)
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.heartbeat_for("acme") == HeartbeatPolicy(900, 450, 10)
    assert cfg.heartbeat_for("someone-else") == HeartbeatPolicy(60, 30, 5)


def test_outbox_backoff_grows_and_is_capped() -> None:
    assert [outbox_worker.backoff(n) for n in (1, 2, 3, 7)] == [5, 15, 45, 900]


async def test_loop_survives_a_failing_pass() -> None:
    from collector.loops import run_until_cancelled
    calls = []

    async def step() -> float:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return 0.0

    task = asyncio.create_task(run_until_cancelled("test", step, asyncio.Event()))
    await asyncio.sleep(1.3)
    task.cancel()
    assert len(calls) >= 2


def test_a_retriggered_case_pages_again_with_one_escalation_run(db: Database,
                                                                config: CollectorConfig) -> None:
    from alerting.cases import CaseSource
    from collector.casework import Trigger, open_or_join

    trigger = Trigger(1, "acme", "standard", None, "srv1 is not reporting",
                      CaseSource.HEARTBEAT, "dev:heartbeat", "silence")
    first = open_or_join(db, trigger, config.policies, T0)
    escalation_worker.fire_due(db, config, T0)
    casework.acknowledge(db, first.case_id, "ops-manager", "cli", T0 + 60)
    casework.resolve(db, first.case_id, "ops-manager", "rebooted", T0 + 120)
    again = open_or_join(db, trigger, config.policies, T0 + 600)
    assert (again.case_id, again.opened) == (first.case_id, False)
    assert cases(db)[0]["state"] == "new"
    pending = db.conn.execute("SELECT step, run FROM escalation_timers WHERE state = 'pending'"
                              " ORDER BY step").fetchall()
    assert [tuple(r) for r in pending] == [(0, 1), (1, 1), (2, 1), (3, 1)]
    assert escalation_worker.fire_due(db, config, T0 + 600) == 2  # paged again, once
