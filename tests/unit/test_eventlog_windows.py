"""Windows Event Log channels: the XPath query, records to events, the bookmark.

pywin32 is not here: `read_channel` is replaced by a stand-in module that returns the
fixture XML (reconstructed from Microsoft's schema, see tests/fixtures/eventlog/README.md)
and records what it was asked.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from agent.samplers._eventlog_windows import (
    ChannelSource,
    channel_xpath,
    events_from_records,
    is_missing_channel,
    sources,
)
from agent.samplers.eventlog import EventLogSettings
from rules.model import EventLevel

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eventlog"
NOW = 1_795_400_000.0


def xml(name: str) -> str:
    return (FIXTURES / name).read_text().strip()


SYSTEM = ["win_system_scm_7031.xml", "win_system_disk_7.xml", "win_system_dcom_10016.xml",
          "win_system_kernel_power_41.xml"]
APPLICATION = ["win_application_error_1000.xml", "win_application_spp_16384.xml"]


# --- the query --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("level", "xpath"),
    [(EventLevel.CRITICAL, "*[System[Level=1]]"),
     (EventLevel.ERROR, "*[System[(Level=1 or Level=2)]]"),
     (EventLevel.WARNING, "*[System[(Level>=1 and Level<=3)]]"),
     (EventLevel.INFO, "*[System[Level<=4]]"),
     (EventLevel.DEBUG, "*")],
)
def test_query_keeps_min_level_and_worse(level: EventLevel, xpath: str) -> None:
    assert channel_xpath(level) == xpath


def test_first_run_query_reads_only_the_recent_window() -> None:
    assert channel_xpath(EventLevel.WARNING, 3600.0) == (
        "*[System[(Level>=1 and Level<=3) and TimeCreated[timediff(@SystemTime) <= 3600000]]]")
    assert channel_xpath(EventLevel.DEBUG, 90.0) == \
        "*[System[TimeCreated[timediff(@SystemTime) <= 90000]]]"


# --- records ----------------------------------------------------------------------------

def test_system_records_become_events() -> None:
    events = events_from_records([(xml(n), None) for n in SYSTEM], "System")
    assert [(e.log, e.source, e.event_id, e.level) for e in events] == [
        ("System", "Service Control Manager", 7031, EventLevel.ERROR),
        ("System", "disk", 7, EventLevel.ERROR),
        ("System", "Microsoft-Windows-DistributedCOM", 10016, EventLevel.WARNING),
        ("System", "Microsoft-Windows-Kernel-Power", 41, EventLevel.CRITICAL),
    ]
    assert events[0].at == 1_795_303_047.461729


def test_rendered_message_is_used_when_there_is_one() -> None:
    text = ("The Windows Update service terminated unexpectedly.  It has done this 1 time(s)."
            "  The following corrective action will be taken in 120000 milliseconds:"
            " Restart the service.")
    [event] = events_from_records([(xml("win_system_scm_7031.xml"), text)], "System")
    assert event.message == text


def test_without_a_rendered_message_the_event_data_stands_in() -> None:
    [disk] = events_from_records([(xml("win_system_disk_7.xml"), None)], "System")
    assert disk.message == "\\Device\\Harddisk1\\DR1"


def test_application_records_keep_their_levels() -> None:
    events = events_from_records([(xml(n), None) for n in APPLICATION], "Application")
    assert [(e.log, e.source, e.event_id, e.level) for e in events] == [
        ("Application", "Application Error", 1000, EventLevel.ERROR),
        ("Application", "Microsoft-Windows-Security-SPP", 16384, EventLevel.INFO),
    ]
    assert events[0].message.startswith("sqlservr.exe; 2022.160.4135.4")


def test_a_broken_record_is_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    events = events_from_records([("<Event", None), (xml("win_system_disk_7.xml"), None)],
                                 "System")
    assert [e.event_id for e in events] == [7]
    assert "skipping a record" in caplog.text


class WinError(Exception):
    def __init__(self, winerror: int) -> None:
        super().__init__(winerror, "EvtQuery", "message")
        self.winerror = winerror


def test_missing_channel_is_told_apart_from_other_errors() -> None:
    assert is_missing_channel(WinError(15007))
    assert not is_missing_channel(WinError(5))  # access denied
    assert not is_missing_channel(RuntimeError("x"))


# --- the source, with a stand-in for pywin32 -------------------------------------------

class FakeReader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None, int]] = []
        self.answers: list[Any] = []

    def read_channel(self, channel: str, xpath: str = "*", bookmark: str | None = None,
                     limit: int = 1000) -> tuple[list[tuple[str, str | None]], str | None]:
        self.calls.append((channel, xpath, bookmark, limit))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> FakeReader:
    fake = FakeReader()
    module = types.ModuleType("agent.samplers._winevent_windows")
    module.read_channel = fake.read_channel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "agent.samplers._winevent_windows", module)
    return fake


def mark(record: int) -> str:
    return (f"<BookmarkList><Bookmark Channel='System' RecordId='{record}' IsCurrent='true'/>"
            "</BookmarkList>")


def test_channel_first_run_then_resume_from_bookmark(reader: FakeReader) -> None:
    source = ChannelSource("System", EventLevel.WARNING, 3600.0)
    reader.answers = [([(xml(n), None) for n in SYSTEM[:2]], mark(48214)),
                      ([(xml(SYSTEM[2]), None)], mark(48215))]
    events, state = source.read(None, NOW)
    assert [e.event_id for e in events] == [7031, 7]
    assert state == {"bookmark": mark(48214)}
    events, state = source.read(state, NOW)
    assert [e.event_id for e in events] == [10016]
    assert state == {"bookmark": mark(48215)}
    (_, first_xpath, first_mark, _), (_, later_xpath, later_mark, _) = reader.calls
    assert "timediff" in first_xpath and first_mark is None
    assert "timediff" not in later_xpath and later_mark == mark(48214)


def test_channel_with_nothing_new_keeps_no_position_until_it_has_one(reader: FakeReader) -> None:
    reader.answers = [([], None)]
    assert ChannelSource("System", EventLevel.WARNING, 3600.0).read(None, NOW) == ([], None)


def test_channel_not_on_this_server_is_nothing(reader: FakeReader) -> None:
    reader.answers = [WinError(15007)]
    source = ChannelSource("Microsoft-Windows-Backup", EventLevel.WARNING, 3600.0)
    assert source.read(None, NOW) == ([], None)


def test_other_channel_errors_are_failures(reader: FakeReader) -> None:
    reader.answers = [WinError(5)]
    with pytest.raises(WinError):
        ChannelSource("Security", EventLevel.WARNING, 3600.0).read(None, NOW)


def test_one_source_per_configured_channel_with_a_file_safe_key() -> None:
    settings = EventLogSettings(
        channels=("System", "Microsoft-Windows-Windows Defender/Operational"))
    assert [s.key for s in sources(settings)] == [
        "eventlog.win.System", "eventlog.win.Microsoft-Windows-Windows_Defender_Operational"]
