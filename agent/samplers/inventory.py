"""The device's inventory: operating system, hardware, installed software.

Computed every run (cheap), but SENT only when it changed, or when a day has passed since
it was last sent, so the collector always has a recent copy without receiving an
unchanged document every hour. Whether to send is the pure `due`; what was last sent (the
document's digest and when) is kept in checkpoint "inventory", so a restarted agent does
not send an unchanged inventory again, and a new agent sends it on its first run.

The document must be the same from run to run on an unchanged host, or every run would
send it: lists are sorted, and the only time in it is the boot time (a reboot is worth
recording). Platform facts (OS name and version, CPU model, vendor/product/serial, the
installed packages) come from `_inventory_linux` or `_inventory_windows`, chosen in
`platform_reader` only; the rest comes from psutil on every platform.
"""

from __future__ import annotations

import ipaddress
import platform
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import psutil

from agent.samplers import (
    Checkpoint,
    Configurable,
    Inventory,
    Observation,
    SamplerContext,
    register,
)
from agent.samplers.disk import Partition, Usage, is_fixed_volume
from agent.samplers.disk import read as read_partitions
from watchkeeper.tomlconf import Table

CHECKPOINT_KEY = "inventory"
RESEND_AFTER = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class InventorySettings:
    software: bool = True
    """List the installed packages (the largest part of the document)."""


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    """What only the platform's own tools know."""

    os: Mapping[str, str]
    """name, version, kernel (and id on Linux)."""
    cpu_model: str | None
    machine: Mapping[str, str]
    """vendor, product, serial, each only where readable."""
    software: Mapping[str, Any] | None
    """{"manager": ..., "packages": [...]}; None when not asked for or no manager known."""


def due(digest: str, last: Mapping[str, Any] | None, now: float,
        resend_after: float = RESEND_AFTER) -> bool:
    """Send the inventory with `digest` now? Yes when it differs from the last one sent,
    when that was `resend_after` seconds ago or more, or when the clock went back past it
    (the age is then unknowable, and a resend is cheaper than a week of silence)."""
    if not last or last.get("digest") != digest:
        return True
    sent_at = last.get("sent_at")
    if not isinstance(sent_at, int | float) or isinstance(sent_at, bool):
        return True
    age = now - sent_at
    return age >= resend_after or age < 0


def disks(partitions: Sequence[Partition], usages: Mapping[str, Usage]) -> list[dict[str, Any]]:
    """The fixed volumes (what the disks sampler watches) with their size, by mount."""
    return sorted(
        ({"device": p["device"], "mount": p["mountpoint"], "fstype": p["fstype"],
          "total_bytes": usages[p["mountpoint"]]["total"]}
         for p in partitions if is_fixed_volume(p) and p["mountpoint"] in usages),
        key=lambda d: (d["mount"], d["device"]))


def _prefix(netmask: str | None) -> int | None:
    if not netmask:
        return None
    try:
        return bin(int(ipaddress.ip_address(netmask))).count("1")
    except ValueError:
        return None


def interfaces(addrs: Mapping[str, Sequence[Mapping[str, Any]]],
               families: Mapping[int, str]) -> list[dict[str, Any]]:
    """Network interfaces with their MAC and addresses ("192.0.2.2/24"), from
    `psutil.net_if_addrs()` as dicts. `families` names the address families of the
    platform it was read on ("mac", "ipv4", "ipv6"): their numbers differ (AF_INET6 is 10
    on Linux, 23 on Windows; psutil.AF_LINK is 17 and -1). Loopback addresses and
    interfaces with nothing else are left out.

    IPv6 privacy addresses (RFC 4941) change daily where they are on; such a host then
    resends its inventory daily, which is its schedule anyway."""
    out = []
    for name in sorted(addrs):
        mac: str | None = None
        found: list[str] = []
        for a in addrs[name]:
            kind, address = families.get(a["family"]), a["address"]
            if kind == "mac":
                normal = address.replace("-", ":").lower()
                if normal.strip("0:"):  # all zeros: the loopback's stand-in
                    mac = normal
            elif kind in ("ipv4", "ipv6"):
                try:
                    ip = ipaddress.ip_address(address.split("%", 1)[0])
                except ValueError:
                    continue
                if ip.is_loopback:
                    continue
                prefix = _prefix(a.get("netmask"))
                found.append(address if prefix is None else f"{address}/{prefix}")
        if mac or found:
            out.append({"name": name, "mac": mac, "addresses": sorted(found)})
    return out


