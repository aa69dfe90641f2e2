"""Email settings and message building (delivery is tested against aiosmtpd)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.notifiers import email
from tests.peers import channel_problems, channel_settings


@pytest.mark.parametrize(("mode", "port"), [("", 25), ("starttls = true", 587),
                                            ("tls = true", 465)])
def test_the_port_defaults_to_the_mode(tmp_path: Path, mode: str, port: int) -> None:
    s = channel_settings("email", f'[channel.email]\nhost = "mail.example"\n{mode}', tmp_path)
    assert s.port == port


def test_password_comes_from_a_file_and_stays_out_of_repr(tmp_path: Path) -> None:
    (tmp_path / "smtp.password").write_text("hunter2\n")
    s = channel_settings("email", """
        [channel.email]
        host = "mail.example"
        starttls = true
        username = "noc"
        password_file = "smtp.password"
        """, tmp_path)
    assert (s.username, s.password) == ("noc", "hunter2")
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize(("table", "problem"), [
    ("tls = true\nstarttls = true",
     "channel.email.starttls: tls (implicit TLS) and starttls exclude each other; pick one"),
    ('username = "noc"\nstarttls = true',
     "channel.email.password_file: username and password_file go together"),
    ('username = "noc"\npassword_file = "pw"',
     "channel.email.username: the password would cross the network to mail.example in clear;"
     " set starttls = true or tls = true"),
    ('from_address = "not an address"',
     "channel.email.from_address: 'not an address' is not a mail address"),
    ('ca_file = "nowhere.crt"', "channel.email.ca_file: "),
    ('password = "inline"', "channel.email.password: unknown key"),
])
def test_settings_problems(tmp_path: Path, table: str, problem: str) -> None:
    (tmp_path / "pw").write_text("secret")
    problems = channel_problems(f'[channel.email]\nhost = "mail.example"\n{table}', tmp_path)
    assert any(problem in p for p in problems), problems


def test_a_password_to_a_relay_on_this_machine_may_go_without_tls(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("secret")
    assert channel_problems('[channel.email]\nhost = "127.0.0.1"\nusername = "noc"\n'
                            'password_file = "pw"', tmp_path) == []


@pytest.mark.parametrize(("address", "ok"), [
    ("ops@noc.example", True), ("ops", False), ("@noc.example", False), ("a b@c", False),
])
def test_check_address(address: str, ok: bool) -> None:
    assert (email.check_address(address) is None) is ok


def test_message_ids_are_valid_and_stable_per_key() -> None:
    a = email.message_id("12:0:0:contact:technical:Acme IT:email")
    assert a == email.message_id("12:0:0:contact:technical:Acme IT:email")
    assert a != email.message_id("12:0:1:contact:technical:Acme IT:email")
    assert a.startswith("<wk.") and a.endswith("@watchkeeper>") and " " not in a


@pytest.mark.parametrize(("text", "safe"), [
    ("srv1 is down", "srv1 is down"),
    ("a\r\nBcc: x@evil", "a  Bcc: x@evil"),
    ("=?UTF-8?Q?a=0ABcc:_x?=", "= ?UTF-8?Q?a=0ABcc:_x?="),
])
def test_header_text_keeps_plain_words(text: str, safe: str) -> None:
    assert email.header_text(text) == safe
