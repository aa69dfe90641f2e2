"""BorgBackup: the newest archive of a repository is the job's last success.

Read: `borg --log-json list --json --last 1` with borg's state kept in the agent's state
directory (BORG_BASE_DIR), never prompting: a moved repository, or an unencrypted one this
agent has not seen before, is refused rather than trusted. Parse: the JSON (archive times
are naive local time, verified with borg 1.2.4) or, on failure, borg's JSON log lines.

Like restic, borg keeps no record of failed runs: they show as a growing success age
(see ../shared/notes/platform.md, 3d).

Each run costs borg's key derivation, so the backup sampler asks again only when `state`
(from a few stat calls) has changed, or after its refresh period (see `_recheck`).
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

from agent.samplers._backup_common import (
    BackupResult,
    BackupStatus,
    absolute_path,
    clip,
    job_name,
    optional_str,
    repository,
    timeout,
)
from agent.samplers._command import CommandError, CommandResult, run_command
from agent.samplers._localtime import local_timestamp
from agent.samplers._recheck import entries, stat
from watchkeeper.tomlconf import Table

TOOL = "borg"
MAX_LOCK_WAIT = 30

# What a refused yes/no question means, in words for whoever reads the alert.
_REFUSALS = {
    "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK":
        "refused an unencrypted repository this agent has not seen before",
    "BORG_RELOCATED_REPO_ACCESS_IS_OK":
        "refused a repository that was previously at another location",
}


@dataclass(frozen=True, slots=True)
class BorgJob:
    job: str
    repository: str
    passcommand: str | None = None
    passphrase_file: str | None = None
    glob_archives: str | None = None
    timeout: float = 120.0

    @property
    def lock_wait(self) -> int:
        # Wait for a running backup's lock a while, but give up well inside the timeout
        # so the answer is "locked" (running) rather than "no answer".
        return max(1, min(MAX_LOCK_WAIT, int(self.timeout / 2)))


def job_from_table(t: Table) -> BorgJob:
    """One `[[sampler.backup.borg]]` entry."""
    job = BorgJob(
        job=job_name(t),
        repository=repository(t),
        passcommand=optional_str(t, "passcommand"),
        passphrase_file=absolute_path(t, "passphrase_file", required=False),
        glob_archives=optional_str(t, "glob_archives"),
        timeout=timeout(t),
    )
    if ("passcommand" in t.data) == ("passphrase_file" in t.data):
        # Without either, borg would ask on the terminal; the agent has none.
        t.problem("passphrase_file", "give exactly one of passphrase_file and passcommand")
    t.done()
    return job


def argv(job: BorgJob) -> list[str]:
    args = ["borg", "--log-json", "list", "--json", "--last", "1",
            "--lock-wait", str(job.lock_wait)]
    if job.glob_archives is not None:
        args += ["--glob-archives", job.glob_archives]
    return [*args, job.repository]


def environment(job: BorgJob, base_dir: Path, passphrase: str | None) -> dict[str, str]:
    env = {"BORG_BASE_DIR": str(base_dir), "BORG_RELOCATED_REPO_ACCESS_IS_OK": "no",
           "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no"}
    if job.passcommand is not None:
        env["BORG_PASSCOMMAND"] = job.passcommand
    if passphrase is not None:
        env["BORG_PASSPHRASE"] = passphrase
    return env


# Every committed transaction N (a backup, a prune, a checkpoint during a long backup)
# writes hints.N, index.N and integrity.N and deletes the previous ones; the repokey is kept
# in `config`. lock.exclusive is there while anyone holds the lock: a `borg create` for its
# whole run, and `borg list` itself only while it runs (verified with borg 1.2.4).
_STATE_PREFIXES = ("hints.", "index.", "integrity.")
_STATE_NAMES = frozenset({"config", "lock.exclusive"})


def is_state_file(name: str) -> bool:
    """A file in a repository's top directory whose change can change `borg list`'s answer
    (or make it "running")."""
    return name in _STATE_NAMES or name.startswith(_STATE_PREFIXES)


def state(job: BorgJob, local: bool) -> Hashable:
    """What `borg list` answers from: the passphrase file (a passcommand's answer cannot be
    seen without running it) and, for a `local` repository, its transaction files. Not the
    top directory's own mtime: `borg list` changes it, by taking and dropping its lock."""
    secret = stat(Path(job.passphrase_file)) if job.passphrase_file is not None else None
    if not local:
        return (secret,)
    return secret, entries(Path(job.repository), is_state_file)


