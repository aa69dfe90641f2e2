"""The agent-facing API against a real SQLite store: enrolment, reports, and bad input."""

from __future__ import annotations

import gzip
import json

import pytest
from aiohttp.test_utils import TestClient

from collector.app import create_app
from collector.config import CollectorConfig
from collector.enrolment import create_token
from collector.store.db import Database
from tests.conftest import report_body
from watchkeeper.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
async def client(aiohttp_client, config: CollectorConfig, clock: FakeClock) -> TestClient:
    return await aiohttp_client(create_app(config, clock, run_workers=False))


def token(config: CollectorConfig, uses: int = 1, ttl: float = 3600) -> str:
    return create_token(Database(config.database), "acme", uses, ttl, 1_800_000_000.0)


async def enrol(client: TestClient, config: CollectorConfig) -> str:
    resp = await client.post("/api/v1/enroll", json={"token": token(config), "hostname": "srv1"})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["credential"]


async def post_report(client: TestClient, credential: str | None, body: bytes):
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return await client.post("/api/v1/report", data=body, headers=headers)


def stored(config: CollectorConfig) -> tuple[int, int]:
    db = Database(config.database)
    return (db.conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0],
            db.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])


async def test_enrolment_gives_a_credential_and_the_rules(client: TestClient,
                                                          config: CollectorConfig) -> None:
    resp = await client.post("/api/v1/enroll", json={"token": token(config), "hostname": "srv1"})
    body = await resp.json()
    assert resp.status == 201
    assert body["customer"] == "acme" and body["interval"] == 60
    assert body["credential"].startswith("wkd.")
    assert {r["name"] for r in body["rules"]["rules"]} >= {"cpu_high", "memory_high"}
    row = Database(config.database).conn.execute("SELECT credential_hash FROM devices").fetchone()
    assert body["credential"].split(".")[2] not in row[0]  # only a hash is kept


@pytest.mark.parametrize(("make_token", "words"), [
    (lambda c: "wke.nope.nope", "not known"),
    (lambda c: "garbage", "malformed"),
    (lambda c: token(c, ttl=-1), "expired"),
])
async def test_enrolment_refusals_say_why(client: TestClient, config: CollectorConfig,
                                          make_token, words: str) -> None:
    resp = await client.post("/api/v1/enroll", json={"token": make_token(config),
                                                      "hostname": "x"})
    assert resp.status == 403
    assert words in (await resp.json())["error"]


async def test_a_token_enrols_only_as_many_agents_as_it_allows(client: TestClient,
                                                               config: CollectorConfig) -> None:
    t = token(config, uses=2)
    statuses = [(await client.post("/api/v1/enroll", json={"token": t, "hostname": f"h{i}"}
                                   )).status for i in range(4)]
    assert statuses == [201, 201, 403, 403]


async def test_a_report_is_stored_and_refreshes_the_heartbeat(
        client: TestClient, config: CollectorConfig, clock: FakeClock) -> None:
    credential = await enrol(client, config)
    clock.advance(45)
    resp = await post_report(client, credential, report_body(0))
    assert resp.status == 200
    assert (await resp.json())["status"] == "stored"
    assert stored(config) == (1, 1)
    row = Database(config.database).conn.execute("SELECT * FROM devices").fetchone()
    assert row["last_seen"] == clock.now() and row["next_deadline"] == clock.now() + 60 + 30


async def test_a_resent_report_is_acknowledged_but_stored_once(
        client: TestClient, config: CollectorConfig, clock: FakeClock) -> None:
    credential = await enrol(client, config)
    await post_report(client, credential, report_body(7))
    seen = Database(config.database).conn.execute("SELECT last_seen FROM devices").fetchone()[0]
    clock.advance(100)
    resp = await post_report(client, credential, report_body(7))
    assert (await resp.json())["status"] == "duplicate"
    assert stored(config) == (1, 1)
    # A replay proves nothing about liveness now.
    assert Database(config.database).conn.execute(
        "SELECT last_seen FROM devices").fetchone()[0] == seen


@pytest.mark.parametrize("authorization", [None, "Bearer wkd.nobody.secret", "Basic abc",
                                           "Bearer "])
async def test_missing_or_wrong_credential_is_401_json(client: TestClient, config: CollectorConfig,
                                                       authorization: str | None) -> None:
    await enrol(client, config)
    headers = {"Content-Encoding": "gzip"}
    if authorization:
        headers["Authorization"] = authorization
    resp = await client.post("/api/v1/report", data=report_body(0), headers=headers)
    assert resp.status == 401
    assert "credential" in (await resp.json())["error"]


async def test_a_valid_device_id_with_the_wrong_secret_is_401(client: TestClient,
                                                              config: CollectorConfig) -> None:
    credential = await enrol(client, config)
    forged = credential.rsplit(".", 1)[0] + ".not-the-secret"
    resp = await post_report(client, forged, report_body(0))
    assert resp.status == 401


@pytest.mark.parametrize(("body", "status", "words"), [
    (b'{"seq": 1, "sent_at": 1}', 400, "not gzip"),
    (gzip.compress(b"{oops"), 400, "not valid JSON"),
    (gzip.compress(json.dumps({"seq": "one", "sent_at": 1}).encode()), 400, "seq: must be"),
    (gzip.compress(json.dumps({"seq": 1, "sent_at": 1, "samples": [{"metric": "m"}]}).encode()),
     400, r"samples[0].value"),
    (gzip.compress(b" " * 20_000_000), 413, "inflates to more than"),
    (b"\x1f\x8b" + bytes(2_000_000), 413, "larger than"),
])
async def test_bad_reports_get_a_clear_error_and_nothing_stored_is_lost(
        client: TestClient, config: CollectorConfig, body: bytes, status: int,
        words: str) -> None:
    credential = await enrol(client, config)
    assert (await post_report(client, credential, report_body(0))).status == 200
    resp = await post_report(client, credential, body)
    assert resp.status == status
    assert words in (await resp.json())["error"]
    assert stored(config) == (1, 1)
    # ... and the collector keeps working afterwards.
    assert (await post_report(client, credential, report_body(1))).status == 200
    assert stored(config) == (2, 2)


async def test_enrolment_with_a_malformed_body_is_400(client: TestClient) -> None:
    resp = await client.post("/api/v1/enroll", data=b"[1, 2]")
    assert resp.status == 400
    assert "JSON object" in (await resp.json())["error"]


async def test_rules_are_served_to_enrolled_agents_only(client: TestClient,
                                                        config: CollectorConfig) -> None:
    assert (await client.get("/api/v1/rules")).status == 401
    credential = await enrol(client, config)
    resp = await client.get("/api/v1/rules", headers={"Authorization": f"Bearer {credential}"})
    assert (await resp.json())["version"] == config.rules.version
