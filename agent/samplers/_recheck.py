"""Whether an expensive check must really run again, or its last answer still stands.

Some checks cost far more than the rest of the agent together: restic and borg derive a key
from the password on every repository open (meant to be slow: ~0.5 CPU s), `apt-get -s
dist-upgrade` solves the whole upgrade (~3 CPU s), dpkg-query lists every package. Their
answers depend on a few files only, so a cheap fingerprint of those files (their inode,
mtime and size, or a directory's names) tells when an answer may have changed. `must_run`
is the rule; `Checks` applies it per check.

The thin readers here never raise: what cannot be read is None, and None is part of the
fingerprint like any value (a file that appears or disappears is a change).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

Stat = tuple[int, int, int]
"""(inode, mtime in ns, size): the inode catches a file replaced by rename within the
filesystem's mtime granularity (2 s on FAT)."""


def stat(path: Path) -> Stat | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in a configured path
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def names(directory: Path) -> tuple[str, ...] | None:
    """The sorted names in `directory`; enough where files are never changed in place."""
    try:
        return tuple(sorted(os.listdir(directory)))
    except (OSError, ValueError):
        return None


def entries(directory: Path, keep: Callable[[str], bool] = lambda name: True
            ) -> tuple[tuple[str, Stat | None], ...] | None:
    """The names in `directory` that `keep` accepts, each with its `stat`."""
    found = names(directory)
    if found is None:
        return None
    return tuple((name, stat(directory / name)) for name in found if keep(name))


@dataclass(frozen=True, slots=True)
class Checked(Generic[T]):
    """A check's last real answer: the fingerprint taken just before it ran, and when."""

    fingerprint: Hashable
    at: float
    answer: T
    ok: bool


def must_run(fingerprint: Hashable, last: Checked[object] | None, now: float,
             max_age: float) -> bool:
    """Run the check (rather than reuse `last`)? Yes when there is no last answer; when it
    was not a good one (a failure is checked again every time, so a fix shows at once);
    when the fingerprint changed; when `max_age` has passed since the last real run (for
    what no fingerprint sees: a repository damaged in place, a password command's
    answer); or when the clock went back past that run."""
    if last is None or not last.ok or fingerprint != last.fingerprint:
        return True
    age = now - last.at
    return age >= max_age or age < 0


def _always_ok(answer: object) -> bool:
    return True


class Checks(Generic[K, T]):
    """The last real answer of each check (by key), reused while `must_run` allows."""

    def __init__(self) -> None:
        self.last: dict[K, Checked[T]] = {}

    def answer(self, key: K, fingerprint: Hashable, now: float, max_age: float,
               run: Callable[[], T], ok: Callable[[T], bool] = _always_ok) -> T:
        """`run()`'s answer, or the last one when nothing says it may have changed.
        `fingerprint` is taken before `run`, so a change while it runs is seen next time."""
        last = self.last.get(key)
        if last is not None and not must_run(fingerprint, last, now, max_age):
            return last.answer
        # Forgotten first: if `run` raises, the next call runs it again.
        self.last.pop(key, None)
        answer = run()
        self.last[key] = Checked(fingerprint, now, answer, ok(answer))
        return answer


# --- package databases (read by the updates and inventory samplers) ----------------------

DPKG_STATUS = Path("/var/lib/dpkg/status")
# dpkg journals each change here until it rewrites `status`; dpkg-query reads both.
DPKG_UPDATES = Path("/var/lib/dpkg/updates")
# rpm's database: /var/lib/rpm (RHEL 8, 9), /usr/lib/sysimage/rpm (Fedora 36+, RHEL 10,
# where /var/lib/rpm is a link to it).
RPMDB_DIRS = (Path("/var/lib/rpm"), Path("/usr/lib/sysimage/rpm"))


def is_rpmdb_data(name: str) -> bool:
    """A file of rpm's database that changes only when packages do. Left out: the lock
    files and the Berkeley DB environment (__db.00N) and SQLite shared memory (-shm),
    which every reader, rpm -qa included, writes."""
    return not name.startswith((".", "__db.")) and not name.endswith("-shm")


def dpkg_state() -> Hashable:
    return stat(DPKG_STATUS), names(DPKG_UPDATES)


def rpmdb_state() -> Hashable:
    return tuple(entries(d, is_rpmdb_data) for d in RPMDB_DIRS)


def package_db_state() -> Hashable:
    """The fingerprint of the installed packages, whichever of dpkg and rpm is used."""
    return dpkg_state(), rpmdb_state()
