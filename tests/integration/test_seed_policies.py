"""The seed policies shipped in collector/examples/, each installed as its README says (the
starter, then the example's files over it) with only the channels' host, port and URL lines
pointed at real local peers: aiosmtpd with STARTTLS and AUTH, and Twilio, PagerDuty and
Slack receivers speaking each provider's request format.

A fake clock moves through each timeline the way the collector's loops do: at each moment
the heartbeat sweeper and the escalation, SLA and outbox workers run, then the clock jumps
to whatever falls due next. Each test asserts who got what, when, as the peers received it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from alerting.cases import CaseSource
from collector import casework, escalation_worker, outbox_worker, sla_worker, sweeper
from collector.casework import Trigger
from collector.cli import write_starter
from collector.config import CollectorConfig, load_config
from collector.enrolment import create_token, enroll
from collector.heartbeats import HeartbeatPolicy
from collector.store.db import Database
from tests.peers import SMTP_PASSWORD, PagerDutyPeer, SlackPeer, SmtpPeer, TwilioPeer
from watchkeeper.clock import FakeClock

MIN = 60.0
HOUR = 60 * MIN
SID = "AC" + "0" * 32  # the examples' placeholder account SID
TWILIO_TOKEN = "f00dfacef00dfacef00dfacef00dface"
PD_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"


# --- the peers ------------------------------------------------------------------------

@dataclass
class Peers:
    relay: SmtpPeer
    twilio: TwilioPeer
    pagerduty: PagerDutyPeer
    slack: SlackPeer


@pytest.fixture
async def peers(aiohttp_server: Any, relay: SmtpPeer) -> Peers:
    return Peers(relay, await TwilioPeer(SID, TWILIO_TOKEN).start(aiohttp_server),
                 await PagerDutyPeer(PD_KEY).start(aiohttp_server),
                 await SlackPeer().start(aiohttp_server))


def _set(text: str, key: str, value: str) -> str:
    text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
    assert n == 1, f"the example has {n} lines setting {key}"
    return text


def install(name: str, directory: Path, peers: Peers, cert: Path) -> CollectorConfig:
    """The README's steps: `watchkeeper collector init --example NAME`, the secrets its
    channels name; here, also the peers' addresses."""
    write_starter(directory, example=name)
    path = directory / "collector.toml"
    text = path.read_text()
    assert peers.relay.controller is not None
    text = _set(text, "host", '"127.0.0.1"')
    text = _set(text, "port", str(peers.relay.controller.port))
    # The local relay's certificate is self-signed: trust it as a private CA's.
    commented = '# ca_file = "relay-ca.crt"'
    assert text.count(commented) == 1
    text = text.replace(commented, commented.removeprefix("# "))
    text = _set(text, "base_url", f'"{peers.twilio.url}"')
    if "[channel.pagerduty]" in text:
        text = _set(text, "url", f'"{peers.pagerduty.url}"')
    path.write_text(text)
    (directory / "relay-ca.crt").write_bytes(cert.read_bytes())
    (directory / "smtp.password").write_text(SMTP_PASSWORD + "\n")
    (directory / "twilio.token").write_text(TWILIO_TOKEN + "\n")
    (directory / "pagerduty.key").write_text(PD_KEY + "\n")
    (directory / "noc-board.url").write_text(peers.slack.url + SlackPeer.PATH + "\n")
    return load_config(path)


# --- the collector's loops on a fake clock --------------------------------------------

@dataclass(frozen=True)
class Got:
    at: float  # minutes from the test's start
    channel: str
    to: str
    what: str  # "page #1", "notice #1", "status #1", "SLA escalation #1", "SLA breach #1"


WHAT = (("SLA breached", "SLA breach"), ("SLA escalation", "SLA escalation"),
        ("you are paged", "page"), ("Reply ACK", "page"), ("PAGE", "page"),
        ("opened", "notice"), ("Status of case", "status"))


def what(text: str) -> str:
    kind = next(k for word, k in WHAT if word in text)
    number = re.search(r"#(\d+)", text)
    assert number, text
    return f"{kind} #{number[1]}"


