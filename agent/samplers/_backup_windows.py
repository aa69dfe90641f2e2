"""Windows Server Backup and Veeam, from the events they write (../shared/notes/platform.md,
3a and 3b).

Pure: lists of `WinEvent` (from `_winevent.parse_event_xml`) in, one `BackupStatus` per job
out, so every rule here is tested on event XML on any platform. `read` is the thin part: it
asks `_winevent.read_channel` (pywin32, imported only when called) for the last
EVENT_WINDOW_DAYS of the relevant events; no bookmark, the window is read whole every time.

- Windows Server Backup (tool "wsb", one job "default"): success = the newest event 4;
  failure = any Critical/Error event of the provider newer than it; warning = a Warning
  event newer than it; event 1 (started) newer than any ending means running. Event 14
  ("completed") is logged after failures too, so it ends a run but is no success.
- Veeam Agent for Microsoft Windows (tool "veeam_agent"): 110 started; 190 finished, its
  level saying Success/Warning/Failed; 191 failed and will be retried (a warning).
- Veeam Backup & Replication (tool "veeam_br"): 110/410/710 started and 190/490/790
  finished (backup, backup copy, agent backup job), with `JobResult` 0/1/2 and `JobName`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from agent.samplers._backup_common import (
    EVENT_WINDOW_DAYS,
    VEEAM_AGENT,
    VEEAM_BR,
    WSB,
    BackupResult,
    BackupStatus,
    clip,
)
from agent.samplers._winevent import (
    WinEvent,
    is_missing_channel,
    parse_event_xml,
    parse_records,
    read_channel,
    system_query,
)
from rules.model import EventLevel

# The queries select only start/finish/problem events, so a few hundred at most per week;
# the cap only bounds a pathological log (read_channel reads oldest first).
READ_LIMIT = 5000

WSB_PROVIDER = "Microsoft-Windows-Backup"
WSB_CHANNELS = ("Microsoft-Windows-Backup", "Application")
VEEAM_AGENT_CHANNEL = "Veeam Agent"
VEEAM_BR_CHANNEL = "Veeam Backup"

_WSB_STARTED, _WSB_SUCCESS, _WSB_COMPLETED = 1, 4, 14
_AGENT_STARTED, _AGENT_FINISHED, _AGENT_RETRY = 110, 190, 191
_BR_STARTED = frozenset({110, 410, 710})
_BR_FINISHED = frozenset({190, 490, 790})

_PROBLEM_LEVELS = frozenset({EventLevel.CRITICAL, EventLevel.ERROR})
_BY_LEVEL = {EventLevel.CRITICAL: BackupResult.FAILED, EventLevel.ERROR: BackupResult.FAILED,
             EventLevel.WARNING: BackupResult.WARNING}
_JOB_RESULT = {"0": BackupResult.OK, "1": BackupResult.WARNING, "2": BackupResult.FAILED}
_STATE_WORD = {"success": BackupResult.OK, "warning": BackupResult.WARNING,
               "failed": BackupResult.FAILED}

# "Veeam Agent 'Backup Job FS01' finished with Success." (Veeam Agent user guide, App. A)
_AGENT_JOB = re.compile(r"Veeam Agent '?(?P<job>.+?)'? (?:finished with|has been started)")
# "Backup job 'Daily VMs' finished with Warning." / "... has been started by user X."
_BR_JOB = re.compile(r"job '(?P<job>.+?)' (?:finished with (?P<state>\w+)|has been started)",
                     re.IGNORECASE)


def _ordered(events: Iterable[WinEvent]) -> list[WinEvent]:
    return sorted(events, key=lambda e: (e.event.at, e.record_id))


def wsb_status(events: Iterable[WinEvent]) -> BackupStatus | None:
    """Windows Server Backup's one job, or None when it has logged nothing in the window."""
    evs = _ordered(e for e in events if e.event.source == WSB_PROVIDER)
    if not evs:
        return None
    ids = [e.event.event_id for e in evs]
    last_ok = max((i for i, n in enumerate(ids) if n == _WSB_SUCCESS), default=None)
    since_ok = evs[last_ok + 1:] if last_ok is not None else evs
    failures = [e for e in since_ok if e.event.level in _PROBLEM_LEVELS]
    warnings = [e for e in since_ok if e.event.level is EventLevel.WARNING]
    ends = [i for i, e in enumerate(evs) if e.event.event_id in (_WSB_SUCCESS, _WSB_COMPLETED)
            or e.event.level in _BY_LEVEL]
    starts = [i for i, n in enumerate(ids) if n == _WSB_STARTED]
    success = evs[last_ok].event.at if last_ok is not None else None
    last_run = evs[-1].event.at
    if starts and (not ends or starts[-1] > ends[-1]):
        return BackupStatus(WSB, "default", last_run, BackupResult.RUNNING, success, "started")
    if failures:
        return BackupStatus(WSB, "default", last_run, BackupResult.FAILED, success,
                            clip(failures[-1].event.message))
    if warnings:
        return BackupStatus(WSB, "default", last_run, BackupResult.WARNING, success,
                            clip(warnings[-1].event.message))
    if success is not None:
        return BackupStatus(WSB, "default", last_run, BackupResult.OK, success, "")
    return BackupStatus(WSB, "default", last_run, BackupResult.UNKNOWN, None,
                        "no backup result among the events read")