def _local_time(text: str, tz: tzinfo | None) -> float:
    """borg's naive local time; `tz` None means the agent host's zone (borg runs there)."""
    return local_timestamp(datetime.fromisoformat(text), tz)


def parse_list(job: str, stdout: str, tz: tzinfo | None = None) -> BackupStatus:
    """The status from the JSON of a successful `borg list --json --last 1`."""
    try:
        archives = json.loads(stdout)["archives"]
        if not archives:
            return BackupStatus(TOOL, job, None, BackupResult.FAILED, None,
                                "no archive in the repository matches this job")
        newest = max(archives, key=lambda a: _local_time(a["start"], tz))
        start = _local_time(newest["start"], tz)
    except (ValueError, TypeError, KeyError) as exc:
        return BackupStatus(TOOL, job, None, BackupResult.UNKNOWN, None,
                            clip(f"borg list printed something unexpected: {exc}"))
    return BackupStatus(TOOL, job, start, BackupResult.OK, start,
                        f"archive {newest.get('name', '?')}")


def error_detail(stderr: str) -> tuple[str | None, str]:
    """(msgid, reason) from borg's `--log-json` stderr: a refused safety question first,
    else the last error message, else the last plain line."""
    last_error: tuple[str | None, str] | None = None
    plain = ""
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            plain = line
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("type") == "question_accepted_false" and entry.get("msgid") in _REFUSALS:
            return entry["msgid"], _REFUSALS[entry["msgid"]]
        if entry.get("type") == "log_message" and entry.get("levelname") in ("ERROR",
                                                                           "CRITICAL"):
            last_error = (entry.get("msgid"), str(entry.get("message", "")))
    if last_error is not None:
        return last_error
    return None, plain


def parse(job: str, result: CommandResult, tz: tzinfo | None = None) -> BackupStatus:
    # Exit 1 is a warning about the listing itself (the JSON is complete), not about
    # the backups, so it is judged by the archives like 0.
    if result.returncode in (0, 1):
        return parse_list(job, result.stdout, tz)
    msgid, reason = error_detail(result.stderr)
    detail = clip(f"borg: {reason or 'failed'} (exit status {result.returncode})")
    if msgid == "LockTimeout":
        # `borg create` holds the repository's exclusive lock for the whole backup.
        return BackupStatus(TOOL, job, None, BackupResult.RUNNING, None, detail)
    return BackupStatus(TOOL, job, None, BackupResult.FAILED, None, detail)


def _passphrase(path: str) -> str:
    text = Path(path).read_text(encoding="utf-8")
    # Editors add a final line ending; it is not part of the passphrase.
    return text.removesuffix("\n").removesuffix("\r")


def status(job: BorgJob, base_dir: Path) -> BackupStatus:
    passphrase = None
    if job.passphrase_file is not None:
        try:
            passphrase = _passphrase(job.passphrase_file)
        except (OSError, UnicodeDecodeError) as exc:
            return BackupStatus(TOOL, job.job, None, BackupResult.FAILED, None,
                                clip(f"cannot read passphrase_file {job.passphrase_file}: "
                                     f"{getattr(exc, 'strerror', None) or exc}"))
    try:
        result = run_command(argv(job), timeout=job.timeout,
                             env=environment(job, base_dir, passphrase))
    except CommandError as exc:
        return BackupStatus(TOOL, job.job, None, BackupResult.UNKNOWN, None, clip(str(exc)))
    return parse(job.job, result)
