"""Ingest baseline: how many agent reports a real collector process accepts, and at what cost.

    .venv/bin/python bench/ingest.py                      # 10,000 agents every 60 s, 120 s
    .venv/bin/python bench/ingest.py --agents 200 --interval 5 --duration 15   # smoke run

Three processes, all on 127.0.0.1:

* this one (the conductor) writes a starter configuration into a temporary directory, starts
  `watchkeeper collector run` on it, creates one enrolment token for all agents, samples
  the collector's CPU time and RSS every 0.5 s, and prints and saves the figures;
* the collector, exactly as an operator runs it;
* a load generator (this script again, with a hidden flag) in which every simulated agent
  is an asyncio task sharing one aiohttp session with a bounded connection pool. Each
  agent enrols over HTTP, then pushes a gzip JSON report shaped like agent/runner.py's every
  interval, the agents' start times spread evenly over one interval.

The figures cover a measured window of --duration seconds that starts after a warm-up
(default: one interval, so every agent has reported once and the pool is warm). Everything
is bounded: fixed duration, a watchdog on the load generator, the collector stopped at the
end, the temporary directory removed (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import math
import os
import platform
import random
import resource
import shutil
import signal
import sqlite3
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

DEFAULT_OUT = REPO / "bench" / "results" / "ingest.json"
CUSTOMER = "acme"  # the one customer in collector/templates/collector.toml
USER_AGENT = "watchkeeper-bench/0.1"
SAMPLE_EVERY = 0.5  # seconds between samples of the collector's CPU time and RSS
PROGRESS_EVERY = 10.0


# --------------------------------------------------------------------------------------
# Small helpers shared by both processes
# --------------------------------------------------------------------------------------

def percentiles(values: list[float], points: tuple[float, ...] = (50, 90, 95, 99, 99.9),
                ) -> dict[str, float | None]:
    """Linear-interpolated percentiles of `values` (any order), plus mean and max."""
    keys = [f"p{p:g}" for p in points] + ["mean", "max"]
    if not values:
        return dict.fromkeys(keys)
    s = sorted(values)
    out: dict[str, float | None] = {}
    for p in points:
        rank = (len(s) - 1) * p / 100.0
        lo, hi = math.floor(rank), math.ceil(rank)
        out[f"p{p:g}"] = s[lo] + (s[hi] - s[lo]) * (rank - lo)
    out["mean"] = sum(s) / len(s)
    out["max"] = s[-1]
    return out


def emit(event: str, **data: Any) -> None:
    """One JSON line on stdout: the load generator's channel to the conductor."""
    print(json.dumps({"event": event, "mono": time.monotonic(), **data}), flush=True)


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise the soft open-files limit towards `wanted` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --------------------------------------------------------------------------------------
# The load generator (runs in its own process: `ingest.py --_loadgen SPEC.json`)
# --------------------------------------------------------------------------------------

