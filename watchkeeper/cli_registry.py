"""Where each area's subcommands come from: adding an area is one line here.

An area's command module is imported only when one of its commands runs (or for the full
list, e.g. `watchkeeper --help`): `watchkeeper agent run` does not load the collector's,
the rules' and the demo's command modules, which cost the running agent 0.5 MiB of RSS.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib import import_module
from typing import NamedTuple

AddParsers = Callable[[argparse._SubParsersAction], None]


class Area(NamedTuple):
    module: str
    adder: str  # the module's function that adds its subcommands
    commands: tuple[str, ...]  # the top-level commands it adds

    def load(self) -> AddParsers:
        return getattr(import_module(self.module), self.adder)


# In `watchkeeper --help` order. A command missing from `commands` still works: an unknown
# command word loads every area, as the full help does.
AREAS = (
    Area("collector.cli", "add_parsers", ("collector", "token", "cases", "case", "ack", "device",
                                          "oncall", "api-token")),
    Area("collector.maintenance_cli", "add_parser", ("maintenance",)),
    Area("agent.cli", "add_parser", ("agent",)),
    Area("rules.cli", "add_parser", ("rules",)),
    Area("watchkeeper.demo_cli", "add_parser", ("demo",)),
)


def adders(command: str | None) -> list[AddParsers]:
    """What adds `command`'s subcommands; every area's adders when `command` is None or
    belongs to no area (the help, and argparse's "invalid choice" message, list them all)."""
    owners = [a for a in AREAS if command in a.commands]
    return [a.load() for a in owners or AREAS]
