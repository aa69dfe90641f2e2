"""The backup sampler: the samples of a status, the `[sampler.backup]` settings, detection,
isolation of jobs, and remembering event-log jobs across the read window."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

import pytest

from agent.samplers import SAMPLERS, Checkpoint, SamplerContext
from agent.samplers import _backup_windows as win
from agent.samplers import backup as backup_module
from agent.samplers._backup_common import BackupResult, BackupStatus
from agent.samplers._backup_marker import MarkerJob
from agent.samplers.backup import (
    FORGET_AFTER,
    BackupSampler,
    BackupSettings,
    Remembered,
    carry_forward,
    configure_backup,
    load_memory,
)
from agent.samplers.base import checkpoint_file
from rules.model import Sample
from watchkeeper.tomlconf import Table

NOW = 1_800_000_000.0
HOUR = 3600.0
FIXTURES = Path(__file__).parent.parent / "fixtures" / "backup"


def values(samples: list[Sample]) -> dict[str, float]:
    return {s.metric: s.value for s in samples}


def settings_from(toml: str) -> tuple[BackupSettings, list[str]]:
    t = Table(tomllib.loads(toml), "/etc/watchkeeper/agent.toml")
    settings = configure_backup(t.table("sampler").table("backup"))
    return settings, [str(p) for p in t.problems]


def sampler(tmp_path: Path, settings: BackupSettings | None = None,
            saved: dict[str, object] | None = None,
            rsnapshot_config: Path | None = None) -> BackupSampler:
    return BackupSampler(settings or BackupSettings(), tmp_path / "state", saved,
                         rsnapshot_config or tmp_path / "no-rsnapshot.conf")


# --- a status as samples -----------------------------------------------------------------

def test_ok_status_samples_with_ages_in_hours() -> None:
    status = BackupStatus("restic", "nightly", NOW - 2 * HOUR, BackupResult.OK, NOW - 3 * HOUR)
    samples = status.samples(NOW)
    assert values(samples) == {"backup.result": 0.0, "backup.failed": 0.0,
                               "backup.success_age_hours": 3.0,
                               "backup.last_run_age_hours": 2.0}
    assert all(s.labels == {"tool": "restic", "job": "nightly"} and s.at == NOW
               for s in samples)


@pytest.mark.parametrize(
    ("result", "code", "failed"),
    [(BackupResult.OK, 0.0, 0.0), (BackupResult.WARNING, 1.0, 0.0),
     (BackupResult.FAILED, 2.0, 1.0), (BackupResult.RUNNING, 3.0, None),
     (BackupResult.UNKNOWN, 4.0, None)],
)
def test_result_codes_and_failed_only_for_finished_runs(result: BackupResult, code: float,
                                                        failed: float | None) -> None:
    got = values(BackupStatus("borg", "j", None, result, None).samples(NOW))
    assert got["backup.result"] == code
    assert got.get("backup.failed") == failed
    assert "backup.success_age_hours" not in got and "backup.last_run_age_hours" not in got


def test_a_success_ahead_of_the_clock_is_age_zero() -> None:
    got = values(BackupStatus("marker", "j", NOW + 60, BackupResult.OK, NOW + 60).samples(NOW))
    assert got["backup.success_age_hours"] == 0.0


# --- settings ----------------------------------------------------------------------------

def test_registered_with_a_five_minute_schedule() -> None:
    assert SAMPLERS["backup"] is BackupSampler
    assert BackupSampler.interval == 300.0


def test_no_settings_means_detection_only() -> None:
    settings, problems = settings_from("")
    assert problems == []
    assert settings == BackupSettings(windows_server_backup=False, veeam=False,
                                      detect_rsnapshot=True)


def test_full_settings() -> None:
    settings, problems = settings_from("""
        [sampler.backup]
        detect_rsnapshot = false

        [[sampler.backup.restic]]
        job = "nightly"
        repository = "sftp:backup@nas:/restic/fs01"
        password_file = "/etc/watchkeeper/restic.pw"
        host = "fs01"
        timeout = "5m"

        [[sampler.backup.borg]]
        job = "system"
        repository = "/srv/borg"
        passphrase_file = "/etc/watchkeeper/borg.pw"
        glob_archives = "fs01-*"

        [[sampler.backup.rsnapshot]]
        job = "daily"

        [[sampler.backup.marker]]
        job = "sql dump"
        path = "/srv/dumps/*.sql.gz"

        [[sampler.backup.marker]]
        job = "offsite"
        command = ["/usr/local/bin/check-offsite", "--quiet"]
        timeout = "30s"
    """)
    assert problems == []
    assert settings.restic[0].timeout == 300.0
    assert settings.borg[0].glob_archives == "fs01-*"
    assert settings.rsnapshot[0].config == "/etc/rsnapshot.conf"
    assert [m.job for m in settings.marker] == ["sql dump", "offsite"]
    assert settings.marker[1].command == ("/usr/local/bin/check-offsite", "--quiet")
    assert settings.detect_rsnapshot is False


def test_job_names_must_differ_within_a_tool_only() -> None:
    _, problems = settings_from("""
        [[sampler.backup.marker]]
        job = "nightly"
        path = "/a"
        [[sampler.backup.marker]]
        job = "nightly"
        path = "/b"
        [[sampler.backup.restic]]
        job = "nightly"
        repository = "/r"
        password_file = "/p"
    """)
    assert problems == ["/etc/watchkeeper/agent.toml: sampler.backup.marker[1].job: 'nightly'"
                        " is used by another marker job; job names must differ"]


def test_problems_name_file_and_key() -> None:
    _, problems = settings_from("""
        [sampler.backup]
        windows_server_backup = true
        rsnapshot = "yes"
        [[sampler.backup.restic]]
        job = "nightly"
        repository = "restic"
        password_file = "/p"
        timeout = -5
    """)
    assert problems == [
        "/etc/watchkeeper/agent.toml: sampler.backup.restic[0].repository: a local repository"
        " must be an absolute path, got 'restic'",
        "/etc/watchkeeper/agent.toml: sampler.backup.restic[0].timeout: a duration must be a"
        " finite number of seconds from 0, got -5",
        "/etc/watchkeeper/agent.toml: sampler.backup.rsnapshot: must be an array of tables"
        " ([[sampler.backup.rsnapshot]])",
        "/etc/watchkeeper/agent.toml: sampler.backup.windows_server_backup: is read from the"
        " Windows event log: only possible on Windows",
    ]


def test_unknown_tool_is_an_unknown_key() -> None:
    _, problems = settings_from("""
        [[sampler.backup.duplicati]]
        job = "x"
    """)
    assert problems == ["/etc/watchkeeper/agent.toml: sampler.backup.duplicati: unknown key"]


# --- what the sampler reports ------------------------------------------------------------

def test_host_without_backup_software_or_settings_yields_nothing(tmp_path: Path) -> None:
    assert sampler(tmp_path).collect(NOW) == []


def test_installed_but_unconfigured_rsnapshot_yields_nothing(tmp_path: Path) -> None:
    debian = tmp_path / "rsnapshot.conf"
    debian.write_text((FIXTURES / "rsnapshot_debian_default.conf").read_text())
    assert sampler(tmp_path, rsnapshot_config=debian).collect(NOW) == []


def test_configured_rsnapshot_is_detected(tmp_path: Path) -> None:
    log = tmp_path / "rsnapshot.log"
    log.write_text((FIXTURES / "rsnapshot_ok.log").read_text())
    conf = tmp_path / "rsnapshot.conf"
    conf.write_text(f"snapshot_root\t{tmp_path}/snapshots/\nretain\tdaily\t7\nlogfile\t{log}\n")
    samples = sampler(tmp_path, rsnapshot_config=conf).collect(NOW)
    assert {(s.metric, s.labels["tool"], s.labels["job"]) for s in samples} >= {
        ("backup.result", "rsnapshot", "default"), ("backup.success_age_hours", "rsnapshot",
                                                    "default")}
    off = sampler(tmp_path, BackupSettings(detect_rsnapshot=False), rsnapshot_config=conf)
    assert off.collect(NOW) == []


def test_one_broken_job_does_not_hide_the_others(tmp_path: Path) -> None:
    good = tmp_path / "done.marker"
    good.write_text("")
    settings = BackupSettings(marker=(
        MarkerJob("missing", path=str(tmp_path / "nothing-*")),
        MarkerJob("no program", command=("/nonexistent/check",)),
        MarkerJob("good", path=str(good)),
    ))
    statuses = {s.job: s.last_result for s in sampler(tmp_path, settings).statuses(NOW)}
    assert statuses == {"missing": BackupResult.FAILED, "no program": BackupResult.UNKNOWN,
                        "good": BackupResult.OK}


def test_a_reader_that_raises_costs_only_its_job(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(job: MarkerJob, now: float) -> BackupStatus:
        if job.job == "a":
            raise RuntimeError("surprise")
        return BackupStatus("marker", job.job, now, BackupResult.OK, now)

    monkeypatch.setattr(backup_module.marker, "status", broken)
    settings = BackupSettings(marker=(MarkerJob("a", path="/a"), MarkerJob("b", path="/b")))
    a, b = sampler(tmp_path, settings).statuses(NOW)
    assert (a.last_result, a.detail) == (BackupResult.UNKNOWN, "RuntimeError: surprise")
    assert b.last_result is BackupResult.OK


def test_a_problem_is_logged_once_with_its_detail(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    settings = BackupSettings(marker=(MarkerJob("dump", path=str(tmp_path / "none")),))
    s = sampler(tmp_path, settings)
    with caplog.at_level(logging.WARNING, logger="agent.samplers.backup"):
        s.collect(NOW)
        s.collect(NOW + 300)
    assert [r.getMessage() for r in caplog.records] == [
        f"backup marker/dump: failed: no file matches {tmp_path / 'none'}"]


# --- event-log jobs across the window ----------------------------------------------------

def wsb(result: BackupResult, last_run: float | None, success: float | None) -> BackupStatus:
    return BackupStatus("wsb", "default", last_run, result, success, "")


def test_older_success_is_kept_when_the_window_has_none() -> None:
    memory = {("wsb", "default"): Remembered("wsb", "default", NOW - 86400, NOW - 86400)}
    out, kept = carry_forward([wsb(BackupResult.FAILED, NOW - 60, None)], memory, {"wsb"},
                              {}, NOW)
    assert out == [BackupStatus("wsb", "default", NOW - 60, BackupResult.FAILED,
                                NOW - 86400, "")]
    assert kept[("wsb", "default")].last_success == NOW - 86400


def test_job_gone_from_the_window_is_reported_unknown_with_growing_age() -> None:
    nine_days = NOW - 9 * 86400
    memory = {("veeam_br", "Offsite copy"): Remembered("veeam_br", "Offsite copy", nine_days,
                                                       nine_days)}
    out, kept = carry_forward([], memory, {"veeam_br"}, {}, NOW)
    assert out == [BackupStatus("veeam_br", "Offsite copy", nine_days, BackupResult.UNKNOWN,
                                nine_days, "no event from this job in the last 8 days")]
    assert values(out[0].samples(NOW))["backup.success_age_hours"] == 9 * 24
    assert ("veeam_br", "Offsite copy") in kept


def test_unreadable_log_says_why_for_remembered_jobs() -> None:
    memory = {("wsb", "default"): Remembered("wsb", "default", NOW - HOUR, NOW - HOUR)}
    out, _ = carry_forward([], memory, {"wsb"}, {"wsb": "cannot read the event log: denied"},
                           NOW)
    assert out[0].detail == "cannot read the event log: denied"


def test_long_silent_jobs_and_uninstalled_products_are_forgotten() -> None:
    old = NOW - FORGET_AFTER - 1
    memory = {("wsb", "default"): Remembered("wsb", "default", old, old),
              ("veeam_agent", "Job"): Remembered("veeam_agent", "Job", NOW - HOUR, NOW - HOUR)}
    out, kept = carry_forward([], memory, {"wsb"}, {}, NOW)
    assert out == [] and kept == {}


def test_linux_tools_are_never_remembered() -> None:
    restic = BackupStatus("restic", "n", NOW, BackupResult.OK, NOW)
    out, kept = carry_forward([restic], {}, set(), {}, NOW)
    assert out == [restic] and kept == {}


@pytest.mark.parametrize("saved", [None, {}, {"jobs": "x"}, {"jobs": [1, {"tool": "wsb"}]},
                                   {"jobs": [{"tool": "restic", "job": "n"}]}])
def test_malformed_memory_is_dropped(saved: dict[str, object] | None) -> None:
    assert load_memory(saved) == {}


def test_event_log_jobs_are_checkpointed_and_restored(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen = [wsb(BackupResult.OK, NOW - HOUR, NOW - HOUR)]
    monkeypatch.setattr(win, "read", lambda tools: win.WindowsRead(
        list(seen), frozenset(tools), {}))
    first = sampler(tmp_path, BackupSettings(windows_server_backup=True))
    out = first.collect(NOW)
    [checkpoint] = [o for o in out if isinstance(o, Checkpoint)]
    assert checkpoint.key == "backup"

    # The agent saved it; after a restart the success is remembered though out of window.
    state = tmp_path / "state"
    checkpoint_file(state, "backup").parent.mkdir(parents=True)
    checkpoint_file(state, "backup").write_text(json.dumps(checkpoint.state))
    ctx = SamplerContext(state, "fs01")
    seen.clear()
    later = BackupSampler.create(BackupSettings(windows_server_backup=True), ctx)
    samples = [o for o in later.collect(NOW + 9 * 86400) if isinstance(o, Sample)]
    assert values(samples) == {"backup.result": 4.0, "backup.success_age_hours": 9 * 24 + 1,
                               "backup.last_run_age_hours": 9 * 24 + 1}


def test_create_without_settings_uses_the_defaults(tmp_path: Path) -> None:
    made = BackupSampler.create(None, SamplerContext(tmp_path, "fs01"))
    assert made.settings == BackupSettings()
    assert made.restic_cache == tmp_path / "restic-cache"
    assert made.borg_base == tmp_path / "borg"
