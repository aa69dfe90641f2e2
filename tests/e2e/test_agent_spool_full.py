"""A full spool gives up metrics before events: a real agent, tailing a real log file while
its collector is down, with a spool far too small for the outage."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.e2e.conftest import Stack, wait_for

LINES = 120


def query(stack: Stack, sql: str) -> list[tuple]:
    with sqlite3.connect(stack.config.database) as conn:
        return conn.execute(sql).fetchall()


def test_a_full_spool_thins_metrics_and_keeps_every_event(stack: Stack, tmp_path: Path) -> None:
    collector = stack.start_collector()
    config = stack.enrol_agent("db-01")
    collector.send_signal(signal.SIGTERM)
    assert collector.wait(10) == 0
    app_log = tmp_path / "app.log"
    app_log.write_text("")
    text = config.read_text().replace('interval = "1s"', 'interval = "0.2s"')
    text = text.replace("spool_max_kib = 65536", "spool_max_kib = 16")
    text = text.replace('samplers = ["cpu", "memory", "disks", "eventlog", "backup", "antivirus",'
                        ' "updates", "inventory"]',
                        'samplers = ["cpu", "memory", "disks", "eventlog"]')
    config.write_text(text + f'\n[sampler.eventlog]\njournal = false\nfiles = ["{app_log}"]\n')
    folder = config.parent / "agent-state" / "spool"
    agent = stack.start_agent(config)
    wait_for("the agent to spool", lambda: folder.exists() and any(
        n.endswith(".json.gz") for n in os.listdir(folder)))

    with app_log.open("a") as fh:
        for i in range(LINES):
            fh.write(f"2026-11-22T03:00:{i % 60:02d}.000000+00:00 db-01 app[42]:"
                     f" error: disk write failed #{i}\n")
            fh.flush()
            time.sleep(0.03)
    # The outage goes on until the spool has had to thin reports to stay under its cap.
    wait_for("the spool to fill up", lambda: stack.log("db-01").count("spool full") >= 20, 90)

    stack.start_collector()
    # The whole spool, not just the events: the drop counts ride in the newest reports.
    wait_for("the spool to drain", lambda: not any(
        n.endswith(".json.gz") for n in os.listdir(folder)), 60)
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0

    messages = [m for (m,) in query(stack, "SELECT message FROM events ORDER BY id")]
    assert sorted(messages) == sorted(f"error: disk write failed #{i}" for i in range(LINES))
    samples, events, transitions, reports = query(
        stack, "SELECT SUM(samples), SUM(events), SUM(transitions), SUM(reports)"
               " FROM spool_drops")[0]
    assert samples > 0, "the spool should have had to give up metrics"
    assert (events, transitions, reports) == (0, 0, 0), "events went before metrics ran out"
    # The thinned reports still arrived, as heartbeats without samples, and in sequence.
    rows = query(stack, "SELECT seq, samples FROM reports ORDER BY seq")
    assert [seq for seq, _ in rows] == list(range(len(rows)))
    # (A single report may be empty anyway: sampling and pushing both tick every 0.2 s.)
    assert any(n == 0 for _, n in rows) and any(n > 0 for _, n in rows[-5:])
