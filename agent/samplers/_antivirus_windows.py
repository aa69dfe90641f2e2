"""Microsoft Defender Antivirus on Windows: its protection status and its detections.

Status comes from `Get-MpComputerStatus` (class MSFT_MpComputerStatus), through
PowerShell; detections from the "Microsoft-Windows-Windows Defender/Operational" channel,
read after a bookmark. Both are parsed by pure functions tested on documented output
(tests/fixtures/antivirus). This module imports nothing Windows-only at the top: the
event-log reader (pywin32) is loaded on first use, so the logic runs in tests anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent.samplers._command import CommandResult
from agent.samplers._powershell import json_object, run_powershell
from agent.samplers._winevent import (
    Records,
    parse_event_xml,
    parse_records,
    read_channel,
    system_query,
)
from agent.samplers.base import Checkpoint, Observation, SamplerContext
from rules.model import MAX_MESSAGE, Event, Sample

if TYPE_CHECKING:
    from agent.samplers.antivirus import AntivirusSettings

log = logging.getLogger(__name__)

LABELS = {"product": "defender"}
CHANNEL = "Microsoft-Windows-Windows Defender/Operational"
CHECKPOINT_KEY = "antivirus.defender"
# 1116 detected, 1117 action taken, 1118 action failed, 1119 critical error taking action,
# 1006/1015 detected/suspicious behaviour (older engines), 5001 real-time protection
# turned off, 2001 security-intelligence (signature) update failed.
DETECTION_IDS = (1116, 1117, 1118, 1119, 1006, 1015, 5001, 2001)
FIRST_READ = 24 * 3600.0
"""History read on the very first run: a detection the day before the agent was installed
is still worth a look."""
MAX_READ = 7 * 24 * 3600.0
"""The longest window looked back, however long the agent was stopped."""
_SLACK = 600.0  # overlap with the previous read: events are stamped when they happen
STATUS_TIMEOUT = 120.0
READ_LIMIT = 1000

# The fields the rules need, with the update time as ISO 8601 in UTC: Windows PowerShell
# 5.1 would otherwise write a DateTime as "\/Date(1717488387000)\/".
STATUS_SCRIPT = """\
try {
    $s = Get-MpComputerStatus
} catch {
    [pscustomobject]@{ Error = [string]$_.FullyQualifiedErrorId;
                       Message = [string]$_.Exception.Message }
    return
}
$s | Select-Object AMServiceEnabled, AntivirusEnabled, RealTimeProtectionEnabled,
    AntivirusSignatureAge, AMRunningMode, IsTamperProtected,
    @{ Name = 'AntivirusSignatureLastUpdated'; Expression = {
        if ($_.AntivirusSignatureLastUpdated) {
            $_.AntivirusSignatureLastUpdated.ToUniversalTime().ToString('o') } } }
"""

# Errors of Get-MpComputerStatus that mean "Defender is not this host's antivirus": the
# cmdlet does not exist (Windows Server without the Defender feature), its WMI provider
# or class is gone (Defender removed: 0x80041013 provider load failure, 0x8004100e invalid
# namespace, 0x80041010 invalid class), or its service is not running (0x800106ba), which
# is how Windows leaves it when a third-party antivirus registers itself as the primary
# one. Any other error is a real failure and is reported as one.
ABSENT_ERRORS = ("commandnotfoundexception", "0x80041013", "0x8004100e", "0x80041010",
                 "0x800106ba")

# AMRunningMode values where another antivirus is primary and Defender only watches (EDR
# in block mode is passive mode plus blocking of EDR findings). "Normal" is active.
PASSIVE_MODES = frozenset({"passive mode", "sxs passive mode", "edr block mode"})


class DefenderError(RuntimeError):
    """Get-MpComputerStatus failed for a reason other than Defender being absent."""


@dataclass(frozen=True, slots=True)
class DefenderStatus:
    present: bool
    """False where Defender is not this host's antivirus (see ABSENT_ERRORS)."""
    samples: list[Sample] = field(default_factory=list)


def _flag(status: Mapping[str, Any], key: str) -> float | None:
    value = status.get(key)
    return float(bool(value)) if isinstance(value, bool) else None


def _age_days(status: Mapping[str, Any], now: float) -> float | None:
    updated = status.get("AntivirusSignatureLastUpdated")
    if isinstance(updated, str) and updated:
        try:
            when = datetime.fromisoformat(updated)
        except ValueError:
            log.debug("antivirus: unreadable AntivirusSignatureLastUpdated %r", updated)
        else:
            # A naive time would be local; the script writes UTC with an offset ("Z").
            return max(0.0, (now - when.timestamp()) / 86400.0)
    days = status.get("AntivirusSignatureAge")  # whole days, Defender's own count
    if isinstance(days, int) and not isinstance(days, bool):
        return float(days)
    return None


