"""Backup status: one set of `backup.*` samples per job, labelled `tool` and `job`.

Jobs come from `[sampler.backup]` (restic, borg, rsnapshot and marker entries) and from
what the host has: its own rsnapshot when /etc/rsnapshot.conf names a log file, and on
Windows, Windows Server Backup and Veeam from their event logs. A host with none of these
yields nothing. Every job is asked on its own: a wrong password or a missing repository
makes that job "failed" (its tool could not be run: "unknown"), never hides the others.

Event logs are read over a window (EVENT_WINDOW_DAYS): a job that stops writing events would
drop out of it and silently stop being reported. So the sampler remembers each event-log
job's last run and success (checkpoint "backup") and keeps reporting it, as unknown, with
its success age still growing, for FORGET_AFTER.

restic and borg are asked again only when their answer may have changed (`_recheck`): a
local repository when a cheap fingerprint of its files changed, or `refresh` after the
last real run; a remote one, which cannot be fingerprinted without the network,
`remote_interval` after it; either every run while its last answer is not "ok". In between
the last answer is reported again, its ages computed from now, so "no backup for N hours"
fires on time.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from agent.samplers import Checkpoint, Configurable, Observation, SamplerContext, register
from agent.samplers import _backup_borg as borg
from agent.samplers import _backup_marker as marker
from agent.samplers import _backup_restic as restic
from agent.samplers import _backup_rsnapshot as rsnapshot
from agent.samplers._backup_common import (
    EVENT_TOOLS,
    EVENT_WINDOW_DAYS,
    VEEAM_AGENT,
    VEEAM_BR,
    WSB,
    BackupResult,
    BackupStatus,
    clip,
)
from agent.samplers._recheck import Checks
from watchkeeper.tomlconf import Table

log = logging.getLogger(__name__)

ON_WINDOWS = sys.platform == "win32"
CHECKPOINT = "backup"
FORGET_AFTER = 31 * 86400.0
REFRESH = 3600.0
"""Default `refresh`: a local restic/borg repository is asked again after this many seconds,
changed or not."""
REMOTE_INTERVAL = 1800.0
"""Default `remote_interval`: seconds between real checks of a remote repository."""


@dataclass(frozen=True, slots=True)
class BackupSettings:
    restic: tuple[restic.ResticJob, ...] = ()
    borg: tuple[borg.BorgJob, ...] = ()
    rsnapshot: tuple[rsnapshot.RsnapshotJob, ...] = ()
    marker: tuple[marker.MarkerJob, ...] = ()
    windows_server_backup: bool = False
    veeam: bool = False
    detect_rsnapshot: bool = True
    refresh: float = REFRESH
    remote_interval: float = REMOTE_INTERVAL

    @property
    def event_tools(self) -> tuple[str, ...]:
        return ((WSB,) if self.windows_server_backup else ()) + \
            ((VEEAM_AGENT, VEEAM_BR) if self.veeam else ())


def _windows_only(t: Table, key: str) -> bool:
    value = bool(t.bool(key, ON_WINDOWS))
    if value and not ON_WINDOWS:
        t.problem(key, "is read from the Windows event log: only possible on Windows")
    return value


def _seconds(t: Table, key: str, default: float) -> float:
    """A duration in seconds; "0s" means every run."""
    value = t.duration(key, default)
    return default if value is None else float(value)  # None: refused, and reported


def configure_backup(t: Table) -> BackupSettings:
    """Validate `[sampler.backup]`; job names must be unique per tool (they are labels)."""
    settings = BackupSettings(
        restic=tuple(restic.job_from_table(s) for s in t.tables("restic")),
        borg=tuple(borg.job_from_table(s) for s in t.tables("borg")),
        rsnapshot=tuple(rsnapshot.job_from_table(s) for s in t.tables("rsnapshot")),
        marker=tuple(marker.job_from_table(s) for s in t.tables("marker")),
        windows_server_backup=_windows_only(t, "windows_server_backup"),
        veeam=_windows_only(t, "veeam"),
        detect_rsnapshot=bool(t.bool("detect_rsnapshot", True)),
        refresh=_seconds(t, "refresh", REFRESH),
        remote_interval=_seconds(t, "remote_interval", REMOTE_INTERVAL),
    )
    jobs: dict[str, Iterable[Any]] = {"restic": settings.restic, "borg": settings.borg,
                                      "rsnapshot": settings.rsnapshot,
                                      "marker": settings.marker}
    for tool, entries in jobs.items():
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            if entry.job and entry.job in seen:
                t.problem(f"{tool}[{i}].job", f"{entry.job!r} is used by another {tool} job;"
                          " job names must differ")
            seen.add(entry.job)
    t.done()
    return settings


# --- remembering event-log jobs ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Remembered:
    tool: str
    job: str
    last_run: float | None
    last_success: float | None

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "job": self.job, "last_run": self.last_run,
                "last_success": self.last_success}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def load_memory(saved: Mapping[str, Any] | None) -> dict[tuple[str, str], Remembered]:
    """The checkpoint's jobs; anything malformed is dropped, never fatal."""
    out: dict[tuple[str, str], Remembered] = {}
    entries = (saved or {}).get("jobs")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        tool, job = entry.get("tool"), entry.get("job")
        if isinstance(tool, str) and isinstance(job, str) and tool in EVENT_TOOLS:
            out[(tool, job)] = Remembered(tool, job, _number(entry.get("last_run")),
                                          _number(entry.get("last_success")))
    return out


