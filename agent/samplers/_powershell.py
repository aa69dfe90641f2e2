"""Running a Windows PowerShell script that answers with one JSON document.

Used by the samplers that ask Windows through cmdlets or COM (Defender status, pending
updates, the inventory). Three things every such call needs are decided here:

- The script travels as `-EncodedCommand` (base64 of UTF-16LE), so no quoting rule of
  cmd.exe or PowerShell can mangle it (Windows Update's search criteria hold both kinds
  of quote).
- The script's single result object is turned into JSON here, and every non-ASCII
  character is escaped as \\uXXXX: Windows PowerShell 5.1 writes redirected output in the
  console code page, which is not what Python decodes with, so only ASCII survives both
  unchanged ("Müller GmbH" as a software publisher, say).
- `$ErrorActionPreference = 'Stop'`: a failing cmdlet ends the script with a non-zero
  exit status and its message on stderr, instead of printing half a result.

Nothing here imports Windows-only modules, so the command line is tested on any platform.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import PureWindowsPath
from typing import Any

from agent.samplers._command import CommandResult, run_command

_WRAPPER = """\
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$result = & {
%s
}
$json = ConvertTo-Json -InputObject $result -Depth 8 -Compress
[regex]::Replace($json, '[^\\x00-\\x7F]', { param($m) '\\u{0:x4}' -f [int][char]$m.Value })
"""


def powershell_exe() -> str:
    # The full path, not "powershell" from PATH: a service's PATH is whatever the machine's
    # was at boot, and a program named powershell.exe earlier on it must not be run.
    root = os.environ.get("SYSTEMROOT") or r"C:\Windows"
    return str(PureWindowsPath(root, "System32", "WindowsPowerShell", "v1.0", "powershell.exe"))


def wrap(script: str) -> str:
    """The complete script run for `script`, whose output must be one object."""
    return _WRAPPER % script


def powershell_argv(script: str) -> list[str]:
    encoded = base64.b64encode(wrap(script).encode("utf-16-le")).decode("ascii")
    return [powershell_exe(), "-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand",
            encoded]


def json_object(text: str, what: str, error: type[Exception] = RuntimeError) -> dict[str, Any]:
    """The object a script printed (its stdout); `error` naming `what` when it is not one."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise error(f"{what}: not JSON: {text[:200]!r}") from None
    if not isinstance(doc, dict):
        raise error(f"{what}: unexpected answer {text[:200]!r}")
    return doc


def run_powershell(script: str, *, timeout: float) -> CommandResult:
    """Run `script` and return its result; stdout is the JSON text when it succeeded."""
    return run_command(powershell_argv(script), timeout=timeout)
