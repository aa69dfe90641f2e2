"""Maintenance windows in the database: reading them into `alerting.maintenance` windows,
adding and ending them, and marking the cases they keep quiet.

Thin: every decision (is this device covered now, when does this occurrence end) is made
by the pure functions of `alerting.maintenance`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from alerting.maintenance import (
    DeviceRef,
    Occurrence,
    Recurrence,
    Scope,
    Window,
    label,
    local,
    muting,
    occurrence,
    occurrence_at,
    parse_every,
)


class WindowError(LookupError):
    """No such window, or it cannot be ended the way asked."""


def _window(row: sqlite3.Row, cuts: tuple[tuple[float, float], ...]) -> Window:
    recurrence = None
    if row["every"] is not None:
        recurrence = Recurrence(parse_every(row["every"]), time.fromisoformat(row["at_time"]),
                                row["duration"])
    return Window(row["id"], Scope(row["scope"]), row["target"], row["starts_at"],
                  row["ends_at"], recurrence, ZoneInfo(row["time_zone"]), row["reason"],
                  row["created_by"], row["ended_at"], cuts)


def _load(conn: sqlite3.Connection, where: str, params: tuple) -> list[Window]:
    rows = conn.execute(f"SELECT * FROM maintenance_windows WHERE {where} ORDER BY id",
                        params).fetchall()
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    cuts: dict[int, list[tuple[float, float]]] = {}
    for c in conn.execute(
            "SELECT window_id, occurrence, ended_at FROM maintenance_occurrences WHERE"
            f" ended_at IS NOT NULL AND window_id IN ({','.join('?' * len(ids))})", ids):
        cuts.setdefault(c["window_id"], []).append((c["occurrence"], c["ended_at"]))
    return [_window(r, tuple(cuts.get(r["id"], ()))) for r in rows]


def windows(conn: sqlite3.Connection, now: float, include_past: bool = False) -> list[Window]:
    """Every window that is not over by `now` (with `include_past`, every window)."""
    if include_past:
        return _load(conn, "1", ())
    return _load(conn, "(ended_at IS NULL OR ended_at > ?) AND (ends_at IS NULL OR ends_at > ?)",
                 (now, now))


def window(conn: sqlite3.Connection, window_id: int) -> Window:
    found = _load(conn, "id = ?", (window_id,))
    if not found:
        raise WindowError(f"there is no maintenance window {window_id}")
    return found[0]


def device_ref(conn: sqlite3.Connection, device_id: str | None, customer: str,
               site: str | None = None) -> DeviceRef:
    """What windows match a trigger on: its device, customer and site. The site is the
    device's own when it has one, else `site`."""
    if device_id is not None:
        row = conn.execute("SELECT site FROM devices WHERE id = ?", (device_id,)).fetchone()
        if row is not None and row["site"] is not None:
            site = row["site"]
    return DeviceRef(device_id, customer, site)


def muting_occurrence(conn: sqlite3.Connection, device_id: str | None, customer: str,
                      now: float, site: str | None = None) -> Occurrence | None:
    """The maintenance occurrence that keeps a trigger quiet now (None: page as usual)."""
    device = device_ref(conn, device_id, customer, site)
    # SQL narrows the candidates to those naming this device, its site or customer (by
    # index); `muting` decides, scope included.
    candidates = _load(
        conn, "target IN (?, ?, ?) AND (ended_at IS NULL OR ended_at > ?) AND starts_at <= ?"
        " AND (ends_at IS NULL OR ends_at > ?)",
        (device.id, device.customer, device.site, now, now, now))
    return muting(candidates, device, now)


def suppress(conn: sqlite3.Connection, case_id: int, occ: Occurrence) -> None:
    """Mark the case as kept quiet by `occ`, whose end will deal with it."""
    conn.execute("INSERT OR IGNORE INTO maintenance_occurrences (window_id, occurrence)"
                 " VALUES (?, ?)", (occ.window.id, occ.key))
    conn.execute("UPDATE cases SET suppressed_by = ?, suppressed_occurrence = ? WHERE id = ?",
                 (occ.window.id, occ.key, case_id))


def quiet_note(occ: Occurrence) -> str:
    """The timeline entry of a case kept quiet."""
    return (f"During {label(occ.window)}, until {local(occ.end, occ.window.time_zone)}: not"
            " paging. If it still fails when the window ends, it is paged then, in one summary"
            " with the window's other cases")


def release(conn: sqlite3.Connection, case_id: int) -> None:
    """The case escalates from now on: no window holds it any more."""
    conn.execute("UPDATE cases SET suppressed_by = NULL, suppressed_occurrence = NULL"
                 " WHERE id = ?", (case_id,))


