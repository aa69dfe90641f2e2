"""Pending updates on Debian and Ubuntu, from apt's simulated dist-upgrade.

`apt-get -s -o Debug::NoLocking=true dist-upgrade` works without root and without taking
apt's lock (a running unattended-upgrades is not disturbed). It prints one line per
package it would install or upgrade (recorded in tests/fixtures/updates):

    Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
    Inst zip [3.0-13] (3.0-13+deb12u1 Debian-Security:12/oldstable-security [amd64])

An update is a security update when one of the origins in parentheses is a security
archive ("...-security": Debian-Security, Ubuntu's jammy-security). `apt list
--upgradable` is not used: apt warns that its output is not a stable interface.
The answer is only as fresh as the package lists, which apt-daily.timer refreshes.

It depends on the installed packages (dpkg's status), the package lists, apt's cache and
pinning, and the reboot flag is reported with it: `state` fingerprints all of these, and
the sampler asks apt again only when it changed (or daily).
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from agent.samplers._command import run_command
from agent.samplers._recheck import dpkg_state, entries, stat
from agent.samplers.updates import Pending

ARGV = ("apt-get", "-s", "-o", "Debug::NoLocking=true", "dist-upgrade")
# Written by packages (kernel, libc) whose update needs a restart; removed at boot.
REBOOT_FLAG = Path("/var/run/reboot-required")
# `apt-get update` replaces files here; apt's binary cache of them; pinning.
LISTS = Path("/var/lib/apt/lists")
PKGCACHE = Path("/var/cache/apt/pkgcache.bin")
PREFERENCES = Path("/etc/apt/preferences")
PREFERENCES_D = Path("/etc/apt/preferences.d")


def state() -> Hashable:
    """What the answer depends on, from stat calls: checked every run, so a new reboot
    flag or an installed package is reported on the next run."""
    return (dpkg_state(), entries(LISTS), stat(PKGCACHE), stat(PREFERENCES),
            entries(PREFERENCES_D), REBOOT_FLAG.exists())


def parse(text: str) -> tuple[int, int]:
    """(pending, security) from the simulated upgrade's output."""
    pending = security = 0
    for line in text.splitlines():
        if not line.startswith("Inst "):
            continue
        pending += 1
        start, end = line.find("("), line.rfind(")")
        if start != -1 and "-security" in line[start:end]:
            security += 1
    return pending, security


def read(timeout: float, reboot_flag: Path = REBOOT_FLAG) -> Pending:
    # LC_ALL=C: the "Inst" lines are not translated, but error messages are, and those
    # end up in the failure report the NOC reads.
    result = run_command(ARGV, timeout=timeout, env={"LC_ALL": "C"})
    if result.returncode != 0:
        raise RuntimeError(f"apt-get -s dist-upgrade: {result.last_error_line()}")
    pending, security = parse(result.stdout)
    return Pending(pending, security, reboot_flag.exists())
