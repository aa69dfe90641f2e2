"""Inventory facts only Linux's own files and tools know.

- OS: /etc/os-release (freedesktop os-release(5): KEY=value, values in shell quoting) and
  the kernel release.
- CPU model: "model name" in /proc/cpuinfo (x86; some ARM kernels print it too).
- Machine: /sys/class/dmi/id (sys_vendor, product_name, product_serial). The serial is
  readable by root only, and there is no DMI at all in many VMs and on most ARM boards:
  whatever cannot be read is left out.
- Packages: dpkg-query on Debian and Ubuntu, rpm on RPM systems, whichever is found first
  (`package_manager`). Only installed packages: dpkg also knows removed ones whose
  configuration files remain ("rc"), and those are not installed software. Listed again
  only when the package database changed (`Reader`): the list is the costly part of the
  inventory, and it is a function of that database.
"""

from __future__ import annotations

import platform
import shlex
import shutil
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from agent.samplers._command import run_command
from agent.samplers._recheck import package_db_state
from agent.samplers.inventory import PlatformFacts

OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))
CPUINFO = Path("/proc/cpuinfo")
DMI = Path("/sys/class/dmi/id")
DMI_FILES = {"vendor": "sys_vendor", "product": "product_name", "serial": "product_serial"}

# ${db:Status-Abbrev} is three letters: wanted state, current state, error ("ii ").
DPKG_ARGV = ("dpkg-query", "-W", "-f",
             "${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n")
# The epoch only when there is one, as rpm -q prints a version ("1:3.0.7-27.el9").
RPM_ARGV = ("rpm", "-qa", "--qf",
            "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n")
# dpkg's current-state letters for a package that is not installed: n(ot-installed) and
# c(onfig-files only). Half-installed, unpacked and the like are kept: they are present,
# and dropping a package while it is being upgraded would look like a change.
_DPKG_ABSENT = frozenset("nc")
PACKAGES_TIMEOUT = 120.0


def parse_os_release(text: str) -> dict[str, str]:
    """name (PRETTY_NAME, else NAME), id and version (VERSION_ID) where given."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(raw)
        except ValueError:  # unbalanced quote: take it as it is written
            words = [raw]
        values[key] = " ".join(words)
    out = {"name": values.get("PRETTY_NAME") or values.get("NAME") or "Linux"}
    for key, field in (("ID", "id"), ("VERSION_ID", "version")):
        if values.get(key):
            out[field] = values[key]
    return out


def parse_cpuinfo(text: str) -> str | None:
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name" and value.strip():
            return " ".join(value.split())
    return None


def read_machine(directory: Path = DMI) -> dict[str, str]:
    out = {}
    for field, name in DMI_FILES.items():
        try:
            value = (directory / name).read_text(errors="replace").strip()
        except OSError:  # absent (no DMI) or root-only (the serial)
            continue
        if value:
            out[field] = value
    return out


def parse_dpkg(text: str) -> list[dict[str, str]]:
    packages = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 4:
            continue
        status, name, version, arch = fields
        if len(status) < 2 or status[1] in _DPKG_ABSENT:
            continue
        packages.append({"name": name, "version": version, "arch": arch})
    return sorted(packages, key=lambda p: (p["name"], p["arch"], p["version"]))


def parse_rpm(text: str) -> list[dict[str, str]]:
    packages = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0]:
            name, version, arch = fields
            packages.append({"name": name, "version": version, "arch": arch})
    return sorted(packages, key=lambda p: (p["name"], p["arch"], p["version"]))


# Which program lists the packages, in order of preference: dpkg first, since Debian and
# Ubuntu can have rpm installed as a tool, with an empty database.
MANAGERS: tuple[tuple[str, tuple[str, ...], Callable[[str], list[dict[str, str]]]], ...] = (
    ("dpkg", DPKG_ARGV, parse_dpkg),
    ("rpm", RPM_ARGV, parse_rpm),
)


def read_software(which: Callable[[str], str | None] = shutil.which) -> dict[str, Any] | None:
    for manager, argv, parse in MANAGERS:
        if which(argv[0]) is None:
            continue
        result = run_command(argv, timeout=PACKAGES_TIMEOUT, env={"LC_ALL": "C"})
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]}: {result.last_error_line()}")
        return {"manager": manager, "packages": parse(result.stdout)}
    return None  # neither: a distribution this agent does not know the packages of


def _first_readable(paths: tuple[Path, ...]) -> str:
    for path in paths:
        try:
            return path.read_text(errors="replace")
        except OSError:
            continue
    return ""


class Reader:
    """Reads the facts, keeping the package list while the package database's fingerprint
    (`package_db_state`: inode, mtime and size of its files) is unchanged. dpkg replaces
    its status file and rpm writes its database on every change, so no refresh period is
    needed; a restarted agent lists the packages afresh."""

    def __init__(self, which: Callable[[str], str | None] = shutil.which,
                 state: Callable[[], Hashable] = package_db_state) -> None:
        self._which = which
        self._state = state
        self._software: tuple[Hashable, dict[str, Any] | None] | None = None

    def software(self) -> dict[str, Any] | None:
        fingerprint = self._state()  # before listing: a change while it runs counts next time
        if self._software is None or self._software[0] != fingerprint:
            self._software = (fingerprint, read_software(self._which))
        return self._software[1]

    def read(self, software: bool) -> PlatformFacts:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            cpuinfo = ""
        return PlatformFacts(
            os={**parse_os_release(_first_readable(OS_RELEASE)), "kernel": platform.release()},
            cpu_model=parse_cpuinfo(cpuinfo),
            machine=read_machine(),
            software=self.software() if software else None,
        )
