"""Sites on the command line: the `--site` of `token create`, and `watchkeeper device
set-site DEVICE SITE` for devices enrolled before their site was known."""

from __future__ import annotations

import argparse

from collector.cli import _config_arg, _open_device

SITE_LIMIT = 64


def site_name(text: str) -> str:
    """A site as people type it: trimmed, printable (it goes into page subjects), bounded."""
    name = text.strip()
    if not name or len(name) > SITE_LIMIT or not name.isprintable():
        raise argparse.ArgumentTypeError(
            f"a site is 1 to {SITE_LIMIT} printable characters, not {text!r}")
    return name


def cmd_set_site(args: argparse.Namespace) -> int:
    from collector.device_view import device_name

    found = _open_device(args)
    if found is None:
        return 1
    db, device = found
    with db.transaction() as conn:
        conn.execute("UPDATE devices SET site = ? WHERE id = ?", (args.site, device["id"]))
        peers = conn.execute("SELECT COUNT(*) FROM devices WHERE customer = ? AND site = ?"
                             " AND revoked_at IS NULL", (device["customer"], args.site)
                             ).fetchone()[0] if args.site else 0
    was = f" (was {device['site']})" if device["site"] else ""
    if args.site:
        print(f"{device_name(device)} is at site {args.site}{was}; {peers} device(s) there.")
    else:
        print(f"{device_name(device)} is at no site{was}.")
    return 0


def add_device_parsers(dev_sub: argparse._SubParsersAction) -> None:
    p = dev_sub.add_parser(
        "set-site", help="place a device at a site, or at none",
        description="Place a device at a site (office, data centre). When most devices of one"
                    " site go silent together, one 'site unreachable' case pages instead of"
                    " one case per device. Agents enrolled with `token create --site` are"
                    " placed at the token's site already.")
    p.add_argument("device", metavar="DEVICE", help="the device's id or hostname")
    site = p.add_mutually_exclusive_group(required=True)
    site.add_argument("site", nargs="?", type=site_name, metavar="SITE", help="the site")
    site.add_argument("--none", dest="site", action="store_const", const=None,
                      help="take the device off its site")
    _config_arg(p)
    p.set_defaults(func=cmd_set_site)
