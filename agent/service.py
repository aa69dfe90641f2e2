"""`watchkeeper agent install` and `uninstall`: the one place that picks the platform's service
manager (systemd on Linux, the Service Control Manager on Windows), and the check both share:
a service is only installed for an agent that is enrolled and whose configuration loads."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

from agent.config import AgentConfig, load_agent_config
from watchkeeper.tomlconf import ConfigError, print_problems


def _platform() -> ModuleType:
    # Imported on demand: the Windows module loads pywin32, which Linux does not have.
    if sys.platform == "win32":
        from agent import service_windows
        return service_windows
    from agent import service_linux
    return service_linux


def install(config: Path | None, root: Path | None, start: bool) -> int:
    platform = _platform()
    return int(platform.install(config or platform.DEFAULT_CONFIG, root, start))


def uninstall(root: Path | None, purge: bool) -> int:
    return int(_platform().uninstall(root, purge))


def load_enrolled(path: Path, shown_as: Path) -> AgentConfig | None:
    """The configuration at `path` (called `shown_as` where the service will read it), or None
    after telling the admin why the service cannot run with it."""
    if not path.is_file():
        print(f"watchkeeper: {path} does not exist: enrol this device first with\n"
              f"  watchkeeper agent enroll --config {shown_as} --collector URL --token TOKEN\n"
              "then run the install again", file=sys.stderr)
        return None
    try:
        return load_agent_config(path)
    except ConfigError as exc:
        print_problems(exc)
        return None
