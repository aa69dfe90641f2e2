"""Events, inventory and spool drops sent by agents, through the real API into real SQLite."""

from __future__ import annotations

import gzip
import json
import logging

import pytest
from aiohttp.test_utils import TestClient

from collector.app import create_app
from collector.config import CollectorConfig
from collector.enrolment import create_token
from collector.store.db import Database
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
DOC_V1 = {"os": {"name": "Ubuntu 22.04.3 LTS", "kernel": "5.15.0-91-generic"},
          "software": {"manager": "dpkg", "packages": [
              {"name": "openssl", "version": "3.0.2-0ubuntu1.12", "arch": "amd64"}]}}
DOC_V2 = {"os": {"name": "Ubuntu 22.04.4 LTS", "kernel": "5.15.0-105-generic"},
          "software": {"manager": "dpkg", "packages": [
              {"name": "openssl", "version": "3.0.2-0ubuntu1.15", "arch": "amd64"}]}}


def event(at: float, level: str = "error", message: str = "The Print Spooler service"
          " terminated unexpectedly.") -> dict:
    return {"at": at, "log": "System", "source": "Service Control Manager", "id": 7034,
            "level": level, "message": message}


def inventory(doc: dict, digest: str, at: float = T0) -> dict:
    return {"at": at, "hash": digest, "doc": doc}


def body(seq: int, **fields: object) -> bytes:
    doc = {"seq": seq, "sent_at": T0 + seq, "samples": [], "transitions": [], **fields}
    return gzip.compress(json.dumps(doc).encode())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def client(aiohttp_client, config: CollectorConfig, clock: FakeClock) -> TestClient:
    return await aiohttp_client(create_app(config, clock, run_workers=False))


@pytest.fixture
async def credential(client: TestClient, config: CollectorConfig) -> str:
    token = create_token(Database(config.database), "acme", 1, 3600, T0)
    resp = await client.post("/api/v1/enroll", json={"token": token, "hostname": "srv1"})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["credential"]


async def send(client: TestClient, credential: str, data: bytes) -> tuple[int, dict]:
    resp = await client.post("/api/v1/report", data=data, headers={
        "Content-Encoding": "gzip", "Authorization": f"Bearer {credential}"})
    return resp.status, await resp.json()


def rows(config: CollectorConfig, sql: str) -> list[tuple]:
    return [tuple(r) for r in Database(config.database).conn.execute(sql)]


async def test_events_are_stored_with_the_device_and_when_they_arrived(
        client: TestClient, config: CollectorConfig, clock: FakeClock, credential: str) -> None:
    clock.advance(30)
    status, _ = await send(client, credential, body(0, events=[
        event(T0 + 1), event(T0 + 2, "warning", "Disk 1 has a bad block.")]))
    assert status == 200
    device_id = credential.split(".")[1]
    assert rows(config, "SELECT device_id, at, log, source, event_id, level, message,"
                        " received_at FROM events ORDER BY at") == [
        (device_id, T0 + 1, "System", "Service Control Manager", 7034, "error",
         "The Print Spooler service terminated unexpectedly.", T0 + 30),
        (device_id, T0 + 2, "System", "Service Control Manager", 7034, "warning",
         "Disk 1 has a bad block.", T0 + 30)]


async def test_an_unchanged_inventory_is_kept_once_and_each_change_adds_a_version(
        client: TestClient, config: CollectorConfig, credential: str) -> None:
    for seq, (doc, digest) in enumerate([(DOC_V1, "aa01"), (DOC_V1, "aa01"), (DOC_V2, "bb02"),
                                         (DOC_V2, "bb02"), (DOC_V1, "aa01")]):
        assert (await send(client, credential, body(seq, inventory=inventory(
            doc, digest, T0 + seq))))[0] == 200
    # Reports without an inventory (most of them) change nothing.
    assert (await send(client, credential, body(5)))[0] == 200
    versions = rows(config, "SELECT hash, at, doc FROM inventory ORDER BY id")
    # Back to the first configuration is a change too: it is the history of the device.
    assert [(h, at) for h, at, _ in versions] == [("aa01", T0), ("bb02", T0 + 2),
                                                  ("aa01", T0 + 4)]
    assert json.loads(versions[1][2]) == DOC_V2


async def test_a_resent_report_stores_its_events_inventory_and_drops_only_once(
        client: TestClient, config: CollectorConfig, credential: str,
        caplog: pytest.LogCaptureFixture) -> None:
    data = body(3, events=[event(T0)], inventory=inventory(DOC_V1, "aa01"),
                dropped={"samples": 10, "events": 0, "transitions": 0, "reports": 1})
    caplog.set_level(logging.WARNING, logger="collector.ingest")
    assert (await send(client, credential, data))[1]["status"] == "stored"
    assert (await send(client, credential, data))[1]["status"] == "duplicate"
    assert rows(config, "SELECT COUNT(*) FROM events") == [(1,)]
    assert rows(config, "SELECT COUNT(*) FROM inventory") == [(1,)]
    assert rows(config, "SELECT seq, samples, reports FROM spool_drops") == [(3, 10, 1)]
    assert len([r for r in caplog.records if "spool overflowed" in r.getMessage()]) == 1


async def test_spool_drops_accumulate_and_are_logged_with_the_device(
        client: TestClient, config: CollectorConfig, credential: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="collector.ingest")
    await send(client, credential, body(0))
    await send(client, credential, body(1, dropped={"samples": 120, "events": 3,
                                                    "transitions": 0, "reports": 2}))
    await send(client, credential, body(2, dropped={"samples": 0, "events": 0,
                                                    "transitions": 0, "reports": 0}))
    await send(client, credential, body(3, dropped={"samples": 30, "events": 1,
                                                    "transitions": 1, "reports": 1}))
    device_id = credential.split(".")[1]
    assert rows(config, "SELECT SUM(samples), SUM(events), SUM(transitions), SUM(reports),"
                        " COUNT(*) FROM spool_drops") == [(150, 4, 1, 3, 2)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.getMessage(), r.device) for r in warnings] == [
        ("agent spool overflowed: dropped 120 samples, 3 events, 2 reports before report 1",
         device_id),
        ("agent spool overflowed: dropped 30 samples, 1 event, 1 transition, 1 report before"
         " report 3", device_id)]


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"events": [event(T0, level="loud")]}, 400, "events[0].level: must be one of critical"),
    ({"events": [event(T0)] * 5001}, 413, "events: 5001 entries"),
    ({"inventory": inventory({"os": "x"}, "zz")}, 400, "inventory.hash: must be a hexadecimal"),
    ({"dropped": {"samples": -5}}, 400, "dropped.samples: must be a whole number"),
])
async def test_a_bad_new_field_is_refused_by_path_and_stores_nothing(
        client: TestClient, config: CollectorConfig, credential: str, fields: dict,
        status: int, words: str) -> None:
    code, answer = await send(client, credential, body(0, **fields))
    assert (code, answer["error"][:len(words)]) == (status, words)
    assert rows(config, "SELECT COUNT(*) FROM reports") == [(0,)]
    assert rows(config, "SELECT COUNT(*) FROM events") == [(0,)]
    # The same sequence number, sent correctly, is then stored.
    assert (await send(client, credential, body(0, events=[event(T0)])))[1]["status"] == "stored"
