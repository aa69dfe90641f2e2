"""The antivirus sampler: Defender's status and detections, ClamAV's signature age."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import Checkpoint, SamplerContext
from agent.samplers._antivirus_linux import ClamAV, Database, parse, parse_header, read
from agent.samplers._antivirus_windows import (
    CHANNEL,
    CHECKPOINT_KEY,
    DETECTION_IDS,
    FIRST_READ,
    MAX_READ,
    STATUS_SCRIPT,
    Defender,
    DefenderError,
    detection_xpath,
    parse_detection,
    parse_status,
)
from agent.samplers._command import CommandResult
from agent.samplers._powershell import powershell_argv, wrap
from agent.samplers.antivirus import AntivirusSampler, AntivirusSettings
from rules.model import Event, EventLevel, Sample
from watchkeeper.tomlconf import Table

FIXTURES = Path(__file__).parent.parent / "fixtures" / "antivirus"
NOW = 1_795_262_400.0  # 2026-11-21 12:00:00 UTC
DAY = 86400.0
HOUR = 3600.0


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def by_metric(samples: list[Any]) -> dict[str, float]:
    return {s.metric: s.value for s in samples if isinstance(s, Sample)}


# --- Defender status ---------------------------------------------------------------------

def test_active_defender_reports_enabled_realtime_and_signature_age() -> None:
    status = parse_status(text("defender_status_active.json"), NOW)
    assert status.present
    # Updated at 06:00 UTC, six hours before NOW.
    assert by_metric(status.samples) == {"av.enabled": 1.0, "av.realtime_enabled": 1.0,
                                         "av.signature_age_days": 0.25}
    assert {tuple(s.labels.items()) for s in status.samples} == {(("product", "defender"),)}
    assert all(s.at == NOW for s in status.samples)


def test_realtime_protection_off_and_stale_signatures_are_reported() -> None:
    samples = parse_status(text("defender_status_realtime_off.json"), NOW).samples
    assert by_metric(samples) == {"av.enabled": 1.0, "av.realtime_enabled": 0.0,
                                  "av.signature_age_days": 9.5}


def test_antivirus_switched_off_reports_disabled() -> None:
    assert by_metric(parse_status(text("defender_status_disabled.json"), NOW).samples)[
        "av.enabled"] == 0.0


def test_passive_mode_reports_only_the_signature_age() -> None:
    # Another antivirus is primary: Defender's real-time protection is off by design.
    samples = parse_status(text("defender_status_passive.json"), NOW).samples
    assert by_metric(samples) == {"av.signature_age_days": 0.125}


@pytest.mark.parametrize("mode", ["Passive Mode", "SxS Passive Mode", "EDR Block Mode"])
def test_every_passive_running_mode_suppresses_the_enabled_samples(mode: str) -> None:
    doc = json.loads(text("defender_status_realtime_off.json")) | {"AMRunningMode": mode}
    assert set(by_metric(parse_status(json.dumps(doc), NOW).samples)) == {
        "av.signature_age_days"}


def test_without_an_update_time_defenders_own_age_in_days_is_used() -> None:
    samples = parse_status(text("defender_status_old_platform.json"), NOW).samples
    assert by_metric(samples) == {"av.enabled": 1.0, "av.realtime_enabled": 1.0,
                                  "av.signature_age_days": 2.0}


def test_update_time_in_the_future_is_age_zero_not_negative() -> None:
    doc = json.loads(text("defender_status_active.json")) | {
        "AntivirusSignatureLastUpdated": "2026-11-21T12:30:00.0000000Z"}
    assert by_metric(parse_status(json.dumps(doc), NOW).samples)["av.signature_age_days"] == 0


def test_missing_flags_are_left_out_rather_than_reported_as_off() -> None:
    doc = {"AntivirusSignatureAge": 1, "AMServiceEnabled": None, "AntivirusEnabled": True}
    assert by_metric(parse_status(json.dumps(doc), NOW).samples) == {
        "av.signature_age_days": 1.0}


@pytest.mark.parametrize("name", ["defender_status_not_installed.json",
                                  "defender_status_service_stopped.json",
                                  "defender_status_removed.json"])
def test_defender_absent_or_replaced_by_another_antivirus_is_not_a_failure(name: str) -> None:
    assert parse_status(text(name), NOW).present is False


def test_any_other_cmdlet_error_is_a_failure_with_its_message() -> None:
    with pytest.raises(DefenderError, match="Access denied"):
        parse_status(text("defender_status_access_denied.json"), NOW)


@pytest.mark.parametrize("bad", ["", "WARNING: something", "[1, 2]"])
def test_output_that_is_not_the_status_object_is_a_failure(bad: str) -> None:
    with pytest.raises(DefenderError):
        parse_status(bad, NOW)


def test_status_script_asks_for_the_fields_the_parser_reads() -> None:
    for field in ("AMServiceEnabled", "AntivirusEnabled", "RealTimeProtectionEnabled",
                  "AntivirusSignatureAge", "AMRunningMode", "AntivirusSignatureLastUpdated",
                  "FullyQualifiedErrorId", "ToString('o')"):
        assert field in STATUS_SCRIPT


# --- PowerShell command line -------------------------------------------------------------

def test_powershell_gets_the_wrapped_script_base64_encoded_as_utf16() -> None:
    import base64

    argv = powershell_argv(STATUS_SCRIPT)
    assert argv[0].lower().endswith(r"\windowspowershell\v1.0\powershell.exe")
    assert argv[1:-1] == ["-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand"]
    script = base64.b64decode(argv[-1]).decode("utf-16-le")
    assert script == wrap(STATUS_SCRIPT)
    assert script.startswith("$ErrorActionPreference = 'Stop'")
    assert STATUS_SCRIPT in script and "ConvertTo-Json -InputObject $result" in script


def test_powershell_is_found_under_systemroot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSTEMROOT", r"D:\Win")
    assert powershell_argv("1")[0] == r"D:\Win\System32\WindowsPowerShell\v1.0\powershell.exe"


# --- Defender detections -----------------------------------------------------------------

def test_detection_uses_the_rendered_message_when_there_is_one() -> None:
    event = parse_detection(text("defender_1116_detected.xml"), "Microsoft Defender Antivirus"
                            " has detected malware or other potentially unwanted software.")
    assert event == Event(
        at=event.at, log=CHANNEL, source="Microsoft-Windows-Windows Defender", event_id=1116,
        level=EventLevel.WARNING,
        message="Microsoft Defender Antivirus has detected malware or other potentially "
                "unwanted software.")


def test_detection_without_message_names_threat_path_and_action() -> None:
    event = parse_detection(text("defender_1117_action_taken.xml"), None)
    assert event.event_id == 1117 and event.level is EventLevel.INFO
    assert event.message == ("Threat Name: Virus:DOS/EICAR_Test_File; "
                             "Path: file:_D:\\Shares\\Finance\\invoice_2026.com; "
                             "Action Name: Quarantine")


def test_events_without_threat_fields_fall_back_to_their_event_data() -> None:
    event = parse_detection(text("defender_2001_update_failed.xml"), None)
    assert event.event_id == 2001
    assert "Error Code: 0x8024402c" in event.message
    assert "cannot resolve the name of the update server" in event.message


def test_detection_query_selects_the_documented_ids_within_the_window() -> None:
    xpath = detection_xpath(2 * HOUR)
    for event_id in (1116, 1117, 1118, 1119, 1006, 1015, 5001, 2001):
        assert f"EventID={event_id}" in xpath
    assert "timediff(@SystemTime) <= 7200000" in xpath
    assert f"<= {int(MAX_READ * 1000)}]" in detection_xpath(60 * DAY)


class FakeWindows:
    """Get-MpComputerStatus and the event channel, as the Defender class sees them."""

    def __init__(self, status: str, records: list[tuple[str, str | None]] | None = None,
                 returncode: int = 0, stderr: str = "") -> None:
        self.status = CommandResult(("powershell.exe",), returncode, status, stderr)
        self.records = records or []
        self.reads: list[tuple[str, str, str | None, int]] = []

    def run_status(self) -> CommandResult:
        return self.status

    def read(self, channel: str, xpath: str, bookmark: str | None,
             limit: int) -> tuple[list[tuple[str, str | None]], str | None]:
        self.reads.append((channel, xpath, bookmark, limit))
        if not self.records:
            return [], bookmark
        return self.records, f"<BookmarkList><Bookmark RecordId='{3817 + len(self.reads)}'/>"


def bookmark_xml(record_id: int) -> str:
    return (f"<BookmarkList><Bookmark Channel='{CHANNEL}' RecordId='{record_id}' "
            "IsCurrent='true'/></BookmarkList>")


def test_first_run_reads_a_day_of_detections_and_checkpoints_the_bookmark() -> None:
    win = FakeWindows(text("defender_status_active.json"),
                      [(text("defender_1116_detected.xml"), None),
                       (text("defender_1117_action_taken.xml"), None)])
    out = Defender(None, win.run_status, win.read).collect(NOW)

    ((channel, xpath, bookmark, _),) = win.reads
    assert channel == CHANNEL and bookmark is None
    assert f"<= {int(FIRST_READ * 1000)}]" in xpath
    assert [e.event_id for e in out if isinstance(e, Event)] == [1116, 1117]
    assert len([s for s in out if isinstance(s, Sample)]) == 3
    assert out[-1] == Checkpoint(CHECKPOINT_KEY, {"bookmark": "<BookmarkList><Bookmark "
                                                  "RecordId='3818'/>", "read_at": NOW})


def test_later_runs_resume_after_the_saved_bookmark_looking_back_only_since_then() -> None:
    win = FakeWindows(text("defender_status_active.json"))
    saved = {"bookmark": bookmark_xml(3818), "read_at": NOW - 900.0}
    out = Defender(saved, win.run_status, win.read).collect(NOW)

    ((_, xpath, bookmark, _),) = win.reads
    assert bookmark == bookmark_xml(3818)
    assert "<= 1500000]" in xpath  # 15 minutes since the last read, plus 10 of overlap
    # Nothing new: the bookmark stays, the time of the read moves on.
    assert out[-1] == Checkpoint(CHECKPOINT_KEY, {"bookmark": bookmark_xml(3818),
                                                  "read_at": NOW})


def test_sampler_keeps_its_position_between_runs() -> None:
    win = FakeWindows(text("defender_status_active.json"),
                      [(text("defender_5001_realtime_off.xml"), None)])
    defender = Defender(None, win.run_status, win.read)
    defender.collect(NOW)
    win.records = []
    defender.collect(NOW + 900.0)
    assert win.reads[1][2] == "<BookmarkList><Bookmark RecordId='3818'/>"


def test_after_a_full_batch_the_next_read_still_looks_back_far_enough(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.samplers._antivirus_windows.READ_LIMIT", 2)
    win = FakeWindows(text("defender_status_active.json"),
                      [(text("defender_1116_detected.xml"), None)] * 2)
    defender = Defender({"bookmark": bookmark_xml(3000), "read_at": NOW - 2 * HOUR},
                        win.run_status, win.read)
    out = defender.collect(NOW)
    # More may be waiting from two hours ago: the time of the read does not move on...
    assert isinstance(out[-1], Checkpoint) and out[-1].state["read_at"] == NOW - 2 * HOUR
    win.records = []
    defender.collect(NOW + 900.0)
    # ...so the next query still reaches back past it (2 h 15 min + 10 min overlap).
    assert "<= 8700000]" in win.reads[1][1]


def test_an_unreadable_record_is_skipped_and_the_bookmark_still_moves() -> None:
    win = FakeWindows(text("defender_status_active.json"),
                      [("<Event>not closed", None), (text("defender_1116_detected.xml"), None)])
    out = Defender(None, win.run_status, win.read).collect(NOW)
    assert [e.event_id for e in out if isinstance(e, Event)] == [1116]
    assert isinstance(out[-1], Checkpoint) and out[-1].state["bookmark"] is not None


def test_without_defender_nothing_is_reported_and_the_log_is_not_read() -> None:
    win = FakeWindows(text("defender_status_service_stopped.json"))
    assert Defender(None, win.run_status, win.read).collect(NOW) == []
    assert win.reads == []


def test_powershell_failing_is_a_failure_naming_the_error() -> None:
    win = FakeWindows("", returncode=1, stderr="powershell.exe : out of memory\n")
    with pytest.raises(DefenderError, match="out of memory"):
        Defender(None, win.run_status, win.read).collect(NOW)


def test_a_saved_checkpoint_of_the_wrong_shape_starts_afresh() -> None:
    win = FakeWindows(text("defender_status_active.json"))
    Defender({"bookmark": 12, "read_at": "yesterday"}, win.run_status, win.read).collect(NOW)
    ((_, xpath, bookmark, _),) = win.reads
    assert bookmark is None and f"<= {int(FIRST_READ * 1000)}]" in xpath


def test_detection_ids_match_the_default_rule_pack() -> None:
    import tomllib

    pack = tomllib.loads((Path(__file__).parents[2] / "rules" / "default" /
                          "antivirus.toml").read_text())
    (rule,) = [r for r in pack["event_rule"] if r["name"] == "av_detection"]
    assert set(rule["match"]["ids"]) == set(DETECTION_IDS)
    assert rule["match"]["sources"] == ["Microsoft-Windows-Windows Defender"]


# --- ClamAV ------------------------------------------------------------------------------

def test_header_written_by_sigtool_gives_its_build_time() -> None:
    head = (FIXTURES / "sigtool_daily_header.bin").read_bytes()
    built = parse_header(head)
    # sigtool --info read the same header as "22 Nov 2026 01:46 +0000"; stime adds seconds.
    assert "Build time: 22 Nov 2026 01:46 +0000" in text("sigtool_info.txt")
    assert built == 1_795_311_961.0
    assert 0 <= built - 1_795_311_960.0 < 60


def test_old_header_without_seconds_uses_the_written_time_and_its_offset() -> None:
    head = b"ClamAV-VDB:21 Nov 2026 08-12 -0500:27450:2093178:90:" \
           b"0123456789abcdef0123456789abcdef:sig:builder".ljust(512, b" ")
    assert parse_header(head) == 1_795_266_720.0  # 2026-11-21 13:12 UTC


@pytest.mark.parametrize("head", [b"", b"\x1f\x8b\x08\x00 not a header",
                                  b"ClamAV-VDB:someday:27450:1:90:md5:sig:b".ljust(512)])
def test_header_without_a_readable_time_gives_none(head: bytes) -> None:
    assert parse_header(head) is None


def test_signature_age_is_that_of_the_newest_database() -> None:
    daily = Database("daily.cld", b"ClamAV-VDB:x:1:1:1:m:s:b:" +
                     str(int(NOW - 6 * HOUR)).encode(), mtime=NOW)
    main = Database("main.cvd", b"ClamAV-VDB:x:1:1:1:m:s:b:" + str(int(NOW - 90 * DAY)).encode(),
                    mtime=NOW)
    assert parse([main, daily], NOW) == [
        Sample("av.signature_age_days", 0.25, NOW, {"product": "clamav"})]


def test_file_time_stands_in_for_a_header_without_time() -> None:
    assert parse([Database("daily.cvd", b"garbage", mtime=NOW - 2 * DAY)], NOW)[0].value == 2.0


def test_clamav_reads_the_database_files_of_its_directory(tmp_path: Path) -> None:
    head = (FIXTURES / "sigtool_daily_header.bin").read_bytes()
    (tmp_path / "daily.cld").write_bytes(head + b"rest of the database")
    (tmp_path / "bytecode.cvd").write_bytes(b"not a signature database")
    os.utime(tmp_path / "daily.cld", (NOW, NOW))
    assert read(tmp_path) == [Database("daily.cld", head, NOW)]
    later = 1_795_311_961.0 + 3 * DAY
    assert ClamAV(tmp_path, configured=True).collect(later) == [
        Sample("av.signature_age_days", 3.0, later, {"product": "clamav"})]


def test_no_clamav_directory_means_nothing_to_measure(tmp_path: Path) -> None:
    assert ClamAV(tmp_path / "clamav", configured=False).collect(NOW) == []


def test_a_configured_directory_that_is_gone_is_a_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        ClamAV(tmp_path / "clamav", configured=True).collect(NOW)


def test_clamav_installed_without_any_database_is_a_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="has freshclam run"):
        ClamAV(tmp_path, configured=False).collect(NOW)


# --- configuration and the sampler -------------------------------------------------------

def configure(data: dict[str, Any]) -> tuple[Any, list[str]]:
    t = Table(data, "agent.toml", "sampler.antivirus")
    return AntivirusSampler.configure(t), [str(p) for p in t.problems]


def test_default_settings_look_in_the_usual_place() -> None:
    assert configure({}) == (AntivirusSettings(), [])


def test_clamav_database_is_configurable(tmp_path: Path) -> None:
    settings, problems = configure({"clamav_database": str(tmp_path)})
    assert problems == [] and settings.clamav_database == tmp_path


@pytest.mark.parametrize(("value", "reason"), [
    ("var/lib/clamav", "is not an absolute path"),
    ("/nonexistent/clamav", "is not a directory"),
    (7, "must be a string"),
])
def test_bad_clamav_database_is_refused_naming_file_and_key(value: object, reason: str) -> None:
    _, problems = configure({"clamav_database": value})
    assert len(problems) == 1
    assert problems[0].startswith("agent.toml: sampler.antivirus.clamav_database: ")
    assert reason in problems[0]


def test_unknown_keys_are_refused() -> None:
    assert configure({"clamav_databse": "/x"})[1] == [
        "agent.toml: sampler.antivirus.clamav_databse: unknown key"]


@pytest.mark.skipif(os.name == "nt", reason="the Linux product")
def test_sampler_on_linux_reports_clamav_from_the_configured_directory(tmp_path: Path) -> None:
    (tmp_path / "daily.cvd").write_bytes((FIXTURES / "sigtool_daily_header.bin").read_bytes())
    sampler = AntivirusSampler.create(AntivirusSettings(tmp_path),
                                      SamplerContext(tmp_path, "srv1"))
    assert sampler.name == "antivirus" and sampler.interval == 900.0
    (sample,) = sampler.collect(1_795_311_961.0 + DAY)
    assert (sample.metric, sample.value, sample.labels) == (
        "av.signature_age_days", 1.0, {"product": "clamav"})
