"""Where the operating system lives on Linux (and any other POSIX host psutil supports)."""

from __future__ import annotations


def system_mount() -> str:
    return "/"
