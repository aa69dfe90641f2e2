"""ntfy against a local receiver that reads the publish request as an ntfy server does."""

from __future__ import annotations

import ssl
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerting.notifiers import ntfy
from alerting.notifiers.base import DeliveryError, Kind
from tests.peers import ACK_URL, NtfyPeer, channel_settings, make_cert, notification
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
TOKEN = "tk_w4tchk33p3rt0k3n0000000000"


@pytest.fixture
async def server(aiohttp_server: Any) -> NtfyPeer:
    peer = NtfyPeer(token=TOKEN)
    await peer.start(aiohttp_server)
    return peer


def notifier(tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession,
             token: str = TOKEN, url: str = "") -> ntfy.NtfyNotifier:
    (tmp_path / "ntfy.token").write_text(token)
    s = channel_settings("ntfy", f"""
        [channel.ntfy]
        server = "{url or server.url}"
        topic = "noc-pages"
        token_file = "ntfy.token"
        timeout = "2s"
        """, tmp_path)
    return ntfy.NtfyNotifier(s, session, FakeClock(T0))


async def test_page_arrives_urgent_with_a_tap_to_the_ack_page(
        tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession) -> None:
    done = await notifier(tmp_path, server, session).send(notification())
    assert "published" in done.reply and done.reply.endswith("to noc-pages")
    (msg,) = server.messages
    assert (msg.topic, msg.priority) == ("noc-pages", 5)
    assert msg.title == "Severity 1 case #12: srv1 is down"
    assert ACK_URL in msg.message
    assert msg.click == ACK_URL
    assert msg.actions == [{"action": "view", "label": "Acknowledge", "url": ACK_URL}]
    assert {"rotating_light", "case-12", "severity-1"} <= set(msg.tags)


@pytest.mark.parametrize(("severity", "kind", "priority"), [
    (2, Kind.PAGE, 4), (3, Kind.PAGE, 3), (1, Kind.STATUS, 3), (1, Kind.ACKNOWLEDGED, 2),
])
async def test_priority_follows_severity_and_kind(
        tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession, severity: int,
        kind: Kind, priority: int) -> None:
    await notifier(tmp_path, server, session).send(notification(kind, severity=severity))
    assert server.messages[0].priority == priority


async def test_a_recipients_own_topic_and_a_non_ascii_title(
        tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession) -> None:
    await notifier(tmp_path, server, session).send(notification(
        address="alice-phone", title="Serveur «compta» hors ligne, Zürich 東京"))
    (msg,) = server.messages
    assert msg.topic == "alice-phone"
    assert msg.title == "Severity 1 case #12: Serveur «compta» hors ligne, Zürich 東京"


async def test_a_wrong_token_is_permanent_and_not_shown(
        tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, server, session, token="tk_wrong0000").send(notification())
    assert not caught.value.retryable
    assert "answered 401: unauthorized (code 40101)" in str(caught.value)
    assert "tk_wrong0000" not in str(caught.value)


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (429, True), (500, True),
                                                   (502, True)])
async def test_refusals_by_status(tmp_path: Path, server: NtfyPeer,
                                  session: aiohttp.ClientSession, status: int,
                                  retryable: bool) -> None:
    server.cue(status)
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, server, session).send(notification())
    assert caught.value.retryable is retryable


async def test_retry_after_as_an_http_date_is_honoured(
        tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession) -> None:
    server.cue(429, retry_after=formatdate(T0 + 90, usegmt=True))
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, server, session).send(notification())
    assert caught.value.retryable and caught.value.retry_after == 90.0


async def test_a_long_body_is_cut_to_what_ntfy_keeps_as_a_message(
        tmp_path: Path, server: NtfyPeer, session: aiohttp.ClientSession) -> None:
    await notifier(tmp_path, server, session).send(notification(body="é" * 5000))
    (msg,) = server.messages
    assert msg.message == "é" * 2048  # 4096 bytes, never half a character


async def test_a_certificate_nobody_vouches_for_is_permanent(
        tmp_path: Path, aiohttp_server: Any, session: aiohttp.ClientSession) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*make_cert(tmp_path))
    server = NtfyPeer(token=TOKEN)
    await server.start(aiohttp_server, tls=ctx)
    assert server.url.startswith("https://")
    with pytest.raises(DeliveryError) as caught:
        await notifier(tmp_path, server, session).send(notification())
    assert not caught.value.retryable and "TLS with ntfy at 127.0.0.1" in str(caught.value)
    assert server.requests == []
