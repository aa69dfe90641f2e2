"""Expensive checks (restic, borg, apt-get -s, dnf, Windows Update, dpkg-query) run again
only when their answer may have changed: the rule, the fingerprints it compares, and what
the backup, updates and inventory samplers report in between."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import _backup_borg as borg
from agent.samplers import _backup_restic as restic
from agent.samplers import _inventory_linux as linux
from agent.samplers import _recheck
from agent.samplers import _updates_apt as apt
from agent.samplers import _updates_windows as windows
from agent.samplers import backup as backup_module
from agent.samplers._backup_common import BackupResult, BackupStatus
from agent.samplers._command import CommandResult
from agent.samplers._recheck import Checked, Checks, entries, is_rpmdb_data, must_run, stat
from agent.samplers.backup import BackupSampler, BackupSettings, configure_backup
from agent.samplers.updates import Manager, Pending, UpdatesSampler
from rules.model import Sample
from watchkeeper.tomlconf import Table

NOW = 1_800_000_000.0
HOUR = 3600.0


# --- the rule ----------------------------------------------------------------------------

def checked(fingerprint: Hashable = "fp", at: float = NOW - 60, ok: bool = True
            ) -> Checked[str]:
    return Checked(fingerprint, at, "answer", ok)


@pytest.mark.parametrize(("last", "fingerprint", "now", "run"), [
    (None, "fp", NOW, True),                                  # never asked
    (checked(), "fp", NOW, False),                            # unchanged and recent
    (checked(), "fp2", NOW, True),                            # changed
    (checked(ok=False), "fp", NOW, True),                     # last answer was a failure
    (checked(at=NOW - HOUR + 1), "fp", NOW, False),
    (checked(at=NOW - HOUR), "fp", NOW, True),                # refresh period is over
    (checked(at=NOW + 60), "fp", NOW, True),                  # clock went back
    (checked(fingerprint=None), None, NOW, False),            # "absent" is a state too
])
def test_must_run(last: Checked[str] | None, fingerprint: Hashable, now: float,
                  run: bool) -> None:
    assert must_run(fingerprint, last, now, HOUR) is run


def test_a_zero_refresh_runs_every_time() -> None:
    assert must_run("fp", checked(at=NOW), NOW, 0.0)


class Tool:
    """A check that counts its runs and can be made to fail."""

    def __init__(self) -> None:
        self.runs = 0
        self.fail = False

    def __call__(self) -> str:
        self.runs += 1
        if self.fail:
            raise RuntimeError("broken")
        return f"answer {self.runs}"


def test_checks_reuse_the_answer_until_the_rule_says_run() -> None:
    checks: Checks[str, str] = Checks()
    tool = Tool()
    assert checks.answer("job", "fp", NOW, HOUR, tool) == "answer 1"
    assert checks.answer("job", "fp", NOW + 300, HOUR, tool) == "answer 1"
    assert checks.answer("other", "fp", NOW + 300, HOUR, tool) == "answer 2"  # per key
    assert checks.answer("job", "fp2", NOW + 600, HOUR, tool) == "answer 3"
    assert checks.answer("job", "fp2", NOW + 600 + HOUR, HOUR, tool) == "answer 4"
    assert tool.runs == 4


def test_a_bad_answer_is_asked_again_every_time() -> None:
    checks: Checks[str, str] = Checks()
    tool = Tool()
    for i in range(3):
        checks.answer("job", "fp", NOW + i, HOUR, tool, ok=lambda answer: False)
    assert tool.runs == 3


def test_a_run_that_raises_leaves_nothing_to_reuse() -> None:
    checks: Checks[str, str] = Checks()
    tool = Tool()
    checks.answer("job", "fp", NOW, HOUR, tool)
    tool.fail = True
    with pytest.raises(RuntimeError):
        checks.answer("job", "fp", NOW + HOUR, HOUR, tool)
    tool.fail = False
    assert checks.answer("job", "fp", NOW + HOUR + 1, HOUR, tool) == "answer 3"


# --- thin readers ------------------------------------------------------------------------

def test_stat_sees_a_file_replaced_with_the_same_mtime_and_size(tmp_path: Path) -> None:
    f, new = tmp_path / "status", tmp_path / "status-new"
    f.write_text("a")
    before = stat(f)
    new.write_text("b")
    os.utime(new, ns=(os.stat(f).st_atime_ns, os.stat(f).st_mtime_ns))
    new.rename(f)  # as dpkg replaces its status file
    assert before is not None and stat(f) != before
    assert stat(tmp_path / "missing") is None and stat(Path("/bad\0path")) is None


def test_entries_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("x")
    (tmp_path / "drop").write_text("x")
    assert entries(tmp_path, lambda name: name != "drop") == (("keep", stat(tmp_path / "keep")),)
    assert entries(tmp_path / "missing") is None


@pytest.mark.parametrize(("name", "data"), [
    ("rpmdb.sqlite", True), ("rpmdb.sqlite-wal", True), ("Packages", True), ("Name", True),
    ("rpmdb.sqlite-shm", False), (".rpm.lock", False), ("__db.001", False),
    (".dbenv.lock", False),
])
def test_rpmdb_files_that_readers_write_are_left_out(name: str, data: bool) -> None:
    assert is_rpmdb_data(name) is data


def test_package_db_state_follows_dpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, updates = tmp_path / "status", tmp_path / "updates"
    status.write_text("Package: bash\n")
    updates.mkdir()
    monkeypatch.setattr(_recheck, "DPKG_STATUS", status)
    monkeypatch.setattr(_recheck, "DPKG_UPDATES", updates)
    monkeypatch.setattr(_recheck, "RPMDB_DIRS", ())
    before = _recheck.package_db_state()
    assert _recheck.package_db_state() == before
    (updates / "0000").write_text("Package: nginx\n")  # dpkg is installing something
    assert _recheck.package_db_state() != before


# --- restic and borg fingerprints --------------------------------------------------------

def restic_repo(tmp_path: Path) -> tuple[restic.ResticJob, Path]:
    repo, pw = tmp_path / "repo", tmp_path / "pw"
    for sub in ("keys", "snapshots", "locks", "data", "index"):
        (repo / sub).mkdir(parents=True)
    (repo / "config").write_bytes(b"c")
    (repo / "keys" / "k1").write_bytes(b"k")
    (repo / "snapshots" / "s1").write_bytes(b"s")
    pw.write_text("correct horse\n")
    return restic.ResticJob("nightly", str(repo), str(pw)), repo


def test_restic_state_changes_with_snapshots_keys_and_password(tmp_path: Path) -> None:
    job, repo = restic_repo(tmp_path)
    before = restic.state(job, True)
    (repo / "locks" / "l1").write_bytes(b"l")  # a running backup's lock
    (repo / "data" / "d1").write_bytes(b"d")
    (repo / "index" / "i1").write_bytes(b"i")
    assert restic.state(job, True) == before
    (repo / "snapshots" / "s2").write_bytes(b"s")
    assert restic.state(job, True) != before
    before = restic.state(job, True)
    (repo / "keys" / "k2").write_bytes(b"k")
    assert restic.state(job, True) != before
    before = restic.state(job, True)
    Path(job.password_file).write_text("battery staple\n")
    assert restic.state(job, True) != before


def test_remote_state_is_only_the_password_file(tmp_path: Path) -> None:
    job, _ = restic_repo(tmp_path)
    assert restic.state(job, False) == (stat(Path(job.password_file)),)


def borg_repo(tmp_path: Path) -> tuple[borg.BorgJob, Path]:
    repo = tmp_path / "borg"
    (repo / "data" / "0").mkdir(parents=True)
    for name in ("README", "config", "nonce", "hints.5", "index.5", "integrity.5"):
        (repo / name).write_bytes(b"x")
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    return borg.BorgJob("system", str(repo), passphrase_file=str(pw)), repo


def test_borg_state_changes_with_a_transaction_or_a_lock(tmp_path: Path) -> None:
    job, repo = borg_repo(tmp_path)
    before = borg.state(job, True)
    (repo / "lock.roster").write_text("{}")  # what a reader leaves behind while it runs
    (repo / "data" / "0" / "6").write_bytes(b"segment")  # a backup being written
    assert borg.state(job, True) == before
    (repo / "lock.exclusive").mkdir()  # borg create holds the lock
    locked = borg.state(job, True)
    assert locked != before
    (repo / "lock.exclusive").rmdir()
    for n in ("hints", "index", "integrity"):
        (repo / f"{n}.5").rename(repo / f"{n}.9")  # the backup committed
    assert borg.state(job, True) not in (before, locked)


def test_borg_with_a_passcommand_has_no_secret_to_watch() -> None:
    job = borg.BorgJob("system", "ssh://nas/./borg", passcommand="pass show borg")
    assert borg.state(job, False) == (None,)


# --- the backup sampler in between real checks -------------------------------------------

class FakeRestic:
    """restic.status, counting its runs: a snapshot two hours old, or a failure."""

    def __init__(self) -> None:
        self.runs = 0
        self.answer = BackupResult.OK

    def __call__(self, job: restic.ResticJob, cache: Path) -> BackupStatus:
        self.runs += 1
        if self.answer is not BackupResult.OK:
            return BackupStatus("restic", job.job, None, self.answer, None, "broken")
        return BackupStatus("restic", job.job, NOW - 2 * HOUR, BackupResult.OK, NOW - 2 * HOUR)


def values(samples: list[Any]) -> dict[str, float]:
    return {s.metric: s.value for s in samples if isinstance(s, Sample)}


@pytest.fixture
def fake_restic(monkeypatch: pytest.MonkeyPatch) -> FakeRestic:
    fake = FakeRestic()
    monkeypatch.setattr(backup_module.restic, "status", fake)
    return fake


def test_local_repository_is_asked_again_only_when_it_changed(
        tmp_path: Path, fake_restic: FakeRestic) -> None:
    job, repo = restic_repo(tmp_path)
    s = BackupSampler(BackupSettings(restic=(job,)), tmp_path / "state")
    first = values(s.collect(NOW))
    later = values(s.collect(NOW + 1800))
    assert fake_restic.runs == 1
    # The same answer, its ages counted from the later `now`.
    assert first["backup.success_age_hours"] == 2.0
    assert later["backup.success_age_hours"] == 2.5
    assert later["backup.result"] == first["backup.result"] == 0.0

    (repo / "snapshots" / "s2").write_bytes(b"s")
    s.collect(NOW + 2100)
    assert fake_restic.runs == 2
    s.collect(NOW + 2100 + HOUR)  # unchanged, but the refresh period is over
    assert fake_restic.runs == 3


def test_a_failing_job_is_asked_every_run(tmp_path: Path, fake_restic: FakeRestic) -> None:
    job, _ = restic_repo(tmp_path)
    fake_restic.answer = BackupResult.FAILED
    s = BackupSampler(BackupSettings(restic=(job,)), tmp_path / "state")
    assert values(s.collect(NOW))["backup.failed"] == 1.0
    fake_restic.answer = BackupResult.OK
    assert values(s.collect(NOW + 300))["backup.failed"] == 0.0
    assert fake_restic.runs == 2


def test_remote_repository_is_asked_every_remote_interval(
        tmp_path: Path, fake_restic: FakeRestic) -> None:
    job, _ = restic_repo(tmp_path)
    remote = restic.ResticJob("offsite", "sftp:backup@nas:/restic", job.password_file)
    s = BackupSampler(BackupSettings(restic=(remote,), remote_interval=1800.0),
                      tmp_path / "state")
    for minutes in (0, 5, 10, 25):
        s.collect(NOW + minutes * 60)
    assert fake_restic.runs == 1
    s.collect(NOW + 30 * 60)
    assert fake_restic.runs == 2
    Path(job.password_file).write_text("new password\n")  # the admin fixed it: seen at once
    s.collect(NOW + 35 * 60)
    assert fake_restic.runs == 3


def backup_settings(toml: str) -> tuple[BackupSettings, list[str]]:
    t = Table(tomllib.loads(toml), "agent.toml")
    settings = configure_backup(t.table("sampler").table("backup"))
    return settings, [str(p) for p in t.problems]


def test_backup_refresh_settings() -> None:
    assert backup_settings("") == (BackupSettings(refresh=HOUR, remote_interval=1800.0), [])
    settings, problems = backup_settings(
        '[sampler.backup]\nrefresh = "0s"\nremote_interval = "2h"')
    assert (settings.refresh, settings.remote_interval, problems) == (0.0, 7200.0, [])
    _, problems = backup_settings('[sampler.backup]\nrefresh = "soon"')
    assert problems == ["agent.toml: sampler.backup.refresh: 'soon' is not a duration; use a"
                        " number with s, m, h or d, such as '90s' or '1h30m'"]


# --- updates -----------------------------------------------------------------------------

class Manager_:
    """A package manager whose state can change; counts how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0
        self.packages = 3
        self.state: Hashable = ("status", 1)

    def read(self, manager: Manager, timeout: float) -> Pending:
        self.asked += 1
        return Pending(self.packages, 1, False)


