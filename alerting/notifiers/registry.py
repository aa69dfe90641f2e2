"""Every channel by name: how to read its settings, how to make its notifier, which kinds of
message it carries and what a recipient's address on it looks like.

Adding a channel means adding a module and one line here. The collector's configuration
reads `[channel.NAME]` tables through `load_channels` and makes one notifier per configured
channel with `Configured.notifier`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from alerting.notifiers import email, ntfy, pagerduty, sms, webhook
from alerting.notifiers._http import Session
from alerting.notifiers.base import Kind, Notifier
from watchkeeper.clock import Clock
from watchkeeper.tomlconf import Table

S = TypeVar("S")
ALL_KINDS = frozenset(Kind)


@dataclass(frozen=True, slots=True)
class ChannelType(Generic[S]):
    name: str
    load: Callable[[Table, Path], S]  # settings from [channel.NAME]; problems go to the Table
    create: Callable[[S, Session, Clock], Notifier]
    kinds: frozenset[Kind]  # the kinds of message the channel can carry
    address: str  # what a recipient's address is on this channel, for documentation
    check_address: Callable[[str], str | None]  # why an address cannot work, or None


CHANNELS: MappingProxyType[str, ChannelType[Any]] = MappingProxyType({c.name: c for c in (
    ChannelType("email", email.load, email.notifier, ALL_KINDS, "a mail address",
                email.check_address),
    ChannelType("sms", sms.load, sms.notifier, ALL_KINDS, "a phone number in E.164 form",
                sms.check_address),
    ChannelType("pagerduty", pagerduty.load, pagerduty.notifier, pagerduty.KINDS,
                "none (the integration key routes)", pagerduty.check_address),
    ChannelType("ntfy", ntfy.load, ntfy.notifier, ALL_KINDS,
                "an ntfy topic (or none: the channel's topic)", ntfy.check_address),
    ChannelType("webhook", webhook.load, webhook.notifier, ALL_KINDS,
                "none (the webhook URL decides)", webhook.check_address),
)})


@dataclass(frozen=True, slots=True)
class Configured(Generic[S]):
    type: ChannelType[S]
    settings: S

    def notifier(self, session: Session, clock: Clock) -> Notifier:
        return self.type.create(self.settings, session, clock)


def load_channels(t: Table, base: Path) -> dict[str, Configured[Any]]:
    """The `[channel]` table: one sub-table per channel in use, e.g. [channel.sms].
    Relative file names (secrets, CA files) are relative to `base`."""
    configured: dict[str, Configured[Any]] = {}
    for name in sorted(t.data):
        sub = t.table(name)
        kind = CHANNELS.get(name)
        if kind is None:
            t.problem(name, f"no such channel; there are {', '.join(CHANNELS)}")
            continue
        configured[name] = Configured(kind, kind.load(sub, base))
    t.done()
    return configured
