"""What every backup source reports: one `BackupStatus` per job, and how it becomes samples.

Each tool module (`_backup_restic`, `_backup_borg`, `_backup_rsnapshot`, `_backup_marker`,
`_backup_windows`) reads its tool thinly and parses purely into a `BackupStatus`; the
`backup` sampler turns statuses into the samples the default rule pack judges. The helpers
for validating `[[sampler.backup.TOOL]]` tables live here too, so every tool spells
"job", paths and timeouts the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from rules.model import Sample
from watchkeeper.tomlconf import Table

DEFAULT_TIMEOUT = "120s"
MAX_DETAIL = 300

# Tools read from Windows event logs (`_backup_windows`), over the last EVENT_WINDOW_DAYS.
WSB, VEEAM_AGENT, VEEAM_BR = "wsb", "veeam_agent", "veeam_br"
EVENT_TOOLS = frozenset({WSB, VEEAM_AGENT, VEEAM_BR})
EVENT_WINDOW_DAYS = 8


class BackupResult(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    RUNNING = "running"
    UNKNOWN = "unknown"

    @property
    def code(self) -> float:
        """The value of `backup.result`: the metric contract's number for this result."""
        return _CODES[self]

    @property
    def finished(self) -> bool:
        """Whether the result is that of a finished run (so `backup.failed` is known)."""
        return self in (BackupResult.OK, BackupResult.WARNING, BackupResult.FAILED)


_CODES = {BackupResult.OK: 0.0, BackupResult.WARNING: 1.0, BackupResult.FAILED: 2.0,
          BackupResult.RUNNING: 3.0, BackupResult.UNKNOWN: 4.0}


@dataclass(frozen=True, slots=True)
class BackupStatus:
    """Where one backup job stands.

    `last_success` is the newest run that left a usable backup: a clean one, or one that
    finished with warnings (a partial restore point is still a restore point, and counting
    it keeps "warning" from also raising "no backup for N hours"). Windows Server Backup is
    the exception: only its event 4 counts (see `_backup_windows`). Times are epoch seconds;
    `detail` is for people (the tool's own words where it has some).
    """

    tool: str
    job: str
    last_run: float | None
    last_result: BackupResult
    last_success: float | None
    detail: str = ""

    def samples(self, now: float) -> list[Sample]:
        labels = {"tool": self.tool, "job": self.job}
        out = [Sample("backup.result", self.last_result.code, now, labels)]
        # Only a finished run says whether the last run failed. While a run is going, or
        # when the tool cannot be asked, the series gets no sample: the rule keeps its
        # state rather than clearing a real failure because a retry has started.
        if self.last_result.finished:
            failed = 1.0 if self.last_result is BackupResult.FAILED else 0.0
            out.append(Sample("backup.failed", failed, now, labels))
        if self.last_success is not None:
            out.append(Sample("backup.success_age_hours", _hours(now, self.last_success),
                              now, labels))
        if self.last_run is not None:
            out.append(Sample("backup.last_run_age_hours", _hours(now, self.last_run),
                              now, labels))
        return out


def _hours(now: float, then: float) -> float:
    # A time ahead of the agent's clock (a file server's skewed clock, a borg archive
    # written in another time zone) counts as "just now", not as a negative age.
    return max(0.0, now - then) / 3600.0


def clip(text: str) -> str:
    """A detail short enough for a log line and an alert: one line, MAX_DETAIL characters."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= MAX_DETAIL else one_line[:MAX_DETAIL - 1] + "…"


# --- configuration helpers ---------------------------------------------------------------

def job_name(t: Table) -> str:
    """The required `job` key: the `job` label of every sample of this job."""
    name = t.str("job")
    if name is None:
        return ""
    if not name.strip():
        t.problem("job", "must not be empty")
    return name.strip()


def optional_str(t: Table, key: str) -> str | None:
    """A string key that may be left out (None then)."""
    return t.str(key) if key in t.data else None


def absolute_path(t: Table, key: str, required: bool = True) -> str | None:
    """A path that must be absolute: the agent runs as a service, whose working directory
    is nobody's business."""
    value = t.str(key) if required else optional_str(t, key)
    if value is None:
        return None
    if not Path(value).is_absolute():
        t.problem(key, f"must be an absolute path, got {value!r}")
    return value


def timeout(t: Table) -> float:
    """How long one query of the tool may take (remote repositories are network calls)."""
    return t.duration("timeout", DEFAULT_TIMEOUT, positive=True) or 120.0


# A repository given as "scheme:..." (restic's sftp:, s3:, rest:, rclone:...; borg's
# ssh://... or user@host:path) is remote; anything else is a local path. A Windows drive
# letter ("D:\\restic") is a path, not a scheme.
_REMOTE = re.compile(r"^(?![A-Za-z]:[\\/])[A-Za-z0-9_.@+-]+:")


def repository(t: Table) -> str:
    """The required `repository`: a remote location, or an absolute local path."""
    value = t.str("repository")
    if value is None:
        return ""
    if not value.strip():
        t.problem("repository", "must not be empty")
    elif not _REMOTE.match(value) and not Path(value).is_absolute():
        t.problem("repository", f"a local repository must be an absolute path, got {value!r}")
    return value
