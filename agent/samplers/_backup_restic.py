"""restic: the newest snapshot of a repository is the job's last success.

Read: `restic snapshots --json --latest 1 --no-lock` (no lock, so a running backup or prune
does not block the check) with the repository, password file and cache directory in the
environment. Parse: the JSON array (one entry per host and path set, so the newest `time`
wins) or, on failure, the exit status and restic's "Fatal:" line.

restic keeps no record of failed runs: a backup that fails leaves no snapshot, which shows
up here as a growing success age (see ../shared/notes/platform.md, 3c).

Each run costs restic's key derivation (~0.5 CPU s), so the backup sampler asks again only
when `state` (what the answer depends on, from a few stat calls) has changed, or after its
refresh period (see `_recheck`).
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
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
from agent.samplers._recheck import names, stat
from watchkeeper.tomlconf import Table

TOOL = "restic"

# restic >= 0.17 (restic.readthedocs.io, "Scripting"); 0.14 returns 1 for all of these.
_EXIT_REASONS = {10: "the repository does not exist", 11: "the repository is locked",
                 12: "wrong password"}


@dataclass(frozen=True, slots=True)
class ResticJob:
    job: str
    repository: str
    password_file: str
    host: str | None = None
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cache_dir: str | None = None
    timeout: float = 120.0


def job_from_table(t: Table) -> ResticJob:
    """One `[[sampler.backup.restic]]` entry."""
    job = ResticJob(
        job=job_name(t),
        repository=repository(t),
        password_file=absolute_path(t, "password_file") or "",
        host=optional_str(t, "host"),
        paths=tuple(t.str_list("paths", []) or ()),
        tags=tuple(t.str_list("tags", []) or ()),
        cache_dir=absolute_path(t, "cache_dir", required=False),
        timeout=timeout(t),
    )
    for i, path in enumerate(job.paths):
        # restic compares --path with the absolute paths stored in snapshots.
        if not Path(path).is_absolute():
            t.problem("paths", f"entry {i + 1} must be an absolute path, got {path!r}")
    t.done()
    return job


def argv(job: ResticJob) -> list[str]:
    args = ["restic", "snapshots", "--json", "--latest", "1", "--no-lock"]
    if job.host is not None:
        args += ["--host", job.host]
    for path in job.paths:
        args += ["--path", path]
    for tag in job.tags:
        # Repeated --tag means "any of these"; "a,b" in one entry means "both".
        args += ["--tag", tag]
    return args


def environment(job: ResticJob, default_cache: Path) -> dict[str, str]:
    return {"RESTIC_REPOSITORY": job.repository, "RESTIC_PASSWORD_FILE": job.password_file,
            "RESTIC_CACHE_DIR": job.cache_dir or str(default_cache)}


def state(job: ResticJob, local: bool) -> Hashable:
    """What `restic snapshots` answers from: the password file and, for a `local`
    repository, its config, keys and snapshot names (a snapshot file is named by the hash
    of its content and never changed, so its name stands for it). Locks are left out:
    `--no-lock` does not read them. A remote repository is only asked over the network."""
    secret = stat(Path(job.password_file))
    if not local:
        return (secret,)
    repo = Path(job.repository)
    return secret, stat(repo / "config"), names(repo / "keys"), names(repo / "snapshots")


def _time(text: str) -> float:
    """RFC 3339 with nanoseconds and an offset ("2026-11-22T02:49:42.194343425+01:00")."""
    return datetime.fromisoformat(text).timestamp()


def parse_snapshots(job: str, stdout: str) -> BackupStatus:
    """The status from the JSON of a successful `restic snapshots --json --latest 1`."""
    try:
        snapshots = json.loads(stdout)
        newest = max(snapshots, key=lambda s: _time(s["time"])) if snapshots else None
        if newest is None:
            return BackupStatus(TOOL, job, None, BackupResult.FAILED, None,
                                "no snapshot in the repository matches this job")
        success = _time(newest["time"])
        # restic >= 0.17 records when the backup ended; `time` is when it started.
        end = (newest.get("summary") or {}).get("backup_end")
        last_run = _time(end) if end else success
    except (ValueError, TypeError, KeyError) as exc:
        return BackupStatus(TOOL, job, None, BackupResult.UNKNOWN, None,
                            clip(f"restic snapshots printed something unexpected: {exc}"))
    return BackupStatus(TOOL, job, last_run, BackupResult.OK, success,
                        f"snapshot {newest.get('short_id', '?')} of {newest.get('hostname', '?')}")


def error_detail(returncode: int, stderr: str) -> str:
    """restic's own reason: its "Fatal:" line (the last line of a missing-repository error
    is just the path), named by the exit status where restic >= 0.17 gives one."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    fatal = next((ln for ln in lines if "Fatal:" in ln), lines[-1] if lines else "")
    said = fatal.removeprefix("Fatal: ")
    reason = _EXIT_REASONS.get(returncode)
    parts = [p for p in (reason, said) if p]
    return clip(f"restic: {': '.join(parts) or 'failed'} (exit status {returncode})")


def parse(job: str, result: CommandResult) -> BackupStatus:
    if result.returncode == 0:
        return parse_snapshots(job, result.stdout)
    # Wrong password, missing repository, unreachable server, unknown new exit codes:
    # all mean nobody can restore from this job right now.
    return BackupStatus(TOOL, job, None, BackupResult.FAILED, None,
                        error_detail(result.returncode, result.stderr))


def status(job: ResticJob, default_cache: Path) -> BackupStatus:
    try:
        result = run_command(argv(job), timeout=job.timeout,
                             env=environment(job, default_cache))
    except CommandError as exc:
        return BackupStatus(TOOL, job.job, None, BackupResult.UNKNOWN, None, clip(str(exc)))
    return parse(job.job, result)
