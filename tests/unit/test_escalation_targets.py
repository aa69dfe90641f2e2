"""Who a step's targets name and how each is reached (pure), and when the outbox gives up on
a channel."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from alerting.notifiers.base import DeliveryError, Kind
from alerting.notifiers.registry import CHANNELS
from alerting.oncall import Layer, Override, Rotation, RotationKind, Schedule, UnknownTarget
from alerting.targets import Contact, Directory, Person, Role, Route, TargetKind, parse
from collector.outbox_worker import backoff, gives_up, retry_wait

LONDON = ZoneInfo("Europe/London")
CAROL = Person("carol", email="carol@noc.example", phone="+447700900123",
               channels=("pagerduty", "sms", "email"))
DAN = Person("dan", email="dan@noc.example")
ERIN = Person("erin", ntfy_topic="", channels=("ntfy",))
NOC = Schedule("noc", LONDON, (
    Layer("primary", Rotation(("carol", "dan"), RotationKind.DAILY, time(9), date(2027, 1, 1))),
), (Override("erin", datetime(2027, 2, 1, tzinfo=UTC), datetime(2027, 2, 2, tzinfo=UTC)),))


def directory(*channels: str, shared: frozenset[str] = frozenset()) -> Directory:
    return Directory(
        people=(CAROL, DAN, ERIN), roles=(Role("directors", ("dan", "carol")),),
        contacts={"acme": (Contact("technical", "Acme IT", email="it@acme.example"),
                           Contact("billing", "", email="ap@acme.example")),
                  "globex": (Contact("technical", "Globex IT", phone="+15005550006",
                                     channels=("sms",)),)},
        schedules=(NOC,), channels={c: CHANNELS[c].kinds for c in channels},
        shared_address=shared)


@pytest.mark.parametrize(("target", "parsed"), [
    ("person:carol", (TargetKind.PERSON, "carol")),
    ("role:directors", (TargetKind.ROLE, "directors")),
    ("schedule:noc/primary", (TargetKind.SCHEDULE, "noc/primary")),
    ("contact:technical", (TargetKind.CONTACT, "technical")),
])
def test_targets_parse(target: str, parsed: tuple[TargetKind, str]) -> None:
    assert parse(target) == parsed


@pytest.mark.parametrize("target", ["carol", "person:", "team:ops", ":carol"])
def test_a_malformed_target_says_what_targets_look_like(target: str) -> None:
    with pytest.raises(UnknownTarget, match="targets are 'person:NAME', 'role:NAME'"):
        parse(target)


def names(found: list) -> list[str]:
    return [r.label for r in found]


def test_a_schedule_names_whoever_is_on_call_at_that_moment() -> None:
    d = directory("email")
    before = datetime(2027, 1, 15, 8, 59, tzinfo=LONDON)
    after = datetime(2027, 1, 15, 9, 0, tzinfo=LONDON)
    assert names(d.recipients("schedule:noc", "acme", before)) == ["dan"]
    assert names(d.recipients("schedule:noc/primary", "acme", after)) == ["carol"]
    assert names(d.recipients("schedule:noc", "acme", datetime(2027, 2, 1, 12, tzinfo=UTC))) \
        == ["erin"]


def test_roles_and_contacts_name_everyone_they_hold() -> None:
    d = directory("email")
    at = datetime(2027, 1, 15, tzinfo=UTC)
    assert names(d.recipients("role:directors", "acme", at)) == ["dan", "carol"]
    assert names(d.recipients("contact:technical", "globex", at)) == ["Globex IT"]
    assert names(d.recipients("contact:billing", "acme", at)) == ["billing"]
    assert d.recipients("contact:billing", "globex", at) == []  # that customer has none
    with pytest.raises(UnknownTarget, match="no \\[\\[role\\]\\] named 'nobody'"):
        d.recipients("role:nobody", "acme", at)


def test_everyone_a_schedule_may_name_includes_its_overrides() -> None:
    assert names(directory("email").everyone("schedule:noc")) == ["carol", "dan", "erin"]
    assert names(directory("email").everyone("contact:technical")) == ["Acme IT", "Globex IT"]


def test_a_persons_own_order_is_kept_and_what_cannot_work_is_left_out() -> None:
    d = directory("email", "sms", "pagerduty")
    assert d.routes(CAROL, (), Kind.PAGE) == ((Route("pagerduty", ""),
                                               Route("sms", "+447700900123"),
                                               Route("email", "carol@noc.example")), [])
    # PagerDuty carries pages, not notices; dan has no phone.
    assert d.routes(CAROL, (), Kind.NOTICE)[0][0] == Route("sms", "+447700900123")
    assert d.routes(DAN, ("sms", "email"), Kind.PAGE) == (
        (Route("email", "dan@noc.example"),), ["dan has no phone for sms"])
    assert d.routes(DAN, ("ntfy",), Kind.PAGE) == ((), ["ntfy is not set up"])
    assert d.routes(CAROL, ("pagerduty",), Kind.STATUS) == (
        (), ["pagerduty does not carry status messages"])


def test_ntfy_without_a_topic_of_ones_own_uses_the_channels() -> None:
    assert directory("ntfy").routes(ERIN, (), Kind.PAGE)[0] == ()
    assert directory("ntfy", shared=frozenset({"ntfy"})).routes(ERIN, (), Kind.PAGE)[0] == (
        Route("ntfy", ""),)


@pytest.mark.parametrize(("error", "attempt", "can_fall_over", "done"), [
    (DeliveryError("400", retryable=False), 1, True, True),
    (DeliveryError("400", retryable=False), 1, False, True),
    (DeliveryError("500", retryable=True), 2, True, False),
    (DeliveryError("500", retryable=True), 3, True, True),  # the next channel may work
    (DeliveryError("500", retryable=True), 3, False, False),  # the last one: keep trying
    (DeliveryError("500", retryable=True), 8, False, True),
])
def test_when_the_outbox_gives_up_on_a_channel(error: DeliveryError, attempt: int,
                                               can_fall_over: bool, done: bool) -> None:
    assert gives_up(error, attempt, can_fall_over) is done


def test_a_retry_waits_for_the_backoff_or_the_providers_retry_after() -> None:
    assert retry_wait(1, DeliveryError("429", True, retry_after=120)) == 120
    assert retry_wait(3, DeliveryError("429", True, retry_after=1)) == backoff(3) == 45
    assert retry_wait(2, DeliveryError("timeout", True)) == 15