@dataclass(frozen=True, slots=True)
class PendingEnd:
    window: Window
    key: float
    end: float  # when the occurrence ends (or ended)


def pending_ends(conn: sqlite3.Connection) -> list[PendingEnd]:
    """The occurrences whose end has not been dealt with yet, soonest first."""
    rows = conn.execute("SELECT window_id, occurrence FROM maintenance_occurrences"
                        " WHERE processed_at IS NULL").fetchall()
    if not rows:
        return []
    ids = sorted({r["window_id"] for r in rows})
    by_id = {w.id: w for w in _load(conn, f"id IN ({','.join('?' * len(ids))})", tuple(ids))}
    found = []
    for r in rows:
        w = by_id[r["window_id"]]
        occ = occurrence(w, r["occurrence"])
        # Cut to nothing (ended before it took effect): it is over at its scheduled start.
        found.append(PendingEnd(w, r["occurrence"], occ.end if occ else r["occurrence"]))
    return sorted(found, key=lambda p: p.end)


def claim_end(conn: sqlite3.Connection, pending: PendingEnd, now: float) -> bool:
    """Take the occurrence's end to deal with it; False if another pass already has."""
    return bool(conn.execute(
        "UPDATE maintenance_occurrences SET processed_at = ? WHERE window_id = ?"
        " AND occurrence = ? AND processed_at IS NULL",
        (now, pending.window.id, pending.key)).rowcount)


def held_cases(conn: sqlite3.Connection, window_id: int, key: float) -> list[sqlite3.Row]:
    """The cases the occurrence kept quiet, with their device's hostname and status."""
    return conn.execute(
        "SELECT c.*, d.hostname, d.status AS device_status FROM cases c"
        " LEFT JOIN devices d ON d.id = c.device_id"
        " WHERE c.suppressed_by = ? AND c.suppressed_occurrence = ? ORDER BY c.id",
        (window_id, key)).fetchall()


def add(conn: sqlite3.Connection, scope: Scope, target: str, start: float, end: float | None,
        recurrence: Recurrence | None, zone: ZoneInfo, reason: str, by: str,
        now: float) -> Window:
    """Store a new window; ValueError if it is not one (e.g. it ends before it starts)."""
    Window(0, scope, target, start, end, recurrence, zone, reason, by)  # validates
    window_id = conn.execute(
        "INSERT INTO maintenance_windows (scope, target, starts_at, ends_at, every, at_time,"
        " duration, time_zone, reason, created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (scope.value, target, start, end, recurrence.every if recurrence else None,
         recurrence.at.strftime("%H:%M") if recurrence else None,
         recurrence.duration if recurrence else None, zone.key, reason, by, now)).lastrowid
    assert window_id is not None
    return window(conn, window_id)


@dataclass(frozen=True, slots=True)
class Ended:
    window: Window
    cut: Occurrence | None  # the occurrence that was under way and now ends (None: none was)
    series: bool  # the window ends for good (every later occurrence too)


def end(conn: sqlite3.Connection, window_id: int, by: str, now: float,
        series: bool = False) -> Ended:
    """End a window now. A one-off window ends (or, not started yet, is called off). A
    recurring one has its occurrence under way cut short and keeps its schedule, unless
    `series`, when it ends for good."""
    w = window(conn, window_id)
    if w.ended_at is not None and w.ended_at <= now:
        raise WindowError(f"maintenance window {window_id} was already ended at"
                          f" {_at(w.ended_at, w)}")
    running = occurrence_at(w, now)
    if w.recurrence is None or series:
        if w.end is not None and w.end <= now:
            raise WindowError(f"maintenance window {window_id} is already over (it ended at"
                              f" {_at(w.end, w)})")
        conn.execute("UPDATE maintenance_windows SET ended_at = ?, ended_by = ? WHERE id = ?",
                     (now, by, window_id))
        return Ended(window(conn, window_id), running, True)
    if running is None:
        raise WindowError(f"maintenance window {window_id} is not under way now; to stop its"
                          f" schedule: watchkeeper maintenance end {window_id} --series")
    conn.execute("INSERT INTO maintenance_occurrences (window_id, occurrence, ended_at, ended_by)"
                 " VALUES (?, ?, ?, ?) ON CONFLICT (window_id, occurrence) DO UPDATE SET"
                 " ended_at = excluded.ended_at, ended_by = excluded.ended_by",
                 (window_id, running.key, now, by))
    return Ended(window(conn, window_id), running, False)


def _at(at: float, w: Window) -> str:
    return local(at, w.time_zone)
