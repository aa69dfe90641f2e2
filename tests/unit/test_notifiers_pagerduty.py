"""PagerDuty Events API v2 events built from notifications."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.notifiers import pagerduty
from alerting.notifiers.base import Kind
from tests.peers import ACK_URL, channel_problems, notification

NOW = 1_800_000_000.0
S = pagerduty.PagerDutySettings("https://events.pagerduty.com", "K" * 32, "watchkeeper", 10.0)


def test_a_page_is_a_trigger_with_everything_a_responder_needs() -> None:
    assert pagerduty.event(S, notification(), NOW) == {
        "routing_key": "K" * 32,
        "event_action": "trigger",
        "dedup_key": "watchkeeper-case-12",
        "client": "watchkeeper",
        "payload": {
            "summary": "Severity 1 case #12: srv1 is down (acme)",
            "source": "srv1",
            "severity": "critical",
            "timestamp": "2027-01-15T08:00:00+00:00",
            "component": "srv1",
            "group": "acme",
            "class": "page",
            "custom_details": {"case": 12, "severity": 1, "customer": "acme",
                               "details": notification().body},
        },
        "links": [{"href": ACK_URL, "text": "Acknowledge case #12 in watchkeeper"}],
    }


@pytest.mark.parametrize(("severity", "expected"), [(1, "critical"), (2, "error"),
                                                    (3, "warning"), (4, "info")])
def test_severity_names(severity: int, expected: str) -> None:
    doc = pagerduty.event(S, notification(severity=severity), NOW)
    assert doc["payload"]["severity"] == expected


@pytest.mark.parametrize(("kind", "action"), [(Kind.ACKNOWLEDGED, "acknowledge"),
                                              (Kind.RESOLVED, "resolve")])
def test_follow_ups_carry_only_the_key(kind: Kind, action: str) -> None:
    assert pagerduty.event(S, notification(kind), NOW) == {
        "routing_key": "K" * 32, "event_action": action, "dedup_key": "watchkeeper-case-12"}


def test_summary_is_kept_within_1024_characters() -> None:
    doc = pagerduty.event(S, notification(title="x" * 2000), NOW)
    assert len(doc["payload"]["summary"]) == 1024
    assert doc["payload"]["summary"].startswith("Severity 1 case #12: xxx")


def test_without_a_device_the_configured_source_is_used() -> None:
    payload = pagerduty.event(S, notification(source="", customer=""), NOW)["payload"]
    assert payload["source"] == "watchkeeper"
    assert "component" not in payload and "group" not in payload


def test_the_channel_carries_pages_and_their_follow_ups_only() -> None:
    assert frozenset({Kind.PAGE, Kind.SUMMARY, Kind.ACKNOWLEDGED, Kind.RESOLVED}) == \
        pagerduty.KINDS


def test_routing_key_must_have_32_characters(tmp_path: Path) -> None:
    (tmp_path / "pd.key").write_text("short\n")
    assert channel_problems('[channel.pagerduty]\nrouting_key_file = "pd.key"', tmp_path) == [
        "collector.toml: channel.pagerduty.routing_key_file: the file holds 5 characters; an"
        " Events API v2 integration key has 32"]


def test_routing_key_is_required_and_never_inline(tmp_path: Path) -> None:
    assert channel_problems(f'[channel.pagerduty]\nrouting_key = "{"K" * 32}"', tmp_path) == [
        "collector.toml: channel.pagerduty.routing_key_file: is required",
        "collector.toml: channel.pagerduty.routing_key: unknown key"]
