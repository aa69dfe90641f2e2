"""`watchkeeper maintenance add|list|end`: maintenance windows, in which nothing pages.

Inside a window, a device's missed heartbeats and its rules' triggers still open (or join)
cases, recorded on their timelines, but nobody is paged. When the window ends, what still
fails starts its escalation, and the people its first step names get one summary each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerting.maintenance import (
    Occurrence,
    Recurrence,
    Scope,
    Window,
    describe,
    local,
    parse_every,
    upcoming,
)
from collector.cli import (
    _by_arg,
    _config_arg,
    _duration,
    _moment_arg,
    _zone_arg,
    load_or_exit,
    no_customer,
)

if TYPE_CHECKING:
    import sqlite3

    from collector.config import CollectorConfig
    from collector.store.db import Database


def _clock_arg(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day; write HH:MM") from None


def _every_arg(text: str) -> str:
    """The word as given, once known good ('daily' parses to no weekday, None)."""
    try:
        parse_every(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def machine_zone() -> ZoneInfo:
    """The zone of a time given without one and without --tz: $TZ, else the zone
    /etc/localtime points to, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            name = os.readlink("/etc/localtime").split("zoneinfo/", 1)[1]
        except (OSError, IndexError):
            name = "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `maintenance` on the main CLI's subparsers."""
    m = sub.add_parser(
        "maintenance", help="maintenance windows: nothing pages inside one",
        description="Maintenance windows, one-off or recurring, for a device, a site or a"
                    " customer. Inside one, triggers still open cases (on their timelines) but"
                    " nobody is paged; when it ends, what still fails is paged in one summary"
                    " per recipient, and escalates from then on as usual.")
    m_sub = m.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = m_sub.add_parser(
        "add", help="add a one-off or recurring window",
        description="Add a window: one-off with --start and --end (or --for), or recurring"
                    " with --every, --from and --for, e.g. --every sunday --from 02:00 --for 2h"
                    " --tz Europe/London. A recurring window follows the wall clock of its zone"
                    " across daylight-saving changes.")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--device", metavar="DEVICE",
                        help="a device's hostname or id (the window keeps to that device even"
                             " if another later takes its hostname)")
    target.add_argument("--site", metavar="SITE", help="every device of this site")
    target.add_argument("--customer", metavar="CUSTOMER", help="every device of this customer")
    p.add_argument("--start", type=_moment_arg, metavar="TIME",
                   help="one-off: when it starts, 'YYYY-MM-DD HH:MM' on the clock of --tz")
    p.add_argument("--end", type=_moment_arg, metavar="TIME", help="one-off: when it ends")
    p.add_argument("--every", type=_every_arg, metavar="DAY",
                   help="recurring: 'daily' or a weekday, e.g. sunday")
    p.add_argument("--from", dest="at", type=_clock_arg, metavar="HH:MM",
                   help="recurring: the time of day it starts, on the clock of --tz")
    p.add_argument("--for", dest="length", type=_duration, metavar="DURATION",
                   help="how long it lasts, e.g. 2h or 90m (a one-off window may give --end"
                        " instead)")
    p.add_argument("--tz", type=_zone_arg, metavar="ZONE",
                   help="the time zone of the times given, e.g. Europe/London (default: this"
                        " machine's)")
    p.add_argument("--reason", required=True, metavar="TEXT",
                   help="why, for the list, the timelines and the summary")
    _by_arg(p, "adds it")
    _config_arg(p)
    p.set_defaults(func=cmd_add)

    p = m_sub.add_parser("list", help="windows under way and to come",
                         description="List the windows under way and to come, with the cases"
                                     " each keeps quiet now.")
    p.add_argument("--all", action="store_true", help="include windows that are over")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _config_arg(p)
    p.set_defaults(func=cmd_list)

    p = m_sub.add_parser(
        "end", help="end a window now",
        description="End a window now: what it kept quiet and still fails is paged at once, in"
                    " one summary per recipient. A one-off window that has not started is"
                    " called off. Of a recurring window, the occurrence under way ends and the"
                    " schedule goes on, unless --series.")
    p.add_argument("id", type=int, metavar="ID", help="the window's number")
    p.add_argument("--series", action="store_true",
                   help="a recurring window: stop its schedule too (no later occurrence)")
    _by_arg(p, "ends it")
    _config_arg(p)
    p.set_defaults(func=cmd_end)


