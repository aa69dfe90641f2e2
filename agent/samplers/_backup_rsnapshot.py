"""rsnapshot: the outcome of its runs, from the log file its configuration names.

Read: the configuration (`snapshot_root`, `logfile`, the `retain` levels) and the tail of
the log. Parse: rsnapshot's own summary lines, verified with rsnapshot 1.4.5:

    [2026-11-22T02:50:16] /usr/bin/rsnapshot -c /etc/rsnapshot.conf daily: started
    [...] /usr/bin/rsnapshot -c /etc/rsnapshot.conf daily: completed successfully
    [...] WARNING: /usr/bin/rsnapshot -c ... daily: completed, but with some warnings
    [...] /usr/bin/rsnapshot -c ... daily: ERROR: <reason>          (one or more, then)
    [...] /usr/bin/rsnapshot -c ... daily: ERROR: <the same command>: completed, but with
          some errors

A broken configuration logs only ERROR lines, with no "started". Versions before 1.4 wrote
the time as "[04/Aug/2017:03:40:02]". Times are the host's local time.

The mtime of `<snapshot_root>/<lowest level>.0` is used only when the log has no run in it
(rotated away): rsnapshot touches that directory after a run with errors too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from agent.samplers._backup_common import (
    BackupResult,
    BackupStatus,
    absolute_path,
    clip,
    job_name,
)
from agent.samplers._localtime import MONTHS, local_timestamp
from watchkeeper.tomlconf import Table

TOOL = "rsnapshot"
DEFAULT_CONFIG = "/etc/rsnapshot.conf"
# Enough for many runs of a verbose configuration; a run's summary lines are at its end.
TAIL_BYTES = 256 * 1024

_LINE = re.compile(
    r"^\[(?P<ts>[^\]]+)\] (?:WARNING: )?(?P<cmd>.*?) (?P<level>\S+): "
    r"(?P<msg>started|completed successfully|completed, but with some warnings|ERROR: .*)$"
)
_NOTE = re.compile(r"^\[(?P<ts>[^\]]+)\] WARNING: (?P<msg>.*)$")
_SUMMARY_ERROR = re.compile(r": completed, but with (some errors|no definite status)$")
# The rule and footer rsnapshot prints under every configuration error: no information.
_BOILERPLATE = re.compile(
    r"^(-+|Errors were found in .*,|rsnapshot can not continue\. If you think an entry looks"
    r" right, make|sure you don't have spaces where only tabs should be\.)$")
_OLD_TIME = re.compile(r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class RsnapshotJob:
    job: str
    config: str | None = None
    logfile: str | None = None


@dataclass(frozen=True, slots=True)
class RsnapshotConfig:
    snapshot_root: str | None
    logfile: str | None
    levels: tuple[str, ...] = ()


def job_from_table(t: Table) -> RsnapshotJob:
    """One `[[sampler.backup.rsnapshot]]` entry: a configuration file, an explicit log
    file, or both (the log file then overrides the configuration's)."""
    name = job_name(t)
    config = absolute_path(t, "config", required=False)
    logfile = absolute_path(t, "logfile", required=False)
    t.done()
    if config is None and logfile is None:
        config = DEFAULT_CONFIG
    return RsnapshotJob(name, config, logfile)


def parse_config(text: str) -> RsnapshotConfig:
    """rsnapshot.conf: tab-separated `key<TAB>value` lines; `retain` (old name `interval`)
    lines list the levels, lowest first."""
    values: dict[str, str] = {}
    levels: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f for f in line.split("\t") if f]
        if len(fields) < 2:
            continue
        key, value = fields[0].strip(), fields[1].strip()
        if key in ("retain", "interval"):
            levels.append(value)
        else:
            values.setdefault(key, value)
    return RsnapshotConfig(values.get("snapshot_root"), values.get("logfile"), tuple(levels))


def _time(text: str, tz: tzinfo | None) -> float:
    old = _OLD_TIME.match(text)
    if old and old.group(2) in MONTHS:
        day, month, year, hh, mm, ss = old.groups()
        stamp = datetime(int(year), MONTHS[month], int(day), int(hh), int(mm), int(ss))
    else:
        stamp = datetime.fromisoformat(text)
    return local_timestamp(stamp, tz)


