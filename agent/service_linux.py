"""The agent as a hardened systemd service.

Pure: the unit file and the sysusers.d entry rendered from parameters, the commands that apply
them, and the check that the agent's state lives where the sandbox lets it write. Thin I/O:
`install` and `uninstall` write or remove the files and run those commands; with `root` they
work under that directory and run nothing (packagers build images that way, tests too).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

NAME = "watchkeeper-agent"
UNIT = f"{NAME}.service"
USER = NAME
UNIT_PATH = Path("/etc/systemd/system") / UNIT
# /etc rather than /usr/lib: this is an admin installing by hand, not a distribution package.
SYSUSERS_PATH = Path("/etc/sysusers.d") / f"{NAME}.conf"
CONFIG_DIR = Path("/etc") / NAME
STATE_DIR = Path("/var/lib") / NAME
CACHE_DIR = Path("/var/cache") / NAME
DEFAULT_CONFIG = CONFIG_DIR / "agent.toml"

_UNIT = """\
# Written by `watchkeeper agent install`; `watchkeeper agent uninstall` removes it.
# Change settings with a drop-in (systemctl edit {unit}), not here.
[Unit]
Description=watchkeeper monitoring agent
Wants=network-online.target
After=network-online.target
# Five failed starts within five minutes: stop trying and stay failed (visible to the admin).
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start}
Restart=on-failure
RestartSec=10s
# The agent sends WATCHDOG=1 every 30 s while its scheduler is still sampling.
WatchdogSec=60s
TimeoutStartSec=60s
TimeoutStopSec=30s
KillMode=mixed

User={user}
Group={user}
# In the groups systemd-journal and adm (see {sysusers}):
# it reads the journal and /var/log/syslog.
# State and the report spool: with ProtectSystem=strict the only place the agent can write.
StateDirectory={name}
StateDirectoryMode=0750
CacheDirectory={name}
CacheDirectoryMode=0750
# agent.toml and its credential: root:{user} mode 0640, read-only for the agent.
ConfigurationDirectory={name}
Environment=PYTHONUNBUFFERED=1
UMask=0077

NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateMounts=yes
RemoveIPC=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
# No ProtectProc=invisible or ProcSubset=pid: psutil must see every user's processes.
# AF_NETLINK is psutil's way to list network interfaces.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
# Safe here: CPython, psutil and apscheduler never map memory writable and executable (the
# agent uses no ctypes callbacks, cffi or JIT). Remove it if a sampler ever needs them.
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
"""

_SYSUSERS = """\
# Written by `watchkeeper agent install`: the agent's system user (sysusers.d(5)).
u {user} - "watchkeeper monitoring agent" {home}
# Read the system journal and the syslog files for the eventlog sampler.
m {user} systemd-journal
m {user} adm
"""

# A word systemd takes as it is; anything else is double-quoted (systemd.service(5) "Command
# lines"). % is doubled everywhere (specifiers), $ only in arguments: systemd expands variables
# there but not in the program's path, where "$$" stays two dollars.
_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+")


def exec_word(word: str, argument: bool = True) -> str:
    if any(c in word for c in "\n\r\0"):
        raise ValueError(f"{word!r}: a command-line word cannot hold a line break or NUL")
    word = word.replace("%", "%%")
    if argument:
        word = word.replace("$", "$$")
    if _PLAIN_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_unit(python: str, config: Path) -> str:
    argv = [python, "-m", "watchkeeper", "agent", "run", "--config", str(config)]
    exec_start = " ".join(exec_word(w, argument=i > 0) for i, w in enumerate(argv))
    return _UNIT.format(exec_start=exec_start, unit=UNIT, name=NAME,
                        user=USER, sysusers=SYSUSERS_PATH)


def render_sysusers() -> str:
    return _SYSUSERS.format(user=USER, home=STATE_DIR)


def apply_commands(start: bool) -> list[list[str]]:
    """After the unit is written: load it, enable it at boot and (re)start it, so running the
    install again after an upgrade takes effect at once."""
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", UNIT],
            *([["systemctl", "restart", UNIT]] if start else [])]


def state_dir_problem(state_dir: Path) -> str | None:
    """Why the service could not keep its state in `state_dir`, or None when it can."""
    if state_dir == STATE_DIR or state_dir.is_relative_to(STATE_DIR):
        return None
    return (f"{state_dir} would be read-only for the service: with ProtectSystem=strict it can"
            f" write only in its StateDirectory {STATE_DIR}. Set state_dir = \"{STATE_DIR}\" and"
            f" move the files of {state_dir} there")


def closed_directory(path: Path) -> Path | None:
    """The first directory on the way to `path` that other users cannot enter (the service user
    could not reach `path` through it), or None."""
    for directory in reversed(path.parents):
        if not directory.stat().st_mode & stat.S_IXOTH:
            return directory
    return None


def _warn_unreachable(paths: list[Path]) -> None:
    for path in paths:
        if closed := closed_directory(path):
            print(f"warning: {closed} is closed to other users, so the service user {USER}"
                  f" cannot reach {path}; install the agent into a venv made from the system's"
                  " python3 under /opt (see packaging/linux/README.md)", file=sys.stderr)
            return


def _under(root: Path | None, path: Path) -> Path:
    return root / path.relative_to("/") if root else path


def _as_seen_by_service(root: Path | None, path: Path) -> Path:
    return Path("/") / path.relative_to(root) if root and path.is_relative_to(root) else path


def _fail(message: str, code: int = 1) -> int:
    print(f"watchkeeper: {message}", file=sys.stderr)
    return code


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o644)
    print(f"wrote {path}")


def _run(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, check=False)
    except OSError as exc:
        print(f"watchkeeper: {argv[0]}: {exc}", file=sys.stderr)
        return False
    if done.returncode:
        print(f"watchkeeper: `{' '.join(argv)}` failed (exit {done.returncode})",
              file=sys.stderr)
    return done.returncode == 0


def _not_root(root: Path | None, verb: str) -> int | None:
    if root is None and os.geteuid() != 0:
        return _fail(f"{verb} must run as root (sudo watchkeeper agent {verb} ...), or with"
                     " --root DIR to write the files under DIR only")
    return None


def install(config: Path, root: Path | None, start: bool) -> int:
    from agent.service import load_enrolled

    if (refused := _not_root(root, "install")) is not None:
        return refused
    if root is not None:
        if not config.is_absolute():
            return _fail(f"--config {config}: with --root, give the absolute path the service"
                         " will read it from")
        root = root.resolve()
    config = config.absolute()
    agent = load_enrolled(_under(root, config), shown_as=config)
    if agent is None:
        return 2
    state_dir = _as_seen_by_service(root, agent.state_dir)
    if why := state_dir_problem(state_dir):
        return _fail(f"{agent.source}: agent.state_dir: {why}", 2)
    python = sys.executable
    if root is None:
        _warn_unreachable([Path(python), Path(python).resolve(), Path(__file__).resolve()])

    _write(_under(root, SYSUSERS_PATH), render_sysusers())
    if root is None:
        if not _run(["systemd-sysusers", str(SYSUSERS_PATH)]):
            return 1
        for secret in (agent.source, agent.credential_file):
            shutil.chown(secret, "root", USER)
            secret.chmod(0o640)
            print(f"{secret}: root:{USER} mode 0640")
    _write(_under(root, UNIT_PATH), render_unit(python, config))
    if root is not None:
        print("--root: ran neither systemd-sysusers nor systemctl; ownership of the"
              f" configuration is left as it is (the service needs it root:{USER} 0640)")
        return 0
    if not all(_run(argv) for argv in apply_commands(start)):
        return 1
    print(f"{UNIT} is enabled" + (" and started" if start else "; start it with"
                                   f" `systemctl start {UNIT}`")
          + f". Status: systemctl status {NAME}; logs: journalctl -u {NAME}")
    return 0


def uninstall(root: Path | None, purge: bool) -> int:
    if (refused := _not_root(root, "uninstall")) is not None:
        return refused
    unit = _under(root, UNIT_PATH)
    if root is None and unit.exists() and not _run(["systemctl", "disable", "--now", UNIT]):
        return 1
    for path in (unit, _under(root, SYSUSERS_PATH)):
        if path.exists():
            path.unlink()
            print(f"removed {path}")
    if root is None and not _run(["systemctl", "daemon-reload"]):
        return 1
    data = [_under(root, d) for d in (CONFIG_DIR, STATE_DIR, CACHE_DIR)]
    if purge:
        for directory in data:
            if directory.exists():
                shutil.rmtree(directory)
                print(f"removed {directory}")
    else:
        print("kept the configuration, credential and state (remove them with --purge):"
              f" {', '.join(str(d) for d in data if d.exists()) or 'none found'}")
    # Files the user owned elsewhere would pass to whoever reused its uid.
    print(f"the system user {USER} is kept; remove it with `userdel {USER}` if nothing else"
          " uses it")
    return 0
