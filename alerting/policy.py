"""Escalation policies: ordered steps with delays, targets, channels and a condition.

A policy is chosen by severity (and customer tier) when a case opens, and its steps are
copied onto the case, so a later edit of the file cannot derail a running escalation. Who a
step's targets are is worked out when the step runs (alerting/targets.py): an on-call
hand-off between two steps pages the new person.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from alerting.cases import UNACKNOWLEDGED_STATES, CaseState
from alerting.notifiers.base import Kind
from alerting.notifiers.registry import CHANNELS
from alerting.oncall import UnknownTarget
from alerting.targets import Directory
from watchkeeper.tomlconf import ConfigError, Table, read_toml


class Condition(StrEnum):
    UNACKNOWLEDGED = "unacknowledged"  # only while nobody has worked the case
    UNTIL_CLOSED = "until_closed"  # e.g. hourly status to the customer
    ALWAYS = "always"


def condition_holds(condition: Condition, state: CaseState) -> bool:
    if condition is Condition.UNACKNOWLEDGED:
        return state in UNACKNOWLEDGED_STATES
    if condition is Condition.UNTIL_CLOSED:
        return state is not CaseState.CLOSED
    return True


class MessageKind(StrEnum):
    """What a step sends; each is the notifier Kind of the same name."""

    PAGE = "page"  # to on-call staff, with an acknowledgement link
    NOTICE = "notice"  # to a customer contact: a case is open, with its number
    STATUS = "status"  # periodic status to a customer contact

    @property
    def kind(self) -> Kind:
        return Kind(self.value)


# Every channel the registry has, by name.
Channel = StrEnum("Channel", {name.upper(): name for name in CHANNELS})


@dataclass(frozen=True, slots=True)
class Step:
    after: float  # seconds from the case opening
    notify: tuple[str, ...]  # targets: see alerting/targets.py
    channels: tuple[Channel, ...]  # the order to try; empty: each recipient's own order
    condition: Condition
    message: MessageKind
    repeat: float | None = None  # seconds between repeats, while the condition holds


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    severities: tuple[int, ...]
    tiers: tuple[str, ...]  # empty: every tier
    steps: tuple[Step, ...]

    def matches(self, severity: int, tier: str) -> bool:
        return severity in self.severities and (not self.tiers or tier in self.tiers)

    def snapshot(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_snapshot(cls, text: str) -> Policy:
        d = json.loads(text)
        steps = tuple(
            Step(s["after"], tuple(s["notify"]), tuple(Channel(c) for c in s["channels"]),
                 Condition(s["condition"]), MessageKind(s["message"]), s["repeat"])
            for s in d["steps"]
        )
        return cls(d["name"], tuple(d["severities"]), tuple(d["tiers"]), steps)


def choose(policies: tuple[Policy, ...], severity: int, tier: str) -> Policy | None:
    """The first policy that matches, in file order: put specific tiers before general ones."""
    return next((p for p in policies if p.matches(severity, tier)), None)


def _kinds(kinds: frozenset[Kind]) -> str:
    return ", ".join(k.value for k in Kind if k in kinds)


def _channels(st: Table, kind: Kind, directory: Directory) -> tuple[Channel, ...]:
    """The step's own channel order, each one set up and able to carry `kind`."""
    names: list[str] = st.str_list("channels", []) or []
    if "channels" in st.data and not names:
        st.problem("channels", "name at least one channel, or leave `channels` out to reach"
                   " each recipient by their own channels")
    for name in names:
        carries = directory.channels.get(name)
        if name not in CHANNELS:
            st.problem("channels", f"{name!r} is not a channel this collector has (channels:"
                       f" {', '.join(CHANNELS)})")
        elif carries is None:
            st.problem("channels", f"{name!r} is not a channel this collector has: the"
                       f" collector's configuration has no [channel.{name}]")
        elif kind not in carries:
            st.problem("channels", f"{name} cannot carry {kind.value} messages (it carries"
                       f" {_kinds(carries)})")
    if len(set(names)) != len(names):
        st.problem("channels", "names a channel twice")
    return tuple(Channel(n) for n in names if n in CHANNELS)


def _targets(st: Table, kind: Kind, channels: tuple[Channel, ...], directory: Directory,
             check_schedules: bool) -> tuple[str, ...]:
    """The step's targets, each naming somebody who can be reached with a `kind` message."""
    notify = st.str_list("notify") or []
    if "notify" in st.data and not notify:
        st.problem("notify", "a step needs at least one target")
    for target in notify:
        if target.startswith("schedule:") and not check_schedules:
            continue  # the schedules file has problems of its own, reported with its name
        try:
            everyone = directory.everyone(target)
        except UnknownTarget as exc:
            st.problem("notify", str(exc))
            continue
        for who in everyone:
            routes, left_out = directory.routes(who, channels, kind)
            if not routes:
                st.problem("notify", f"{target!r}: nothing reaches {who.label} with a"
                           f" {kind.value} message ({'; '.join(left_out)})")
    return tuple(notify)


def parse_policies(data: dict, file: str, directory: Directory,
                   check_schedules: bool = True) -> tuple[tuple[Policy, ...], Table]:
    """`check_schedules` False: schedule targets are not checked (the schedules did not
    load, and their own problems say why)."""
    root = Table(data, file)
    policies = []
    for pt in root.tables("policy"):
        name = pt.str("name")
        severities = pt.int_list("severities", range(1, 4))
        tiers = pt.str_list("tiers", []) or []
        steps = []
        for st in pt.tables("step"):
            message = st.choice("message", MessageKind, "page") or MessageKind.PAGE
            channels = _channels(st, message.kind, directory)
            step = Step(
                after=st.duration("after", 0) or 0.0,
                notify=_targets(st, message.kind, channels, directory, check_schedules),
                channels=channels,
                condition=st.choice("while", Condition, "unacknowledged")
                or Condition.UNACKNOWLEDGED,
                message=message,
                repeat=st.duration("repeat", None, positive=True),
            )
            st.done()
            steps.append(step)
        if not steps:
            pt.problem("step", "a policy needs at least one [[policy.step]]")
        pt.done()
        policies.append(Policy(name or "", tuple(severities), tuple(tiers), tuple(steps)))
    return tuple(policies), root


def load_policies(path: Path, directory: Directory,
                  check_schedules: bool = True) -> tuple[Policy, ...]:
    policies, root = parse_policies(read_toml(path), str(path), directory, check_schedules)
    root.done()
    if root.problems:
        raise ConfigError(root.problems)
    return policies
