"""Escalation over every channel: a real SQLite store, a fake clock, and real local receivers
(aiosmtpd with STARTTLS and AUTH; Twilio, PagerDuty, ntfy and Slack peers speaking each
provider's request format and answering on cue)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerting.cases import CaseSource
from alerting.notifiers.base import Notification
from alerting.notifiers.registry import CHANNELS, Configured
from collector import casework, escalation_worker, outbox_worker
from collector.casework import Trigger
from collector.cli import write_starter
from collector.config import CollectorConfig, load_config
from collector.store.db import Database
from tests.peers import (
    SMTP_PASSWORD,
    SMTP_USER,
    NtfyPeer,
    PagerDutyPeer,
    SlackPeer,
    SmtpPeer,
    TwilioPeer,
)
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0  # Friday 15 January 2027, 08:00 in London (GMT)
SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "f00dfacef00dfacef00dfacef00dface"
PD_KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"
CAROL_PHONE = "+447700900123"

COLLECTOR = """
[collector]
public_url = "https://noc.example"
allow_plain_http = true

[channel.email]
host = "127.0.0.1"
port = {smtp_port}
starttls = true
username = "{smtp_user}"
password_file = "smtp.password"
from_address = "noc@watchkeeper.example"
ca_file = "ca.crt"
timeout = "5s"

[channel.sms]
base_url = "{twilio}"
account_sid = "{sid}"
auth_token_file = "twilio.token"
from_number = "+15005550006"
timeout = "2s"

[channel.pagerduty]
url = "{pagerduty}"
routing_key_file = "pagerduty.key"
timeout = "2s"

[channel.ntfy]
server = "{ntfy}"
timeout = "2s"

[channel.webhook]
format = "slack"
url_file = "slack.url"
timeout = "2s"

[[person]]
name = "carol"
email = "carol@noc.example"
phone = "{phone}"
ntfy_topic = "carol-pager"
channels = {carol}

[[person]]
name = "alice"
email = "alice@noc.example"

[[person]]
name = "bob"
email = "bob@noc.example"

[[customer]]
name = "acme"

[[customer.contact]]
role = "technical"
name = "Acme IT"
email = "it@acme.example"
"""

PAGE_CAROL = """
[[policy]]
name = "severity-1"
severities = [1]

[[policy.step]]
after = "0m"
notify = ["person:carol"]
"""


@dataclass
class Peers:
    relay: SmtpPeer
    twilio: TwilioPeer
    pagerduty: PagerDutyPeer
    ntfy: NtfyPeer
    slack: SlackPeer


@pytest.fixture
async def peers(aiohttp_server: Any, relay: SmtpPeer) -> Peers:
    return Peers(relay, await TwilioPeer(SID, TWILIO_TOKEN).start(aiohttp_server),
                 await PagerDutyPeer(PD_KEY).start(aiohttp_server),
                 await NtfyPeer().start(aiohttp_server), await SlackPeer().start(aiohttp_server))


def write_config(directory: Path, peers: Peers, cert: Path, carol: list[str],
                 escalation: str = PAGE_CAROL, oncall: str | None = None) -> CollectorConfig:
    """The starter's rules and signing key, with every channel set up against the peers."""
    write_starter(directory, listen_port=8470, public_url="https://noc.example")
    assert peers.relay.controller is not None
    (directory / "collector.toml").write_text(COLLECTOR.format(
        smtp_port=peers.relay.controller.port, smtp_user=SMTP_USER, twilio=peers.twilio.url,
        sid=SID, pagerduty=peers.pagerduty.url, ntfy=peers.ntfy.url, phone=CAROL_PHONE,
        carol="[" + ", ".join(f'"{c}"' for c in carol) + "]"))
    (directory / "escalation.toml").write_text(escalation)
    if oncall is not None:
        (directory / "oncall.toml").write_text(oncall)
    (directory / "smtp.password").write_text(SMTP_PASSWORD + "\n")
    (directory / "ca.crt").write_bytes(cert.read_bytes())
    (directory / "twilio.token").write_text(TWILIO_TOKEN + "\n")
    (directory / "pagerduty.key").write_text(PD_KEY + "\n")
    (directory / "slack.url").write_text(peers.slack.url + SlackPeer.PATH + "\n")
    return load_config(directory / "collector.toml")


def open_case(db: Database, config: CollectorConfig, now: float) -> int:
    return casework.open_or_join(db, Trigger(
        severity=1, customer="acme", tier="standard", device_id=None,
        title="srv1 is not reporting", source=CaseSource.HEARTBEAT, dedup_key="srv1:heartbeat",
        evidence="5 heartbeats missed in a row"), config.policies, now).case_id


async def run(db: Database, config: CollectorConfig, clock: FakeClock,
              session: aiohttp.ClientSession) -> None:
    """What the collector's loops do at this moment: fire due steps, send what is due,
    including what falling over queued."""
    escalation_worker.fire_due(db, config, clock.now())
    while due := outbox_worker.claim_due(db, clock.now()):
        for msg in due:
            await outbox_worker.deliver(db, config, msg, clock, session)


