"""`watchkeeper demo`: registered without importing the demo's dependencies."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from watchkeeper.demo import run_demo
    return run_demo(keep=args.keep)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the whole product locally: a dead agent pages a person",
        description="Start a collector on a temporary SQLite database, a local SMTP server and"
                    " a real agent; kill the agent; watch a Severity 1 case open and the page"
                    " arrive; acknowledge it from the link. Needs watchkeeper[demo].")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="keep the demo's configuration, database and logs in DIR")
    p.set_defaults(func=_run)
