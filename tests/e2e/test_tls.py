"""HTTPS between agent and collector: the agent verifies the collector's certificate."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest

from collector.config import load_config
from tests.e2e.conftest import Stack, run_cli, wait_for
from tests.peers import make_cert


@pytest.fixture
def tls_stack(stack: Stack) -> Stack:
    d = stack.dir / "collector"
    make_cert(d, "collector")
    path = d / "collector.toml"
    path.write_text(path.read_text()
                    .replace("\nallow_plain_http = true\n", "\nallow_plain_http = false\n")
                    .replace('# tls_cert = "collector.crt"', 'tls_cert = "collector.crt"')
                    .replace('# tls_key = "collector.key"', 'tls_key = "collector.key"')
                    .replace('public_url = "http://', 'public_url = "https://'))
    stack.config = load_config(path)
    stack.start_collector()
    return stack


def enroll(stack: Stack, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    token = run_cli("token", "create", "--customer", "acme", "--config",
                    stack.config_path).stdout.strip()
    return run_cli("agent", "enroll", "--collector", stack.config.public_url, "--token", token,
                   "--config", str(stack.dir / name / "agent.toml"), "--hostname", name,
                   *extra, check=False)


def test_agent_reports_over_https_when_it_trusts_the_collectors_ca(tls_stack: Stack) -> None:
    out = enroll(tls_stack, "tls-01", "--ca-file", str(tls_stack.config.tls_cert))
    assert out.returncode == 0, out.stderr
    tls_stack.start_agent(tls_stack.dir / "tls-01" / "agent.toml")

    def reports() -> int:
        with sqlite3.connect(tls_stack.config.database) as conn:
            return conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]

    wait_for("a report over HTTPS", lambda: reports() >= 1)


def test_agent_refuses_a_collector_certificate_it_cannot_verify(tls_stack: Stack) -> None:
    out = enroll(tls_stack, "tls-02")
    assert out.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in out.stderr
    assert not (tls_stack.dir / "tls-02" / "agent.toml").exists()
