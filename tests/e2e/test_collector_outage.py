"""The collector's own downtime is not the devices' fault, and no report is lost or doubled."""

from __future__ import annotations

import signal
import sqlite3
import time

from tests.e2e.conftest import Stack, wait_for


def seqs(stack: Stack) -> list[int]:
    with sqlite3.connect(stack.config.database) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM reports ORDER BY seq")]


def test_a_collector_outage_opens_no_case_and_loses_no_report(stack: Stack) -> None:
    collector = stack.start_collector()
    agent = stack.start_agent(stack.enrol_agent("web-01"))
    wait_for("reports", lambda: len(seqs(stack)) >= 2)

    collector.send_signal(signal.SIGTERM)
    assert collector.wait(10) == 0
    # Down for 4 s: four heartbeat intervals, more than the 3 misses that open a case.
    time.sleep(4)
    stack.start_collector()
    time.sleep(2.5)  # the agent's queued reports arrive; two full intervals pass
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0

    received = seqs(stack)
    assert received == list(range(len(received)))  # every report once, none missing
    assert "not delivered" in stack.log("web-01")  # the agent did notice the outage
    assert stack.cases() == []
