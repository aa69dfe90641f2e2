"""Where the operating system lives on Windows: the drive named by %SystemDrive%."""

from __future__ import annotations

import os


def drive_root(system_drive: str) -> str:
    """`"C:"` -> `"C:\\"`: psutil names a drive-letter volume by its root directory."""
    return system_drive.rstrip("\\/") + "\\"


def system_mount() -> str:
    # Windows sets %SystemDrive% for every process, services included (os.environ ignores
    # case there). "C:", the installer's default, covers a stripped environment rather than
    # failing the disk sampler.
    return drive_root(os.environ.get("SYSTEMDRIVE") or "C:")
