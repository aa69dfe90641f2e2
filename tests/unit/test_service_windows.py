"""The Windows service's registration, as values (agent/service_windows_spec.py). The pywin32
calls that apply them (agent/service_windows.py) need a Windows host and are not run here."""

from __future__ import annotations

from pathlib import PureWindowsPath

from agent import service_windows_spec as spec


def test_failure_actions_restart_after_one_one_and_five_minutes_reset_daily() -> None:
    # The value `sc.exe qfailure WatchkeeperAgent` reads back as
    # RESET_PERIOD 86400, RESTART -- Delay = 60000 / 60000 / 300000 milliseconds.
    assert spec.failure_actions() == {
        "ResetPeriod": 86_400, "RebootMsg": None, "Command": None,
        "Actions": [(1, 60_000), (1, 60_000), (1, 300_000)],
    }


def test_restart_action_is_winsvc_sc_action_restart() -> None:
    # winsvc.h: SC_ACTION_NONE 0, SC_ACTION_RESTART 1, SC_ACTION_REBOOT 2, SC_ACTION_RUN_COMMAND 3
    assert spec.SC_ACTION_RESTART == 1
    # winnt.h: SERVICE_BOOT_START 0, SYSTEM 1, AUTO 2, DEMAND 3, DISABLED 4
    assert spec.SERVICE_AUTO_START == 2


def test_service_registers_for_delayed_automatic_start_with_its_names() -> None:
    assert spec.install_parameters() == {
        "pythonClassString": "agent.service_windows.AgentService",
        "serviceName": "WatchkeeperAgent",
        "displayName": "Watchkeeper monitoring agent",
        "description": spec.DESCRIPTION,
        "startType": 2, "delayedstart": True,
    }
    assert " " not in spec.SERVICE_NAME  # a registry key name and the `sc.exe` argument


def test_configuration_lives_under_programdata() -> None:
    env = {"ProgramData": r"D:\ProgramData"}
    assert spec.default_config(env) == PureWindowsPath(r"D:\ProgramData\watchkeeper\agent.toml")
    assert spec.default_config({}) == PureWindowsPath(r"C:\ProgramData\watchkeeper\agent.toml")


def test_configuration_folder_is_closed_to_ordinary_users() -> None:
    assert spec.restrict_acl_command(PureWindowsPath(r"C:\ProgramData\watchkeeper")) == [
        "icacls", r"C:\ProgramData\watchkeeper", "/inheritance:r",
        # SYSTEM and BUILTIN\Administrators, full control, inherited by files and folders.
        "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F",
    ]
