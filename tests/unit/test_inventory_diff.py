"""What changed between two inventory documents, and the summary the NOC reads.

The documents are built the way the agent builds them (agent/samplers/inventory.py
`document`), from the recorded and reconstructed fixtures of tests/fixtures/inventory, so a
change of the agent's document shape shows up here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import _inventory_linux as linux
from agent.samplers import _inventory_windows as windows
from agent.samplers.inventory import Host, PlatformFacts, document
from collector.inventory_diff import (
    FieldChange,
    PackageChange,
    describe,
    diff,
    packages,
    summarise,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "inventory"
GIB = 1024**3
HOST = Host(hostname="srv1", boot_time=1_795_200_000, arch="x86_64", cpu_logical=4,
            cpu_physical=2, memory_bytes=16 * GIB,
            disks=[{"device": "/dev/vda1", "mount": "/", "fstype": "ext4",
                    "total_bytes": 100 * GIB}],
            network=[{"name": "eth0", "mac": "02:fc:00:00:00:01",
                      "addresses": ["192.0.2.10/24"]}])


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def debian(pkgs: list[dict[str, str]] | None = None, host: Host = HOST,
           kernel: str = "6.1.0-41-amd64") -> dict[str, Any]:
    """Debian 12 as recorded on this project's container."""
    return document(host, PlatformFacts(
        os={**linux.parse_os_release(text("os-release_debian12")), "kernel": kernel},
        cpu_model=linux.parse_cpuinfo(text("cpuinfo_amd_epyc.txt")), machine={"vendor": "QEMU"},
        software={"manager": "dpkg",
                  "packages": linux.parse_dpkg(text("dpkg_query_debian12.txt"))
                  if pkgs is None else pkgs}))


def with_packages(doc: dict[str, Any], edit) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    new["software"]["packages"] = edit(new["software"]["packages"])
    return new


def test_summary_of_the_recorded_debian_host() -> None:
    s = summarise(debian())
    assert s.os == "Debian GNU/Linux 12 (bookworm)"  # its version, 12, is in the name
    assert s.kernel == "6.1.0-41-amd64"
    assert s.cpu is not None and s.cpu.startswith("AMD EPYC") and s.cpu.endswith(
        ", 2 cores, 4 threads")
    assert (s.memory_bytes, s.packages, s.package_manager) == (16 * GIB, 773, "dpkg")


def test_summary_of_a_windows_server() -> None:
    facts = windows.parse(text("windows_inventory.json"), software=True)
    s = summarise(document(HOST, facts))
    assert s.os == "Microsoft Windows Server 2022 Standard (10.0.20348)"
    assert s.kernel == "10.0.20348"
    assert s.cpu == "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz, 2 cores, 4 threads"
    assert (s.packages, s.package_manager) == (5, "windows")


@pytest.mark.parametrize("doc", [{}, {"os": "Windows"}, {"hardware": {"cpu_model": ""}},
                                 {"software": {"packages": "many"}},
                                 {"hardware": {"memory_bytes": True}}])
def test_summary_of_a_partial_or_odd_document_says_unknown_not_crash(doc: dict) -> None:
    s = summarise(doc)
    assert (s.os, s.kernel, s.cpu, s.memory_bytes, s.packages) == (None,) * 5


def test_the_same_host_read_twice_has_no_changes() -> None:
    assert diff(debian(), debian()).empty
    assert describe(diff(debian(), debian())) == []


def test_packages_added_removed_and_upgraded() -> None:
    old = debian()
    by_name = {p["name"]: p for p in old["software"]["packages"]}
    assert {"bash", "curl"} <= by_name.keys() and "nginx" not in by_name

    def edit(pkgs: list[dict[str, str]]) -> list[dict[str, str]]:
        kept = [p for p in pkgs if p["name"] != "curl"]
        for p in kept:
            if p["name"] == "bash":
                p["version"] = "5.2.15-2+b9"
        return [*kept, {"name": "nginx", "version": "1.22.1-9", "arch": "amd64"}]

    d = diff(old, with_packages(old, edit))
    assert d.added == (PackageChange("nginx", None, "1.22.1-9"),)
    assert d.removed == (PackageChange("curl", by_name["curl"]["version"], None),)
    assert d.upgraded == (PackageChange("bash", by_name["bash"]["version"], "5.2.15-2+b9"),)
    assert d.os == d.hardware == d.other == ()
    assert describe(d) == [
        "package added: nginx 1.22.1-9",
        f"package removed: curl {by_name['curl']['version']}",
        f"package upgraded: bash {by_name['bash']['version']} -> 5.2.15-2+b9"]


