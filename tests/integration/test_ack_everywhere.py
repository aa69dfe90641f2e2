"""Acknowledgement everywhere, over real HTTP against a real SQLite store: the link in a page
(GET confirms, POST acknowledges once), an SMS reply through the gateway's signed inbound
webhook, the REST API with per-person tokens, and what an acknowledgement cancels."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from alerting import acklink
from collector import escalation_worker, outbox_worker
from collector.api.sms_inbound import PATH, InboundSmsSettings, twilio_signature
from collector.api_token_cli import add_parser
from collector.api_tokens import Role, create
from collector.app import create_app
from collector.config import CollectorConfig, load_config
from collector.enrolment import create_token, enroll
from collector.store.db import Database
from collector.sweeper import sweep
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
OPENED = T0 + 330  # five missed heartbeats of 60 s, plus 30 s grace
AUTH_TOKEN = "gateway-auth-token-0123456789abcdef"
OPS_PHONE = "+447700900123"
SCANNER = "Mozilla/5.0 (compatible; SafeLinks scanner)"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(OPENED)


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


@pytest.fixture
def sms(config: CollectorConfig) -> InboundSmsSettings:
    return InboundSmsSettings(AUTH_TOKEN, config.public_url, {OPS_PHONE: "ops-manager"})


def open_case(db: Database, config: CollectorConfig) -> None:
    """A device falls silent: case 1 opens and its first steps are queued (a page to
    ops-manager with its link, a notice to the customer)."""
    enroll(db, create_token(db, "acme", 1, 3600, T0), "srv1", config.heartbeat_for, T0)
    sweep(db, config, 0.0, OPENED)
    escalation_worker.fire_due(db, config, OPENED)


@pytest.fixture
async def client(aiohttp_client, config: CollectorConfig, db: Database, clock: FakeClock,
                 sms: InboundSmsSettings) -> TestClient:
    open_case(db, config)
    return await aiohttp_client(create_app(config, clock, run_workers=False, sms_inbound=sms))


def page_link(db: Database, recipient: str = "ops-manager") -> str:
    """The acknowledgement link in the page queued for `recipient`, as a path."""
    body = db.conn.execute("SELECT body FROM outbox WHERE recipient = ? AND body LIKE '%/ack/%'"
                           " ORDER BY id LIMIT 1", (recipient,)).fetchone()[0]
    return re.search(r"/ack/\S+", body).group(0)


def case(db: Database, case_id: int = 1) -> dict:
    return dict(db.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone())


def timeline(db: Database, case_id: int = 1) -> list[tuple[str, str]]:
    return [(r["kind"], r["text"]) for r in db.conn.execute(
        "SELECT kind, text FROM case_events WHERE case_id = ? ORDER BY id", (case_id,))]


def outbox_states(db: Database) -> Counter:
    return Counter(f"{r['recipient']}:{r['state']}" for r in db.conn.execute(
        "SELECT recipient, state FROM outbox"))


def pending_timer_steps(db: Database) -> list[int]:
    return [r[0] for r in db.conn.execute(
        "SELECT step FROM escalation_timers WHERE state = 'pending' ORDER BY step")]


# -- the link in a page ---------------------------------------------------------------------

async def test_a_mail_scanner_fetching_the_link_acknowledges_nothing(
        client: TestClient, db: Database) -> None:
    url = page_link(db)
    for _ in range(3):
        resp = await client.get(url, headers={"User-Agent": SCANNER})
        assert resp.status == 200
        assert "Acknowledge case #1?" in await resp.text()
        head = await client.head(url, headers={"User-Agent": SCANNER})
        assert head.status == 200
    assert case(db)["state"] == "new"
    assert db.conn.execute("SELECT used_at FROM ack_links").fetchone()[0] is None
    assert pending_timer_steps(db) == [2, 3]  # the VP is still paged at 2 h
    assert outbox_states(db) == {"ops-manager:pending": 1, "Acme IT:pending": 1}


async def test_posting_the_link_acknowledges_as_its_recipient(client: TestClient,
                                                              db: Database) -> None:
    resp = await client.post(page_link(db), headers={"User-Agent": "Firefox/140"})
    assert resp.status == 200
    assert "Thank you, ops-manager. Case #1 is yours" in await resp.text()
    c = case(db)
    assert (c["state"], c["acknowledged_by"], c["acknowledged_via"], c["acknowledged_at"]) == (
        "open", "ops-manager", "email link", OPENED)
    kinds = dict(timeline(db))
    assert kinds["acknowledged"].startswith("Acknowledged by ops-manager via email link;")
    assert "used from 127.0.0.1 (Firefox/140)" in kinds["ack link"]


async def test_a_second_post_of_the_same_link_is_refused_and_recorded(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    url = page_link(db)
    assert (await client.post(url)).status == 200
    clock.advance(600)
    resp = await client.post(url, headers={"User-Agent": "curl/8.5"})
    text = await resp.text()
    assert resp.status == 200
    assert "This link was already used by ops-manager at 2027-01-15 08:05:30 UTC" in text
    assert case(db)["acknowledged_at"] == OPENED  # nothing changed
    (refused,) = [t for k, t in timeline(db) if k == "ack refused"]
    assert "from 127.0.0.1 (curl/8.5)" in refused and "nothing changed" in refused
    # Looking at a used link says so, and records nothing more.
    shown = await (await client.get(url)).text()
    assert "This link was already used by ops-manager" in shown
    assert [k for k, _ in timeline(db)].count("ack refused") == 1


def _forged_case(config: CollectorConfig, url: str) -> str:
    """The link's claim rewritten to name case 2, keeping its signature."""
    body, _, mac = url.removeprefix("/ack/").partition(".")
    claim = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claim["c"] = 2
    forged = base64.urlsafe_b64encode(json.dumps(claim, separators=(",", ":")).encode())
    return f"/ack/{forged.rstrip(b'=').decode()}.{mac}"


