"""Pending updates on Windows, from the Windows Update Agent's COM API.

A PowerShell script asks `Microsoft.Update.Session` for the updates that are applicable
and neither installed nor hidden, from the last scan (`Online = $false`: no download, and
no scan of its own that would compete with the one Windows schedules), and
`Microsoft.Update.SystemInfo` whether a reboot is pending. It prints JSON that the pure
`parse` reads. Not run in this project's CI (no Windows host); the parser is tested on
JSON written in the script's format (tests/fixtures/updates).

An update counts as a security update when Microsoft rated it (`MsrcSeverity`), or when
it is classified "Security Updates" or "Critical Updates". Classifications are matched by
their category IDs, which are the same in every language; the English names are a
fallback only.

The search is slow, so the sampler runs it at most every few hours (updates.REFRESH), and
sooner only when `state` changes: the registry keys Windows creates when installed updates
wait for a restart (see ../shared/notes/platform.md, 3i), which is when the answer changes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from agent.samplers._powershell import json_object, run_powershell
from agent.samplers.updates import Pending

SCRIPT = """\
$searcher = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher()
$searcher.Online = $false
$found = $searcher.Search("IsInstalled=0 and IsHidden=0 and Type='Software'")
$updates = @(foreach ($u in $found.Updates) {
    [pscustomobject]@{
        Title = [string]$u.Title
        MsrcSeverity = [string]$u.MsrcSeverity
        KBArticleIDs = @(foreach ($kb in $u.KBArticleIDs) { [string]$kb })
        Categories = @(foreach ($c in $u.Categories) {
            [pscustomobject]@{ Name = [string]$c.Name; CategoryID = [string]$c.CategoryID } })
    }
})
[pscustomobject]@{
    ResultCode = [int]$found.ResultCode
    RebootRequired = [bool](New-Object -ComObject Microsoft.Update.SystemInfo).RebootRequired
    Updates = $updates
}
"""

# WSUS classification category IDs (the same on every Windows, in every language).
SECURITY_CATEGORIES = frozenset({
    "0fa1201d-4330-4fa8-8ae9-b877473b6441",  # Security Updates
    "e6cf1350-c01b-414d-a61f-263d14d133b4",  # Critical Updates
})
SECURITY_NAMES = frozenset({"security updates", "critical updates"})
# IUpdateSearcher.Search's OperationResultCode: 2 succeeded, 3 succeeded with errors
# (some updates could not be evaluated; the rest are listed), 4 failed, 5 aborted.
RESULT_USABLE = frozenset({2, 3})
# Under HKEY_LOCAL_MACHINE; they exist while a restart is pending and are removed by it.
REBOOT_KEYS = (
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
)


def _key_exists(path: str) -> bool | None:
    """Whether the key `path` under HKEY_LOCAL_MACHINE exists; None when it cannot be
    told (no access)."""
    import winreg  # Windows only, and only the updates sampler needs it

    try:
        winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, path).Close()
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return True


def state(exists: Callable[[str], bool | None] = _key_exists) -> Hashable:
    return tuple(exists(key) for key in REBOOT_KEYS)


def is_security(update: Mapping[str, Any]) -> bool:
    if str(update.get("MsrcSeverity") or "").strip():
        return True
    for category in update.get("Categories") or []:
        if str(category.get("CategoryID", "")).lower() in SECURITY_CATEGORIES:
            return True
        if str(category.get("Name", "")).strip().lower() in SECURITY_NAMES:
            return True
    return False


def parse(text: str) -> Pending:
    doc = json_object(text, "Windows Update")
    if not isinstance(doc.get("Updates"), list):
        raise RuntimeError(f"Windows Update: unexpected answer {text[:200]!r}")
    if doc.get("ResultCode") not in RESULT_USABLE:
        raise RuntimeError(f"Windows Update search did not succeed (result code "
                           f"{doc.get('ResultCode')})")
    updates = [u for u in doc["Updates"] if isinstance(u, dict)]
    reboot = doc.get("RebootRequired")
    return Pending(len(updates), sum(1 for u in updates if is_security(u)),
                   reboot if isinstance(reboot, bool) else None)


def read(timeout: float) -> Pending:
    result = run_powershell(SCRIPT, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"Windows Update: {result.last_error_line()}")
    return parse(result.stdout)
