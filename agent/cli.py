"""Agent commands: enroll once, then run (as a service, or in a terminal)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

DEFAULT_CONFIG = os.environ.get("WATCHKEEPER_AGENT_CONFIG", "agent.toml")

_CONFIG_TEMPLATE = """# watchkeeper agent configuration, written by `watchkeeper agent enroll`.
[agent]
collector_url = "{url}"
device_id = "{device_id}"
# The name this device is shown under; rule summaries use it as {{host}}.
hostname = {hostname}
# The device's own credential (mode 0600). Revoke it on the collector if this host is lost.
credential_file = "{credential_file}"
# The spool of unsent reports, reader checkpoints, sequence numbers and cached rules.
state_dir = "{state_dir}"
# How often the agent reports (its heartbeat); set by the collector at enrolment.
interval = "{interval}"
allow_plain_http = {allow_plain_http}
{ca_line}
# Unsent reports are kept on disk up to this size (KiB; 65536 = 64 MiB, about two days of
# reports at 60 s); when full, metrics are thinned first, events and alerts dropped last.
spool_max_kib = 65536
samplers = {samplers}
"""

# Every sampler's settings, with their defaults, for the admin to uncomment.
_SAMPLER_SETTINGS = """
# Each sampler runs on its own schedule; `interval` overrides it. Defaults: cpu and memory
# 10s, disks 60s, eventlog 30s, backup 5m, antivirus 15m, updates 1h, inventory 1h (sent
# only when it changed, or daily).

# [sampler.eventlog]
# min_level = "warning"          # critical | error | warning | info | debug
# first_read = "1h"              # first run: only newer entries (files start at their end)
# journal = true                 # Linux: the journal (agent user in group systemd-journal)
# journal_directory = "/srv/ct1/journal"   # Linux: read this journal directory instead
# files = []                     # Linux: syslog-style files to tail, e.g. ["/var/log/messages"]
# channels = ["System", "Application"]     # Windows: replaces the default list
# [[sampler.eventlog.ignore]]    # dropped at the agent
# source = "Microsoft-Windows-DistributedCOM"
# ids = [10016]                  # optional; without it every entry of that source is dropped

# [sampler.backup]
# windows_server_backup = true   # Windows only (default there): from the event log
# veeam = true                   # Windows only (default there): Veeam Agent and Veeam B&R
# detect_rsnapshot = true        # this host's rsnapshot, if /etc/rsnapshot.conf names a logfile
# refresh = "1h"                 # restic/borg, local repository: asked again when it changed,
#                                # else after this long ("0s": every run)
# remote_interval = "30m"        # restic/borg, remote repository: asked this often
# [[sampler.backup.restic]]
# job = "nightly"
# repository = "sftp:backup@nas:/restic"
# password_file = "/etc/watchkeeper-agent/restic.pw"
# host = "fs01"                  # optional filters: host, paths, tags
# timeout = "120s"
# [[sampler.backup.borg]]
# job = "system"
# repository = "ssh://backup@nas/./borg"
# passphrase_file = "/etc/watchkeeper-agent/borg.pw"   # or passcommand = "..."
# glob_archives = "fs01-*"       # optional
# [[sampler.backup.rsnapshot]]
# job = "daily"
# config = "/etc/rsnapshot.conf"
# [[sampler.backup.marker]]
# job = "erp dump"
# path = "/srv/dumps/*.sql.gz"   # newest match's time = last success
# [[sampler.backup.marker]]
# job = "offsite"
# command = ["/usr/local/bin/check-offsite"]   # exit 0 = success

# [sampler.antivirus]
# clamav_database = "/var/lib/clamav"   # Linux: ClamAV's DatabaseDirectory

# [sampler.updates]
# manager = "apt"                # apt | dnf | windows; detected when unset
# timeout = "10m"
# refresh = "24h"                # asked again when the packages or lists changed, else after
#                                # this long (default 24h; Windows: 6h)

# [sampler.inventory]
# software = true                # list installed packages
"""


def default_state_dir(config: Path) -> str:
    """Beside the configuration, except for the service layout (packaging/linux): there the
    unit's sandbox lets the agent write only below /var/lib/watchkeeper-agent."""
    from agent import service_linux

    if config.resolve().parent == service_linux.CONFIG_DIR:
        return str(service_linux.STATE_DIR)
    return f"{config.stem}-state"


