"""The `watchkeeper` command. Each area adds its own subcommands; heavy imports happen only
when a subcommand runs, so `watchkeeper agent run` never loads the collector's stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from watchkeeper import cli_registry


def command_word(argv: Sequence[str]) -> str | None:
    """The top-level command in `argv` (the first word that is neither an option nor the
    value of --log-level), or None when there is none, e.g. `watchkeeper --help`."""
    words = iter(argv)
    for word in words:
        if word == "--log-level":
            next(words, None)
        elif word == "--":
            return next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command, or, given the command that is going to run, with only
    the commands of its area (so running one imports no other area's modules)."""
    parser = argparse.ArgumentParser(
        prog="watchkeeper",
        description="Remote monitoring and alerting for managed-service providers.",
    )
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in cli_registry.adders(command):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(command_word(argv)).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
