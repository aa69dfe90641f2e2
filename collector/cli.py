"""Collector-side commands: init, run, enrolment tokens, cases, acknowledgement, devices.

Imports of the collector's stack happen inside the commands, so an agent-only install can
still show `watchkeeper --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from rules.model import EventLevel

if TYPE_CHECKING:
    import sqlite3
    from zoneinfo import ZoneInfo

    from collector.config import CollectorConfig
    from collector.store.db import Database

DEFAULT_CONFIG = os.environ.get("WATCHKEEPER_CONFIG", "collector.toml")
STARTER = {"listen_port": 8470, "public_url": "http://127.0.0.1:8470", "interval": "60s",
           "grace": "30s", "missed": 5, "smtp_port": 25}


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                   help="the collector's configuration file (default: $WATCHKEEPER_CONFIG"
                        " or ./collector.toml)")


def load_or_exit(path: Path) -> CollectorConfig:
    from collector.config import load_config
    from watchkeeper.tomlconf import ConfigError, print_problems
    try:
        return load_config(path)
    except ConfigError as exc:
        sys.exit(print_problems(exc))


def examples() -> list[str]:
    """The seed configurations shipped in collector/examples/ (see its README)."""
    folder = resources.files("collector") / "examples"
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def write_starter(directory: Path, force: bool = False, example: str | None = None,
                  **values: object) -> Path:
    """Write collector.toml, escalation.toml, sla.toml, the default rule pack and a signing
    key; with `example`, that seed configuration's files over the starter's."""
    from rules.loader import default_pack_path
    from watchkeeper.files import write_private
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "collector.toml"
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; use --force to overwrite it")
    templates = resources.files("collector") / "templates"
    text = Template((templates / "collector.toml").read_text()).substitute({**STARTER, **values})
    target.write_text(text)
    (directory / "escalation.toml").write_text((templates / "escalation.toml").read_text())
    (directory / "sla.toml").write_text((templates / "sla.toml").read_text())
    rules_dir = directory / "rules"
    rules_dir.mkdir(exist_ok=True)
    for pack_file in sorted(default_pack_path().glob("*.toml")):
        shutil.copyfile(pack_file, rules_dir / pack_file.name)
    key = directory / "secret.key"
    if not key.exists() or force:
        write_private(key, secrets.token_hex(32) + "\n")
    if example is not None:
        for source in (resources.files("collector") / "examples" / example).iterdir():
            if source.name.endswith(".toml"):
                (directory / source.name).write_text(source.read_text())
    return target


def cmd_init(args: argparse.Namespace) -> int:
    try:
        target = write_starter(args.dir, args.force, args.example)
    except FileExistsError as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {target}, {args.dir / 'escalation.toml'}, {args.dir / 'sla.toml'}, the"
          f" default rules in"
          f" {args.dir / 'rules'} and a signing key.\nEdit them, then: watchkeeper collector run"
          f" --config {target}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import ssl

    from aiohttp import web

    from collector.app import create_app
    from collector.takeover import AlreadyRunning
    from watchkeeper import logs

    config = load_or_exit(args.config)
    logs.setup(args.log_level, "collector")
    ssl_context = None
    if config.tls_cert and config.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
    scheme = "https" if ssl_context else "http"
    try:
        web.run_app(create_app(config), host=config.listen_host, port=config.listen_port,
                    ssl_context=ssl_context, access_log=None, print=lambda _: print(
                        f"collector listening on {scheme}://{config.listen_host}:"
                        f"{config.listen_port} (database {config.database})", flush=True))
    except OSError as exc:
        print(f"watchkeeper: cannot listen on {config.listen_host}:{config.listen_port}: "
              f"{exc.strerror}", file=sys.stderr)
        return 1
    except AlreadyRunning as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return 1
    return 0


def no_customer(config: CollectorConfig, name: str) -> str | None:
    """Why `name` is not a customer of `config`, or None when it is one."""
    if config.customer(name) is not None:
        return None
    known = ", ".join(c.name for c in config.customers) or "none"
    return f"no customer {name!r} in {config.source} (known: {known})"


def cmd_token_create(args: argparse.Namespace) -> int:
    from collector.enrolment import create_token
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    if (unknown := no_customer(config, args.customer)) is not None:
        print(f"watchkeeper: {unknown}", file=sys.stderr)
        return 1
    token = create_token(Database(config.database), args.customer, args.uses, args.ttl,
                         SystemClock().now(), args.site)
    print(token)
    where = f" at site {args.site}" if args.site else ""
    print(f"(enrols up to {args.uses} agent(s) for {args.customer}{where} within"
          f" {args.ttl / 3600:g} hours; it is not shown again)", file=sys.stderr)
    return 0


def _cases(config: CollectorConfig, include_closed: bool) -> list[dict]:
    from collector.store.db import Database
    db = Database(config.database)
    where = "" if include_closed else "WHERE c.state != 'closed'"
    rows = db.conn.execute(
        "SELECT c.*, d.hostname FROM cases c LEFT JOIN devices d ON d.id = c.device_id"
        f" {where} ORDER BY c.id").fetchall()
    return [{k: v for k, v in dict(r).items() if k != "policy"} for r in rows]


def cmd_cases(args: argparse.Namespace) -> int:
    from alerting.messages import when
    config = load_or_exit(args.config)
    cases = _cases(config, args.all)
    if args.json:
        print(json.dumps(cases, indent=2))
        return 0
    if not cases:
        print("No open cases." if not args.all else "No cases.")
        return 0
    print(f"{'CASE':>5}  SEV  {'STATE':<14} {'ASSIGNEE':<12} {'OPENED':<23} {'CUSTOMER':<12}"
          " TITLE")
    for c in cases:
        state = c["state"] + (", flapping" if c["flapping_since"] is not None else "")
        print(f"{c['id']:>5}  {c['severity']:>3}  {state:<14} {(c['assignee'] or '-')[:12]:<12}"
              f" {when(c['opened_at']):<23} {c['customer'][:12]:<12} {c['title']}")
    return 0


def _spent(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _case_lines(conn: sqlite3.Connection, case: sqlite3.Row, now: float) -> list[str]:
    """What a NOC engineer reads before the timeline: who has it, why it waits, the work
    spent on it, whether it flaps, how it was resolved and closed."""
    from alerting.cases import FLAP, HoldReason
    from alerting.messages import when
    from collector.casework import time_spent
    fields = [("Assignee", case["assignee"] or "nobody")]
    if case["state"] == "hold":
        fields.append(("On hold", HoldReason(case["hold_reason"]).label))
    fields.append(("Acknowledged", f"by {case['acknowledged_by']} via"
                   f" {case['acknowledged_via']} at {when(case['acknowledged_at'])}"
                   if case["acknowledged_at"] is not None else "not yet"))
    fields.append(("Time spent", _spent(time_spent(conn, case["id"]))))
    if case["flapping_since"] is not None:
        last = conn.execute("SELECT at, firing FROM case_transitions WHERE case_id = ?"
                            " ORDER BY at DESC LIMIT 1", (case["id"],)).fetchone()
        latest = f"{'fire' if last['firing'] else 'clear'} at {when(last['at'])}"
        if now - last["at"] < FLAP.window:
            flapping = (f"since {when(case['flapping_since'])}; the latest was a {latest}. It"
                        " is not paged afresh, and stops flapping after"
                        f" {FLAP.window / 60:g} min without a fire or clear")
        else:
            # Ended lazily, by the next fire or clear: until then the case waits for a person.
            flapping = (f"since {when(case['flapping_since'])}, quiet since the latest, a"
                        f" {latest}. It stays open until someone resolves it; the next fire or"
                        " clear ends the flapping")
        fields.append(("Flapping", flapping))
    if case["resolved_at"] is not None:
        fields += [("Resolved", f"by {case['resolved_by']} at {when(case['resolved_at'])}"),
                   ("Actions taken", case["resolution_actions"]),
                   ("Covered by SLA", {None: "not stated", 0: "no", 1: "yes"}[
                       case["covered_by_sla"]])]
    if case["closed_at"] is not None:
        fields.append(("Closed", f"by {case['closed_by']} at {when(case['closed_at'])}"))
    return [f"  {label + ':':<16}{value}" for label, value in fields]


def format_timeline(config: CollectorConfig, case_id: int, now: float | None = None) -> str:
    """The case as `case show` prints it; `now` (default: the system clock) tells whether a
    flapping case has been quiet for a whole flap window."""
    from alerting.messages import when
    from collector import sla_hooks
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock
    db = Database(config.database)
    case = db.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if case is None:
        raise LookupError(f"there is no case {case_id}")
    now = SystemClock().now() if now is None else now
    lines = [f"Case #{case['id']}  severity {case['severity']}  {case['state']}  "
             f"{case['customer']}: {case['title']}", *_case_lines(db.conn, case, now),
             *sla_hooks.summary_lines(db.conn, case, now), "Timeline:"]
    for ev in db.conn.execute("SELECT * FROM case_events WHERE case_id = ? ORDER BY id",
                              (case_id,)):
        lines.append(f"  {when(ev['at'])}  {ev['kind']:<13} {ev['text']}")
    return "\n".join(lines)


def cmd_case_show(args: argparse.Namespace) -> int:
    config = load_or_exit(args.config)
    try:
        print(format_timeline(config, args.case))
    except LookupError as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return 1
    return 0


def _os_user() -> str:
    import getpass
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the user database
        return "cli"


def _change(args: argparse.Namespace,
            do: Callable[[Database, CollectorConfig, float], str]) -> int:
    """Run one change to a case as `args.by`; a refusal says why (and what is allowed) and
    exits 1."""
    from alerting.cases import InvalidTransition
    from collector.casework import CaseConflict, CaseNotFound, UnknownPerson
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    if config.person(args.by) is None:
        # Recorded as given: the timeline must say who acted even if they are not paged.
        print(f"watchkeeper: note: {args.by!r} is not a [[person]] in {config.source};"
              " recorded as given", file=sys.stderr)
    try:
        print(do(Database(config.database), config, SystemClock().now()))
    except (CaseNotFound, InvalidTransition, CaseConflict, UnknownPerson) as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from alerting.messages import when
    from collector.casework import acknowledge

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        result = acknowledge(db, args.case, args.by, "cli", now)
        if result.acknowledged:
            return f"Case {args.case} acknowledged by {result.by}; its escalation has stopped."
        return (f"Case {args.case} was already acknowledged by {result.by} via {result.via}"
                f" at {when(result.at)}.")
    return _change(args, do)


def cmd_case_assign(args: argparse.Namespace) -> int:
    from alerting.cases import CaseState
    from collector.casework import assign

    def do(db: Database, config: CollectorConfig, now: float) -> str:
        state = assign(db, args.case, args.person, config.people, args.by, now)
        told = f"Case {args.case} is assigned to {args.person}."
        if state is CaseState.NEW:
            told += (" It is not acknowledged yet, so its escalation goes on until someone"
                     f" runs: watchkeeper ack {args.case}")
        return told
    return _change(args, do)


def cmd_case_note(args: argparse.Namespace) -> int:
    from collector.casework import add_note

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        total = add_note(db, args.case, args.text, args.by, now, args.minutes)
        return f"Note added to case {args.case}; {_spent(total)} spent on it in all."
    return _change(args, do)


def cmd_case_hold(args: argparse.Namespace) -> int:
    from alerting.cases import HoldReason
    from collector.casework import hold

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        reason = HoldReason(args.reason)
        hold(db, args.case, reason, args.by, now, args.note, args.minutes)
        return (f"Case {args.case} is on hold: {reason.label}. When work goes on:"
                f" watchkeeper case resume {args.case}")
    return _change(args, do)


def cmd_case_resume(args: argparse.Namespace) -> int:
    from collector.casework import resume

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        resume(db, args.case, args.by, now, args.note)
        return f"Case {args.case} is open again."
    return _change(args, do)


def cmd_case_resolve(args: argparse.Namespace) -> int:
    from collector.casework import resolve

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        covered = None if args.covered_by_sla is None else args.covered_by_sla == "yes"
        resolve(db, args.case, args.by, args.actions, now, covered, args.minutes)
        return f"Case {args.case} is resolved; close it with: watchkeeper case close {args.case}"
    return _change(args, do)


def cmd_case_close(args: argparse.Namespace) -> int:
    from collector.casework import close

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        close(db, args.case, args.by, now)
        return f"Case {args.case} is closed."
    return _change(args, do)


def cmd_case_reopen(args: argparse.Namespace) -> int:
    from collector.casework import reopen

    def do(db: Database, _: CollectorConfig, now: float) -> str:
        reopen(db, args.case, args.by, args.reason, now)
        return f"Case {args.case} is open again."
    return _change(args, do)


def _open_device(args: argparse.Namespace) -> tuple[Database, sqlite3.Row] | None:
    """The database and the device named on the command line, or None once the reason why
    not has been printed."""
    from collector.device_view import DeviceLookupError, find_device
    from collector.store.db import Database
    db = Database(load_or_exit(args.config).database)
    try:
        return db, find_device(db.conn, args.device)
    except DeviceLookupError as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return None


def cmd_device_show(args: argparse.Namespace) -> int:
    from collector.device_view import format_show
    found = _open_device(args)
    if found is None:
        return 1
    db, device = found
    print(format_show(db.conn, device))
    return 0


def cmd_device_inventory(args: argparse.Namespace) -> int:
    from collector import device_view as view
    found = _open_device(args)
    if found is None:
        return 1
    db, device = found
    if args.history:
        versions = view.history(view.inventory_versions(db.conn, device["id"]))
        print(json.dumps(view.history_json(versions), indent=2) if args.json
              else view.format_history(device, versions))
        return 0
    latest = view.latest_inventory(db.conn, device["id"])
    version = view.count_inventory(db.conn, device["id"])
    if args.json:
        print(json.dumps(None if latest is None else {
            "device": device["id"], "version": version, "at": latest["at"],
            "received_at": latest["received_at"], "hash": latest["hash"],
            "doc": json.loads(latest["doc"])}, indent=2))
    elif latest is None:
        print(f"No inventory from {view.device_name(device)} yet: the agent sends one a day.")
    else:
        print(view.format_inventory(device, latest, version))
    return 0


def cmd_device_events(args: argparse.Namespace) -> int:
    from collector.device_view import format_events
    found = _open_device(args)
    if found is None:
        return 1
    db, device = found
    print(format_events(db.conn, device, EventLevel(args.level), args.limit))
    return 0


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, not {text!r}")
    return n


def _duration(text: str) -> float:
    from rules.durations import parse_duration
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _zone_arg(text: str) -> ZoneInfo:
    from alerting.oncall_config import time_zone
    try:
        return time_zone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _moment_arg(text: str) -> datetime:
    """A --at/--start/--end; one without an offset is read later, on the clock of --tz."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; write 'YYYY-MM-DD HH:MM' (on the clock of --tz) or ISO"
            " 8601 with an offset, e.g. 2026-03-30T09:00+01:00") from None