def _fail(message: str, status: int = 1) -> int:
    print(f"watchkeeper: {message}", file=sys.stderr)
    return status


def _instant(moment: datetime, zone: ZoneInfo) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _target(args: argparse.Namespace, config: CollectorConfig,
            db: Database) -> tuple[Scope, str, str] | str:
    """(scope, target, how to name it), or why not."""
    from collector.device_view import DeviceLookupError, find_device
    if args.device is not None:
        try:
            device = find_device(db.conn, args.device)
        except DeviceLookupError as exc:
            return str(exc)
        return Scope.DEVICE, device["id"], f"device {device['hostname']} ({device['id']})"
    if args.customer is not None:
        if (unknown := no_customer(config, args.customer)) is not None:
            return unknown
        return Scope.CUSTOMER, args.customer, f"customer {args.customer}"
    site = args.site.strip()
    if not site:
        return "--site needs a site name"
    return Scope.SITE, site, f"site {site}"


def _when(args: argparse.Namespace, zone: ZoneInfo,
          now: float) -> tuple[float, float | None, Recurrence | None] | str:
    """(start, end, recurrence) of the window asked for, or why not."""
    if args.every is not None or args.at is not None:
        if args.start is not None or args.end is not None:
            return ("--start and --end make a one-off window; a recurring one takes --every,"
                    " --from and --for")
        if args.every is None or args.at is None or args.length is None:
            return "a recurring window needs --every DAY, --from HH:MM and --for DURATION"
        try:
            return now, None, Recurrence(parse_every(args.every), args.at, args.length)
        except ValueError as exc:
            return str(exc)
    if args.start is None or (args.end is None) == (args.length is None):
        return ("give --start and --end (or --start and --for) for a one-off window, or"
                " --every, --from and --for for a recurring one")
    start = _instant(args.start, zone)
    end = _instant(args.end, zone) if args.end is not None else start + args.length
    if end <= start:
        return f"the window ends ({local(end, zone)}) before it starts ({local(start, zone)})"
    if end <= now:
        return f"the window would be over already (it ends {local(end, zone)})"
    return start, end, None


def _state(occ: Occurrence | None, now: float) -> str:
    if occ is None:
        return "over"
    return "active" if occ.contains(now) else "upcoming"


def _now_next(w: Window, occ: Occurrence | None, now: float) -> str:
    if occ is None:
        return "-"
    if occ.contains(now):
        return f"until {local(occ.end, w.time_zone)}"
    return f"from {local(occ.start, w.time_zone)}"


def cmd_add(args: argparse.Namespace) -> int:
    from collector import maintenance_store
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    db = Database(config.database)
    now = SystemClock().now()
    zone = args.tz or machine_zone()
    target = _target(args, config, db)
    if isinstance(target, str):
        return _fail(target)
    when = _when(args, zone, now)
    if isinstance(when, str):
        return _fail(when, 2)
    scope, key, name = target
    start, end, recurrence = when
    with db.transaction() as conn:
        w = maintenance_store.add(conn, scope, key, start, end, recurrence, zone,
                                  args.reason.strip(), args.by, now)
    occ = upcoming(w, now)
    print(f"Maintenance window {w.id} added for {name}: {describe(w)}.")
    print(f"It is {_state(occ, now)}, {_now_next(w, occ, now)}. Inside it nothing pages; cases"
          " are still recorded. When it ends, what still fails is paged in one summary. To"
          f" end it early: watchkeeper maintenance end {w.id}")
    return 0


def _held(conn: sqlite3.Connection, window_id: int) -> list[int]:
    """The cases the window keeps quiet now."""
    return [r[0] for r in conn.execute(
        "SELECT id FROM cases WHERE suppressed_by = ? AND state NOT IN ('resolved', 'closed')"
        " ORDER BY id", (window_id,))]


