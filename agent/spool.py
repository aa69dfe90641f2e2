"""The agent's on-disk spool: every report waits here until the collector confirms it.

One gzip file per report, named by sequence number, so replay order is the file order and
a restart finds exactly what was not yet confirmed. Files are written to a temporary name,
flushed and renamed, so a kill at any moment leaves either the whole report or none of it
(the temporary file is removed at the next start).

The spool is bounded. When a new report would not fit, metrics go first: the oldest
reports lose their samples (the file is rewritten without them, tagged "thinned"); only
when no report has samples left are whole reports dropped, oldest first, which is when
events and rule transitions are lost. Whatever was dropped is counted into the new report's
`dropped` field, so the collector knows.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# <seq>.full.json.gz holds a whole report; <seq>.thin.json.gz one whose metrics were dropped.
FULL, THIN = "full", "thin"
SUFFIX = ".json.gz"
# What "thinning" removes: the measurements, not what happened (events, transitions) nor
# the inventory (it is sent only when it changes, so dropping it would hide a change).
METRIC_FIELDS = ("samples", "samplers")


@dataclass
class Dropped:
    samples: int = 0
    events: int = 0
    transitions: int = 0
    reports: int = 0

    def __bool__(self) -> bool:
        return any(vars(self).values())

    def to_wire(self) -> dict[str, int]:
        return dict(vars(self))


@dataclass
class _Entry:
    seq: int
    kind: str
    size: int


class SpooledReport(dict[str, Any]):
    """A report read back from the spool, with `body`, the gzip bytes it is stored as: the
    collector is sent those as they are rather than the report encoded once more."""

    body: bytes = b""


@dataclass
class Spool:
    directory: Path
    max_bytes: int
    _entries: dict[int, _Entry] = field(default_factory=dict)
    # The sum of the entries' sizes, kept as they come and go: `_make_room` asks for it at
    # every step of its loops over a spool that may hold thousands of reports.
    _size: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.iterdir():
            name = path.name
            if name.endswith(".tmp"):
                path.unlink()  # a write the agent did not finish: never confirmed, never sent
                continue
            parts = name.removesuffix(SUFFIX).split(".")
            if not name.endswith(SUFFIX) or len(parts) != 2 or not parts[0].isdigit() \
                    or parts[1] not in (FULL, THIN):
                continue
            seq, kind = int(parts[0]), parts[1]
            if seq in self._entries:
                # Killed while thinning: the thin copy was written, the full one not yet
                # removed. The thin one is the later state.
                full = self._path(_Entry(seq, FULL, 0))
                full.unlink(missing_ok=True)
                kind = THIN
                path = self._path(_Entry(seq, THIN, 0))
            self._put(_Entry(seq, kind, path.stat().st_size))
        if self._entries:
            log.info("spool holds %d unsent reports (%d bytes)", len(self), self.size)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._size

    def _put(self, entry: _Entry) -> None:
        old = self._entries.get(entry.seq)
        self._size += entry.size - (old.size if old else 0)
        self._entries[entry.seq] = entry

    def _pop(self, seq: int) -> _Entry | None:
        entry = self._entries.pop(seq, None)
        if entry is not None:
            self._size -= entry.size
        return entry

    def seqs(self) -> list[int]:
        """Sequence numbers waiting, oldest first."""
        return sorted(self._entries)

    def _path(self, e: _Entry) -> Path:
        return self.directory / f"{e.seq:020d}.{e.kind}{SUFFIX}"

    def read(self, seq: int) -> SpooledReport | None:
        """The report, or None if its file is damaged (it is then set aside, and logged)."""
        entry = self._entries[seq]
        path = self._path(entry)
        try:
            body = path.read_bytes()
            report = SpooledReport(json.loads(gzip.decompress(body)))
        except (OSError, EOFError, ValueError, TypeError) as exc:
            log.error("spooled report %d is unreadable (%s); moved to %s.bad", seq, exc, path)
            path.rename(path.with_name(path.name + ".bad"))
            self._pop(seq)
            return None
        report.body = body
        return report

    def remove(self, seq: int) -> None:
        """The collector confirmed it (or refused it for good)."""
        entry = self._pop(seq)
        if entry is not None:
            self._path(entry).unlink(missing_ok=True)

    def append(self, report: dict[str, Any]) -> Dropped:
        """Store `report` (its `seq` names it), making room first; returns what was dropped,
        which is also added to the report's own `dropped` field before it is written."""
        dropped = Dropped()
        blob = encode(report)
        self._make_room(len(blob), dropped)
        if self.size + len(blob) > self.max_bytes:
            # Even alone it does not fit: keep its events and transitions, not its metrics.
            _count_metrics(report, dropped)
            report = _thinned(report)
            blob = encode(report)
        if dropped:
            report = {**report, "dropped": _merge(report.get("dropped"), dropped)}
            blob = encode(report)
            log.warning("spool full (%d bytes): dropped %s", self.max_bytes, dropped.to_wire())
        self._write(_Entry(int(report["seq"]), THIN if _is_thin(report) else FULL, len(blob)),
                    blob)
        return dropped

    def _make_room(self, needed: int, dropped: Dropped) -> None:
        # First pass: thin the oldest full reports, one at a time, until the new one fits.
        for seq in self.seqs():
            if self.size + needed <= self.max_bytes:
                return
            entry = self._entries[seq]
            if entry.kind != FULL:
                continue
            report = self.read(seq)
            if report is None:
                continue
            _count_metrics(report, dropped)
            old_path = self._path(entry)
            thin = encode(_thinned(report))
            self._write(_Entry(seq, THIN, len(thin)), thin)
            old_path.unlink(missing_ok=True)
        # Second pass: no metrics left to give up; drop whole reports, oldest first.
        for seq in self.seqs():
            if self.size + needed <= self.max_bytes:
                return
            report = self.read(seq)
            if report is not None:
                dropped.events += len(report.get("events") or ())
                dropped.transitions += len(report.get("transitions") or ())
                dropped.reports += 1
                # Counts this report was carrying must not be lost with it.
                carried = report.get("dropped") or {}
                for k in vars(dropped):
                    setattr(dropped, k, getattr(dropped, k) + int(carried.get(k, 0)))
            self.remove(seq)

    def _write(self, entry: _Entry, blob: bytes) -> None:
        path = self._path(entry)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._put(entry)


def encode(report: dict[str, Any]) -> bytes:
    """A report as it is stored and sent: compact JSON, gzipped. (mtime=0: the same report
    always encodes to the same bytes.)"""
    return gzip.compress(json.dumps(report, separators=(",", ":")).encode(), 6, mtime=0)


def _is_thin(report: dict[str, Any]) -> bool:
    return not any(report.get(f) for f in METRIC_FIELDS)


def _thinned(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "samples": [], "samplers": []}


def _count_metrics(report: dict[str, Any], dropped: Dropped) -> None:
    dropped.samples += len(report.get("samples") or ())


def _merge(existing: Any, more: Dropped) -> dict[str, int]:
    base = existing if isinstance(existing, dict) else {}
    return {k: int(base.get(k, 0)) + v for k, v in more.to_wire().items()}
