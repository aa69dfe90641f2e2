"""Maintenance windows as pure functions: recurring occurrences on the wall clock across
daylight-saving changes, what a window covers, and when the next start or end comes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from alerting.maintenance import (
    DeviceRef,
    Recurrence,
    Scope,
    Window,
    active_windows,
    describe,
    muting,
    next_change,
    occurrence,
    occurrence_at,
    occurrences,
    parse_every,
    upcoming,
)
from alerting.maintenance_messages import HeldCase, compose_summary
from alerting.policy import MessageKind

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SUNDAY = 6
H = 3600.0


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M")


def recurring(weekday: int | None, at: str, hours: float, zone: ZoneInfo = LONDON,
              since: str = "2026-01-01 00:00", window_id: int = 1, scope: Scope = Scope.DEVICE,
              target: str = "dev-1", **kw: object) -> Window:
    return Window(window_id, scope, target, utc(since), None,
                  Recurrence(weekday, time.fromisoformat(at), hours * H), zone, "patching",
                  "alice", **kw)


def one_off(start: str, end: str, window_id: int = 1, scope: Scope = Scope.DEVICE,
            target: str = "dev-1", **kw: object) -> Window:
    return Window(window_id, scope, target, utc(start), utc(end), None, LONDON, "move rack",
                  "bob", **kw)


def spans(window: Window, frm: str, to: str) -> list[tuple[str, str]]:
    return [(iso(o.start), iso(o.end)) for o in occurrences(window, utc(frm), utc(to))]


@pytest.mark.parametrize(("frm", "to", "expected"), [
    # Winter: 02:00 GMT is 02:00 UTC.
    ("2026-03-21 00:00", "2026-03-23 00:00", [("2026-03-22 02:00", "2026-03-22 04:00")]),
    # The clocks went forward at 01:00 UTC that very morning: 02:00 BST is 01:00 UTC.
    ("2026-03-28 00:00", "2026-03-30 00:00", [("2026-03-29 01:00", "2026-03-29 03:00")]),
    ("2026-07-04 00:00", "2026-07-06 00:00", [("2026-07-05 01:00", "2026-07-05 03:00")]),
    # They went back at 01:00 UTC (02:00 BST) that morning: 02:00 GMT is 02:00 UTC.
    ("2026-10-24 00:00", "2026-10-26 00:00", [("2026-10-25 02:00", "2026-10-25 04:00")]),
])
def test_every_sunday_two_to_four_follows_the_london_wall_clock(
        frm: str, to: str, expected: list[tuple[str, str]]) -> None:
    assert spans(recurring(SUNDAY, "02:00", 2), frm, to) == expected


def test_a_window_across_a_clock_change_ends_on_the_wall_clock() -> None:
    nightly = recurring(None, "00:30", 3)  # 00:30 to 03:30 on the wall
    # Spring: 00:30 GMT to 03:30 BST is two real hours.
    assert spans(nightly, "2026-03-29 00:00", "2026-03-29 12:00") == [
        ("2026-03-29 00:30", "2026-03-29 02:30")]
    # Autumn: 00:30 BST to 03:30 GMT is four.
    assert spans(nightly, "2026-10-25 00:00", "2026-10-25 12:00") == [
        ("2026-10-24 23:30", "2026-10-25 03:30")]


def test_a_skipped_start_is_read_an_hour_later_and_an_ambiguous_one_first() -> None:
    # 01:30 does not exist in London on 29 March 2026: it is read as 01:30 GMT (02:30 BST),
    # and lasts its hour from then.
    assert spans(recurring(None, "01:30", 1), "2026-03-29 00:00", "2026-03-29 12:00") == [
        ("2026-03-29 01:30", "2026-03-29 02:30")]
    # 01:30 happens twice on 25 October: the first time (BST) counts, and the window lasts
    # until 02:30 GMT on the wall, two real hours.
    assert spans(recurring(None, "01:30", 1), "2026-10-25 00:00", "2026-10-25 12:00") == [
        ("2026-10-25 00:30", "2026-10-25 02:30")]


def test_new_york_changes_on_other_sundays_than_london() -> None:
    weekly = recurring(SUNDAY, "22:00", 4, NEW_YORK)
    # 8 March 2026: New York is on EDT (UTC-4) while London is still on GMT.
    assert spans(weekly, "2026-03-01 00:00", "2026-03-10 00:00") == [
        ("2026-03-02 03:00", "2026-03-02 07:00"), ("2026-03-09 02:00", "2026-03-09 06:00")]


def test_a_daily_window_occurs_every_day_and_a_weekly_one_once_a_week() -> None:
    assert len(spans(recurring(None, "23:00", 2), "2026-02-01 00:00", "2026-02-08 00:00")) == 8
    assert len(spans(recurring(SUNDAY, "23:00", 2), "2026-02-01 00:00", "2026-02-28 00:00")) == 4


@pytest.mark.parametrize(("weekday", "hours"), [(None, 24.5), (SUNDAY, 7 * 24 + 1), (None, 0)])
def test_an_occurrence_cannot_overlap_the_next(weekday: int | None, hours: float) -> None:
    with pytest.raises(ValueError, match="at most"):
        Recurrence(weekday, time(2), hours * H)


def test_a_one_off_window_ends_after_it_starts() -> None:
    with pytest.raises(ValueError, match="ends after it starts"):
        one_off("2026-11-22 22:00", "2026-11-22 21:00")


def test_every_takes_daily_or_a_weekday() -> None:
    assert (parse_every("daily"), parse_every("Sunday"), parse_every("monday")) == (None, 6, 0)
    with pytest.raises(ValueError, match="weekday"):
        parse_every("weekends")


def test_a_schedule_added_during_an_occurrence_counts_from_then() -> None:
    weekly = recurring(SUNDAY, "02:00", 2, since="2026-11-22 03:00")
    (occ,) = occurrences(weekly, utc("2026-11-22 00:00"), utc("2026-11-23 00:00"))
    assert (iso(occ.key), iso(occ.start), iso(occ.end)) == (
        "2026-11-22 02:00", "2026-11-22 03:00", "2026-11-22 04:00")
    assert occurrence_at(weekly, utc("2026-11-22 02:30")) is None


def test_an_occurrence_cut_short_ends_then_and_the_next_one_is_whole() -> None:
    weekly = recurring(SUNDAY, "02:00", 2,
                       cut_short=((utc("2026-11-22 02:00"), utc("2026-11-22 02:45")),))
    assert spans(weekly, "2026-11-21 00:00", "2026-12-01 00:00") == [
        ("2026-11-22 02:00", "2026-11-22 02:45"), ("2026-11-29 02:00", "2026-11-29 04:00")]
    assert occurrence(weekly, utc("2026-11-22 02:00")).end == utc("2026-11-22 02:45")


def test_a_window_ended_for_good_has_nothing_after() -> None:
    weekly = recurring(SUNDAY, "02:00", 2, ended_at=utc("2026-11-22 03:00"))
    assert spans(weekly, "2026-11-21 00:00", "2027-01-01 00:00") == [
        ("2026-11-22 02:00", "2026-11-22 03:00")]
    called_off = one_off("2026-12-01 22:00", "2026-12-02 02:00", ended_at=utc("2026-11-30 12:00"))
    assert occurrences(called_off, utc("2026-11-01 00:00"), utc("2027-01-01 00:00")) == []


SRV1 = DeviceRef("dev-1", "acme", "leeds")
SRV2 = DeviceRef("dev-2", "acme", None)  # no site
OTHER = DeviceRef("dev-3", "globex", "leeds")


@pytest.mark.parametrize(("scope", "target", "covered"), [
    (Scope.DEVICE, "dev-1", {"dev-1"}),
    (Scope.SITE, "leeds", {"dev-1", "dev-3"}),  # a site name is matched as given
    (Scope.CUSTOMER, "acme", {"dev-1", "dev-2"}),
    (Scope.SITE, "york", set()),
])
def test_what_a_window_covers(scope: Scope, target: str, covered: set[str]) -> None:
    window = one_off("2026-11-22 22:00", "2026-11-23 02:00", scope=scope, target=target)
    at = utc("2026-11-22 23:00")
    assert {d.id for d in (SRV1, SRV2, OTHER) if active_windows([window], d, at)} == covered
    assert not any(active_windows([window], d, utc("2026-11-23 02:00"))
                   for d in (SRV1, SRV2, OTHER))  # the end is not inside


def test_the_window_that_lasts_longest_keeps_a_trigger_quiet() -> None:
    short = one_off("2026-11-22 22:00", "2026-11-22 23:00", window_id=1)
    long = one_off("2026-11-22 21:00", "2026-11-23 02:00", window_id=2, scope=Scope.CUSTOMER,
                   target="acme")
    occ = muting([short, long], SRV1, utc("2026-11-22 22:30"))
    assert occ is not None and occ.window.id == 2
    assert muting([short, long], SRV1, utc("2026-11-23 02:00")) is None


def test_next_change_is_the_next_start_or_end() -> None:
    window = one_off("2026-11-22 22:00", "2026-11-23 02:00")
    weekly = recurring(SUNDAY, "02:00", 2, window_id=2)
    assert iso(next_change([window], utc("2026-11-20 00:00"))) == "2026-11-22 22:00"
    assert iso(next_change([window], utc("2026-11-22 22:00"))) == "2026-11-23 02:00"
    assert next_change([window], utc("2026-11-23 02:00")) is None
    assert iso(next_change([window, weekly], utc("2026-11-20 00:00"))) == "2026-11-22 02:00"
    assert iso(next_change([weekly], utc("2026-11-22 02:30"))) == "2026-11-22 04:00"
    # Across the spring change: the next start is 02:00 BST, 01:00 UTC.
    assert iso(next_change([weekly], utc("2026-03-23 00:00"))) == "2026-03-29 01:00"
    assert next_change([], utc("2026-11-20 00:00")) is None


def test_upcoming_and_describe_say_what_list_shows() -> None:
    weekly = recurring(SUNDAY, "02:00", 2.5)
    assert describe(weekly) == "every sunday 02:00 for 2h30m (Europe/London)"
    assert iso(upcoming(weekly, utc("2026-11-23 00:00")).start) == "2026-11-29 02:00"
    window = one_off("2026-11-22 22:00", "2026-11-23 02:00")
    assert describe(window) == "Sun 2026-11-22 22:00 GMT to Mon 2026-11-23 02:00 GMT"
    assert upcoming(window, utc("2026-11-23 02:00")) is None


def test_the_summary_page_lists_every_case_with_its_own_ack_link() -> None:
    cases = [HeldCase(1, 1, "acme", "srv1", "srv1 is not reporting", "new", "https://x/ack/a"),
             HeldCase(2, 1, "acme", "srv2", "srv2 is not reporting", "new", "https://x/ack/b")]
    subject, body = compose_summary(MessageKind.PAGE, "maintenance window #3 (patching)",
                                    utc("2026-11-23 02:00"), cases, "ops-manager",
                                    utc("2026-11-23 02:00"))
    assert subject == ("[watchkeeper] PAGE 2 cases still failing after maintenance window #3"
                       " (patching) (acme)")
    assert "#1" in body and "srv1 is not reporting" in body and "https://x/ack/a" in body
    assert "#2" in body and "srv2 is not reporting" in body and "https://x/ack/b" in body


def test_hostile_text_cannot_break_the_summary_subject() -> None:
    cases = [HeldCase(1, 1, "acme\r\nBcc: x@evil", "srv\r\nBcc: x@evil", "t\nBcc: y", "new",
                      None)]
    subject, body = compose_summary(MessageKind.NOTICE, "maintenance window #1 (a\r\nBcc: z)",
                                    0.0, cases, "Acme IT", 0.0)
    assert "\n" not in subject and "\r" not in subject
    assert "\nBcc" not in body
