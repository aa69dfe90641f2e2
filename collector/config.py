"""The collector's configuration: TOML loaded once at start-up into frozen, typed objects.

Every problem names the file and key; relative paths are relative to the config file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alerting.notifiers.email import SmtpSettings
from alerting.policy import Policy, load_policies
from collector.heartbeats import HeartbeatPolicy
from rules.loader import RuleFileError, load_rules
from rules.model import RulePack
from watchkeeper.tomlconf import ConfigError, ConfigProblem, Table, read_toml


class Recovery(StrEnum):
    RESOLVE = "resolve"  # a heartbeat after "down" resolves the case by itself
    LEAVE = "leave"  # the case stays for the NOC to close; the recovery is on its timeline


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Contact:
    role: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    tier: str
    contacts: tuple[Contact, ...]
    heartbeat: HeartbeatPolicy


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    source: Path
    listen_host: str
    listen_port: int
    public_url: str
    database: Path
    secret_file: Path
    secret: bytes  # signs acknowledgement links; read once at start-up
    tls_cert: Path | None
    tls_key: Path | None
    max_report_bytes: int
    max_report_decompressed_bytes: int
    ack_link_ttl: float
    heartbeat: HeartbeatPolicy
    recovery: Recovery
    smtp: SmtpSettings
    people: tuple[Person, ...]
    customers: tuple[Customer, ...]
    rules: RulePack
    policies: tuple[Policy, ...]

    def customer(self, name: str) -> Customer | None:
        return next((c for c in self.customers if c.name == name), None)

    def tier_of(self, customer: str) -> str:
        found = self.customer(customer)
        return found.tier if found else "standard"

    def heartbeat_for(self, customer: str) -> HeartbeatPolicy:
        found = self.customer(customer)
        return found.heartbeat if found else self.heartbeat

    def person(self, name: str) -> Person | None:
        return next((p for p in self.people if p.name == name), None)



def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _heartbeat(t: Table, default: HeartbeatPolicy | None) -> HeartbeatPolicy:
    interval = t.duration("interval", default.interval if default else 60.0, positive=True)
    grace = t.duration("grace", None)
    missed = t.int("missed_before_case", default.missed_before_case if default else 5, minimum=1)
    interval = interval or 60.0
    if grace is None:
        # Half an interval absorbs network jitter without delaying a real outage much.
        grace = default.grace if default and "interval" not in t.data else interval / 2
    return HeartbeatPolicy(interval=interval, grace=grace, missed_before_case=missed or 1)


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
    if tls_cert is None and allow_plain and listen_host and not _is_loopback(listen_host):
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
    c.done()

    hb_table = root.table("heartbeat")
    heartbeat = _heartbeat(hb_table, None)
    recovery = hb_table.choice("on_recovery", Recovery, "resolve") or Recovery.RESOLVE
    hb_table.done()

    s = root.table("smtp")
    password = s.str("password", "") or None
    password_file = rel(s.str("password_file", ""))
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as exc:
            s.problem("password_file", f"cannot read {password_file}: {exc.strerror}")
    smtp = SmtpSettings(
        host=s.str("host", "127.0.0.1"), port=s.int("port", 25, minimum=1),
        starttls=s.bool("starttls", False), username=s.str("username", "") or None,
        password=password, from_address=s.str("from_address", "watchkeeper@localhost"),
        timeout=s.duration("timeout", "10s", positive=True) or 10.0,
    )
    s.done()

    people = []
    for pt in root.tables("person"):
        people.append(Person(pt.str("name") or "", pt.str("email") or ""))
        pt.done()
    customers = []
    for ct in root.tables("customer"):
        contacts = []
        for kt in ct.tables("contact"):
            contacts.append(Contact(kt.str("role") or "", kt.str("name", "") or "",
                                    kt.str("email") or ""))
            kt.done()
        customers.append(Customer(ct.str("name") or "", ct.str("tier", "standard") or "standard",
                                  tuple(contacts), _heartbeat(ct, heartbeat)))
        ct.done()
    names = [c.name for c in customers]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        root.problem("customer", f"customer {dup!r} is defined twice")
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
    policies: tuple[Policy, ...] = ()
    if escalation_path is not None:
        try:
            policies = load_policies(escalation_path, {p.name for p in people},
                                     {k.role for cu in customers for k in cu.contacts})
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    assert database and secret_file and listen_host and listen_port and public_url
    return CollectorConfig(
        source=path, listen_host=listen_host, listen_port=listen_port,
        public_url=public_url.rstrip("/"), database=database, secret_file=secret_file,
        secret=secret,
        tls_cert=tls_cert, tls_key=tls_key, max_report_bytes=max_bytes or 1 << 20,
        max_report_decompressed_bytes=max_decompressed or 16 << 20, ack_link_ttl=ack_ttl or 86400,
        heartbeat=heartbeat, recovery=recovery, smtp=smtp, people=tuple(people),
        customers=tuple(customers), rules=rules, policies=policies,
    )
