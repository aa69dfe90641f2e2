"""How an HTTP answer becomes delivered, retryable or permanent."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from alerting.notifiers._http import Reply, parse_retry_after, refused, retryable_status, where
from alerting.notifiers.base import redact

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("status", "retryable"), [
    (400, False), (401, False), (403, False), (404, False), (410, False), (413, False),
    (408, True), (425, True), (429, True), (500, True), (502, True), (503, True), (504, True),
])
def test_only_throttling_timeouts_and_server_errors_are_retried(status: int,
                                                                retryable: bool) -> None:
    assert retryable_status(status) is retryable


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0),
    (" 0 ", 0.0),
    (formatdate(NOW + 45, usegmt=True), 45.0),
    (formatdate(NOW - 60, usegmt=True), 0.0),  # a date in the past: go now
    ("soon", None),
    ("-5", None),
    ("", None),
    (None, None),
])
def test_retry_after_in_seconds_or_as_a_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_a_retry_after_on_a_permanent_refusal_is_ignored() -> None:
    err = refused("SMS gateway x", Reply(400, "", 60.0), "error 21211")
    assert (err.retryable, err.retry_after, str(err)) == (
        False, None, "SMS gateway x answered 400: error 21211")


def test_a_throttled_answer_keeps_its_wait() -> None:
    err = refused("ntfy at x", Reply(429, "", 30.0))
    assert (err.retryable, err.retry_after) == (True, 30.0)


def test_a_redirect_is_permanent_and_says_so() -> None:
    err = refused("json webhook at x", Reply(301, "", None), "whatever they said")
    assert not err.retryable
    assert "redirect, which is not followed" in str(err)


def test_refusals_are_redacted() -> None:
    err = refused("x", Reply(401, "", None), "token tk_123 is wrong", ("tk_123",))
    assert "tk_123" not in str(err) and "***" in str(err)


def test_where_names_host_and_port_but_never_the_path() -> None:
    assert where("https://hooks.slack.com/services/T0/B0/secret") == "hooks.slack.com"
    assert where("http://127.0.0.1:8080/hooks/x?token=y") == "127.0.0.1:8080"


def test_redact_ignores_empty_secrets() -> None:
    assert redact("nothing to hide", ("", "")) == "nothing to hide"


def test_reply_json_is_empty_for_a_proxy_error_page() -> None:
    assert Reply(502, "<html>Bad Gateway</html>", None).json() == {}
    assert Reply(200, "[1, 2]", None).json() == {}
    assert Reply(202, '{"status": "success"}', None).json() == {"status": "success"}
