from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerting.calendar import BusinessCalendar, Span
from alerting.cases import HoldReason
from alerting.sla import (
    Hold,
    SlaClock,
    SlaEvent,
    SlaEventKind,
    SlaTarget,
    describe,
    holds_from_changes,
    next_sla_event,
    sla_deadlines,
    sla_status,
    sla_summary,
)

LONDON = ZoneInfo("Europe/London")
UK = BusinessCalendar("uk-office", LONDON, ((Span(540, 1050),),) * 5 + ((), ()),
                      frozenset({date(2026, 12, 25), date(2026, 12, 28)}))
K = SlaEventKind
AWAITING = HoldReason.AWAITING_CUSTOMER


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def target(response: float, resolution: float | None = None, clock: SlaClock = SlaClock.WALL,
           percent: int | None = 75, severity: int = 1) -> SlaTarget:
    """Durations in minutes."""
    return SlaTarget(severity, None, minutes(response),
                     None if resolution is None else minutes(resolution), clock, percent)


TWO_HOURS = target(120)
OPENED = london(2026, 1, 12, 10, 0)  # a Monday


def test_admin_escalation_at_75_percent_of_two_hours_is_ninety_minutes_in() -> None:
    d = sla_deadlines(OPENED, TWO_HOURS, None)
    assert d.admin_response_at == london(2026, 1, 12, 11, 30)
    assert d.response_due == london(2026, 1, 12, 12, 0)
    assert d.resolution_due is None and d.admin_resolution_at is None


def test_no_admin_escalation_unless_a_percentage_is_set() -> None:
    d = sla_deadlines(OPENED, target(120, percent=None), None)
    assert d.admin_response_at is None
    assert sla_status(d, None, None, london(2026, 1, 12, 23, 0)) == [
        SlaEvent(K.RESPONSE_BREACHED, london(2026, 1, 12, 12, 0))]


@pytest.mark.parametrize(("acknowledged", "now", "kinds"), [
    # Acknowledged within the first 90 minutes: nothing, however late we look.
    (london(2026, 1, 12, 11, 0), london(2026, 1, 13, 9, 0), []),
    # Acknowledged after the administrative escalation but before the limit: a warning only.
    (london(2026, 1, 12, 11, 45), london(2026, 1, 13, 9, 0), [K.ADMIN_ESCALATION_RESPONSE]),
    # Acknowledged late: both, each at its own moment.
    (london(2026, 1, 12, 12, 10), london(2026, 1, 13, 9, 0),
     [K.ADMIN_ESCALATION_RESPONSE, K.RESPONSE_BREACHED]),
    # Acknowledged on the deadline itself is late: the deadline is the first late moment.
    (london(2026, 1, 12, 12, 0), london(2026, 1, 13, 9, 0),
     [K.ADMIN_ESCALATION_RESPONSE, K.RESPONSE_BREACHED]),
    # Nobody has answered yet: events appear as time reaches them.
    (None, london(2026, 1, 12, 11, 29), []),
    (None, london(2026, 1, 12, 11, 30), [K.ADMIN_ESCALATION_RESPONSE]),
    (None, london(2026, 1, 12, 11, 59), [K.ADMIN_ESCALATION_RESPONSE]),
    (None, london(2026, 1, 12, 12, 0), [K.ADMIN_ESCALATION_RESPONSE, K.RESPONSE_BREACHED]),
])
def test_response_breach_depends_on_when_the_case_was_acknowledged(
        acknowledged: datetime | None, now: datetime, kinds: list[SlaEventKind]) -> None:
    d = sla_deadlines(OPENED, TWO_HOURS, None)
    assert [e.kind for e in sla_status(d, acknowledged, None, now)] == kinds


def test_each_event_says_when_it_happened() -> None:
    d = sla_deadlines(OPENED, TWO_HOURS, None)
    events = sla_status(d, london(2026, 1, 12, 13, 0), None, london(2026, 1, 12, 14, 0))
    assert events == [SlaEvent(K.ADMIN_ESCALATION_RESPONSE, london(2026, 1, 12, 11, 30)),
                      SlaEvent(K.RESPONSE_BREACHED, london(2026, 1, 12, 12, 0))]
    assert [e.is_breach for e in events] == [False, True]


def test_resolution_is_judged_separately_from_response() -> None:
    d = sla_deadlines(OPENED, target(15, 240), None)
    assert d.admin_resolution_at == london(2026, 1, 12, 13, 0)
    assert d.resolution_due == london(2026, 1, 12, 14, 0)
    # Answered at once, resolved at 14:30: the resolution target alone is missed.
    events = sla_status(d, london(2026, 1, 12, 10, 5), london(2026, 1, 12, 14, 30),
                        london(2026, 1, 12, 15, 0))
    assert [e.kind for e in events] == [K.ADMIN_ESCALATION_RESOLUTION, K.RESOLUTION_BREACHED]