@dataclass
class _Run:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    closed: bool = False

    def detail(self, found: list[str]) -> str:
        parts: list[str] = []
        # A broken configuration logs the same lines on every run: say each once.
        for said in dict.fromkeys(found):
            if parts and parts[-1].endswith(":"):  # "rsnapshot.conf on line 8:" + the line
                parts[-1] += " " + said
            else:
                parts.append(said)
        return clip("; ".join(parts))


def _logical_lines(text: str) -> list[str]:
    """Log lines with rsnapshot's wrapped messages (" \\" then indented lines) rejoined."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.rstrip()
        if out and out[-1].endswith("\\") and not line.startswith("["):
            out[-1] = out[-1][:-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return out


def parse_log(job: str, text: str, tz: tzinfo | None = None,
              fallback_success: float | None = None) -> BackupStatus:
    """The status from rsnapshot log lines, oldest first. `fallback_success` (the mtime of
    the newest snapshot) stands in when the log holds no run at all."""
    result, last_run, last_success, detail = None, None, None, ""
    run = _Run(closed=True)
    for line in _logical_lines(text):
        m = _LINE.match(line)
        if m is None:
            note = _NOTE.match(line)
            if note and not run.closed:
                run.warnings.append(note.group("msg"))
            continue
        try:
            at = _time(m.group("ts"), tz)
        except ValueError:
            continue
        msg = m.group("msg")
        last_run = at
        if msg == "started":
            run = _Run()
            result, detail = BackupResult.RUNNING, "started"
        elif msg.startswith("ERROR: "):
            if run.closed:
                run = _Run()  # a configuration error: rsnapshot stops before "started"
            said = msg.removeprefix("ERROR: ").strip()
            if _SUMMARY_ERROR.search(said):
                run.closed = True
            elif said and not _BOILERPLATE.match(said):
                run.errors.append(said)
            result, detail = BackupResult.FAILED, run.detail(run.errors) or said
        elif msg == "completed successfully":
            result, detail, last_success = BackupResult.OK, "", at
            run.closed = True
        else:  # "completed, but with some warnings": a usable, if partial, snapshot
            result, last_success = BackupResult.WARNING, at
            detail = run.detail(run.warnings) or msg
            run.closed = True
    if result is None:
        return BackupStatus(TOOL, job, None, BackupResult.UNKNOWN, fallback_success,
                            "no rsnapshot run in the log")
    return BackupStatus(TOOL, job, last_run, result, last_success, detail)


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - limit))
        data = fh.read()
    text = data.decode("utf-8", errors="replace")
    # Starting mid-file means starting mid-line: drop that partial line.
    return text.split("\n", 1)[1] if size > limit and "\n" in text else text


def _snapshot_mtime(config: RsnapshotConfig | None) -> float | None:
    if config is None or config.snapshot_root is None or not config.levels:
        return None
    try:
        return (Path(config.snapshot_root) / f"{config.levels[0]}.0").stat().st_mtime
    except OSError:
        return None


def detect(config_path: Path) -> RsnapshotJob | None:
    """The host's own rsnapshot, when its configuration names a log file (Debian's
    default configuration does not: installed but unconfigured means nothing to watch)."""
    try:
        config = parse_config(config_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    return RsnapshotJob("default", str(config_path)) if config.logfile else None


def status(job: RsnapshotJob, tz: tzinfo | None = None) -> BackupStatus:
    config = None
    if job.config is not None:
        try:
            config = parse_config(Path(job.config).read_text(encoding="utf-8",
                                                             errors="replace"))
        except OSError as exc:
            return BackupStatus(TOOL, job.job, None, BackupResult.UNKNOWN, None,
                                clip(f"cannot read {job.config}: {exc.strerror}"))
    logfile = job.logfile or (config.logfile if config else None)
    if logfile is None:
        return BackupStatus(TOOL, job.job, None, BackupResult.UNKNOWN, None,
                            f"{job.config} names no logfile, and the job gives none")
    fallback = _snapshot_mtime(config)
    try:
        text = read_tail(Path(logfile))
    except OSError as exc:
        return BackupStatus(TOOL, job.job, None, BackupResult.UNKNOWN, fallback,
                            clip(f"cannot read the log {logfile}: {exc.strerror}"))
    return parse_log(job.job, text, tz, fallback)
