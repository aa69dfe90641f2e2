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
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from rules.model import EventLevel

if TYPE_CHECKING:
    import sqlite3

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


def write_starter(directory: Path, force: bool = False, **values: object) -> Path:
    """Write collector.toml, escalation.toml, the default rule pack and a signing key."""
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
    rules_dir = directory / "rules"
    rules_dir.mkdir(exist_ok=True)
    for pack_file in sorted(default_pack_path().glob("*.toml")):
        shutil.copyfile(pack_file, rules_dir / pack_file.name)
    key = directory / "secret.key"
    if not key.exists() or force:
        write_private(key, secrets.token_hex(32) + "\n")
    return target


def cmd_init(args: argparse.Namespace) -> int:
    try:
        target = write_starter(args.dir, args.force)
    except FileExistsError as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {target}, {args.dir / 'escalation.toml'}, the default rules in"
          f" {args.dir / 'rules'} and a signing key.\nEdit them, then: watchkeeper collector run"
          f" --config {target}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import ssl

    from aiohttp import web

    from collector.app import create_app
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
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from collector.enrolment import create_token
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    if config.customer(args.customer) is None:
        known = ", ".join(c.name for c in config.customers) or "none"
        print(f"watchkeeper: no customer {args.customer!r} in {config.source} (known: {known})",
              file=sys.stderr)
        return 1
    token = create_token(Database(config.database), args.customer, args.uses, args.ttl,
                         SystemClock().now())
    print(token)
    print(f"(enrols up to {args.uses} agent(s) for {args.customer} within"
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
    print(f"{'CASE':>5}  SEV  {'STATE':<9} {'OPENED':<23} {'CUSTOMER':<12} TITLE")
    for c in cases:
        print(f"{c['id']:>5}  {c['severity']:>3}  {c['state']:<9} {when(c['opened_at']):<23}"
              f" {c['customer'][:12]:<12} {c['title']}")
    return 0


def format_timeline(config: CollectorConfig, case_id: int) -> str:
    from alerting.messages import when
    from collector.store.db import Database
    db = Database(config.database)
    case = db.conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if case is None:
        raise LookupError(f"there is no case {case_id}")
    lines = [f"Case #{case['id']}  severity {case['severity']}  {case['state']}  "
             f"{case['customer']}: {case['title']}"]
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


def cmd_ack(args: argparse.Namespace) -> int:
    from alerting.cases import InvalidTransition
    from alerting.messages import when
    from collector.casework import CaseNotFound, acknowledge
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    try:
        result = acknowledge(Database(config.database), args.case, args.by, "cli",
                             SystemClock().now())
    except (CaseNotFound, InvalidTransition) as exc:
        print(f"watchkeeper: {exc}", file=sys.stderr)
        return 1
    if result.acknowledged:
        print(f"Case {args.case} acknowledged by {result.by}; its escalation has stopped.")
    else:
        print(f"Case {args.case} was already acknowledged by {result.by} via {result.via}"
              f" at {when(result.at)}.")
    return 0


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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    col = sub.add_parser("collector", help="set up and run the collector",
                         description="Set up and run the collector service.")
    col_sub = col.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = col_sub.add_parser("init", help="write a commented starter configuration",
                           description="Write collector.toml, escalation.toml, the default rule"
                                       " pack and a signing key into DIR.")
    p.add_argument("--dir", type=Path, required=True, help="where to write the configuration")
    p.add_argument("--force", action="store_true", help="overwrite an existing configuration")
    p.set_defaults(func=cmd_init)
    p = col_sub.add_parser("run", help="serve the collector",
                           description="Serve enrolment, ingest and acknowledgement; track"
                                       " heartbeats; escalate cases.")
    _config_arg(p)
    p.set_defaults(func=cmd_run)

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
    _config_arg(p)
    p.set_defaults(func=cmd_token_create)

    p = sub.add_parser("cases", help="list cases", description="List cases, newest last.")
    p.add_argument("--all", action="store_true", help="include closed cases")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _config_arg(p)
    p.set_defaults(func=cmd_cases)

    case = sub.add_parser("case", help="one case", description="Look at one case.")
    case_sub = case.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = case_sub.add_parser("show", help="print a case and its timeline",
                            description="Print a case and its whole timeline.")
    p.add_argument("case", type=int, help="the case number")
    _config_arg(p)
    p.set_defaults(func=cmd_case_show)

    p = sub.add_parser("ack", help="acknowledge a case",
                       description="Acknowledge a case: it becomes open and its escalation stops.")
    p.add_argument("case", type=int, help="the case number")
    p.add_argument("--by", default=os.environ.get("USER", "cli"),
                   help="who acknowledges (default: $USER)")
    _config_arg(p)
    p.set_defaults(func=cmd_ack)

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
