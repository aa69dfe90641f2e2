from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerting.calendar import Span
from alerting.sla import SlaClock, SlaEventKind, sla_deadlines, sla_status, sla_summary
from alerting.sla_config import SlaConfig, load_sla, parse_hours
from watchkeeper.clock import FakeClock
from watchkeeper.tomlconf import ConfigError

LONDON = ZoneInfo("Europe/London")
TEMPLATE = Path(str(resources.files("collector") / "templates" / "sla.toml"))
K = SlaEventKind

CALENDAR = """
[[calendar]]
name = "office"
time_zone = "Europe/London"
monday = "09:00-17:30"
"""


@pytest.fixture(scope="module")
def shipped() -> SlaConfig:
    return load_sla(TEMPLATE)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_the_support_policy_template_applies_to_tiers_without_targets_of_their_own(
        shipped: SlaConfig) -> None:
    for severity, response in ((1, "2:00:00"), (2, "1 day, 0:00:00"), (3, "2 days, 0:00:00")):
        t = shipped.target_for(severity, "basic")
        assert t is not None
        assert (str(t.response), t.clock, t.resolution) == (response, SlaClock.WALL, None)


def test_the_handbook_response_levels_apply_to_premium_with_admin_escalation_at_75(
        shipped: SlaConfig) -> None:
    levels = [shipped.target_for(s, "premium") for s in (1, 2, 3)]
    assert [t.response for t in levels if t] == [timedelta(minutes=m) for m in (15, 30, 60)]
    assert {(t.clock, t.admin_escalation_percent) for t in levels if t} == {(SlaClock.WALL, 75)}


def test_standard_tier_counts_business_hours_but_severity_1_stays_on_the_wall_clock(
        shipped: SlaConfig) -> None:
    sev1, sev2 = shipped.target_for(1, "standard"), shipped.target_for(2, "standard")
    assert sev1 is not None and sev1.clock is SlaClock.WALL and sev1.tier is None
    assert sev2 is not None and sev2.clock is SlaClock.BUSINESS
    assert (sev2.response, sev2.resolution) == (timedelta(hours=4), timedelta(hours=17))


def test_the_shipped_uk_calendar_keeps_office_hours_and_bank_holidays(shipped: SlaConfig) -> None:
    uk = shipped.calendar(None)  # the default, for customers that name no calendar
    assert uk is not None and uk.name == "uk-office" and uk.tz.key == "Europe/London"
    assert uk.add_business_time(london(2026, 1, 9, 17, 0), timedelta(hours=4)) == london(
        2026, 1, 12, 12, 30)
    assert len(uk.holidays) == 16 and date(2027, 12, 28) in uk.holidays
    assert uk.next_business_day(london(2027, 12, 24, 18, 0)) == london(2027, 12, 29, 9, 0)
    assert shipped.calendar("uk-office") is uk and shipped.calendar("mars") is None


def test_a_premium_severity_1_case_moved_through_a_fake_clock(shipped: SlaConfig) -> None:
    """The handbook's Severity 1: response in 15 minutes, management told at 75%."""
    clock = FakeClock(london(2026, 1, 12, 3, 0).timestamp())  # 03:00 on a Monday night

    def now() -> datetime:
        return datetime.fromtimestamp(clock.now(), UTC)

    target, uk = shipped.target_for(1, "premium"), shipped.calendar(None)
    assert target is not None
    deadlines = sla_deadlines(now(), target, uk)
    seen = []
    for _ in range(20):  # one minute at a time, nobody answering
        clock.advance(60)
        seen += [e.kind for e in sla_status(deadlines, None, None, now()) if e.kind not in seen]
        if len(seen) == 1:
            assert now() >= london(2026, 1, 12, 3, 11, 15)
    assert seen == [K.ADMIN_ESCALATION_RESPONSE, K.RESPONSE_BREACHED]
    assert sla_summary(deadlines, None, None, now(), LONDON).startswith(
        "SLA (wall clock, Europe/London): response overdue since 03:15 (5 min)")


def test_a_standard_severity_2_case_opened_friday_evening_waits_for_monday(
        shipped: SlaConfig) -> None:
    target, uk = shipped.target_for(2, "standard"), shipped.calendar(None)
    assert target is not None
    d = sla_deadlines(london(2026, 1, 9, 19, 0), target, uk)
    assert d.admin_response_at == london(2026, 1, 12, 12, 0)
    assert d.response_due == london(2026, 1, 12, 13, 0)
    assert sla_status(d, None, None, london(2026, 1, 11, 23, 59)) == []


