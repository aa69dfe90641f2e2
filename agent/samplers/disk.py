"""Free space on every fixed local volume, labelled `mount` and `role` (system or data).

Read thin: `read` lists partitions and sizes the ones worth sizing. Parse pure: `parse`
decides which partitions are real local volumes, folds duplicates and names the system
volume. Both take psutil's results as plain dicts, so tests run on recorded JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

import psutil

from agent.samplers import Configurable, register
from agent.samplers._platform import system_mount as platform_system_mount
from rules.model import Sample

log = logging.getLogger(__name__)


class Partition(TypedDict):
    """`psutil.disk_partitions()` entry, `sdiskpart._asdict()`."""

    device: str
    mountpoint: str
    fstype: str
    opts: str


class Usage(TypedDict):
    """`psutil.disk_usage(mountpoint)._asdict()`."""

    total: int
    used: int
    free: int
    percent: float


class VolumeRole(StrEnum):
    SYSTEM = "system"
    DATA = "data"


# Filesystems that are not local disks a server can fill. Compared lower-cased, because
# Windows spells them in capitals ("CDFS", "UDF").
EXCLUDED_FSTYPES = frozenset({
    # In memory, kernel views, or image layers: filling them is not "the disk is full".
    "tmpfs", "devtmpfs", "ramfs", "proc", "sysfs", "devpts", "cgroup", "cgroup2",
    "securityfs", "debugfs", "tracefs", "pstore", "bpf", "mqueue", "hugetlbfs",
    "configfs", "fusectl", "binfmt_misc", "autofs", "efivarfs", "nsfs",
    "overlay", "squashfs",  # container layers and snap packages: read-only or derived
    # Optical media: always 100 % "used" by design.
    "iso9660", "udf", "cdfs",
    # Network shares: the file server watches its own disks. Sizing one here can also hang
    # the sampler when the server is unreachable.
    "nfs", "nfs4", "cifs", "smbfs", "smb3", "ceph", "glusterfs", "9p",
})

# FUSE filesystems ("fuse.sshfs", "fuse.rclone", "fuse.lxcfs") are remote or synthetic;
# a local disk mounted through FUSE (NTFS-3G) reports "fuseblk", which is kept.
_EXCLUDED_FSTYPE_PREFIX = "fuse."

# psutil on Windows ends `opts` with the drive type (GetDriveType): "rw,fixed", "cdrom",
# "rw,removable". Only fixed drives hold server data; CDs and USB sticks come and go.
EXCLUDED_DRIVE_TYPES = frozenset({"cdrom", "removable", "remote", "ramdisk"})


@dataclass(frozen=True, slots=True)
class Volume:
    mount: str
    device: str
    role: VolumeRole
    total_bytes: int
    used_bytes: int
    free_bytes: int

    @property
    def free_percent(self) -> float:
        # Of used + free, not of total: on Linux the blocks reserved for root are neither,
        # so this is 100 - df's "Use%" and reaches 0 exactly when services get "disk full".
        # On Windows used + free == total.
        return 100.0 * self.free_bytes / (self.used_bytes + self.free_bytes)

    def samples(self, now: float) -> list[Sample]:
        labels = {"mount": self.mount, "role": self.role.value}
        return [
            Sample("disk.free_bytes", float(self.free_bytes), now, labels),
            Sample("disk.free_percent", self.free_percent, now, labels),
            Sample("disk.total_bytes", float(self.total_bytes), now, labels),
        ]


def is_fixed_volume(partition: Partition) -> bool:
    """True for a local disk volume; false for pseudo, optical, removable and network ones."""
    fstype = partition["fstype"].lower()
    if fstype in EXCLUDED_FSTYPES or fstype.startswith(_EXCLUDED_FSTYPE_PREFIX):
        return False
    opts = {opt.strip().lower() for opt in partition["opts"].split(",")}
    return opts.isdisjoint(EXCLUDED_DRIVE_TYPES)


def _same_mount(a: str, b: str) -> bool:
    # Windows paths ignore case (%SystemDrive% may say "c:", psutil says "C:\"). The POSIX
    # system mount "/" has no case, so one rule serves every platform without a branch.
    return a.casefold() == b.casefold()


def volumes(
    partitions: Iterable[Partition], usages: Mapping[str, Usage], system_mount: str
) -> list[Volume]:
    """The fixed volumes among `partitions`, each once, in psutil's order."""
    found: dict[tuple[str, int], Volume] = {}
    for part in partitions:
        if not is_fixed_volume(part):
            continue
        usage = usages.get(part["mountpoint"])
        if usage is None:
            continue  # could not be sized when read (locked, not ready): see read()
        if usage["used"] + usage["free"] <= 0:
            continue  # nothing anyone could fill: no free space to watch
        role = VolumeRole.SYSTEM if _same_mount(part["mountpoint"], system_mount) \
            else VolumeRole.DATA
        volume = Volume(part["mountpoint"], part["device"], role,
                        usage["total"], usage["used"], usage["free"])
        # A bind mount shows one filesystem at a second path: same device, same size.
        # The size is part of the key because psutil on Windows gives a volume mounted in
        # a folder (D:\Mounts\Logs\) the *host* drive's letter as its device, and that is
        # a different volume. The system mount keeps its name when it is one of the pair.
        key = (volume.device, volume.total_bytes)
        seen = found.get(key)
        if seen is None or (role is VolumeRole.SYSTEM and seen.role is not VolumeRole.SYSTEM):
            found[key] = volume
    return list(found.values())


def parse(
    partitions: Sequence[Partition],
    usages: Mapping[str, Usage],
    system_mount: str,
    now: float,
) -> list[Sample]:
    """Samples from `psutil.disk_partitions()` and `disk_usage()` keyed by mountpoint."""
    return [s for v in volumes(partitions, usages, system_mount) for s in v.samples(now)]


def _fixed_partitions() -> list[Any]:
    return list(psutil.disk_partitions(all=False))


def read(
    list_partitions: Callable[[], Iterable[Any]] = _fixed_partitions,
    usage_of: Callable[[str], Any] = psutil.disk_usage,
) -> tuple[list[Partition], dict[str, Usage]]:
    """psutil's partitions and the usage of each fixed one, as dicts."""
    partitions: list[Partition] = [p._asdict() for p in list_partitions()]
    usages: dict[str, Usage] = {}
    for part in partitions:
        # Only fixed volumes are sized: sizing a network mount can hang while its server is
        # down, and sizing a CD drive spins it up (or fails when it is empty).
        if not is_fixed_volume(part):
            continue
        mount = part["mountpoint"]
        try:
            usages[mount] = usage_of(mount)._asdict()
        except OSError as exc:  # PermissionError included: e.g. a BitLocker-locked volume
            log.debug("disks: skipping %s, cannot read its size: %s", mount, exc)
    return partitions, usages


@register("disks")
class DiskSampler(Configurable):
    name = "disks"
    interval = 60.0

    def __init__(self, system_mount: str | None = None) -> None:
        # Resolved once: the OS volume does not move while the agent runs.
        self.system_mount = system_mount if system_mount is not None \
            else platform_system_mount()

    def collect(self, now: float) -> list[Sample]:
        partitions, usages = read()
        return parse(partitions, usages, self.system_mount, now)
