"""`watchkeeper maintenance add|list|end` against a real collector configuration and
database, on the real clock: what a NOC engineer types and reads, and the summary that
`end` queues reaching a real SMTP server."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from collector import outbox_worker, sweeper
from collector.config import CollectorConfig
from collector.enrolment import create_token, enroll
from collector.maintenance_cli import add_parser
from collector.store.db import Database
from watchkeeper.clock import FakeClock, SystemClock

OPS = "ops-manager@noc.example"


def run(config: CollectorConfig, capsys: pytest.CaptureFixture[str],
        *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="watchkeeper")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["maintenance", *argv, "--config", str(config.source)])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


def utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def db(config: CollectorConfig) -> Database:
    return Database(config.database)


@pytest.fixture
def srv1(db: Database, config: CollectorConfig) -> str:
    """A device enrolled long enough ago that it is down at the next sweep."""
    then = SystemClock().now() - 400
    token = create_token(db, "acme", 1, 3600, then)
    return enroll(db, token, "srv1", config.heartbeat_for, then)[0].id


async def test_a_device_window_from_add_to_end_and_its_summary(
        db: Database, config: CollectorConfig, srv1: str, smtp: Controller,
        capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    code, out, _ = run(config, capsys, "add", "--device", "SRV1", "--start",
                       utc(now - timedelta(minutes=1)), "--end", utc(now + timedelta(hours=2)),
                       "--tz", "UTC", "--reason", "disk swap", "--by", "alice")
    assert code == 0
    assert out.startswith(f"Maintenance window 1 added for device srv1 ({srv1}):")
    assert "It is active, until" in out and "watchkeeper maintenance end 1" in out

    sweeper.sweep(db, config, 0.0, SystemClock().now())  # srv1 is down: a quiet case
    code, out, _ = run(config, capsys, "list")
    header, row = out.splitlines()
    assert header.split() == ["ID", "STATE", "FOR", "WHEN", "NOW/NEXT", "QUIET", "REASON"]
    assert row.split()[:4] == ["1", "active", "device", "srv1"]
    assert "#1" in row.split() and row.endswith("disk swap (by alice)")
    code, out, _ = run(config, capsys, "list", "--json")
    (listed,) = json.loads(out)
    assert (listed["state"], listed["scope"], listed["target"], listed["held_cases"]) == (
        "active", "device", srv1, [1])
    assert listed["recurrence"] is None and listed["time_zone"] == "UTC"

    code, out, _ = run(config, capsys, "end", "1", "--by", "alice")
    assert code == 0
    assert out.splitlines() == [
        "Maintenance window 1 ended now.",
        "It kept 1 case(s) quiet; 1 still fail: their escalation starts now, and 2 summary"
        " message(s) are queued for the collector to send."]
    clock = FakeClock(SystemClock().now())
    for msg in outbox_worker.claim_due(db, clock.now()):
        await outbox_worker.deliver(db, config, msg, clock)
    (page,) = smtp.handler.to(OPS)
    assert page["Subject"] == ("[watchkeeper] PAGE 1 case still failing after maintenance"
                               " window #1 (disk swap) (acme)")

    assert run(config, capsys, "list")[1] == "No maintenance window under way or to come."
    assert run(config, capsys, "list", "--all")[1].splitlines()[1].split()[:2] == ["1", "over"]
    code, _, err = run(config, capsys, "end", "1")
    assert code == 1 and "was already ended" in err


def test_a_recurring_window_keeps_its_schedule_until_ended_for_good(
        config: CollectorConfig, capsys: pytest.CaptureFixture[str]) -> None:
    london = ZoneInfo("Europe/London")
    later = (datetime.now(london) + timedelta(days=3)).strftime("%A").lower()
    code, out, _ = run(config, capsys, "add", "--customer", "acme", "--every", later,
                       "--from", "02:00", "--for", "2h", "--tz", "Europe/London",
                       "--reason", "patching")
    assert code == 0
    assert f"every {later} 02:00 for 2h (Europe/London)" in out and "It is upcoming, from" in out
    code, _, err = run(config, capsys, "end", "1")
    assert code == 1
    assert err == ("watchkeeper: maintenance window 1 is not under way now; to stop its"
                   " schedule: watchkeeper maintenance end 1 --series")
    code, out, _ = run(config, capsys, "end", "1", "--series")
    assert (code, out.splitlines()) == (0, ["Maintenance window 1 ends for good: no later"
                                            " occurrence.", "It kept no case quiet."])


def test_ending_the_occurrence_under_way_keeps_the_next(
        config: CollectorConfig, capsys: pytest.CaptureFixture[str]) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    code, _, _ = run(config, capsys, "add", "--customer", "acme", "--every", "daily",
                     "--from", an_hour_ago.strftime("%H:%M"), "--for", "3h", "--tz", "UTC",
                     "--reason", "backups")
    assert code == 0
    code, out, _ = run(config, capsys, "end", "1")
    first = out.splitlines()[0]
    assert code == 0 and "the occurrence under way since" in first
    assert "ended now; its schedule goes on; the next is from" in first
    (listed,) = json.loads(run(config, capsys, "list", "--json")[1])
    assert listed["state"] == "upcoming"


@pytest.mark.parametrize(("argv", "status", "message"), [
    (["--customer", "nobody", "--start", "2030-01-01 00:00", "--for", "1h"], 1,
     "no customer 'nobody' in"),
    (["--device", "ghost", "--start", "2030-01-01 00:00", "--for", "1h"], 1,
     "no device has the id or hostname 'ghost'"),
    (["--site", "leeds", "--every", "sunday", "--from", "02:00"], 2,
     "a recurring window needs --every DAY, --from HH:MM and --for DURATION"),
    (["--site", "leeds", "--every", "daily", "--from", "02:00", "--for", "25h"], 2,
     "a window repeated every day lasts more than 0 and at most 24h, not 25h"),
    (["--site", "leeds", "--start", "2030-01-01 02:00", "--end", "2030-01-01 01:00"], 2,
     "the window ends (Tue 2030-01-01 01:00 UTC) before it starts"),
    (["--site", "leeds", "--start", "2020-01-01 02:00", "--for", "1h"], 2,
     "the window would be over already"),
    (["--site", "leeds", "--start", "2030-01-01 02:00", "--from", "02:00", "--for", "1h"], 2,
     "--start and --end make a one-off window"),
])
def test_what_add_refuses_and_why(config: CollectorConfig, capsys: pytest.CaptureFixture[str],
                                  argv: list[str], status: int, message: str) -> None:
    code, _, err = run(config, capsys, "add", *argv, "--tz", "UTC", "--reason", "x")
    assert code == status and message in err
    assert json.loads(run(config, capsys, "list", "--json", "--all")[1]) == []
