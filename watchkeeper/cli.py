"""The `watchkeeper` command. Each area adds its own subcommands; heavy imports happen only
when a subcommand runs, so `watchkeeper agent run` never loads the collector's stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from watchkeeper import cli_registry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchkeeper",
        description="Remote monitoring and alerting for managed-service providers.",
    )
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in cli_registry.ADDERS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