@dataclass(frozen=True, slots=True)
class Host:
    """What psutil and the platform module tell on every OS."""

    hostname: str
    boot_time: int
    arch: str
    cpu_logical: int | None
    cpu_physical: int | None
    memory_bytes: int
    disks: list[dict[str, Any]]
    network: list[dict[str, Any]]


def document(host: Host, facts: PlatformFacts) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "hostname": host.hostname,
        "boot_time": host.boot_time,
        "os": {**facts.os, "arch": host.arch},
        "hardware": {
            "cpu_model": facts.cpu_model,
            "cpu_logical": host.cpu_logical,
            "cpu_physical": host.cpu_physical,
            "memory_bytes": host.memory_bytes,
            "machine": dict(facts.machine),
            "disks": host.disks,
            "network": host.network,
        },
    }
    if facts.software is not None:
        doc["software"] = dict(facts.software)
    return doc


def read_host() -> Host:
    partitions, usages = read_partitions()
    families = {psutil.AF_LINK: "mac", socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
    addrs = {name: [a._asdict() for a in found]
             for name, found in psutil.net_if_addrs().items()}
    return Host(
        hostname=platform.node(),
        # Whole seconds: Linux's btime is whole; on Windows psutil derives it from the
        # uptime and it wobbles by a fraction, which must not count as a change.
        boot_time=round(psutil.boot_time()),
        arch=platform.machine(),
        cpu_logical=psutil.cpu_count(),
        cpu_physical=psutil.cpu_count(logical=False),
        memory_bytes=psutil.virtual_memory().total,
        disks=disks(partitions, usages),
        network=interfaces(addrs, families),
    )


def platform_reader() -> Callable[[bool], PlatformFacts]:
    """This platform's facts reader, `read(software)`. Linux's keeps the package list
    between runs while the package database is unchanged, so one reader is made per
    sampler."""
    # Imported here: only this platform's module is loaded.
    if sys.platform == "win32":
        from agent.samplers._inventory_windows import read

        return read
    from agent.samplers._inventory_linux import Reader

    return Reader().read


def read_inventory(settings: InventorySettings,
                   read_facts: Callable[[bool], PlatformFacts] | None = None) -> dict[str, Any]:
    return document(read_host(), (read_facts or platform_reader())(settings.software))


@register("inventory")
class InventorySampler(Configurable):
    name = "inventory"
    interval = 3600.0

    def __init__(self, settings: InventorySettings, saved: Mapping[str, Any] | None = None,
                 read: Callable[[InventorySettings], Mapping[str, Any]] | None = None
                 ) -> None:
        self.settings = settings
        self.last: Mapping[str, Any] | None = saved
        self._read = read or partial(read_inventory, read_facts=platform_reader())

    @classmethod
    def configure(cls, t: Table) -> InventorySettings:
        software = t.bool("software", True)
        t.done()
        return InventorySettings(software=bool(software))

    @classmethod
    def create(cls, settings: InventorySettings | None,
               ctx: SamplerContext) -> InventorySampler:
        return cls(settings or InventorySettings(), ctx.saved(CHECKPOINT_KEY))

    def collect(self, now: float) -> list[Observation]:
        inventory = Inventory(now, self._read(self.settings))
        out: list[Observation] = []
        if due(inventory.digest, self.last, now):
            out.append(inventory)
            self.last = {"digest": inventory.digest, "sent_at": now}
        if self.last is not None:
            out.append(Checkpoint(CHECKPOINT_KEY, self.last))
        return out
