"""Reading the parts every channel's settings share: secrets kept in files, endpoint URLs,
timeouts. Problems go to the Table, so each names the file and key."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from watchkeeper.tomlconf import Table

DEFAULT_TIMEOUT = 10.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret(t: Table, name: str, base: Path, *, required: bool) -> str:
    """A secret named by a file path (relative to the configuration file): tokens and passwords
    stay out of TOML files that get copied into tickets and repositories."""
    value = t.str(name) if required else t.str(name, None)
    if value is None:
        return ""
    path = base / value
    try:
        text = path.read_text().strip()
    except OSError as exc:
        t.problem(name, f"cannot read {path}: {exc.strerror}")
        return ""
    if not text:
        t.problem(name, f"{path} is empty")
    return text


def url(t: Table, name: str, default: str | None = None) -> str:
    """An http(s) URL. Credentials travel with every request, so plain http is accepted only
    for a receiver on this machine (a test peer or a local relay)."""
    value = t.str(name) if default is None else t.str(name, default)
    return check_url(t, name, value) if value is not None else ""


def check_url(t: Table, name: str, value: str, *, hide: bool = False) -> str:
    """`hide` keeps a URL that is itself a secret (a Slack webhook) out of the problem text."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = "the URL" if hide else repr(value)
        t.problem(name, f"{shown} is not an http:// or https:// URL")
        return ""
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        t.problem(name, f"{parts.hostname} must be reached over https:// (plain http is for"
                  " receivers on this machine only)")
    return value.rstrip("/")


def timeout(t: Table) -> float:
    return t.duration("timeout", "10s", positive=True) or DEFAULT_TIMEOUT