@pytest.mark.parametrize("forge", [
    lambda c, url: url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"),  # signature
    _forged_case,
    lambda c, url: "/ack/" + acklink.sign(b"x" * 32, acklink.verify(  # another collector's key
        c.secret, url.removeprefix("/ack/"), OPENED)),
    lambda c, url: "/ack/" + acklink.sign(c.secret, acklink.AckClaim(  # never issued
        1, "ops-manager", OPENED + 3600, acklink.new_link_id())),
    lambda c, url: "/ack/" + acklink.sign(c.secret, acklink.AckClaim(  # someone else's name
        1, "vp-operations", OPENED + 3600, acklink.verify(
            c.secret, url.removeprefix("/ack/"), OPENED).link_id)),
])
async def test_forged_links_are_refused(client: TestClient, db: Database,
                                        config: CollectorConfig, forge) -> None:
    url = forge(config, page_link(db))
    for method in (client.get, client.post):
        resp = await method(url)
        assert resp.status == 403
        assert "Invalid link" in await resp.text()
    assert case(db)["state"] == "new"
    assert pending_timer_steps(db) == [2, 3]


async def test_an_expired_link_is_gone(client: TestClient, db: Database,
                                       clock: FakeClock) -> None:
    url = page_link(db)
    clock.advance(24 * 3600 + 1)  # the starter's ack_link_ttl is 24 h
    for method in (client.get, client.post):
        resp = await method(url)
        assert resp.status == 410
        assert "watchkeeper ack 1" in await resp.text()
    assert case(db)["state"] == "new"


