"""Any other backup: a file its script touches on success, or a command that checks it.

A `path` marker (a file or a glob) reports the newest match's modification time as the
last success; the age rule does the judging. A `command` marker runs a check whose exit
status is the verdict (0 = ok), so its last run and, when it passes, its last success are
"now" (see ../shared/notes/platform.md, 3g).
"""

from __future__ import annotations

import glob
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

from agent.samplers._backup_common import (
    BackupResult,
    BackupStatus,
    absolute_path,
    clip,
    job_name,
    timeout,
)
from agent.samplers._command import CommandError, CommandResult, run_command
from watchkeeper.tomlconf import Table

TOOL = "marker"
# A "**" glob over a big share could list millions of files every five minutes.
MAX_MATCHES = 10_000


@dataclass(frozen=True, slots=True)
class MarkerJob:
    job: str
    path: str | None = None
    command: tuple[str, ...] = ()
    timeout: float = 120.0


def job_from_table(t: Table) -> MarkerJob:
    """One `[[sampler.backup.marker]]` entry: exactly one of `path` and `command`."""
    name = job_name(t)
    has_path, has_command = "path" in t.data, "command" in t.data
    path = absolute_path(t, "path", required=False)
    command = t.str_list("command") if has_command else None
    if has_path == has_command:
        t.problem("path", "give exactly one of path (a file or glob) and command (a list)")
    if command is not None and not command:
        t.problem("command", "must name a program: [\"/path/to/check\", \"arg\", ...]")
    if has_path and "timeout" in t.data:
        t.problem("timeout", "applies to command markers only")
    job = MarkerJob(name, path, tuple(command or ()), timeout(t))
    t.done()
    return job


def path_status(job: str, pattern: str, mtimes: Sequence[float], capped: bool) -> BackupStatus:
    """The status from the modification times of the files `pattern` matched."""
    last = max(mtimes) if mtimes else None
    if last is None:
        return BackupStatus(TOOL, job, None, BackupResult.FAILED, None,
                            clip(f"no file matches {pattern}"))
    detail = f"newest of the first {MAX_MATCHES} matches" if capped else ""
    return BackupStatus(TOOL, job, last, BackupResult.OK, last, detail)


def command_status(job: str, result: CommandResult, now: float) -> BackupStatus:
    if result.returncode == 0:
        return BackupStatus(TOOL, job, now, BackupResult.OK, now, "")
    said = [ln for ln in (result.stderr + "\n" + result.stdout).splitlines() if ln.strip()]
    detail = said[0] if said else ""
    return BackupStatus(TOOL, job, now, BackupResult.FAILED, None,
                        clip(f"{result.argv[0]} exited with status {result.returncode}"
                             + (f": {detail}" if detail else "")))


def _mtimes(pattern: str) -> tuple[list[float], bool]:
    found: list[float] = []
    matches = list(itertools.islice(glob.iglob(pattern, recursive=True), MAX_MATCHES + 1))
    for match in matches[:MAX_MATCHES]:
        try:
            found.append(os.stat(match).st_mtime)
        except OSError:
            continue  # removed between listing and stat: a rotation in progress
    return found, len(matches) > MAX_MATCHES


def status(job: MarkerJob, now: float) -> BackupStatus:
    if job.path is not None:
        mtimes, capped = _mtimes(job.path)
        return path_status(job.job, job.path, mtimes, capped)
    try:
        result = run_command(job.command, timeout=job.timeout)
    except CommandError as exc:
        return BackupStatus(TOOL, job.job, now, BackupResult.UNKNOWN, None, clip(str(exc)))
    return command_status(job.job, result, now)