def test_wall_clock_and_business_hours_targets_side_by_side() -> None:
    friday_1700 = london(2026, 1, 9, 17, 0)
    wall = sla_deadlines(friday_1700, target(240), UK)
    business = sla_deadlines(friday_1700, target(240, clock=SlaClock.BUSINESS), UK)
    assert (wall.admin_response_at, wall.response_due) == (
        london(2026, 1, 9, 20, 0), london(2026, 1, 9, 21, 0))
    # 30 minutes on Friday, the rest from 09:00 on Monday.
    assert (business.admin_response_at, business.response_due) == (
        london(2026, 1, 12, 11, 30), london(2026, 1, 12, 12, 30))
    saturday = london(2026, 1, 10, 12, 0)
    assert [e.kind for e in sla_status(wall, None, None, saturday)] == [
        K.ADMIN_ESCALATION_RESPONSE, K.RESPONSE_BREACHED]
    assert sla_status(business, None, None, saturday) == []


def test_a_business_hours_case_opened_on_a_holiday_waits_for_the_next_working_day() -> None:
    d = sla_deadlines(london(2026, 12, 25, 10, 0), target(240, clock=SlaClock.BUSINESS), UK)
    assert d.response_due == london(2026, 12, 29, 13, 0)


def test_a_wall_clock_day_across_the_start_of_summer_time_is_twenty_four_real_hours() -> None:
    d = sla_deadlines(london(2026, 3, 28, 12, 0), target(24 * 60), None)
    assert d.response_due == london(2026, 3, 29, 13, 0)  # the clocks went forward at 01:00


def test_a_business_hours_target_without_a_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="no calendar"):
        sla_deadlines(OPENED, target(60, clock=SlaClock.BUSINESS), None)


def test_awaiting_customer_pauses_the_resolution_clock_but_not_the_response_clock() -> None:
    hold = Hold(london(2026, 1, 12, 11, 0), london(2026, 1, 12, 13, 0), AWAITING)
    d = sla_deadlines(OPENED, target(30, 240), None, [hold])
    assert d.response_due == london(2026, 1, 12, 10, 30)
    assert d.admin_resolution_at == london(2026, 1, 12, 15, 0)
    assert d.resolution_due == london(2026, 1, 12, 16, 0)  # 14:00 plus the two hours on hold


def test_other_hold_reasons_do_not_stop_the_clock() -> None:
    hold = Hold(london(2026, 1, 12, 11, 0), london(2026, 1, 12, 13, 0), HoldReason.PENDING_FIX)
    assert sla_deadlines(OPENED, target(30, 240), None, [hold]).resolution_due == london(
        2026, 1, 12, 14, 0)


def test_overlapping_holds_are_not_counted_twice() -> None:
    holds = [Hold(london(2026, 1, 12, 11, 0), london(2026, 1, 12, 12, 0), AWAITING),
             Hold(london(2026, 1, 12, 11, 30), london(2026, 1, 12, 12, 30), AWAITING)]
    assert sla_deadlines(OPENED, target(30, 240), None, holds).resolution_due == london(
        2026, 1, 12, 15, 30)


def test_a_hold_over_business_hours_moves_the_deadline_by_the_working_time_it_covered() -> None:
    # Standard tier Severity 2: 17 working hours to resolve. Opened Monday 10:00, waiting
    # for the customer from Monday 12:00 to Wednesday 12:00: 2 h before, the rest after.
    sev2 = target(240, 17 * 60, SlaClock.BUSINESS, severity=2)
    plain = sla_deadlines(OPENED, sev2, UK)
    held = sla_deadlines(OPENED, sev2, UK, [
        Hold(london(2026, 1, 12, 12, 0), london(2026, 1, 14, 12, 0), AWAITING)])
    assert plain.resolution_due == london(2026, 1, 14, 10, 0)
    assert held.resolution_due == london(2026, 1, 16, 10, 0)


def test_while_awaiting_the_customer_the_resolution_clock_is_stopped() -> None:
    hold = Hold(london(2026, 1, 12, 11, 0), None, AWAITING)
    d = sla_deadlines(OPENED, target(30, 240), None, [hold])
    assert d.resolution_paused and d.resolution_due is None
    assert d.admin_resolution_at is None  # 75% is 3 h; only 1 h ran before the hold
    assert sla_status(d, london(2026, 1, 12, 10, 5), None, london(2026, 1, 20, 0, 0)) == []


def test_a_hold_cannot_undo_a_breach_that_already_happened() -> None:
    hold = Hold(london(2026, 1, 12, 12, 0), None, AWAITING)
    d = sla_deadlines(OPENED, target(15, 60), None, [hold])
    assert d.resolution_due == london(2026, 1, 12, 11, 0) and not d.resolution_paused
    events = sla_status(d, london(2026, 1, 12, 10, 5), None, london(2026, 1, 12, 13, 0))
    assert [e.kind for e in events] == [K.ADMIN_ESCALATION_RESOLUTION, K.RESOLUTION_BREACHED]


