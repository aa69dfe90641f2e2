"""Agent footprint: the real agent's memory and CPU beside Debian's node_exporter.

    .venv/bin/python bench/agent_footprint.py                  # 30 s warm-up + 10 minutes
    .venv/bin/python bench/agent_footprint.py --duration 60    # smoke run, about 2 minutes

Four processes, all on 127.0.0.1:

* this one (the conductor) sets everything up, scrapes node_exporter every 15 s the way a
  Prometheus server would, samples both measured processes every 5 s, and prints and saves
  the figures;
* a collector over HTTPS (a self-signed certificate made with openssl, which the agent is
  told to trust), exactly as an operator runs it; it is not measured;
* the agent, enrolled with a real token and started as `python -m watchkeeper agent run`
  with the default sampler list (`agent.config.DEFAULT_SAMPLERS`: whatever of it is
  registered), a backup marker job on a file this script touches, and a small restic job when
  restic is installed, so backup checks really run;
* `/usr/bin/prometheus-node-exporter` with Debian's default arguments on a free port.

For each measured process the figures are: median RSS, PSS, USS and anonymous memory (from
/proc/PID/smaps_rollup) and mean CPU % of one core over the measured window, which opens
after --warmup. The agent's
CPU includes its child processes (journalctl, restic...): the CPU time the agent has used
itself, plus what its finished and waited-for children used (the kernel's cutime/cstime),
plus the CPU time so far of every child still running, so a child is counted once whether or
not it has finished. Targets (issue 3): the agent's median RSS no more than node_exporter's in
the same run, and its CPU at most half of node_exporter's.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import MIB, REPO, fmt, free_ports, positive, repo_env, start_collector, stop, vm_hwm

RESULTS = REPO / "bench" / "results"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
SAMPLE_EVERY = 5.0  # seconds between readings of both processes
SCRAPE_EVERY = 15.0  # node_exporter's scrape interval, as in a typical Prometheus set-up
PROGRESS_EVERY = 30.0
RSS_RATIO_TARGET = 1.0  # agent RSS / node_exporter RSS
CPU_RATIO_TARGET = 0.5  # agent CPU / node_exporter CPU
MEMORY_METHOD = (
    "RSS, PSS, USS (Private_Clean + Private_Dirty) and anonymous memory from"
    " /proc/PID/smaps_rollup every 5 s; medians over the window. The agent's figures are its"
    " own process only; its children's RSS is shown separately. Only RSS and anonymous memory"
    " are independent of other processes: PSS splits shared pages among the processes mapping"
    " them, and USS counts a library page as private when no other process maps it. Here the"
    " conductor and the collector run the same Python (libpython, libcrypto), so the agent's"
    " PSS and USS are lower than on a server where it is the only Python process; two"
    " node_exporters running at once likewise halve each one's. Anonymous memory (heap, Python"
    " objects, thread stacks) is what the process itself allocated.")
CPU_METHOD = (
    "CPU % = (CPU seconds at the end of the window - at its start) / wall seconds x 100, of"
    " one core. CPU seconds of the agent = its own user+system time + cutime/cstime (children"
    " it has waited for, e.g. finished journalctl/restic runs) + user+system+cutime/cstime of"
    " each descendant still running at the reading. node_exporter: the same (it has no"
    " children). The kernel counts CPU time in clock ticks (10 ms) and both processes use"
    " only tenths of a second a minute, so a 60 s run's CPU figures are a few ticks: coarse.")


# --------------------------------------------------------------------------------------
# Reading a process
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of one process: memory in bytes, CPU in cumulative seconds."""

    t: float  # monotonic seconds
    rss: int
    pss: int
    uss: int
    anon: int
    cpu_own: float
    cpu_reaped_children: float
    cpu_live_children: float
    live_children: int
    children_rss: int
    threads: int

    @property
    def cpu_total(self) -> float:
        return self.cpu_own + self.cpu_reaped_children + self.cpu_live_children


