"""What `watchkeeper device ...` reads and prints about one device: its heartbeat, spool
drops, configuration inventory (latest and history) and event-log entries.

Reads only; every query goes through an index. Agent-reported text is cleaned before it
reaches a terminal.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from alerting.messages import clean, when
from collector import inventory_diff
from collector.api.payload import Dropped
from rules.model import EventLevel


class DeviceLookupError(LookupError):
    pass


def find_device(conn: sqlite3.Connection, key: str) -> sqlite3.Row:
    """The device whose id is `key`, or else the one whose hostname is (case-insensitive)."""
    row = conn.execute("SELECT * FROM devices WHERE id = ?", (key,)).fetchone()
    if row is not None:
        return row
    rows = conn.execute("SELECT * FROM devices WHERE hostname = ? COLLATE NOCASE"
                        " ORDER BY enrolled_at", (key,)).fetchall()
    if not rows:
        raise DeviceLookupError(f"no device has the id or hostname {key!r}")
    if len(rows) > 1:
        lines = [f"{len(rows)} devices have the hostname {key!r}; name one by its id:"]
        lines += [f"  {r['id']}  {clean(r['customer']):<12} {_status(r):<8}"
                  f" enrolled {when(r['enrolled_at'])}, last seen {when(r['last_seen'])}"
                  for r in rows]
        raise DeviceLookupError("\n".join(lines))
    return rows[0]


def _status(device: sqlite3.Row) -> str:
    return "revoked" if device["revoked_at"] is not None else device["status"]


def device_name(device: sqlite3.Row) -> str:
    return f"{clean(device['hostname'])} (device {device['id']}, customer" \
           f" {clean(device['customer'])})"


@dataclass(frozen=True, slots=True)
class DropTotals:
    dropped: Dropped
    reports: int  # how many reports announced drops
    last_at: float | None
    last_seq: int | None


def drop_totals(conn: sqlite3.Connection, device_id: str) -> DropTotals:
    row = conn.execute(
        "SELECT COUNT(*) AS n, COALESCE(SUM(samples), 0) AS samples,"
        " COALESCE(SUM(events), 0) AS events, COALESCE(SUM(transitions), 0) AS transitions,"
        " COALESCE(SUM(reports), 0) AS reports, MAX(seq) AS last_seq"
        " FROM spool_drops WHERE device_id = ?", (device_id,)).fetchone()
    last = conn.execute("SELECT received_at FROM spool_drops WHERE device_id = ? AND seq = ?",
                        (device_id, row["last_seq"])).fetchone()
    return DropTotals(Dropped(row["samples"], row["events"], row["transitions"], row["reports"]),
                      row["n"], last["received_at"] if last else None, row["last_seq"])


def inventory_versions(conn: sqlite3.Connection, device_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM inventory WHERE device_id = ? ORDER BY id",
                        (device_id,)).fetchall()


def latest_inventory(conn: sqlite3.Connection, device_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM inventory WHERE device_id = ? ORDER BY id DESC LIMIT 1",
                        (device_id,)).fetchone()


def count_inventory(conn: sqlite3.Connection, device_id: str) -> int:
    return conn.execute("SELECT COUNT(*) FROM inventory WHERE device_id = ?",
                        (device_id,)).fetchone()[0]


def latest_events(conn: sqlite3.Connection, device_id: str, at_least: EventLevel,
                  limit: int) -> list[sqlite3.Row]:
    """The `limit` newest events at `at_least` or more severe, oldest first."""
    levels = [lv.value for lv in EventLevel if lv.rank <= at_least.rank]
    rows = conn.execute(
        f"SELECT * FROM events WHERE device_id = ? AND level IN ({','.join('?' * len(levels))})"
        " ORDER BY at DESC, id DESC LIMIT ?", (device_id, *levels, limit)).fetchall()
    return rows[::-1]


def count_events(conn: sqlite3.Connection, device_id: str) -> int:
    return conn.execute("SELECT COUNT(*) FROM events WHERE device_id = ?",
                        (device_id,)).fetchone()[0]


def event_line(e: sqlite3.Row, width: int) -> str:
    return (f"  {when(e['at'])}  {e['level']:<8} {clean(e['log'], 40):<12}"
            f" {clean(e['source'], 40):<24} {e['event_id']:>6}  {clean(e['message'], width)}")


EVENT_HEADER = f"  {'TIME':<23}  {'LEVEL':<8} {'LOG':<12} {'SOURCE':<24} {'ID':>6}  MESSAGE"


def _or_unknown(value: str | None) -> str:
    return clean(value) if value else "unknown (not in the inventory)"


def _packages(s: inventory_diff.Summary) -> str:
    return f"{s.packages} ({s.package_manager})" if s.package_manager else str(s.packages)


def summary_lines(doc: dict[str, Any]) -> list[str]:
    s = inventory_diff.summarise(doc)
    memory = None if s.memory_bytes is None else inventory_diff.gib(s.memory_bytes)
    return [
        f"  OS:          {_or_unknown(s.os)}",
        f"  Kernel:      {_or_unknown(s.kernel)}",
        f"  CPU:         {_or_unknown(s.cpu)}",
        f"  Memory:      {_or_unknown(memory)}",
        f"  Packages:    {_or_unknown(None if s.packages is None else _packages(s))}",
    ]


def format_show(conn: sqlite3.Connection, device: sqlite3.Row, event_count: int = 20) -> str:
    lines = [device_name(device)]
    status = _status(device)
    if status == "revoked":
        status += f" at {when(device['revoked_at'])}; the agent can no longer report"
    lines.append(f"Status:        {status}")
    last_seq = device["last_seq"]
    lines.append(f"Last seen:     {when(device['last_seen'])}"
                 + (f", report #{last_seq}" if last_seq is not None else ", no report yet"))
    lines.append(f"Enrolled:      {when(device['enrolled_at'])}")

    drops = drop_totals(conn, device["id"])
    if drops.reports:
        lines.append(f"Spool drops:   {drops.dropped.describe()}, announced by {drops.reports}"
                     f" report(s); latest {when(drops.last_at or 0)} (report #{drops.last_seq})")
    else:
        lines.append("Spool drops:   none (the agent never had to discard anything)")

    inv = latest_inventory(conn, device["id"])
    if inv is None:
        lines.append("Inventory:     none received yet")
    else:
        lines.append(f"Inventory:     as of {when(inv['at'])}"
                     f" (history: watchkeeper device inventory {device['id']} --history)")
        lines += summary_lines(json.loads(inv["doc"]))

    total = count_events(conn, device["id"])
    latest = latest_events(conn, device["id"], EventLevel.DEBUG, event_count)
    if not latest:
        lines.append("Events:        none received")
    else:
        lines.append(f"Latest events ({len(latest)} of {total}, newest last):")
        lines.append(EVENT_HEADER)
        lines += [event_line(e, 120) for e in latest]
    return "\n".join(lines)


def format_events(conn: sqlite3.Connection, device: sqlite3.Row, at_least: EventLevel,
                  limit: int) -> str:
    rows = latest_events(conn, device["id"], at_least, limit)
    which = "" if at_least is EventLevel.DEBUG else f" at level {at_least.value} or worse"
    if not rows:
        return f"No events{which} from {device_name(device)}."
    lines = [f"The {len(rows)} latest events{which} from {device_name(device)}, newest last:",
             EVENT_HEADER]
    lines += [event_line(e, 2000) for e in rows]
    return "\n".join(lines)


def format_inventory(device: sqlite3.Row, row: sqlite3.Row, version: int) -> str:
    doc = json.loads(row["doc"])
    lines = [f"Inventory of {device_name(device)}",
             f"  As of:       {when(row['at'])} (version {version}, hash {row['hash']})"]
    lines += summary_lines(doc)
    lines.append(json.dumps(doc, indent=2, sort_keys=True))
    return "\n".join(lines)


def history(versions: list[sqlite3.Row]) -> list[dict[str, Any]]:
    """Each version with what changed from the one before it (the first has no changes)."""
    out: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for number, row in enumerate(versions, start=1):
        doc = json.loads(row["doc"])
        changes = None if previous is None else inventory_diff.diff(previous, doc)
        out.append({"version": number, "at": row["at"], "received_at": row["received_at"],
                    "hash": row["hash"], "doc": doc, "changes": changes})
        previous = doc
    return out


def format_history(device: sqlite3.Row, versions: list[dict[str, Any]]) -> str:
    lines = [f"Configuration history of {device_name(device)}: {len(versions)} version(s),"
             " oldest first"]
    for v in versions:
        head = f"Version {v['version']}  {when(v['at'])}"
        if v["changes"] is None:
            s = inventory_diff.summarise(v["doc"])
            facts = [x for x in (s.os, None if s.packages is None else f"{s.packages} packages")
                     if x]
            lines.append(f"{head}  first inventory" + (f": {clean(', '.join(facts))}"
                                                        if facts else ""))
            continue
        described = inventory_diff.describe(v["changes"])
        # A new hash with no difference seen here (a list of plain values reordered, say,
        # which this view reads as a set): say so rather than print nothing.
        lines.append(f"{head}  {len(described)} change(s)" if described
                     else f"{head}  no difference in the document's values")
        lines += [f"    {clean(d, 500)}" for d in described]
    return "\n".join(lines)


def _changes_json(d: inventory_diff.InventoryDiff | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "packages_added": [{"name": p.name, "version": p.new} for p in d.added],
        "packages_removed": [{"name": p.name, "version": p.old} for p in d.removed],
        "packages_upgraded": [{"name": p.name, "from": p.old, "to": p.new} for p in d.upgraded],
        **{part: [{"path": f.path, "from": f.old, "to": f.new} for f in fields]
           for part, fields in (("os", d.os), ("hardware", d.hardware), ("other", d.other))},
    }


def history_json(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history without the documents themselves: a year of them would be megabytes."""
    return [{"version": v["version"], "at": v["at"], "received_at": v["received_at"],
             "hash": v["hash"], "changes": _changes_json(v["changes"])} for v in versions]
