"""The agent loses nothing: reports wait in its on-disk spool through a collector outage and
through the agent's own death, and arrive exactly once."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from pathlib import Path

from agent.spool import Spool
from tests.e2e.conftest import Stack, wait_for

OUTAGE = float(os.environ.get("WATCHKEEPER_TEST_OUTAGE", "180"))


def seqs(stack: Stack) -> list[int]:
    with sqlite3.connect(stack.config.database) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM reports ORDER BY seq")]


def spool_dir(agent_toml: Path) -> Path:
    return agent_toml.parent / "agent-state" / "spool"


def spooled(folder: Path) -> list[str]:
    """Whole reports in the spool, read without touching it (Spool() would tidy it up)."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".json.gz")) \
        if folder.exists() else []


def set_interval(agent_toml: Path, interval: str) -> None:
    text = agent_toml.read_text()
    agent_toml.write_text(re.sub(r'interval = "[^"]*"', f'interval = "{interval}"', text))


def test_reports_spooled_through_a_long_collector_outage_all_arrive_once(stack: Stack) -> None:
    collector = stack.start_collector()
    config = stack.enrol_agent("web-01")
    agent = stack.start_agent(config)
    wait_for("reports", lambda: len(seqs(stack)) >= 2)

    collector.send_signal(signal.SIGTERM)
    assert collector.wait(10) == 0
    time.sleep(OUTAGE)  # several minutes: one report a second piles up on the agent's disk
    waiting = Spool(spool_dir(config), 1 << 30).seqs()
    assert len(waiting) >= OUTAGE * 0.8, waiting
    stack.start_collector()
    wait_for("the spool to drain", lambda: set(seqs(stack)) >= set(waiting), 60)
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0

    received = seqs(stack)
    assert set(waiting) <= set(received)
    assert received == list(range(len(received)))  # every report once, in order, none missing
    assert stack.cases() == []  # the collector's outage is not the device's fault


def test_an_agent_killed_while_writing_its_spool_restarts_with_it_intact(stack: Stack) -> None:
    collector = stack.start_collector()
    config = stack.enrol_agent("web-02")
    collector.send_signal(signal.SIGTERM)  # down: every report stays in the spool
    assert collector.wait(10) == 0
    set_interval(config, "0.2s")  # spool fast, so there are many writes to interrupt
    folder = spool_dir(config)
    caught = 0
    seen: set[int] = set()
    for attempt in range(8):
        agent = stack.start_agent(config)
        # Let a few reports land whole first, so there is something to keep intact...
        before = len(spooled(folder))
        wait_for("reports spooled", lambda b=before: len(spooled(folder)) >= b + 2, 20)
        deadline = time.monotonic() + 20
        # ...then watch the spool folder and kill the agent the moment a write is under way
        # (its temporary file exists): a kill in the middle of writing, not between writes.
        while time.monotonic() < deadline:
            if folder.exists() and any(n.endswith(".tmp") for n in os.listdir(folder)):
                agent.send_signal(signal.SIGKILL)
                break
        else:
            agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        half_written = [n for n in os.listdir(folder) if n.endswith(".tmp")]
        caught += bool(half_written)
        # What was confirmed written is whole and readable after the crash.
        spool = Spool(folder, 1 << 30)
        assert not list(folder.glob("*.tmp")), "the restart must discard a half-written report"
        for seq in spool.seqs():
            report = spool.read(seq)
            assert report is not None and report["seq"] == seq
        assert len(spool.seqs()) >= 2 * (attempt + 1)
        seen |= set(spool.seqs())
    assert caught >= 4, f"only {caught} of 8 kills landed inside a write"

    stack.start_collector()
    agent = stack.start_agent(config)
    wait_for("the spool to drain", lambda: set(seqs(stack)) >= seen, 60)
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0
    received = seqs(stack)
    assert seen <= set(received), sorted(seen - set(received))
    assert len(received) == len(set(received))
