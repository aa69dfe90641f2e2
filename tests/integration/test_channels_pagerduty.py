"""PagerDuty against a local receiver that speaks the Events API v2 and keeps alerts by
dedup_key, as PagerDuty does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerting.notifiers import pagerduty
from alerting.notifiers.base import DeliveryError, Kind
from tests.peers import ACK_URL, PagerDutyPeer, channel_settings, notification
from watchkeeper.clock import FakeClock

T0 = 1_800_000_000.0
KEY = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12"


@pytest.fixture
async def pd(aiohttp_server: Any) -> PagerDutyPeer:
    peer = PagerDutyPeer(KEY)
    await peer.start(aiohttp_server)
    return peer


@pytest.fixture
def notifier(tmp_path: Path, pd: PagerDutyPeer,
             session: aiohttp.ClientSession) -> pagerduty.PagerDutyNotifier:
    (tmp_path / "pagerduty.key").write_text(KEY + "\n")
    s = channel_settings("pagerduty", f"""
        [channel.pagerduty]
        url = "{pd.url}"
        routing_key_file = "pagerduty.key"
        timeout = "2s"
        """, tmp_path)
    return pagerduty.PagerDutyNotifier(s, session, FakeClock(T0))


async def test_page_triggers_an_alert_a_person_can_act_on(
        pd: PagerDutyPeer, notifier: pagerduty.PagerDutyNotifier) -> None:
    done = await notifier.send(notification())
    assert "accepted the trigger event for watchkeeper-case-12" in done.reply
    alert = pd.alerts["watchkeeper-case-12"]
    assert alert.status == "triggered" and alert.severity == "critical"
    assert alert.summary == "Severity 1 case #12: srv1 is down (acme)"
    assert alert.links == [{"href": ACK_URL, "text": "Acknowledge case #12 in watchkeeper"}]
    payload = pd.requests[0].json()["payload"]
    assert (payload["source"], payload["component"], payload["group"]) == ("srv1", "srv1",
                                                                          "acme")


async def test_throttled_and_failed_attempts_then_success_leave_one_alert(
        pd: PagerDutyPeer, notifier: pagerduty.PagerDutyNotifier) -> None:
    pd.cue(429)
    pd.cue(500)
    for status in (429, 500):
        with pytest.raises(DeliveryError) as caught:
            await notifier.send(notification())
        assert caught.value.retryable and f"answered {status}" in str(caught.value)
    await notifier.send(notification())
    await notifier.send(notification())  # a repeat of the step, or a resend after a crash
    assert pd.opened == 1
    assert pd.alerts["watchkeeper-case-12"].events == 2


async def test_acknowledging_and_resolving_here_follow_on_pagerduty(
        pd: PagerDutyPeer, notifier: pagerduty.PagerDutyNotifier) -> None:
    await notifier.send(notification())
    await notifier.send(notification(Kind.ACKNOWLEDGED, subject="Case #12 acknowledged"))
    assert pd.alerts["watchkeeper-case-12"].status == "acknowledged"
    done = await notifier.send(notification(Kind.RESOLVED, subject="Case #12 resolved"))
    assert "accepted the resolve event" in done.reply
    assert pd.alerts["watchkeeper-case-12"].status == "resolved"
    assert pd.requests[-1].json() == {"routing_key": KEY, "event_action": "resolve",
                                      "dedup_key": "watchkeeper-case-12"}


async def test_invalid_event_is_permanent_with_pagerdutys_reason(
        pd: PagerDutyPeer, notifier: pagerduty.PagerDutyNotifier) -> None:
    pd.cue(400)
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(notification())
    assert not caught.value.retryable
    assert "answered 400: Event object is invalid: 'payload.summary'" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_unknown_integration_key_is_permanent(pd: PagerDutyPeer,
                                                   session: aiohttp.ClientSession) -> None:
    other = pagerduty.PagerDutySettings(pd.url, "X" * 32, "watchkeeper", 2.0)
    with pytest.raises(DeliveryError) as caught:
        await pagerduty.PagerDutyNotifier(other, session, FakeClock(T0)).send(notification())
    assert not caught.value.retryable and "Invalid routing key" in str(caught.value)
    assert "X" * 32 not in str(caught.value)


async def test_customer_notices_are_not_pages(
        pd: PagerDutyPeer, notifier: pagerduty.PagerDutyNotifier) -> None:
    with pytest.raises(DeliveryError) as caught:
        await notifier.send(notification(Kind.NOTICE))
    assert not caught.value.retryable
    assert pd.requests == []