def _targets(conn: sqlite3.Connection, w: Window) -> str:
    if w.scope is not Scope.DEVICE:
        return f"{w.scope.value} {w.target}"
    row = conn.execute("SELECT hostname FROM devices WHERE id = ?", (w.target,)).fetchone()
    return f"device {row['hostname'] if row else w.target}"


def _iso(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).isoformat()


def _as_json(conn: sqlite3.Connection, w: Window, now: float) -> dict:
    occ = upcoming(w, now)
    rec = w.recurrence
    return {
        "id": w.id, "scope": w.scope.value, "target": w.target,
        "name": _targets(conn, w), "reason": w.reason, "created_by": w.created_by,
        "time_zone": w.time_zone.key, "schedule": describe(w),
        "recurrence": None if rec is None else {
            "every": rec.every, "from": rec.at.strftime("%H:%M"), "seconds": rec.duration},
        "start": _iso(w.start, w.time_zone),
        "end": None if w.end is None else _iso(w.end, w.time_zone),
        "ended_at": None if w.ended_at is None else _iso(w.ended_at, w.time_zone),
        "state": _state(occ, now),
        "occurrence": None if occ is None else {
            "start": _iso(occ.start, w.time_zone), "end": _iso(occ.end, w.time_zone)},
        "held_cases": _held(conn, w.id),
    }


def cmd_list(args: argparse.Namespace) -> int:
    from collector import maintenance_store
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    db = Database(config.database)
    now = SystemClock().now()
    windows = maintenance_store.windows(db.conn, now, include_past=args.all)
    if args.json:
        print(json.dumps([_as_json(db.conn, w, now) for w in windows], indent=2))
        return 0
    if not windows:
        print("No maintenance windows." if args.all else
              "No maintenance window under way or to come.")
        return 0
    rows = []
    for w in windows:
        occ = upcoming(w, now)
        held = _held(db.conn, w.id)
        rows.append((str(w.id), _state(occ, now), _targets(db.conn, w), describe(w),
                     _now_next(w, occ, now), ",".join(f"#{n}" for n in held) or "-",
                     f"{w.reason} (by {w.created_by})"))
    head = ("ID", "STATE", "FOR", "WHEN", "NOW/NEXT", "QUIET", "REASON")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        print("  ".join(f"{cell:<{width}}" for cell, width in zip(r, widths, strict=False))
              + "  " + r[-1])
    return 0


def cmd_end(args: argparse.Namespace) -> int:
    from collector import maintenance_store, maintenance_worker
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    db = Database(config.database)
    now = SystemClock().now()
    try:
        with db.transaction() as conn:
            ended = maintenance_store.end(conn, args.id, args.by, now, args.series)
    except maintenance_store.WindowError as exc:
        return _fail(str(exc))
    w = ended.window
    if ended.cut is None and w.recurrence is None:
        print(f"Maintenance window {w.id} is called off (it would have started at"
              f" {local(w.start, w.time_zone)}).")
    elif ended.cut is None:
        print(f"Maintenance window {w.id} ends for good: no later occurrence.")
    elif w.recurrence is not None and not ended.series:
        nxt = upcoming(w, now)
        then = f"; the next is from {local(nxt.start, w.time_zone)}" if nxt else ""
        print(f"Maintenance window {w.id}: the occurrence under way since"
              f" {local(ended.cut.start, w.time_zone)} ended now; its schedule goes on{then}.")
    else:
        print(f"Maintenance window {w.id} ended now"
              f"{' for good' if w.recurrence is not None else ''}.")
    # The end is dealt with at once, here; the running collector then sends the summaries.
    results = [r for r in maintenance_worker.process_due(db, config, now) if r.window_id == w.id]
    held = sum(r.held for r in results)
    if not held:
        print("It kept no case quiet.")
    else:
        failing, messages = sum(r.failing for r in results), sum(r.messages for r in results)
        print(f"It kept {held} case(s) quiet; {failing} still fail: their escalation starts"
              f" now, and {messages} summary message(s) are queued for the collector to send.")
    return 0
