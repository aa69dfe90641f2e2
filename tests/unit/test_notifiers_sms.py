"""The SMS text: what matters fits the first segment; the whole fits the segment budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.notifiers import sms
from alerting.notifiers.base import Kind
from tests.peers import ACK_URL, channel_problems, channel_settings, notification


@pytest.mark.parametrize(("text", "count"), [
    ("a" * 160, 1),
    ("a" * 161, 2),  # parts of 153 once the text is split
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("€" * 80, 1),  # an extension character costs two septets
    ("€" * 81, 2),
    ("ä" * 160, 1),  # in the GSM alphabet
    ("é" * 160, 1),
    ("ê" * 70, 1),  # not in GSM-7: UCS-2, 70 to a message
    ("ê" * 71, 2),
    ("😀" * 35, 1),  # two UTF-16 units each
    ("😀" * 36, 2),
])
def test_segments_as_the_network_counts_them(text: str, count: int) -> None:
    assert sms.segments(text) == count


def first_segment(text: str) -> str:
    _, gsm = sms.units(text)
    return text[:153] if gsm else text[:67]


@pytest.mark.parametrize("title", [
    "srv1 is down",
    "x" * 200,
    "Serveur «compta» hors ligne à Zürich, 東京 office",  # forces UCS-2: 67 to a part
])
@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_a_page_leads_with_severity_case_and_reply_ack(title: str, max_segments: int) -> None:
    n = notification(title=title, case_number=4321)
    text = sms.text(n, max_segments)
    assert first_segment(text).startswith("Sev1 case #4321: Reply ACK 4321 to acknowledge.")
    assert sms.segments(text) <= max_segments


def test_with_room_a_page_carries_title_customer_and_link() -> None:
    text = sms.text(notification(), 3)
    assert text == f"Sev1 case #12: Reply ACK 12 to acknowledge. srv1 is down (acme) {ACK_URL}"


def test_when_tight_the_link_goes_before_the_title() -> None:
    text = sms.text(notification(), 1)
    assert ACK_URL not in text
    assert text == "Sev1 case #12: Reply ACK 12 to acknowledge. srv1 is down (acme)"


def test_a_long_title_is_cut_visibly_and_keeps_the_link() -> None:
    text = sms.text(notification(title="disk " * 80), 3)
    assert text.endswith(f"... {ACK_URL}")
    assert sms.segments(text) == 3


def test_a_customer_notice_asks_for_no_acknowledgement() -> None:
    text = sms.text(notification(Kind.NOTICE, subject="Case #12 opened: srv1 is down"), 1)
    assert text == "Sev1 case #12: Case #12 opened: srv1 is down"


def test_form_uses_the_number_or_the_messaging_service(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("secret-token")
    base = '[channel.sms]\naccount_sid = "AC1"\nauth_token_file = "token"\n'
    by_number = channel_settings("sms", base + 'from_number = "+15005550006"', tmp_path)
    by_service = channel_settings("sms", base + 'messaging_service_sid = "MG1"', tmp_path)
    n = notification(address="+447700900123")
    assert sms.form(by_number, n)["From"] == "+15005550006"
    assert sms.form(by_service, n)["MessagingServiceSid"] == "MG1"
    assert "From" not in sms.form(by_service, n)
    assert by_number.endpoint == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert "secret-token" not in repr(by_number)
    assert sms.authorization(by_number) == "Basic QUMxOnNlY3JldC10b2tlbg=="


@pytest.mark.parametrize(("address", "ok"), [
    ("+447700900123", True), ("+15005550006", True), ("07700900123", False),
    ("+44 7700 900123", False), ("+0123456789", False), ("", False),
])
def test_addresses_are_e164(address: str, ok: bool) -> None:
    assert (sms.check_address(address) is None) is ok


def test_settings_problems_name_file_key_and_reason(tmp_path: Path) -> None:
    problems = channel_problems("""
        [channel.sms]
        base_url = "http://gateway.example"
        account_sid = "AC/../x"
        auth_token_file = "missing.token"
        max_segments = 12
        token = "inline secrets are not a key"
        """, tmp_path)
    assert problems == [
        "collector.toml: channel.sms.base_url: gateway.example must be reached over https://"
        " (plain http is for receivers on this machine only)",
        f"collector.toml: channel.sms.auth_token_file: cannot read {tmp_path}/missing.token:"
        " No such file or directory",
        "collector.toml: channel.sms.token: unknown key",
        "collector.toml: channel.sms.account_sid: 'AC/../x' is not an account SID (letters,"
        " digits and '-')",
        "collector.toml: channel.sms.from_number: set exactly one of from_number and"
        " messaging_service_sid",
        "collector.toml: channel.sms.max_segments: Twilio takes at most 1600 characters,"
        " about 10 segments",
    ]