def smaps_rollup(pid: int) -> tuple[int, int, int, int]:
    """(RSS, PSS, USS, anonymous) in bytes from /proc/PID/smaps_rollup (Linux 4.14+)."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            fields[key] = int(parts[0]) * 1024
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields["Rss"], fields["Pss"], uss, fields["Anonymous"]


def read_process(pid: int) -> Reading | None:
    """Memory and cumulative CPU of `pid` and its descendants, or None if it has gone."""
    import psutil

    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            threads = proc.num_threads()
        rss, pss, uss, anon = smaps_rollup(pid)
        live_cpu, live_rss, live = 0.0, 0, 0
        for child in proc.children(recursive=True):
            try:
                with child.oneshot():
                    ct = child.cpu_times()
                    crss = child.memory_info().rss
            except psutil.Error:
                continue  # gone between listing and reading: it is in cutime now (or soon)
            live += 1
            live_cpu += ct.user + ct.system + ct.children_user + ct.children_system
            live_rss += crss
    except (psutil.Error, OSError):
        return None
    return Reading(time.monotonic(), rss, pss, uss, anon, times.user + times.system,
                   times.children_user + times.children_system, live_cpu, live, live_rss,
                   threads)


@dataclass
class Watched:
    """A measured process and its readings."""

    name: str
    proc: subprocess.Popen[bytes]
    readings: list[Reading] = field(default_factory=list)
    hwm: int | None = None

    def read(self) -> Reading | None:
        reading = read_process(self.proc.pid)
        if reading is not None:
            self.readings.append(reading)
            self.hwm = vm_hwm(self.proc.pid) or self.hwm
        return reading

    def window(self, start: float) -> list[Reading]:
        return [r for r in self.readings if r.t >= start]


def interval_cpu(a: Reading, b: Reading) -> float:
    return max(0.0, 100.0 * (b.cpu_total - a.cpu_total) / (b.t - a.t))


def figures(w: Watched, start: float) -> dict[str, Any]:
    """Median RSS/PSS/USS, mean CPU % over the window, and peaks, for one process."""
    rs = w.window(start)
    if len(rs) < 2:
        return {"readings": len(rs)}
    mib = lambda xs: [x / MIB for x in xs]  # noqa: E731
    per_interval = [interval_cpu(a, b) for a, b in itertools.pairwise(rs)]
    own = 100.0 * (rs[-1].cpu_own - rs[0].cpu_own) / (rs[-1].t - rs[0].t)
    return {
        "readings": len(rs),
        "seconds": rs[-1].t - rs[0].t,
        "rss_median_mib": statistics.median(mib(r.rss for r in rs)),
        "pss_median_mib": statistics.median(mib(r.pss for r in rs)),
        "uss_median_mib": statistics.median(mib(r.uss for r in rs)),
        "anon_median_mib": statistics.median(mib(r.anon for r in rs)),
        "rss_min_mib": min(mib(r.rss for r in rs)),
        "rss_max_mib": max(mib(r.rss for r in rs)),
        "rss_first_mib": rs[0].rss / MIB,
        "rss_last_mib": rs[-1].rss / MIB,
        "cpu_seconds": rs[-1].cpu_total - rs[0].cpu_total,
        "cpu_mean_percent": 100.0 * (rs[-1].cpu_total - rs[0].cpu_total) / (rs[-1].t - rs[0].t),
        "cpu_own_mean_percent": own,
        "cpu_children_seconds": (rs[-1].cpu_reaped_children + rs[-1].cpu_live_children)
        - (rs[0].cpu_reaped_children + rs[0].cpu_live_children),
        "cpu_interval_median_percent": statistics.median(per_interval),
        "cpu_interval_max_percent": max(per_interval),
        "threads_max": max(r.threads for r in rs),
        "children_seen_live_max": max(r.live_children for r in rs),
        "children_rss_max_mib": max(r.children_rss for r in rs) / MIB,
        "peak_rss_mib_whole_run": max(r.rss for r in w.readings) / MIB,
        # The warm-up holds the first run of every sampler, the slow ones included (backup,
        # antivirus, updates, inventory), which a short window may not see again.
        "warmup_cpu_seconds": rs[0].cpu_total - w.readings[0].cpu_total,
        "vm_hwm_mib": None if w.hwm is None else w.hwm / MIB,
    }


# --------------------------------------------------------------------------------------
# Setting up the collector, the agent and node_exporter
# --------------------------------------------------------------------------------------

def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "watchkeeper", *args]


def run(argv: list[str], env: dict[str, str], **kw: Any) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, **kw)
    if out.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited {out.returncode}:"
                           f" {(out.stderr or out.stdout).strip()[-800:]}")
    return out.stdout


def wait_until(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with code {proc.returncode}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"gave up after {timeout:g} s waiting for {what}")


def make_certificate(directory: Path) -> None:
    """A self-signed certificate for 127.0.0.1, as tests/e2e/test_tls.py makes it."""
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(directory / "collector.key"), "-out", str(directory / "collector.crt"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], dict(os.environ))


def write_collector(directory: Path, https: bool) -> Path:
    from collector.cli import write_starter

    port, smtp_port = free_ports(2)
    scheme = "https" if https else "http"
    # smtp_port: nothing listens there; no case opens in a healthy run, so nothing is sent.
    path = write_starter(directory, listen_port=port, public_url=f"{scheme}://127.0.0.1:{port}",
                         smtp_port=smtp_port)
    if https:
        make_certificate(directory)
        path.write_text(path.read_text()
                        .replace("\nallow_plain_http = true\n", "\nallow_plain_http = false\n")
                        .replace('# tls_cert = "collector.crt"', 'tls_cert = "collector.crt"')
                        .replace('# tls_key = "collector.key"', 'tls_key = "collector.key"'))
    return path


def setup_restic(workdir: Path, env: dict[str, str]) -> dict[str, str] | None:
    """A small local restic repository with one snapshot, or None without restic."""
    restic = shutil.which("restic")
    if restic is None:
        return None
    repo, data = workdir / "restic-repo", workdir / "restic-data"
    password = workdir / "restic-password"
    password.write_text("bench-only-password\n")
    data.mkdir()
    for i in range(20):
        (data / f"file-{i:02d}.txt").write_text(f"benchmark data {i}\n" * 200)
    renv = {**env, "RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD_FILE": str(password),
            "RESTIC_CACHE_DIR": str(workdir / "restic-cache")}
    run([restic, "init"], renv)
    run([restic, "backup", "--quiet", str(data)], renv)
    return {"repository": str(repo), "password_file": str(password),
            "cache_dir": renv["RESTIC_CACHE_DIR"]}


def backup_table(marker: Path, restic: dict[str, str] | None) -> str:
    """`[sampler.backup]` settings: one marker-file job, and a restic job when installed.

    This follows the backup sampler's configuration (agent/samplers/backup.py); if that
    changes, the configuration check before the agent starts says what to change here.
    """
    lines = ["", "[[sampler.backup.marker]]", 'job = "bench-marker"',
             f"path = {json.dumps(str(marker))}"]
    if restic is not None:
        lines += ["", "[[sampler.backup.restic]]", 'job = "bench-restic"',
                  f"repository = {json.dumps(restic['repository'])}",
                  f"password_file = {json.dumps(restic['password_file'])}",
                  f"cache_dir = {json.dumps(restic['cache_dir'])}"]
    return "\n".join(lines) + "\n"


def configure_agent(path: Path, samplers: list[str], extra: str) -> None:
    """Set the enrolment's sampler list to `samplers` and append sampler settings."""
    text = path.read_text()
    line = re.compile(r"^samplers = .*$", re.MULTILINE)
    if len(line.findall(text)) != 1:
        raise RuntimeError(f"{path}: expected one `samplers = [...]` line; has `agent enroll`"
                           " changed?")
    path.write_text(line.sub(f"samplers = {json.dumps(samplers)}", text) + extra)


