"""restic, borg, rsnapshot and marker jobs: the pure parsers on recorded output, the argv and
environment each tool is run with, and how each job's settings are validated."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agent.samplers import _backup_borg as borg
from agent.samplers import _backup_marker as marker
from agent.samplers import _backup_restic as restic
from agent.samplers import _backup_rsnapshot as rsnapshot
from agent.samplers._backup_common import BackupResult
from agent.samplers._command import CommandResult
from watchkeeper.tomlconf import Table

FIXTURES = Path(__file__).parent.parent / "fixtures" / "backup"
BERLIN = timezone(timedelta(hours=1))  # where the restic and rsnapshot fixtures were made
TOKYO = timezone(timedelta(hours=9))  # where the borg fixtures were made


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def at(tz: timezone, *parts: int) -> float:
    return datetime(*parts, tzinfo=tz).timestamp()  # type: ignore[misc]


def result(returncode: int, stdout: str = "", stderr: str = "",
           argv: tuple[str, ...] = ("restic",)) -> CommandResult:
    return CommandResult(argv, returncode, stdout, stderr)


def table(data: dict[str, object]) -> Table:
    return Table(data, "agent.toml", "sampler.backup.x[0]")


def problems(t: Table) -> dict[str, str]:
    return {p.key.removeprefix("sampler.backup.x[0]."): p.reason for p in t.problems}


# --- restic ------------------------------------------------------------------------------

def test_restic_newest_snapshot_across_hosts_is_the_last_success() -> None:
    status = restic.parse("nightly", result(0, fixture("restic_snapshots_two_hosts.json")))
    laptop = at(BERLIN, 2026, 11, 22, 2, 49, 42, 947759)
    assert status.last_result is BackupResult.OK
    assert status.last_success == pytest.approx(laptop, abs=1e-3)
    assert status.last_run == status.last_success
    assert "laptop" in status.detail


def test_restic_filtered_snapshot() -> None:
    status = restic.parse("fs", result(0, fixture("restic_snapshots_one_host.json")))
    assert status.last_success == pytest.approx(at(BERLIN, 2026, 11, 22, 2, 49, 42, 194343),
                                                abs=1e-3)


def test_restic_no_matching_snapshot_is_a_failure_without_success_time() -> None:
    status = restic.parse("nightly", result(0, fixture("restic_snapshots_none.json")))
    assert status.last_result is BackupResult.FAILED
    assert status.last_success is None
    assert "no snapshot" in status.detail


def test_restic_017_summary_end_is_the_last_run() -> None:
    # restic >= 0.17 adds "summary" (PR #4705); shape from its documentation, not recorded.
    stdout = ('[{"time":"2026-11-22T02:00:00.5+01:00","hostname":"fs","short_id":"ab12cd34",'
              '"summary":{"backup_start":"2026-11-22T02:00:00.5+01:00",'
              '"backup_end":"2026-11-22T02:41:10.25+01:00","files_new":3}}]')
    status = restic.parse("nightly", result(0, stdout))
    assert status.last_success == at(BERLIN, 2026, 11, 22, 2, 0, 0, 500000)
    assert status.last_run == at(BERLIN, 2026, 11, 22, 2, 41, 10, 250000)


@pytest.mark.parametrize(
    ("returncode", "stderr_file", "says"),
    [
        (1, "restic_wrong_password.stderr", "restic: wrong password or no key found"),
        (1, "restic_missing_repo.stderr", "unable to open config file"),
        (1, "restic_missing_password_file.stderr", "no-such-file does not exist"),
        (12, "restic_wrong_password.stderr", "restic: wrong password: wrong password"),
        (10, "restic_missing_repo.stderr", "the repository does not exist"),
    ],
)
def test_restic_errors_are_failures_naming_the_problem(returncode: int, stderr_file: str,
                                                       says: str) -> None:
    status = restic.parse("nightly", result(returncode, stderr=fixture(stderr_file)))
    assert status.last_result is BackupResult.FAILED
    assert says in status.detail
    assert f"exit status {returncode}" in status.detail


def test_restic_unknown_exit_status_is_a_failure() -> None:
    status = restic.parse("nightly", result(42, stderr="something new\n"))
    assert status.last_result is BackupResult.FAILED
    assert status.detail == "restic: something new (exit status 42)"


def test_restic_garbage_output_is_unknown() -> None:
    status = restic.parse("nightly", result(0, "not json"))
    assert status.last_result is BackupResult.UNKNOWN


def test_restic_argv_and_environment() -> None:
    job = restic.ResticJob("nightly", "sftp:backup@nas:/restic", "/etc/wk/restic.pw",
                           host="fs01", paths=("/srv", "/etc"), tags=("nightly",))
    assert restic.argv(job) == ["restic", "snapshots", "--json", "--latest", "1", "--no-lock",
                                "--host", "fs01", "--path", "/srv", "--path", "/etc",
                                "--tag", "nightly"]
    assert restic.environment(job, Path("/var/lib/wk/restic-cache")) == {
        "RESTIC_REPOSITORY": "sftp:backup@nas:/restic",
        "RESTIC_PASSWORD_FILE": "/etc/wk/restic.pw",
        "RESTIC_CACHE_DIR": "/var/lib/wk/restic-cache"}


def test_restic_settings_with_defaults() -> None:
    t = table({"job": "nightly", "repository": "/srv/restic", "password_file": "/etc/pw"})
    job = restic.job_from_table(t)
    assert t.problems == []
    assert job == restic.ResticJob("nightly", "/srv/restic", "/etc/pw", timeout=120.0)


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ({"repository": "/r", "password_file": "/p"}, "job", "is required"),
        ({"job": " ", "repository": "/r", "password_file": "/p"}, "job", "must not be empty"),
        ({"job": "j", "repository": "srv/restic", "password_file": "/p"}, "repository",
         "a local repository must be an absolute path, got 'srv/restic'"),
        ({"job": "j", "repository": "/r", "password_file": "pw"}, "password_file",
         "must be an absolute path, got 'pw'"),
        ({"job": "j", "repository": "/r"}, "password_file", "is required"),
        ({"job": "j", "repository": "/r", "password_file": "/p", "timeout": "0s"}, "timeout",
         "must be longer than zero"),
        ({"job": "j", "repository": "/r", "password_file": "/p", "paths": ["srv"]}, "paths",
         "entry 1 must be an absolute path, got 'srv'"),
        ({"job": "j", "repository": "/r", "password_file": "/p", "pasword": "x"}, "pasword",
         "unknown key"),
    ],
)
def test_restic_settings_problems_name_the_key(data: dict[str, object], key: str,
                                               reason: str) -> None:
    t = table(data)
    restic.job_from_table(t)
    assert problems(t) == {key: reason}


@pytest.mark.parametrize("repo", ["sftp:backup@nas:/restic", "s3:s3.amazonaws.com/bucket",
                                  "rest:https://host:8000/", "rclone:remote:path"])
def test_restic_remote_repositories_are_accepted(repo: str) -> None:
    t = table({"job": "j", "repository": repo, "password_file": "/p"})
    restic.job_from_table(t)
    assert t.problems == []


# --- borg --------------------------------------------------------------------------------

def test_borg_archive_time_is_local_time_of_the_host() -> None:
    status = borg.parse("system", result(0, fixture("borg_list_last.json")), TOKYO)
    assert status.last_result is BackupResult.OK
    assert status.last_success == at(TOKYO, 2026, 11, 22, 10, 49, 51)
    assert status.detail == "archive fileserver-2026-11-22"


def test_borg_naive_time_without_a_zone_uses_the_agent_hosts_zone() -> None:
    status = borg.parse_list("system", fixture("borg_list_last.json"))
    naive = datetime(2026, 11, 22, 10, 49, 51)
    assert status.last_success == naive.astimezone().timestamp()


def test_borg_no_archive_is_a_failure() -> None:
    status = borg.parse("system", result(0, fixture("borg_list_empty.json")), TOKYO)
    assert status.last_result is BackupResult.FAILED
    assert "no archive" in status.detail


@pytest.mark.parametrize(
    ("stderr_file", "result_", "says"),
    [
        ("borg_wrong_passphrase.stderr", BackupResult.FAILED, "passphrase supplied in "
         "BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect"),
        ("borg_missing_repo.stderr", BackupResult.FAILED,
         "Repository /tmp/rec/no-borg-repo does not exist"),
        ("borg_unknown_unencrypted.stderr", BackupResult.FAILED,
         "refused an unencrypted repository this agent has not seen before"),
        ("borg_lock_timeout.stderr", BackupResult.RUNNING, "Failed to create/acquire the lock"),
    ],
)
def test_borg_errors(stderr_file: str, result_: BackupResult, says: str) -> None:
    status = borg.parse("system", result(2, stderr=fixture(stderr_file)))
    assert status.last_result is result_
    assert says in status.detail
    assert status.last_success is None


def test_borg_plain_stderr_is_the_detail_without_log_json() -> None:
    status = borg.parse("system", result(2, stderr="Repository /x does not exist.\n"))
    assert status.detail == "borg: Repository /x does not exist. (exit status 2)"


def test_borg_argv_and_environment() -> None:
    job = borg.BorgJob("system", "ssh://backup@nas/./borg", passcommand="cat /etc/pw",
                       glob_archives="fs01-*", timeout=120.0)
    assert borg.argv(job) == ["borg", "--log-json", "list", "--json", "--last", "1",
                              "--lock-wait", "30", "--glob-archives", "fs01-*",
                              "ssh://backup@nas/./borg"]
    assert borg.environment(job, Path("/var/lib/wk/borg"), None) == {
        "BORG_BASE_DIR": "/var/lib/wk/borg", "BORG_RELOCATED_REPO_ACCESS_IS_OK": "no",
        "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no", "BORG_PASSCOMMAND": "cat /etc/pw"}


def test_borg_lock_wait_stays_inside_a_short_timeout() -> None:
    assert borg.BorgJob("j", "/r", timeout=10.0).lock_wait == 5


def test_borg_unreadable_passphrase_file_fails_the_job(tmp_path: Path) -> None:
    job = borg.BorgJob("system", str(tmp_path / "repo"),
                       passphrase_file=str(tmp_path / "missing"))
    status = borg.status(job, tmp_path / "base")
    assert status.last_result is BackupResult.FAILED
    assert status.detail.startswith(f"cannot read passphrase_file {tmp_path / 'missing'}")


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ({"job": "j", "repository": "/r"}, "passphrase_file",
         "give exactly one of passphrase_file and passcommand"),
        ({"job": "j", "repository": "/r", "passcommand": "x", "passphrase_file": "/p"},
         "passphrase_file", "give exactly one of passphrase_file and passcommand"),
        ({"job": "j", "repository": "backup/repo", "passcommand": "x"}, "repository",
         "a local repository must be an absolute path, got 'backup/repo'"),
        ({"job": "j", "repository": "/r", "passcommand": "x", "timeout": "soon"}, "timeout",
         "'soon' is not a duration; use a number with s, m, h or d, such as '90s' or '1h30m'"),
    ],
)
def test_borg_settings_problems(data: dict[str, object], key: str, reason: str) -> None:
    t = table(data)
    borg.job_from_table(t)
    assert problems(t) == {key: reason}


def test_borg_scp_style_repository_is_remote() -> None:
    t = table({"job": "j", "repository": "backup@nas:borg/fs01", "passcommand": "x"})
    borg.job_from_table(t)
    assert t.problems == []


# --- rsnapshot ---------------------------------------------------------------------------

def test_rsnapshot_successful_runs() -> None:
    status = rsnapshot.parse_log("daily", fixture("rsnapshot_ok.log"), BERLIN)
    assert status.last_result is BackupResult.OK
    assert status.last_success == at(BERLIN, 2026, 11, 22, 2, 50, 11)
    assert status.last_run == status.last_success


def test_rsnapshot_run_with_errors_is_failed_and_keeps_the_earlier_success() -> None:
    status = rsnapshot.parse_log("daily", fixture("rsnapshot_error.log"), BERLIN)
    assert status.last_result is BackupResult.FAILED
    assert status.last_success == at(BERLIN, 2026, 11, 22, 2, 50, 16)
    assert status.detail == "/usr/bin/rsync returned 1 while processing /tmp/rs/src/"


def test_rsnapshot_refused_configuration_is_failed_with_its_reasons() -> None:
    status = rsnapshot.parse_log("daily", fixture("rsnapshot_config_error.log"), BERLIN)
    assert status.last_result is BackupResult.FAILED
    assert status.last_success == at(BERLIN, 2026, 11, 22, 2, 50, 11)
    # rsnapshot wraps the long line in the log (" \\" + indented lines); its footer is dropped.
    assert status.detail == ("/tmp/rs/rsnapshot.conf on line 9: backup /tmp/rs/vanished/"
                             ' localhost/ - Source directory "/tmp/rs/vanished/" doesn\'t exist')


def test_rsnapshot_warnings_are_a_warning_and_a_usable_snapshot() -> None:
    status = rsnapshot.parse_log("daily", fixture("rsnapshot_warning.log"), BERLIN)
    assert status.last_result is BackupResult.WARNING
    assert status.last_success == at(BERLIN, 2026, 11, 22, 2, 50, 22)
    assert status.detail == ("Some files and/or directories in /tmp/rsw/src/ only transferred"
                             " partially during rsync operation")


def test_rsnapshot_run_in_progress_is_running() -> None:
    status = rsnapshot.parse_log("daily", fixture("rsnapshot_running.log"), BERLIN)
    assert status.last_result is BackupResult.RUNNING
    assert status.last_run == at(BERLIN, 2026, 11, 22, 2, 50, 16)
    assert status.last_success == at(BERLIN, 2026, 11, 22, 2, 50, 16)


def test_rsnapshot_before_1_4_time_format() -> None:
    status = rsnapshot.parse_log("daily", fixture("rsnapshot_1_3_format.log"), BERLIN)
    assert status.last_result is BackupResult.FAILED
    assert status.last_success == at(BERLIN, 2017, 8, 3, 3, 43, 58)
    assert status.last_run == at(BERLIN, 2017, 8, 4, 3, 44, 14)
    assert "returned 255" in status.detail


def test_rsnapshot_repeated_configuration_errors_are_said_once() -> None:
    text = fixture("rsnapshot_config_error.log")
    errors = text[text.index("[2026-11-22T02:50:11] /usr/bin/rsnapshot -c /tmp/rs/rsnapshot.conf"
                             " daily: ERROR"):]  # the refused run, as the next day logs it
    once = rsnapshot.parse_log("daily", text, BERLIN)
    twice = rsnapshot.parse_log("daily", text + errors, BERLIN)
    assert twice.detail == once.detail


def test_rsnapshot_empty_log_falls_back_to_the_snapshot_time() -> None:
    status = rsnapshot.parse_log("daily", "", BERLIN, fallback_success=1_800_000_000.0)
    assert status.last_result is BackupResult.UNKNOWN
    assert status.last_success == 1_800_000_000.0


def test_rsnapshot_config_gives_root_log_and_levels() -> None:
    config = rsnapshot.parse_config(fixture("rsnapshot.conf"))
    assert config == rsnapshot.RsnapshotConfig("/tmp/rs/snapshots/", "/tmp/rs/ok.log",
                                                ("daily", "weekly"))


def test_rsnapshot_debian_default_config_has_no_log() -> None:
    config = rsnapshot.parse_config(fixture("rsnapshot_debian_default.conf"))
    assert config.logfile is None
    assert config.levels == ("alpha", "beta", "gamma")


def test_rsnapshot_detected_only_when_its_config_names_a_log(tmp_path: Path) -> None:
    debian = tmp_path / "debian.conf"
    debian.write_text(fixture("rsnapshot_debian_default.conf"))
    configured = tmp_path / "rsnapshot.conf"
    configured.write_text(fixture("rsnapshot.conf"))
    assert rsnapshot.detect(debian) is None
    assert rsnapshot.detect(tmp_path / "missing.conf") is None
    assert rsnapshot.detect(configured) == rsnapshot.RsnapshotJob("default", str(configured))


def test_rsnapshot_log_tail_drops_the_partial_first_line(tmp_path: Path) -> None:
    log = tmp_path / "rsnapshot.log"
    log.write_text("x" * 100 + "\n" + fixture("rsnapshot_ok.log"))
    tail = rsnapshot.read_tail(log, limit=len(fixture("rsnapshot_ok.log")) + 10)
    assert tail == fixture("rsnapshot_ok.log")


def test_rsnapshot_missing_log_is_unknown_with_the_snapshot_time(tmp_path: Path) -> None:
    root = tmp_path / "snapshots"
    (root / "daily.0").mkdir(parents=True)
    os.utime(root / "daily.0", (1_800_000_000, 1_800_000_000))
    config = tmp_path / "rsnapshot.conf"
    config.write_text(f"snapshot_root\t{root}/\nretain\tdaily\t7\n"
                      f"logfile\t{tmp_path / 'never-written.log'}\n")
    status = rsnapshot.status(rsnapshot.RsnapshotJob("daily", str(config)), BERLIN)
    assert status.last_result is BackupResult.UNKNOWN
    assert status.last_success == 1_800_000_000.0
    assert "never-written.log" in status.detail


def test_rsnapshot_settings() -> None:
    t = table({"job": "daily"})
    assert rsnapshot.job_from_table(t) == rsnapshot.RsnapshotJob("daily", "/etc/rsnapshot.conf")
    t = table({"job": "daily", "logfile": "/var/log/rsnapshot.log"})
    assert rsnapshot.job_from_table(t) == rsnapshot.RsnapshotJob(
        "daily", None, "/var/log/rsnapshot.log")
    t = table({"job": "daily", "config": "rsnapshot.conf", "timeout": "1m"})
    rsnapshot.job_from_table(t)
    assert problems(t) == {"config": "must be an absolute path, got 'rsnapshot.conf'",
                           "timeout": "unknown key"}


# --- marker ------------------------------------------------------------------------------

def test_marker_newest_file_is_the_last_success() -> None:
    status = marker.path_status("dump", "/srv/dumps/*.gz", [1_700_000_000.0, 1_700_050_000.0],
                                capped=False)
    assert status.last_result is BackupResult.OK
    assert status.last_success == status.last_run == 1_700_050_000.0


def test_marker_without_a_file_is_a_failure() -> None:
    status = marker.path_status("dump", "/srv/dumps/*.gz", [], capped=False)
    assert status.last_result is BackupResult.FAILED
    assert status.detail == "no file matches /srv/dumps/*.gz"


def test_marker_command_exit_status_is_the_verdict() -> None:
    now = 1_800_000_000.0
    ok = marker.command_status("check", result(0, argv=("/usr/local/bin/check",)), now)
    bad = marker.command_status("check", result(3, stdout="last dump is from March\n",
                                                argv=("/usr/local/bin/check",)), now)
    assert (ok.last_result, ok.last_success, ok.last_run) == (BackupResult.OK, now, now)
    assert (bad.last_result, bad.last_success, bad.last_run) == (BackupResult.FAILED, None, now)
    assert bad.detail == "/usr/local/bin/check exited with status 3: last dump is from March"


def test_marker_missing_program_is_unknown() -> None:
    job = marker.MarkerJob("check", command=("/nonexistent/check-backup",))
    status = marker.status(job, 1_800_000_000.0)
    assert status.last_result is BackupResult.UNKNOWN
    assert "program not found" in status.detail


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"job": "j"}, {"path": "give exactly one of path (a file or glob) and command (a list)"}),
        ({"job": "j", "path": "/x", "command": ["c"]},
         {"path": "give exactly one of path (a file or glob) and command (a list)"}),
        ({"job": "j", "path": "dumps/*.gz"}, {"path": "must be an absolute path, got "
                                                      "'dumps/*.gz'"}),
        ({"job": "j", "command": []},
         {"command": "must name a program: [\"/path/to/check\", \"arg\", ...]"}),
        ({"job": "j", "command": "check --quiet"},
         {"command": "must be a list of strings, got 'check --quiet'"}),
        ({"job": "j", "path": "/x", "timeout": "10s"},
         {"timeout": "applies to command markers only"}),
    ],
)
def test_marker_settings_problems(data: dict[str, object], expected: dict[str, str]) -> None:
    t = table(data)
    marker.job_from_table(t)
    assert problems(t) == expected