@pytest.mark.parametrize(("text", "spans"), [
    ("09:00-17:30", (Span(540, 1050),)),
    ("08:00-12:00, 13:00-17:00", (Span(480, 720), Span(780, 1020))),
    ("00:00-24:00", (Span(0, 1440),)),
])
def test_working_hours(text: str, spans: tuple[Span, ...]) -> None:
    assert parse_hours(text) == spans


def test_holidays_may_be_toml_dates_or_quoted_dates(tmp_path: Path) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(CALENDAR + 'holidays = [2026-12-25, "2026-12-28"]\n')
    cal = load_sla(path).calendar("office")
    assert cal is not None and cal.holidays == {date(2026, 12, 25), date(2026, 12, 28)}


@pytest.mark.parametrize(("text", "problem"), [
    (CALENDAR + 'tuesday = "9-17"\n', "calendar[0].tuesday: '9-17' is not working hours"),
    (CALENDAR + 'tuesday = "22:00-06:00"\n', "ends before it starts"),
    (CALENDAR + 'tuesday = "09:00-25:00"\n', "'09:00-25:00' is not a time of day"),
    (CALENDAR + 'tuesday = "13:00-17:00,09:00-12:00"\n', "starts before the previous span ends"),
    (CALENDAR + 'saturdya = "09:00-12:00"\n', "calendar[0].saturdya: unknown key"),
    (CALENDAR + "holidays = [2026-12-25T00:00:00]\n", "calendar[0].holidays: 2026-12-25"
     " 00:00:00 has a time of day"),
    (CALENDAR + 'holidays = ["2026-13-01"]\n', "'2026-13-01' is not a date"),
    (CALENDAR + 'holidays = "2026-12-25"\n', "calendar[0].holidays: must be a list of dates"),
    (CALENDAR.replace("Europe/London", "Europe/Londn"),
     "calendar[0].time_zone: 'Europe/Londn' is not a time zone"),
    (CALENDAR.replace('monday = "09:00-17:30"', ""),
     "calendar[0].monday: no weekday has working hours"),
    (CALENDAR + CALENDAR, "calendar[1].name: a calendar named 'office' is already defined"),
    ('default_calendar = "office"\n', "default_calendar: no [[calendar]] is named 'office'"),
    ('[[sla]]\nseverity = 1\nresponse = "1h"\nclock = "business"\n',
     "sla[0].clock: counts business hours, but no [[calendar]] says what they are"),
    (CALENDAR + '[[sla]]\nseverity = 1\nresponse = "1h"\nclock = "business"\n',
     "default_calendar: business-hours targets need a default calendar"),
    ('[[sla]]\nseverity = 1\nresponse = "1h"\nclock = "office"\n',
     "sla[0].clock: 'office' is not allowed; one of: wall, business"),
    ('[[sla]]\nseverity = 4\nresponse = "1h"\n', "sla[0].severity: must be 1, 2 or 3, got 4"),
    ('[[sla]]\nseverity = 1\nrespnse = "1h"\n', "sla[0].response: is required"),
    ('[[sla]]\nseverity = 1\nrespnse = "1h"\n', "sla[0].respnse: unknown key"),
    ('[[sla]]\nseverity = 1\nresponse = "0m"\n', "sla[0].response: must be longer than zero"),
    ('[[sla]]\nseverity = 1\nresponse = "2h"\nresolution = "1h"\n',
     "sla[0].resolution: is shorter than the response target"),
    ('[[sla]]\nseverity = 1\nresponse = "1h"\nadmin_escalation_percent = 100\n',
     "sla[0].admin_escalation_percent: must be below 100"),
    ('[[sla]]\nseverity = 1\nresponse = "1h"\nadmin_escalation_percent = 0\n',
     "sla[0].admin_escalation_percent: must be at least 1"),
    ('[[sla]]\nseverity = 1\ntier = "gold"\nresponse = "1h"\n'
     '[[sla]]\nseverity = 1\ntier = "gold"\nresponse = "2h"\n',
     "sla[1].severity: severity 1 for tier 'gold' already has a target"),
    ('colour = "blue"\n', "colour: unknown key"),
])
def test_refused_configuration_names_file_key_and_reason(tmp_path: Path, text: str,
                                                         problem: str) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_sla(path)
    assert any(str(p).startswith(f"{path}: ") and problem in str(p) for p in err.value.problems), \
        str(err.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(CALENDAR.replace("Europe/London", "Mars/Olympus")
                    + '[[sla]]\nseverity = 9\nresponse = "soon"\n')
    with pytest.raises(ConfigError) as err:
        load_sla(path)
    assert {p.key for p in err.value.problems} == {
        "calendar[0].time_zone", "sla[0].severity", "sla[0].response"}
