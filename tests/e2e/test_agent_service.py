"""The agent as systemd runs it: a real agent process tells a real notify socket that it is
ready, keeps feeding the watchdog while it samples, and says when it stops."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import ENV, Stack, cli, wait_for


def test_the_agent_notifies_ready_feeds_the_watchdog_and_says_stopping(
        stack: Stack, tmp_path: Path) -> None:
    stack.start_collector()
    config = stack.enrol_agent("web-01")
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    # What systemd sets for Type=notify with WatchdogSec=2s: a ping is due every second.
    env = {**ENV, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"}
    log = (tmp_path / "agent.log").open("ab")
    agent = subprocess.Popen(cli("agent", "run", "--config", str(config)), env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    stack.procs.append(agent)
    got: list[tuple[float, str]] = []

    def receive(until: str) -> bool:
        with contextlib.suppress(TimeoutError):
            got.append((time.monotonic(), sock.recv(4096).decode()))
        return any(until in m for _, m in got)

    wait_for("READY=1", lambda: receive("READY=1"), 30)
    ready_at = next(t for t, m in got if "READY=1" in m)
    assert "STATUS=reporting to http://127.0.0.1" in next(m for _, m in got if "READY=1" in m)
    wait_for("three watchdog pings", lambda: receive("never") or
             sum("WATCHDOG=1" in m for t, m in got if t > ready_at) >= 3, 10)
    agent.send_signal(signal.SIGTERM)
    wait_for("STOPPING=1", lambda: receive("STOPPING=1"), 10)
    assert agent.wait(10) == 0
    sock.close()