def test_next_event_is_when_to_wake_up() -> None:
    d = sla_deadlines(OPENED, target(15, 240), None)
    assert next_sla_event(d, None, None, OPENED) == SlaEvent(
        K.ADMIN_ESCALATION_RESPONSE, london(2026, 1, 12, 10, 11, 15))
    acked = london(2026, 1, 12, 10, 5)
    assert next_sla_event(d, acked, None, acked) == SlaEvent(
        K.ADMIN_ESCALATION_RESOLUTION, london(2026, 1, 12, 13, 0))
    assert next_sla_event(d, acked, london(2026, 1, 12, 11, 0), london(2026, 1, 12, 11, 0)) is None


def test_timeline_text_names_the_target_and_the_clock() -> None:
    at = london(2026, 1, 12, 11, 30)
    assert describe(SlaEvent(K.ADMIN_ESCALATION_RESPONSE, at), TWO_HOURS) == (
        "Administrative escalation: 75% of the 2 h response target (wall clock) used without"
        " a response")
    business = target(17 * 60, 42 * 60 + 30, SlaClock.BUSINESS)
    assert describe(SlaEvent(K.RESOLUTION_BREACHED, at), business) == (
        "SLA breached: the 1 d 18 h resolution target (business hours) has passed")


def test_a_target_survives_its_snapshot() -> None:
    for t in (TWO_HOURS, target(15, 240, SlaClock.BUSINESS, None, 3)):
        assert SlaTarget.from_snapshot(t.snapshot()) == t


@pytest.mark.parametrize(("acknowledged", "resolved", "now", "text"), [
    (None, None, london(2026, 1, 12, 10, 5),
     "SLA (wall clock, Europe/London): response due 10:15 (in 10 min);"
     " resolution due 14:00 (in 3 h 55 min); admin escalation at 10:11"),
    (None, None, london(2026, 1, 12, 10, 35),
     "SLA (wall clock, Europe/London): response overdue since 10:15 (20 min);"
     " resolution due 14:00 (in 3 h 25 min); admin escalation at 13:00"),
    (london(2026, 1, 12, 10, 20), None, london(2026, 1, 12, 13, 30),
     "SLA (wall clock, Europe/London): responded 10:20 (5 min late);"
     " resolution due 14:00 (in 30 min); escalated to administration at 13:00"),
    (london(2026, 1, 12, 10, 3), london(2026, 1, 12, 12, 0), london(2026, 1, 13, 9, 0),
     "SLA (wall clock, Europe/London): responded Mon 10:03 (on time);"
     " resolved Mon 12:00 (on time)"),
])
def test_summary_for_case_show(acknowledged: datetime | None, resolved: datetime | None,
                               now: datetime, text: str) -> None:
    d = sla_deadlines(OPENED, target(15, 240), None)
    assert sla_summary(d, acknowledged, resolved, now, LONDON) == text


def test_summary_of_a_business_hours_case_opened_on_friday_afternoon() -> None:
    sev2 = target(240, 17 * 60, SlaClock.BUSINESS, severity=2)
    d = sla_deadlines(london(2026, 1, 9, 16, 0), sev2, UK)
    assert sla_summary(d, None, None, london(2026, 1, 9, 16, 10), LONDON) == (
        "SLA (business hours, Europe/London): response due Mon 11:30 (in 2 d 19 h);"
        " resolution due Tue 16:00 (in 3 d 23 h); admin escalation at Mon 10:30")


def test_summary_says_when_the_resolution_clock_is_paused() -> None:
    hold = Hold(london(2026, 1, 12, 10, 30), None, AWAITING)
    d = sla_deadlines(OPENED, target(15, 240), None, [hold])
    assert sla_summary(d, london(2026, 1, 12, 10, 10), None, london(2026, 1, 12, 11, 0),
                       LONDON) == ("SLA (wall clock, Europe/London): responded 10:10 (on time);"
                                   " resolution clock paused (awaiting customer)")


def test_holds_are_read_from_the_changes_of_hold_reason() -> None:
    t = [london(2026, 1, 12, h, 0) for h in (11, 12, 13, 16)]
    changes = [(t[0], HoldReason.RESEARCH), (t[1], AWAITING), (t[2], None), (t[3], AWAITING)]
    assert holds_from_changes(changes) == [
        Hold(t[0], t[1], HoldReason.RESEARCH), Hold(t[1], t[2], AWAITING),
        Hold(t[3], None, AWAITING)]
    # Only the hour awaiting the customer moves the 14:00 deadline, to 15:00; the hold from
    # 16:00 comes too late to stop it.
    assert sla_deadlines(OPENED, target(30, 240), None,
                         holds_from_changes(changes)).resolution_due == london(2026, 1, 12, 15, 0)
