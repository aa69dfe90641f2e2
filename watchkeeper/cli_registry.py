"""Where each area's subcommands come from: adding an area is one line here."""

from __future__ import annotations

from agent.cli import add_parser as agent
from collector.cli import add_parsers as collector
from rules.cli import add_parser as rules
from watchkeeper.demo_cli import add_parser as demo

ADDERS = (collector, agent, rules, demo)