@dataclass
class SimAgent:
    """One simulated host: a fixed profile, slowly wandering readings, its credential."""

    index: int
    hostname: str
    rng: random.Random
    credential: str = ""
    rules_version: str | None = None
    mem_total: float = 0.0
    swap: bool = True
    mounts: list[tuple[str, str, float]] = field(default_factory=list)
    cpu: float = 20.0
    seq: int = 0

    def __post_init__(self) -> None:
        r = self.rng
        self.mem_total = float(r.choice([4, 8, 16, 32, 64]) * 1024**3)
        self.swap = r.random() < 0.7  # cloud VMs often have none: then no swap sample
        self.mounts = [("/", "system", float(r.choice([40, 80, 120]) * 1024**3))]
        if r.random() < 0.5:
            self.mounts.append(("/data", "data", float(r.choice([250, 500, 2000]) * 1024**3)))
        self.cpu = r.uniform(3, 60)

    def _cpu_memory(self, at: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One round of the cpu and memory samplers, as agent/samplers/ reports them."""
        r = self.rng
        self.cpu = min(100.0, max(0.0, self.cpu + r.gauss(0, 4)))
        cores = [min(100.0, max(0.0, self.cpu + r.gauss(0, 8))) for _ in range(2)]
        load1 = self.cpu / 50 + r.random() * 0.3
        cpu: list[dict[str, Any]] = [
            {"metric": "cpu.percent", "value": sum(cores) / 2, "at": at, "labels": {}},
            *({"metric": "cpu.core_percent", "value": c, "at": at, "labels": {"core": str(i)}}
              for i, c in enumerate(cores)),
            {"metric": "cpu.load1", "value": load1, "at": at, "labels": {}},
            {"metric": "cpu.load5", "value": load1 * 0.9, "at": at, "labels": {}},
            {"metric": "cpu.load15", "value": load1 * 0.8, "at": at, "labels": {}},
        ]
        mem_pct = r.uniform(25, 80)
        memory = [
            {"metric": "memory.percent", "value": mem_pct, "at": at, "labels": {}},
            {"metric": "memory.available_bytes", "value": self.mem_total * (1 - mem_pct / 100),
             "at": at, "labels": {}},
            {"metric": "memory.total_bytes", "value": self.mem_total, "at": at, "labels": {}},
        ]
        if self.swap:
            memory.append({"metric": "swap.percent", "value": r.uniform(0, 10), "at": at,
                           "labels": {}})
        return cpu, memory

    def report(self, now: float, rounds: int = 1, every: float = 10.0) -> tuple[bytes, int]:
        """The next report, gzipped as agent/pusher.py sends it, and its sample count.

        `rounds` cpu and memory readings `every` seconds apart, and one disk reading: a real
        agent pushing every 60 s with its 10 s cpu and memory samplers sends 6 rounds.
        """
        r = self.rng
        samples: list[dict[str, Any]] = []
        runs: list[dict[str, Any]] = []
        for k in range(rounds):
            at = now - (rounds - 1 - k) * every
            cpu, memory = self._cpu_memory(at)
            samples += cpu + memory
            runs += [
                {"name": "cpu", "ok": True, "duration_ms": r.uniform(0.05, 0.4),
                 "samples": len(cpu), "error": None},
                {"name": "memory", "ok": True, "duration_ms": r.uniform(0.02, 0.2),
                 "samples": len(memory), "error": None},
            ]
        for mount, role, total in self.mounts:
            free_pct = r.uniform(20, 90)
            labels = {"mount": mount, "role": role}
            samples += [
                {"metric": "disk.free_bytes", "value": total * free_pct / 100, "at": now,
                 "labels": labels},
                {"metric": "disk.free_percent", "value": free_pct, "at": now, "labels": labels},
                {"metric": "disk.total_bytes", "value": total, "at": now, "labels": labels},
            ]
        runs.append({"name": "disk", "ok": True, "duration_ms": r.uniform(0.1, 1.0),
                     "samples": 3 * len(self.mounts), "error": None})
        doc = {"seq": self.seq, "sent_at": now, "samples": samples, "transitions": [],
               "samplers": runs, "rules_version": self.rules_version}
        self.seq += 1
        body = gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=6)
        return body, len(samples)


def _error_kind(exc: BaseException) -> str:
    import aiohttp

    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server_disconnected"
    return f"client_{type(exc).__name__}"


async def _loadgen(spec: dict[str, Any]) -> int:
    import aiohttp

    loop = asyncio.get_running_loop()
    base = spec["url"]
    n, interval = spec["agents"], spec["interval"]
    raise_nofile(spec["connections"] + 1024)
    connector = aiohttp.TCPConnector(limit=spec["connections"], limit_per_host=0,
                                     keepalive_timeout=max(30.0, interval * 2))
    timeout = aiohttp.ClientTimeout(total=spec["timeout"])
    # One record per push: (slot, started, on_wire, ended, outcome, samples), monotonic
    # seconds: the agent wants to send at `started`, gets one of the pool's connections at
    # `on_wire` and has the answer at `ended`.
    records: list[tuple[float, float, float, float, str, int]] = []
    skipped: list[float] = []  # slots an agent missed because its previous push was running
    in_flight = [0]

    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers={"User-Agent": USER_AGENT}) as session:
        # ---- enrolment: every agent over HTTP, bounded concurrency -----------------------
        gate = asyncio.Semaphore(spec["enrol_concurrency"])
        enrol_latency: list[float] = []
        enrol_errors: Counter[str] = Counter()
        agents = [SimAgent(i, f"bench-{i:05d}", random.Random(spec["seed"] * 1_000_003 + i))
                  for i in range(n)]

        async def enrol(agent: SimAgent) -> None:
            async with gate:
                t = loop.time()
                try:
                    async with session.post(f"{base}/api/v1/enroll", json={
                            "token": spec["token"], "hostname": agent.hostname}) as resp:
                        body = await resp.read()
                        if resp.status != 201:
                            enrol_errors[f"http_{resp.status}"] += 1
                            return
                        doc = json.loads(body)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    enrol_errors[_error_kind(exc)] += 1
                    return
                enrol_latency.append(loop.time() - t)
                agent.credential = doc["credential"]
                agent.rules_version = (doc.get("rules") or {}).get("version")

        emit("enrolling", agents=n)
        t_enrol = loop.time()
        try:
            await asyncio.wait_for(asyncio.gather(*(enrol(a) for a in agents)),
                                   spec["enrol_timeout"])
        except TimeoutError:
            emit("fatal", reason=f"enrolment did not finish within {spec['enrol_timeout']} s")
            return 1
        enrol_seconds = loop.time() - t_enrol
        enrolled = [a for a in agents if a.credential]
        enrolment = {
            "agents": n, "enrolled": len(enrolled), "errors": dict(enrol_errors),
            "seconds": enrol_seconds, "per_second": len(enrolled) / enrol_seconds,
            "concurrency": spec["enrol_concurrency"],
            "latency_ms": {k: (v * 1000 if v is not None else None)
                           for k, v in percentiles(enrol_latency).items()},
        }
        emit("enrolled", **enrolment)
        if not enrolled:
            emit("fatal", reason="no agent could enrol")
            return 1

        # ---- pushing: one report per agent per interval, start times spread evenly ----------
        t0 = loop.time() + 1.0
        window_start = t0 + spec["warmup"]
        window_end = window_start + spec["duration"]
        report_url = f"{base}/api/v1/report"
        # Our own FIFO gate in front of the pool, as wide as the pool: aiohttp's connector
        # hands a freed connection to whichever request asks next, so under overload a
        # newcomer overtakes requests already waiting and the latency figures would say more
        # about that than about the collector. The gate also measures the wait.
        pool_gate = asyncio.Semaphore(spec["connections"])

        async def push(agent: SimAgent, body: bytes) -> tuple[float, str]:
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                       "Authorization": f"Bearer {agent.credential}"}
            in_flight[0] += 1
            on_wire = loop.time()
            try:
                async with pool_gate:
                    on_wire = loop.time()
                    async with session.post(report_url, data=body, headers=headers) as resp:
                        payload = await resp.read()
                        if resp.status != 200:
                            return on_wire, f"http_{resp.status}"
                        status = json.loads(payload).get("status")
                        outcome = "stored" if status == "stored" else f"answer_{status}"
                        return on_wire, outcome
            except (aiohttp.ClientError, TimeoutError) as exc:
                return on_wire, _error_kind(exc)
            finally:
                in_flight[0] -= 1

        async def run_agent(agent: SimAgent, first_slot: float) -> None:
            slot = first_slot
            while slot < window_end:
                delay = slot - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                body, count = agent.report(time.time(), spec["rounds"], interval / spec["rounds"])
                started = loop.time()
                on_wire, outcome = await push(agent, body)
                ended = loop.time()
                records.append((slot, started, on_wire, ended, outcome, count))
                slot += interval
                # The real agent's scheduler runs at most one push at a time and skips a
                # slot that comes while one is still running (max_instances=1).
                while slot < ended and slot < window_end:
                    skipped.append(slot)
                    slot += interval

        async def markers() -> None:
            await asyncio.sleep(max(0.0, t0 - loop.time()))
            emit("pushing", warmup=spec["warmup"])
            last_count, last_t = 0, loop.time()
            for phase, until in (("warmup", window_start), ("window", window_end)):
                while loop.time() < until:
                    await asyncio.sleep(min(PROGRESS_EVERY, max(0.0, until - loop.time())))
                    now, done = loop.time(), len(records)
                    if now < until - 0.05:
                        recent = records[last_count:done]
                        stored = sum(1 for r in recent if r[4] == "stored")
                        emit("progress", phase=phase, seconds_left=until - now,
                             stored_per_s=stored / (now - last_t),
                             errors=len(recent) - stored, in_flight=in_flight[0])
                        last_count, last_t = done, now
                emit("window_start" if phase == "warmup" else "window_end",
                     in_flight=in_flight[0])

        marker_task = asyncio.create_task(markers())
        await asyncio.gather(*(run_agent(a, t0 + k * interval / len(enrolled))
                               for k, a in enumerate(enrolled)))
        await marker_task
        drained_at = loop.time()

    # ---- figures over the measured window -----------------------------------------------
    dur = spec["duration"]
    slot_, started_, on_wire_, ended_, outcome_, count_ = range(6)
    in_window = [r for r in records if window_start <= r[slot_] < window_end]
    done_in_window = [r for r in records if window_start <= r[ended_] < window_end]
    stored_done = [r for r in done_in_window if r[outcome_] == "stored"]
    stored_sent = [r for r in in_window if r[outcome_] == "stored"]
    ms = lambda a, b: [(r[b] - r[a]) * 1000 for r in stored_sent]  # noqa: E731
    errors = Counter(r[outcome_] for r in in_window if r[outcome_] != "stored")
    skipped_in_window = sum(1 for s in skipped if window_start <= s < window_end)
    per_second = [0] * math.ceil(dur)
    for r in stored_done:
        per_second[min(len(per_second) - 1, int(r[ended_] - window_start))] += 1
    samples_done = sum(r[count_] for r in stored_done)
    emit("result", enrolment=enrolment, window={
        "seconds": dur,
        "nominal_reports_per_s": len(enrolled) / interval,
        "slots": len(in_window) + skipped_in_window,
        "sent": len(in_window),
        "skipped_slots": skipped_in_window,
        "offered_reports_per_s": (len(in_window) + skipped_in_window) / dur,
        "sent_reports_per_s": len(in_window) / dur,
        "stored_in_window": len(stored_done),
        "achieved_reports_per_s": len(stored_done) / dur,
        "achieved_samples_per_s": samples_done / dur,
        "samples_per_report": samples_done / len(stored_done) if stored_done else None,
        "stored_of_sent": len(stored_sent),
        "finished_after_window": sum(1 for r in in_window if r[ended_] >= window_end),
        "errors": dict(errors),
        "latency_ms": percentiles(ms(started_, ended_)),
        "pool_wait_ms": percentiles(ms(started_, on_wire_)),
        "on_connection_ms": percentiles(ms(on_wire_, ended_)),
        "send_lag_ms": percentiles([(r[started_] - r[slot_]) * 1000 for r in in_window]),
        "stored_per_second": per_second,
        "drain_seconds": drained_at - window_end,
    }, totals={
        "pushes": len(records),
        "stored": sum(1 for r in records if r[outcome_] == "stored"),
        "samples_stored": sum(r[count_] for r in records if r[outcome_] == "stored"),
        "errors": dict(Counter(r[outcome_] for r in records if r[outcome_] != "stored")),
        "skipped_slots": len(skipped),
    })
    return 0


def loadgen_main(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    try:
        return asyncio.run(_loadgen(spec))
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------------------
# The conductor
# --------------------------------------------------------------------------------------

class Sampler(threading.Thread):
    """Samples a process's CPU time and RSS every SAMPLE_EVERY seconds."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="sampler")
        import psutil

        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float, int]] = []  # (monotonic, cpu seconds, rss)
        self.stop = threading.Event()
        self.hwm: int | None = None

    def snapshot(self) -> tuple[float, float, int] | None:
        import psutil

        try:
            with self.proc.oneshot():
                cpu = self.proc.cpu_times()
                sample = (time.monotonic(), cpu.user + cpu.system, self.proc.memory_info().rss)
            self.hwm = vm_hwm(self.proc.pid) or self.hwm
        except psutil.Error:
            return None
        self.samples.append(sample)
        return sample

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            self.snapshot()

    def peak_rss(self, since: float = 0.0, until: float = math.inf) -> int | None:
        rss = [s[2] for s in self.samples if since <= s[0] <= until]
        return max(rss) if rss else None


