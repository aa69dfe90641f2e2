"""The inventory sampler: the document's parts, its stability, and when it is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.samplers import Checkpoint, Inventory, SamplerContext
from agent.samplers import _inventory_linux as linux
from agent.samplers import _inventory_windows as windows
from agent.samplers._command import CommandResult
from agent.samplers.inventory import (
    CHECKPOINT_KEY,
    RESEND_AFTER,
    Host,
    InventorySampler,
    InventorySettings,
    PlatformFacts,
    disks,
    document,
    due,
    interfaces,
)
from agent.state import AgentState
from watchkeeper.tomlconf import Table

FIXTURES = Path(__file__).parent.parent / "fixtures"
NOW = 1_795_262_400.0
HOUR = 3600.0


def text(name: str) -> str:
    return (FIXTURES / "inventory" / name).read_text()


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# --- Linux facts -------------------------------------------------------------------------

def test_os_release_of_debian() -> None:
    assert linux.parse_os_release(text("os-release_debian12")) == {
        "name": "Debian GNU/Linux 12 (bookworm)", "id": "debian", "version": "12"}


def test_os_release_of_rhel() -> None:
    assert linux.parse_os_release(text("os-release_rhel9")) == {
        "name": "Red Hat Enterprise Linux 9.4 (Plow)", "id": "rhel", "version": "9.4"}


@pytest.mark.parametrize(("content", "name"), [
    ('PRETTY_NAME="Acme \\"Edge\\" Linux"\n', 'Acme "Edge" Linux'),
    ("PRETTY_NAME='Single quoted'\n", "Single quoted"),
    ("NAME=Plain\n# PRETTY_NAME=commented out\n", "Plain"),
    ('PRETTY_NAME="unbalanced\n', '"unbalanced'),
    ("", "Linux"),
])
def test_os_release_values_are_shell_quoted(content: str, name: str) -> None:
    assert linux.parse_os_release(content)["name"] == name


def test_cpu_model_from_cpuinfo() -> None:
    assert linux.parse_cpuinfo(text("cpuinfo_amd_epyc.txt")) == "AMD EPYC"
    assert linux.parse_cpuinfo("processor\t: 0\nmodel name\t: Intel(R)  Xeon(R)  Gold\n") \
        == "Intel(R) Xeon(R) Gold"
    assert linux.parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 108.00\n") is None


def test_machine_identity_is_what_dmi_lets_us_read(tmp_path: Path) -> None:
    (tmp_path / "sys_vendor").write_text("Dell Inc.\n")
    (tmp_path / "product_name").write_text("PowerEdge R650\n")
    # product_serial: missing here, root-only on a real host; either way left out.
    assert linux.read_machine(tmp_path) == {"vendor": "Dell Inc.", "product": "PowerEdge R650"}
    assert linux.read_machine(tmp_path / "no-dmi") == {}


def test_dpkg_packages_recorded_on_debian() -> None:
    packages = linux.parse_dpkg(text("dpkg_query_debian12.txt"))
    assert len(packages) == 773
    assert {"name": "bash", "version": "5.2.15-2+b8", "arch": "amd64"} in packages
    assert packages == sorted(packages, key=lambda p: (p["name"], p["arch"], p["version"]))


def test_dpkg_leaves_out_packages_that_are_not_installed() -> None:
    listing = ("ii \tbash\t5.2.15-2+b8\tamd64\n"
               "rc \told-tool\t1.0-1\tamd64\n"      # removed, configuration files remain
               "un \tnever\t\tamd64\n"              # known, never installed
               "iU \tbeing-upgraded\t2.0-1\tall\n"  # unpacked: present
               "garbage line\n")
    assert [p["name"] for p in linux.parse_dpkg(listing)] == ["bash", "being-upgraded"]


def test_rpm_packages_keep_epoch_arch_and_every_installed_version() -> None:
    packages = linux.parse_rpm(text("rpm_qa_rhel9.txt"))
    assert {"name": "openssl-libs", "version": "1:3.0.7-27.el9", "arch": "x86_64"} in packages
    assert [p["arch"] for p in packages if p["name"] == "glibc"] == ["i686", "x86_64"]
    assert [p["version"] for p in packages if p["name"] == "kernel-core"] == [
        "5.14.0-362.24.1.el9_3", "5.14.0-427.13.1.el9_4"]
    assert len(packages) == 8


def test_software_comes_from_dpkg_before_rpm(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def fake_run(argv: Any, **kw: Any) -> CommandResult:
        ran.append(argv[0])
        return CommandResult(tuple(argv), 0, "ii \tbash\t5.2\tamd64\n", "")

    monkeypatch.setattr(linux, "run_command", fake_run)
    everything = lambda program: "/usr/bin/" + program  # noqa: E731
    assert linux.read_software(everything) == {
        "manager": "dpkg", "packages": [{"name": "bash", "version": "5.2", "arch": "amd64"}]}
    assert ran == ["dpkg-query"]
    assert linux.read_software(lambda program: None) is None


def test_a_failing_package_listing_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linux, "run_command", lambda argv, **kw: CommandResult(
        tuple(argv), 2, "", "dpkg-query: error: parsing file '/var/lib/dpkg/status'\n"))
    with pytest.raises(RuntimeError, match="parsing file"):
        linux.read_software(lambda program: "/usr/bin/" + program)


# --- Windows facts (reconstructed JSON) --------------------------------------------------

def test_windows_facts_from_the_inventory_script() -> None:
    facts = windows.parse(text("windows_inventory.json"), software=True)
    assert facts.os == {"name": "Microsoft Windows Server 2022 Standard",
                        "version": "10.0.20348", "kernel": "10.0.20348"}
    assert facts.cpu_model == "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz"
    assert facts.machine == {"vendor": "Dell Inc.", "product": "PowerEdge R650",
                             "serial": "7XK2QH3"}
    assert facts.software is not None and facts.software["manager"] == "windows"
    packages = facts.software["packages"]
    assert [p["name"] for p in packages] == [
        "7-Zip 24.08 (x64)", "Buchhaltung Pro 2026",
        "Microsoft Visual C++ 2015-2022 Redistributable (x64) - 14.40.33810",
        "Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.40.33810",
        "Veeam Backup & Replication"]
    assert packages[1] == {"name": "Buchhaltung Pro 2026", "version": "26.1", "arch": "x86",
                           "publisher": "Müller Software GmbH", "install_date": "20260201"}
    assert "install_date" not in packages[0]  # no InstallDate in the registry


def test_windows_without_software_and_without_serial() -> None:
    facts = windows.parse(text("windows_inventory_no_software.json"), software=False)
    assert facts.software is None
    assert facts.machine == {"vendor": "VMware, Inc.", "product": "VMware7,1"}


def test_windows_script_reads_both_uninstall_hives_only_when_asked() -> None:
    assert "$withSoftware = $true" in windows.script(True)
    assert "$withSoftware = $false" in windows.script(False)
    assert "\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*" in windows.SCRIPT
    assert "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*" in windows.SCRIPT


@pytest.mark.parametrize("bad", ["", "[]", "Get-CimInstance : Access denied"])
def test_windows_answer_that_is_not_the_script_output_is_a_failure(bad: str) -> None:
    with pytest.raises(RuntimeError):
        windows.parse(bad, software=True)


# --- psutil parts ------------------------------------------------------------------------

def test_network_interfaces_recorded_on_linux() -> None:
    data = load("inventory/net_if_addrs_linux.json")
    families = {number: kind for kind, number in data["families"].items()}
    assert interfaces(data["net_if_addrs"], families) == [
        {"name": "eth0", "mac": "02:fc:00:00:00:01",
         "addresses": ["192.0.2.2/24", "fd00::2/64", "fe80::fc:ff:fe00:1%eth0/64"]},
        {"name": "ifb0", "mac": "d2:e6:71:7c:7e:22", "addresses": []},
        {"name": "ifb1", "mac": "ee:d9:a4:7c:14:63", "addresses": []},
    ]  # lo: loopback addresses and an all-zero MAC only, so left out


def test_network_interfaces_on_windows() -> None:
    data = load("inventory/net_if_addrs_windows.json")
    families = {number: kind for kind, number in data["families"].items()}
    assert interfaces(data["net_if_addrs"], families) == [
        {"name": "Ethernet0", "mac": "00:50:56:9a:3c:1f",
         "addresses": ["10.20.30.41/23", "fe80::9c1d:4b2e:7a31:5c08"]}]


def test_disks_are_the_fixed_volumes_with_their_size() -> None:
    linux_all = load("psutil/linux_disks_all.json")
    assert disks(linux_all["disk_partitions"], linux_all["disk_usage"]) == [
        {"device": "/dev/vda", "mount": "/", "fstype": "ext4",
         "total_bytes": linux_all["disk_usage"]["/"]["total"]}]
    win = load("psutil/windows_disks.json")
    assert [d["mount"] for d in disks(win["disk_partitions"], win["disk_usage"])] == [
        "C:\\", "D:\\", "D:\\Mounts\\Logs\\"]  # not the CD drive, not the USB stick


# --- the document ------------------------------------------------------------------------

HOST = Host(hostname="srv1", boot_time=1_795_200_000, arch="x86_64", cpu_logical=2,
            cpu_physical=2, memory_bytes=25_276_100_608,
            disks=[{"device": "/dev/vda", "mount": "/", "fstype": "ext4", "total_bytes": 1}],
            network=[{"name": "eth0", "mac": "02:fc:00:00:00:01", "addresses": []}])


def facts(packages: list[dict[str, str]] | None = None) -> PlatformFacts:
    return PlatformFacts(
        os={"name": "Debian GNU/Linux 12 (bookworm)", "id": "debian", "version": "12",
            "kernel": "6.1.0-41-amd64"},
        cpu_model="AMD EPYC", machine={"vendor": "QEMU"},
        software=None if packages is None else {"manager": "dpkg", "packages": packages})


def test_document_holds_os_hardware_software_hostname_and_boot_time() -> None:
    doc = document(HOST, facts([{"name": "bash", "version": "5.2", "arch": "amd64"}]))
    assert doc == {
        "hostname": "srv1",
        "boot_time": 1_795_200_000,
        "os": {"name": "Debian GNU/Linux 12 (bookworm)", "id": "debian", "version": "12",
               "kernel": "6.1.0-41-amd64", "arch": "x86_64"},
        "hardware": {"cpu_model": "AMD EPYC", "cpu_logical": 2, "cpu_physical": 2,
                     "memory_bytes": 25_276_100_608, "machine": {"vendor": "QEMU"},
                     "disks": HOST.disks, "network": HOST.network},
        "software": {"manager": "dpkg",
                     "packages": [{"name": "bash", "version": "5.2", "arch": "amd64"}]},
    }
    json.dumps(doc)  # JSON-able, as the report needs


def test_document_without_software_has_no_software_part() -> None:
    assert "software" not in document(HOST, facts(None))


def test_same_host_read_twice_gives_the_same_digest() -> None:
    listing = text("dpkg_query_debian12.txt")
    shuffled = "\n".join(reversed(listing.splitlines()))
    first = Inventory(NOW, document(HOST, facts(linux.parse_dpkg(listing))))
    second = Inventory(NOW + HOUR, document(HOST, facts(linux.parse_dpkg(shuffled))))
    assert first.digest == second.digest


# --- when it is sent ---------------------------------------------------------------------

@pytest.mark.parametrize(("last", "now", "send"), [
    (None, NOW, True),                                              # never sent
    ({"digest": "d1", "sent_at": NOW - HOUR}, NOW, False),          # unchanged, recent
    ({"digest": "d0", "sent_at": NOW - HOUR}, NOW, True),           # changed
    ({"digest": "d1", "sent_at": NOW - RESEND_AFTER + 1}, NOW, False),
    ({"digest": "d1", "sent_at": NOW - RESEND_AFTER}, NOW, True),   # a day old
    ({"digest": "d1", "sent_at": NOW + HOUR}, NOW, True),           # clock went back
    ({"digest": "d1", "sent_at": "yesterday"}, NOW, True),          # unreadable
    ({"digest": "d1"}, NOW, True),
])
def test_sent_when_changed_or_a_day_old(last: dict[str, Any] | None, now: float,
                                        send: bool) -> None:
    assert due("d1", last, now) is send


class Host_:
    """An inventory reader whose host can change between runs."""

    def __init__(self) -> None:
        self.packages = [{"name": "bash", "version": "5.2.15-2+b8", "arch": "amd64"}]

    def read(self, settings: InventorySettings) -> dict[str, Any]:
        return document(HOST, facts(list(self.packages) if settings.software else None))


def sent(out: list[Any]) -> list[Inventory]:
    return [o for o in out if isinstance(o, Inventory)]


def test_sent_on_the_first_run_then_only_when_changed_or_daily() -> None:
    host = Host_()
    sampler = InventorySampler(InventorySettings(), None, host.read)

    first = sampler.collect(NOW)
    (inventory,) = sent(first)
    assert inventory.at == NOW and inventory.doc["software"]["packages"][0]["name"] == "bash"
    assert first[-1] == Checkpoint(CHECKPOINT_KEY, {"digest": inventory.digest,
                                                    "sent_at": NOW})

    hourly = sampler.collect(NOW + HOUR)
    assert sent(hourly) == []
    assert hourly == [Checkpoint(CHECKPOINT_KEY, {"digest": inventory.digest, "sent_at": NOW})]

    host.packages.append({"name": "nginx", "version": "1.22.1-9", "arch": "amd64"})
    (changed,) = sent(sampler.collect(NOW + 2 * HOUR))
    assert changed.digest != inventory.digest

    assert sent(sampler.collect(NOW + 3 * HOUR)) == []
    (daily,) = sent(sampler.collect(NOW + 2 * HOUR + RESEND_AFTER))
    assert daily.digest == changed.digest


def test_a_restarted_agent_does_not_resend_an_unchanged_inventory(tmp_path: Path) -> None:
    host = Host_()
    first = InventorySampler(InventorySettings(), None, host.read).collect(NOW)
    checkpoint = first[-1]
    assert isinstance(checkpoint, Checkpoint)
    AgentState(tmp_path).save_checkpoints([checkpoint])  # as the agent commits it

    saved = SamplerContext(tmp_path, "srv1").saved(CHECKPOINT_KEY)  # what create() reads
    restarted = InventorySampler(InventorySettings(), saved, host.read)
    assert sent(restarted.collect(NOW + HOUR)) == []


def test_turning_software_off_changes_the_document() -> None:
    host = Host_()
    with_software = sent(InventorySampler(InventorySettings(), None, host.read).collect(NOW))
    without = sent(InventorySampler(InventorySettings(software=False), None,
                                    host.read).collect(NOW))
    assert "software" not in without[0].doc
    assert with_software[0].digest != without[0].digest


# --- configuration -----------------------------------------------------------------------

def configure(data: dict[str, Any]) -> tuple[InventorySettings, list[str]]:
    t = Table(data, "agent.toml", "sampler.inventory")
    return InventorySampler.configure(t), [str(p) for p in t.problems]


def test_software_is_listed_unless_turned_off() -> None:
    assert configure({}) == (InventorySettings(software=True), [])
    assert configure({"software": False}) == (InventorySettings(software=False), [])


@pytest.mark.parametrize(("data", "problem"), [
    ({"software": "no"}, "agent.toml: sampler.inventory.software: must be true or false, "
                         "got 'no'"),
    ({"packages": True}, "agent.toml: sampler.inventory.packages: unknown key"),
])
def test_bad_settings_are_refused_naming_file_and_key(data: dict[str, Any],
                                                      problem: str) -> None:
    assert configure(data)[1] == [problem]


def test_sampler_name_and_schedule() -> None:
    assert (InventorySampler.name, InventorySampler.interval) == ("inventory", 3600.0)
