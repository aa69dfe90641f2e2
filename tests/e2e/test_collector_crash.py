"""Durable, and exactly once: the collector SIGKILLed in the middle of an escalation, again
while a page is being handed to the mail server, and once more when a step has just fallen
due. Every step still reaches the mail server once, at its time."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from tests.e2e.conftest import ENV, Stack, cli, wait_for
from watchkeeper.demo import MailBox, free_port

STEPS = {"ops-manager": 0.0, "vp-operations": 4.0, "incident-manager": 8.0}  # person: after
TOLERANCE = 2.0


class RelayBox(MailBox):
    """A mail relay that notes when it accepted each message, and can be slow: it holds
    its answer to the first message for `hold_for` until the sender goes away. Unanswered,
    the message was never accepted (aiosmtpd cancels the handler when the connection
    drops), as with any relay."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[float, Message]] = []
        self.hold_for: str | None = None
        self.holding = threading.Event()
        self.held_at = 0.0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        rcpt = " ".join(envelope.rcpt_tos)  # type: ignore[attr-defined]
        if self.hold_for is not None and self.hold_for in rcpt:
            self.hold_for = None
            self.held_at = time.time()
            self.holding.set()
            await asyncio.sleep(60)
        reply = await super().handle_DATA(server, session, envelope)
        self.accepted.append((time.time(), self.messages[-1]))
        return reply

    def arrivals(self, person: str) -> list[float]:
        return [at for at, m in self.accepted if f"{person}@noc.example" in str(m["To"])]


