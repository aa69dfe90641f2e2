"""The disks sampler: which volumes count, their role, their figures, and the thin read."""

from __future__ import annotations

import json
import logging
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import _system_volume_linux, _system_volume_windows
from agent.samplers.disk import (
    DiskSampler,
    Partition,
    Usage,
    VolumeRole,
    is_fixed_volume,
    parse,
    read,
    volumes,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "psutil"
NOW = 1_700_000_000.0


def fixture(name: str) -> tuple[list[Partition], dict[str, Usage]]:
    data = json.loads((FIXTURES / name).read_text())
    return data["disk_partitions"], data["disk_usage"]


def roles(name: str, system_mount: str) -> dict[str, VolumeRole]:
    partitions, usages = fixture(name)
    return {v.mount: v.role for v in volumes(partitions, usages, system_mount)}


def part(mountpoint: str, fstype: str = "ext4", opts: str = "rw,relatime",
         device: str = "/dev/sdb1") -> Partition:
    return {"device": device, "mountpoint": mountpoint, "fstype": fstype, "opts": opts}


def usage(total: int, used: int, free: int) -> Usage:
    return {"total": total, "used": used, "free": free,
            "percent": round(100 * used / total, 1) if total else 0.0}


# --- the system volume, per platform ---------------------------------------------------

def test_linux_system_mount_is_root() -> None:
    assert _system_volume_linux.system_mount() == "/"


def test_system_volume_is_root_on_linux() -> None:
    assert roles("linux_disks.json", "/") == {"/": VolumeRole.SYSTEM}


@pytest.mark.parametrize(
    ("system_drive", "mount"),
    [("C:", "C:\\"), ("D:", "D:\\"), ("c:", "c:\\"), ("C:\\", "C:\\"), ("C:/", "C:\\")],
)
def test_windows_system_mount_is_the_root_of_the_system_drive(
    system_drive: str, mount: str
) -> None:
    assert _system_volume_windows.drive_root(system_drive) == mount


def test_windows_system_mount_follows_systemdrive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSTEMDRIVE", "D:")
    assert _system_volume_windows.system_mount() == "D:\\"


@pytest.mark.parametrize("value", [None, ""])
def test_windows_system_mount_defaults_to_c_without_systemdrive(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("SYSTEMDRIVE", raising=False)
    else:
        monkeypatch.setenv("SYSTEMDRIVE", value)
    assert _system_volume_windows.system_mount() == "C:\\"


@pytest.mark.parametrize("system_mount", ["C:\\", "c:\\"])
def test_system_volume_is_the_system_drive_on_windows_whatever_its_case(
    system_mount: str,
) -> None:
    assert roles("windows_disks.json", system_mount) == {
        "C:\\": VolumeRole.SYSTEM,
        "D:\\Mounts\\Logs\\": VolumeRole.DATA,
        "D:\\": VolumeRole.DATA,
    }


def test_windows_system_volume_may_be_another_drive() -> None:
    assert roles("windows_disks.json", "d:\\")["D:\\"] is VolumeRole.SYSTEM


# --- which partitions are volumes --------------------------------------------------------

def test_cd_drive_is_skipped_on_windows() -> None:
    assert "E:\\" not in roles("windows_disks.json", "C:\\")


def test_cd_drive_with_a_disc_is_skipped_on_windows() -> None:
    cd = part("E:\\", fstype="CDFS", opts="ro,cdrom", device="E:\\")
    assert volumes([cd], {"E:\\": usage(700_000_000, 700_000_000, 0)}, "C:\\") == []


def test_usb_stick_is_skipped_on_windows() -> None:
    # F: is sized in the fixture: it is left out for being removable, not for lack of data.
    _, usages = fixture("windows_disks.json")
    assert "F:\\" in usages
    assert "F:\\" not in roles("windows_disks.json", "C:\\")


def test_windows_folder_mount_is_its_own_volume() -> None:
    # psutil gives D:\Mounts\Logs\ the device "D:\" although it is another volume.
    partitions, usages = fixture("windows_disks.json")
    found = {v.mount: v.total_bytes for v in volumes(partitions, usages, "C:\\")}
    assert found["D:\\Mounts\\Logs\\"] == 214745214976
    assert found["D:\\"] == 1099494842368


def test_pseudo_filesystems_are_skipped_on_linux() -> None:
    # Recorded with disk_partitions(all=True): /dev, /dev/shm, /sys/fs/cgroup... are there.
    assert roles("linux_disks_all.json", "/") == {"/": VolumeRole.SYSTEM}


@pytest.mark.parametrize(
    "fstype",
    ["tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "cgroup2", "iso9660", "udf", "CDFS",
     "UDF", "nfs", "nfs4", "cifs", "smbfs", "fuse.sshfs", "fuse.lxcfs"],
)
def test_pseudo_optical_and_network_filesystems_are_not_volumes(fstype: str) -> None:
    assert not is_fixed_volume(part("/mnt/x", fstype=fstype))


@pytest.mark.parametrize(
    ("fstype", "opts"),
    [("ext4", "rw,relatime"), ("xfs", "rw,noatime"), ("btrfs", "rw,subvol=/@"),
     ("fuseblk", "rw,allow_other"), ("NTFS", "rw,fixed"), ("ReFS", "rw,fixed"),
     ("NTFS", "rw"), ("NTFS", "ro,compressed,fixed")],
)
def test_local_disk_filesystems_are_volumes(fstype: str, opts: str) -> None:
    assert is_fixed_volume(part("/srv", fstype=fstype, opts=opts))


@pytest.mark.parametrize("drive_type", ["cdrom", "removable", "remote", "ramdisk"])
def test_windows_drive_types_other_than_fixed_are_not_volumes(drive_type: str) -> None:
    assert not is_fixed_volume(part("G:\\", fstype="NTFS", opts=f"rw,{drive_type}"))


def test_partition_that_could_not_be_sized_is_skipped() -> None:
    partitions = [part("/"), part("/srv", device="/dev/sdc1")]
    assert [v.mount for v in volumes(partitions, {"/": usage(100, 10, 90)}, "/")] == ["/"]


def test_zero_size_volume_is_skipped() -> None:
    partitions = [part("/"), part("/empty", device="/dev/sdc1")]
    usages = {"/": usage(100, 10, 90), "/empty": usage(0, 0, 0)}
    assert [v.mount for v in volumes(partitions, usages, "/")] == ["/"]


# --- duplicates ----------------------------------------------------------------------

def test_bind_mount_is_reported_once() -> None:
    # Recorded: /dev/loop0 mounted at /data, and /data/www bind-mounted at /srv/www.
    assert roles("linux_disks_bind.json", "/") == {"/": VolumeRole.SYSTEM,
                                                    "/data": VolumeRole.DATA}


def test_system_volume_keeps_its_name_when_bind_mounted_earlier() -> None:
    partitions = [part("/var/lib/docker", device="/dev/sda1"), part("/", device="/dev/sda1")]
    usages = {"/var/lib/docker": usage(100, 10, 90), "/": usage(100, 10, 90)}
    found = volumes(partitions, usages, "/")
    assert [(v.mount, v.role) for v in found] == [("/", VolumeRole.SYSTEM)]


# --- the figures ---------------------------------------------------------------------

def series(name: str, system_mount: str) -> dict[tuple[str, str, str], float]:
    partitions, usages = fixture(name)
    return {(s.metric, s.labels["mount"], s.labels["role"]): s.value
            for s in parse(partitions, usages, system_mount, NOW)}


def test_windows_volume_figures() -> None:
    assert series("windows_disks.json", "C:\\") == pytest.approx({
        ("disk.free_bytes", "C:\\", "system"): 23622320128,
        ("disk.free_percent", "C:\\", "system"): 100 * 23622320128 / 136365211648,
        ("disk.total_bytes", "C:\\", "system"): 136365211648,
        ("disk.free_bytes", "D:\\Mounts\\Logs\\", "data"): 190014947328,
        ("disk.free_percent", "D:\\Mounts\\Logs\\", "data"): 100 * 190014947328 / 214745214976,
        ("disk.total_bytes", "D:\\Mounts\\Logs\\", "data"): 214745214976,
        ("disk.free_bytes", "D:\\", "data"): 98956046336,
        ("disk.free_percent", "D:\\", "data"): 100 * 98956046336 / 1099494842368,
        ("disk.total_bytes", "D:\\", "data"): 1099494842368,
    })


def test_free_percent_leaves_out_blocks_reserved_for_root() -> None:
    # Recorded root volume: total 270.5 GB, but used + free is 108.9 GB (reserved blocks).
    values = series("linux_disks.json", "/")
    assert values[("disk.free_percent", "/", "system")] == pytest.approx(
        100 * 85262839808 / (23681454080 + 85262839808))
    assert values[("disk.free_percent", "/", "system")] == pytest.approx(100 - 21.7, abs=0.05)
    assert values[("disk.total_bytes", "/", "system")] == 270553174016


def test_full_volume_reports_zero_free() -> None:
    found = volumes([part("/")], {"/": usage(100, 95, 0)}, "/")
    assert found[0].free_percent == 0.0


def test_samples_carry_the_given_time() -> None:
    partitions, usages = fixture("linux_disks_bind.json")
    assert {s.at for s in parse(partitions, usages, "/", NOW)} == {NOW}


# --- the thin read -------------------------------------------------------------------

SDiskPart = namedtuple("SDiskPart", "device mountpoint fstype opts")
SDiskUsage = namedtuple("SDiskUsage", "total used free percent")


def windows_psutil(failures: dict[str, OSError]) -> tuple[Any, Any, list[str]]:
    """Fake psutil calls replaying windows_disks.json; `failures` make disk_usage raise."""
    partitions, usages = fixture("windows_disks.json")
    sized: list[str] = []

    def disk_partitions() -> list[SDiskPart]:
        return [SDiskPart(**p) for p in partitions]

    def disk_usage(mount: str) -> SDiskUsage:
        sized.append(mount)
        if mount in failures:
            raise failures[mount]
        return SDiskUsage(**usages[mount])

    return disk_partitions, disk_usage, sized


def test_read_returns_psutil_results_as_dicts() -> None:
    disk_partitions, disk_usage, _ = windows_psutil({})
    partitions, usages = read(disk_partitions, disk_usage)
    assert partitions == fixture("windows_disks.json")[0]
    assert usages["C:\\"] == fixture("windows_disks.json")[1]["C:\\"]


def test_read_sizes_only_fixed_volumes() -> None:
    # The empty CD drive and the USB stick are never touched: no spin-up, no error.
    disk_partitions, disk_usage, sized = windows_psutil({})
    read(disk_partitions, disk_usage)
    assert sized == ["C:\\", "D:\\Mounts\\Logs\\", "D:\\"]


@pytest.mark.parametrize(
    "error",
    [PermissionError(13, "Access is denied"), OSError(21, "The device is not ready")],
    ids=["permission", "not-ready"],
)
def test_unreadable_volume_is_skipped_and_logged_at_debug(
    error: OSError, caplog: pytest.LogCaptureFixture
) -> None:
    disk_partitions, disk_usage, _ = windows_psutil({"D:\\": error})
    with caplog.at_level(logging.DEBUG, logger="agent.samplers.disk"):
        partitions, usages = read(disk_partitions, disk_usage)
    assert sorted(usages) == ["C:\\", "D:\\Mounts\\Logs\\"]
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "D:\\" in caplog.records[0].getMessage()
    assert "D:\\" not in {v.mount for v in volumes(partitions, usages, "C:\\")}


def test_sampler_declares_its_name_and_schedule() -> None:
    sampler = DiskSampler(system_mount="/")
    assert (sampler.name, sampler.interval, sampler.system_mount) == ("disks", 60.0, "/")
