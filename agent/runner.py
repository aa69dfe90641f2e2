"""The agent's main loop: sample on a schedule, judge samples against the rules, spool one
report per interval and replay the spool to the collector. Scheduling is apscheduler's;
the work is in small methods."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from typing import Any

from agent.config import AgentConfig
from agent.pusher import CollectorClient, PushError
from agent.samplers import Checkpoint, Inventory, Sampler, SamplerContext, build, run
from agent.sdnotify import Notifier
from agent.spool import Spool
from agent.state import AgentState
from rules.evaluator import Evaluator
from rules.model import Event, RulePack, Sample, Transition
from watchkeeper.clock import Clock

log = logging.getLogger(__name__)
# Samplers whose default schedule is longer than this (backup, antivirus, updates,
# inventory) run on their own thread: a slow restic or apt-get never delays the 10-second
# CPU and memory samples that "for 5 minutes" rules are judged on.
SLOW_SAMPLER = 60.0
MAX_EVENTS = 5000  # collector/api/payload.py's limit per report


class Agent:
    def __init__(self, config: AgentConfig, client: CollectorClient, clock: Clock,
                 samplers: list[Sampler], notifier: Notifier | None = None) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self.samplers = samplers
        # Silent outside systemd (a terminal, Windows, tests).
        self.notifier = notifier or Notifier(None)
        self.state = AgentState(config.state_dir)
        self.spool = Spool(config.state_dir / "spool", config.spool_max_bytes)
        self.evaluator = Evaluator(self.state.load_rules() or RulePack(()),
                                   host_labels={"host": config.hostname})
        self.lock = threading.Lock()
        self.samples: list[Sample] = []
        self.events: list[Event] = []
        self.transitions: list[Transition] = []
        self.sampler_runs: list[dict[str, Any]] = []
        self.inventory: Inventory | None = None
        self.checkpoints: dict[str, Checkpoint] = {}
        self.last_sampled = clock.now()
        self._scheduler: Any = None
        self._stopped = threading.Event()

    def sample(self, samplers: list[Sampler]) -> None:
        now = self.clock.now()
        got = run(samplers, now)
        with self.lock:
            transitions = (self.evaluator.observe(got.samples, now)
                           + self.evaluator.observe_events(got.events))
            self.samples.extend(got.samples)
            self.events.extend(got.events)
            self.transitions.extend(transitions)
            self.sampler_runs.extend(r.to_wire() for r in got.runs)
            if got.inventory:
                self.inventory = got.inventory[-1]
            self.checkpoints.update((c.key, c) for c in got.checkpoints)
            self.last_sampled = now
        for t in transitions:
            log.warning("rule %s %s: %s", t.rule, t.kind.value, t.summary)

    def _take_report(self) -> tuple[dict[str, Any], list[Checkpoint]]:
        with self.lock:
            samples, self.samples = self.samples, []
            # The collector takes at most MAX_EVENTS per report; a burst goes out over
            # several reports rather than as one the collector would refuse.
            events, self.events = self.events[:MAX_EVENTS], self.events[MAX_EVENTS:]
            transitions, self.transitions = self.transitions, []
            runs, self.sampler_runs = self.sampler_runs, []
            inventory, self.inventory = self.inventory, None
            checkpoints, self.checkpoints = list(self.checkpoints.values()), {}
        return {
            "seq": self.state.next_seq(), "sent_at": self.clock.now(),
            "samples": [s.to_wire() for s in samples],
            "events": [e.to_wire() for e in events],
            "transitions": [t.to_wire() for t in transitions],
            "inventory": inventory.to_wire() if inventory else None,
            "samplers": runs, "rules_version": self.evaluator.pack.version,
        }, checkpoints

    def push(self) -> None:
        """Spool this interval's report, then send everything spooled, oldest first."""
        report, checkpoints = self._take_report()
        try:
            self.spool.append(report)
        except OSError as exc:
            # Disk full or read-only: the report can still go straight out. Its readers'
            # checkpoints are only saved if it does, so a restart reads those entries again.
            log.error("cannot spool report %d (%s); sending it without a spool copy",
                      report["seq"], exc, extra={"seq": report["seq"]})
            if self._send(report) is not None:
                self.state.save_checkpoints(checkpoints)
        else:
            self.state.save_checkpoints(checkpoints)
        self.replay()

    def replay(self) -> None:
        for seq in self.spool.seqs():
            report = self.spool.read(seq)
            if report is None:
                continue  # damaged on disk: set aside and logged by the spool
            if self._send(report) is None:
                return  # the collector is unreachable: keep the rest, in order
            self.spool.remove(seq)

    def _send(self, report: dict[str, Any]) -> bool | None:
        """True if delivered, False if refused for good (drop it), None to retry later."""
        credential = self.config.credential()
        try:
            answer = self.client.report(credential, report)
        except PushError as exc:
            if exc.retryable or exc.status == 401:
                # 401: the credential may be restored by an admin; keep the data.
                log.warning("report %d not delivered (%s); %d waiting", report["seq"], exc,
                            len(self.spool), extra={"seq": report["seq"]})
                return None
            log.error("collector refused report %d for good: %s", report["seq"], exc,
                      extra={"seq": report["seq"]})
            return False
        if answer.get("rules_version") not in (None, self.evaluator.pack.version):
            self.refresh_rules(credential)
        return True

    def refresh_rules(self, credential: str) -> None:
        try:
            pack = RulePack.from_wire(self.client.rules(credential))
        except (PushError, KeyError, ValueError, TypeError) as exc:
            log.warning("could not fetch new rules (%s); judging with the cached ones", exc)
            return
        with self.lock:
            resolved = self.evaluator.replace_pack(pack, self.clock.now())
            self.transitions.extend(resolved)
        self.state.save_rules(pack)
        log.info("rules updated to version %s (%d rules, %d event rules)", pack.version,
                 len(pack.rules), len(pack.event_rules))

    def schedule(self) -> list[tuple[float, bool, list[Sampler]]]:
        """(interval, slow, samplers) groups: who runs how often, on which thread."""
        groups: dict[tuple[float, bool], list[Sampler]] = {}
        for s in self.samplers:
            slow = s.interval > SLOW_SAMPLER
            every = self.config.sampler_intervals.get(s.name)
            if every is None:
                # Fast samplers never run less often than we report, so every report
                # carries fresh values.
                every = s.interval if slow else min(s.interval, self.config.interval)
            groups.setdefault((every, slow), []).append(s)
        return [(every, slow, group) for (every, slow), group in groups.items()]

    def watchdog_ok(self) -> bool:
        """Sampling is still happening: the service manager should not restart us."""
        fastest = min((every for every, slow, _ in self.schedule() if not slow),
                      default=self.config.interval)
        return self.clock.now() - self.last_sampled < max(3 * fastest, 60.0)

    def stop(self) -> None:
        """Stop the scheduler: SIGTERM, or the Windows service manager's stop request from
        another thread, possibly before `start` got as far as the scheduler."""
        self._stopped.set()
        self.notifier.stopping()
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    def start(self) -> None:
        """Run until stopped."""
        from apscheduler.events import EVENT_SCHEDULER_STARTED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler(
            timezone="UTC",
            # Fast samplers always run on one thread: psutil keeps its CPU-percent baseline
            # per thread, so a different pool thread would read a meaningless first 0 %.
            # Pushing has its own thread, so a slow collector never delays sampling.
            executors={"default": ThreadPoolExecutor(1), "slow": ThreadPoolExecutor(1),
                       "push": ThreadPoolExecutor(1), "watchdog": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._scheduler = scheduler
        now = datetime.now(UTC)
        fast: list[Sampler] = []
        for every, slow, group in self.schedule():
            # Slow samplers' first run starts at once, beside the first push rather than
            # before it. (No next_run_time at all for the others: None would pause the job.)
            first = {"next_run_time": now} if slow else {}
            scheduler.add_job(self.sample, "interval", args=[group], seconds=every,
                              id=f"sample-{every:g}s{'-slow' if slow else ''}",
                              executor="slow" if slow else "default", **first)
            if not slow:
                fast.extend(group)
        scheduler.add_job(self.push, "interval", seconds=self.config.interval, id="push",
                          executor="push")
        if (watchdog_every := self.notifier.watchdog_interval) is not None:
            scheduler.add_job(self._watchdog, "interval", seconds=watchdog_every,
                              id="watchdog", executor="watchdog")

        def on_signal(signum: int, _frame: object) -> None:
            log.info("stopping on %s", signal.Signals(signum).name)
            self.stop()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        self.sample(fast)
        self.push()  # the first heartbeat goes out at once, not an interval later
        log.info("agent running: device %s reports to %s every %gs; %d reports spooled",
                 self.config.device_id, self.config.collector_url, self.config.interval,
                 len(self.spool))
        self.notifier.ready(f"reporting to {self.config.collector_url} every"
                            f" {self.config.interval:g}s")
        if self._stopped.is_set():
            return
        # A stop that lands between the check above and the scheduler counting as running
        # would find nothing to shut down: look again once it runs.
        scheduler.add_listener(self._stop_if_asked, EVENT_SCHEDULER_STARTED)
        scheduler.start()

    def _stop_if_asked(self, _event: object) -> None:
        if self._stopped.is_set():
            self._scheduler.shutdown(wait=False)

    def _watchdog(self) -> None:
        if self.watchdog_ok():
            self.notifier.watchdog()
        else:
            log.error("no sampler has run for too long; letting the service manager restart us")


def make_agent(config: AgentConfig, clock: Clock, notifier: Notifier | None = None) -> Agent:
    ctx = SamplerContext(config.state_dir, config.hostname)
    return Agent(config, CollectorClient(config.collector_url, config.ca_file), clock,
                 build(config.samplers, config.sampler_settings, ctx), notifier)
