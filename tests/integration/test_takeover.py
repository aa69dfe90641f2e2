"""A collector that starts after a crash takes back at once the messages its dead
predecessor was sending, which it may only do because one collector runs per database."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller

from collector import escalation_worker, outbox_worker
from collector.config import CollectorConfig
from collector.store.db import Database
from collector.takeover import AlreadyRunning, WorkerLock, take_back_leases
from tests.integration.test_escalation import down_device_case, timeline


def test_only_one_collector_runs_workers_on_a_database(config: CollectorConfig) -> None:
    first = WorkerLock(config.database)
    with pytest.raises(AlreadyRunning, match="another collector is already running on"):
        WorkerLock(config.database)
    first.release()
    WorkerLock(config.database).release()


def test_the_lock_dies_with_a_killed_collector(config: CollectorConfig) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from collector.takeover import WorkerLock\nWorkerLock(Path(sys.argv[1]))\n"
         "print('held', flush=True)\ntime.sleep(60)", str(config.database)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning):
            WorkerLock(config.database)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    WorkerLock(config.database).release()  # no stale lock file to clean up by hand


async def test_a_message_a_dead_collector_was_sending_goes_out_at_once_and_once(
        config: CollectorConfig, smtp: Controller) -> None:
    db = Database(config.database)
    clock = down_device_case(db, config)
    escalation_worker.fire_due(db, config, clock.now())
    assert outbox_worker.claim_due(db, clock.now())  # ... and the collector dies here
    clock.advance(3)  # restarted 3 s later, long before the two-minute lease runs out

    assert take_back_leases(db, clock.now()) == 2  # the page and the customer notice
    for msg in outbox_worker.claim_due(db, clock.now()):
        await outbox_worker.deliver(db, config, msg, clock)
    assert len(smtp.handler.to("ops-manager@noc.example")) == 1
    assert any("the collector stopped during attempt 1, before it knew whether the message"
               " got through; sending it again now" in e for e in timeline(db, 1))
    assert take_back_leases(db, clock.now()) == 0
