"""Detect to page: from a device's missed heartbeat deadline to its case, and from the case to
the page accepted by a mail server; and the collector's idle CPU as the fleet grows.

    .venv/bin/python bench/detect_to_page.py                 # 10,000 devices; about 8 min
    .venv/bin/python bench/detect_to_page.py --devices 300 --interval 15 --burst 5 \
        --site-size 20 --idle-duration 10 --idle-devices 1000 10000 --idle-repeats 1

Detection (on 127.0.0.1, three processes):

* this one (the conductor) runs a local SMTP server (aiosmtpd) that timestamps every message
  it accepts, writes a starter configuration pointing the collector's mail at it, starts
  `watchkeeper collector run`, creates one enrolment token per site, watches the cases table
  every 20 ms, and prints and saves the figures;
* the collector, exactly as an operator runs it;
* a load generator (this script again, with a hidden flag): every simulated agent enrols over
  HTTP with its site's token and pushes a small report every interval, start times spread
  evenly over one interval. On the conductor's word it silences agents: first one, then
  --burst agents at once, one per site.

A silenced device's deadline is known exactly: the collector's own `last_seen` + interval +
grace (with missed_before_case = 1 that deadline is the one that opens the case). Each case is
timed from that deadline to `cases.opened_at` and to the moment it was first visible in the
database, and from `opened_at` to the SMTP server accepting the page (and the customer notice).

Idle CPU (one collector at a time): devices are written straight into a fresh database, all
with deadlines 10 to 60 minutes away, so nothing is due; the collector runs with no agent for
--idle-duration seconds and its CPU time is read every second.

Everything is bounded and cleaned up: collectors and the load generator are stopped, the
temporary directories removed (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import queue
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import ingest  # bench/ingest.py, beside this script: simulated agents and their reports
from _common import MIB, REPO, fmt, free_ports, positive, repo_env, start_collector, stop

DEFAULT_OUT = REPO / "bench" / "results" / "detect_to_page.json"
CUSTOMER = "acme"  # the one customer in collector/templates/collector.toml
POLL_CASES = 0.02  # seconds between the conductor's looks at the cases table
PROGRESS_EVERY = 10.0
IDLE_WINDOW = 10.0  # seconds per sub-window of an idle measurement (its noise estimate)
CASE_NUMBER = re.compile(r"#(\d+)")
TARGET_CASE = 1.0  # s from the missed deadline to the case
TARGET_PAGE = 2.0  # s from the case to the first page accepted by the mail server


def site_name(index: int, sites: int) -> str:
    """Sites are dealt round-robin, so the agents next due to report are at distinct sites."""
    return f"site-{index % sites:03d}"


# --------------------------------------------------------------------------------------
# The load generator (its own process: `detect_to_page.py --_loadgen SPEC.json`)
# --------------------------------------------------------------------------------------

@dataclass
class Agent:
    sim: ingest.SimAgent
    site: str
    token: str
    device_id: str = ""
    next_slot: float = math.inf  # loop time of its next push
    busy: bool = False  # a push is in flight
    silenced: bool = False


def choose(agents: list[Agent], count: int, now: float, lead: float,
           taken_sites: set[str]) -> list[Agent]:
    """The `count` live agents next due to report, at least `lead` s from now and with nothing
    in flight (so their last report is already stored), one per site not hit before."""
    chosen: list[Agent] = []
    sites: set[str] = set(taken_sites)
    candidates = (a for a in agents if not a.silenced and not a.busy
                  and a.next_slot - now >= lead)
    for agent in sorted(candidates, key=lambda a: a.next_slot):
        if agent.site not in sites:
            chosen.append(agent)
            sites.add(agent.site)
            if len(chosen) == count:
                break
    return chosen


async def _loadgen(spec: dict[str, Any]) -> int:
    import aiohttp

    loop = asyncio.get_running_loop()
    base, interval = spec["url"], spec["interval"]
    ingest.raise_nofile(spec["connections"] + 1024)
    connector = aiohttp.TCPConnector(limit=spec["connections"], limit_per_host=0,
                                     keepalive_timeout=max(30.0, interval * 2))
    timeout = aiohttp.ClientTimeout(total=spec["timeout"])
    agents = [Agent(ingest.SimAgent(i, f"bench-{i:06d}", random.Random(spec["seed"] + i)),
                    site_name(i, len(spec["tokens"])), spec["tokens"][i % len(spec["tokens"])])
              for i in range(spec["agents"])]
    outcomes: Counter[str] = Counter()
    recent: Counter[str] = Counter()
    skipped = [0]
    stop = asyncio.Event()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     headers={"User-Agent": ingest.USER_AGENT}) as session:
        gate = asyncio.Semaphore(spec["enrol_concurrency"])
        order: list[Agent] = []  # in the order enrolment finished

        async def enrol(agent: Agent) -> None:
            async with gate:
                try:
                    async with session.post(f"{base}/api/v1/enroll", json={
                            "token": agent.token, "hostname": agent.sim.hostname}) as resp:
                        body = await resp.read()
                        if resp.status != 201:
                            outcomes[f"enrol_http_{resp.status}"] += 1
                            return
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcomes[f"enrol_{ingest._error_kind(exc)}"] += 1
                    return
                doc = json.loads(body)
                agent.sim.credential, agent.device_id = doc["credential"], doc["device_id"]
                order.append(agent)

        ingest.emit("enrolling", agents=len(agents))
        t = loop.time()
        await asyncio.gather(*(enrol(a) for a in agents))
        ingest.emit("enrolled", enrolled=len(order), agents=len(agents),
                    seconds=loop.time() - t, errors=dict(outcomes))
        if not order:
            ingest.emit("fatal", reason="no agent could enrol")
            return 1

        async def push(agent: Agent) -> str:
            body, _ = agent.sim.report(time.time())
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                       "Authorization": f"Bearer {agent.sim.credential}"}
            try:
                async with session.post(f"{base}/api/v1/report", data=body,
                                        headers=headers) as resp:
                    payload = await resp.read()
                    if resp.status != 200:
                        return f"http_{resp.status}"
                    status = json.loads(payload).get("status")
                    return "stored" if status == "stored" else f"answer_{status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                return ingest._error_kind(exc)

        async def run_agent(agent: Agent) -> None:
            while True:
                await asyncio.sleep(max(0.0, agent.next_slot - loop.time()))
                if agent.silenced or stop.is_set():
                    return
                agent.busy = True
                outcome = await push(agent)
                agent.busy = False
                outcomes[outcome] += 1
                recent[outcome] += 1
                agent.next_slot += interval
                while agent.next_slot < loop.time():  # as the real agent: skip a missed slot
                    skipped[0] += 1
                    agent.next_slot += interval

        # The first enrolled report first: every agent's first report then comes before the
        # deadline its enrolment set (enrolled_at + interval + grace).
        t0 = loop.time() + 1.0
        for k, agent in enumerate(order):
            agent.next_slot = t0 + k * interval / len(order)
        tasks = [asyncio.create_task(run_agent(a)) for a in order]
        ingest.emit("pushing", nominal_per_s=len(order) / interval)

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY)
                problems = sum(v for k, v in recent.items() if k != "stored")
                ingest.emit("progress", stored_per_s=recent["stored"] / PROGRESS_EVERY,
                            problems=problems, skipped=skipped[0],
                            silenced=sum(a.silenced for a in order))
                recent.clear()

        progress_task = asyncio.create_task(progress())
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        taken_sites: set[str] = set()
        while line := await reader.readline():
            cmd = json.loads(line)
            if cmd["cmd"] == "stop":
                break
            chosen = choose(order, cmd["count"], loop.time(), cmd["lead"], taken_sites)
            for agent in chosen:
                agent.silenced = True
                taken_sites.add(agent.site)
            ingest.emit("silenced", wall=time.time(), agents=[
                {"hostname": a.sim.hostname, "device_id": a.device_id, "site": a.site,
                 "next_slot_in": a.next_slot - loop.time()} for a in chosen])
        stop.set()
        progress_task.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(progress_task, *tasks, return_exceptions=True)
    ingest.emit("result", outcomes=dict(outcomes), skipped_slots=skipped[0])
    return 0


def loadgen_main(spec_path: Path) -> int:
    try:
        return asyncio.run(_loadgen(json.loads(spec_path.read_text())))
    except KeyboardInterrupt:
        return 130


# --------------------------------------------------------------------------------------
# The conductor: mail server, case watcher, processes
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mail:
    at: float  # time.time() when the server accepted the message (end of DATA)
    case: int | None
    kind: str  # page, notice, status or other
    to: str


class Inbox:
    """The aiosmtpd handler: notes when each message was accepted, and what it is about."""

    def __init__(self, delay: float = 0.0) -> None:
        self.mail: list[Mail] = []
        self.delay = delay

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        if self.delay:  # a remote relay's round trips and queueing, for what-if runs
            await asyncio.sleep(self.delay)
        at = time.time()
        msg = message_from_bytes(envelope.content, policy=email_policy.default)
        subject = str(msg["Subject"] or "")
        number = CASE_NUMBER.search(subject)
        kind = ("page" if "] PAGE " in subject else "notice" if " opened: " in subject
                else "status" if "] Status of case" in subject else "other")
        self.mail.append(Mail(at, int(number.group(1)) if number else None, kind,
                              ",".join(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def first(self, case: int, kind: str, since: int = 0) -> Mail | None:
        found = [m for m in self.mail[since:] if m.case == case and m.kind == kind]
        return min(found, key=lambda m: m.at) if found else None


class CaseWatcher(threading.Thread):
    """Reads new cases every POLL_CASES s (read-only) and notes when each first appeared: the
    commit time, give or take one poll, which `opened_at` (taken when the sweep started)
    is not."""

    def __init__(self, db_path: Path) -> None:
        super().__init__(daemon=True, name="case-watcher")
        self.db_path = db_path
        self.seen: dict[int, tuple[float, str | None]] = {}  # case id -> (seen at, device)
        self.halt = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
        last = 0
        try:
            while not self.halt.wait(POLL_CASES):
                rows = conn.execute("SELECT id, device_id FROM cases WHERE id > ? ORDER BY id",
                                    (last,)).fetchall()
                now = time.time()
                for case_id, device in rows:
                    self.seen[case_id] = (now, device)
                    last = case_id
        finally:
            conn.close()

    def by_device(self) -> dict[str, int]:
        return {d: c for c, (_, d) in list(self.seen.items()) if d is not None}


class Window:
    """CPU use of the machine and of each process between start() and end()."""

    def start(self) -> None:
        import psutil
        self.marks: dict[str, Any] = {"system_start": psutil.cpu_times(),
                                      "procs_start": ingest.process_cpu(),
                                      "t_start": time.monotonic()}

    def end(self, ours: dict[str, int]) -> dict[str, Any]:
        """`ours`: this benchmark's processes by role; returns their CPU % of one core and
        the machine's, with the busiest other processes."""
        import psutil
        self.marks.update(system_end=psutil.cpu_times(), procs_end=ingest.process_cpu(),
                          t_end=time.monotonic())
        a, b = self.marks["procs_start"], self.marks["procs_end"]
        wall = self.marks["t_end"] - self.marks["t_start"]
        cpu = {role: 100.0 * (b[pid][1] - a[pid][1]) / wall
               for role, pid in ours.items() if pid in a and pid in b}
        use = ingest.machine_use(self.marks, sum(cpu.values()))
        use["busiest_other_processes"] = ingest.busiest_others(self.marks, set(ours.values()))
        return {"seconds": wall, "cpu_percent": cpu, **use}


