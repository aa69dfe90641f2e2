"""The ntfy publish request built from a notification."""

from __future__ import annotations

import json
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from alerting.notifiers import ntfy
from alerting.notifiers.base import Kind
from tests.peers import ACK_URL, channel_problems, channel_settings, notification

S = ntfy.NtfySettings("https://ntfy.example", "noc", "tk_secret", 10.0)


def test_a_page_request() -> None:
    url, headers, body = ntfy.request(S, notification())
    assert url == "https://ntfy.example/noc"
    assert headers["Title"] == "Severity 1 case #12: srv1 is down"
    assert headers["X-Priority"] == "5"
    assert headers["Tags"] == "rotating_light,case-12,severity-1"
    assert headers["Click"] == ACK_URL
    # A view action: the phone opens the confirmation page; only its POST acknowledges.
    assert json.loads(headers["Actions"]) == [{"action": "view", "label": "Acknowledge",
                                               "url": ACK_URL}]
    assert headers["Authorization"] == "Bearer tk_secret"
    assert body == notification().body.encode()


@pytest.mark.parametrize(("kind", "severity", "priority", "tag"), [
    (Kind.PAGE, 1, "5", "rotating_light"),
    (Kind.PAGE, 2, "4", "warning"),
    (Kind.PAGE, 3, "3", "information_source"),
    (Kind.SUMMARY, 1, "5", "rotating_light"),
    (Kind.NOTICE, 1, "3", "speech_balloon"),
    (Kind.STATUS, 1, "3", "speech_balloon"),
    (Kind.ACKNOWLEDGED, 1, "2", "white_check_mark"),
    (Kind.RESOLVED, 1, "2", "white_check_mark"),
])
def test_priority_and_tag_by_kind_and_severity(kind: Kind, severity: int, priority: str,
                                               tag: str) -> None:
    _, headers, _ = ntfy.request(S, notification(kind, severity=severity))
    assert headers["X-Priority"] == priority
    assert headers["Tags"].split(",")[0] == tag


def test_without_a_link_there_is_nothing_to_tap() -> None:
    _, headers, _ = ntfy.request(S, notification(Kind.NOTICE))
    assert "Click" not in headers and "Actions" not in headers


def test_non_ascii_titles_travel_as_encoded_words() -> None:
    _, headers, _ = ntfy.request(S, notification(title="Zürich\nbüro"))
    assert headers["Title"].isascii()
    assert str(make_header(decode_header(headers["Title"]))) == \
        "Severity 1 case #12: Zürich büro"


def test_body_is_cut_at_4096_bytes_on_a_character_boundary() -> None:
    _, _, body = ntfy.request(S, notification(body="ab" + "€" * 2000))
    assert body.decode() == "ab" + "€" * 1364  # 4094 bytes: a 1365th € would need 4097


def test_an_open_topic_sends_no_authorization(tmp_path: Path) -> None:
    s = channel_settings("ntfy", '[channel.ntfy]\ntopic = "noc"', tmp_path)
    _, headers, _ = ntfy.request(s, notification())
    assert "Authorization" not in headers
    assert s.server == "https://ntfy.sh"


def test_the_recipients_topic_wins() -> None:
    url, _, _ = ntfy.request(S, notification(address="alice"))
    assert url == "https://ntfy.example/alice"


def test_settings_problems(tmp_path: Path) -> None:
    (tmp_path / "empty.token").write_text("\n")
    assert channel_problems("""
        [channel.ntfy]
        server = "ftp://ntfy.example"
        topic = "no spaces/or slashes"
        token_file = "empty.token"
        """, tmp_path) == [
        "collector.toml: channel.ntfy.server: 'ftp://ntfy.example' is not an http:// or"
        " https:// URL",
        f"collector.toml: channel.ntfy.token_file: {tmp_path}/empty.token is empty",
        "collector.toml: channel.ntfy.topic: 'no spaces/or slashes' is not an ntfy topic (1 to"
        " 64 letters, digits, '-' or '_')",
    ]