async def test_a_link_to_a_resolved_case_acknowledges_nothing_and_stays_unused(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    from collector.casework import resolve
    resolve(db, 1, "vp-operations", "replaced the switch", clock.now())
    url = page_link(db)
    for method in (client.get, client.post):
        resp = await method(url)
        assert resp.status == 409 and "Nothing to acknowledge" in await resp.text()
    assert case(db)["acknowledged_at"] is None
    assert db.conn.execute("SELECT used_at FROM ack_links").fetchone()[0] is None


async def test_racing_posts_of_one_link_acknowledge_once(client: TestClient,
                                                         db: Database) -> None:
    url = page_link(db)
    pages = [await r.text() for r in await asyncio.gather(*(client.post(url) for _ in range(5)))]
    assert sum("Thank you, ops-manager" in p for p in pages) == 1
    assert sum("This link was already used by ops-manager" in p for p in pages) == 4
    assert [k for k, _ in timeline(db)].count("acknowledged") == 1
    assert [k for k, _ in timeline(db)].count("ack refused") == 4


# -- an SMS reply ---------------------------------------------------------------------------

def twilio_form(sender: str, body: str) -> dict[str, str]:
    """What Twilio posts for an incoming SMS."""
    sid = "SM" + "5" * 32
    return {"ToCountry": "GB", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
            "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
            "FromCity": "", "Body": body, "FromCountry": "GB", "To": "+447700900999",
            "ToZip": "", "NumSegments": "1", "MessageSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": sender, "ApiVersion": "2010-04-01"}


async def post_sms(client: TestClient, sms: InboundSmsSettings, form: dict[str, str],
                   token: str = AUTH_TOKEN) -> tuple[int, str]:
    signature = twilio_signature(sms.public_url + PATH, form.items(), token)
    resp = await client.post(PATH, data=form, headers={"X-Twilio-Signature": signature})
    return resp.status, await resp.text()


async def test_an_sms_reply_acknowledges_and_says_so(client: TestClient, db: Database,
                                                     sms: InboundSmsSettings) -> None:
    status, reply = await post_sms(client, sms, twilio_form(OPS_PHONE, "ack #1 "))
    assert status == 200
    assert ("<Response><Message>Case 1 acknowledged by ops-manager. Its escalation has"
            " stopped.</Message></Response>") in reply
    c = case(db)
    assert (c["state"], c["acknowledged_by"], c["acknowledged_via"]) == (
        "open", "ops-manager", "sms")
    (said,) = [t for k, t in timeline(db) if k == "ack sms"]
    assert f"from ops-manager ({OPS_PHONE}, gateway message SM{'5' * 32})" in said
    status, again = await post_sms(client, sms, twilio_form(OPS_PHONE, "ACK 1"))
    assert "Case 1 was already acknowledged by ops-manager via sms" in again


async def test_an_sms_with_a_wrong_signature_is_refused(client: TestClient, db: Database,
                                                        sms: InboundSmsSettings) -> None:
    status, reply = await post_sms(client, sms, twilio_form(OPS_PHONE, "ACK 1"),
                                   token="another-account-token")
    assert status == 403
    assert "X-Twilio-Signature" in json.loads(reply)["error"]
    # Signed, then altered on the way.
    form = twilio_form(OPS_PHONE, "hello")
    signature = twilio_signature(sms.public_url + PATH, form.items(), AUTH_TOKEN)
    resp = await client.post(PATH, data={**form, "Body": "ACK 1"},
                             headers={"X-Twilio-Signature": signature})
    assert resp.status == 403
    resp = await client.post(PATH, data=twilio_form(OPS_PHONE, "ACK 1"))  # no signature
    assert resp.status == 403
    assert case(db)["state"] == "new"


async def test_an_unknown_number_learns_nothing(client: TestClient, db: Database,
                                                sms: InboundSmsSettings) -> None:
    replies = {await post_sms(client, sms, twilio_form("+15005550001", body))
               for body in ("ACK 1", "ACK 999", "hello")}
    assert replies == {(200, '<?xml version="1.0" encoding="UTF-8"?><Response><Message>This'
                             ' number may not acknowledge cases.</Message></Response>')}
    assert case(db)["state"] == "new"


@pytest.mark.parametrize(("body", "answer"), [
    ("ACK 999", "There is no case 999."),
    ("please stop", "Reply ACK and the case number to acknowledge a case, e.g. ACK 1234."),
])
async def test_a_known_number_is_told_what_went_wrong(client: TestClient, db: Database,
                                                      sms: InboundSmsSettings, body: str,
                                                      answer: str) -> None:
    status, reply = await post_sms(client, sms, twilio_form(OPS_PHONE, body))
    assert status == 200 and f"<Message>{answer}</Message>" in reply
    assert case(db)["state"] == "new"


async def test_without_sms_settings_there_is_no_inbound_route(
        aiohttp_client, config: CollectorConfig, db: Database, clock: FakeClock) -> None:
    open_case(db, config)
    client = await aiohttp_client(create_app(config, clock, run_workers=False))
    resp = await client.post(PATH, data=twilio_form(OPS_PHONE, "ACK 1"))
    assert resp.status == 404
    assert case(db)["state"] == "new"


# -- the REST API ---------------------------------------------------------------------------

def cli_token(config: CollectorConfig, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="watchkeeper")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["api-token", *argv, "--config", str(config.source)])
    assert args.func(args) == 0
    return capsys.readouterr().out.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_api_needs_a_valid_token(client: TestClient, db: Database) -> None:
    resp = await client.get("/api/v1/cases")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="watchkeeper"'
    assert "api-token create" in (await resp.json())["error"]
    resp = await client.get("/api/v1/cases", headers=bearer("wk_00000000_guessed"))
    assert resp.status == 401 and "not valid" in (await resp.json())["error"]