def cmd_enroll(args: argparse.Namespace) -> int:
    from agent.config import DEFAULT_SAMPLERS, check_url
    from agent.pusher import CollectorClient, PushError
    from agent.state import AgentState
    from rules.durations import format_duration
    from rules.model import RulePack
    from watchkeeper.files import write_private

    if why := check_url(args.collector, args.allow_http):
        print(f"watchkeeper: --collector: {why}", file=sys.stderr)
        return 2
    if args.config.exists() and not args.force:
        print(f"watchkeeper: {args.config} exists: this agent is enrolled already"
              " (use --force to enrol it again as a new device)", file=sys.stderr)
        return 1
    client = CollectorClient(args.collector, args.ca_file)
    try:
        answer = client.enroll(args.token, args.hostname)
    except PushError as exc:
        print(f"watchkeeper: enrolment failed: {exc}", file=sys.stderr)
        return 1
    base = args.config.resolve().parent
    base.mkdir(parents=True, exist_ok=True)
    credential = base / f"{args.config.stem}.credential"
    write_private(credential, answer["credential"] + "\n")
    state_dir = str(args.state_dir) if args.state_dir else default_state_dir(args.config)
    args.config.write_text(_CONFIG_TEMPLATE.format(
        url=args.collector.rstrip("/"), device_id=answer["device_id"],
        # A JSON string is a valid TOML basic string: quotes and backslashes stay escaped.
        hostname=json.dumps(args.hostname),
        credential_file=credential.name, state_dir=state_dir,
        interval=format_duration(float(answer["interval"])),
        allow_plain_http="true" if args.allow_http else "false",
        ca_line=f'ca_file = "{args.ca_file.resolve()}"' if args.ca_file else '# ca_file = ""',
        samplers=json.dumps(list(DEFAULT_SAMPLERS))) + _SAMPLER_SETTINGS)
    AgentState(base / state_dir).save_rules(RulePack.from_wire(answer["rules"]))
    print(f"Enrolled {args.hostname} as device {answer['device_id']} for {answer['customer']}."
          f"\nConfiguration written to {args.config}; start with: watchkeeper agent run"
          f" --config {args.config}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import logging

    from agent.config import load_agent_config
    from agent.runner import make_agent
    from watchkeeper import logs
    from watchkeeper.clock import SystemClock
    from watchkeeper.tomlconf import ConfigError, print_problems

    try:
        config = load_agent_config(args.config)
    except ConfigError as exc:
        return print_problems(exc)
    from agent.sdnotify import Notifier

    logs.setup(args.log_level, "agent")
    make_agent(config, SystemClock(), Notifier.from_env()).start()
    # Stopped. A slow sampler (apt-get, restic) may still be running on a pool thread, and
    # the interpreter would wait for it at exit; nothing it holds needs saving (reports and
    # checkpoints are already on disk), so leave now rather than stall the service stop.
    logging.shutdown()
    os._exit(0)


def cmd_install(args: argparse.Namespace) -> int:
    from agent import service

    return service.install(args.config, args.root, start=not args.no_start)


def cmd_uninstall(args: argparse.Namespace) -> int:
    from agent import service

    return service.uninstall(args.root, args.purge)


def add_parser(sub: argparse._SubParsersAction) -> None:
    agent = sub.add_parser("agent", help="enrol and run the agent on a managed device",
                           description="The agent that runs on each managed device.")
    agent_sub = agent.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = agent_sub.add_parser("enroll", help="register this device with a collector",
                             description="Register this device with a collector using an"
                                         " enrolment token, and write the agent configuration.")
    p.add_argument("--collector", required=True, help="the collector's URL, e.g."
                                                      " https://noc.example:8470")
    p.add_argument("--token", required=True, help="an enrolment token from `watchkeeper token"
                                                   " create`")
    p.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                   help="where to write the agent configuration (default ./agent.toml)")
    p.add_argument("--hostname", default=socket.gethostname(),
                   help="the name this device is shown under (default: this host's name)")
    p.add_argument("--ca-file", type=Path, help="trust this CA for the collector's certificate")
    p.add_argument("--state-dir", type=Path,
                   help="where the agent keeps its spool, checkpoints and rules (default:"
                        " /var/lib/watchkeeper-agent for a config in /etc/watchkeeper-agent,"
                        " else CONFIG-STEM-state beside the config)")
    p.add_argument("--allow-http", action="store_true",
                   help="allow a plain-HTTP collector URL (tests and demos only)")
    p.add_argument("--force", action="store_true", help="enrol again, replacing the config")
    p.set_defaults(func=cmd_enroll)
    p = agent_sub.add_parser("run", help="run the agent in the foreground",
                             description="Sample, judge and report until stopped (SIGTERM).")
    p.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG),
                   help="the agent configuration (default ./agent.toml)")
    p.set_defaults(func=cmd_run)
    p = agent_sub.add_parser(
        "install", help="install and start the agent as a system service",
        description="Run the enrolled agent as a service. Linux: a hardened systemd unit"
                    " (/etc/systemd/system/watchkeeper-agent.service) running as the system user"
                    " watchkeeper-agent, whose state must live in /var/lib/watchkeeper-agent."
                    " Windows: the WatchkeeperAgent service (delayed automatic start, restarted"
                    " on failure). Run as root / from an elevated prompt.")
    p.add_argument("--config", type=Path,
                   help="the enrolled agent configuration (default:"
                        " /etc/watchkeeper-agent/agent.toml; on Windows"
                        " %%ProgramData%%\\watchkeeper\\agent.toml)")
    p.add_argument("--root", type=Path, metavar="DIR",
                   help="Linux: write the unit and the sysusers.d file under DIR and run neither"
                        " systemd-sysusers nor systemctl (for packagers and tests); --config is"
                        " then the path on the target, read from under DIR")
    p.add_argument("--no-start", action="store_true",
                   help="enable the service for the next boot but do not start it now")
    p.set_defaults(func=cmd_install)
    p = agent_sub.add_parser(
        "uninstall", help="stop and remove the agent's system service",
        description="Stop and disable the service and remove what `agent install` wrote. The"
                    " configuration, the credential and the agent's state are kept unless"
                    " --purge is given; the system user is always kept.")
    p.add_argument("--root", type=Path, metavar="DIR",
                   help="Linux: remove the files under DIR and run no systemctl")
    p.add_argument("--purge", action="store_true",
                   help="also delete the configuration, the credential and the agent's state")
    p.set_defaults(func=cmd_uninstall)