def test_a_name_installed_twice_reads_as_both_versions() -> None:
    rpm = linux.parse_rpm(text("rpm_qa_rhel9.txt"))
    found = packages({"software": {"manager": "rpm", "packages": rpm}})
    assert found is not None
    # Two kernels of one architecture; glibc for two architectures.
    assert found["kernel-core"] == "5.14.0-362.24.1.el9_3, 5.14.0-427.13.1.el9_4"
    assert found["glibc"] == "2.34-100.el9_4.2 (i686), 2.34-100.el9_4.2 (x86_64)"
    # The old kernel removed after an update: one change, the version list.
    newer = [p for p in rpm if p["version"] != "5.14.0-362.24.1.el9_3"]
    d = diff({"software": {"packages": rpm}}, {"software": {"packages": newer}})
    assert d.upgraded == (PackageChange("kernel-core",
                                        "5.14.0-362.24.1.el9_3, 5.14.0-427.13.1.el9_4",
                                        "5.14.0-427.13.1.el9_4"),)
    assert d.added == d.removed == ()


def test_a_windows_upgrade_that_renames_the_entry_is_a_removal_and_an_addition() -> None:
    facts = windows.parse(text("windows_inventory.json"), software=True)
    old = document(HOST, facts)
    new = with_packages(old, lambda pkgs: [
        {**p, "name": "7-Zip 24.09 (x64)", "version": "24.09"}
        if p["name"] == "7-Zip 24.08 (x64)" else p for p in pkgs])
    assert describe(diff(old, new)) == ["package added: 7-Zip 24.09 (x64) 24.09",
                                        "package removed: 7-Zip 24.08 (x64) 24.08"]


def test_os_upgrade_and_new_kernel_are_os_changes() -> None:
    new = debian(kernel="6.1.0-42-amd64")
    new["os"]["version"] = "13"
    new["os"]["name"] = "Debian GNU/Linux 13 (trixie)"
    d = diff(debian(), new)
    assert d.os == (FieldChange("os.kernel", "6.1.0-41-amd64", "6.1.0-42-amd64"),
                    FieldChange("os.name", "Debian GNU/Linux 12 (bookworm)",
                                "Debian GNU/Linux 13 (trixie)"),
                    FieldChange("os.version", "12", "13"))
    assert describe(d)[0] == "os.kernel: 6.1.0-41-amd64 -> 6.1.0-42-amd64"


def test_hardware_changes_say_what_in_readable_units() -> None:
    bigger = Host(**{**{f: getattr(HOST, f) for f in HOST.__slots__}, "memory_bytes": 32 * GIB,
                     "disks": [{**HOST.disks[0], "total_bytes": 200 * GIB},
                               {"device": "/dev/vdb1", "mount": "/srv", "fstype": "xfs",
                                "total_bytes": 1024 * GIB}]})
    d = diff(debian(), debian(host=bigger))
    assert describe(d) == [
        "hardware.disks[/].total_bytes: 100.0 GiB -> 200.0 GiB",
        "hardware.disks[/srv].device: added, /dev/vdb1",
        "hardware.disks[/srv].fstype: added, xfs",
        "hardware.disks[/srv].mount: added, /srv",
        "hardware.disks[/srv].total_bytes: added, 1024.0 GiB",
        "hardware.memory_bytes: 16.0 GiB -> 32.0 GiB"]
    assert d.os == () and d.other == ()


def test_a_network_address_change_reads_as_a_set_change() -> None:
    moved = Host(**{**{f: getattr(HOST, f) for f in HOST.__slots__},
                    "network": [{**HOST.network[0],
                                 "addresses": ["192.0.2.11/24", "2001:db8::11/64"]}]})
    assert describe(diff(debian(), debian(host=moved))) == [
        "hardware.network[eth0].addresses[192.0.2.10/24]: removed (was 192.0.2.10/24)",
        "hardware.network[eth0].addresses[192.0.2.11/24]: added, 192.0.2.11/24",
        "hardware.network[eth0].addresses[2001:db8::11/64]: added, 2001:db8::11/64"]


def test_a_reboot_and_a_rename_are_other_changes_with_times_as_times() -> None:
    rebooted = Host(**{**{f: getattr(HOST, f) for f in HOST.__slots__},
                       "boot_time": HOST.boot_time + 86400, "hostname": "srv1-new"})
    d = diff(debian(), debian(host=rebooted))
    assert describe(d) == ["boot_time: 2026-11-20 18:40:00 UTC -> 2026-11-21 18:40:00 UTC",
                           "hostname: srv1 -> srv1-new"]
    assert d.os == d.hardware == ()


def test_a_removed_field_says_what_it_was() -> None:
    new = debian()
    del new["hardware"]["machine"]["vendor"]
    assert describe(diff(debian(), new)) == ["hardware.machine.vendor: removed (was QEMU)"]


def test_software_listing_turned_off_removes_every_package() -> None:
    old, new = debian(), debian()
    del new["software"]
    d = diff(old, new)
    assert len(d.removed) == 773 and d.added == d.upgraded == ()
    assert FieldChange("software.manager", "dpkg", None) in d.other
