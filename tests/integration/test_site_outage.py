"""One outage, one case: devices reporting through the real ingest path, the sweeper, the
escalation worker and the outbox, on a fake clock, paging a real SMTP server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from collector import escalation_worker, outbox_worker, sweeper
from collector.api.payload import parse_report
from collector.config import CollectorConfig, load_config
from collector.enrolment import Device, create_token, enroll
from collector.ingest import store_report
from collector.store.db import Database
from tests.integration.test_query_plans import scans
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
INTERVAL = 60.0  # the starter configuration: every 60 s, 30 s grace, down after 5 missed


@dataclass
class Agent:
    device: Device
    phase: float  # seconds into each interval at which it reports
    seq: int = 0
    alive: bool = True


@dataclass
class Fleet:
    db: Database
    config: CollectorConfig
    clock: FakeClock
    agents: dict[str, Agent] = field(default_factory=dict)

    def enrol(self, prefix: str, count: int, site: str | None) -> list[str]:
        token = create_token(self.db, "acme", count, 3600, self.clock.now(), site)
        names = []
        for i in range(count):
            name = f"{prefix}-{i:02d}"
            device, _ = enroll(self.db, token, name, self.config.heartbeat_for,
                               self.clock.now())
            # Each agent reports at its own point of the minute, as real agents do.
            self.agents[name] = Agent(device, phase=(len(self.agents) * 7) % INTERVAL)
            names.append(name)
        return names

    def stop(self, *names: str) -> None:
        for name in names:
            self.agents[name].alive = False

    def start(self, *names: str) -> None:
        for name in names:
            self.agents[name].alive = True

    async def run(self, seconds: float) -> None:
        """Let time pass a second at a time: live agents report, the collector's three
        workers do what is due, and messages reach the SMTP server."""
        for _ in range(int(seconds)):
            self.clock.advance(1)
            now = self.clock.now()
            for agent in self.agents.values():
                if agent.alive and (now - T0 - agent.phase) % INTERVAL == 0:
                    store_report(self.db, self.config, agent.device, parse_report(
                        {"seq": agent.seq, "sent_at": now, "samples": []}), now)
                    agent.seq += 1
            sweeper.sweep(self.db, self.config, 0.0, now)
            escalation_worker.fire_due(self.db, self.config, now)
            for msg in outbox_worker.claim_due(self.db, now):
                await outbox_worker.deliver(self.db, self.config, msg, self.clock)

    def cases(self) -> list:
        return self.db.conn.execute("SELECT * FROM cases ORDER BY id").fetchall()

    def timeline(self, case_id: int) -> list[str]:
        return [r["text"] for r in self.db.conn.execute(
            "SELECT text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


def fleet_for(config: CollectorConfig) -> Fleet:
    return Fleet(Database(config.database), config, FakeClock(T0))


@pytest.fixture
def fleet(config: CollectorConfig) -> Fleet:
    return fleet_for(config)


def pages(smtp: Controller) -> list[str]:
    return [str(m["Subject"]).strip() for m in smtp.handler.to("ops-manager@noc.example")]


async def test_most_of_a_site_going_silent_opens_one_case_that_pages_once(
        fleet: Fleet, smtp: Controller) -> None:
    london = fleet.enrol("lon", 10, "london")
    fleet.enrol("par", 1, "paris")
    fleet.enrol("home", 1, None)
    await fleet.run(120)  # everyone reporting
    assert fleet.cases() == []

    fleet.stop(*london[:8], "par-00")
    await fleet.run(600)

    site_cases = [c for c in fleet.cases() if c["dedup_key"] == "site:acme:london"]
    assert len(site_cases) == 1
    site = site_cases[0]
    assert (site["severity"], site["title"], site["device_id"]) == (
        1, "Site london is unreachable", None)
    attached = [c for c in fleet.cases() if c["parent_case_id"] == site["id"]]
    assert sorted(c["title"] for c in attached) == [f"{n} is not reporting" for n in london[:8]]
    assert "8 of 10 devices at site london went silent together" in fleet.timeline(site["id"])[0]
    for case in attached:
        assert f"Part of site outage case #{site['id']}" in fleet.timeline(case["id"])[-1]
        assert fleet.db.conn.execute(
            "SELECT COUNT(*) FROM escalation_timers WHERE case_id = ? AND state != 'cancelled'",
            (case["id"],)).fetchone()[0] == 0

    # One page for the site, and the device at another site pages on its own.
    (paris,) = [c for c in fleet.cases() if c["title"] == "par-00 is not reporting"]
    assert paris["parent_case_id"] is None
    assert sorted(pages(smtp)) == sorted([
        f"[watchkeeper] PAGE Severity 1 case #{site['id']}: Site london is unreachable (acme)",
        f"[watchkeeper] PAGE Severity 1 case #{paris['id']}: par-00 is not reporting (acme)"])
    notices = [m["Subject"] for m in smtp.handler.to("it@acme.example")]
    assert len(notices) == 2  # the customer hears of each case once, not of every device


async def test_two_of_ten_silent_are_two_ordinary_device_cases(fleet: Fleet,
                                                                smtp: Controller) -> None:
    london = fleet.enrol("lon", 10, "london")
    await fleet.run(120)
    fleet.stop(*london[:2])
    await fleet.run(600)
    cases = fleet.cases()
    assert sorted(c["title"] for c in cases) == [f"{n} is not reporting" for n in london[:2]]
    assert all(c["parent_case_id"] is None for c in cases)
    assert len(pages(smtp)) == 2


async def test_the_site_case_records_recovery_and_resolves_when_every_device_is_back(
        fleet: Fleet, smtp: Controller) -> None:
    london = fleet.enrol("lon", 10, "london")
    await fleet.run(120)
    fleet.stop(*london[:8])
    await fleet.run(600)
    (site,) = [c for c in fleet.cases() if c["device_id"] is None]

    fleet.start(*london[:7])
    await fleet.run(120)
    site = fleet.db.conn.execute("SELECT * FROM cases WHERE id = ?", (site["id"],)).fetchone()
    assert site["state"] == "new"  # lon-07 is still silent
    assert any("7 of 8 attached device(s) back; still silent: lon-07" in t
               for t in fleet.timeline(site["id"]))

    fleet.start(london[7])
    await fleet.run(120)
    site = fleet.db.conn.execute("SELECT * FROM cases WHERE id = ?", (site["id"],)).fetchone()
    assert (site["state"], site["resolved_by"]) == ("resolved", "watchkeeper")
    assert "Every attached device reports again; the site is reachable" in \
        fleet.timeline(site["id"])
    assert len(pages(smtp)) == 1

    # Later one of them goes down on its own: it pages on its own.
    fleet.stop(london[0])
    await fleet.run(600)
    (alone,) = [c for c in fleet.cases() if c["title"] == "lon-00 is not reporting"]
    assert alone["parent_case_id"] is None
    assert any(t.startswith(f"No longer part of site outage case #{site['id']}")
               for t in fleet.timeline(alone["id"]))
    assert pages(smtp)[-1].endswith(f"case #{alone['id']}: lon-00 is not reporting (acme)")
    assert len(pages(smtp)) == 2


@pytest.fixture
def one_miss_config(config_dir: Path) -> CollectorConfig:
    """A customer whose devices are down at the first missed heartbeat: the first devices of
    an outage go down before the others have missed anything."""
    path = config_dir / "collector.toml"
    path.write_text(path.read_text().replace('tier = "standard"\n',
                                             'tier = "standard"\nmissed_before_case = 1\n'))
    return load_config(path)


async def test_device_cases_opened_before_the_site_counted_as_out_are_attached(
        one_miss_config: CollectorConfig, smtp: Controller) -> None:
    fleet = fleet_for(one_miss_config)
    london = fleet.enrol("lon", 10, "london")
    await fleet.run(120)
    fleet.stop(*london[:8])
    await fleet.run(200)

    (site,) = [c for c in fleet.cases() if c["device_id"] is None]
    attached = [c for c in fleet.cases() if c["parent_case_id"] == site["id"]]
    assert len(attached) == 8
    # Five went down one by one, each no more than half the site, and paged at once; the
    # sixth made it most of the site.
    early = [c for c in attached if c["id"] < site["id"]]
    assert len(early) == 5
    assert len(pages(smtp)) == 6
    for case in early:
        note = fleet.timeline(case["id"])[-1]
        assert note.startswith(f"Part of site outage case #{site['id']}: escalated there")
        assert "Sent before the site outage was recognised, and not recalled: email to" \
               " ops-manager" in note
        # Its later steps (the VP after 2 hours, hourly status) will not run.
        states = {r[0] for r in fleet.db.conn.execute(
            "SELECT state FROM escalation_timers WHERE case_id = ? AND step >= 2",
            (case["id"],))}
        assert states == {"cancelled"}
    fleet.clock.advance(3 * 3600)
    await fleet.run(1)
    vp = [str(m["Subject"]).strip() for m in smtp.handler.to("vp-operations@noc.example")]
    # The VP is paged for the site case, and for it alone.
    assert [s.split(":")[0] for s in vp] == [f"[watchkeeper] PAGE Severity 1 case #{site['id']}"]


async def test_a_site_outage_and_its_recovery_scan_no_table(one_miss_config: CollectorConfig,
                                                           smtp: Controller) -> None:
    fleet = fleet_for(one_miss_config)
    london = fleet.enrol("lon", 10, "london")
    await fleet.run(120)
    statements: list[str] = []
    fleet.db.conn.set_trace_callback(statements.append)
    fleet.stop(*london[:8])
    await fleet.run(200)
    fleet.start(*london[:8])
    await fleet.run(120)
    fleet.stop(london[0])
    await fleet.run(120)
    fleet.db.conn.set_trace_callback(None)
    # The site's devices were read, and a site case's members.
    assert any("AND site = " in s for s in statements)
    assert any("WHERE c.parent_case_id = " in s for s in statements)
    assert scans(fleet.db.conn, statements) == []