class Collector:
    """One `watchkeeper collector run` on a starter configuration in its own directory."""

    def __init__(self, workdir: Path, smtp_port: int, interval: float, grace: float,
                 missed: int) -> None:
        from collector.cli import write_starter
        from collector.config import load_config

        port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.config_path = write_starter(workdir, listen_port=port, public_url=self.url,
                                         interval=f"{interval:g}s", grace=f"{grace:g}s",
                                         missed=missed, smtp_port=smtp_port)
        self.config = load_config(self.config_path)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = start_collector(self.config_path, self.workdir, repo_env())
        ingest.wait_healthy(self.url, self.proc, time.monotonic() + 60)

    def stop(self) -> int | None:
        return stop(self.proc, signal.SIGINT, 20)


def machine() -> dict[str, Any]:
    import aiohttp
    import psutil
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "aiohttp": aiohttp.__version__,
            "sqlite": sqlite3.sqlite_version,
            "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
            "loadavg_at_start": list(os.getloadavg())}


def summary(values: list[float]) -> dict[str, float | None]:
    return ingest.percentiles(values, (50, 90))


# --------------------------------------------------------------------------------------
# Detection: silence agents, time each case and page
# --------------------------------------------------------------------------------------

class Loadgen:
    """The load generator process, its JSON-line events on a queue."""

    def __init__(self, spec_path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--_loadgen", str(spec_path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=repo_env())
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name="loadgen-reader").start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                print(line.rstrip(), flush=True)
        self.events.put({"event": "exited"})

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, kind: str | None, timeout: float) -> dict[str, Any]:
        """Print progress events until `kind` comes (None: for `timeout` seconds); fail on
        fatal, exit or timeout."""
        end = time.monotonic() + timeout
        while True:
            try:
                ev = self.events.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                if kind is None:
                    return {}
                raise RuntimeError(f"the load generator sent no {kind!r} within"
                                   f" {timeout:g} s") from None
            if ev["event"] == kind:
                return ev
            if ev["event"] in ("fatal", "exited"):
                raise RuntimeError(f"the load generator stopped: {ev.get('reason', 'exited')}")
            if ev["event"] == "progress":
                print(f"  [load] {ev['stored_per_s']:7.1f} reports stored/s,"
                      f" {ev['problems']} failed, {ev['skipped']} slots skipped,"
                      f" {ev['silenced']} agents silenced", flush=True)


