"""Pending updates, how many of them fix security problems, and whether a reboot is due.

One sample of each per run, labelled `manager` ("apt", "dnf", "windows"):
`updates.pending`, `updates.security` (counts) and `updates.reboot_required` (1/0). A
figure the manager cannot give is left out rather than guessed.

Which manager is asked is decided in `detect_manager` only (the platform, then which
program is installed), unless `[sampler.updates] manager` names one. Each manager has its
own module (`_updates_apt`, `_updates_dnf`, `_updates_windows`) with a thin `read` and pure
parse functions. None of them refreshes the package metadata (no `apt-get update`, dnf
`--cacheonly`, Windows Update's offline search): the system's own timers do that, and a
monitoring agent must not download from mirrors or lock the package database.

Asking costs seconds of CPU (apt solves the whole upgrade; the Windows search takes
minutes), while the answer changes only with the installed packages or the package lists.
So each manager module also has a cheap `state` (a few stat calls; on Windows the
reboot-pending registry keys), and the manager is asked again only when it changed, or
`refresh` after the last real answer (`_recheck`).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType

from agent.samplers import Configurable, SamplerContext, register
from agent.samplers._recheck import Checks
from rules.model import Sample
from watchkeeper.tomlconf import Table


class Manager(StrEnum):
    APT = "apt"
    DNF = "dnf"
    WINDOWS = "windows"


DEFAULT_TIMEOUT = 600.0
"""Seconds one manager command may take. Windows Update's offline search can take minutes
on a server that has not been patched for a while."""

# The program each Linux manager is asked through; detection looks for it on PATH.
PROGRAMS = {Manager.APT: "apt-get", Manager.DNF: "dnf"}

# How long an answer stands while the manager's `state` is unchanged. apt and dnf answer
# from files their state covers: a day is for what it cannot see (a pin in
# /etc/apt/preferences.d...). Windows has no such files to watch: its search is slow and
# runs at most this often (or when a reboot becomes due: installed updates).
REFRESH = {Manager.APT: 86400.0, Manager.DNF: 86400.0, Manager.WINDOWS: 6 * 3600.0}


@dataclass(frozen=True, slots=True)
class Pending:
    """What a manager reported; None where it cannot tell."""

    pending: int
    security: int | None
    reboot_required: bool | None

    def samples(self, manager: Manager, now: float) -> list[Sample]:
        labels = {"manager": manager.value}
        out = [Sample("updates.pending", float(self.pending), now, labels)]
        if self.security is not None:
            out.append(Sample("updates.security", float(self.security), now, labels))
        if self.reboot_required is not None:
            out.append(Sample("updates.reboot_required", float(self.reboot_required), now,
                              labels))
        return out


@dataclass(frozen=True, slots=True)
class UpdatesSettings:
    manager: Manager | None = None
    """None: detect it (`detect_manager`)."""
    timeout: float = DEFAULT_TIMEOUT
    refresh: float | None = None
    """Seconds an unchanged answer stands; None: the manager's own (`REFRESH`)."""


def detect_manager(platform: str = sys.platform,
                   which: Callable[[str], str | None] = shutil.which) -> Manager | None:
    """The manager of this host, or None when it has none that is supported."""
    if platform == "win32":
        return Manager.WINDOWS
    # apt first: Debian and Ubuntu can have dnf (and rpm) installed as tools for building
    # other distributions' images, but their own packages are apt's.
    for manager in (Manager.APT, Manager.DNF):
        if which(PROGRAMS[manager]) is not None:
            return manager
    return None


def manager_module(manager: Manager) -> ModuleType:
    # Imported on use: only the manager of this host is ever loaded.
    if manager is Manager.APT:
        from agent.samplers import _updates_apt as module
    elif manager is Manager.DNF:
        from agent.samplers import _updates_dnf as module
    else:
        from agent.samplers import _updates_windows as module
    return module


def read(manager: Manager, timeout: float) -> Pending:
    """Ask the manager (expensive)."""
    return manager_module(manager).read(timeout)


def state(manager: Manager) -> Hashable:
    """The cheap fingerprint of what the manager's answer depends on."""
    return manager_module(manager).state()


@register("updates")
class UpdatesSampler(Configurable):
    name = "updates"
    interval = 3600.0

    def __init__(self, manager: Manager | None, timeout: float = DEFAULT_TIMEOUT,
                 reader: Callable[[Manager, float], Pending] = read,
                 refresh: float | None = None,
                 state: Callable[[Manager], Hashable] = state) -> None:
        self.manager = manager
        self.timeout = timeout
        self.refresh = refresh
        self._read = reader
        self._state = state
        self.checks: Checks[Manager, Pending] = Checks()

    @classmethod
    def configure(cls, t: Table) -> UpdatesSettings:
        # Read only when present: Table.str(name, None) would call a missing key "not a
        # string". Absent means "detect it".
        manager = t.choice("manager", Manager) if "manager" in t.data else None
        if manager is Manager.WINDOWS and sys.platform != "win32":
            t.problem("manager", "'windows' is the manager of Windows hosts only")
        elif manager is not None and manager is not Manager.WINDOWS:
            if sys.platform == "win32":
                t.problem("manager", f"{manager.value!r} does not run on Windows")
            elif shutil.which(PROGRAMS[manager]) is None:
                t.problem("manager", f"{manager.value!r} needs {PROGRAMS[manager]}, which is"
                          " not on PATH")
        timeout = t.duration("timeout", "10m", positive=True)
        # None when absent (the manager's own); "0s" asks the manager every run.
        refresh = t.duration("refresh", None)
        t.done()
        return UpdatesSettings(manager=manager, timeout=timeout or DEFAULT_TIMEOUT,
                               refresh=refresh)

    @classmethod
    def create(cls, settings: UpdatesSettings | None, ctx: SamplerContext) -> UpdatesSampler:
        settings = settings or UpdatesSettings()
        # Detected once: a host does not change its package manager while the agent runs.
        return cls(settings.manager or detect_manager(), settings.timeout, refresh=settings.refresh)

    def collect(self, now: float) -> list[Sample]:
        manager = self.manager
        if manager is None:
            return []  # no supported package manager here: nothing to measure
        refresh = REFRESH[manager] if self.refresh is None else self.refresh
        pending = self.checks.answer(manager, self._state(manager), now, refresh,
                                     lambda: self._read(manager, self.timeout))
        return pending.samples(manager, now)
