from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerting.calendar import BusinessCalendar, Span

LONDON = ZoneInfo("Europe/London")
OFFICE = (Span(9 * 60, 17 * 60 + 30),)  # 09:00-17:30
UK = BusinessCalendar(
    "uk-office", LONDON, (OFFICE,) * 5 + ((), ()),
    frozenset({date(2026, 4, 3), date(2026, 4, 6), date(2026, 12, 25), date(2026, 12, 28)}))
ROUND_THE_CLOCK = BusinessCalendar("noc", LONDON, ((Span(0, 24 * 60),),) * 7, frozenset())


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def test_four_business_hours_from_friday_1700_are_due_monday_1230() -> None:
    due = UK.add_business_time(london(2026, 1, 9, 17, 0), hours(4))
    assert due == london(2026, 1, 12, 12, 30)
    assert due.astimezone(LONDON).strftime("%a %H:%M") == "Mon 12:30"


@pytest.mark.parametrize(("opened", "duration", "due"), [
    # Opened before the office opens: the clock starts at 09:00.
    (london(2026, 1, 13, 6, 0), hours(1), london(2026, 1, 13, 10, 0)),
    # Opened after it closes: the clock starts the next morning.
    (london(2026, 1, 13, 20, 0), hours(1), london(2026, 1, 14, 10, 0)),
    # Opened on Saturday: Monday morning.
    (london(2026, 1, 10, 11, 0), hours(2), london(2026, 1, 12, 11, 0)),
    # Exactly the rest of the day ends at closing time, not the next morning.
    (london(2026, 1, 13, 16, 30), hours(1), london(2026, 1, 13, 17, 30)),
    # A zero duration is the first working moment.
    (london(2026, 1, 13, 20, 0), hours(0), london(2026, 1, 14, 9, 0)),
])
def test_time_outside_working_hours_does_not_count(opened: datetime, duration: timedelta,
                                                   due: datetime) -> None:
    assert UK.add_business_time(opened, duration) == due


def test_a_case_opened_on_christmas_day_counts_from_the_first_day_after_the_holidays() -> None:
    # 25 December 2026 is a Friday and Boxing Day's substitute is Monday the 28th.
    due = UK.add_business_time(london(2026, 12, 25, 10, 0), hours(4))
    assert due == london(2026, 12, 29, 13, 0)


def test_easter_holidays_are_skipped_in_the_middle_of_a_window() -> None:
    # Thursday 2 April 2026 16:30: one hour that day, then Good Friday and Easter Monday off.
    due = UK.add_business_time(london(2026, 4, 2, 16, 30), hours(3))
    assert due == london(2026, 4, 7, 11, 0)


def test_working_hours_follow_the_clocks_when_summer_time_starts_inside_the_window() -> None:
    # The clocks go forward on Sunday 29 March 2026. Friday 15:00 GMT plus 4 working hours:
    # 2h30 on Friday, then 1h30 from 09:00 BST on Monday, which is 08:00 UTC.
    due = UK.add_business_time(london(2026, 3, 27, 15, 0), hours(4))
    assert due == london(2026, 3, 30, 10, 30)
    assert due == datetime(2026, 3, 30, 9, 30, tzinfo=UTC)
    assert UK.business_time_between(london(2026, 3, 27, 15, 0), due) == hours(4)


def test_the_day_the_clocks_go_back_has_twenty_five_hours_on_a_round_the_clock_calendar() -> None:
    sunday, monday = london(2026, 10, 25, 0, 0), london(2026, 10, 26, 0, 0)
    assert ROUND_THE_CLOCK.business_time_between(sunday, monday) == hours(25)
    # 00:30 BST plus one hour is 01:30 BST; plus two hours is the second 01:30, in GMT.
    start = london(2026, 10, 25, 0, 30)
    assert ROUND_THE_CLOCK.add_business_time(start, hours(1)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC)
    assert ROUND_THE_CLOCK.add_business_time(start, hours(2)) == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC)


def test_hours_that_start_in_the_skipped_hour_start_once_the_clocks_have_moved() -> None:
    # Sunday 29 March 2026 has no 01:00-02:00 in London; "01:30" is taken as 02:30 BST.
    night = BusinessCalendar("night", LONDON, ((),) * 6 + ((Span(90, 180),),), frozenset())
    assert night.add_business_time(london(2026, 3, 29, 0, 0), timedelta(0)) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC)
    assert night.business_time_between(london(2026, 3, 28), london(2026, 3, 30)) == hours(0.5)


def test_a_lunch_break_does_not_count() -> None:
    split = BusinessCalendar("split", LONDON, ((Span(540, 720), Span(780, 1020)),) * 5 + ((), ()),
                             frozenset())
    assert split.add_business_time(london(2026, 1, 13, 11, 0), hours(2)) == london(
        2026, 1, 13, 14, 0)


@pytest.mark.parametrize(("at", "working"), [
    (london(2026, 1, 12, 9, 0), True),  # opening minute
    (london(2026, 1, 12, 8, 59), False),
    (london(2026, 1, 12, 17, 29), True),
    (london(2026, 1, 12, 17, 30), False),  # closing time is already outside
    (london(2026, 1, 10, 12, 0), False),  # Saturday
    (london(2026, 12, 25, 12, 0), False),  # Christmas Day, a Friday
    (datetime(2026, 7, 1, 8, 30, tzinfo=UTC), True),  # 09:30 BST
])
def test_is_business_time(at: datetime, working: bool) -> None:
    assert UK.is_business_time(at) is working


def test_business_time_between_counts_only_working_hours_and_can_be_negative() -> None:
    friday, monday = london(2026, 1, 9, 17, 0), london(2026, 1, 12, 12, 30)
    assert UK.business_time_between(friday, monday) == hours(4)
    assert UK.business_time_between(monday, friday) == -hours(4)
    # Christmas week: Thursday 24th 09:00 to Tuesday 29th 09:00 is one working day.
    assert UK.business_time_between(london(2026, 12, 24, 9), london(2026, 12, 29, 9)) == hours(8.5)


@pytest.mark.parametrize(("at", "next_day"), [
    (london(2026, 1, 9, 19, 0), london(2026, 1, 12, 9, 0)),  # Friday evening: Monday
    (london(2026, 1, 9, 10, 0), london(2026, 1, 12, 9, 0)),  # Friday morning too
    (london(2026, 1, 12, 8, 0), london(2026, 1, 13, 9, 0)),  # strictly after: Tuesday
    (london(2026, 4, 2, 12, 0), london(2026, 4, 7, 9, 0)),  # before Good Friday: Tuesday
    (london(2026, 12, 24, 12, 0), london(2026, 12, 29, 9, 0)),  # before Christmas: 29th
])
def test_next_business_day_starts_when_the_office_opens(at: datetime, next_day: datetime) -> None:
    assert UK.next_business_day(at) == next_day


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        UK.add_business_time(datetime(2026, 1, 9, 17, 0), hours(4))


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one weekday"):
        BusinessCalendar("never", LONDON, ((),) * 7, frozenset())
