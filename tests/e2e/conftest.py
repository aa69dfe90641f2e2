"""Real processes: the collector and agents started as `python -m watchkeeper ...`."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest
from aiosmtpd.controller import Controller

from collector.cli import write_starter
from collector.config import CollectorConfig, load_config
from watchkeeper import demo
from watchkeeper.demo import free_port

T = TypeVar("T")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "watchkeeper", *args]


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cli(*args), capture_output=True, text=True, env=ENV, timeout=60)
    if check and out.returncode:
        raise AssertionError(f"watchkeeper {' '.join(args)} exited {out.returncode}:"
                             f" {out.stderr}")
    return out


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 20) -> T:
    return demo.wait_for(what, check, timeout)


@dataclass
class Stack:
    dir: Path
    config: CollectorConfig
    smtp: Controller
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def config_path(self) -> str:
        return str(self.config.source)

    def start_collector(self) -> subprocess.Popen[bytes]:
        log = (self.dir / "collector.log").open("ab")
        proc = subprocess.Popen(cli("collector", "run", "--config", self.config_path),
                                stdout=log, stderr=subprocess.STDOUT, env=ENV)
        self.procs.append(proc)

        tls = ssl.create_default_context(cafile=self.config.tls_cert) \
            if self.config.tls_cert else None

        def up() -> bool:
            assert proc.poll() is None, f"collector exited: {self.log('collector')}"
            try:
                with urllib.request.urlopen(f"{self.config.public_url}/healthz", timeout=1,
                                            context=tls):
                    return True
            except OSError:
                return False

        wait_for("the collector", up)
        return proc

    def enrol_agent(self, name: str) -> Path:
        token = run_cli("token", "create", "--customer", "acme", "--config",
                        self.config_path).stdout.strip()
        path = self.dir / name / "agent.toml"
        run_cli("agent", "enroll", "--collector", self.config.public_url, "--token", token,
                "--config", str(path), "--hostname", name, "--allow-http")
        return path

    def start_agent(self, config: Path) -> subprocess.Popen[bytes]:
        log = (self.dir / f"{config.parent.name}.log").open("ab")
        proc = subprocess.Popen(cli("agent", "run", "--config", str(config)), stdout=log,
                                stderr=subprocess.STDOUT, env=ENV)
        self.procs.append(proc)
        return proc

    def cases(self) -> list[dict]:
        return json.loads(run_cli("cases", "--all", "--json", "--config",
                                  self.config_path).stdout)

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def stack(tmp_path: Path, smtp: Controller) -> Iterator[Stack]:
    port = free_port()
    path = write_starter(tmp_path / "collector", listen_port=port,
                         public_url=f"http://127.0.0.1:{port}", interval="1s", grace="0.5s",
                         missed=3, smtp_port=smtp.port)
    s = Stack(tmp_path, load_config(path), smtp)
    yield s
    demo.stop_processes(s.procs)
