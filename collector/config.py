"""The collector's configuration: TOML loaded once at start-up into frozen, typed objects.

Every problem names the file and key; relative paths are relative to the config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from alerting.notifiers import email, ntfy, sms
from alerting.notifiers._settings import is_loopback
from alerting.notifiers.email import SmtpSettings
from alerting.notifiers.registry import CHANNELS, Configured, load_channels
from alerting.oncall import Schedule
from alerting.oncall_config import load_schedules
from alerting.policy import Policy, load_policies
from alerting.sla_config import SlaConfig, load_sla
from alerting.targets import ADDRESS_FIELDS, DEFAULT_CHANNELS, Contact, Directory, Person, Role
from collector.heartbeats import HeartbeatPolicy
from rules.loader import RuleFileError, load_rules
from rules.model import RulePack
from watchkeeper.tomlconf import ConfigError, ConfigProblem, Table, read_toml


class Recovery(StrEnum):
    RESOLVE = "resolve"  # a heartbeat after "down" resolves the case by itself
    LEAVE = "leave"  # the case stays for the NOC to close; the recovery is on its timeline


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    tier: str
    contacts: tuple[Contact, ...]
    heartbeat: HeartbeatPolicy
    calendar: str | None = None  # its business calendar in sla.toml (None: the default)


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    source: Path
    listen_host: str
    listen_port: int
    public_url: str
    database: Path
    secret: bytes  # signs acknowledgement links; read once at start-up
    tls_cert: Path | None
    tls_key: Path | None
    max_report_bytes: int
    max_report_decompressed_bytes: int
    ack_link_ttl: float
    heartbeat: HeartbeatPolicy
    recovery: Recovery
    # The email channel, which every collector has: [channel.email], or the older [smtp]
    # under its first name, or the defaults (a relay on this machine).
    smtp: SmtpSettings
    channels: Mapping[str, Configured[Any]]  # every other [channel.NAME]
    customers: tuple[Customer, ...]
    rules: RulePack
    policies: tuple[Policy, ...]
    directory: Directory  # people, roles, customer contacts, schedules: whom steps reach
    oncall: Path  # the on-call schedules file (it may not exist: then there are none)
    sla: SlaConfig  # targets and customer calendars (none without sla.toml)
    sla_escalation_to: tuple[str, ...]  # people told of SLA escalations and breaches

    @property
    def people(self) -> tuple[Person, ...]:
        return self.directory.people

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return self.directory.schedules

    def channel(self, name: str) -> Configured[Any]:
        """The channel called `name`; raises KeyError for one that is not set up."""
        if name == "email":
            return Configured(CHANNELS["email"], self.smtp)
        return self.channels[name]

    def customer(self, name: str) -> Customer | None:
        return next((c for c in self.customers if c.name == name), None)

    def tier_of(self, customer: str) -> str:
        found = self.customer(customer)
        return found.tier if found else "standard"

    def heartbeat_for(self, customer: str) -> HeartbeatPolicy:
        found = self.customer(customer)
        return found.heartbeat if found else self.heartbeat

    def person(self, name: str) -> Person | None:
        return self.directory.person(name)

def _heartbeat(t: Table, default: HeartbeatPolicy | None) -> HeartbeatPolicy:
    interval = t.duration("interval", default.interval if default else 60.0, positive=True)
    grace = t.duration("grace", None)
    missed = t.int("missed_before_case", default.missed_before_case if default else 5, minimum=1)
    interval = interval or 60.0
    if grace is None:
        # Half an interval absorbs network jitter without delaying a real outage much.
        grace = default.grace if default and "interval" not in t.data else interval / 2
    return HeartbeatPolicy(interval=interval, grace=grace, missed_before_case=missed or 1)


# Each address field of a [[person]] or contact, checked by the channel that uses it.
_ADDRESS_CHECKS = {"email": email.check_address, "phone": sms.check_address,
                   "ntfy_topic": ntfy.check_address}


def _email_channel(root: Table, channels: dict[str, Configured[Any]], base: Path) -> SmtpSettings:
    """[channel.email]; or [smtp], its name from before there were other channels, read the
    same way; or, with neither, the defaults (a relay on this machine)."""
    configured = channels.pop("email", None)
    if "smtp" not in root.data:
        return configured.settings if configured else email.load(
            Table({}, root.file, "channel.email", root.problems), base)
    legacy = root.table("smtp")
    if configured is not None:
        root.problem("smtp", "[smtp] is the older name of [channel.email]; keep only"
                     " [channel.email]")
        return configured.settings
    if legacy.str("password", None) is not None:
        legacy.problem("password", "passwords are no longer kept in this file: write it to a"
                       " file only the collector can read and name that file in password_file")
    return email.load(legacy, base)


def _contact_points(t: Table, fields: tuple[str, ...], set_up: Mapping[str, Any],
                    shared: frozenset[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """A recipient's addresses, each checked by the channel that uses it, and their own order
    of channels (default: email only)."""
    values = {}
    for name in fields:
        value = t.str(name, "") or ""
        if value and (reason := _ADDRESS_CHECKS[name](value)):
            t.problem(name, reason)
        values[name] = value
    explicit = "channels" in t.data
    order = tuple(t.str_list("channels", list(DEFAULT_CHANNELS)) or ())
    if explicit and not order:
        t.problem("channels", "name at least one channel")
    if len(set(order)) != len(order):
        t.problem("channels", "names a channel twice")
    for channel in order:
        field = ADDRESS_FIELDS.get(channel)
        if channel not in set_up:
            t.problem("channels", f"{channel!r} is not a channel this collector has" + (
                f": there is no [channel.{channel}]" if channel in CHANNELS
                else f" (channels: {', '.join(CHANNELS)})"))
        elif field and not values.get(field) and channel not in shared:
            if explicit:
                t.problem("channels", f"{channel!r}: there is no {field} to reach them by"
                          f" {channel}")
            else:
                t.problem(field, f"is required: without `channels`, messages go by {channel}")
    return values, order


def _duplicates(root: Table, key: str, names: list[str]) -> None:
    for dup in sorted({n for n in names if names.count(n) > 1}):
        root.problem(key, f"{key} {dup!r} is defined twice")


def _load_sla(path: Path, sla_path: Path, named: bool, customers: list[Customer],
              emails: dict[str, str], escalate_to: tuple[str, ...],
              problems: list[ConfigProblem]) -> SlaConfig:
    """sla.toml (optional unless [collector] names it), and the keys of this file that refer
    to it: each customer's calendar and the people told of SLA escalations and breaches."""
    sla, loaded = SlaConfig((), (), None), True
    if named or sla_path.is_file():
        try:
            sla = load_sla(sla_path)
        except ConfigError as exc:
            problems += exc.problems
            loaded = False  # its calendars are unknown: a customer's cannot be checked
    names = ", ".join(c.name for c in sla.calendars) or f"none: {sla_path} defines no calendar"
    for i, customer in enumerate(customers):
        if loaded and customer.calendar is not None and sla.calendar(customer.calendar) is None:
            problems.append(ConfigProblem(str(path), f"customer[{i}].calendar", f"no"
                                          f" [[calendar]] is named {customer.calendar!r}"
                                          f" (calendars: {names})"))
    for name in escalate_to:
        reason = f"no [[person]] named {name!r}" if name not in emails else \
            "has no email address (SLA escalations go by email)" if not emails[name] else None
        if reason:
            problems.append(ConfigProblem(str(path), "collector.sla_escalation_to",
                                          f"{name!r}: {reason}"))
    return sla