def _by_arg(p: argparse.ArgumentParser, does: str) -> None:
    p.add_argument("--by", default=_os_user(), metavar="PERSON",
                   help=f"who {does}, as the timeline records it: a [[person]] name from"
                        " collector.toml (default: your login name)")


def _case_parsers(sub: argparse._SubParsersAction) -> None:
    from alerting.cases import HoldReason
    case = sub.add_parser(
        "case", help="look at or work one case",
        description="Look at one case, or move it through its states: new -> open (ack)"
                    " -> hold -> resolved -> closed, and reopen. Every change goes on the"
                    " case's timeline with who made it and when.")
    case_sub = case.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], summary: str,
            description: str, by: str | None) -> argparse.ArgumentParser:
        p = case_sub.add_parser(name, help=summary, description=description)
        p.add_argument("case", type=int, help="the case number")
        p.set_defaults(func=func)
        if by:
            _by_arg(p, by)
        _config_arg(p)
        return p

    add("show", cmd_case_show, "print a case and its timeline",
            "Print a case (assignee, hold reason, time spent, flapping, resolution, closure)"
            " and its whole timeline.", None)
    p = add("assign", cmd_case_assign, "give a case to a person",
            "Give a case to a [[person]] from collector.toml. This does not acknowledge it: the"
            " escalation goes on until someone runs `watchkeeper ack`.", "assigns it")
    p.add_argument("person", metavar="PERSON", help="a [[person]] name from collector.toml")
    p = add("note", cmd_case_note, "add a note, and the time it took",
            "Add a note to the case's timeline, with the minutes of work it records.",
            "writes it")
    p.add_argument("text", metavar="TEXT", help="the note")
    _minutes_arg(p)
    p = add("hold", cmd_case_hold, "put an open case on hold, with the reason",
            "Put an acknowledged case on hold while it waits. Run it again to change the"
            " reason; `case resume` ends the wait.", "puts it on hold")
    p.add_argument("--reason", required=True, choices=[r.value for r in HoldReason],
                   help="why it waits: " + ", ".join(
                       r.value if r.label.lower() == r.value.replace("-", " ")
                       else f"{r.value} ({r.label})" for r in HoldReason))
    p.add_argument("--note", help="more about the wait, for the timeline")
    _minutes_arg(p)
    p = add("resume", cmd_case_resume, "end a hold: the case is open again",
            "End a hold: the case is open, being worked, again.", "resumes it")
    p.add_argument("--note", help="what ended the wait, for the timeline")
    p = add("resolve", cmd_case_resolve, "record the resolution",
            "Resolve a case: the actions taken, who resolved it (--by) and whether the SLA"
            " covers it. Its \"unless acknowledged\" escalation steps stop.", "resolves it")
    p.add_argument("--actions", required=True, metavar="TEXT", help="the actions taken")
    p.add_argument("--covered-by-sla", choices=["yes", "no"],
                   help="whether the customer's SLA covers the work (default: not stated)")
    _minutes_arg(p)
    add("close", cmd_case_close, "close a case",
            "Close a case: its escalation and customer status messages stop, and a new"
            " trigger for the same device and problem opens a new case.", "closes it")
    p = add("reopen", cmd_case_reopen, "reopen a resolved or closed case",
            "Reopen a resolved or closed case: it is open again, in the hands of whoever"
            " reopens it (it pages nobody). A closed case cannot be reopened while a newer"
            " case for the same device and problem is not closed.", "reopens it")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the timeline")