def cpu_percent(start: tuple[float, float, int] | None,
                end: tuple[float, float, int] | None) -> float | None:
    """CPU time used between two snapshots over the wall time between them, % of one core."""
    if not start or not end or end[0] <= start[0]:
        return None
    return 100.0 * (end[1] - start[1]) / (end[0] - start[0])


def wait_healthy(url: str, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the collector exited with code {proc.returncode} at start-up")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the collector did not answer /healthz within 30 s")


def db_check(db_path: Path) -> dict[str, Any]:
    """What actually landed in the database (read-only), to cross-check the client's counts."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        one = lambda q: conn.execute(q).fetchone()[0]  # noqa: E731
        return {
            "reports": one("SELECT COUNT(*) FROM reports"),
            "samples": one("SELECT COUNT(*) FROM samples"),
            "devices": one("SELECT COUNT(*) FROM devices"),
            "devices_by_status": dict(conn.execute(
                "SELECT status, COUNT(*) FROM devices GROUP BY status").fetchall()),
            "cases": one("SELECT COUNT(*) FROM cases"),
            "outbox": one("SELECT COUNT(*) FROM outbox"),
        }
    finally:
        conn.close()


def file_bytes(*paths: Path) -> int:
    return sum(p.stat().st_size for p in paths if p.exists())


def log_summary(log_path: Path) -> dict[str, Any]:
    levels: Counter[str] = Counter()
    problems: list[str] = []
    for line in log_path.read_text(errors="replace").splitlines():
        for level in ("WARNING", "ERROR", "CRITICAL", "Traceback"):
            if f" {level} " in f" {line} ":
                levels[level] += 1
                if len(problems) < 20:
                    problems.append(line[:300])
                break
    return {"problem_lines": dict(levels), "first_problems": problems}


def summary_text(result: dict[str, Any]) -> str:
    p, e, w = result["parameters"], result["enrolment"], result["window"]
    c, lg, d = result["collector"], result["load_generator"], result["database"]
    lat, lag, pw = w["latency_ms"], w["send_lag_ms"], w["pool_wait_ms"]
    m = result["machine"].get("during_window", {})
    lines = [
        "",
        f"watchkeeper ingest baseline: {p['agents']} agents, one report each every"
        f" {p['interval']:g} s ({p['sampling_rounds']} sampling round(s) per report);"
        f" measured {p['duration']:g} s after {p['warmup']:g} s warm-up",
        f"  machine          {result['machine']['cpu_count']} CPUs, Python"
        f" {result['machine']['python']}, SQLite {result['machine']['sqlite']}",
        f"  enrolment        {e['enrolled']}/{e['agents']} in {e['seconds']:.1f} s"
        f" ({e['per_second']:.0f}/s at concurrency {e['concurrency']}); p50"
        f" {fmt(e['latency_ms']['p50'])} ms, p99 {fmt(e['latency_ms']['p99'])} ms;"
        f" errors {e['errors'] or 'none'}",
        f"  offered          {w['offered_reports_per_s']:.1f} reports/s"
        f" (nominal {w['nominal_reports_per_s']:.1f}; sent {w['sent_reports_per_s']:.1f},"
        f" {w['skipped_slots']} slots skipped while the agent's previous push ran)",
        f"  achieved         {w['achieved_reports_per_s']:.1f} reports/s stored,"
        f" {w['achieved_samples_per_s']:.0f} samples/s"
        f" ({fmt(w['samples_per_report'])} samples/report)",
        f"  latency          p50 {fmt(lat['p50'])}  p95 {fmt(lat['p95'])}  p99 {fmt(lat['p99'])}"
        f"  max {fmt(lat['max'])} ms (of which waiting for one of the"
        f" {p['connections']} connections: p50 {fmt(pw['p50'])}, p99 {fmt(pw['p99'])} ms;"
        f" send lag p99 {fmt(lag['p99'])} ms)",
        f"  errors           {w['errors'] or 'none'}",
        f"  collector        CPU {fmt(c['cpu_percent'])} % of one core over the window"
        f" ({fmt(c['cpu_system_percent'])} % in the kernel;"
        f" {fmt(c['cpu_ms_per_stored_report'], '.2f')} ms per stored report);"
        f" peak RSS {fmt(c['peak_rss_mib'])} MiB (window {fmt(c['peak_rss_window_mib'])} MiB,"
        f" kernel VmHWM {fmt(c['vm_hwm_mib'])} MiB)",
        f"  load generator   CPU {fmt(lg['cpu_percent'])} % of one core over the window",
        f"  machine load     {fmt(m.get('busy_percent'))} % of one core busy in all;"
        f" other processes {fmt(m.get('other_processes_percent'))} %, steal"
        f" {fmt(m.get('steal_percent'))} %",
        f"  database         {d.get('reports')} reports, {d.get('samples')} samples,"
        f" {fmt(d.get('bytes', 0) / MIB)} MiB; devices {d.get('devices_by_status')};"
        f" cases {d.get('cases')}",
        f"  verdict          {result['verdict']}",
    ]
    if c.get("log", {}).get("problem_lines"):
        lines.append(f"  collector log    {c['log']['problem_lines']} (see the JSON)")
    return "\n".join(lines)


def process_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process we may read, by pid, with a short command line."""
    import psutil

    out = {}
    for proc in psutil.process_iter(["cmdline", "name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is None:
            continue
        cmd = " ".join(proc.info["cmdline"] or []) or proc.info["name"] or "?"
        out[proc.pid] = (cmd[:80], times.user + times.system)
    return out


def busiest_others(marks: dict[str, Any], exclude: set[int]) -> list[dict[str, Any]]:
    """The other processes that used the most CPU during the window (% of one core)."""
    a, b = marks.get("procs_start"), marks.get("procs_end")
    if not a or not b:
        return []
    wall = marks["t_end"] - marks["t_start"]
    used = [(b[pid][1] - a.get(pid, ("", 0.0))[1], pid, b[pid][0]) for pid in b
            if pid not in exclude]
    return [{"pid": pid, "command": cmd, "cpu_percent": round(100 * cpu / wall, 1)}
            for cpu, pid, cmd in sorted(used, reverse=True)[:3] if cpu / wall > 0.05]


def machine_use(marks: dict[str, Any], ours: float) -> dict[str, Any]:
    """Whole-machine CPU during the window, and how much of it was not this benchmark's."""
    a, b = marks.get("system_start"), marks.get("system_end")
    if not a or not b:
        return {}
    wall = marks["t_end"] - marks["t_start"]
    delta = {f: getattr(b, f) - getattr(a, f) for f in a._fields}
    idle = delta["idle"] + delta.get("iowait", 0.0)
    steal = delta.get("steal", 0.0)
    busy = sum(delta.values()) - idle - steal - delta.get("guest", 0.0) \
        - delta.get("guest_nice", 0.0)
    return {"busy_percent": 100.0 * busy / wall, "steal_percent": 100.0 * steal / wall,
            "iowait_percent": 100.0 * delta.get("iowait", 0.0) / wall,
            "other_processes_percent": max(0.0, 100.0 * busy / wall - ours)}


def verdict(w: dict[str, Any], lg_cpu: float | None,
            contention: dict[str, Any]) -> tuple[str, str]:
    """("kept_up" | "at_limit" | "fell_behind", one line for people)."""
    nominal = w["nominal_reports_per_s"]
    share = w["achieved_reports_per_s"] / nominal if nominal else 0.0
    errors = sum(w["errors"].values())
    behind = share < 0.97 or w["skipped_slots"] > 0 or errors > 0
    p99 = w["latency_ms"]["p99"] or 0.0
    queued = (w["pool_wait_ms"]["p50"] or 0.0) > 1.0 or w["finished_after_window"] > 0.05 * (
        w["sent"] or 1)
    if behind:
        state = "fell_behind"
        text = (f"FELL BEHIND: achieved {w['achieved_reports_per_s']:.1f} of"
                f" {nominal:.1f} reports/s offered ({100 * share:.0f} %),"
                f" {errors} errors, {w['skipped_slots']} skipped slots")
    elif p99 > 1000 or queued:
        state = "at_limit"
        text = (f"AT ITS LIMIT: kept pace with {w['achieved_reports_per_s']:.1f} of"
                f" {nominal:.1f} reports/s ({100 * share:.0f} %), but only by queueing:"
                f" p99 latency {p99:.0f} ms, {w['finished_after_window']} requests still"
                " waiting when the window closed")
    else:
        state = "kept_up"
        text = (f"kept up: {w['achieved_reports_per_s']:.1f} of {nominal:.1f} reports/s"
                f" ({100 * share:.0f} %) with no errors")
    if lg_cpu is not None and lg_cpu > 85:
        text += (f"; WARNING the load generator used {lg_cpu:.0f} % of a core and may itself"
                 " be the limit (see send lag)")
    other = contention.get("other_processes_percent")
    if other is not None and other > 25:
        who = ", ".join(f"{p['command'][:40]!r} {p['cpu_percent']:.0f} %"
                        for p in contention.get("busiest_other_processes") or [])
        text += (f"; WARNING other processes on this machine used {other:.0f} % of a core"
                 f" during the window ({who}): these figures are not clean, run again on a"
                 " quiet machine")
    return state, text


def run_bench(args: argparse.Namespace) -> int:
    import aiohttp
    import psutil

    from collector.cli import write_starter
    from collector.config import load_config
    from collector.enrolment import create_token
    from collector.store.db import Database

    warmup = args.interval if args.warmup is None else args.warmup
    grace = args.interval / 2 if args.grace is None else args.grace
    nofile = raise_nofile(args.connections + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="watchkeeper-bench-"))
    env = repo_env()
    collector: subprocess.Popen | None = None
    loadgen: subprocess.Popen | None = None
    sampler: Sampler | None = None
    started_at = time.time()
    try:
        port, smtp_port = free_ports(2)  # smtp_port: nothing listens there, by design
        url = f"http://127.0.0.1:{port}"
        config_path = write_starter(workdir, listen_port=port, public_url=url,
                                    interval=f"{args.interval:g}s", grace=f"{grace:g}s",
                                    missed=args.missed, smtp_port=smtp_port)
        log_path = workdir / "collector.log"
        collector = start_collector(config_path, workdir, env)
        print(f"collector pid {collector.pid} on {url} (config in {workdir})", flush=True)
        wait_healthy(url, collector, time.monotonic() + 30)
        config = load_config(config_path)
        db = Database(config.database)
        try:
            token = create_token(db, CUSTOMER, args.agents, 86400.0, time.time())
        finally:
            db.close()

        sampler = Sampler(collector.pid)
        sampler.snapshot()
        sampler.start()
        spec = {"url": url, "token": token, "agents": args.agents, "interval": args.interval,
                "duration": args.duration, "warmup": warmup, "connections": args.connections,
                "enrol_concurrency": args.enrol_concurrency, "timeout": args.timeout,
                "enrol_timeout": args.enrol_timeout, "seed": args.seed, "rounds": args.rounds}
        spec_path = workdir / "loadgen.json"
        spec_path.write_text(json.dumps(spec))
        loadgen = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                    "--_loadgen", str(spec_path)],
                                   stdout=subprocess.PIPE, text=True, env=env)
        lg_proc = psutil.Process(loadgen.pid)
        budget = args.enrol_timeout + 1 + warmup + args.duration + args.timeout + 60
        watchdog = threading.Timer(budget, loadgen.kill)  # our own child, by its Popen
        watchdog.daemon = True
        watchdog.start()

        marks: dict[str, Any] = {}
        result_event: dict[str, Any] | None = None
        assert loadgen.stdout is not None
        for line in loadgen.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                print(line.rstrip(), flush=True)
                continue
            kind = ev["event"]
            if kind == "window_start":
                marks["collector_start"] = sampler.snapshot()
                marks["ctimes_start"] = sampler.proc.cpu_times()
                marks["loadgen_start"] = lg_proc.cpu_times()
                marks["self_start"] = psutil.Process().cpu_times()
                marks["system_start"] = psutil.cpu_times()
                marks["procs_start"] = process_cpu()
                marks["t_start"] = time.monotonic()
                marks["wall_start"] = time.time()
                print("measured window starts", flush=True)
            elif kind == "window_end":
                marks["collector_end"] = sampler.snapshot()
                marks["ctimes_end"] = sampler.proc.cpu_times()
                marks["loadgen_end"] = lg_proc.cpu_times()
                marks["self_end"] = psutil.Process().cpu_times()
                marks["system_end"] = psutil.cpu_times()
                marks["procs_end"] = process_cpu()
                marks["t_end"] = time.monotonic()
                print(f"measured window ends ({ev['in_flight']} requests in flight)",
                      flush=True)
            elif kind == "enrolling":
                print(f"enrolling {ev['agents']} agents ...", flush=True)
            elif kind == "enrolled":
                print(f"enrolled {ev['enrolled']}/{ev['agents']} in {ev['seconds']:.1f} s"
                      f" ({ev['per_second']:.0f}/s), errors {ev['errors'] or 'none'}",
                      flush=True)
            elif kind == "pushing":
                print(f"pushing; warm-up {ev['warmup']:g} s", flush=True)
            elif kind == "progress":
                print(f"  [{ev['phase']:<6} {ev['seconds_left']:5.0f} s left]"
                      f" {ev['stored_per_s']:7.1f} stored/s, {ev['errors']} errors,"
                      f" {ev['in_flight']} in flight", flush=True)
            elif kind == "fatal":
                print(f"load generator: {ev['reason']}", file=sys.stderr, flush=True)
            elif kind == "result":
                result_event = ev
        loadgen.wait()
        watchdog.cancel()
        if result_event is None:
            print(f"the load generator ended (code {loadgen.returncode}) without results",
                  file=sys.stderr)
            return 1
        if collector.poll() is not None:
            print(f"the collector exited early with code {collector.returncode}",
                  file=sys.stderr)

        sampler.stop.set()
        sampler.join()
        sampler.snapshot()
        database = db_check(config.database)
        database["bytes"] = file_bytes(config.database, Path(f"{config.database}-wal"))
        stop(collector, signal.SIGINT, 20)

        def pct(name: str) -> float | None:
            a, b = marks.get(f"{name}_start"), marks.get(f"{name}_end")
            if not a or not b:
                return None
            return 100.0 * ((b.user + b.system) - (a.user + a.system)) / (
                marks["t_end"] - marks["t_start"])

        def pct_system(name: str) -> float | None:
            a, b = marks.get(f"{name}_start"), marks.get(f"{name}_end")
            if not a or not b:
                return None
            return 100.0 * (b.system - a.system) / (marks["t_end"] - marks["t_start"])

        collector_cpu = cpu_percent(marks.get("collector_start"), marks.get("collector_end"))
        contention = machine_use(marks, sum(v or 0.0 for v in (
            collector_cpu, pct("loadgen"), pct("self"))))
        contention["busiest_other_processes"] = busiest_others(
            marks, {os.getpid(), collector.pid, loadgen.pid})
        window = result_event["window"]
        state, text = verdict(window, pct("loadgen"), contention)
        mib = lambda b: None if b is None else b / MIB  # noqa: E731
        result = {
            "benchmark": "ingest",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started_at)),
            "parameters": {
                "agents": args.agents, "interval": args.interval, "duration": args.duration,
                "warmup": warmup, "grace": grace, "missed_before_case": args.missed,
                "connections": args.connections, "enrol_concurrency": args.enrol_concurrency,
                "timeout": args.timeout, "seed": args.seed, "sampling_rounds": args.rounds,
            },
            "machine": {
                "cpu_count": os.cpu_count(), "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": platform.platform(), "aiohttp": aiohttp.__version__,
                "sqlite": sqlite3.sqlite_version, "nofile_limit": list(nofile),
                "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
                "loadavg_at_start": list(os.getloadavg()),
                "during_window": contention,
            },
            "enrolment": result_event["enrolment"],
            "window": {"started_at_epoch": marks.get("wall_start"), **window},
            "totals": result_event["totals"],
            "collector": {
                "cpu_percent": collector_cpu,
                "cpu_system_percent": pct_system("ctimes"),
                "cpu_ms_per_stored_report": (
                    10 * collector_cpu / window["achieved_reports_per_s"]
                    if collector_cpu and window["achieved_reports_per_s"] else None),
                "peak_rss_mib": mib(sampler.peak_rss()),
                "peak_rss_window_mib": mib(sampler.peak_rss(
                    marks.get("t_start", 0.0), marks.get("t_end", math.inf))),
                "rss_end_mib": mib(sampler.samples[-1][2] if sampler.samples else None),
                "vm_hwm_mib": mib(sampler.hwm),
                "exit_code": collector.returncode,
                "log": log_summary(log_path),
            },
            "load_generator": {"cpu_percent": pct("loadgen")},
            "conductor": {"cpu_percent": pct("self")},
            "database": database,
            "outcome": state,
            "verdict": text,
        }
        print(summary_text(result), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}", flush=True)
        if args.keep:
            print(f"kept {workdir} (collector.log, watchkeeper.db)", flush=True)
        return 0
    finally:
        if sampler is not None:
            sampler.stop.set()
        for proc in (loadgen, collector):
            if proc is not None and proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/ingest.py",
        description="Measure the collector's ingest: start a real collector, enrol N simulated"
                    " agents over HTTP and have each push a gzip JSON report every INTERVAL"
                    " seconds; report sustained reports/s and samples/s, latency, errors, and"
                    " the collector's CPU and peak RSS. Loopback only; stops by itself.",
        epilog="Example smoke run: bench/ingest.py --agents 200 --interval 5 --duration 15")
    p.add_argument("--agents", type=positive(int), default=10_000,
                   help="simulated agents, each enrolled over HTTP (default 10000)")
    p.add_argument("--interval", type=positive(float), default=60.0,
                   help="seconds between one agent's reports; also the collector's heartbeat"
                        " interval (default 60)")
    p.add_argument("--duration", type=positive(float), default=120.0,
                   help="seconds of the measured window (default 120)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of pushing before the window opens (default: one interval)")
    p.add_argument("--grace", type=float, default=None,
                   help="the collector's heartbeat grace in seconds (default: interval / 2,"
                        " as the starter configuration documents)")
    p.add_argument("--missed", type=positive(int), default=5,
                   help="the collector's missed_before_case (default 5)")
    p.add_argument("--connections", type=positive(int), default=256,
                   help="the load generator's connection-pool limit (default 256)")
    p.add_argument("--enrol-concurrency", type=positive(int), default=32,
                   help="enrolment requests in flight at once (default 32)")
    p.add_argument("--timeout", type=positive(float), default=15.0,
                   help="per-request timeout in seconds, as the real agent's (default 15)")
    p.add_argument("--enrol-timeout", type=positive(float), default=300.0,
                   help="give up if enrolment takes longer than this (default 300 s)")
    p.add_argument("--rounds", type=positive(int), default=1,
                   help="cpu+memory sampling rounds per report (default 1: ~12-20 samples);"
                        " 6 is what a real agent pushing every 60 s sends (~60 samples)")
    p.add_argument("--seed", type=int, default=1, help="seed for the simulated readings")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="where to write the JSON results (default bench/results/ingest.json)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory (config, collector.log, database)")
    p.add_argument("--_loadgen", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    if args._loadgen is not None:
        return loadgen_main(args._loadgen)
    return run_bench(args)


if __name__ == "__main__":
    sys.exit(main())