def timeline(db: Database, case_id: int) -> list[str]:
    return [r["text"] for r in db.conn.execute(
        "SELECT text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


def outbox(db: Database) -> list[tuple[str, str, str]]:
    return [(r["channel"], r["state"], r["idem_key"]) for r in db.conn.execute(
        "SELECT * FROM outbox ORDER BY id")]


def ack_link(db: Database) -> str:
    return db.conn.execute("SELECT ack_url FROM outbox ORDER BY id LIMIT 1").fetchone()[0]


def check_pagerduty(peers: Peers, link: str) -> None:
    alert = peers.pagerduty.alerts["watchkeeper-case-1"]
    assert (alert.status, alert.severity) == ("triggered", "critical")
    assert alert.summary == "Severity 1 case #1: srv1 is not reporting (acme)"
    assert [x["href"] for x in alert.links] == [link]


def check_sms(peers: Peers, link: str) -> None:
    (msg,) = peers.twilio.messages
    assert msg["To"] == CAROL_PHONE
    assert msg["Body"].startswith("Sev1 case #1: Reply ACK 1 to acknowledge.")
    assert msg["Body"].endswith(link)


def check_ntfy(peers: Peers, link: str) -> None:
    (msg,) = peers.ntfy.messages
    assert (msg.topic, msg.title, msg.priority) == (
        "carol-pager", "Severity 1 case #1: srv1 is not reporting", 5)
    assert msg.click == link and "carol, you are paged" in msg.message


def check_webhook(peers: Peers, link: str) -> None:
    (doc,) = peers.slack.messages
    shown = SlackPeer.visible(doc)
    assert "Severity 1 case #1: srv1 is not reporting" in shown and f"<{link}|" in shown


def check_email(peers: Peers, link: str) -> None:
    (mail,) = peers.relay.mails
    assert (mail.rcpt_tos, mail.login, mail.tls) == (["carol@noc.example"], SMTP_USER, True)
    assert mail.message["Subject"].startswith("[watchkeeper] PAGE Severity 1 case #1:")
    assert link in mail.message.get_content()


@pytest.mark.parametrize(("channel", "check", "reached"), [
    ("pagerduty", check_pagerduty, "pagerduty to carol: delivered, PagerDuty at 127.0.0.1:"),
    ("sms", check_sms, f"sms to carol <{CAROL_PHONE}>: delivered, SMS gateway 127.0.0.1:"),
    ("ntfy", check_ntfy, "ntfy to carol <carol-pager>: delivered, ntfy at 127.0.0.1:"),
    ("webhook", check_webhook, "webhook to carol: delivered, slack webhook at 127.0.0.1:"),
    ("email", check_email, "email to carol <carol@noc.example>: delivered, accepted by"),
])
async def test_a_severity_1_case_pages_a_person_on_their_channel(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path], session: aiohttp.ClientSession,
        channel: str, check: Any, reached: str) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=[channel])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    await run(db, config, clock, session)
    link = ack_link(db)
    assert link.startswith("https://noc.example/ack/")
    check(peers, link)
    events = timeline(db, case)
    assert any(e.startswith(reached) and e.endswith("(attempt 1)") for e in events), events
    assert f"notifying carol{'' if channel in ('pagerduty', 'webhook') else ' <'}" in events[2]


async def test_the_steps_channels_come_before_the_persons_own(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["pagerduty", "email"],
                          escalation=PAGE_CAROL + 'channels = ["sms"]\n')
    db = Database(config.database)
    clock = FakeClock(T0)
    open_case(db, config, clock.now())
    await run(db, config, clock, session)
    assert len(peers.twilio.messages) == 1
    assert peers.pagerduty.alerts == {} and peers.relay.mails == []


async def test_a_permanent_sms_failure_falls_over_to_email(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["sms", "email"])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    peers.twilio.cue(400)
    await run(db, config, clock, session)
    events = timeline(db, case)
    assert f"notifying carol <{CAROL_PHONE}> by sms (then email)" in events[2]
    assert (f"sms to carol <{CAROL_PHONE}> failed for good (SMS gateway 127.0.0.1:"
            f"{peers.twilio.url.rsplit(':', 1)[1]} answered 400: error 21211: The 'To' number is"
            " not a valid phone number.); falling over to email") in events
    assert events[-1].startswith("email to carol <carol@noc.example>: delivered")
    (mail,) = peers.relay.mails
    assert mail.rcpt_tos == ["carol@noc.example"]
    assert ack_link(db) in mail.message.get_content()  # the same link: one use acknowledges
    (sms_key, email_key) = [key for _, _, key in outbox(db)]
    assert [(c, s) for c, s, _ in outbox(db)] == [("sms", "failed"), ("email", "sent")]
    assert sms_key.removesuffix(":sms") == email_key.removesuffix(":email")


