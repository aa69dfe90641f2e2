"""Escalation policies: ordered steps with delays, targets, channels and a condition.

A policy is chosen by severity (and customer tier) when a case opens, and its steps are
copied onto the case, so a later edit of the file cannot derail a running escalation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from watchkeeper.tomlconf import ConfigError, Table, read_toml


class Condition(StrEnum):
    UNACKNOWLEDGED = "unacknowledged"  # only while nobody has worked the case
    UNTIL_CLOSED = "until_closed"  # e.g. hourly status to the customer
    ALWAYS = "always"


class MessageKind(StrEnum):
    PAGE = "page"  # to on-call staff, with an acknowledgement link
    NOTICE = "notice"  # to a customer contact: a case is open, with its number
    STATUS = "status"  # periodic status to a customer contact


class Channel(StrEnum):
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class Step:
    after: float  # seconds from the case opening
    notify: tuple[str, ...]  # "person:NAME" or "contact:ROLE"
    channels: tuple[Channel, ...]
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


def parse_policies(data: dict, file: str, people: set[str], contact_roles: set[str]) -> tuple[
        tuple[Policy, ...], Table]:
    root = Table(data, file)
    policies = []
    for pt in root.tables("policy"):
        name = pt.str("name")
        severities = pt.int_list("severities", range(1, 4))
        tiers = pt.str_list("tiers", []) or []
        steps = []
        for st in pt.tables("step"):
            notify = st.str_list("notify") or []
            for target in notify:
                kind, _, who = target.partition(":")
                if kind == "person" and who not in people:
                    st.problem("notify", f"{target!r}: no [[person]] named {who!r}")
                elif kind == "contact" and who not in contact_roles:
                    st.problem("notify", f"{target!r}: no customer has a contact with role {who!r}")
                elif kind not in ("person", "contact"):
                    st.problem("notify", f"{target!r}: targets are 'person:NAME' or 'contact:ROLE'")
            channels: list[Channel] = []
            for c in st.str_list("channels", ["email"]) or []:
                try:
                    channels.append(Channel(c))
                except ValueError:
                    st.problem("channels", f"{c!r} is not a channel this collector has"
                               f" (available: {', '.join(ch.value for ch in Channel)})")
            step = Step(
                after=st.duration("after", 0) or 0.0,
                notify=tuple(notify),
                channels=tuple(channels),
                condition=st.choice("while", Condition, "unacknowledged")
                or Condition.UNACKNOWLEDGED,
                message=st.choice("message", MessageKind, "page") or MessageKind.PAGE,
                repeat=st.duration("repeat", None, positive=True),
            )
            st.done()
            steps.append(step)
        if not steps:
            pt.problem("step", "a policy needs at least one [[policy.step]]")
        pt.done()
        policies.append(Policy(name or "", tuple(severities), tuple(tiers), tuple(steps)))
    return tuple(policies), root


def load_policies(path: Path, people: set[str], contact_roles: set[str]) -> tuple[Policy, ...]:
    policies, root = parse_policies(read_toml(path), str(path), people, contact_roles)
    root.done()
    if root.problems:
        raise ConfigError(root.problems)
    return policies
