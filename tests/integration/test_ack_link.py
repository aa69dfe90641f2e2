"""Acknowledging from the link in a page, over HTTP: GET confirms, only POST acknowledges."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from alerting import acklink
from collector import ack_links
from collector.app import create_app
from collector.config import CollectorConfig
from collector.enrolment import create_token, enroll
from collector.store.db import Database
from collector.sweeper import sweep
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + 330)


@pytest.fixture
async def client(aiohttp_client, config: CollectorConfig, clock: FakeClock) -> TestClient:
    db = Database(config.database)
    enroll(db, create_token(db, "acme", 1, 3600, T0), "srv1", config.heartbeat_for, T0)
    sweep(db, config, 0.0, T0 + 330)  # case 1 opens
    return await aiohttp_client(create_app(config, clock, run_workers=False))


def link(config: CollectorConfig, expires: float = T0 + 86400) -> str:
    """A link to case 1 for ops-manager, recorded as the escalation records the links it
    sends."""
    db = Database(config.database)
    with db.transaction() as conn:
        return "/ack/" + ack_links.issue(conn, config.secret, 1, "ops-manager", ("email",), T0,
                                         expires - T0)


def state(config: CollectorConfig) -> str:
    return Database(config.database).conn.execute("SELECT state FROM cases").fetchone()[0]


async def test_get_and_head_show_but_do_not_acknowledge(client: TestClient,
                                                        config: CollectorConfig) -> None:
    resp = await client.get(link(config))
    page = await resp.text()
    assert resp.status == 200
    assert "Acknowledge case #1?" in page and 'method="post"' in page
    assert (await client.head(link(config))).status == 200
    assert state(config) == "new"  # a mail scanner fetching the link changes nothing


async def test_post_acknowledges_once_and_stops_the_escalation(client: TestClient,
                                                               config: CollectorConfig) -> None:
    url = link(config)
    resp = await client.post(url)
    assert resp.status == 200 and "the escalation has stopped" in await resp.text()
    db = Database(config.database)
    case = db.conn.execute("SELECT * FROM cases").fetchone()
    assert (case["state"], case["acknowledged_by"], case["acknowledged_via"]) == (
        "open", "ops-manager", "email link")
    pending = db.conn.execute("SELECT step FROM escalation_timers WHERE state = 'pending'"
                              " ORDER BY step").fetchall()
    # The customer notice and hourly status stay; the VP's page (step 3) is cancelled.
    assert [r[0] for r in pending] == [1, 3]
    again = await (await client.post(link(config))).text()  # another link of the same case
    assert "Case #1 already acknowledged" in again and "acknowledged by ops-manager" in again
    reused = await (await client.post(url)).text()
    assert "This link was already used by ops-manager" in reused


def unrecorded(config: CollectorConfig) -> str:
    """Signed with the collector's key, but never issued (no page carried it)."""
    return "/ack/" + acklink.sign(config.secret, acklink.AckClaim(1, "ops-manager", T0 + 86400,
                                                                  "never-issued"))


@pytest.mark.parametrize(("make", "status", "words"), [
    (lambda c: link(c)[:-2], 403, "not valid"),
    (lambda c: link(c, expires=T0), 410, "expired"),
    (unrecorded, 403, "not issued by this collector"),
])
async def test_bad_links_say_why_and_change_nothing(client: TestClient, config: CollectorConfig,
                                                    make, status: int, words: str) -> None:
    resp = await client.post(make(config))
    assert resp.status == status
    assert words in await resp.text()
    assert state(config) == "new"
