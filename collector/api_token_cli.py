"""`watchkeeper api-token create|list|revoke`: per-person tokens for the REST API."""

from __future__ import annotations

import argparse
import sys

from collector.cli import _config_arg, load_or_exit


def cmd_create(args: argparse.Namespace) -> int:
    from collector.api_tokens import Role, create
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    config = load_or_exit(args.config)
    if config.person(args.person) is None:
        known = ", ".join(p.name for p in config.people) or "none"
        print(f"watchkeeper: {args.person!r} is not a [[person]] in {config.source} (people:"
              f" {known})", file=sys.stderr)
        return 1
    token, secret = create(Database(config.database), args.person, Role(args.role),
                           SystemClock().now())
    print(secret)
    print(f"(API token {token.id} for {token.person}, role {token.role.value}. It is not shown"
          f" again; send it as 'Authorization: Bearer <token>'. Revoke it with: watchkeeper"
          f" api-token revoke {token.id})", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from alerting.messages import when
    from collector.api_tokens import listing
    from collector.store.db import Database

    tokens = listing(Database(load_or_exit(args.config).database).conn)
    if not tokens:
        print("No API tokens.")
        return 0
    print(f"{'ID':<9} {'PERSON':<16} {'ROLE':<9} {'CREATED':<23} {'LAST USED':<23} REVOKED")
    for t in tokens:
        print(f"{t.token.id:<9} {t.token.person[:16]:<16} {t.token.role.value:<9}"
              f" {when(t.created_at):<23}"
              f" {when(t.last_used_at) if t.last_used_at is not None else 'never':<23}"
              f" {when(t.revoked_at) if t.revoked_at is not None else '-'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from collector.api_tokens import revoke
    from collector.store.db import Database
    from watchkeeper.clock import SystemClock

    token = revoke(Database(load_or_exit(args.config).database), args.id, SystemClock().now())
    if token is None:
        print(f"watchkeeper: there is no API token {args.id!r} that is not revoked already"
              " (see: watchkeeper api-token list)", file=sys.stderr)
        return 1
    print(f"API token {token.id} of {token.person} is revoked; requests with it now get 401.")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from collector.api_tokens import Role

    tok = sub.add_parser("api-token", help="tokens for the REST API",
                         description="Create, list and revoke per-person tokens for the REST"
                                     " API (/api/v1/cases). A viewer token reads cases; an"
                                     " operator or admin token may also acknowledge them.")
    tok_sub = tok.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = tok_sub.add_parser("create", help="print a new API token for a person",
                           description="Print a new API token. It is shown once; the collector"
                                       " keeps only its SHA-256 hash.")
    p.add_argument("--person", required=True, metavar="NAME",
                   help="the [[person]] from collector.toml the token acts as")
    p.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER.value,
                   help="viewer reads cases; operator also acknowledges; admin may do"
                        " everything (default: viewer)")
    _config_arg(p)
    p.set_defaults(func=cmd_create)
    p = tok_sub.add_parser("list", help="list API tokens (never the tokens themselves)",
                           description="List API tokens: id, person, role, when each was"
                                       " created, last used and revoked.")
    _config_arg(p)
    p.set_defaults(func=cmd_list)
    p = tok_sub.add_parser("revoke", help="revoke an API token",
                           description="Revoke an API token by its id (from `api-token list`);"
                                       " requests with it get 401 from then on.")
    p.add_argument("id", metavar="ID", help="the token's id")
    _config_arg(p)
    p.set_defaults(func=cmd_revoke)
