"""A broken configuration or rule file stops start-up, naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, run_cli


@pytest.mark.parametrize(("file", "old", "new", "expected"), [
    ("collector.toml", 'interval = "1s"', 'interval = "soon"',
     "collector.toml: heartbeat.interval: 'soon' is not a duration"),
    ("collector.toml", "missed_before_case = 3", "missed_before_case = 0",
     "heartbeat.missed_before_case: must be at least 1"),
    ("collector.toml", "[smtp]", "[smtp]\nhots = \"mail\"",
     "collector.toml: smtp.hots: unknown key"),
    ("collector.toml", "\nallow_plain_http = true\n", "\nallow_plain_http = false\n",
     "collector.allow_plain_http: no tls_cert/tls_key is set"),
    ("collector.toml", 'listen_host = "127.0.0.1"', 'listen_host = "0.0.0.0"',
     "collector.listen_host: plain HTTP is only served on loopback"),
    ("collector.toml", "[smtp]", "[smtp\n", "collector.toml: not valid TOML"),
    ("escalation.toml", 'notify = ["person:vp-operations"]', 'notify = ["person:nobody"]',
     "escalation.toml: policy[0].step[2].notify: 'person:nobody': no [[person]] named 'nobody'"),
    ("escalation.toml", 'channels = ["email"]', 'channels = ["carrier-pigeon"]',
     "'carrier-pigeon' is not a channel this collector has"),
    ("rules/cpu.toml", "severity = 2", "severity = 5",
     "rules/cpu.toml: rule 'cpu_high', key 'severity'"),
])
def test_collector_refuses_to_start_with_a_broken_file(stack: Stack, file: str, old: str,
                                                       new: str, expected: str) -> None:
    path = stack.dir / "collector" / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    out = run_cli("collector", "run", "--config", stack.config_path, check=False)
    assert out.returncode == 2
    assert expected in out.stderr
    assert "configuration problem" in out.stderr


def test_every_problem_is_reported_at_once(stack: Stack) -> None:
    path = stack.dir / "collector" / "collector.toml"
    path.write_text(path.read_text().replace('interval = "1s"', 'interval = "x"')
                    .replace("[smtp]", "[smtp]\nbogus = 1"))
    out = run_cli("collector", "run", "--config", stack.config_path, check=False)
    assert "2 configuration problem(s)" in out.stderr


def test_a_broken_config_loses_nothing_already_stored(stack: Stack) -> None:
    token = run_cli("token", "create", "--customer", "acme", "--config", stack.config_path)
    assert token.stdout.startswith("wke.")
    path = stack.dir / "collector" / "collector.toml"
    good = path.read_text()
    path.write_text(good.replace("[smtp]", "[smtp]\nbogus = 1"))
    assert run_cli("collector", "run", "--config", stack.config_path, check=False).returncode == 2
    path.write_text(good)
    import sqlite3
    with sqlite3.connect(stack.config.database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM enrol_tokens").fetchone()[0] == 1


def test_rules_check_names_file_rule_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nmetric = "cpu.percent"\nabove = 90\nfor = "5 min"\n'
                   'severity = 2\nsummary = "s"\n')
    out = run_cli("rules", "check", str(bad), check=False)
    assert out.returncode == 1
    assert f"{bad}: rule 'x', key 'for'" in out.stderr
    good = run_cli("rules", "check", str(Path("rules/default")))
    assert good.stdout.startswith("OK: 9 rules and 4 event rules")


def test_agent_without_its_credential_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[agent]\ncollector_url = "https://noc.example"\ndevice_id = "d"\n'
                   'interval = "1m"\n')
    out = run_cli("agent", "run", "--config", str(cfg), check=False)
    assert out.returncode == 2
    assert "agent.credential_file" in out.stderr and "does not exist" in out.stderr


def test_agent_refuses_plain_http_unless_allowed(tmp_path: Path) -> None:
    out = run_cli("agent", "enroll", "--collector", "http://noc.example", "--token", "t",
                  "--config", str(tmp_path / "a.toml"), check=False)
    assert out.returncode == 2 and "plain HTTP" in out.stderr


def test_token_for_an_unknown_customer_is_refused(stack: Stack) -> None:
    out = run_cli("token", "create", "--customer", "globex", "--config", stack.config_path,
                  check=False)
    assert out.returncode == 1 and "no customer 'globex'" in out.stderr and "acme" in out.stderr


def test_enrolment_with_a_spent_token_is_refused(stack: Stack) -> None:
    stack.start_collector()
    token = run_cli("token", "create", "--customer", "acme", "--config",
                    stack.config_path).stdout.strip()
    args = ("agent", "enroll", "--collector", stack.config.public_url, "--token", token,
            "--allow-http", "--config")
    run_cli(*args, str(stack.dir / "a" / "agent.toml"))
    out = run_cli(*args, str(stack.dir / "b" / "agent.toml"), check=False)
    assert out.returncode == 1 and "used 1 time(s), its limit" in out.stderr
    assert oct((stack.dir / "a" / "agent.credential").stat().st_mode & 0o777) == "0o600"
