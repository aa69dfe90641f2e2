"""The updates sampler: which manager, what each one's output means, the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.samplers import SamplerContext
from agent.samplers import _updates_apt as apt
from agent.samplers import _updates_dnf as dnf
from agent.samplers import _updates_windows as windows
from agent.samplers._command import CommandResult
from agent.samplers.updates import (
    DEFAULT_TIMEOUT,
    Manager,
    Pending,
    UpdatesSampler,
    UpdatesSettings,
    detect_manager,
)
from rules.model import Sample
from watchkeeper.tomlconf import Table

FIXTURES = Path(__file__).parent.parent / "fixtures" / "updates"
NOW = 1_795_262_400.0


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- apt (fixture recorded on Debian 12) -------------------------------------------------

def test_apt_counts_every_inst_line_and_the_security_ones() -> None:
    recorded = text("apt_dist_upgrade_debian12.txt")
    inst = [ln for ln in recorded.splitlines() if ln.startswith("Inst ")]
    assert apt.parse(recorded) == (len(inst), 69)
    assert len(inst) == 116


@pytest.mark.parametrize(("line", "security"), [
    ("Inst zip [3.0-13] (3.0-13+deb12u1 Debian-Security:12/oldstable-security [amd64])", 1),
    ("Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])", 0),
    # In both the point release and the security archive: a security fix.
    ("Inst python3-jwt [2.6.0-1] (2.6.0-1+deb12u1 Debian:12.15/oldstable, "
     "Debian-Security:12/oldstable-security [all])", 1),
    ("Inst openssl [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, "
     "Ubuntu:22.04/jammy-security [amd64])", 1),
    # A new package pulled in by the upgrade (no installed version in brackets).
    ("Inst linux-image-6.1.0-41-amd64 (6.1.192-2 Debian-Security:12/oldstable-security "
     "[amd64])", 1),
    # "-security" in a package name is not an origin.
    ("Inst libapparmor-security-utils [1.0] (1.1 Debian:12.15/oldstable [amd64])", 0),
])
def test_apt_security_means_a_security_origin(line: str, security: int) -> None:
    assert apt.parse(line + "\n") == (1, security)


def test_apt_ignores_conf_and_chatter_lines() -> None:
    assert apt.parse("Reading package lists...\nConf zip (3.0-13+deb12u1 "
                     "Debian-Security:12/oldstable-security [amd64])\n0 upgraded\n") == (0, 0)


def test_apt_reboot_flag_is_the_file_debian_writes(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []

    def fake_run(argv: Any, **kw: Any) -> CommandResult:
        seen.append((tuple(argv), kw.get("env")))
        return CommandResult(tuple(argv), 0, text("apt_dist_upgrade_debian12.txt"), "")

    monkeypatch.setattr(apt, "run_command", fake_run)
    flag = tmp_path / "reboot-required"
    assert apt.read(60.0, flag) == Pending(116, 69, False)
    flag.write_text("*** System restart required ***\n")
    assert apt.read(60.0, flag) == Pending(116, 69, True)
    assert seen[0] == (("apt-get", "-s", "-o", "Debug::NoLocking=true", "dist-upgrade"),
                       {"LC_ALL": "C"})


def test_apt_failing_is_a_failure_with_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apt, "run_command", lambda argv, **kw: CommandResult(
        tuple(argv), 100, "", "E: Unmet dependencies. Try 'apt --fix-broken install'.\n"))
    with pytest.raises(RuntimeError, match="Unmet dependencies"):
        apt.read(60.0)


# --- dnf (fixtures reconstructed from the documented format) -----------------------------

def test_dnf_check_update_counts_packages_not_lines() -> None:
    # Five one-line entries, one wrapped over two lines; the obsoletes section is a repeat.
    assert dnf.parse_check_update(text("dnf_check_update.txt")) == 6


def test_dnf_security_counts_packages_once_whatever_the_advisories() -> None:
    assert dnf.parse_security(text("dnf_updateinfo_security.txt")) == 4


def test_dnf5_advisory_table_gives_the_same_count() -> None:
    assert dnf.parse_security(text("dnf5_advisory_list_security.txt")) == 3


@pytest.mark.parametrize(("returncode", "stderr", "reboot"), [
    (0, "", False),
    (1, "", True),
    (1, "No such command: needs-restarting. Please use /usr/bin/dnf --help\n", None),
    (2, "Error: something else\n", None),
])
def test_dnf_needs_restarting_exit_status(returncode: int, stderr: str,
                                          reboot: bool | None) -> None:
    assert dnf.parse_needs_restarting(returncode, stderr) is reboot


def fake_dnf(answers: dict[str, CommandResult]) -> Any:
    def run(argv: Any, **kw: Any) -> CommandResult:
        return answers[" ".join(argv[2:4]) if "--cacheonly" in argv else argv[2]]
    return run


def result(code: int, out: str = "", err: str = "") -> CommandResult:
    return CommandResult(("dnf",), code, out, err)


def test_dnf_read_combines_the_three_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnf, "run_command", fake_dnf({
        "--cacheonly check-update": result(100, text("dnf_check_update.txt")),
        "--cacheonly updateinfo": result(0, text("dnf_updateinfo_security.txt")),
        "needs-restarting": result(1, "Reboot is required to fully utilize these updates.\n"),
    }))
    assert dnf.read(60.0) == Pending(6, 4, True)


def test_dnf_up_to_date_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnf, "run_command", fake_dnf({
        "--cacheonly check-update": result(0),
        "--cacheonly updateinfo": result(0),
        "needs-restarting": result(0, "No core libraries or services have been updated "
                                      "since boot-up.\nReboot should not be necessary.\n"),
    }))
    assert dnf.read(60.0) == Pending(0, 0, False)


def test_dnf_without_security_metadata_still_counts_updates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnf, "run_command", fake_dnf({
        "--cacheonly check-update": result(100, text("dnf_check_update.txt")),
        "--cacheonly updateinfo": result(1, err="Error: no updateinfo metadata\n"),
        "needs-restarting": result(1, err="No such command: needs-restarting.\n"),
    }))
    assert dnf.read(60.0) == Pending(6, None, None)


def test_dnf_check_update_error_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnf, "run_command", fake_dnf({
        "--cacheonly check-update": result(1, err="Error: Cache-only enabled but no cache "
                                                  "for 'baseos'\n")}))
    with pytest.raises(RuntimeError, match="no cache for 'baseos'"):
        dnf.read(60.0)


# --- Windows Update (fixtures reconstructed from the script's format) --------------------

def test_windows_counts_updates_and_security_ones_in_any_language() -> None:
    # Cumulative update (rated Critical), SSU (German category name, upper-case ID) and
    # .NET (Critical Updates) are security; Defender definitions and Edge are not.
    assert windows.parse(text("windows_updates.json")) == Pending(5, 3, True)


def test_windows_up_to_date() -> None:
    assert windows.parse(text("windows_updates_none.json")) == Pending(0, 0, False)


def test_windows_failed_search_is_a_failure() -> None:
    with pytest.raises(RuntimeError, match="result code 4"):
        windows.parse(text("windows_updates_failed.json"))


@pytest.mark.parametrize("bad", ["", "null", '{"ResultCode": 2}', "Exception calling Search"])
def test_windows_answer_that_is_not_the_script_output_is_a_failure(bad: str) -> None:
    with pytest.raises(RuntimeError):
        windows.parse(bad)


def test_windows_script_searches_offline_for_uninstalled_visible_software() -> None:
    assert "$searcher.Online = $false" in windows.SCRIPT
    assert "IsInstalled=0 and IsHidden=0 and Type='Software'" in windows.SCRIPT
    assert "Microsoft.Update.SystemInfo" in windows.SCRIPT


def test_windows_powershell_failing_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windows, "run_powershell", lambda script, timeout: CommandResult(
        ("powershell.exe",), 1, "", "Exception from HRESULT: 0x8024402C\n"))
    with pytest.raises(RuntimeError, match="0x8024402C"):
        windows.read(60.0)


# --- which manager -----------------------------------------------------------------------

def which_of(*present: str) -> Any:
    return lambda program: f"/usr/bin/{program}" if program in present else None


@pytest.mark.parametrize(("platform", "present", "manager"), [
    ("win32", (), Manager.WINDOWS),
    ("linux", ("apt-get",), Manager.APT),
    ("linux", ("dnf",), Manager.DNF),
    ("linux", ("apt-get", "dnf"), Manager.APT),  # dnf as a tool on Debian
    ("linux", (), None),
])
def test_manager_is_detected_from_the_platform_and_programs(
        platform: str, present: tuple[str, ...], manager: Manager | None) -> None:
    assert detect_manager(platform, which_of(*present)) is manager


# --- samples and the sampler -------------------------------------------------------------

def test_samples_are_labelled_with_the_manager() -> None:
    assert Pending(3, 1, True).samples(Manager.APT, NOW) == [
        Sample("updates.pending", 3.0, NOW, {"manager": "apt"}),
        Sample("updates.security", 1.0, NOW, {"manager": "apt"}),
        Sample("updates.reboot_required", 1.0, NOW, {"manager": "apt"}),
    ]


def test_unknown_figures_are_left_out() -> None:
    assert [s.metric for s in Pending(3, None, None).samples(Manager.DNF, NOW)] == [
        "updates.pending"]


def test_sampler_asks_its_manager_with_its_timeout() -> None:
    asked: list[tuple[Manager, float]] = []

    def reader(manager: Manager, timeout: float) -> Pending:
        asked.append((manager, timeout))
        return Pending(2, 0, False)

    sampler = UpdatesSampler(Manager.DNF, 90.0, reader)
    assert [s.value for s in sampler.collect(NOW)] == [2.0, 0.0, 0.0]
    assert asked == [(Manager.DNF, 90.0)]


def test_sampler_without_a_manager_measures_nothing() -> None:
    assert UpdatesSampler(None, reader=lambda m, t: pytest.fail("asked")).collect(NOW) == []


def test_sampler_schedule_and_default_settings(tmp_path: Path) -> None:
    assert (UpdatesSampler.name, UpdatesSampler.interval) == ("updates", 3600.0)
    sampler = UpdatesSampler.create(None, SamplerContext(tmp_path, "srv1"))
    assert sampler.manager is detect_manager() and sampler.timeout == DEFAULT_TIMEOUT


def configure(data: dict[str, Any]) -> tuple[UpdatesSettings, list[str]]:
    t = Table(data, "agent.toml", "sampler.updates")
    return UpdatesSampler.configure(t), [str(p) for p in t.problems]


def test_configure_defaults_to_detection_and_ten_minutes() -> None:
    assert configure({}) == (UpdatesSettings(None, 600.0), [])


def test_configure_reads_manager_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.samplers.updates.shutil.which", which_of("dnf"))
    monkeypatch.setattr("agent.samplers.updates.sys.platform", "linux")
    assert configure({"manager": "dnf", "timeout": "2m"}) == (
        UpdatesSettings(Manager.DNF, 120.0), [])


@pytest.mark.parametrize(("data", "platform", "reason"), [
    ({"manager": "yum"}, "linux", "'yum' is not allowed; one of: apt, dnf, windows"),
    ({"manager": "windows"}, "linux", "'windows' is the manager of Windows hosts only"),
    ({"manager": "apt"}, "win32", "'apt' does not run on Windows"),
    ({"manager": "dnf"}, "linux", "'dnf' needs dnf, which is not on PATH"),
    ({"timeout": "0s"}, "linux", "must be longer than zero"),
    ({"interval_": 5}, "linux", "unknown key"),
])
def test_bad_settings_are_refused_naming_file_key_and_reason(
        data: dict[str, Any], platform: str, reason: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.samplers.updates.shutil.which", which_of("apt-get"))
    monkeypatch.setattr("agent.samplers.updates.sys.platform", platform)
    (problem,) = configure(data)[1]
    key = next(iter(data))
    assert problem == f"agent.toml: sampler.updates.{key}: {reason}"


def test_sampler_is_registered_under_its_name() -> None:
    from agent.samplers import SAMPLERS

    assert SAMPLERS["updates"] is UpdatesSampler
