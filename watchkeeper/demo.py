"""The local demo: collector, SMTP relay and one agent as real processes, on SQLite."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import TypeVar

from aiosmtpd.controller import Controller

T = TypeVar("T")
STEPS = 8


class DemoFailed(AssertionError):
    """A demo step did not happen; an AssertionError so tests that share wait_for fail."""


class MailBox:
    """The aiosmtpd handler: keeps every message the collector sends."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m["To"])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise DemoFailed(f"gave up after {timeout:g}s waiting for {what}")


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL whatever has not stopped within 5 seconds."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def say(text: str) -> None:
    print(f"      {text}", flush=True)


@contextmanager
def step(number: int, title: str) -> Iterator[None]:
    print(f"[{number}/{STEPS}] {title}", flush=True)
    try:
        yield
    except DemoFailed as exc:
        raise DemoFailed(f"step {number} ({title}) failed: {exc}") from None


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "watchkeeper", *args]


def run_demo(keep: Path | None = None) -> int:
    workdir = keep or Path(tempfile.mkdtemp(prefix="watchkeeper-demo-"))
    started = time.monotonic()
    procs: list[subprocess.Popen[bytes]] = []
    smtp: Controller | None = None
    try:
        smtp = _demo(workdir, procs)
        print(f"\nDemo finished in {time.monotonic() - started:.1f}s: a dead agent paged a"
              " person, who acknowledged from the link.")
        return 0
    except DemoFailed as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        for log in sorted(workdir.glob("*.log")):
            print(f"--- last lines of {log.name} ---\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
        return 1
    finally:
        stop_processes(procs)
        if smtp is not None:
            smtp.stop()
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"(configuration, database and logs kept in {workdir})")


def _demo(workdir: Path, procs: list[subprocess.Popen[bytes]]) -> Controller:
    from collector.cli import format_timeline, write_starter
    from collector.config import load_config
    from collector.store.db import Database

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    with step(1, "Start a local SMTP server standing in for the mail relay"):
        mailbox = MailBox()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
        smtp.start()
        say(f"listening on 127.0.0.1:{smtp.port}")

    with step(2, "Write a collector configuration and start the collector"):
        port = free_port()
        config_path = write_starter(
            workdir / "collector", listen_port=port, public_url=f"http://127.0.0.1:{port}",
            interval="1s", grace="0.5s", missed=3, smtp_port=smtp.port)
        config = load_config(config_path)
        say(f"config {config_path}: heartbeat every 1s, a case after 3 missed")
        log = (workdir / "collector.log").open("wb")
        procs.append(subprocess.Popen(cli("collector", "run", "--config", str(config_path)),
                                      stdout=log, stderr=subprocess.STDOUT, env=env))

        def healthy() -> bool:
            if procs[0].poll() is not None:
                raise DemoFailed(f"the collector exited with code {procs[0].returncode}")
            try:
                with urllib.request.urlopen(f"{config.public_url}/healthz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for("the collector to answer /healthz", healthy, 15)
        say(f"collector up at {config.public_url} (SQLite database {config.database.name})")

    with step(3, "Create an enrolment token for customer 'acme' and enrol an agent"):
        out = subprocess.run(cli("token", "create", "--customer", "acme", "--config",
                                 str(config_path)), capture_output=True, text=True, env=env)
        if out.returncode:
            raise DemoFailed(f"token create: {out.stderr.strip()}")
        token = out.stdout.strip()
        say(f"token {token[:12]}... (the collector keeps only its hash)")
        agent_config = workdir / "agent" / "agent.toml"
        out = subprocess.run(cli("agent", "enroll", "--collector", config.public_url, "--token",
                                 token, "--config", str(agent_config), "--hostname",
                                 "demo-server-01", "--allow-http"),
                             capture_output=True, text=True, env=env)
        if out.returncode:
            raise DemoFailed(f"agent enroll: {out.stderr.strip()}")
        say(out.stdout.strip().splitlines()[0])

    with step(4, "Start the agent: it samples CPU, memory and disks and reports every second"):
        log = (workdir / "agent.log").open("wb")
        agent = subprocess.Popen(cli("agent", "run", "--config", str(agent_config)),
                                 stdout=log, stderr=subprocess.STDOUT, env=env)
        procs.append(agent)
        db = Database(config.database)

        def reported() -> tuple[int, int] | None:
            if agent.poll() is not None:
                raise DemoFailed(f"the agent exited with code {agent.returncode}")
            n, samples = db.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(samples), 0) FROM reports").fetchone()
            return (n, samples) if n >= 2 else None

        n, samples = wait_for("two reports from the agent", reported, 15)
        say(f"{n} reports received, {samples} samples stored")

    with step(5, "Kill the agent with SIGKILL, as a crashed server would"):
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        killed = time.monotonic()
        say(f"agent process {agent.pid} killed")

    with step(6, "Wait for the collector to notice the silence and open a Severity 1 case"):
        case = wait_for("a Severity 1 case", lambda: db.conn.execute(
            "SELECT * FROM cases WHERE source = 'heartbeat'").fetchone(), 15)
        say(f"case #{case['id']} opened {time.monotonic() - killed:.1f}s after the kill:"
            f" {case['title']} (severity {case['severity']})")

    with step(7, "Wait for the page to reach the on-call engineer's mailbox"):
        page = wait_for("the page email to ops-manager", lambda: next(
            (m for m in mailbox.messages if "ops-manager" in m["To"]), None), 15)
        say(f"To: {page['To']}")
        say(f"Subject: {page['Subject']}")
        body = page.get_body().get_content()  # type: ignore[union-attr]
        match = re.search(r"(http://\S+/ack/\S+)", body)
        if not match:
            raise DemoFailed("the page carries no acknowledgement link")
        link = match.group(1)
        say(f"acknowledgement link: {link[:60]}...")
        others = [m["To"] for m in mailbox.messages if m is not page]
        if others:
            say(f"also notified: {', '.join(others)}")

    with step(8, "Follow the link as the engineer would: GET shows, POST acknowledges"):
        with urllib.request.urlopen(link, timeout=5) as r:
            shown = r.read().decode()
        if "Acknowledge case" not in shown:
            raise DemoFailed("the link's page does not offer to acknowledge")
        state = db.conn.execute("SELECT state FROM cases WHERE id = ?", (case["id"],)).fetchone()
        say(f"GET showed a confirmation page; the case is still {state[0]}")
        req = urllib.request.Request(link, data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            done = r.read().decode()
        if "acknowledged" not in done:
            raise DemoFailed("the POST did not acknowledge the case")
        acked = db.conn.execute("SELECT state, acknowledged_by FROM cases WHERE id = ?",
                                (case["id"],)).fetchone()
        if acked["state"] != "open":
            raise DemoFailed(f"the case is {acked['state']} after acknowledgement, not open")
        say(f"POST acknowledged: the case is now {acked['state']}, owned by"
            f" {acked['acknowledged_by']}")
        print("\n" + format_timeline(config, case["id"]))
    return smtp