class Collector:
    """The collector's background loops, run by hand over a fake clock."""

    def __init__(self, config: CollectorConfig, peers: Peers, session: aiohttp.ClientSession,
                 start: float) -> None:
        self.config, self.peers, self.session = config, peers, session
        self.db = Database(config.database)
        self.clock = FakeClock(start)
        self.start = start
        self.got: list[Got] = []
        self._seen = {"email": 0, "sms": 0, "pagerduty": 0, "webhook": 0}

    def now(self) -> float:
        return self.clock.now()

    def minutes(self) -> float:
        return (self.now() - self.start) / MIN

    async def run_until(self, minutes: float) -> None:
        """Run every loop at each moment something falls due, up to `minutes` from the
        start; the clock then stands at that moment."""
        until = self.start + minutes * MIN
        while True:
            await self._pass()
            now = self.now()
            waits = [w for w in (
                sweeper.seconds_to_next_deadline(self.db, now),
                escalation_worker.seconds_to_next_timer(self.db, now),
                sla_worker.seconds_to_next_timer(self.db, now),
                outbox_worker.seconds_to_next_message(self.db, now)) if w is not None]
            assert all(w > 0 for w in waits), "work due now was left undone"
            step = min([*waits, until - now])
            if step <= 0:
                return
            self.clock.advance(step)

    async def _pass(self) -> None:
        db, config, now = self.db, self.config, self.now()
        sweeper.sweep(db, config, 0.0, now)
        escalation_worker.fire_due(db, config, now)
        sla_worker.fire_due(db, config, now)
        while due := outbox_worker.claim_due(db, now):
            for msg in due:
                await outbox_worker.deliver(db, config, msg, self.clock, self.session)
        self._collect()

    def _collect(self) -> None:
        p, at = self.peers, self.minutes()
        received = {
            "email": [(",".join(m.rcpt_tos), what(m.message["Subject"])) for m in p.relay.mails],
            "sms": [(m["To"], what(m["Body"])) for m in p.twilio.messages],
            "pagerduty": [(r.json()["dedup_key"], r.json()["event_action"])
                          for r in p.pagerduty.requests],
            "webhook": [("noc board", what(SlackPeer.visible(d))) for d in p.slack.messages],
        }
        for channel, items in received.items():
            for to, text in items[self._seen[channel]:]:
                self.got.append(Got(at, channel, to, text))
            self._seen[channel] = len(items)

    def received(self) -> list[tuple[float, str, str, str]]:
        """(minute, channel, to, what), in order of time, then channel and recipient."""
        return sorted((g.at, g.channel, g.to, g.what) for g in self.got)

    def open_case(self, customer: str, severity: int) -> int:
        """A case opened as the sweeper and ingest open them, with the example's policies."""
        return casework.open_or_join(self.db, Trigger(
            severity=severity, customer=customer, tier=self.config.tier_of(customer),
            device_id=None, title="srv1 is not reporting", source=CaseSource.HEARTBEAT,
            dedup_key=f"{customer}:srv1", evidence="heartbeats missed"),
            self.config.policies, self.now()).case_id

    def sla_events(self, case_id: int) -> list[tuple[float, str]]:
        """(minute, text) of the case's SLA escalations and breaches."""
        return [((r["at"] - self.start) / MIN, r["text"]) for r in self.db.conn.execute(
            "SELECT at, text FROM case_events WHERE case_id = ? AND kind = 'sla'"
            " AND (text LIKE 'SLA breached%' OR text LIKE 'Administrative%') ORDER BY id",
            (case_id,))]

    def timeline(self, case_id: int) -> list[str]:
        return [r["text"] for r in self.db.conn.execute(
            "SELECT text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


# --- the support-policy template --------------------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 13 January 2027, 10:00 in New York: Bob's week as operations manager on call.
SUPPORT_START = datetime(2027, 1, 13, 10, 0, tzinfo=NEW_YORK).timestamp()
# 10 missed checks of 15 minutes, plus the grace of 7 min 30 s, after the last report.
DOWN = 10 * 15 + 7.5
BOB_PHONE, VP_PHONE, ACME_PHONE = "+12125550102", "+12125550109", "+12125550199"
BOB, VP, ACME = "bob@noc.example", "vp-operations@noc.example", "it@acme.example"


@pytest.fixture
async def support(tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
                  session: aiohttp.ClientSession) -> Collector:
    config = install("support-policy", tmp_path / "support", peers, cert[0])
    return Collector(config, peers, session, SUPPORT_START)


def enrol_silent_device(c: Collector) -> str:
    """A server of acme's that reports once, at the start, and never again."""
    token = create_token(c.db, "acme", 1, HOUR, c.now())
    device, _ = enroll(c.db, token, "srv1", c.config.heartbeat_for, c.now())
    return device.id


def the_first_hours(opened: float) -> list[tuple[float, str, str, str]]:
    """What everyone gets from a Severity 1 case opening at `opened` until its third hour."""
    return [
        # At once: the operations manager on call, on the pager and by email; the customer's
        # technical contact gets the case number.
        (opened, "email", ACME, "notice #1"),
        (opened, "email", BOB, "page #1"),
        (opened, "sms", BOB_PHONE, "page #1"),
        (opened + 60, "email", ACME, "status #1"),
        (opened + 120, "email", ACME, "status #1"),
        (opened + 180, "email", ACME, "status #1"),
    ]


async def test_support_policy_severity_1_unworked_for_two_hours(support: Collector) -> None:
    c = support
    assert c.config.heartbeat_for("acme") == HeartbeatPolicy(15 * MIN, 7.5 * MIN, 10)
    enrol_silent_device(c)
    await c.run_until(DOWN - 0.1)
    assert c.db.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 0
    assert c.db.conn.execute("SELECT status, missed FROM devices").fetchone()[:] == ("late", 9)

    await c.run_until(DOWN + 200)
    case = c.db.conn.execute("SELECT * FROM cases").fetchone()
    assert (case["id"], case["severity"], case["opened_at"]) == (
        1, 1, SUPPORT_START + DOWN * MIN)
    assert "10 heartbeats missed in a row (every 900s)" in c.timeline(1)[0]
    casework.close(c.db, 1, "bob", c.now())
    await c.run_until(DOWN + 6 * 60)

    assert c.received() == sorted([
        *the_first_hours(DOWN),
        # Not worked within 2 hours: the VP is paged and told of the SLA breach; the contact
        # is called: texted the case number, and the NOC board told to phone them.
        (DOWN + 120, "sms", VP_PHONE, "page #1"),
        (DOWN + 120, "email", VP, "SLA breach #1"),
        (DOWN + 120, "sms", ACME_PHONE, "notice #1"),
        (DOWN + 120, "webhook", "noc board", "page #1"),
        # Closed at 3 h 20 min: no status at 4 h or later.
    ])
    assert c.sla_events(1) == [
        (DOWN + 120, "SLA breached: the 2 h response target (wall clock) has passed")]
    assert "Step 6 of 'support-severity-1' (page): notifying noc-desk by webhook" \
        in c.timeline(1)


async def test_support_policy_acknowledged_at_30_minutes(support: Collector) -> None:
    c = support
    enrol_silent_device(c)
    await c.run_until(DOWN + 30)
    casework.acknowledge(c.db, 1, "bob", "sms", c.now())
    await c.run_until(DOWN + 190)
    casework.resolve(c.db, 1, "bob", "replaced the failed switch", c.now())
    await c.run_until(DOWN + 250)
    casework.close(c.db, 1, "bob", c.now())
    await c.run_until(DOWN + 8 * 60)

    # Nobody else is paged, nobody texted or called; the status goes on while the case is
    # resolved (the customer hears it is), and stops when it is closed.
    assert c.received() == sorted([*the_first_hours(DOWN),
                                   (DOWN + 240, "email", ACME, "status #1")])
    last = c.peers.relay.mails[-1].message.get_content()
    assert "Case #1 (severity 1, srv1 is not reporting) is resolved" in last
    assert c.sla_events(1) == []


@pytest.mark.parametrize(("severity", "hours", "shown"), [(2, 24, "1 d"), (3, 48, "2 d")])
async def test_support_policy_severity_2_and_3_response_times(
        support: Collector, severity: int, hours: int, shown: str) -> None:
    c = support
    case = c.open_case("acme", severity)
    await c.run_until(hours * 60 + 60)
    assert c.received() == [(0.0, "email", BOB, "page #1"),
                            (hours * 60, "email", VP, "SLA breach #1")]
    assert c.sla_events(case) == [
        (hours * 60, f"SLA breached: the {shown} response target (wall clock) has passed")]


# --- the managed-services handbook ------------------------------------------------------

LONDON = ZoneInfo("Europe/London")
# Wednesday 13 January 2027, 10:00 in London: Dan's day on call.
HANDBOOK_START = datetime(2027, 1, 13, 10, 0, tzinfo=LONDON).timestamp()
SDM, GLOBEX = "sdm@noc.example", "servicedesk@globex.example"


@pytest.fixture
async def handbook(tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
                   session: aiohttp.ClientSession) -> Collector:
    config = install("handbook", tmp_path / "handbook", peers, cert[0])
    return Collector(config, peers, session, HANDBOOK_START)


@pytest.mark.parametrize(("severity", "limit", "shown", "page"), [
    (1, 15, "15 min", ("sms", "+447700900101")),  # Dan's pager
    (2, 30, "30 min", ("email", "dan@noc.example")),
    (3, 60, "1 h", ("email", "dan@noc.example")),
])
async def test_handbook_response_levels_escalate_at_75_percent_then_breach(
        handbook: Collector, severity: int, limit: int, shown: str,
        page: tuple[str, str]) -> None:
    c = handbook
    case = c.open_case("globex", severity)
    await c.run_until(limit + 5)
    warned = limit * 0.75  # 11 min 15 s, 22 min 30 s, 45 min
    assert c.received() == sorted([
        (0.0, *page, "page #1"),
        (0.0, "email", GLOBEX, "notice #1"),
        (warned, "email", SDM, "SLA escalation #1"),
        (limit, "email", SDM, "SLA breach #1"),
    ])
    assert c.sla_events(case) == [
        (warned, f"Administrative escalation: 75% of the {shown} response target (wall"
                 " clock) used without a response"),
        (limit, f"SLA breached: the {shown} response target (wall clock) has passed"),
    ]


async def test_handbook_resolution_is_escalated_at_75_percent_too(handbook: Collector) -> None:
    c = handbook
    case = c.open_case("globex", 1)
    await c.run_until(10)
    casework.acknowledge(c.db, case, "dan", "sms", c.now())  # within the 15 minutes
    await c.run_until(200)
    casework.resolve(c.db, case, "dan", "failed over to the standby", c.now())
    await c.run_until(8 * 60)
    # No response escalation; the 4 h resolution target's at 3 h, and resolved in time.
    assert [g for g in c.received() if g[3].startswith("SLA")] == [
        (180.0, "email", SDM, "SLA escalation #1")]
    assert c.sla_events(case) == [
        (180.0, "Administrative escalation: 75% of the 4 h resolution target (wall clock)"
                " used without a resolution")]


# --- the three-level ladder -------------------------------------------------------------

LADDER_START = datetime(2027, 1, 13, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
AM_PHONE, CEO_PHONE = "+4930555001", "+4930555009"
INCIDENT = "watchkeeper-case-1"  # the case's dedup_key at PagerDuty


@pytest.fixture
async def ladder(tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
                 session: aiohttp.ClientSession) -> Collector:
    config = install("ladder", tmp_path / "ladder", peers, cert[0])
    return Collector(config, peers, session, LADDER_START)


@pytest.mark.parametrize(("severity", "second", "third"), [(1, 30, 120), (2, 4 * 60, 24 * 60)])
async def test_ladder_climbs_a_level_at_each_delay(
        ladder: Collector, severity: int, second: float, third: float) -> None:
    c = ladder
    c.open_case("initech", severity)
    await c.run_until(third + 60)
    assert c.received() == [
        (0.0, "pagerduty", INCIDENT, "trigger"),  # the incident manager's pager
        (second, "sms", AM_PHONE, "page #1"),
        (third, "sms", CEO_PHONE, "page #1"),
    ]
    assert c.peers.pagerduty.alerts[INCIDENT].status == "triggered"


async def test_ladder_acknowledged_at_the_second_level_stops_and_pagerduty_follows(
        ladder: Collector) -> None:
    c = ladder
    case = c.open_case("initech", 1)
    await c.run_until(45)
    casework.acknowledge(c.db, case, "account-manager", "sms", c.now())
    await c.run_until(60)
    assert c.peers.pagerduty.alerts[INCIDENT].status == "acknowledged"
    await c.run_until(150)
    casework.resolve(c.db, case, "account-manager", "restarted the database", c.now())
    await c.run_until(6 * 60)

    assert c.received() == [
        (0.0, "pagerduty", INCIDENT, "trigger"),
        (30.0, "sms", AM_PHONE, "page #1"),
        (45.0, "pagerduty", INCIDENT, "acknowledge"),
        (150.0, "pagerduty", INCIDENT, "resolve"),  # and the chief executive is never paged
    ]
    assert c.peers.pagerduty.alerts[INCIDENT].status == "resolved"
    # The SLA outcome is on the timeline (30 min response: 15 min late); nobody is emailed.
    assert c.sla_events(case) == [
        (30.0, "SLA breached: the 30 min response target (wall clock) has passed")]
    assert c.peers.relay.mails == []
    port = c.peers.pagerduty.url.rsplit(":", 1)[1]
    assert (f"pagerduty to incident-manager: delivered, PagerDuty at 127.0.0.1:{port} accepted"
            f" the acknowledge event for {INCIDENT} (attempt 1)") in c.timeline(case)


async def test_pagerduty_is_resolved_when_a_case_is_closed_as_soon_as_resolved(
        ladder: Collector) -> None:
    c = ladder
    case = c.open_case("initech", 1)
    await c.run_until(1)
    casework.resolve(c.db, case, "incident-manager", "false alarm", c.now())
    casework.close(c.db, case, "incident-manager", c.now())  # before the outbox ran
    await c.run_until(5)
    assert [g[3] for g in c.received()] == ["trigger", "resolve"]
    assert c.peers.pagerduty.alerts[INCIDENT].status == "resolved"


async def test_a_case_acknowledged_before_pagerduty_was_paged_sends_it_nothing(
        ladder: Collector) -> None:
    c = ladder
    case = c.open_case("initech", 1)
    casework.acknowledge(c.db, case, "incident-manager", "cli", c.now())
    casework.resolve(c.db, case, "incident-manager", "seen on the console", c.now())
    await c.run_until(3 * 60)
    assert c.received() == [] and c.peers.pagerduty.requests == []


async def test_a_case_paged_again_is_followed_again(ladder: Collector) -> None:
    c = ladder
    case = c.open_case("initech", 1)
    await c.run_until(5)
    casework.acknowledge(c.db, case, "incident-manager", "cli", c.now())
    casework.resolve(c.db, case, "incident-manager", "restarted it", c.now())
    await c.run_until(10)
    assert c.open_case("initech", 1) == case  # the same problem again: a new episode
    await c.run_until(15)
    casework.acknowledge(c.db, case, "incident-manager", "cli", c.now())
    await c.run_until(20)
    assert [(g[0], g[3]) for g in c.received()] == [
        (0.0, "trigger"), (5.0, "acknowledge"), (5.0, "resolve"),
        (10.0, "trigger"), (15.0, "acknowledge")]
    assert c.peers.pagerduty.opened == 2
    assert c.peers.pagerduty.alerts[INCIDENT].status == "acknowledged"
