"""Pending updates on Fedora, RHEL and their rebuilds, from dnf.

Three questions, each from the metadata dnf already has (`--cacheonly`: no download, no
wait for a slow mirror; dnf-makecache.timer keeps it fresh). Output formats from dnf(8)
and the dnf-plugins-core documentation; not run in this project's CI (a Debian host),
so the parsers are tested on output written in the documented format:

- `dnf -q --cacheonly check-update`: exit 100 and one "name.arch  version  repo" line
  per update, 0 when there is none, 1 on error. A long name can push the version onto
  the next line, and an "Obsoleting Packages" section may follow.
- `dnf -q --cacheonly updateinfo list --security`: one line per (advisory, package):
  "FEDORA-2026-1a2b3c4d5e Important/Sec. openssl-libs-1:3.2.2-3.fc40.x86_64"; one
  package can appear under several advisories.
- `dnf -q needs-restarting -r`: exit 1 when a reboot is needed, 0 when not. Without
  dnf-plugins-core the command does not exist, which also exits 1 ("No such command").

All three answer from the rpm database and dnf's system cache (the one `--cacheonly` lets
an unprivileged user read; dnf(8)): `state` fingerprints both, and the sampler asks dnf
again only when it changed (or daily). A reboot, which also changes needs-restarting's
answer, restarts the agent.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path

from agent.samplers._command import run_command
from agent.samplers._recheck import entries, rpmdb_state
from agent.samplers.updates import Pending

CHECK_UPDATE = ("dnf", "-q", "--cacheonly", "check-update")
SECURITY = ("dnf", "-q", "--cacheonly", "updateinfo", "list", "--security")
NEEDS_RESTARTING = ("dnf", "-q", "needs-restarting", "-r")
UPDATES_AVAILABLE = 100
# dnf 4's and dnf 5's system caches: metadata (*.solv, repository directories) is
# replaced here when dnf-makecache.timer refreshes it.
CACHES = (Path("/var/cache/dnf"), Path("/var/cache/libdnf5"))
# name-[epoch:]version-release.arch; advisory IDs ("FEDORA-2026-1a2b", "RHSA-2026:1234")
# have no ".arch" and never match.
_NEVRA = re.compile(r"^(?P<name>\S+)-(?:\d+:)?[^-\s]+-[^-\s]+\.(?P<arch>[A-Za-z0-9_]+)$")


def state() -> Hashable:
    return rpmdb_state(), tuple(entries(cache) for cache in CACHES)


def parse_check_update(text: str) -> int:
    """How many updates `check-update` listed."""
    count = 0
    fields: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("Obsoleting Packages"):
            break  # the packages above, listed again with what they replace
        # A wrapped entry continues on the next line: count every three fields.
        fields.extend(line.split())
        while len(fields) >= 3:
            count += 1
            del fields[:3]
    return count


def parse_security(text: str) -> int:
    """How many packages have a pending security advisory."""
    packages = set()
    for line in text.splitlines():
        for word in line.split():
            if m := _NEVRA.match(word):
                packages.add((m.group("name"), m.group("arch")))
                break
    return len(packages)


def parse_needs_restarting(returncode: int, stderr: str) -> bool | None:
    """True/False, or None when dnf cannot tell (plugin missing, or another error)."""
    if returncode == 0:
        return False
    if returncode == 1 and "no such command" not in stderr.lower():
        return True
    return None


def read(timeout: float) -> Pending:
    check = run_command(CHECK_UPDATE, timeout=timeout, env={"LC_ALL": "C"})
    if check.returncode == 0:
        pending = 0
    elif check.returncode == UPDATES_AVAILABLE:
        pending = parse_check_update(check.stdout)
    else:
        raise RuntimeError(f"dnf check-update: {check.last_error_line()}")
    advisories = run_command(SECURITY, timeout=timeout, env={"LC_ALL": "C"})
    # Without updateinfo in the repositories (some third-party mirrors) dnf fails here;
    # the count of updates still stands, the security count is then unknown.
    security = parse_security(advisories.stdout) if advisories.returncode == 0 else None
    restart = run_command(NEEDS_RESTARTING, timeout=timeout, env={"LC_ALL": "C"})
    return Pending(pending, security, parse_needs_restarting(restart.returncode, restart.stderr))
