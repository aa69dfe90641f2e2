"""The walking skeleton end to end: a killed agent pages a person, who acknowledges."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

from tests.e2e.conftest import ENV, Stack, run_cli, wait_for


def reports(stack: Stack) -> int:
    with sqlite3.connect(stack.config.database) as conn:
        return conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]


def test_a_killed_agent_opens_a_sev1_case_and_pages_by_email(stack: Stack) -> None:
    stack.start_collector()
    agent = stack.start_agent(stack.enrol_agent("web-01"))
    wait_for("reports from the agent", lambda: reports(stack) >= 2)
    with sqlite3.connect(stack.config.database) as conn:
        metrics = {r[0] for r in conn.execute("SELECT DISTINCT metric FROM samples")}
    assert {"memory.percent", "disk.free_bytes", "cpu.load1"} <= metrics  # real psutil samples
    assert stack.cases() == []

    agent.send_signal(signal.SIGKILL)
    agent.wait()
    case = wait_for("a case", lambda: stack.cases())[0]
    assert (case["severity"], case["source"], case["state"]) == (1, "heartbeat", "new")
    assert case["title"] == "web-01 is not reporting"

    mailbox = stack.smtp.handler
    page = wait_for("the page", lambda: mailbox.to("ops-manager@noc.example"))[0]
    assert f"case #{case['id']}" in page["Subject"]
    link = re.search(r"(http://\S+/ack/\S+)", page.get_body().get_content()).group(1)

    with urllib.request.urlopen(link) as resp:
        assert "Acknowledge case" in resp.read().decode()
    assert stack.cases()[0]["state"] == "new"  # a GET (a mail scanner) acknowledges nothing
    with urllib.request.urlopen(urllib.request.Request(link, data=b"", method="POST")) as resp:
        assert resp.status == 200
    acked = stack.cases()[0]
    assert (acked["state"], acked["acknowledged_by"], acked["acknowledged_via"]) == (
        "open", "ops-manager", "email link")

    shown = run_cli("case", "show", str(case["id"]), "--config", stack.config_path).stdout
    for entry in ("opened", "notification", "ops-manager <ops-manager@noc.example>: delivered",
                  "Acknowledged by ops-manager via email link"):
        assert entry in shown


def test_a_rule_firing_on_the_agent_opens_a_case_of_its_severity(stack: Stack) -> None:
    # Memory in use is always above 0 %: the agent judges it on its own samples.
    (stack.dir / "collector" / "rules" / "always.toml").write_text(
        '[[rule]]\nname = "memory_in_use"\nmetric = "memory.percent"\nabove = 0\n'
        'severity = 3\nsummary = "memory at {value:.0f}% on {host}"\n')
    stack.start_collector()
    stack.start_agent(stack.enrol_agent("db-01"))
    case = wait_for("a rule case", lambda: [c for c in stack.cases() if c["source"] == "rule"])[0]
    assert case["severity"] == 3
    assert re.fullmatch(r"db-01: memory at \d+% on db-01", case["title"])
    assert wait_for("the sev 3 page", lambda: stack.smtp.handler.to("ops-manager@noc.example"))


def test_the_cli_acknowledges_and_a_second_ack_says_who_did(stack: Stack) -> None:
    stack.start_collector()
    agent = stack.start_agent(stack.enrol_agent("file-01"))
    wait_for("a report", lambda: reports(stack) >= 1)
    agent.kill()
    case = wait_for("a case", lambda: stack.cases())[0]
    first = run_cli("ack", str(case["id"]), "--by", "alice", "--config", stack.config_path)
    assert "acknowledged by alice" in first.stdout
    second = run_cli("ack", str(case["id"]), "--by", "bob", "--config", stack.config_path)
    assert "already acknowledged by alice via cli" in second.stdout
    missing = run_cli("ack", "999", "--config", stack.config_path, check=False)
    assert missing.returncode == 1 and "no case 999" in missing.stderr


def test_the_agent_stops_cleanly_on_sigterm(stack: Stack) -> None:
    stack.start_collector()
    agent = stack.start_agent(stack.enrol_agent("app-01"))
    wait_for("a report", lambda: reports(stack) >= 1)
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0
    assert "stopping on SIGTERM" in stack.log("app-01")


def test_the_demo_runs_in_under_30_seconds_and_exits_0() -> None:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "watchkeeper", "demo"], capture_output=True,
                         text=True, env=ENV, timeout=60)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 30
    for words in ("[8/8]", "Severity 1 case", "acknowledgement link", "now open, owned by"
                  " ops-manager", "Acknowledged by ops-manager via email link"):
        assert words in out.stdout