def silence(lg: Loadgen, count: int, lead: float) -> dict[str, Any]:
    lg.send(cmd="silence", count=count, lead=lead)
    ev = lg.wait_for("silenced", 30)
    if len(ev["agents"]) < count:
        raise RuntimeError(f"only {len(ev['agents'])} of {count} agents could be silenced at"
                           " distinct sites: use more --devices or a smaller --site-size")
    return ev


def await_pages(inbox: Inbox, watcher: CaseWatcher, device_ids: list[str], until: float,
                label: str) -> None:
    """Until every device has a case and every case its page, or until `until` (wall)."""
    last_print = 0.0
    while time.time() < until:
        cases = watcher.by_device()
        numbers = [cases[d] for d in device_ids if d in cases]
        paged = {m.case for m in inbox.mail if m.kind == "page"}
        done = sum(1 for n in numbers if n in paged)
        if done == len(device_ids):
            return
        if time.monotonic() - last_print >= 2:
            print(f"  [{label}] {len(numbers)}/{len(device_ids)} cases,"
                  f" {done}/{len(device_ids)} paged", flush=True)
            last_print = time.monotonic()
        time.sleep(0.05)
    print(f"  [{label}] gave up waiting", flush=True)


def timings(db_path: Path, ids: list[str], silenced: dict[str, dict[str, Any]],
            inbox: Inbox, watcher: CaseWatcher) -> list[dict[str, Any]]:
    """Per silenced device: its deadline, case and mail times, and the intervals between."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    out = []
    try:
        for device_id in ids:
            dev = conn.execute("SELECT * FROM devices WHERE id = ?", (device_id,)).fetchone()
            case = conn.execute("SELECT * FROM cases WHERE device_id = ? ORDER BY id LIMIT 1",
                                (device_id,)).fetchone()
            deadline = dev["last_seen"] + dev["missed_before_case"] * dev["interval"] \
                + dev["grace"]
            row: dict[str, Any] = {
                "hostname": dev["hostname"], "device_id": device_id, "site": dev["site"],
                "status": dev["status"], "last_seen": dev["last_seen"], "deadline": deadline,
                "silenced_before_slot_s": silenced[device_id]["next_slot_in"],
            }
            if case is not None:
                sent = dict(conn.execute(
                    "SELECT kind, MIN(sent_at) FROM outbox WHERE case_id = ? AND state = 'sent'"
                    " GROUP BY kind", (case["id"],)).fetchall())
                page, notice = inbox.first(case["id"], "page"), inbox.first(case["id"], "notice")
                seen = watcher.seen.get(case["id"], (None, None))[0]
                row.update({
                    "case": case["id"], "parent_case": case["parent_case_id"],
                    "opened_at": case["opened_at"], "seen_at": seen,
                    "page_accepted_at": page.at if page else None,
                    "notice_accepted_at": notice.at if notice else None,
                    "page_sent_at": sent.get("page"), "notice_sent_at": sent.get("notice"),
                })
                row["deadline_to_case_s"] = case["opened_at"] - deadline
                row["deadline_to_visible_s"] = seen - deadline if seen else None
                row["case_to_page_s"] = page.at - case["opened_at"] if page else None
                row["case_to_notice_s"] = notice.at - case["opened_at"] if notice else None
                row["deadline_to_page_s"] = page.at - deadline if page else None
            out.append(row)
    finally:
        conn.close()
    return out


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def col(key: str) -> list[float]:
        return [r[key] for r in rows if r.get(key) is not None]
    return {
        "devices": len(rows), "cases": len(col("opened_at")), "paged": len(col("case_to_page_s")),
        "attached_to_a_site_case": sum(1 for r in rows if r.get("parent_case")),
        **{k: summary(col(k)) for k in ("deadline_to_case_s", "deadline_to_visible_s",
                                        "case_to_page_s", "case_to_notice_s",
                                        "deadline_to_page_s")},
        "deadlines_spread_s": (max(col("deadline")) - min(col("deadline"))) if rows else None,
    }


def detect(args: argparse.Namespace, inbox: Inbox, smtp_port: int,
           workdir: Path) -> dict[str, Any]:
    from collector.enrolment import create_token
    from collector.store.db import Database

    sites = math.ceil(args.devices / args.site_size)
    col = Collector(workdir, smtp_port, args.interval, args.grace, 1)
    lg: Loadgen | None = None
    watcher = CaseWatcher(col.config.database)
    try:
        col.start()
        assert col.proc is not None
        print(f"collector pid {col.proc.pid} on {col.url}: heartbeat every {args.interval:g} s,"
              f" grace {args.grace:g} s, a case after 1 missed deadline", flush=True)
        db = Database(col.config.database)
        try:
            tokens = [create_token(db, CUSTOMER, args.site_size, 86400.0, time.time(),
                                   site_name(s, sites)) for s in range(sites)]
        finally:
            db.close()
        spec = {"url": col.url, "tokens": tokens, "agents": args.devices,
                "interval": args.interval, "connections": args.connections,
                "enrol_concurrency": args.enrol_concurrency, "timeout": 15.0,
                "seed": args.seed}
        spec_path = workdir / "loadgen.json"
        spec_path.write_text(json.dumps(spec))
        lg = Loadgen(spec_path)
        watcher.start()
        print(f"enrolling {args.devices} agents at {sites} sites over HTTP ...", flush=True)
        ev = lg.wait_for("enrolled", 600)
        print(f"enrolled {ev['enrolled']}/{ev['agents']} in {ev['seconds']:.1f} s;"
              f" errors {ev['errors'] or 'none'}", flush=True)
        ev = lg.wait_for("pushing", 30)
        warmup = args.interval + 5 if args.warmup is None else args.warmup
        print(f"pushing {ev['nominal_per_s']:.0f} reports/s; warm-up {warmup:g} s so every"
              " agent has reported", flush=True)
        load = Window()
        load.start()
        lg.wait_for(None, warmup)
        ours = {"collector": col.proc.pid, "load_generator": lg.proc.pid,
                "conductor": os.getpid()}
        steady = load.end(ours)
        false_cases = dict(watcher.seen)
        if false_cases:
            print(f"WARNING: {len(false_cases)} case(s) opened during the warm-up, before any"
                  " agent was silenced", flush=True)

        phases: dict[str, Any] = {}
        for label, count in (("one", 1), ("burst", args.burst)):
            window = Window()
            window.start()
            mail_before = len(inbox.mail)
            ev = silence(lg, count, args.lead)
            ids = [a["device_id"] for a in ev["agents"]]
            spread = max(a["next_slot_in"] for a in ev["agents"])
            first = min(a["next_slot_in"] for a in ev["agents"])
            print(f"silenced {len(ids)} agent(s) at {len({a['site'] for a in ev['agents']})}"
                  f" site(s); their deadlines fall in {first + args.grace:.1f}"
                  f"-{spread + args.grace:.1f} s", flush=True)
            await_pages(inbox, watcher, ids, time.time() + spread + args.grace + args.wait,
                        label)
            time.sleep(args.settle)  # let the customer notices and any stragglers land
            rows = timings(col.config.database, ids, {a["device_id"]: a for a in ev["agents"]},
                           inbox, watcher)
            phases[label] = {"figures": figures(rows), "devices": rows,
                             "mail": Counter(m.kind for m in inbox.mail[mail_before:]),
                             "machine": window.end(ours)}
        lg.send(cmd="stop")
        result = lg.wait_for("result", 60)
        silenced = {r["device_id"] for p in phases.values() for r in p["devices"]}
        unexpected = [{"case": c, "device": d} for c, (_, d) in sorted(watcher.seen.items())
                      if d not in silenced]
        return {"sites": sites, "site_size": args.site_size,
                "steady_state": steady, "phases": phases, "load": result,
                "unexpected_cases": unexpected,
                "collector_exit": col.stop(), "collector_log": ingest.log_summary(
                    workdir / "collector.log")}
    finally:
        watcher.halt.set()
        if lg is not None and lg.proc.poll() is None:
            lg.proc.kill()
            lg.proc.wait(timeout=10)
        col.stop()


# --------------------------------------------------------------------------------------
# Idle CPU
# --------------------------------------------------------------------------------------

def seed_devices(db_path: Path, count: int, sites: int, now: float) -> None:
    """`count` devices as enrolment writes them, last heard from over the past 50 minutes and
    reporting hourly, so every deadline is 10 to 60 minutes away. None can authenticate."""
    from collector.store.db import Database

    interval, grace = 3600.0, 60.0
    db = Database(db_path)
    try:
        rows = []
        for i in range(count):
            last = now - 3000.0 * i / count
            rows.append((f"{i:016x}", CUSTOMER, f"idle-{i:06d}", "-", last, interval, grace, 1,
                         last, last + interval + grace, site_name(i, sites)))
        with db.transaction() as conn:
            conn.executemany(
                "INSERT INTO devices (id, customer, hostname, credential_hash, enrolled_at,"
                " interval, grace, missed_before_case, last_seen, next_deadline, site)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    finally:
        db.close()


def idle(args: argparse.Namespace, count: int, smtp_port: int, workdir: Path) -> dict[str, Any]:
    import psutil

    col = Collector(workdir, smtp_port, 60.0, 30.0, 5)
    t = time.monotonic()
    seed_devices(col.config.database, count, max(1, count // args.site_size), time.time())
    seeded = time.monotonic() - t
    try:
        col.start()
        assert col.proc is not None
        proc = psutil.Process(col.proc.pid)
        print(f"idle: {count} devices (written in {seeded:.1f} s); collector pid {proc.pid};"
              f" settling {args.idle_settle:g} s, then measuring {args.idle_duration:g} s",
              flush=True)
        time.sleep(args.idle_settle)
        window = Window()
        window.start()
        # One a second: (monotonic, CPU s in 10 ms ticks, RSS, CPU s from schedstat in ns)
        readings: list[tuple[float, float, int, float | None]] = []
        t0 = time.monotonic()
        for k in range(int(args.idle_duration) + 1):
            time.sleep(max(0.0, t0 + k - time.monotonic()))
            with proc.oneshot():
                c = proc.cpu_times()
                readings.append((time.monotonic(), c.user + c.system, proc.memory_info().rss,
                                 task_cpu_seconds(proc.pid)))
        machine_use = window.end({"collector": proc.pid, "conductor": os.getpid()})
        wall = readings[-1][0] - readings[0][0]
        ticks_s = readings[-1][1] - readings[0][1]
        # The kernel's tick counts (psutil) resolve 10 ms: a tenth of a per cent over 10 s,
        # as much as an idle collector uses. schedstat counts nanoseconds.
        precise = all(r[3] is not None for r in readings)
        cpu_at = 3 if precise else 1
        cpu_s = readings[-1][cpu_at] - readings[0][cpu_at]
        step = int(IDLE_WINDOW)
        per_window = [100.0 * (b[cpu_at] - a[cpu_at]) / (b[0] - a[0])
                      for a, b in zip(readings[::step], readings[step::step], strict=False)]
        conn = sqlite3.connect(f"file:{col.config.database}?mode=ro", uri=True, timeout=10)
        try:
            state = {"devices_by_status": dict(conn.execute(
                "SELECT status, COUNT(*) FROM devices GROUP BY status").fetchall()),
                "cases": conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0]}
        finally:
            conn.close()
        mean = 100.0 * cpu_s / wall
        sd = _stdev(per_window)
        print(f"  {count} devices: {mean:.3f} % of one core ({cpu_s:.2f} CPU s in"
              f" {wall:.0f} s; per {IDLE_WINDOW:g} s: {', '.join(f'{v:.2f}' for v in per_window)})",
              flush=True)
        return {"devices": count, "seconds": wall, "cpu_seconds": cpu_s, "cpu_percent": mean,
                "cpu_source": "schedstat" if precise else "ticks",
                "cpu_percent_from_ticks": 100.0 * ticks_s / wall,
                "window_cpu_percent": per_window, "window_sd": sd,
                "standard_error": sd / math.sqrt(len(per_window)) if per_window else None,
                "rss_mib": readings[-1][2] / MIB, "seed_seconds": seeded,
                "database": state, "machine": machine_use,
                "collector_exit": col.stop(),
                "collector_log": ingest.log_summary(workdir / "collector.log")}
    finally:
        col.stop()


def task_cpu_seconds(pid: int) -> float | None:
    """CPU time of all of `pid`'s threads, counted in nanoseconds (Linux schedstat); None
    where it cannot be read."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def _stdev(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# --------------------------------------------------------------------------------------
