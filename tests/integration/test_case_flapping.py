"""A rule that fires and clears over and over: one case, marked flapping, paged once (SPEC 5).
Reports go through the real ingest path; the escalation and outbox workers run between them
as the collector's loops do, delivering to a real SMTP server."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from alerting.cases import HoldReason
from collector import casework, escalation_worker, outbox_worker
from collector.api.payload import parse_report
from collector.cli import format_timeline
from collector.config import CollectorConfig
from collector.enrolment import Device, create_token, enroll
from collector.ingest import store_report
from collector.store.db import Database
from tests.integration.test_query_plans import scans
from watchkeeper.cli import main
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
OPS, VP, CUSTOMER = "ops-manager@noc.example", "vp-operations@noc.example", "it@acme.example"


class Agent:
    """srv1's agent: each report carries one fire or clear of a Severity 1 rule."""

    def __init__(self, db: Database, config: CollectorConfig, device: Device,
                 clock: FakeClock) -> None:
        self.db, self.config, self.device, self.clock = db, config, device, clock
        self.seq = 0

    def send(self, state: str) -> None:
        now = self.clock.now()
        store_report(self.db, self.config, self.device, parse_report({
            "seq": self.seq, "sent_at": now, "samples": [], "transitions": [
                {"rule": "raid_degraded", "state": state, "at": now,
                 "value": 1.0 if state == "firing" else 0.0, "severity": 1,
                 "summary": "RAID array degraded"}]}), now)
        self.seq += 1


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def agent(db: Database, config: CollectorConfig, clock: FakeClock) -> Agent:
    token = create_token(db, "acme", 1, 3600, T0)
    return Agent(db, config, enroll(db, token, "srv1", config.heartbeat_for, T0)[0], clock)


async def workers(db: Database, config: CollectorConfig, clock: FakeClock) -> None:
    escalation_worker.fire_due(db, config, clock.now())
    for msg in outbox_worker.claim_due(db, clock.now()):
        await outbox_worker.deliver(db, config, msg, clock)


async def flap(agent: Agent, times: int, every: float = 120, first: str = "firing") -> None:
    """Fire, clear, fire ... (or clear, fire ...) `times` transitions, `every` seconds apart,
    the workers running after each."""
    states = ("firing", "resolved") if first == "firing" else ("resolved", "firing")
    for i in range(times):
        if i:
            agent.clock.advance(every)
        agent.send(states[i % 2])
        await workers(agent.db, agent.config, agent.clock)


def cases(db: Database) -> list:
    return db.conn.execute("SELECT * FROM cases ORDER BY id").fetchall()