class Scraper(threading.Thread):
    """GET /metrics every SCRAPE_EVERY seconds, as a Prometheus server would."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="scraper")
        self.url = url
        self.stop = threading.Event()
        self.ok = 0
        self.failed: Counter[str] = Counter()
        self.bytes: list[int] = []
        self.seconds: list[float] = []

    def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as resp:
                    body = resp.read()
                self.ok += 1
                self.bytes.append(len(body))
                self.seconds.append(time.monotonic() - started)
            except OSError as exc:
                self.failed[type(exc).__name__] += 1
            if self.stop.wait(max(0.0, SCRAPE_EVERY - (time.monotonic() - started))):
                return


# --------------------------------------------------------------------------------------
# After the run
# --------------------------------------------------------------------------------------

def log_problems(path: Path) -> dict[str, Any]:
    """WARNING/ERROR lines of a log, counted, with failing samplers picked out."""
    levels: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    first: list[str] = []
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        level = next((lv for lv in ("WARNING", "ERROR", "CRITICAL", "Traceback")
                      if f" {lv} " in f" {line} "), None)
        if level is None:
            continue
        levels[level] += 1
        if " sampler " in line and " failed: " in line:
            failing[line.split(" sampler ", 1)[1].split(" failed: ", 1)[0]] += 1
        if len(first) < 15:
            first.append(line[:300])
    return {"problem_lines": dict(levels), "failing_samplers": dict(failing),
            "first_problems": first}


def collector_counts(db_path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        n, samples = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(samples), 0) FROM reports").fetchone()
        out: dict[str, Any] = {"reports": n, "samples": samples}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "samples" in tables:
            out["metrics"] = dict(conn.execute(
                "SELECT metric, COUNT(*) FROM samples GROUP BY metric ORDER BY metric"))
        return out
    finally:
        conn.close()


def interpreter_baseline(env: dict[str, str]) -> dict[str, float]:
    """RSS/PSS/USS of the agent's interpreter doing nothing: the floor under the agent's figures."""
    probe = ("from pathlib import Path; import sys; f = {}\n"
             "for line in Path('/proc/self/smaps_rollup').read_text().splitlines()[1:]:\n"
             "    k, _, v = line.partition(':'); f[k] = int(v.split()[0])\n"
             "print(f['Rss'], f['Pss'], f['Anonymous'], len(sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                         timeout=30)
    rss, pss, anon, modules = (int(x) for x in out.stdout.split())
    return {"rss_mib": rss / 1024, "pss_mib": pss / 1024, "anon_mib": anon / 1024,
            "modules": modules}


def package_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("psutil", "apscheduler", "tzlocal"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def journal_has_entries(env: dict[str, str]) -> bool | None:
    if shutil.which("journalctl") is None:
        return None
    out = subprocess.run(["journalctl", "-q", "--no-pager", "-n", "1", "-o", "cat"],
                         capture_output=True, text=True, env=env, timeout=30)
    return bool(out.stdout.strip())


def machine_use(a: Any, b: Any, wall: float, ours: float) -> dict[str, float]:
    """Whole-machine CPU (% of one core) between two psutil.cpu_times(), and others' share."""
    delta = {f: getattr(b, f) - getattr(a, f) for f in a._fields}
    idle = delta["idle"] + delta.get("iowait", 0.0)
    steal = delta.get("steal", 0.0)
    # guest time is already inside user on Linux
    busy = sum(delta.values()) - idle - steal - delta.get("guest", 0.0) \
        - delta.get("guest_nice", 0.0)
    return {"busy_percent": 100.0 * busy / wall, "steal_percent": 100.0 * steal / wall,
            "other_processes_percent": max(0.0, 100.0 * busy / wall - ours)}


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def summary_text(result: dict[str, Any]) -> str:
    p, a, n = result["parameters"], result["agent"], result["node_exporter"]
    r, t = result["ratios"], result["targets"]
    m = result["machine"]["during_window"]

    def row(name: str, f: dict[str, Any]) -> str:
        return (f"  {name:<14} {fmt(f.get('rss_median_mib')):>7} {fmt(f.get('pss_median_mib')):>7}"
                f" {fmt(f.get('uss_median_mib')):>7} {fmt(f.get('anon_median_mib')):>7}"
                f" {fmt(f.get('cpu_mean_percent'), '.3f'):>8}"
                f" {fmt(f.get('peak_rss_mib_whole_run')):>9} {fmt(f.get('vm_hwm_mib')):>7}")

    lines = [
        "",
        f"watchkeeper agent footprint: {p['duration']:g} s measured after {p['warmup']:g} s"
        f" warm-up; agent over {a['transport']}, samplers {', '.join(a['samplers'])}",
        "                 RSS MiB PSS MiB USS MiB    anon   CPU %  peak RSS   VmHWM  (medians;"
        " CPU mean, % of one core)",
        row("agent", a["figures"]),
        row("node_exporter", n["figures"]),
        f"  ratio agent/node_exporter: RSS {fmt(r['rss'], '.2f')}, PSS {fmt(r['pss'], '.2f')},"
        f" USS {fmt(r['uss'], '.2f')}, anon {fmt(r['anon'], '.2f')}, CPU {fmt(r['cpu'], '.2f')}",
        f"  target RSS <= node_exporter's: {t['rss']['verdict']};"
        f" CPU <= {CPU_RATIO_TARGET:g} x node_exporter's: {t['cpu']['verdict']}",
        f"  floor           the agent's interpreter doing nothing: RSS"
        f" {fmt(a['interpreter_baseline']['rss_mib'])},"
        f" {fmt(a['interpreter_baseline']['anon_mib'])} MiB anon"
        + (f"; agent environment {a['extra_environment']}" if a["extra_environment"] else ""),
        f"  warm-up         agent {fmt(a['figures'].get('warmup_cpu_seconds'), '.2f')} CPU s,"
        f" node_exporter {fmt(n['figures'].get('warmup_cpu_seconds'), '.2f')} CPU s (start-up:"
        " the first run of every sampler, not in the figures above)",
        f"  agent children  {fmt(a['figures'].get('cpu_children_seconds'), '.2f')} CPU s in the"
        f" window, up to {a['figures'].get('children_seen_live_max')} seen running, up to"
        f" {fmt(a['figures'].get('children_rss_max_mib'))} MiB RSS together",
        f"  collector saw   {a['collector'].get('reports')} reports,"
        f" {a['collector'].get('samples')} samples;"
        f" agent log {a['log']['problem_lines'] or 'clean'}"
        + (f"; failing samplers {a['log']['failing_samplers']}"
           if a["log"]["failing_samplers"] else ""),
        f"  node_exporter   {n['scrapes']['ok']} scrapes ok, failed {n['scrapes']['failed'] or 0},"
        f" {fmt(n['scrapes'].get('bytes_median'), '.0f')} bytes each",
        f"  machine         {fmt(m.get('busy_percent'))} % of one core busy in the window, other"
        f" processes {fmt(m.get('other_processes_percent'))} %",
    ]
    if a["samplers_not_registered"]:
        lines.append(f"  NOTE: in DEFAULT_SAMPLERS but not registered yet, so not run:"
                     f" {', '.join(a['samplers_not_registered'])}")
    lines += [f"  WARNING: {w}" for w in result["warnings"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------

def run_bench(args: argparse.Namespace) -> int:
    import psutil

    from agent.config import DEFAULT_SAMPLERS, load_agent_config
    from agent.samplers import SAMPLERS
    from collector.config import load_config
    from watchkeeper.tomlconf import ConfigError

    if not Path(NODE_EXPORTER).exists():
        print(f"{NODE_EXPORTER} is missing: apt-get install prometheus-node-exporter",
              file=sys.stderr)
        return 2
    https = not args.plain_http
    if https and shutil.which("openssl") is None:
        print("openssl is missing (needed for the collector's certificate); install it or"
              " pass --plain-http", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="watchkeeper-footprint-"))
    env = repo_env()
    procs: dict[str, subprocess.Popen[bytes] | None] = dict.fromkeys(
        ("agent", "node_exporter", "collector"))
    scraper: Scraper | None = None
    started_at = time.time()
    try:
        # ---- the collector (not measured) ---------------------------------------------
        cpath = write_collector(workdir / "collector", https)
        config = load_config(cpath)
        procs["collector"] = start_collector(cpath, workdir, env)
        tls = ssl.create_default_context(cafile=str(config.tls_cert)) if https else None

        def healthy() -> bool:
            with urllib.request.urlopen(f"{config.public_url}/healthz", timeout=2,
                                        context=tls) as resp:
                return resp.status == 200

        wait_until("the collector's /healthz", healthy, 30, procs["collector"])
        print(f"collector up at {config.public_url} (pid {procs['collector'].pid},"
              f" files in {workdir})", flush=True)

        # ---- enrol the agent and give it the default schedule ---------------------------
        token = run(cli("token", "create", "--customer", "acme", "--config", str(cpath)),
                    env).strip()
        apath = workdir / "agent" / "agent.toml"
        enrol = ["agent", "enroll", "--collector", config.public_url, "--token", token,
                 "--config", str(apath), "--hostname", "footprint-bench"]
        enrol += ["--ca-file", str(config.tls_cert)] if https else ["--allow-http"]
        run(cli(*enrol), env)
        samplers = [s for s in DEFAULT_SAMPLERS if s in SAMPLERS]
        missing = [s for s in DEFAULT_SAMPLERS if s not in SAMPLERS]
        marker = workdir / "backup-marker"
        marker.touch()  # a backup that "succeeded" just now
        restic = setup_restic(workdir, env) if "backup" in samplers else None
        configure_agent(apath, samplers,
                        backup_table(marker, restic) if "backup" in samplers else "")
        try:
            interval = load_agent_config(apath).interval
        except ConfigError as exc:
            raise RuntimeError(f"the agent would refuse its configuration:\n{exc}") from None
        print(f"agent enrolled; samplers {', '.join(samplers)}"
              + (f" (not registered yet: {', '.join(missing)})" if missing else "")
              + (f"; backup jobs: marker{', restic' if restic else ''}"
                 if "backup" in samplers else ""), flush=True)

        # ---- node_exporter, scraped every 15 s ------------------------------------------
        nport = free_ports(1)[0]
        with (workdir / "node_exporter.log").open("wb") as log:
            procs["node_exporter"] = subprocess.Popen(
                [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{nport}"], stdout=log,
                stderr=subprocess.STDOUT, cwd=workdir)
        metrics_url = f"http://127.0.0.1:{nport}/metrics"

        def metrics_up() -> bool:
            with urllib.request.urlopen(metrics_url, timeout=2) as resp:
                return resp.status == 200

        wait_until("node_exporter's /metrics", metrics_up, 30, procs["node_exporter"])
        version = subprocess.run([NODE_EXPORTER, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()[:1]
        scraper = Scraper(metrics_url)
        scraper.start()

        # ---- the agent -----------------------------------------------------------------
        with (workdir / "agent.log").open("wb") as log:
            procs["agent"] = subprocess.Popen(cli("agent", "run", "--config", str(apath)),
                                              stdout=log, stderr=subprocess.STDOUT,
                                              env={**env, **dict(args.agent_env)}, cwd=workdir)
        agent = Watched("agent", procs["agent"])
        node = Watched("node_exporter", procs["node_exporter"])
        print(f"agent pid {agent.proc.pid}, node_exporter pid {node.proc.pid} on port {nport};"
              f" warm-up {args.warmup:g} s, then {args.duration:g} s measured; a line every"
              f" {PROGRESS_EVERY:g} s (CPU: % of one core since the previous line)", flush=True)

        # ---- readings every 5 s ----------------------------------------------------------
        t0 = time.monotonic()
        window_start, end = t0 + args.warmup, t0 + args.warmup + args.duration
        next_progress = t0 + PROGRESS_EVERY
        system_start = None
        tick = t0
        last_shown: dict[str, Reading] = {}
        while True:
            for w in (agent, node):
                if w.proc.poll() is not None:
                    raise RuntimeError(f"the {w.name} exited with code {w.proc.returncode}"
                                       f" (see {workdir / (w.name + '.log')}; --keep keeps it)")
                w.read()
            now = time.monotonic()
            if system_start is None and now >= window_start:
                system_start = (psutil.cpu_times(), now)
            if now >= next_progress or now >= end:
                phase = "warm-up" if now < window_start else "measuring"
                parts = []
                for w in (agent, node):
                    latest = w.readings[-1]
                    before = last_shown.get(w.name, w.readings[0])
                    cpu = interval_cpu(before, latest) if latest.t > before.t else 0.0
                    last_shown[w.name] = latest
                    parts.append(f"{w.name} RSS {latest.rss / MIB:5.1f} PSS"
                                 f" {latest.pss / MIB:5.1f} MiB CPU {cpu:6.3f} %")
                print(f"  [{now - t0:4.0f}/{end - t0:.0f} s {phase:<9}] {' | '.join(parts)}",
                      flush=True)
                next_progress += PROGRESS_EVERY
            if now >= end:
                break
            tick += SAMPLE_EVERY
            time.sleep(max(0.0, min(tick, end) - time.monotonic()))
        system_end = (psutil.cpu_times(), time.monotonic())

        # ---- figures --------------------------------------------------------------------
        af, nf = figures(agent, window_start), figures(node, window_start)
        scraper.stop.set()
        scraper.join(15)
        stop(procs["agent"])
        stop(procs["node_exporter"])
        rss_r = ratio(af.get("rss_median_mib"), nf.get("rss_median_mib"))
        cpu_r = ratio(af.get("cpu_mean_percent"), nf.get("cpu_mean_percent"))
        verdict = lambda v, limit: "-" if v is None else (  # noqa: E731
            "PASS" if v <= limit else "FAIL")
        assert system_start is not None
        ours = (af.get("cpu_mean_percent") or 0.0) + (nf.get("cpu_mean_percent") or 0.0)
        during = machine_use(system_start[0], system_end[0], system_end[1] - system_start[1],
                             ours)
        warnings = []
        if during["other_processes_percent"] > 25:
            warnings.append(f"other processes used {during['other_processes_percent']:.0f} %"
                            " of a core during the window: CPU figures may be disturbed")
        state_dir = apath.parent / "agent-state"
        result = {
            "benchmark": "agent_footprint",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_at)),
            "parameters": {"duration": args.duration, "warmup": args.warmup,
                           "sample_every": SAMPLE_EVERY, "scrape_every": SCRAPE_EVERY},
            "method": {"memory": MEMORY_METHOD,
                       "cpu": CPU_METHOD},
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(),
                        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
                        "during_window": during},
            "agent": {
                "command": "python -m watchkeeper agent run",
                "python": sys.executable,
                "packages": package_versions(),
                "extra_environment": dict(args.agent_env),
                "interpreter_baseline": interpreter_baseline(env),
                "transport": "HTTPS (stdlib ssl, self-signed CA)" if https else "plain HTTP",
                "interval_seconds": interval,
                "samplers": samplers,
                "samplers_not_registered": missing,
                "backup_jobs": (["marker"] + (["restic"] if restic else [])
                                if "backup" in samplers else []),
                "journal_has_entries": journal_has_entries(env),
                "state_dir_files": sorted(str(p.relative_to(state_dir))
                                          for p in state_dir.rglob("*") if p.is_file()),
                "figures": af,
                "log": log_problems(workdir / "agent.log"),
                "collector": collector_counts(config.database),
                "series": [[round(r.t - t0, 1), round(r.rss / MIB, 2), round(r.pss / MIB, 2),
                            round(r.cpu_total, 3)] for r in agent.readings],
            },
            "node_exporter": {
                "binary": NODE_EXPORTER, "version": version[0] if version else None,
                "arguments": f"--web.listen-address=127.0.0.1:{nport} (otherwise Debian's"
                             " defaults)",
                "figures": nf,
                "scrapes": {"ok": scraper.ok, "failed": dict(scraper.failed),
                            "bytes_median": statistics.median(scraper.bytes)
                            if scraper.bytes else None,
                            "seconds_median": statistics.median(scraper.seconds)
                            if scraper.seconds else None},
                "series": [[round(r.t - t0, 1), round(r.rss / MIB, 2), round(r.pss / MIB, 2),
                            round(r.cpu_total, 3)] for r in node.readings],
            },
            "ratios": {"rss": rss_r,
                       "pss": ratio(af.get("pss_median_mib"), nf.get("pss_median_mib")),
                       "uss": ratio(af.get("uss_median_mib"), nf.get("uss_median_mib")),
                       "anon": ratio(af.get("anon_median_mib"), nf.get("anon_median_mib")),
                       "cpu": cpu_r},
            "targets": {
                "rss": {"rule": "agent median RSS <= node_exporter's", "ratio": rss_r,
                        "limit": RSS_RATIO_TARGET, "verdict": verdict(rss_r, RSS_RATIO_TARGET)},
                "cpu": {"rule": "agent mean CPU <= half of node_exporter's", "ratio": cpu_r,
                        "limit": CPU_RATIO_TARGET, "verdict": verdict(cpu_r, CPU_RATIO_TARGET)},
            },
            "warnings": warnings,
        }
        result["agent"]["series_columns"] = result["node_exporter"]["series_columns"] = [
            "seconds since agent start", "rss_mib", "pss_mib", "cpu_seconds_total"]
        print(summary_text(result), flush=True)
        out = args.output or RESULTS / f"agent_footprint-{time.strftime('%Y%m%d-%H%M%S')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {out}", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"agent_footprint: {exc}", file=sys.stderr)
        return 1
    finally:
        if scraper is not None:
            scraper.stop.set()
        stop(procs["agent"])
        stop(procs["node_exporter"])
        stop(procs["collector"], signal.SIGINT)
        if args.keep:
            print(f"kept {workdir} (configs, logs, database)", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/agent_footprint.py",
        description="Run the real agent (default samplers, HTTPS to a local collector) beside"
                    " Debian's prometheus-node-exporter scraped every 15 s; read both every"
                    " 5 s and report median RSS and PSS, mean CPU % and the agent/node_exporter"
                    " ratios against issue 3's targets (RSS <= node_exporter's, CPU <= half).",
        epilog="Example smoke run: bench/agent_footprint.py --duration 60")
    p.add_argument("--duration", type=positive(float), default=600.0,
                   help="seconds measured after the warm-up (default 600)")
    p.add_argument("--warmup", type=non_negative, default=30.0,
                   help="seconds after the agent starts that are left out of the figures"
                        " (default 30)")
    p.add_argument("--output", type=Path, default=None,
                   help="where to write the JSON results (default"
                        " bench/results/agent_footprint-<timestamp>.json)")
    p.add_argument("--plain-http", action="store_true",
                   help="report over plain HTTP instead of HTTPS (to see what TLS costs)")
    p.add_argument("--agent-env", type=env_pair, action="append", default=[],
                   metavar="NAME=VALUE",
                   help="extra environment for the agent only, for experiments (e.g."
                        " MALLOC_ARENA_MAX=2); repeatable; recorded in the results")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory (configs, logs, database)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return run_bench(args)


if __name__ == "__main__":
    sys.exit(main())
