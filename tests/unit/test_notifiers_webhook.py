"""Webhook payloads: Slack, Teams and our own signed JSON."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from alerting.notifiers import webhook
from alerting.notifiers.base import Kind
from tests.peers import ACK_URL, channel_problems, channel_settings, notification

NOW = 1_800_000_000.0


def test_slack_escapes_what_would_mention_or_link() -> None:
    doc = webhook.slack(notification(title="<!here> <http://evil|click> & co",
                                     body="a <!channel> b\n"))
    assert doc["text"] == "Severity 1 case #12: &lt;!here&gt; &lt;http://evil|click&gt; &amp; co"
    header, section, link = doc["blocks"]
    assert header["text"] == {"type": "plain_text", "emoji": False,
                              "text": "Severity 1 case #12: <!here> <http://evil|click> & co"}
    assert section["text"]["text"] == "a &lt;!channel&gt; b\n"
    assert link["text"]["text"] == f"<{ACK_URL}|Acknowledge case #12>"


def test_slack_keeps_to_block_limits() -> None:
    doc = webhook.slack(notification(title="t" * 400, body="b" * 5000))
    assert len(doc["blocks"][0]["text"]["text"]) == 150
    assert len(doc["blocks"][1]["text"]["text"]) == 3000


def test_slack_notice_has_no_ack_link() -> None:
    assert len(webhook.slack(notification(Kind.NOTICE))["blocks"]) == 2


def test_teams_card_lines_and_facts() -> None:
    env = webhook.teams(notification(body="line one\nline two\n\nafter a gap\n"))
    (att,) = env["attachments"]
    assert env["type"] == "message"
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, facts, *lines = card["body"]
    assert (title["text"], title["color"]) == ("Severity 1 case #12: srv1 is down", "Attention")
    assert facts["facts"] == [{"title": "Case", "value": "#12"},
                              {"title": "Severity", "value": "1"},
                              {"title": "Customer", "value": "acme"}]
    assert [(b["text"], b["spacing"]) for b in lines] == [
        ("line one", "None"), ("line two", "None"), ("after a gap", "Medium")]


def test_json_document_and_its_signature() -> None:
    s = webhook.WebhookSettings(webhook.Format.JSON, "https://x.example/h", "s3cret", 10.0)
    headers, body = webhook.request(s, notification(), NOW)
    doc = json.loads(body)
    assert doc["schema"] == "watchkeeper.notification.v1"
    assert doc["sent_at"] == "2027-01-15T08:00:00Z"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Watchkeeper-Signature"] == f"sha256={expected}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_unsigned_without_a_secret() -> None:
    s = webhook.WebhookSettings(webhook.Format.SLACK, "https://hooks.example/x", "", 10.0)
    headers, _ = webhook.request(s, notification(), NOW)
    assert webhook.SIGNATURE_HEADER not in headers


def test_url_from_a_file_stays_out_of_repr_and_problems(tmp_path: Path) -> None:
    (tmp_path / "slack.url").write_text("https://hooks.slack.com/services/T/B/s3cr3t\n")
    s = channel_settings("webhook", '[channel.webhook]\nformat = "slack"\n'
                         'url_file = "slack.url"', tmp_path)
    assert s.url == "https://hooks.slack.com/services/T/B/s3cr3t"
    assert "s3cr3t" not in repr(s)
    (tmp_path / "bad.url").write_text("hooks.slack.com/services/T/B/s3cr3t\n")
    problems = channel_problems('[channel.webhook]\nurl_file = "bad.url"', tmp_path)
    assert problems == ["collector.toml: channel.webhook.url_file: the URL is not an http://"
                        " or https:// URL"]


@pytest.mark.parametrize(("table", "problem"), [
    ('format = "json"', "channel.webhook.url: set exactly one of url and url_file"),
    ('url = "https://a.example"\nurl_file = "u"',
     "channel.webhook.url_file: cannot read"),
    ('format = "discord"\nurl = "https://a.example"',
     "channel.webhook.format: 'discord' is not allowed; one of: slack, teams, json"),
    ('format = "slack"\nurl = "https://a.example"\nsecret_file = "s"',
     "channel.webhook.secret_file: slack does not check signatures; secret_file signs the json"
     " format only"),
    ('url = "http://10.0.0.5/hook"',
     "channel.webhook.url: 10.0.0.5 must be reached over https://"),
])
def test_settings_problems(tmp_path: Path, table: str, problem: str) -> None:
    (tmp_path / "s").write_text("secret")
    problems = channel_problems("[channel.webhook]\n" + table, tmp_path)
    assert any(problem in p for p in problems), problems