def test_updates_are_asked_again_when_the_package_state_changes() -> None:
    host = Manager_()
    sampler = UpdatesSampler(Manager.APT, 60.0, host.read, state=lambda m: host.state)
    assert [s.value for s in sampler.collect(NOW)] == [3.0, 1.0, 0.0]
    host.packages = 2  # invisible: apt is not asked while nothing changed
    assert [s.value for s in sampler.collect(NOW + HOUR)] == [3.0, 1.0, 0.0]
    assert sampler.collect(NOW + HOUR)[0].at == NOW + HOUR
    host.state = ("status", 2)  # `apt upgrade` rewrote dpkg's status
    assert [s.value for s in sampler.collect(NOW + 2 * HOUR)] == [2.0, 1.0, 0.0]
    assert host.asked == 2


@pytest.mark.parametrize(("manager", "refresh", "hours"), [
    (Manager.APT, None, 24), (Manager.DNF, None, 24), (Manager.WINDOWS, None, 6),
    (Manager.APT, 2 * HOUR, 2),
])
def test_unchanged_state_is_asked_again_after_the_refresh_period(
        manager: Manager, refresh: float | None, hours: int) -> None:
    host = Manager_()
    sampler = UpdatesSampler(manager, 60.0, host.read, refresh=refresh,
                             state=lambda m: host.state)
    for h in range(hours):
        sampler.collect(NOW + h * HOUR)
    assert host.asked == 1
    sampler.collect(NOW + hours * HOUR)
    assert host.asked == 2