def carry_forward(
    statuses: list[BackupStatus],
    memory: Mapping[tuple[str, str], Remembered],
    present: Iterable[str],
    unreadable: Mapping[str, str],
    now: float,
) -> tuple[list[BackupStatus], dict[tuple[str, str], Remembered]]:
    """Merge this run's event-log statuses with what earlier runs saw.

    A job seen before keeps its older success when the window holds none. A job of a
    product still installed (`present`) that no longer appears is reported as unknown with
    its remembered times, until FORGET_AFTER has passed since it was last heard of.
    """
    out: list[BackupStatus] = []
    kept: dict[tuple[str, str], Remembered] = {}
    for s in statuses:
        if s.tool in EVENT_TOOLS:
            old = memory.get((s.tool, s.job))
            if old is not None and old.last_success is not None and \
                    (s.last_success is None or s.last_success < old.last_success):
                s = replace(s, last_success=old.last_success)
            kept[(s.tool, s.job)] = Remembered(s.tool, s.job, s.last_run, s.last_success)
        out.append(s)
    installed = set(present)
    for key, old in memory.items():
        if key in kept or old.tool not in installed:
            continue
        heard = max((t for t in (old.last_run, old.last_success) if t is not None),
                    default=None)
        if heard is None or now - heard > FORGET_AFTER:
            continue
        why = unreadable.get(old.tool) or \
            f"no event from this job in the last {EVENT_WINDOW_DAYS} days"
        out.append(BackupStatus(old.tool, old.job, old.last_run, BackupResult.UNKNOWN,
                                old.last_success, why))
        kept[key] = old
    return out, kept


# --- the sampler -------------------------------------------------------------------------

def is_local(repository: str) -> bool:
    """A local repository: the configuration accepts an absolute path, or else a remote
    location ("sftp:...", "ssh://...", "user@host:path"), which never is one."""
    return Path(repository).is_absolute()


def _guarded(tool: str, job: str, ask: Callable[[], BackupStatus]) -> BackupStatus:
    """One job's status; a bug in reading one job must not cost the others theirs."""
    try:
        return ask()
    except Exception as exc:
        log.debug("backup %s/%s: reading failed", tool, job, exc_info=True)
        return BackupStatus(tool, job, None, BackupResult.UNKNOWN, None,
                            clip(f"{type(exc).__name__}: {exc}"))


_PROBLEMS = frozenset({BackupResult.FAILED, BackupResult.WARNING, BackupResult.UNKNOWN})