def parse_status(text: str, now: float) -> DefenderStatus:
    """What STATUS_SCRIPT's JSON says: whether Defender is here, and its samples."""
    status = json_object(text, "Get-MpComputerStatus", DefenderError)
    if "Error" in status:
        error = str(status.get("Error") or "").lower()
        if any(code in error for code in ABSENT_ERRORS):
            return DefenderStatus(present=False)
        raise DefenderError(f"Get-MpComputerStatus: {status.get('Message') or error}")
    samples: list[Sample] = []
    mode = str(status.get("AMRunningMode") or "").strip().lower()
    if mode not in PASSIVE_MODES:
        # In passive mode another antivirus is primary and Defender's real-time protection
        # is off by design: reporting it as disabled would raise an alarm on every such
        # host. The other product is not watched here (no vendor-neutral API on Windows
        # Server); its console must watch it.
        service, antivirus = _flag(status, "AMServiceEnabled"), _flag(status, "AntivirusEnabled")
        if service is not None and antivirus is not None:
            samples.append(Sample("av.enabled", min(service, antivirus), now, LABELS))
        realtime = _flag(status, "RealTimeProtectionEnabled")
        if realtime is not None:
            samples.append(Sample("av.realtime_enabled", realtime, now, LABELS))
    # Reported in passive mode too: Defender keeps updating there, and its EDR blocking
    # works only with current intelligence.
    age = _age_days(status, now)
    if age is not None:
        samples.append(Sample("av.signature_age_days", age, now, LABELS))
    return DefenderStatus(present=True, samples=samples)


_DETECTION_CONDITION = "(" + " or ".join(f"EventID={i}" for i in DETECTION_IDS) + ")"


def detection_xpath(window: float) -> str:
    """Detection events of the last `window` seconds (never more than MAX_READ)."""
    return system_query(_DETECTION_CONDITION,
                        within_ms=int(min(max(window, 0.0), MAX_READ) * 1000))


def _summary(data: Mapping[str, str]) -> str:
    parts = [f"{key}: {data[key]}" for key in ("Threat Name", "Path", "Action Name")
             if data.get(key)]
    return "; ".join(parts)


def parse_detection(xml: str, message: str | None) -> Event:
    """A detection record as an Event. Without the rendered message (Defender's message
    DLL unavailable) the threat, path and action stand in, rather than the 40-odd
    EventData fields of a 1116."""
    win = parse_event_xml(xml, message)
    if message is None and (summary := _summary(win.data)):
        return replace(win.event, message=summary[:MAX_MESSAGE])
    return win.event


Reader = Callable[[str, str, str | None, int], tuple[Records, str | None]]


def _status() -> CommandResult:
    return run_powershell(STATUS_SCRIPT, timeout=STATUS_TIMEOUT)


class Defender:
    """Status samples and detection events; nothing where Defender is not the antivirus.

    Detections are read after a bookmark kept in checkpoint "antivirus.defender", with
    the time of the read. The query also looks back only as far as that read (plus a
    little): if the bookmarked record is gone (log cleared or wrapped) the reader starts
    over from what the query selects, and this keeps that to the unread stretch.
    """

    def __init__(self, saved: Mapping[str, Any] | None,
                 status: Callable[[], CommandResult] = _status,
                 read: Reader = read_channel) -> None:
        saved = saved or {}
        bookmark, read_at = saved.get("bookmark"), saved.get("read_at")
        self.bookmark: str | None = bookmark if isinstance(bookmark, str) else None
        self.read_at: float | None = float(read_at) if isinstance(read_at, int | float) \
            else None
        self._status = status
        self._read = read

    def collect(self, now: float) -> list[Observation]:
        result = self._status()
        if result.returncode != 0:
            raise DefenderError(f"Get-MpComputerStatus: {result.last_error_line()}")
        status = parse_status(result.stdout, now)
        if not status.present:
            return []  # not the antivirus here: no status, and no detections to read
        out: list[Observation] = list(status.samples)
        window = FIRST_READ if self.read_at is None else now - self.read_at + _SLACK
        records, bookmark = self._read(CHANNEL, detection_xpath(window), self.bookmark,
                                       READ_LIMIT)
        out += parse_records(records, "antivirus: Defender", parse_detection)
        self.bookmark = bookmark
        if len(records) < READ_LIMIT:
            # All caught up. After a full batch more is waiting, possibly older than this
            # read: keep looking back as far as before, or the window would cut it off.
            self.read_at = now
        out.append(Checkpoint(CHECKPOINT_KEY, {"bookmark": bookmark, "read_at": self.read_at}))
        return out


def product(settings: AntivirusSettings, ctx: SamplerContext) -> Defender:
    return Defender(ctx.saved(CHECKPOINT_KEY))
