"""The channel registry: every channel by name, read from [channel.NAME] tables."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from alerting.notifiers import email, ntfy, pagerduty, sms, webhook
from alerting.notifiers.base import Kind
from alerting.notifiers.registry import CHANNELS, Configured
from tests.peers import channel_problems, channel_settings
from watchkeeper.clock import FakeClock

ALL = """
[channel.email]
host = "mail.example"
starttls = true
username = "noc"
password_file = "secrets/smtp"

[channel.sms]
account_sid = "AC0123"
auth_token_file = "secrets/twilio"
from_number = "+15005550006"

[channel.pagerduty]
routing_key_file = "secrets/pagerduty"

[channel.ntfy]
topic = "noc-pages"
token_file = "secrets/ntfy"

[channel.webhook]
format = "slack"
url_file = "secrets/slack"
"""


def secrets(base: Path) -> None:
    (base / "secrets").mkdir()
    for name, value in [("smtp", "pw"), ("twilio", "tok"), ("pagerduty", "K" * 32),
                        ("ntfy", "tk_1"), ("slack", "https://hooks.slack.com/services/T/B/x")]:
        (base / "secrets" / name).write_text(value + "\n")


def test_the_five_channels() -> None:
    assert list(CHANNELS) == ["email", "sms", "pagerduty", "ntfy", "webhook"]
    assert CHANNELS["pagerduty"].kinds == pagerduty.KINDS
    assert all(CHANNELS[n].kinds == frozenset(Kind) for n in ("email", "sms", "ntfy",
                                                               "webhook"))


def test_every_channel_loads_from_one_file(tmp_path: Path) -> None:
    secrets(tmp_path)
    assert channel_problems(ALL, tmp_path) == []
    loaded = {name: channel_settings(name, ALL, tmp_path) for name in CHANNELS}
    assert isinstance(loaded["email"], email.SmtpSettings)
    assert isinstance(loaded["sms"], sms.SmsSettings)
    assert isinstance(loaded["pagerduty"], pagerduty.PagerDutySettings)
    assert isinstance(loaded["ntfy"], ntfy.NtfySettings)
    assert isinstance(loaded["webhook"], webhook.WebhookSettings)
    for secret in ("pw", "tok", "K" * 32, "tk_1", "hooks.slack.com"):
        assert not any(secret in repr(s) for s in loaded.values())


async def test_configured_channels_make_their_notifiers(tmp_path: Path) -> None:
    secrets(tmp_path)
    async with aiohttp.ClientSession() as session:
        made = {name: Configured(CHANNELS[name], channel_settings(name, ALL, tmp_path))
                .notifier(session, FakeClock()) for name in CHANNELS}
    assert {name: type(n).__name__ for name, n in made.items()} == {
        "email": "EmailNotifier", "sms": "SmsNotifier", "pagerduty": "PagerDutyNotifier",
        "ntfy": "NtfyNotifier", "webhook": "WebhookNotifier"}


def test_an_unknown_channel_and_every_problem_at_once(tmp_path: Path) -> None:
    problems = channel_problems("""
        [channel.pager]
        url = "x"

        [channel.sms]
        from_number = "+15005550006"
        """, tmp_path)
    assert problems == [
        "collector.toml: channel.pager: no such channel; there are email, sms, pagerduty,"
        " ntfy, webhook",
        "collector.toml: channel.sms.account_sid: is required",
        "collector.toml: channel.sms.auth_token_file: is required",
    ]


def test_addresses_each_channel_accepts() -> None:
    assert CHANNELS["email"].check_address("ops@noc.example") is None
    assert CHANNELS["sms"].check_address("ops@noc.example") is not None
    assert CHANNELS["ntfy"].check_address("") is None  # falls back to the channel's topic
    assert CHANNELS["pagerduty"].check_address("") is None
