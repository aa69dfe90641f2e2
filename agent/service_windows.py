"""The agent as a Windows service (pywin32). Windows only: agent/service.py imports it there,
and pythonservice.exe loads `AgentService` from the class string registered at install.
The values it registers live in agent/service_windows_spec.py, which is tested anywhere;
this module is not run by the test suite (no Windows host)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING

import pywintypes
import servicemanager
import win32service
import win32serviceutil
import winerror

from agent import service_windows_spec as spec

if TYPE_CHECKING:
    from agent.runner import Agent

DEFAULT_CONFIG = Path(spec.default_config(os.environ))


class _EventLogHandler(logging.Handler):
    """The agent's warnings and errors in the Application log, under the service's source
    (a service has no console for its stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                servicemanager.LogErrorMsg(text)
            else:
                servicemanager.LogWarningMsg(text)
        except Exception:  # logging must never stop the agent
            self.handleError(record)


class AgentService(win32serviceutil.ServiceFramework):
    _svc_name_ = spec.SERVICE_NAME
    _svc_display_name_ = spec.DISPLAY_NAME
    _svc_description_ = spec.DESCRIPTION

    def __init__(self, args: list[str]) -> None:
        super().__init__(args)
        self._lock = threading.Lock()
        self._stopping = False
        self._agent: Agent | None = None

    def SvcStop(self) -> None:  # (pywin32 names these)
        # Runs on the SCM's control thread while SvcDoRun is inside agent.start().
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING,
                                 waitHint=spec.STOP_WAIT_HINT_MS)
        with self._lock:
            self._stopping = True
            agent = self._agent
        if agent is not None:
            agent.stop()

    def SvcShutdown(self) -> None:  # its presence accepts SHUTDOWN
        self.SvcStop()

    def SvcDoRun(self) -> None:  # (pywin32 names these)
        from agent.config import load_agent_config
        from agent.runner import make_agent
        from watchkeeper.clock import SystemClock
        from watchkeeper.tomlconf import ConfigError

        servicemanager.LogMsg(servicemanager.EVENTLOG_INFORMATION_TYPE,
                              servicemanager.PYS_SERVICE_STARTED, (self._svc_name_, ""))
        handler = _EventLogHandler(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        path = win32serviceutil.GetServiceCustomOption(self, spec.CONFIG_OPTION,
                                                        str(DEFAULT_CONFIG))
        try:
            config = load_agent_config(Path(path))
        except ConfigError as exc:
            servicemanager.LogErrorMsg(f"{self._svc_name_} cannot start:\n{exc}")
            raise  # stopped with an error: the recovery actions try again a minute later
        agent = make_agent(config, SystemClock())
        with self._lock:
            if self._stopping:
                return
            self._agent = agent
        agent.start()  # returns once SvcStop has called agent.stop()
        servicemanager.LogMsg(servicemanager.EVENTLOG_INFORMATION_TYPE,
                              servicemanager.PYS_SERVICE_STOPPED, (self._svc_name_, ""))


def _fail(message: str, code: int = 1) -> int:
    print(f"watchkeeper: {message}", file=sys.stderr)
    return code


def _set_recovery() -> None:
    scm = win32service.OpenSCManager(None, None, win32service.SC_MANAGER_ALL_ACCESS)
    try:
        service = win32service.OpenService(scm, spec.SERVICE_NAME,
                                           win32service.SERVICE_ALL_ACCESS)
        try:
            win32service.ChangeServiceConfig2(
                service, win32service.SERVICE_CONFIG_FAILURE_ACTIONS, spec.failure_actions())
            # Without the flag a stop with an error exit code (SvcDoRun raised) is no failure.
            win32service.ChangeServiceConfig2(
                service, win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, True)
        finally:
            win32service.CloseServiceHandle(service)
    finally:
        win32service.CloseServiceHandle(scm)


def _elevated() -> bool:
    try:
        win32service.CloseServiceHandle(
            win32service.OpenSCManager(None, None, win32service.SC_MANAGER_ALL_ACCESS))
    except pywintypes.error as exc:
        if exc.winerror == winerror.ERROR_ACCESS_DENIED:
            return False
        raise
    return True


def install(config: Path, root: Path | None, start: bool) -> int:
    from agent.service import load_enrolled

    if root is not None:
        return _fail("--root is for Linux packaging; on Windows install without it")
    if not _elevated():
        return _fail("install needs an elevated prompt (Run as administrator)")
    config = config.absolute()
    if load_enrolled(config, shown_as=config) is None:
        return 2
    data_dir = spec.data_dir(os.environ)
    if PureWindowsPath(config.parent) == data_dir:
        subprocess.run(spec.restrict_acl_command(data_dir), check=True)
    else:
        print(f"warning: {config.parent} is not {data_dir}: make sure only SYSTEM and"
              " Administrators can read the credential there", file=sys.stderr)
    try:
        win32serviceutil.InstallService(**spec.install_parameters())
    except pywintypes.error as exc:
        if exc.winerror == winerror.ERROR_SERVICE_EXISTS:
            return _fail(f"the {spec.SERVICE_NAME} service exists already; run"
                         " `watchkeeper agent uninstall` first")
        raise
    win32serviceutil.SetServiceCustomOption(spec.SERVICE_NAME, spec.CONFIG_OPTION, str(config))
    _set_recovery()
    if start:
        win32serviceutil.StartService(spec.SERVICE_NAME)
    print(f"installed the {spec.SERVICE_NAME} service (delayed automatic start, restarted after"
          f" failures) for {config}" + ("; started" if start else ""))
    return 0


def uninstall(root: Path | None, purge: bool) -> int:
    if root is not None:
        return _fail("--root is for Linux packaging; on Windows uninstall without it")
    if not _elevated():
        return _fail("uninstall needs an elevated prompt (Run as administrator)")
    try:
        win32serviceutil.StopServiceWithDeps(spec.SERVICE_NAME,
                                             waitSecs=spec.STOP_WAIT_HINT_MS // 1000)
        win32serviceutil.RemoveService(spec.SERVICE_NAME)
        print(f"removed the {spec.SERVICE_NAME} service")
    except pywintypes.error as exc:
        if exc.winerror != winerror.ERROR_SERVICE_DOES_NOT_EXIST:
            raise
        print(f"the {spec.SERVICE_NAME} service is not installed")
    data_dir = Path(spec.data_dir(os.environ))
    if purge and data_dir.exists():
        shutil.rmtree(data_dir)
        print(f"removed {data_dir}")
    elif data_dir.exists():
        print(f"kept the configuration, credential and state in {data_dir} (--purge removes"
              " them)")
    return 0