async def test_a_viewer_reads_cases_and_their_timeline_but_cannot_acknowledge(
        client: TestClient, db: Database, config: CollectorConfig,
        capsys: pytest.CaptureFixture[str]) -> None:
    token = cli_token(config, capsys, "create", "--person", "vp-operations")
    resp = await client.get("/api/v1/cases", headers=bearer(token))
    assert resp.status == 200
    (listed,) = (await resp.json())["cases"]
    assert (listed["id"], listed["severity"], listed["state"], listed["hostname"]) == (
        1, 1, "new", "srv1")
    for query, ids in (("state=new&severity=1", [1]), ("state=open", []), ("severity=2,3", []),
                       ("state=new,open,closed", [1])):
        found = await (await client.get(f"/api/v1/cases?{query}", headers=bearer(token))).json()
        assert [c["id"] for c in found["cases"]] == ids, query
    resp = await client.get("/api/v1/cases?state=nonsense", headers=bearer(token))
    assert resp.status == 400 and "not a case state" in (await resp.json())["error"]

    shown = await (await client.get("/api/v1/cases/1", headers=bearer(token))).json()
    assert shown["title"] == case(db)["title"] and "policy" not in shown
    assert [e["kind"] for e in shown["timeline"]][:2] == ["opened", "escalation"]
    assert (await client.get("/api/v1/cases/99", headers=bearer(token))).status == 404

    resp = await client.post("/api/v1/cases/1/ack", headers=bearer(token))
    assert resp.status == 403
    assert (await resp.json())["error"] == ("this token's role is viewer; this request needs"
                                            " operator or higher")
    assert case(db)["state"] == "new"


async def test_an_operator_acknowledges_as_themself(client: TestClient, db: Database,
                                                    config: CollectorConfig) -> None:
    _, token = create(db, "ops-manager", Role.OPERATOR, T0)
    resp = await client.post("/api/v1/cases/1/ack", json={"by": "vp-operations"},
                             headers=bearer(token))
    assert resp.status == 403 and "belongs to ops-manager" in (await resp.json())["error"]
    resp = await client.post("/api/v1/cases/1/ack", json={"by": "ops-manager"},
                             headers=bearer(token))
    assert resp.status == 200
    assert await resp.json() == {"case": 1, "acknowledged": True, "by": "ops-manager",
                                 "via": "api", "at": OPENED}
    c = case(db)
    assert (c["state"], c["acknowledged_by"], c["acknowledged_via"]) == (
        "open", "ops-manager", "api")
    again = await (await client.post("/api/v1/cases/1/ack", headers=bearer(token))).json()
    assert again["acknowledged"] is False and "already acknowledged" in again["message"]
    resp = await client.post("/api/v1/cases/99/ack", headers=bearer(token))
    assert resp.status == 404 and (await resp.json())["error"] == "there is no case 99"
    resp = await client.post("/api/v1/cases/1/ack", data="{", headers=bearer(token))
    assert resp.status == 400 and "not JSON" in (await resp.json())["error"]