# Verdicts and the summary
# --------------------------------------------------------------------------------------

def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    phases = result.get("detect", {}).get("phases", {})
    if phases:
        rows = [r for p in phases.values() for r in p["devices"]]
        # The stricter reading of each: a case counts from when it was visible in the
        # database (its commit), a page from the case's own opened_at (the earlier time).
        late_case = [r.get("deadline_to_visible_s") for r in rows]
        late_page = [r.get("case_to_page_s") for r in rows]
        worst_case = max((v for v in late_case if v is not None), default=None)
        worst_page = max((v for v in late_page if v is not None), default=None)
        out.append({"target": f"case within {TARGET_CASE:g} s of the missed deadline",
                    "worst_s": worst_case, "missing": late_case.count(None),
                    "pass": None not in late_case and worst_case is not None
                    and worst_case <= TARGET_CASE})
        out.append({"target": f"first page accepted within {TARGET_PAGE:g} s of the case",
                    "worst_s": worst_page, "missing": late_page.count(None),
                    "pass": None not in late_page and worst_page is not None
                    and worst_page <= TARGET_PAGE})
    runs = result.get("idle", [])
    sizes = list(dict.fromkeys(r["devices"] for r in runs))
    if len(sizes) >= 2:
        a, b = idle_size(runs, sizes[0]), idle_size(runs, sizes[-1])
        diff = b["cpu_percent"] - a["cpu_percent"]
        # Noise, the larger of: how far apart runs of one size came out (the machine's
        # run-to-run drift), and twice the standard error of the difference from the 10 s
        # sub-windows (the jitter within runs); never finer than one 10 ms clock tick per
        # sub-window when the CPU time came in ticks.
        noise = max(a["spread"], b["spread"], 2 * math.hypot(a["standard_error"],
                                                             b["standard_error"]),
                    100 * 0.01 / IDLE_WINDOW if a["ticks"] or b["ticks"] else 0.0)
        # Without two runs of a size or two sub-windows of a run there is no noise estimate
        # (a smoke run): the figures are shown, not judged.
        judged = any(r["runs"] > 1 for r in (a, b)) or all(
            len(r["window_cpu_percent"]) > 1 for r in runs)
        out.append({"target": f"idle CPU the same within noise at {sizes[0]:,} and"
                              f" {sizes[-1]:,} devices",
                    "sizes": [a, b], "difference_points": diff, "noise_points": noise,
                    "ratio": b["cpu_percent"] / a["cpu_percent"] if a["cpu_percent"] else None,
                    "pass": abs(diff) <= noise if judged else None})
    return out