@dataclass
class _Job:
    """One Veeam job's newest start and finish, in event order."""

    name: str
    started: int = -1
    finished: int = -1
    start_at: float | None = None
    finish_at: float | None = None
    result: BackupResult = BackupResult.UNKNOWN
    success: float | None = None
    detail: str = ""

    def status(self, tool: str) -> BackupStatus:
        last_run = max((t for t in (self.start_at, self.finish_at) if t is not None),
                       default=None)
        if self.started > self.finished:
            return BackupStatus(tool, self.name, last_run, BackupResult.RUNNING, self.success,
                                "started")
        return BackupStatus(tool, self.name, last_run, self.result, self.success, self.detail)


@dataclass(frozen=True, slots=True)
class _Reading:
    """What one Veeam event says about its job."""

    key: str  # the job's identity (Veeam's JobID where the event has one)
    name: str | None  # its label; a start event may not carry it
    finish: bool  # False: a start
    result: BackupResult = BackupResult.RUNNING
    detail: str = ""
    # A restore point was made: success, or success with warnings. A failed attempt that
    # Veeam will retry is reported as a warning but made nothing.
    usable: bool = False


def _jobs(tool: str, events: Iterable[WinEvent],
          read: Callable[[WinEvent], _Reading | None]) -> list[BackupStatus]:
    jobs: dict[str, _Job] = {}
    readings = [(i, e, r) for i, e in enumerate(_ordered(events)) if (r := read(e)) is not None]
    names = {r.key: r.name for _, _, r in readings if r.name}
    for i, e, r in readings:
        name = names.get(r.key)
        if name is None:
            continue  # a start of a job whose name no event in the window gives
        job = jobs.setdefault(r.key, _Job(name))
        if not r.finish:
            job.started, job.start_at = i, e.event.at
            continue
        job.finished, job.finish_at, job.result, job.detail = i, e.event.at, r.result, r.detail
        if r.usable:
            job.success = e.event.at
    return [jobs[k].status(tool) for k in sorted(jobs, key=lambda k: jobs[k].name)]


def _agent_reading(e: WinEvent) -> _Reading | None:
    found = _AGENT_JOB.search(e.event.message)
    # A missing message DLL leaves no text to take the name from: one job, "default".
    name = found.group("job") if found else "default"
    event_id = e.event.event_id
    if event_id == _AGENT_STARTED:
        return _Reading(name, name, finish=False)
    if event_id == _AGENT_FINISHED:
        result = _BY_LEVEL.get(e.event.level, BackupResult.OK)
        return _Reading(name, name, True, result,
                        "" if result is BackupResult.OK else clip(e.event.message),
                        usable=result is not BackupResult.FAILED)
    if event_id == _AGENT_RETRY:
        return _Reading(name, name, True, BackupResult.WARNING, clip(e.event.message))
    return None


def veeam_agent_statuses(events: Iterable[WinEvent]) -> list[BackupStatus]:
    return _jobs(VEEAM_AGENT, events, _agent_reading)


