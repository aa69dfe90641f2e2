"""`watchkeeper rules ...`: commands for admins editing rule packs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rules.loader import RuleFileError, load_rules


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `rules` and its subcommands on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "rules",
        help="check and inspect rule packs",
        description="Commands for rule packs: the TOML files that say when a case opens.",
    )
    commands = parser.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    check_parser = commands.add_parser(
        "check",
        help="validate a rule file or directory",
        description=(
            "Validate a rule file, or every *.toml file in a directory, as the collector "
            "would load it. Prints every problem (file, rule, key, reason) to stderr and "
            "exits 1, or prints the number of rules and the pack version and exits 0."
        ),
    )
    check_parser.add_argument(
        "path", metavar="PATH", type=Path, help="a rule file or a directory of *.toml files"
    )
    check_parser.set_defaults(func=_check_command)


def check(path: Path) -> int:
    """Validate the rules at `path`; report on stdout/stderr and return the exit code."""
    try:
        pack = load_rules(path)
    except RuleFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    events = f" and {len(pack.event_rules)} event rules" if pack.event_rules else ""
    print(f"OK: {len(pack.rules)} rules{events} in {path} (version {pack.version})")
    return 0


def _check_command(args: argparse.Namespace) -> int:
    return check(args.path)