def timeline(db: Database, case_id: int = 1) -> list[str]:
    return [r[0] for r in db.conn.execute(
        "SELECT text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


def pages_in_outbox(db: Database) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM outbox WHERE subject LIKE '[watchkeeper] PAGE %'"
                           ).fetchone()[0]


async def test_six_fires_and_clears_in_ten_minutes_keep_one_case_flapping_and_page_once(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller,
        capsys: pytest.CaptureFixture[str]) -> None:
    await flap(agent, 6)  # at 0, 2, 4, 6, 8 and 10 minutes

    (case,) = cases(db)
    assert case["flapping_since"] == T0 + 8 * 60  # the 5th: more than 4 within 30 minutes
    assert case["state"] == "new"  # it ended on a clear, yet stays open for the NOC
    assert pages_in_outbox(db) == 1
    assert len(smtp.handler.to(OPS)) == 1
    assert len(smtp.handler.to(CUSTOMER)) == 1  # "case opened" told once, not per flap
    events = timeline(db)
    assert ("Flapping: 5 fires and clears within 30 min. The case stays open: a clear no longer"
            " resolves it and a fire no longer pages afresh. It stops flapping after 30 min"
            " without a fire or clear") in events
    assert events[-1] == ("Rule raid_degraded cleared on the agent, value 0; the case is"
                          " flapping, so it stays new")

    assert main(["cases", "--config", str(config.source)]) == 0
    assert "  new, flapping  " in capsys.readouterr().out
    assert main(["case", "show", "1", "--config", str(config.source)]) == 0
    assert "  Flapping:       since 2027-01-15 08:08:00 UTC" in capsys.readouterr().out
    shown = format_timeline(config, 1, agent.clock.now()).splitlines()
    assert ("  Flapping:       since 2027-01-15 08:08:00 UTC; the latest was a clear at"
            " 2027-01-15 08:10:00 UTC. It is not paged afresh, and stops flapping after 30 min"
            " without a fire or clear") in shown
    # Quiet for a whole window, the flag stays until the next fire or clear, and says so.
    shown = format_timeline(config, 1, agent.clock.now() + 30 * 60).splitlines()
    assert ("  Flapping:       since 2027-01-15 08:08:00 UTC, quiet since the latest, a clear at"
            " 2027-01-15 08:10:00 UTC. It stays open until someone resolves it; the next fire"
            " or clear ends the flapping") in shown


async def test_a_flapping_case_nobody_takes_still_climbs_its_escalation(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 10, every=60)
    agent.clock.advance(2 * 3600)
    await workers(db, config, agent.clock)
    assert (len(smtp.handler.to(OPS)), len(smtp.handler.to(VP))) == (1, 1)


async def test_acknowledging_a_flapping_case_stops_its_pages(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 5)
    casework.acknowledge(db, 1, "ops-manager", "cli", agent.clock.now())
    agent.clock.advance(120)
    await flap(agent, 4, first="resolved")
    agent.clock.advance(3 * 3600)
    await workers(db, config, agent.clock)
    assert cases(db)[0]["state"] == "open"
    assert (len(smtp.handler.to(OPS)), len(smtp.handler.to(VP))) == (1, 0)


async def test_it_stops_flapping_after_a_quiet_window_and_then_resolves_on_a_clear(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 6)
    agent.clock.advance(30 * 60 + 1)  # quiet for a whole window
    agent.send("firing")
    assert cases(db)[0]["flapping_since"] is None
    assert timeline(db)[-2:] == ["Stopped flapping: no fire or clear for 30 min",
                                 "Triggered again: rule raid_degraded fired on the agent,"
                                 " value 1"]
    agent.clock.advance(60)
    agent.send("resolved")
    (case,) = cases(db)
    assert (case["state"], case["resolved_by"], case["resolution_actions"]) == (
        "resolved", "the agent", "none: the rule cleared by itself")
    await workers(db, config, agent.clock)
    assert pages_in_outbox(db) == 1


async def test_back_within_the_window_after_clearing_is_the_same_episode(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 3, every=5 * 60)  # fire, clear after 5 min, fire again after 5 more
    (case,) = cases(db)
    assert (case["state"], case["flapping_since"]) == ("new", None)
    assert timeline(db)[-1] == (
        "Triggered again: rule raid_degraded fired on the agent, value 1. Same episode, because"
        " it resolved by itself 5 min ago: the case is new again and its escalation goes on"
        " where it was (1 step(s) resumed); nobody is paged afresh")
    assert len(smtp.handler.to(OPS)) == 1
    # The VP step the clear paused runs at its first time: two hours after the case opened.
    agent.clock.advance(2 * 3600 - 10 * 60 - 1)
    await workers(db, config, agent.clock)
    assert smtp.handler.to(VP) == []
    agent.clock.advance(1)
    await workers(db, config, agent.clock)
    assert len(smtp.handler.to(VP)) == 1


async def test_an_acknowledged_case_that_comes_back_stays_with_whoever_took_it(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 1)
    casework.acknowledge(db, 1, "ops-manager", "email link", agent.clock.now())
    agent.clock.advance(120)
    await flap(agent, 2, first="resolved")  # clears, then fires two minutes later
    (case,) = cases(db)
    assert (case["state"], case["acknowledged_by"]) == ("open", "ops-manager")
    assert timeline(db)[-1].endswith("the case is open again and stays with ops-manager;"
                                     " nobody is paged afresh")
    assert len(smtp.handler.to(OPS)) == 1


async def test_back_after_the_window_is_news_and_pages_again(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 2)
    agent.clock.advance(30 * 60)
    agent.send("firing")
    await workers(db, config, agent.clock)
    assert len(cases(db)) == 1 and cases(db)[0]["state"] == "new"
    assert any(e.startswith("Triggered again after resolution") for e in timeline(db))
    assert len(smtp.handler.to(OPS)) == 2


async def test_a_fix_by_a_person_that_does_not_hold_pages_again(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    await flap(agent, 1)
    casework.acknowledge(db, 1, "ops-manager", "cli", agent.clock.now())
    casework.resolve(db, 1, "ops-manager", "rebuilt the array", agent.clock.now())
    agent.clock.advance(60)
    agent.send("firing")
    await workers(db, config, agent.clock)
    assert cases(db)[0]["state"] == "new"
    assert len(smtp.handler.to(OPS)) == 2


async def test_case_work_and_flapping_read_only_indexes(
        agent: Agent, db: Database, config: CollectorConfig, smtp: Controller) -> None:
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    await flap(agent, 7)
    now = agent.clock.now()
    casework.acknowledge(db, 1, "ops-manager", "cli", now)
    casework.assign(db, 1, "ops-manager", config.people, "ops-manager", now)
    casework.add_note(db, 1, "looking", "ops-manager", now, 5)
    casework.hold(db, 1, HoldReason.PENDING_FIX, "ops-manager", now)
    casework.resume(db, 1, "ops-manager", now)
    casework.resolve(db, 1, "ops-manager", "replaced a disk", now, True, 30)
    casework.close(db, 1, "ops-manager", now)
    casework.reopen(db, 1, "ops-manager", "degraded again", now)
    db.conn.set_trace_callback(None)
    assert scans(db.conn, statements) == []