async def test_a_revoked_token_is_refused(client: TestClient, config: CollectorConfig,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    token = cli_token(config, capsys, "create", "--person", "ops-manager", "--role", "operator")
    assert (await client.get("/api/v1/cases", headers=bearer(token))).status == 200
    token_id = token.split("_")[1]
    assert token_id in cli_token(config, capsys, "list")
    assert "is revoked" in cli_token(config, capsys, "revoke", token_id)
    resp = await client.post("/api/v1/cases/1/ack", headers=bearer(token))
    assert resp.status == 401


# -- what an acknowledgement cancels ----------------------------------------------------------

ESCALATION = """
[[policy]]
name = "test"
severities = [1]

[[policy.step]]
after = "0m"
notify = ["person:ops-manager"]
message = "page"

[[policy.step]]
after = "0m"
notify = ["contact:technical"]
while = "always"
message = "notice"

[[policy.step]]
after = "1m"
notify = ["person:vp-operations"]
message = "page"

[[policy.step]]
after = "2h"
notify = ["person:vp-operations"]
message = "page"

[[policy.step]]
after = "1h"
repeat = "1h"
notify = ["contact:technical"]
while = "always"
message = "status"
"""


async def test_acknowledging_cancels_pending_and_claimed_pages_but_not_customer_status(
        aiohttp_client, config_dir: Path, clock: FakeClock, smtp: Controller) -> None:
    (config_dir / "escalation.toml").write_text(ESCALATION)
    config = load_config(config_dir / "collector.toml")
    db = Database(config.database)
    open_case(db, config)
    # The outbox has claimed the first messages and not sent them yet ...
    claimed = outbox_worker.claim_due(db, clock.now())
    clock.advance(60)
    escalation_worker.fire_due(db, config, clock.now())  # ... and the VP's page is queued.
    assert outbox_states(db) == {"ops-manager:sending": 1, "Acme IT:sending": 1,
                                 "vp-operations:pending": 1}
    assert pending_timer_steps(db) == [3, 4]
    client = await aiohttp_client(create_app(config, clock, run_workers=False))

    assert (await client.post(page_link(db))).status == 200

    assert outbox_states(db) == {"ops-manager:cancelled": 1, "Acme IT:sending": 1,
                                 "vp-operations:cancelled": 1}
    assert pending_timer_steps(db) == [4]  # the 2 h page is cancelled, the status goes on
    (acked,) = [t for k, t in timeline(db) if k == "acknowledged"]
    assert "3 pending step(s) and message(s) cancelled" in acked
    for msg in claimed:  # the outbox goes on with what it had claimed
        await outbox_worker.deliver(db, config, msg, clock)
    for hour in (1, 2, 3):
        clock.advance(3600)
        escalation_worker.fire_due(db, config, clock.now())
        for msg in outbox_worker.claim_due(db, clock.now()):
            await outbox_worker.deliver(db, config, msg, clock)
        assert len(smtp.handler.to("it@acme.example")) == 1 + hour  # the notice, then status
    assert smtp.handler.to("ops-manager@noc.example") == []
    assert smtp.handler.to("vp-operations@noc.example") == []
    assert outbox_states(db) == {"ops-manager:cancelled": 1, "vp-operations:cancelled": 1,
                                 "Acme IT:sent": 4}


async def test_a_failed_send_of_a_cancelled_page_is_not_retried(
        config: CollectorConfig, db: Database, clock: FakeClock) -> None:
    from alerting.notifiers.email import DeliveryError
    from collector.casework import acknowledge
    open_case(db, config)
    (page,) = [m for m in outbox_worker.claim_due(db, clock.now())
               if m["recipient"] == "ops-manager"]
    acknowledge(db, 1, "ops-manager", "cli", clock.now())
    outbox_worker.record(db, page, DeliveryError("451 try again later", True), "", clock.now())
    assert db.conn.execute("SELECT state FROM outbox WHERE id = ?",
                           (page["id"],)).fetchone()[0] == "cancelled"
    assert "not retried: the message was cancelled meanwhile" in timeline(db)[-1][1]


async def test_the_inbound_sms_route_comes_from_the_configuration(
        aiohttp_client, config: CollectorConfig, db: Database, clock: FakeClock) -> None:
    """`[channel.sms] inbound = true` and a person's `phone`: no code, just configuration."""
    folder = config.source.parent
    (folder / "twilio.token").write_text(AUTH_TOKEN + "\n")
    text = config.source.read_text().replace(
        'name = "ops-manager"\n', f'name = "ops-manager"\nphone = "{OPS_PHONE}"\n', 1)
    config.source.write_text(text + (
        '\n[channel.sms]\nbase_url = "http://127.0.0.1:9"\naccount_sid = "AC0123"\n'
        'auth_token_file = "twilio.token"\nfrom_number = "+447700900999"\ninbound = true\n'))
    configured = load_config(config.source)
    open_case(db, configured)
    client = await aiohttp_client(create_app(configured, clock, run_workers=False))
    settings = InboundSmsSettings(AUTH_TOKEN, configured.public_url, {})
    status, reply = await post_sms(client, settings, twilio_form(OPS_PHONE, "ack 1"))
    assert status == 200 and "Case 1 acknowledged by ops-manager" in reply
    assert tuple(db.conn.execute("SELECT state, acknowledged_via FROM cases").fetchone()) == (
        "open", "sms")
