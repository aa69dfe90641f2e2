"""The backup sampler against the real tools (Debian packages restic, borgbackup, rsnapshot,
rsync): tiny repositories made in a temporary directory, then the sampler, configured the
way an admin writes agent.toml, reports on them.

borg and rsnapshot write naive local time, so those tests run in a zone far from UTC: a
time-zone mistake would show as an age off by hours.

restic and borg are run again only when the repository changed (or after `refresh`): a
wrapper first on PATH counts their real runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.samplers import Sample, SamplerContext
from agent.samplers import _backup_rsnapshot as rsnapshot
from agent.samplers.backup import BackupSampler, configure_backup
from tests.integration.path_counter import count_runs
from watchkeeper.tomlconf import Table

MINUTE_IN_HOURS = 1 / 60


def needs(*tools: str) -> pytest.MarkDecorator:
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)}")


def sampler_for(toml: str, state: Path, rsnapshot_config: Path | None = None) -> BackupSampler:
    t = Table(tomllib.loads(toml), "agent.toml")
    settings = configure_backup(t.table("sampler").table("backup"))
    assert t.problems == []
    return BackupSampler(settings, state, None,
                         rsnapshot_config or state / "no-rsnapshot.conf")


def by_job(samples: list[Sample]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for s in samples:
        out.setdefault(s.labels["job"], {})[s.metric] = s.value
    return out


def run(argv: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL, timeout=60, **kw)


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Agent and tools in UTC+9, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    src = tmp_path / "data"
    src.mkdir()
    (src / "invoices.csv").write_text("2026-11,4711,paid\n")
    return src


# --- restic ------------------------------------------------------------------------------

@needs("restic")
def test_restic_fresh_backup_is_ok_with_age_near_zero(tmp_path: Path, data: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    repo, pw, bad = tmp_path / "restic-repo", tmp_path / "restic.pw", tmp_path / "wrong.pw"
    pw.write_text("correct horse\n")
    bad.write_text("battery staple\n")
    env = {"RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD_FILE": str(pw),
           "RESTIC_CACHE_DIR": str(tmp_path / "cache")}
    assert run(["restic", "init"], env).returncode == 0
    assert run(["restic", "backup", str(data)], env).returncode == 0

    s = sampler_for(f"""
        [[sampler.backup.restic]]
        job = "nightly"
        repository = "{repo}"
        password_file = "{pw}"
        [[sampler.backup.restic]]
        job = "wrong password"
        repository = "{repo}"
        password_file = "{bad}"
        [[sampler.backup.restic]]
        job = "no repository"
        repository = "{tmp_path / 'nowhere'}"
        password_file = "{pw}"
    """, tmp_path / "state")
    with caplog.at_level(logging.WARNING, logger="agent.samplers.backup"):
        jobs = by_job([o for o in s.collect(time.time()) if isinstance(o, Sample)])

    assert jobs["nightly"]["backup.result"] == 0.0
    assert jobs["nightly"]["backup.failed"] == 0.0
    assert 0.0 <= jobs["nightly"]["backup.success_age_hours"] < MINUTE_IN_HOURS
    for broken in ("wrong password", "no repository"):
        assert jobs[broken] == {"backup.result": 2.0, "backup.failed": 1.0}
    # What the admin reads in the agent's log.
    logged = [r.getMessage() for r in caplog.records]
    assert logged[0] == ("backup restic/wrong password: failed: restic: wrong password or no"
                         " key found (exit status 1)")
    assert logged[1].startswith("backup restic/no repository: failed: restic: unable to open"
                                " config file")
    assert (tmp_path / "state" / "restic-cache").is_dir()  # the cache lives in the agent's state


@needs("restic")
def test_restic_runs_again_only_for_a_changed_repository(tmp_path: Path, data: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    repo, pw = tmp_path / "restic-repo", tmp_path / "restic.pw"
    pw.write_text("correct horse\n")
    env = {"RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD_FILE": str(pw),
           "RESTIC_CACHE_DIR": str(tmp_path / "cache")}
    assert run(["restic", "init"], env).returncode == 0
    assert run(["restic", "backup", str(data)], env).returncode == 0
    runs = count_runs("restic", tmp_path / "bin", monkeypatch)
    s = sampler_for(f"""
        [[sampler.backup.restic]]
        job = "nightly"
        repository = "{repo}"
        password_file = "{pw}"
    """, tmp_path / "state")
    now = time.time()

    [first] = s.statuses(now)
    assert first.last_result.value == "ok" and len(runs) == 1
    # Five minutes later, nothing changed: the same answer without running restic, its
    # age counted from the new now.
    later = by_job([o for o in s.collect(now + 300) if isinstance(o, Sample)])["nightly"]
    assert len(runs) == 1
    assert first.last_success is not None
    assert later["backup.success_age_hours"] == pytest.approx(
        (now + 300 - first.last_success) / 3600)

    assert run(["restic", "backup", str(data)], env).returncode == 0  # tonight's backup
    runs_before = len(runs)
    [second] = s.statuses(now + 600)
    assert len(runs) == runs_before + 1
    assert second.last_success is not None and second.last_success > first.last_success
    assert second.detail != first.detail  # names the new snapshot

    pw.write_text("battery staple\n")  # a broken password file shows at the next check
    [broken] = s.statuses(now + 900)
    assert broken.last_result.value == "failed" and "wrong password" in broken.detail
    s.statuses(now + 1200)
    assert len(runs) == runs_before + 3  # and is checked again every run until fixed


# --- borg --------------------------------------------------------------------------------

@needs("borg")
def test_borg_fresh_archive_is_ok_with_age_near_zero(tmp_path: Path, data: Path,
                                                     tokyo: None) -> None:
    repo, pw = tmp_path / "borg-repo", tmp_path / "borg.pw"
    pw.write_text("correct horse\n")
    env = {"BORG_PASSPHRASE": "correct horse", "BORG_BASE_DIR": str(tmp_path / "admin")}
    init = run(["borg", "init", "--encryption=repokey", str(repo)], env)
    assert init.returncode == 0, init.stderr
    create = run(["borg", "create", f"{repo}::fs01-nightly", str(data)], env)
    assert create.returncode == 0, create.stderr

    s = sampler_for(f"""
        [[sampler.backup.borg]]
        job = "system"
        repository = "{repo}"
        passphrase_file = "{pw}"
        [[sampler.backup.borg]]
        job = "other host"
        repository = "{repo}"
        passcommand = "echo correct horse"
        glob_archives = "mail01-*"
    """, tmp_path / "state")
    now = time.time()
    jobs = by_job([o for o in s.collect(now) if isinstance(o, Sample)])

    assert jobs["system"]["backup.result"] == 0.0
    assert 0.0 <= jobs["system"]["backup.success_age_hours"] < MINUTE_IN_HOURS
    assert jobs["other host"] == {"backup.result": 2.0, "backup.failed": 1.0}
    assert (tmp_path / "state" / "borg").is_dir()  # borg's security dir, not the admin's


@needs("borg")
def test_borg_runs_again_only_for_a_changed_repository(tmp_path: Path, data: Path,
                                                       tokyo: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    repo, pw = tmp_path / "borg-repo", tmp_path / "borg.pw"
    pw.write_text("correct horse\n")
    env = {"BORG_PASSPHRASE": "correct horse", "BORG_BASE_DIR": str(tmp_path / "admin")}
    assert run(["borg", "init", "--encryption=repokey", str(repo)], env).returncode == 0
    assert run(["borg", "create", f"{repo}::fs01-mon", str(data)], env).returncode == 0
    runs = count_runs("borg", tmp_path / "bin", monkeypatch)
    s = sampler_for(f"""
        [sampler.backup]
        refresh = "2h"
        [[sampler.backup.borg]]
        job = "system"
        repository = "{repo}"
        passphrase_file = "{pw}"
    """, tmp_path / "state")
    now = time.time()

    [first] = s.statuses(now)
    assert (first.last_result.value, first.detail, len(runs)) == ("ok", "archive fs01-mon", 1)
    # borg list itself takes and drops the repository's lock: that is no change.
    assert s.statuses(now + 300) == [first] and len(runs) == 1

    create = run(["borg", "create", f"{repo}::fs01-tue", str(data)], env)
    assert create.returncode == 0, create.stderr
    [second] = s.statuses(now + 600)
    assert second.detail == "archive fs01-tue" and len(runs) == 3  # create, then the check
    s.statuses(now + 600 + 7200)  # unchanged, but the refresh period is over
    assert len(runs) == 4


@needs("borg")
def test_borg_wrong_passphrase_is_a_failure_naming_it(tmp_path: Path) -> None:
    repo, pw = tmp_path / "borg-repo", tmp_path / "borg.pw"
    pw.write_text("not it\n")
    env = {"BORG_PASSPHRASE": "correct horse", "BORG_BASE_DIR": str(tmp_path / "admin")}
    assert run(["borg", "init", "--encryption=repokey", str(repo)], env).returncode == 0
    s = sampler_for(f"""
        [[sampler.backup.borg]]
        job = "system"
        repository = "{repo}"
        passphrase_file = "{pw}"
    """, tmp_path / "state")
    [status] = s.statuses(time.time())
    assert status.last_result.value == "failed"
    assert "passphrase" in status.detail and "incorrect" in status.detail


# --- rsnapshot ---------------------------------------------------------------------------

@needs("rsnapshot", "rsync")
def test_rsnapshot_real_runs_ok_then_failed(tmp_path: Path, data: Path, tokyo: None) -> None:
    root, log, conf = tmp_path / "snapshots", tmp_path / "rsnapshot.log", tmp_path / "rs.conf"
    lines = ["config_version\t1.2", f"snapshot_root\t{root}/",
             f"cmd_rsync\t{shutil.which('rsync')}", "retain\tdaily\t3", f"logfile\t{log}",
             f"lockfile\t{tmp_path / 'rsnapshot.pid'}", f"backup\t{data}/\tlocalhost/"]
    conf.write_text("\n".join(lines) + "\n")
    ok = run(["rsnapshot", "-c", str(conf), "daily"], {})
    assert ok.returncode == 0, ok.stderr

    # Found the way an unconfigured agent finds the host's own rsnapshot.
    s = sampler_for("", tmp_path / "state", rsnapshot_config=conf)
    now = time.time()
    job = by_job([o for o in s.collect(now) if isinstance(o, Sample)])["default"]
    assert job["backup.result"] == 0.0
    assert 0.0 <= job["backup.success_age_hours"] < MINUTE_IN_HOURS

    conf.write_text("\n".join([*lines, f"backup\t{tmp_path / 'gone'}/\tlocalhost/"]) + "\n")
    failed = run(["rsnapshot", "-c", str(conf), "daily"], {})
    assert failed.returncode == 1
    [status] = s.statuses(time.time())
    assert status.last_result.value == "failed"
    assert "Source directory" in status.detail and "doesn't exist" in status.detail
    assert status.last_success is not None and status.last_success <= now


# --- markers -----------------------------------------------------------------------------

def test_marker_file_age_in_hours(tmp_path: Path) -> None:
    now = time.time()
    old = tmp_path / "dumps" / "erp-2026-11-20.sql.gz"
    old.parent.mkdir()
    old.write_bytes(b"\x1f\x8b")
    os.utime(old, (now - 30 * 3600, now - 30 * 3600))
    older = old.with_name("erp-2026-11-19.sql.gz")
    older.write_bytes(b"\x1f\x8b")
    os.utime(older, (now - 54 * 3600, now - 54 * 3600))
    s = sampler_for(f"""
        [[sampler.backup.marker]]
        job = "erp dump"
        path = "{tmp_path}/dumps/*.sql.gz"
    """, tmp_path / "state")
    job = by_job([o for o in s.collect(now) if isinstance(o, Sample)])["erp dump"]
    assert job["backup.result"] == 0.0
    assert job["backup.success_age_hours"] == pytest.approx(30.0, abs=1e-6)


@needs("sh")
def test_command_marker_exit_status(tmp_path: Path) -> None:
    s = sampler_for("""
        [[sampler.backup.marker]]
        job = "offsite"
        command = ["sh", "-c", "echo 'last copy is 3 days old' >&2; exit 1"]
        [[sampler.backup.marker]]
        job = "tape"
        command = ["sh", "-c", "exit 0"]
    """, tmp_path / "state")
    now = 1_800_000_000.0
    jobs = by_job([o for o in s.collect(now) if isinstance(o, Sample)])
    assert jobs["offsite"] == {"backup.result": 2.0, "backup.failed": 1.0,
                               "backup.last_run_age_hours": 0.0}
    assert jobs["tape"] == {"backup.result": 0.0, "backup.failed": 0.0,
                            "backup.success_age_hours": 0.0, "backup.last_run_age_hours": 0.0}
    offsite = next(st for st in s.statuses(now) if st.job == "offsite")
    assert offsite.detail == "sh exited with status 1: last copy is 3 days old"


# --- nothing configured ------------------------------------------------------------------

@needs("restic", "borg", "rsnapshot")
def test_installed_tools_without_configuration_yield_nothing(tmp_path: Path) -> None:
    host_conf = Path(rsnapshot.DEFAULT_CONFIG)
    if rsnapshot.detect(host_conf) is not None:
        pytest.skip(f"{host_conf} on this host names a log file: rsnapshot is in use here")
    s = BackupSampler.create(None, SamplerContext(tmp_path, "fs01"))
    assert s.collect(time.time()) == []