def _br_reading(e: WinEvent) -> _Reading | None:
    event_id = e.event.event_id
    if event_id not in _BR_STARTED and event_id not in _BR_FINISHED:
        return None
    said = _BR_JOB.search(e.event.message)
    name = e.data.get("JobName") or (said.group("job") if said else None)
    key = e.data.get("JobID") or name
    if key is None:
        return None
    if event_id in _BR_STARTED:
        return _Reading(key, name, finish=False)
    result = _JOB_RESULT.get(e.data.get("JobResult", ""))
    if result is None and said and said.group("state"):
        result = _STATE_WORD.get(said.group("state").lower())
    if result is None:
        result = _BY_LEVEL.get(e.event.level, BackupResult.OK)
    if result is BackupResult.FAILED and e.data.get("WillBeRetried", "").lower() == "true":
        # Like the Veeam Agent's 191: a failed attempt Veeam is about to retry.
        return _Reading(key, name, True, BackupResult.WARNING,
                        clip(f"will be retried: {e.event.message}"))
    return _Reading(key, name, True, result,
                    "" if result is BackupResult.OK else clip(e.event.message),
                    usable=result is not BackupResult.FAILED)


def veeam_br_statuses(events: Iterable[WinEvent]) -> list[BackupStatus]:
    return _jobs(VEEAM_BR, events, _br_reading)


# --- reading (Windows only) ----------------------------------------------------------------

def _xpath(condition: str) -> str:
    return system_query(condition, within_ms=EVENT_WINDOW_DAYS * 24 * 3600 * 1000)


_WSB_QUERY = _xpath(f"Provider[@Name='{WSB_PROVIDER}'] and (EventID={_WSB_STARTED} or "
                    f"EventID={_WSB_SUCCESS} or EventID={_WSB_COMPLETED} or Level=1 or "
                    "Level=2 or Level=3)")
_AGENT_QUERY = _xpath(f"(EventID={_AGENT_STARTED} or EventID={_AGENT_FINISHED} or "
                      f"EventID={_AGENT_RETRY})")
_BR_QUERY = _xpath("(" + " or ".join(f"EventID={n}" for n in sorted(_BR_STARTED | _BR_FINISHED))
                   + ")")


def _events(channel: str, query: str) -> list[WinEvent] | None:
    """The channel's events matching `query`, or None when the channel does not exist
    (the product is not installed)."""
    try:
        records, _ = read_channel(channel, query, None, READ_LIMIT)
    except Exception as exc:  # pywintypes.error; the module cannot be imported off Windows
        if is_missing_channel(exc):
            return None
        raise
    return parse_records(records, f"backup: {channel}", parse_event_xml, logging.DEBUG)


def _wsb_statuses(events: list[WinEvent]) -> list[BackupStatus]:
    found = wsb_status(events)
    return [found] if found is not None else []


# tool: (its channels, the product's own first; the query; the judge)
_SOURCES: dict[str, tuple[tuple[str, ...], str, Callable[[list[WinEvent]],
                                                         list[BackupStatus]]]] = {
    WSB: (WSB_CHANNELS, _WSB_QUERY, _wsb_statuses),
    VEEAM_AGENT: ((VEEAM_AGENT_CHANNEL,), _AGENT_QUERY, veeam_agent_statuses),
    VEEAM_BR: ((VEEAM_BR_CHANNEL,), _BR_QUERY, veeam_br_statuses),
}


@dataclass(frozen=True, slots=True)
class WindowsRead:
    """What the event logs said: statuses, the tools whose logs exist, and the tools whose
    logs exist but could not be read (with why)."""

    statuses: list[BackupStatus]
    present: frozenset[str]
    unreadable: Mapping[str, str]


def read(tools: Iterable[str]) -> WindowsRead:
    """Statuses of `tools` (WSB, VEEAM_AGENT, VEEAM_BR) from the last EVENT_WINDOW_DAYS."""
    statuses: list[BackupStatus] = []
    present: set[str] = set()
    unreadable: dict[str, str] = {}
    for tool in tools:
        channels, query, judge = _SOURCES[tool]
        try:
            found = _events(channels[0], query)
            if found is None:
                continue  # the product's own log does not exist: not installed
            present.add(tool)
            for extra in channels[1:]:
                found += _events(extra, query) or []
        except Exception as exc:
            # Access denied, a corrupt log: the product is there but cannot be asked.
            present.add(tool)
            unreadable[tool] = clip(f"cannot read the event log: {exc}")
            continue
        statuses += judge(found)
    return WindowsRead(statuses, frozenset(present), unreadable)
