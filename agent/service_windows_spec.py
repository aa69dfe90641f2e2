"""What the Windows service is, as plain values: its names, where its configuration lives, how
it is registered and how the Service Control Manager restarts it. No pywin32 here, so this is
tested on any platform; agent/service_windows.py hands these values to pywin32."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PureWindowsPath
from typing import Any

SERVICE_NAME = "WatchkeeperAgent"
DISPLAY_NAME = "Watchkeeper monitoring agent"
DESCRIPTION = ("Samples this computer's health, backups, antivirus and updates and reports to"
               " the watchkeeper collector.")
# What pythonservice.exe imports: needs the watchkeeper package in the machine-wide Python's
# site-packages (a venv is not on the service host's sys.path).
CLASS_STRING = "agent.service_windows.AgentService"
# Under HKLM\SYSTEM\CurrentControlSet\Services\WatchkeeperAgent\Parameters.
CONFIG_OPTION = "config"

# winsvc.h values, so that this module needs no pywin32.
SERVICE_AUTO_START = 0x2
SC_ACTION_RESTART = 1

RESTART_DELAYS_S = (60, 60, 300)
"""Restart 1 min after the first and second failure, 5 min after the third and every later
one (the SCM repeats the last action)."""
RESET_PERIOD_S = 86_400
"""A day without failures starts the count again."""
STOP_WAIT_HINT_MS = 30_000
"""Time the SCM should allow between STOP_PENDING and STOPPED (one push may be in flight)."""


def data_dir(environ: Mapping[str, str]) -> PureWindowsPath:
    return PureWindowsPath(environ.get("ProgramData", r"C:\ProgramData"), "watchkeeper")


def default_config(environ: Mapping[str, str]) -> PureWindowsPath:
    return data_dir(environ) / "agent.toml"


def install_parameters() -> dict[str, Any]:
    """Keyword arguments for `win32serviceutil.InstallService`: automatic, delayed start (after
    the network and the boot rush) as LocalSystem, which reading every event log and querying
    Defender and Windows Server Backup needs."""
    return {"pythonClassString": CLASS_STRING, "serviceName": SERVICE_NAME,
            "displayName": DISPLAY_NAME, "description": DESCRIPTION,
            "startType": SERVICE_AUTO_START, "delayedstart": True}


def failure_actions() -> dict[str, Any]:
    """The SERVICE_CONFIG_FAILURE_ACTIONS value for `win32service.ChangeServiceConfig2`
    (delays in milliseconds, the reset period in seconds)."""
    return {"ResetPeriod": RESET_PERIOD_S, "RebootMsg": None, "Command": None,
            "Actions": [(SC_ACTION_RESTART, s * 1000) for s in RESTART_DELAYS_S]}


def restrict_acl_command(directory: PureWindowsPath) -> list[str]:
    """icacls arguments that leave `directory` (configuration and credential) to SYSTEM and
    Administrators: below %ProgramData% every local user may read files by inheritance.
    Well-known SIDs, so the command works on any display language."""
    return ["icacls", str(directory), "/inheritance:r",
            "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F"]
