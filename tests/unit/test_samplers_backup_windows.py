"""Windows Server Backup and Veeam statuses from event XML (reconstructed fixtures: see
tests/fixtures/backup/README.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.samplers import _backup_windows as win
from agent.samplers._backup_common import BackupResult, BackupStatus
from agent.samplers._winevent import WinEvent, parse_event_xml

FIXTURES = Path(__file__).parent.parent / "fixtures" / "backup"
NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


def events(name: str) -> list[WinEvent]:
    """Each <Event> of a `wevtutil qe /f:RenderedXml /e:Events` export, as the reader
    would hand it over."""
    root = ET.parse(FIXTURES / name).getroot()
    return [parse_event_xml(ET.tostring(e, encoding="unicode"))
            for e in root.iter(f"{NS}Event")]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def by_job(statuses: list[BackupStatus]) -> dict[str, BackupStatus]:
    return {s.job: s for s in statuses}


# --- Windows Server Backup ---------------------------------------------------------------

def test_wsb_success_is_the_newest_event_4() -> None:
    status = win.wsb_status(events("wsb_success.xml"))
    assert status is not None
    assert (status.tool, status.job, status.last_result) == ("wsb", "default", BackupResult.OK)
    assert status.last_success == pytest.approx(utc(2026, 11, 20, 23, 38, 50, 531672))
    assert status.last_run == pytest.approx(utc(2026, 11, 20, 23, 38, 59, 540011))


def test_wsb_error_after_the_last_success_is_a_failure() -> None:
    status = win.wsb_status(events("wsb_failed.xml"))
    assert status is not None
    assert status.last_result is BackupResult.FAILED
    assert status.last_success == pytest.approx(utc(2026, 11, 20, 23, 38, 50, 531672))
    # The newest problem speaks: the Application log's 517, same failure.
    assert "2155348165" in status.detail


def test_wsb_warning_after_the_last_success() -> None:
    status = win.wsb_status(events("wsb_warning.xml"))
    assert status is not None
    assert status.last_result is BackupResult.WARNING
    assert "completed with warnings" in status.detail
    assert status.last_success == pytest.approx(utc(2026, 11, 20, 23, 38, 50, 531672))


def test_wsb_started_after_the_last_ending_is_running() -> None:
    status = win.wsb_status(events("wsb_running.xml"))
    assert status is not None
    assert status.last_result is BackupResult.RUNNING
    assert status.last_run == pytest.approx(utc(2026, 11, 21, 23, 0, 1, 773192))


def test_wsb_event_14_alone_is_no_success() -> None:
    only_14 = [e for e in events("wsb_failed.xml") if e.event.event_id in (1, 14)][-2:]
    status = win.wsb_status(only_14)
    assert status is not None
    assert status.last_result is BackupResult.UNKNOWN
    assert status.last_success is None


def test_wsb_old_failure_before_a_success_is_forgotten() -> None:
    # The successful run of wsb_success.xml, moved two days on: after the failed run.
    later = [replace(e, event=replace(e.event, at=e.event.at + 2 * 86400),
                     record_id=e.record_id + 100) for e in events("wsb_success.xml")[-3:]]
    status = win.wsb_status(events("wsb_failed.xml") + later)
    assert status is not None
    assert status.last_result is BackupResult.OK


def test_wsb_nothing_logged_means_no_status() -> None:
    assert win.wsb_status([]) is None
    assert win.wsb_status(events("veeam_agent.xml")) is None  # another provider's events


# --- Veeam Agent for Microsoft Windows ---------------------------------------------------

def test_veeam_agent_jobs_by_name_and_level() -> None:
    jobs = by_job(win.veeam_agent_statuses(events("veeam_agent.xml")))
    assert set(jobs) == {"Backup Job FS01", "Backup Job Users"}
    fs01, users = jobs["Backup Job FS01"], jobs["Backup Job Users"]
    assert fs01.tool == "veeam_agent"
    assert fs01.last_result is BackupResult.FAILED
    assert "network path was not found" in fs01.detail
    # The retried attempt (191) made nothing: the success is the day before.
    assert fs01.last_success == pytest.approx(utc(2026, 11, 19, 22, 25, 48, 109320))
    assert users.last_result is BackupResult.WARNING
    assert users.last_success == pytest.approx(utc(2026, 11, 20, 22, 50, 12, 662801))


def test_veeam_agent_retry_is_a_warning_and_no_success() -> None:
    evs = [e for e in events("veeam_agent.xml") if e.record_id <= 304]
    fs01 = by_job(win.veeam_agent_statuses(evs))["Backup Job FS01"]
    assert fs01.last_result is BackupResult.WARNING
    assert "will be retried" in fs01.detail
    assert fs01.last_success == pytest.approx(utc(2026, 11, 19, 22, 25, 48, 109320))


def test_veeam_agent_start_after_the_last_finish_is_running() -> None:
    evs = [e for e in events("veeam_agent.xml") if e.record_id <= 305]
    assert by_job(win.veeam_agent_statuses(evs))["Backup Job FS01"].last_result \
        is BackupResult.RUNNING


# --- Veeam Backup & Replication ----------------------------------------------------------

def test_veeam_br_jobs_from_named_event_data() -> None:
    jobs = by_job(win.veeam_br_statuses(events("veeam_br.xml")))
    assert set(jobs) == {"VMware Production servers backup", "Offsite copy",
                         "Agent Backup Job 1"}
    prod, copy, agent = (jobs["VMware Production servers backup"], jobs["Offsite copy"],
                         jobs["Agent Backup Job 1"])
    # Started (110, which carries only the JobID) after its last finish.
    assert prod.last_result is BackupResult.RUNNING
    assert prod.last_success == pytest.approx(utc(2026, 11, 20, 1, 41, 55, 884173))
    assert prod.last_run == pytest.approx(utc(2026, 11, 21, 1, 0, 2, 998120))
    assert copy.last_result is BackupResult.FAILED
    assert "out of space" in copy.detail
    assert copy.last_success == pytest.approx(utc(2026, 11, 20, 5, 2, 44, 112093))
    # JobResult 2 with WillBeRetried=True: a warning, and no restore point.
    assert agent.last_result is BackupResult.WARNING
    assert agent.detail.startswith("will be retried: ")
    assert agent.last_success is None


def test_veeam_br_positional_event_data_falls_back_to_the_message() -> None:
    [status] = win.veeam_br_statuses(events("veeam_br_positional.xml"))
    assert (status.tool, status.job, status.last_result) == (
        "veeam_br", "File server nightly", BackupResult.WARNING)
    assert status.last_success == pytest.approx(utc(2026, 11, 21, 2, 10, 40, 552901))


def test_veeam_br_ignores_other_events() -> None:
    assert win.veeam_br_statuses(events("wsb_success.xml")) == []


def test_event_queries_cover_the_window_and_ids() -> None:
    assert "timediff(@SystemTime) <= 691200000" in win._WSB_QUERY
    assert "Provider[@Name='Microsoft-Windows-Backup']" in win._WSB_QUERY
    for event_id in (110, 190, 191):
        assert f"EventID={event_id}" in win._AGENT_QUERY
    for event_id in (110, 190, 410, 490, 710, 790):
        assert f"EventID={event_id}" in win._BR_QUERY
