"""The agent's main loop: sample on a schedule, judge samples against the rules, push one
batch per interval. Scheduling is apscheduler's; the work is in small methods."""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from typing import Any

from agent.config import AgentConfig
from agent.pusher import CollectorClient, PushError
from agent.samplers import Sampler, build, run
from agent.state import AgentState
from rules.evaluator import Evaluator
from rules.model import RulePack, Sample, Transition
from watchkeeper.clock import Clock

log = logging.getLogger(__name__)
# Reports kept while the collector is unreachable (the on-disk spool replaces this).
MAX_UNSENT = 120


class Agent:
    def __init__(self, config: AgentConfig, client: CollectorClient, clock: Clock,
                 samplers: list[Sampler]) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self.samplers = samplers
        self.state = AgentState(config.state_dir)
        self.evaluator = Evaluator(self.state.load_rules() or RulePack(()),
                                   host_labels={"host": config.hostname})
        self.lock = threading.Lock()
        self.samples: list[Sample] = []
        self.transitions: list[Transition] = []
        self.sampler_runs: list[dict[str, Any]] = []
        self.unsent: deque[dict[str, Any]] = deque()

    def sample(self, samplers: list[Sampler]) -> None:
        now = self.clock.now()
        samples, runs = run(samplers, now)
        with self.lock:
            transitions = self.evaluator.observe(samples, now)
            self.samples.extend(samples)
            self.transitions.extend(transitions)
            self.sampler_runs.extend(r.to_wire() for r in runs)
        for t in transitions:
            log.warning("rule %s %s: %s", t.rule, t.kind.value, t.summary)

    def _take_report(self) -> dict[str, Any]:
        with self.lock:
            samples, self.samples = self.samples, []
            transitions, self.transitions = self.transitions, []
            runs, self.sampler_runs = self.sampler_runs, []
        return {
            "seq": self.state.next_seq(), "sent_at": self.clock.now(),
            "samples": [s.to_wire() for s in samples],
            "transitions": [t.to_wire() for t in transitions],
            "samplers": runs, "rules_version": self.evaluator.pack.version,
        }

    def push(self) -> None:
        self.unsent.append(self._take_report())
        while len(self.unsent) > MAX_UNSENT:
            dropped = self.unsent.popleft()
            log.error("collector unreachable for too long: report %d dropped", dropped["seq"])
        credential = self.config.credential()
        while self.unsent:
            report = self.unsent[0]
            try:
                answer = self.client.report(credential, report)
            except PushError as exc:
                if exc.retryable or exc.status == 401:
                    # 401: the credential may be restored by an admin; keep the data.
                    log.warning("report %d not delivered (%s); %d waiting", report["seq"], exc,
                                len(self.unsent), extra={"seq": report["seq"]})
                    return
                log.error("collector refused report %d for good: %s", report["seq"], exc,
                          extra={"seq": report["seq"]})
            else:
                if answer.get("rules_version") not in (None, self.evaluator.pack.version):
                    self.refresh_rules(credential)
            self.unsent.popleft()

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
        log.info("rules updated to version %s (%d rules)", pack.version, len(pack.rules))

    def start(self) -> None:
        """Run until SIGTERM or SIGINT."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler(
            timezone="UTC",
            # Samplers always run on one thread: psutil keeps its CPU-percent baseline per
            # thread, so a different pool thread would read a meaningless first 0 %.
            # Pushing has its own thread, so a slow collector never delays sampling.
            executors={"default": ThreadPoolExecutor(1), "push": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        by_interval: dict[float, list[Sampler]] = {}
        for s in self.samplers:
            # Never sample less often than we push: every report carries fresh values.
            by_interval.setdefault(min(s.interval, self.config.interval), []).append(s)
        for seconds, group in by_interval.items():
            scheduler.add_job(self.sample, "interval", args=[group], seconds=seconds,
                              id=f"sample-{seconds:g}s")
        scheduler.add_job(self.push, "interval", seconds=self.config.interval, id="push",
                          executor="push")

        def stop(signum: int, _frame: object) -> None:
            log.info("stopping on %s", signal.Signals(signum).name)
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.sample(self.samplers)
        self.push()  # the first heartbeat goes out at once, not an interval later
        log.info("agent running: device %s reports to %s every %gs", self.config.device_id,
                 self.config.collector_url, self.config.interval)
        scheduler.start()


def make_agent(config: AgentConfig, clock: Clock) -> Agent:
    return Agent(config, CollectorClient(config.collector_url, config.ca_file), clock,
                 build(config.samplers))