def test_a_failed_update_check_is_tried_again_next_run() -> None:
    host = Manager_()
    calls: list[float] = []

    def flaky(manager: Manager, timeout: float) -> Pending:
        calls.append(timeout)
        if len(calls) == 1:
            raise RuntimeError("apt-get -s dist-upgrade: E: Could not open lock file")
        return host.read(manager, timeout)

    sampler = UpdatesSampler(Manager.APT, 60.0, flaky, state=lambda m: host.state)
    with pytest.raises(RuntimeError):
        sampler.collect(NOW)
    assert sampler.collect(NOW + HOUR)[0].value == 3.0


def test_updates_refresh_setting() -> None:
    t = Table({"refresh": "12h"}, "agent.toml", "sampler.updates")
    assert UpdatesSampler.configure(t).refresh == 12 * HOUR and t.problems == []
    t = Table({}, "agent.toml", "sampler.updates")
    assert UpdatesSampler.configure(t).refresh is None  # the manager's own


def test_apt_state_sees_lists_pinning_and_the_reboot_flag(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lists, prefs = tmp_path / "lists", tmp_path / "preferences.d"
    lists.mkdir()
    prefs.mkdir()
    monkeypatch.setattr(apt, "LISTS", lists)
    monkeypatch.setattr(apt, "PREFERENCES_D", prefs)
    monkeypatch.setattr(apt, "REBOOT_FLAG", tmp_path / "reboot-required")
    states = [apt.state()]
    (lists / "deb.debian.org_debian_dists_bookworm_InRelease").write_text("x")  # apt update
    states.append(apt.state())
    (prefs / "pin").write_text("Package: *\nPin: release a=stable\nPin-Priority: 900\n")
    states.append(apt.state())
    (tmp_path / "reboot-required").write_text("*** System restart required ***\n")
    states.append(apt.state())
    assert len(set(states)) == 4
    assert apt.state() == states[-1]


def test_windows_state_is_the_reboot_pending_keys() -> None:
    present = {windows.REBOOT_KEYS[0]}
    assert windows.state(lambda key: key in present) == (True, False)
    assert windows.state(lambda key: None) == (None, None)  # no access: a state of its own


# --- inventory ---------------------------------------------------------------------------

def test_package_list_is_read_again_only_when_the_database_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[str] = []

    def dpkg_query(argv: Any, **kw: Any) -> CommandResult:
        listed.append(argv[0])
        return CommandResult(tuple(argv), 0, f"ii \tbash\t5.{len(listed)}\tamd64\n", "")

    monkeypatch.setattr(linux, "run_command", dpkg_query)
    db: list[Hashable] = ["v1"]
    reader = linux.Reader(lambda program: f"/usr/bin/{program}", lambda: db[0])
    first = reader.read(True).software
    assert reader.read(True).software == first
    assert listed == ["dpkg-query"]
    db[0] = "v2"
    assert reader.read(True).software == {
        "manager": "dpkg", "packages": [{"name": "bash", "version": "5.2", "arch": "amd64"}]}
    assert reader.read(False).software is None and len(listed) == 2