@dataclass
class _Said:
    """What was last logged per job: the samples carry no text, so the detail goes to the
    agent's log, once per change rather than every five minutes."""

    last: dict[tuple[str, str], tuple[BackupResult, str]] = field(default_factory=dict)

    def tell(self, statuses: Iterable[BackupStatus]) -> None:
        for s in statuses:
            key, now = (s.tool, s.job), (s.last_result, s.detail)
            before = self.last.get(key)
            self.last[key] = now
            if before == now:
                continue
            if s.last_result in _PROBLEMS:
                log.warning("backup %s/%s: %s: %s", s.tool, s.job, s.last_result.value,
                            s.detail or "no detail")
            elif s.last_result is BackupResult.OK and before is not None \
                    and before[0] in _PROBLEMS:
                log.info("backup %s/%s: ok again", s.tool, s.job)


@register("backup")
class BackupSampler(Configurable):
    name = "backup"
    interval = 300.0

    def __init__(self, settings: BackupSettings, state_dir: Path,
                 saved: Mapping[str, Any] | None = None,
                 rsnapshot_config: Path = Path(rsnapshot.DEFAULT_CONFIG)) -> None:
        self.settings = settings
        self.restic_cache = state_dir / "restic-cache"
        self.borg_base = state_dir / "borg"
        self.rsnapshot_config = rsnapshot_config
        self.memory = load_memory(saved)
        self.said = _Said()
        self.checks: Checks[tuple[str, str], BackupStatus] = Checks()

    @classmethod
    def configure(cls, t: Table) -> BackupSettings:
        return configure_backup(t)

    @classmethod
    def create(cls, settings: BackupSettings | None, ctx: SamplerContext) -> BackupSampler:
        if settings is None:
            settings = configure_backup(Table({}, "(defaults)"))
        return cls(settings, ctx.state_dir, ctx.saved(CHECKPOINT))

    def statuses(self, now: float) -> list[BackupStatus]:
        """The status of every configured or detected job, in configuration order (the
        event-log jobs are added by `collect`)."""
        s = self.settings
        out = [self._checked(restic.TOOL, j.job, j.repository, partial(restic.state, j),
                             partial(restic.status, j, self.restic_cache), now)
               for j in s.restic]
        out += [self._checked(borg.TOOL, j.job, j.repository, partial(borg.state, j),
                              partial(borg.status, j, self.borg_base), now)
                for j in s.borg]
        rsnapshot_jobs = list(s.rsnapshot)
        if not rsnapshot_jobs and s.detect_rsnapshot:
            # Looked for on every run: rsnapshot may be set up after the agent started.
            found = rsnapshot.detect(self.rsnapshot_config)
            rsnapshot_jobs = [found] if found is not None else []
        out += [_guarded(rsnapshot.TOOL, j.job, partial(rsnapshot.status, j))
                for j in rsnapshot_jobs]
        out += [_guarded(marker.TOOL, j.job, partial(marker.status, j, now))
                for j in s.marker]
        return out

    def _checked(self, tool: str, job: str, repository: str,
                 state: Callable[[bool], Hashable], ask: Callable[[], BackupStatus],
                 now: float) -> BackupStatus:
        """The job's status: asked of its tool when `must_run` says so, else the last one."""
        local = is_local(repository)
        max_age = self.settings.refresh if local else self.settings.remote_interval
        return self.checks.answer((tool, job), state(local), now, max_age,
                                  partial(_guarded, tool, job, ask),
                                  ok=lambda s: s.last_result is BackupResult.OK)

    def collect(self, now: float) -> list[Observation]:
        statuses = self.statuses(now)
        checkpoint: list[Observation] = []
        if tools := self.settings.event_tools:
            # Imported here: Linux hosts never load the event-log parsing.
            from agent.samplers import _backup_windows

            found = _backup_windows.read(tools)
            statuses, self.memory = carry_forward(statuses + found.statuses, self.memory,
                                                  found.present, found.unreadable, now)
            checkpoint.append(Checkpoint(CHECKPOINT, {
                "jobs": [m.to_json() for m in self.memory.values()]}))
        self.said.tell(statuses)
        return [*(sample for s in statuses for sample in s.samples(now)), *checkpoint]