async def test_without_another_channel_a_permanent_failure_is_the_end(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["sms"])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    peers.twilio.cue(401)
    await run(db, config, clock, session)
    assert timeline(db, case)[-1].endswith(
        "error 20003: Authenticate); no other channel is left to reach carol")
    assert TWILIO_TOKEN not in " ".join(timeline(db, case))


async def test_a_429_waits_as_long_as_the_provider_asks(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["sms", "email"])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    peers.twilio.cue(429, retry_after="120")
    await run(db, config, clock, session)
    assert timeline(db, case)[-1].endswith("error 20429: Too Many Requests); retrying in 120s")
    clock.advance(119)  # our own backoff would have tried again after 5 s
    await run(db, config, clock, session)
    assert peers.twilio.messages == [] and len(peers.twilio.requests) == 1
    clock.advance(1)
    await run(db, config, clock, session)
    assert len(peers.twilio.messages) == 1 and peers.relay.mails == []
    assert timeline(db, case)[-1].endswith("(attempt 2)")


async def test_a_failing_channel_falls_over_after_three_attempts(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["pagerduty", "email"])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    for _ in range(3):
        peers.pagerduty.cue(500)
    for wait in (0, 5, 15):
        clock.advance(wait)
        await run(db, config, clock, session)
    events = timeline(db, case)
    assert [e.split(": attempt")[0] for e in events if "retrying" in e] == [
        "pagerduty to carol"] * 2
    assert "pagerduty to carol failed for good after 3 attempts (PagerDuty at 127.0.0.1:" \
        in events[-2] and events[-2].endswith("answered 500); falling over to email")
    assert len(peers.relay.mails) == 1


async def test_an_unexpected_error_in_a_channel_is_retried(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["sms", "email"])

    class Broken:
        async def send(self, n: Notification) -> Any:
            raise RuntimeError("a bug, with the secret s3cr3t in its text")

    broken_sms = Configured(replace(CHANNELS["sms"], create=lambda *_: Broken()),
                            config.channel("sms").settings)
    broken = replace(config, channels={**config.channels, "sms": broken_sms})
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    await run(db, broken, clock, session)
    assert timeline(db, case)[-1] == (
        f"sms to carol <{CAROL_PHONE}>: attempt 1 failed (unexpected RuntimeError in the sms"
        " channel (see the collector's log)); retrying in 5s")
    clock.advance(5)
    await run(db, config, clock, session)  # fixed
    assert len(peers.twilio.messages) == 1


async def test_a_channel_no_longer_set_up_falls_over(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["sms", "email"])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    without_sms = replace(config, channels={})  # edited and restarted after the page queued
    await run(db, without_sms, clock, session)
    assert (f"sms to carol <{CAROL_PHONE}> failed for good (sms is no longer set up in the"
            " collector's configuration); falling over to email") in timeline(db, case)
    assert len(peers.relay.mails) == 1


async def test_acknowledging_stops_the_fall_over(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["sms", "email"])
    db = Database(config.database)
    clock = FakeClock(T0)
    case = open_case(db, config, clock.now())
    peers.twilio.cue(500)
    await run(db, config, clock, session)  # sms will be tried again in 5 s
    casework.acknowledge(db, case, "carol", "cli", clock.now())
    clock.advance(60)
    await run(db, config, clock, session)
    assert len(peers.twilio.requests) == 1 and peers.relay.mails == []
    assert [s for _, s, _ in outbox(db)] == ["cancelled"]


ONCALL = """
[[schedule]]
name = "noc"
time_zone = "Europe/London"

[[schedule.layer]]
name = "primary"
members = ["alice", "bob"]
rotation = "daily"
handoff = "09:00"
start = "2027-01-01"
"""

PAGE_ON_CALL = """
[[policy]]
name = "severity-1"
severities = [1]

[[policy.step]]
after = "0m"
notify = ["schedule:noc"]

[[policy.step]]
after = "15m"
notify = ["schedule:noc/primary"]
"""


async def test_an_on_call_target_pages_whoever_is_on_call_when_the_step_runs(
        tmp_path: Path, peers: Peers, cert: tuple[Path, Path],
        session: aiohttp.ClientSession) -> None:
    config = write_config(tmp_path, peers, cert[0], carol=["email"], escalation=PAGE_ON_CALL,
                          oncall=ONCALL)
    db = Database(config.database)
    clock = FakeClock(T0 + 50 * 60)  # 08:50: bob's shift, alice takes over at 09:00
    case = open_case(db, config, clock.now())
    await run(db, config, clock, session)
    clock.advance(15 * 60)  # 09:05, nobody has acknowledged
    await run(db, config, clock, session)
    assert [m.rcpt_tos for m in peers.relay.mails] == [["bob@noc.example"],
                                                       ["alice@noc.example"]]
    events = timeline(db, case)
    assert "Step 1 of 'severity-1' (page): notifying bob <bob@noc.example> by email" in events
    assert "Step 2 of 'severity-1' (page): notifying alice <alice@noc.example> by email" in events
