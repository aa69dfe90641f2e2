"""SMS against a local receiver that speaks Twilio's Messages API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerting.notifiers import sms
from alerting.notifiers.base import DeliveryError, Kind
from tests.peers import ACK_URL, TwilioPeer, channel_settings, notification
from watchkeeper.clock import FakeClock
from watchkeeper.demo import free_port

T0 = 1_800_000_000.0
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f00dfacef00dfacef00dfacef00dface"
PHONE = "+447700900123"


@pytest.fixture
async def twilio(aiohttp_server: Any) -> TwilioPeer:
    peer = TwilioPeer(SID, TOKEN)
    await peer.start(aiohttp_server)
    return peer


def settings(tmp_path: Path, base_url: str, token: str = TOKEN,
             sender: str = 'from_number = "+15005550006"', timeout: str = "2s") -> sms.SmsSettings:
    (tmp_path / "twilio.token").write_text(token)
    return channel_settings("sms", f"""
        [channel.sms]
        base_url = "{base_url}"
        account_sid = "{SID}"
        auth_token_file = "twilio.token"
        {sender}
        timeout = "{timeout}"
        """, tmp_path)


def notifier(s: sms.SmsSettings, session: aiohttp.ClientSession) -> sms.SmsNotifier:
    return sms.SmsNotifier(s, session, FakeClock(T0))


async def failure(s: sms.SmsSettings, session: aiohttp.ClientSession,
                  address: str = PHONE) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await notifier(s, session).send(notification(address=address))
    return caught.value


async def test_page_reaches_the_phone_with_case_severity_and_ack_first(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession) -> None:
    done = await notifier(settings(tmp_path, twilio.url), session).send(
        notification(address=PHONE))
    assert done.reply.startswith("SMS gateway 127.0.0.1:") and "accepted SM" in done.reply
    assert "(queued)" in done.reply
    (msg,) = twilio.messages
    assert (msg["To"], msg["From"]) == (PHONE, "+15005550006")
    first_segment = msg["Body"][:153]
    assert first_segment.startswith("Sev1 case #12: Reply ACK 12 to acknowledge.")
    assert "srv1 is down (acme)" in msg["Body"] and msg["Body"].endswith(ACK_URL)


async def test_messaging_service_instead_of_a_number(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession) -> None:
    s = settings(tmp_path, twilio.url, sender='messaging_service_sid = "MG0001"')
    await notifier(s, session).send(notification(Kind.NOTICE, address=PHONE))
    (msg,) = twilio.messages
    assert msg["MessagingServiceSid"] == "MG0001" and "From" not in msg
    assert "Reply ACK" not in msg["Body"]  # a customer notice is not a page


async def test_invalid_number_is_permanent_with_twilios_reason(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession) -> None:
    err = await failure(settings(tmp_path, twilio.url), session, TwilioPeer.INVALID_NUMBER)
    assert not err.retryable
    assert "answered 400: error 21211" in str(err) and "not a valid phone number" in str(err)


async def test_a_malformed_number_is_refused_without_asking_the_gateway(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession) -> None:
    err = await failure(settings(tmp_path, twilio.url), session, "07700 900123")
    assert not err.retryable and "E.164" in str(err)
    assert twilio.requests == []


async def test_bad_credentials_are_permanent_and_the_token_stays_secret(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession) -> None:
    wrong = "badbadbadbadbadbadbadbadbadbad00"
    err = await failure(settings(tmp_path, twilio.url, token=wrong), session)
    assert not err.retryable
    assert "answered 401: error 20003" in str(err)
    assert wrong not in str(err) and wrong not in repr(settings(tmp_path, twilio.url, wrong))


@pytest.mark.parametrize(("status", "retry_after", "wait"), [
    (429, "30", 30.0),
    (500, None, None),
    (503, "120", 120.0),
])
async def test_rate_limits_and_server_errors_are_retryable(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession, status: int,
        retry_after: str | None, wait: float | None) -> None:
    twilio.cue(status, retry_after=retry_after)
    err = await failure(settings(tmp_path, twilio.url), session)
    assert err.retryable and err.retry_after == wait
    assert f"answered {status}" in str(err)
    # ... and the retry goes through.
    await notifier(settings(tmp_path, twilio.url), session).send(notification(address=PHONE))
    assert len(twilio.messages) == 1


async def test_gateway_down_or_silent_is_retryable(
        tmp_path: Path, twilio: TwilioPeer, session: aiohttp.ClientSession) -> None:
    down = await failure(settings(tmp_path, f"http://127.0.0.1:{free_port()}"), session)
    assert down.retryable and "cannot reach SMS gateway" in str(down)
    twilio.cue(201, delay=2)
    slow = await failure(settings(tmp_path, twilio.url, timeout="0.3s"), session)
    assert slow.retryable and "did not answer within 0.3s" in str(slow)