def _minutes_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=_positive, default=0, metavar="M",
                   help="minutes of work to add to the case's time spent")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    col = sub.add_parser("collector", help="set up and run the collector",
                         description="Set up and run the collector service.")
    col_sub = col.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = col_sub.add_parser("init", help="write a commented starter configuration",
                           description="Write collector.toml, escalation.toml, sla.toml, the"
                                       " default rule pack and a signing key into DIR.")
    p.add_argument("--dir", type=Path, required=True, help="where to write the configuration")
    p.add_argument("--force", action="store_true", help="overwrite an existing configuration")
    p.add_argument("--example", choices=examples(),
                   help="start from a seed configuration (collector/examples/README.md):"
                        " its files replace the starter's")
    p.set_defaults(func=cmd_init)
    p = col_sub.add_parser("run", help="serve the collector",
                           description="Serve enrolment, ingest and acknowledgement; track"
                                       " heartbeats; escalate cases.")
    _config_arg(p)
    p.set_defaults(func=cmd_run)

    from collector.site_cli import add_device_parsers, site_name  # it imports this module
    tok = sub.add_parser("token", help="enrolment tokens",
                         description="Create enrolment tokens that let agents register.")
    tok_sub = tok.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = tok_sub.add_parser("create", help="print a new enrolment token for a customer",
                           description="Print a new enrolment token. It is shown once; the"
                                       " collector keeps only its hash.")
    p.add_argument("--customer", required=True, help="the customer the agents belong to")
    p.add_argument("--uses", type=int, default=1, help="how many agents it may enrol (default 1)")
    p.add_argument("--ttl", type=_duration, default=7 * 86400.0,
                   help="how long it stays valid, e.g. 2h or 7d (default 7d)")
    p.add_argument("--site", type=site_name,
                   help="the site (office, data centre) the agents are at: when most devices"
                        " of one site go silent together, one 'site unreachable' case pages"
                        " instead of one per device")
    _config_arg(p)
    p.set_defaults(func=cmd_token_create)

    p = sub.add_parser("cases", help="list cases", description="List cases, newest last.")
    p.add_argument("--all", action="store_true", help="include closed cases")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _config_arg(p)
    p.set_defaults(func=cmd_cases)
    _case_parsers(sub)
    from collector.oncall_cli import add_parser as add_oncall  # it imports this module
    add_oncall(sub)

    p = sub.add_parser("ack", help="acknowledge a case",
                       description="Acknowledge a case: it becomes open and its escalation stops.")
    p.add_argument("case", type=int, help="the case number")
    _by_arg(p, "acknowledges")
    _config_arg(p)
    p.set_defaults(func=cmd_ack)
    from collector.api_token_cli import add_parser as add_api_token  # it imports this module
    add_api_token(sub)

    dev = sub.add_parser("device", help="look at one device",
                         description="Look at one device: its status, configuration inventory"
                                     " and event-log entries. DEVICE is its id or hostname.")
    dev_sub = dev.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = dev_sub.add_parser("show", help="status, spool drops, inventory summary, latest events",
                           description="Print a device's status, last report, what its agent's"
                                       " spool had to discard, a summary of its latest inventory"
                                       " and its 20 latest events.")
    p.add_argument("device", metavar="DEVICE", help="the device's id or hostname")
    _config_arg(p)
    p.set_defaults(func=cmd_device_show)
    p = dev_sub.add_parser("inventory", help="the device's configuration, or its changes",
                           description="Print the device's latest configuration inventory (OS,"
                                       " hardware, software), or with --history every version"
                                       " and what changed from the one before.")
    p.add_argument("device", metavar="DEVICE", help="the device's id or hostname")
    p.add_argument("--history", action="store_true",
                   help="list every version with its changes: packages added, removed or"
                        " upgraded, OS and hardware changes")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    _config_arg(p)
    p.set_defaults(func=cmd_device_inventory)
    p = dev_sub.add_parser("events", help="the device's latest event-log entries",
                           description="Print the device's latest event-log entries, newest"
                                       " last.")
    p.add_argument("device", metavar="DEVICE", help="the device's id or hostname")
    p.add_argument("--level", choices=[lv.value for lv in EventLevel], default="debug",
                   help="only entries at this level or more severe, e.g. warning for warnings,"
                        " errors and critical entries (default: all)")
    p.add_argument("--limit", type=_positive, default=50,
                   help="how many entries at most (default 50)")
    _config_arg(p)
    p.set_defaults(func=cmd_device_events)
    add_device_parsers(dev_sub)