@pytest.fixture
def smtp() -> Iterator[Controller]:
    controller = Controller(RelayBox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


def three_step_policy(stack: Stack) -> None:
    """Page a different person at 0 s, 4 s and 8 s, so each step is counted on its own."""
    conf = stack.dir / "collector"
    with (conf / "collector.toml").open("a") as f:
        f.write('\n[[person]]\nname = "incident-manager"\n'
                'email = "incident-manager@noc.example"\n')
    steps = "".join(f'\n[[policy.step]]\nafter = "{after:g}s"\nnotify = ["person:{who}"]\n'
                    'channels = ["email"]\nwhile = "unacknowledged"\nmessage = "page"\n'
                    for who, after in STEPS.items())
    (conf / "escalation.toml").write_text(
        f'[[policy]]\nname = "ladder"\nseverities = [1, 2, 3]\n{steps}')


def sleep_until(at: float) -> None:
    time.sleep(max(0.0, at - time.time()))


def db_rows(stack: Stack, sql: str) -> list[tuple]:
    with sqlite3.connect(stack.config.database) as conn:
        return conn.execute(sql).fetchall()


def test_a_killed_collector_sends_each_remaining_step_once_at_its_time(stack: Stack) -> None:
    three_step_policy(stack)
    relay: RelayBox = stack.smtp.handler
    collector = stack.start_collector()
    agent = stack.start_agent(stack.enrol_agent("web-01"))
    wait_for("reports", lambda: db_rows(stack, "SELECT 1 FROM reports"))
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    case = wait_for("the case", stack.cases)[0]
    opened = case["opened_at"]
    due = {person: opened + after for person, after in STEPS.items()}
    wait_for("step 1", lambda: relay.arrivals("ops-manager"))

    # 1. Killed between two steps (and, unless this machine is slow, back before the next).
    sleep_until(opened + 1.0)
    collector.send_signal(signal.SIGKILL)
    collector.wait()
    relay.hold_for = "vp-operations"
    collector = stack.start_collector()
    back = time.time()

    # 2. Killed while step 2's page is with the mail server, which has not answered yet: the
    # message's lease is held by a dead process. The next collector must not wait it out.
    assert relay.holding.wait(STEPS["vp-operations"] + 5)
    collector.send_signal(signal.SIGKILL)
    collector.wait()
    collector = stack.start_collector()
    back_after_send = time.time()
    wait_for("step 2", lambda: relay.arrivals("vp-operations"))

    # 3. Frozen just before step 3 falls due and killed just after: the step is overdue and
    # was never fired when the next collector starts.
    sleep_until(due["incident-manager"] - 0.5)
    collector.send_signal(signal.SIGSTOP)
    sleep_until(due["incident-manager"] + 0.3)
    collector.send_signal(signal.SIGKILL)
    collector.wait()
    assert relay.arrivals("incident-manager") == []
    stack.start_collector()
    back_again = time.time()
    wait_for("step 3", lambda: relay.arrivals("incident-manager"))
    time.sleep(2)  # time enough for a duplicate to show up

    # Each step exactly once, never early, and at its time, or as soon as a collector was
    # running again when none was at its time.
    (first,), (second,), (third,) = (relay.arrivals(p) for p in STEPS)
    assert 0 <= first - due["ops-manager"] <= TOLERANCE
    assert relay.held_at >= due["vp-operations"]
    assert relay.held_at - max(due["vp-operations"], back) <= TOLERANCE
    assert second - back_after_send <= TOLERANCE  # not after the 2-minute lease
    assert third >= due["incident-manager"]
    assert third - back_again <= TOLERANCE
    message_ids = [m["Message-ID"] for _, m in relay.accepted]
    assert len(set(message_ids)) == len(message_ids) == 3
    # Nothing lost or left behind: every step fired, every message sent.
    assert db_rows(stack, "SELECT step, state FROM escalation_timers ORDER BY step") == [
        (0, "done"), (1, "done"), (2, "done")]
    assert db_rows(stack, "SELECT state, COUNT(*) FROM outbox GROUP BY state") == [("sent", 3)]
    shown = "\n".join(r[0] for r in db_rows(stack, "SELECT text FROM case_events ORDER BY id"))
    assert "vp-operations <vp-operations@noc.example>: the collector stopped during attempt 1" \
        in shown
    assert len(re.findall(r"vp-operations .*: delivered", shown)) == 1


def test_a_second_collector_on_the_same_database_refuses_to_start(stack: Stack) -> None:
    stack.start_collector()
    second = subprocess.run(cli("collector", "run", "--config", stack.config_path),
                            capture_output=True, text=True, env=ENV, timeout=30)
    assert second.returncode == 1
    assert "another collector is already running on" in second.stderr


def test_a_crashed_collector_down_for_five_windows_opens_no_case_for_its_own_outage(
        stack: Stack) -> None:
    window = 3 * 1.0 + 0.5  # the stack's agents report every 1 s; down after 3 missed + 0.5 s
    collector = stack.start_collector()
    configs, agents = {}, {}
    for name in ("steady", "rebooted", "dead"):  # each started as soon as it is enrolled
        configs[name] = stack.enrol_agent(name)
        agents[name] = stack.start_agent(configs[name])
    wait_for("reports from every agent", lambda: len(db_rows(
        stack, "SELECT DISTINCT device_id FROM reports")) == 3)
    time.sleep(6)  # the collector notes it is alive every 5 s: a crash leaves that mark only

    collector.send_signal(signal.SIGKILL)
    collector.wait()
    killed_at = time.time()
    (marked,) = db_rows(stack, "SELECT last_alive_at FROM collector_state")[0]
    assert killed_at - 6 < marked <= killed_at  # the collector's periodic mark of being alive
    for name in ("rebooted", "dead"):  # their machines lose power too
        agents[name].send_signal(signal.SIGKILL)
        agents[name].wait()
    time.sleep(6 * window)  # down for more than five heartbeat windows
    agents["rebooted"] = stack.start_agent(configs["rebooted"])  # back before the collector
    restarted_at = time.time()
    stack.start_collector()

    time.sleep(2 * window)
    assert [c["title"] for c in stack.cases()] in ([], ["dead is not reporting"])
    # The dead agent is still found out, but only a full window after the restart.
    case = wait_for("the dead agent's case", stack.cases, timeout=3 * window)[0]
    assert case["title"] == "dead is not reporting"
    assert case["opened_at"] >= restarted_at + window
    time.sleep(window)
    assert [c["title"] for c in stack.cases()] == ["dead is not reporting"]
    assert "collector was down since" in stack.log("collector")
