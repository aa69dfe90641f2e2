"""The inventory of this very machine, read with its real tools (Debian package dpkg).

What a user would check first: the kernel is the running one, the packages are dpkg's,
and an unchanged host gives the same document twice (or it would be resent every hour),
without listing the packages again while dpkg's database is unchanged.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from agent.samplers import Inventory, _recheck
from agent.samplers.inventory import (
    RESEND_AFTER,
    InventorySampler,
    InventorySettings,
    read_inventory,
)
from tests.integration.path_counter import count_runs

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None,
                                reason="needs dpkg-query (a Debian or Ubuntu host)")


def dpkg_version(package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def test_inventory_of_this_machine() -> None:
    doc = read_inventory(InventorySettings())
    assert doc["os"]["kernel"] == platform.release()
    assert doc["os"]["arch"] == platform.machine()
    assert doc["hostname"] == platform.node()
    assert doc["boot_time"] == round(psutil.boot_time())
    assert doc["hardware"]["memory_bytes"] == psutil.virtual_memory().total
    assert doc["hardware"]["cpu_logical"] == psutil.cpu_count()
    assert any(d["mount"] == "/" for d in doc["hardware"]["disks"])

    assert doc["software"]["manager"] == "dpkg"
    packages = {p["name"]: p["version"] for p in doc["software"]["packages"]}
    assert packages["bash"] == dpkg_version("bash")
    assert packages["dpkg"] == dpkg_version("dpkg")


def test_unchanged_machine_gives_the_same_digest() -> None:
    first = Inventory(0.0, read_inventory(InventorySettings()))
    second = Inventory(1.0, read_inventory(InventorySettings()))
    assert first.digest == second.digest


def test_without_software_the_package_list_is_not_read() -> None:
    assert "software" not in read_inventory(InventorySettings(software=False))


def test_packages_are_listed_again_only_when_dpkg_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = count_runs("dpkg-query", tmp_path / "bin", monkeypatch)
    journal = tmp_path / "updates"  # standing in for /var/lib/dpkg/updates
    journal.mkdir()
    monkeypatch.setattr(_recheck, "DPKG_UPDATES", journal)
    sampler = InventorySampler(InventorySettings())
    now = 1_795_262_400.0

    [first] = [o for o in sampler.collect(now) if isinstance(o, Inventory)]
    assert len(runs) == 1 and first.doc["software"]["packages"]
    sampler.collect(now + 3600)
    [daily] = [o for o in sampler.collect(now + RESEND_AFTER) if isinstance(o, Inventory)]
    assert len(runs) == 1  # dpkg unchanged: the packages were not listed again
    assert daily.digest == first.digest  # and the document sent is the same

    (journal / "0000").write_text("Package: nginx\n")  # dpkg at work
    sampler.collect(now + RESEND_AFTER + 3600)
    assert len(runs) == 2
