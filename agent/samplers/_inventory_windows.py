"""Inventory facts only Windows knows, from one PowerShell script that prints JSON.

- OS, CPU, machine: CIM classes Win32_OperatingSystem (Caption, Version), Win32_Processor
  (Name), Win32_ComputerSystem (Manufacturer, Model) and Win32_BIOS (SerialNumber).
- Software: what "Programs and Features" lists, i.e. the Uninstall keys under
  HKLM\\SOFTWARE (64-bit programs) and HKLM\\SOFTWARE\\WOW6432Node (32-bit ones), with a
  DisplayName, without SystemComponent=1 (hidden by Windows itself) and without a
  ParentKeyName (updates of another entry). Per-user installs (HKCU) are left out: the
  agent runs as LocalSystem, which has no view of the users' hives that is worth having.

Not run in this project's CI (no Windows host): `parse` is tested on JSON written in the
script's format (tests/fixtures/inventory).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.samplers._powershell import json_object, run_powershell
from agent.samplers.inventory import PlatformFacts

TIMEOUT = 120.0

SCRIPT = """\
$withSoftware = %s
$os = Get-CimInstance Win32_OperatingSystem
$cs = Get-CimInstance Win32_ComputerSystem
$bios = Get-CimInstance Win32_BIOS
$cpu = @(Get-CimInstance Win32_Processor)[0]
$software = @()
if ($withSoftware) {
    $keys = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*',
            'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*'
    $software = @(Get-ItemProperty -Path $keys -ErrorAction SilentlyContinue |
        Where-Object { $_.DisplayName -and $_.SystemComponent -ne 1 -and -not $_.ParentKeyName } |
        ForEach-Object {
            [pscustomobject]@{
                DisplayName = [string]$_.DisplayName
                DisplayVersion = [string]$_.DisplayVersion
                Publisher = [string]$_.Publisher
                InstallDate = [string]$_.InstallDate
                Arch = $(if ($_.PSPath -like '*WOW6432Node*') { 'x86' } else { 'x64' })
            } })
}
[pscustomobject]@{
    OS = [pscustomobject]@{ Caption = [string]$os.Caption; Version = [string]$os.Version }
    CPU = [string]$cpu.Name
    Machine = [pscustomobject]@{ Manufacturer = [string]$cs.Manufacturer;
                                 Model = [string]$cs.Model;
                                 SerialNumber = [string]$bios.SerialNumber }
    Software = $software
}
"""


def script(software: bool) -> str:
    return SCRIPT % ("$true" if software else "$false")


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _package(entry: Mapping[str, Any]) -> dict[str, str]:
    out = {"name": _text(entry.get("DisplayName")), "version": _text(entry.get("DisplayVersion")),
           "arch": _text(entry.get("Arch"))}
    for field, key in (("publisher", "Publisher"), ("install_date", "InstallDate")):
        if value := _text(entry.get(key)):
            out[field] = value
    return out


def parse(text: str, software: bool) -> PlatformFacts:
    doc = json_object(text, "inventory script")
    os_info = doc.get("OS") or {}
    machine = doc.get("Machine") or {}
    facts_os = {"name": _text(os_info.get("Caption")) or "Windows"}
    if version := _text(os_info.get("Version")):
        # "10.0.20348": NT version and build, what identifies a Windows release and its
        # kernel (Windows has no separate kernel release string).
        facts_os["version"] = facts_os["kernel"] = version
    found = {field: _text(machine.get(key)) for field, key in
             (("vendor", "Manufacturer"), ("product", "Model"), ("serial", "SerialNumber"))}
    packages = None
    if software:
        entries = doc.get("Software") or []
        packages = sorted(
            (_package(e) for e in entries if isinstance(e, dict) and _text(e.get("DisplayName"))),
            key=lambda p: (p["name"], p["arch"], p["version"], p.get("publisher", "")))
    return PlatformFacts(
        os=facts_os,
        cpu_model=_text(doc.get("CPU")) or None,
        machine={k: v for k, v in found.items() if v},
        software={"manager": "windows", "packages": packages} if packages is not None else None,
    )


def read(software: bool) -> PlatformFacts:
    result = run_powershell(script(software), timeout=TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f"inventory script: {result.last_error_line()}")
    return parse(result.stdout, software)
