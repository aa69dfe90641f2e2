"""Who an escalation step reaches, and through which channels: pure functions of the
configuration and the moment the step runs.

A step's targets:
  person:NAME            one [[person]]
  role:NAME              every member of a [[role]]
  schedule:NAME[/LAYER]  whoever is on call on that layer when the step runs (its first layer
                         without /LAYER), so a hand-off between two steps pages the new person
  contact:ROLE           the case's customer's contacts with that role (people with no account)

Each recipient is reached through an ordered list of channels: the step's `channels` when it
names them, otherwise the recipient's own. The first is tried first; one that fails for good
falls over to the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from alerting.notifiers.base import Kind
from alerting.oncall import Schedule, UnknownTarget, on_call, target_layer

# The field of a [[person]] (or customer contact) that holds the address on each channel.
# PagerDuty and webhooks route by their own settings, so a recipient needs no address there.
ADDRESS_FIELDS = {"email": "email", "sms": "phone", "ntfy": "ntfy_topic"}
DEFAULT_CHANNELS = ("email",)


class TargetKind(StrEnum):
    PERSON = "person"
    ROLE = "role"
    SCHEDULE = "schedule"
    CONTACT = "contact"


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str = ""
    phone: str = ""  # E.164, for sms
    ntfy_topic: str = ""
    channels: tuple[str, ...] = DEFAULT_CHANNELS  # the person's own order, for failover

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Contact:
    """A customer's contact: reached by email or phone, never given an account."""

    role: str
    name: str
    email: str = ""
    phone: str = ""
    channels: tuple[str, ...] = DEFAULT_CHANNELS

    @property
    def label(self) -> str:
        return self.name or self.role


Recipient = Person | Contact


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Route:
    """One way to reach a recipient: a channel and their address on it ("" when the channel
    needs none)."""

    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class Directory:
    """Everyone a policy can name, and the channels this collector has."""

    people: tuple[Person, ...]
    roles: tuple[Role, ...]
    contacts: Mapping[str, tuple[Contact, ...]]  # by customer
    schedules: tuple[Schedule, ...]
    channels: Mapping[str, frozenset[Kind]]  # each configured channel: the kinds it carries
    # Channels on which a recipient without an address of their own is still reached (ntfy
    # with a topic of the channel's own); pagerduty and webhook never need one.
    shared_address: frozenset[str] = frozenset()

    def person(self, name: str) -> Person | None:
        return next((p for p in self.people if p.name == name), None)

    def role(self, name: str) -> Role | None:
        return next((r for r in self.roles if r.name == name), None)

    def recipients(self, target: str, customer: str, at: datetime) -> list[Recipient]:
        """Who `target` names for a case of `customer`, with on-call schedules read at `at`.
        Raises UnknownTarget for a target the configuration does not (or no longer) know."""
        kind, name = parse(target)
        if kind is TargetKind.CONTACT:
            return [c for c in self.contacts.get(customer, ()) if c.role == name]
        if kind is TargetKind.SCHEDULE:
            schedule, layer = target_layer(self.schedules, target)
            return self._people(target, [on_call(schedule, layer.name, at).person])
        return self._people(target, self._members(target, kind, name))

    def everyone(self, target: str) -> list[Recipient]:
        """Everyone `target` could name, whatever the case and the moment: what a policy is
        checked against when it is loaded. Raises UnknownTarget."""
        kind, name = parse(target)
        if kind is TargetKind.CONTACT:
            found = [c for cs in self.contacts.values() for c in cs if c.role == name]
            if not found:
                raise UnknownTarget(f"{target!r}: no customer has a contact with role {name!r}")
            return list(found)
        if kind is TargetKind.SCHEDULE:
            schedule, layer = target_layer(self.schedules, target)
            names = [*layer.rotation.members,
                     *(o.person for o in schedule.overrides if o.covers(layer.name))]
            return self._people(target, list(dict.fromkeys(names)))
        return self._people(target, self._members(target, kind, name))

    def _members(self, target: str, kind: TargetKind, name: str) -> list[str]:
        if kind is TargetKind.PERSON:
            return [name]
        role = self.role(name)
        if role is None:
            raise UnknownTarget(f"{target!r}: no [[role]] named {name!r}")
        return list(role.members)

    def _people(self, target: str, names: list[str]) -> list[Recipient]:
        found: list[Recipient] = []
        for name in names:
            person = self.person(name)
            if person is None:
                raise UnknownTarget(f"{target!r}: no [[person]] named {name!r}")
            found.append(person)
        return found

    def routes(self, recipient: Recipient, order: tuple[str, ...],
               kind: Kind) -> tuple[tuple[Route, ...], list[str]]:
        """The ways to reach `recipient` with a message of `kind`, in `order` (the step's
        channels, or else the recipient's own), and why each channel left out was."""
        found: list[Route] = []
        left_out: list[str] = []
        for channel in order or recipient.channels:
            carries = self.channels.get(channel)
            address = address_on(recipient, channel)
            if carries is None:
                left_out.append(f"{channel} is not set up")
            elif kind not in carries:
                left_out.append(f"{channel} does not carry {kind.value} messages")
            elif not address and channel in ADDRESS_FIELDS \
                    and channel not in self.shared_address:
                left_out.append(f"{recipient.label} has no {ADDRESS_FIELDS[channel]}"
                                f" for {channel}")
            else:
                found.append(Route(channel, address))
        return tuple(found), left_out


def address_on(recipient: Recipient, channel: str) -> str:
    field = ADDRESS_FIELDS.get(channel)
    return getattr(recipient, field, "") if field else ""


def parse(target: str) -> tuple[TargetKind, str]:
    """(kind, name) of "person:carol", "role:vp-operations", "schedule:ops/primary"...;
    raises UnknownTarget for anything else."""
    prefix, colon, name = target.partition(":")
    try:
        kind = TargetKind(prefix)
    except ValueError:
        kind = None
    if kind is None or not colon or not name:
        raise UnknownTarget(f"{target!r}: targets are 'person:NAME', 'role:NAME',"
                            " 'schedule:NAME' or 'schedule:NAME/LAYER', or 'contact:ROLE'")
    return kind, name