def load_config(path: Path) -> CollectorConfig:
    path = path.resolve()
    root = Table(read_toml(path), str(path))
    base = path.parent

    def rel(value: str | None) -> Path | None:
        return (base / value) if value else None

    c = root.table("collector")
    listen_host = c.str("listen_host", "127.0.0.1")
    listen_port = c.int("listen_port", 8470, minimum=1)
    public_url = c.str("public_url", f"http://{listen_host}:{listen_port}")
    database = rel(c.str("database", "watchkeeper.db"))
    secret_file = rel(c.str("secret_file", "secret.key"))
    tls_cert, tls_key = rel(c.str("tls_cert", "")), rel(c.str("tls_key", ""))
    allow_plain = c.bool("allow_plain_http", False)
    if (tls_cert is None) != (tls_key is None):
        c.problem("tls_key" if tls_cert else "tls_cert", "tls_cert and tls_key go together")
    if tls_cert is None and not allow_plain:
        c.problem("allow_plain_http", "no tls_cert/tls_key is set, so the collector would serve"
                  " plain HTTP; set tls_cert and tls_key, or allow_plain_http = true for tests")
    if tls_cert is None and allow_plain and listen_host and not is_loopback(listen_host):
        c.problem("listen_host", f"plain HTTP is only served on loopback, not on {listen_host!r};"
                  " set tls_cert and tls_key")
    for name, p in (("tls_cert", tls_cert), ("tls_key", tls_key)):
        if p is not None and not p.is_file():
            c.problem(name, f"{p} does not exist")
    max_bytes = c.int("max_report_bytes", 1 << 20, minimum=1024)
    max_decompressed = c.int("max_report_decompressed_bytes", 16 << 20, minimum=1024)
    ack_ttl = c.duration("ack_link_ttl", "24h", positive=True)
    secret = b""
    if secret_file is not None:
        try:
            secret = secret_file.read_bytes().strip()
        except OSError as exc:
            c.problem("secret_file", f"cannot read {secret_file}: {exc.strerror}")
        else:
            if len(secret) < 32:
                c.problem("secret_file", f"{secret_file} holds {len(secret)} bytes; a signing"
                          " key needs at least 32 (`watchkeeper collector init` writes one)")
    rules_path = rel(c.str("rules", "rules"))
    escalation_path = rel(c.str("escalation", "escalation.toml"))
    sla_path, sla_named = base / (c.str("sla", "sla.toml") or "sla.toml"), "sla" in c.data
    sla_to = tuple(c.str_list("sla_escalation_to", []) or ())
    # Optional: without the file there are no on-call schedules (unless it was named here).
    oncall_path = base / (c.str("oncall", "oncall.toml") or "oncall.toml")
    if "oncall" in c.data and not oncall_path.is_file():
        c.problem("oncall", f"{oncall_path} does not exist")
    c.done()

    hb_table = root.table("heartbeat")
    heartbeat = _heartbeat(hb_table, None)
    recovery = hb_table.choice("on_recovery", Recovery, "resolve") or Recovery.RESOLVE
    hb_table.done()

    channels = load_channels(root.table("channel"), base)
    smtp = _email_channel(root, channels, base)
    set_up = {"email": CHANNELS["email"].kinds,
              **{name: ch.type.kinds for name, ch in channels.items()}}
    ntfy_channel = channels.get("ntfy")
    shared = frozenset({"ntfy"} if ntfy_channel and ntfy_channel.settings.topic else ())

    people = []
    for pt in root.tables("person"):
        name = pt.str("name") or ""
        values, order = _contact_points(pt, ("email", "phone", "ntfy_topic"), set_up, shared)
        people.append(Person(name, channels=order, **values))
        pt.done()
    _duplicates(root, "person", [p.name for p in people])
    roles = []
    for rt in root.tables("role"):
        members = rt.str_list("members") or []
        if "members" in rt.data and not members:
            rt.problem("members", "a role needs at least one member")
        for who in members:
            if who not in {p.name for p in people}:
                rt.problem("members", f"{who!r}: no [[person]] named {who!r}")
        roles.append(Role(rt.str("name") or "", tuple(members)))
        rt.done()
    _duplicates(root, "role", [r.name for r in roles])
    customers = []
    for ct in root.tables("customer"):
        contacts = []
        for kt in ct.tables("contact"):
            role, name = kt.str("role") or "", kt.str("name", "") or ""
            values, order = _contact_points(kt, ("email", "phone"), set_up, shared)
            contacts.append(Contact(role, name, channels=order, **values))
            kt.done()
        customers.append(Customer(ct.str("name") or "", ct.str("tier", "standard") or "standard",
                                  tuple(contacts), _heartbeat(ct, heartbeat),
                                  ct.str("calendar", None)))
        ct.done()
    _duplicates(root, "customer", [c.name for c in customers])
    root.done()

    problems = list(root.problems)
    rules = RulePack(())
    if rules_path is not None:
        try:
            rules = load_rules(rules_path)
        except RuleFileError as exc:
            problems += [ConfigProblem(p.file, ", ".join(
                part for part in (p.rule and f"rule {p.rule!r}", p.key and f"key {p.key!r}")
                if part), p.reason) for p in exc.problems]
    schedules: tuple[Schedule, ...] = ()
    schedules_ok = True
    if oncall_path.is_file():
        try:
            schedules = load_schedules(oncall_path, {p.name for p in people})
        except ConfigError as exc:
            problems += exc.problems
            schedules_ok = False
    directory = Directory(tuple(people), tuple(roles), {cu.name: cu.contacts for cu in customers},
                          schedules, set_up, shared)
    policies: tuple[Policy, ...] = ()
    if escalation_path is not None:
        try:
            policies = load_policies(escalation_path, directory, schedules_ok)
        except ConfigError as exc:
            problems += exc.problems
    sla = _load_sla(path, sla_path, sla_named, customers, {p.name: p.email for p in people},
                    sla_to, problems)
    if problems:
        raise ConfigError(problems)
    assert database and secret_file and listen_host and listen_port and public_url
    return CollectorConfig(
        source=path, listen_host=listen_host, listen_port=listen_port,
        public_url=public_url.rstrip("/"), database=database, secret=secret,
        tls_cert=tls_cert, tls_key=tls_key, max_report_bytes=max_bytes or 1 << 20,
        max_report_decompressed_bytes=max_decompressed or 16 << 20, ack_link_ttl=ack_ttl or 86400,
        heartbeat=heartbeat, recovery=recovery, smtp=smtp, channels=channels,
        customers=tuple(customers), rules=rules, policies=policies, directory=directory,
        oncall=oncall_path, sla=sla, sla_escalation_to=sla_to,
    )