def idle_size(runs: list[dict[str, Any]], devices: int) -> dict[str, Any]:
    """The mean idle CPU of the runs with `devices`, how far apart those runs came out, and
    the standard error of the mean from their 10 s sub-windows."""
    mine = [r for r in runs if r["devices"] == devices]
    values = [r["cpu_percent"] for r in mine]
    return {"devices": devices, "runs": len(mine), "cpu_percent": sum(values) / len(values),
            "spread": max(values) - min(values),
            "standard_error": math.sqrt(sum((r["standard_error"] or 0.0) ** 2 for r in mine))
            / len(mine),
            "ticks": any(r["cpu_source"] == "ticks" for r in mine)}


def contended(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The measured windows in which other processes used more than a quarter of a core."""
    det = result.get("detect", {})
    windows = [("the steady state", det.get("steady_state", {}))]
    windows += [(f"kill {label}", p["machine"]) for label, p in det.get("phases", {}).items()]
    windows += [(f"idle run {i} ({r['devices']:,} devices)", r["machine"])
                for i, r in enumerate(result.get("idle", []), start=1)]
    return [(where, use) for where, use in windows
            if (use.get("other_processes_percent") or 0.0) > 25]


def s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def summary_text(result: dict[str, Any]) -> str:
    p = result["parameters"]
    lines = [""]
    det = result.get("detect")
    if det:
        lines += [
            f"detect to page: {p['devices']:,} devices at {det['sites']} sites, one report"
            f" each every {p['interval']:g} s; grace {p['grace']:g} s; a case after 1 missed"
            " deadline",
            f"  {'':<22}{'cases':>6}  {'deadline->case s':>23}  {'(visible in db)':>15}"
            f"  {'case->page s':>23}  {'case->notice s':>23}",
            f"  {'':<22}{'':>6}  {'p50':>7} {'p90':>7} {'max':>7}  {'max':>15}"
            f"  {'p50':>7} {'p90':>7} {'max':>7}  {'p50':>7} {'p90':>7} {'max':>7}",
        ]
        for label, name in (("one", "kill one"), ("burst", f"kill {p['burst']} at once")):
            f = det["phases"][label]["figures"]
            dc, dv = f["deadline_to_case_s"], f["deadline_to_visible_s"]
            cp, cn = f["case_to_page_s"], f["case_to_notice_s"]
            lines.append(
                f"  {name:<22}{f['cases']:>6}  {s(dc['p50']):>7} {s(dc['p90']):>7}"
                f" {s(dc['max']):>7}  {s(dv['max']):>15}  {s(cp['p50']):>7} {s(cp['p90']):>7}"
                f" {s(cp['max']):>7}  {s(cn['p50']):>7} {s(cn['p90']):>7} {s(cn['max']):>7}")
        burst = det["phases"]["burst"]
        lines.append(f"  burst: deadlines spread over {s(burst['figures']['deadlines_spread_s'])}"
                     f" s; {burst['figures']['attached_to_a_site_case']} attached to a site"
                     f" case; mail {dict(burst['mail'])}")
        st = det["steady_state"]
        lines.append(f"  steady state: collector {fmt(st['cpu_percent'].get('collector'))}"
                     f" % of one core, load generator"
                     f" {fmt(st['cpu_percent'].get('load_generator'))} %, other processes"
                     f" {fmt(st.get('other_processes_percent'))} %;"
                     f" load {det['load']['outcomes']}, {det['load']['skipped_slots']} slots"
                     " skipped")
        if det["unexpected_cases"]:
            lines.append(f"  WARNING {len(det['unexpected_cases'])} case(s) for devices that"
                         " were not silenced")
    runs = result.get("idle", [])
    if runs:
        lines.append(f"idle CPU, % of one core over {p['idle_duration']:g} s"
                     f" (sd of the {IDLE_WINDOW:g} s sub-windows):")
        for i, r in enumerate(runs, start=1):
            other = r["machine"].get("other_processes_percent")
            lines.append(f"  run {i}  {r['devices']:>9,} devices  {r['cpu_percent']:.3f} %"
                         f" (sd {r['window_sd']:.3f})  RSS {r['rss_mib']:.1f} MiB;"
                         f" other processes {fmt(other)} %; cases"
                         f" {r['database']['cases']}")
    for where, use in contended(result):
        who = ", ".join(f"{o['command'][:40]!r} {o['cpu_percent']:.0f} %"
                        for o in use.get("busiest_other_processes") or []) \
            or "processes that had ended by the window's end"
        lines.append(f"  WARNING during {where} other processes used"
                     f" {use['other_processes_percent']:.0f} % of a core ({who}): figures"
                     " from a busy machine are not clean; run again on a quiet one")
    lines.append("targets:")
    for t in result["targets"]:
        verdict = {True: "PASS", False: "FAIL", None: "N/A "}[t["pass"]]
        if "worst_s" in t:
            miss = f", {t['missing']} missing" if t["missing"] else ""
            lines.append(f"  {verdict}  {t['target']}: worst {s(t['worst_s'])} s{miss}")
        else:
            ratio = "-" if t["ratio"] is None else f"{t['ratio']:.2f}"
            lines.append(f"  {verdict}  {t['target']}: difference {t['difference_points']:+.3f}"
                         f" points (noise {t['noise_points']:.3f}), ratio {ratio}")
    return "\n".join(lines)


def run_bench(args: argparse.Namespace) -> int:
    from aiosmtpd.controller import Controller

    inbox = Inbox(args.smtp_delay)
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_ports(1)[0])
    smtp.start()
    root = Path(tempfile.mkdtemp(prefix="watchkeeper-detect-"))
    started = time.time()
    result: dict[str, Any] = {
        "benchmark": "detect_to_page",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "parameters": {k: v for k, v in vars(args).items() if k not in ("out", "_loadgen")},
        "machine": machine(),
    }
    try:
        if args.only in (None, "detect"):
            result["detect"] = detect(args, inbox, smtp.port, root / "detect")
        if args.only in (None, "idle"):
            # Sizes alternate, so a drift in the machine's state touches both alike.
            sizes = [n for _ in range(args.idle_repeats) for n in args.idle_devices]
            result["idle"] = [idle(args, n, smtp.port, root / f"idle-{i}-{n}")
                              for i, n in enumerate(sizes, start=1)]
        result["targets"] = targets(result)
        result["mail_total"] = [asdict(m) for m in inbox.mail]
        print(summary_text(result), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}", flush=True)
        if args.keep:
            print(f"kept {root} (configuration, collector.log, watchkeeper.db)", flush=True)
        return 2 if any(t["pass"] is False for t in result["targets"]) else 0
    finally:
        smtp.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    positive_int, positive_float = positive(int), positive(float)
    p = argparse.ArgumentParser(
        prog="bench/detect_to_page.py",
        description="Time a real collector from a device's missed heartbeat deadline to its"
                    " case and from the case to the page accepted by a local SMTP server,"
                    " silencing one agent and then a burst at distinct sites while N simulated"
                    " agents report; then measure the collector's idle CPU with few and with"
                    " many devices. Loopback only; stops by itself. Exit code 2 if a target"
                    " fails.",
        epilog="Smoke run: bench/detect_to_page.py --devices 300 --interval 15 --burst 5"
               " --site-size 20 --idle-duration 10 --idle-devices 1000 10000 --idle-repeats 1")
    p.add_argument("--devices", type=positive_int, default=10_000,
                   help="simulated agents enrolled over HTTP and reporting (default 10000)")
    p.add_argument("--interval", type=positive_float, default=60.0,
                   help="seconds between one agent's reports; the collector's heartbeat"
                        " interval (default 60)")
    p.add_argument("--grace", type=positive_float, default=5.0,
                   help="the collector's heartbeat grace in seconds (default 5)")
    p.add_argument("--burst", type=positive_int, default=100,
                   help="agents silenced at once, each at its own site (default 100)")
    p.add_argument("--site-size", type=positive_int, default=50,
                   help="devices per site; sites are dealt round-robin (default 50)")
    p.add_argument("--lead", type=float, default=1.0,
                   help="silence only agents whose next report is at least this many seconds"
                        " away, so none is in flight (default 1)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds of reporting before the first agent is silenced (default:"
                        " interval + 5, so every agent has reported)")
    p.add_argument("--wait", type=positive_float, default=30.0,
                   help="give up on a case or page this many seconds after the last deadline"
                        " (default 30)")
    p.add_argument("--settle", type=float, default=2.0,
                   help="seconds to wait after the last page for the rest of the mail"
                        " (default 2)")
    p.add_argument("--smtp-delay", type=float, default=0.0,
                   help="seconds the SMTP server waits before accepting each message, to"
                        " stand in for a remote relay (default 0: loopback speed)")
    p.add_argument("--connections", type=positive_int, default=256,
                   help="the load generator's connection-pool limit (default 256)")
    p.add_argument("--enrol-concurrency", type=positive_int, default=32,
                   help="enrolment requests in flight at once (default 32)")
    p.add_argument("--idle-devices", type=positive_int, nargs="+", default=[1_000, 100_000],
                   help="fleet sizes for the idle measurement; the first and last are compared"
                        " (default 1000 100000)")
    p.add_argument("--idle-duration", type=positive_float, default=60.0,
                   help="seconds each idle measurement lasts (default 60)")
    p.add_argument("--idle-repeats", type=positive_int, default=3,
                   help="measure each size this many times, alternating sizes; the spread"
                        " between runs of one size is the noise (default 3)")
    p.add_argument("--idle-settle", type=float, default=5.0,
                   help="seconds between the collector's start and an idle measurement"
                        " (default 5)")
    p.add_argument("--only", choices=("detect", "idle"),
                   help="run only the detection or only the idle measurement")
    p.add_argument("--seed", type=int, default=1, help="seed for the simulated readings")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="where to write the JSON results (default"
                        " bench/results/detect_to_page.json)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directories (configuration, collector.log, database)")
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
