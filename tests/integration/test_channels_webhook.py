"""The generic webhook against local receivers shaped like a Slack incoming webhook, a Teams
Workflows webhook and a receiver of our own JSON schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerting.notifiers import webhook
from alerting.notifiers.base import DeliveryError, Kind
from tests.peers import (
    ACK_URL,
    JsonPeer,
    SlackPeer,
    TeamsPeer,
    channel_settings,
    notification,
)
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
SECRET = "whsec-0123456789abcdef0123456789abcdef"


def notifier(tmp_path: Path, session: aiohttp.ClientSession, fmt: str, url: str,
             secret: str | None = None) -> webhook.WebhookNotifier:
    # Slack and Teams URLs are credentials, so they come from a file.
    (tmp_path / "hook.url").write_text(url + "\n")
    lines = [f'format = "{fmt}"', 'url_file = "hook.url"', 'timeout = "2s"']
    if secret is not None:
        (tmp_path / "hook.secret").write_text(secret)
        lines.append('secret_file = "hook.secret"')
    s = channel_settings("webhook", "[channel.webhook]\n" + "\n".join(lines), tmp_path)
    return webhook.WebhookNotifier(s, session, FakeClock(T0))


async def test_slack_shows_case_severity_and_an_ack_link(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    slack = await SlackPeer().start(aiohttp_server)
    done = await notifier(tmp_path, session, "slack", slack.url + SlackPeer.PATH).send(
        notification(title="<!channel> srv1 & co"))
    assert done.reply.endswith("answered 200")
    (msg,) = slack.messages
    seen = SlackPeer.visible(msg)
    assert seen.startswith("Severity 1 case #12: <!channel> srv1 & co")  # header: plain text
    assert f"<{ACK_URL}|Acknowledge case #12>" in seen
    # In mrkdwn (the preview text), a device name cannot mention the whole workspace.
    assert msg["text"] == "Severity 1 case #12: &lt;!channel&gt; srv1 &amp; co"


@pytest.mark.parametrize(("status", "word", "retryable"), [
    (400, "invalid_payload", False),
    (404, "no_service", False),
    (410, "channel_is_archived", False),
    (500, "rollup_error", True),
])
async def test_slack_refusals_carry_slacks_word(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession, status: int,
        word: str, retryable: bool) -> None:
    slack = await SlackPeer().start(aiohttp_server)
    slack.cue(status)
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, session, "slack", slack.url + SlackPeer.PATH).send(
            notification())
    assert caught.value.retryable is retryable
    assert f"answered {status}: {word}" in str(caught.value)
    assert SlackPeer.PATH not in str(caught.value)  # the URL's path is the credential


async def test_slack_rate_limit_is_retryable_after_its_wait(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    slack = await SlackPeer().start(aiohttp_server)
    slack.cue(429, retry_after="30")
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, session, "slack", slack.url + SlackPeer.PATH).send(
            notification())
    assert caught.value.retryable and caught.value.retry_after == 30.0


async def test_teams_card_with_an_acknowledge_button(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    teams = await TeamsPeer().start(aiohttp_server)
    done = await notifier(tmp_path, session, "teams", teams.url + TeamsPeer.PATH).send(
        notification())
    assert done.reply.endswith("answered 202")
    (card,) = teams.cards
    seen = TeamsPeer.visible(card)
    assert seen.startswith("Severity 1 case #12: srv1 is down")
    assert "Case: #12" in seen and "Severity: 1" in seen and "Customer: acme" in seen
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Acknowledge",
                                "url": ACK_URL}]


async def test_teams_notice_has_no_button(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    teams = await TeamsPeer().start(aiohttp_server)
    await notifier(tmp_path, session, "teams", teams.url + TeamsPeer.PATH).send(
        notification(Kind.NOTICE))
    assert "actions" not in teams.cards[0]


async def test_json_is_signed_and_names_everything(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    hook = await JsonPeer(secret=SECRET).start(aiohttp_server)
    n = notification(address="ops@noc.example")
    done = await notifier(tmp_path, session, "json", hook.url + "/hooks/watchkeeper",
                          SECRET).send(n)
    assert done.reply.endswith("answered 204")
    (doc,) = hook.documents
    assert doc["case"] == {"id": 12, "number": 12, "severity": 1, "title": "srv1 is down",
                           "customer": "acme", "source": "srv1"}
    assert (doc["kind"], doc["ack_url"], doc["dedup_key"], doc["id"]) == (
        "page", ACK_URL, "watchkeeper-case-12", n.key)
    assert doc["sent_at"] == "2027-01-15T08:00:00Z"


async def test_json_with_the_wrong_secret_is_refused_for_good(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    hook = await JsonPeer(secret=SECRET).start(aiohttp_server)
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, session, "json", hook.url + "/hooks/watchkeeper",
                       "not-the-secret").send(notification())
    assert not caught.value.retryable
    assert str(caught.value).endswith("answered 401")  # the receiver's body is not echoed
    assert hook.documents == []


async def test_a_redirect_is_not_followed(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    hook = await JsonPeer().start(aiohttp_server)
    hook.cue(302, body="")
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, session, "json", hook.url + "/hooks/watchkeeper").send(
            notification())
    assert not caught.value.retryable and "redirect" in str(caught.value)
    assert len(hook.requests) == 1
