"""ClamAV on Linux: how old its newest signature database is.

freshclam keeps the databases in one directory (`DatabaseDirectory`, /var/lib/clamav on
Debian, Ubuntu and RHEL). Each `.cvd` (as downloaded) or `.cld` (after incremental
updates) file starts with a 512-byte header, colon-separated (libclamav `cl_cvdparse`):

    ClamAV-VDB:<build time>:<version>:<signatures>:<flevel>:<md5>:<dsig>:<builder>:<stime>

The build time is written "22 Nov 2026 01-46 +0000" (a dash between hour and minute,
because ':' separates the fields; `sigtool --info` shows it as "01:46"), and `stime` is
the same moment in Unix seconds, absent from very old files. Build time, not the file's
modification time, is what says how fresh the signatures are: copying or restoring the
directory makes new files of old signatures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from agent.samplers._localtime import MONTHS
from rules.model import Sample

if TYPE_CHECKING:
    from agent.samplers.antivirus import AntivirusSettings
    from agent.samplers.base import SamplerContext

DEFAULT_DATABASE = Path("/var/lib/clamav")
# daily changes several times a day, main every few months; the newest of them tells how
# current the engine's knowledge is. The bytecode database is not about signatures.
DATABASE_FILES = ("daily.cld", "daily.cvd", "main.cld", "main.cvd")
HEADER_BYTES = 512
_MAGIC = "ClamAV-VDB:"
_WRITTEN = re.compile(r"(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{1,2})-(\d{2}) ([+-])(\d{2})(\d{2})$")


def _written_time(text: str) -> float | None:
    """"22 Nov 2026 01-46 +0000": always a dash in the file, never "01:46" (see above)."""
    m = _WRITTEN.match(text.strip())
    if m is None or m.group(2).capitalize() not in MONTHS:
        return None
    day, month, year, hour, minute, sign, off_h, off_m = m.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        when = datetime(int(year), MONTHS[month.capitalize()], int(day), int(hour), int(minute),
                        tzinfo=timezone(offset))
    except ValueError:  # 31 Feb, hour 25, an offset of a day or more
        return None
    return when.timestamp()


def parse_header(head: bytes) -> float | None:
    """The build time (Unix seconds) in a database's first 512 bytes; None when they are
    not a CVD header, or it has no readable time."""
    text = head[:HEADER_BYTES].decode("ascii", "replace").strip("\x00 \r\n")
    if not text.startswith(_MAGIC):
        return None
    fields = text.split(":")
    if len(fields) > 8:
        stime = fields[8].strip()
        if stime.isdigit() and int(stime) > 0:
            return float(stime)
    # Old files have no `stime`: fall back to the written build time.
    return _written_time(fields[1]) if len(fields) > 1 else None


@dataclass(frozen=True, slots=True)
class Database:
    """One database file as read: its name, header bytes and modification time."""

    name: str
    head: bytes
    mtime: float

    @property
    def built(self) -> float:
        return parse_header(self.head) or self.mtime


def signature_age_days(databases: Iterable[Database], now: float) -> float | None:
    """Days since the newest database was built; None when there is none."""
    newest = max((d.built for d in databases), default=None)
    if newest is None:
        return None
    # A build time ahead of our clock (clock skew) is "fresh", not a negative age.
    return max(0.0, (now - newest) / 86400.0)


def parse(databases: Iterable[Database], now: float) -> list[Sample]:
    age = signature_age_days(databases, now)
    if age is None:
        return []
    return [Sample("av.signature_age_days", age, now, {"product": "clamav"})]


def read(directory: Path) -> list[Database]:
    """The database files present in `directory` (none: an empty list)."""
    found = []
    for name in DATABASE_FILES:
        path = directory / name
        try:
            with path.open("rb") as fh:
                head = fh.read(HEADER_BYTES)
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        found.append(Database(name, head, mtime))
    return found


class ClamAV:
    """`av.signature_age_days{product="clamav"}`; nothing on a host without ClamAV."""

    def __init__(self, directory: Path, configured: bool) -> None:
        self.directory = directory
        self.configured = configured

    def collect(self, now: float) -> list[Sample]:
        if not self.directory.is_dir():
            if self.configured:
                raise RuntimeError(f"ClamAV database directory {self.directory} does not exist"
                                   " (sampler.antivirus clamav_database)")
            return []  # no ClamAV on this host: nothing to measure
        databases = read(self.directory)
        if not databases:
            # ClamAV is installed but has never had signatures (freshclam has not run, or
            # cannot reach its mirror): the scanner refuses to start. That needs fixing,
            # so it is a failure, not "nothing here".
            raise RuntimeError(f"no ClamAV signature database in {self.directory} "
                               f"(none of {', '.join(DATABASE_FILES)}); has freshclam run?")
        return parse(databases, now)


def product(settings: AntivirusSettings, ctx: SamplerContext) -> ClamAV:
    if settings.clamav_database is not None:
        return ClamAV(settings.clamav_database, configured=True)
    return ClamAV(DEFAULT_DATABASE, configured=False)
