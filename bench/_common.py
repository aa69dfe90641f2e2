"""What the benchmarks beside this file share: free ports, the environment and process that run
a real collector, stopping a process, and peak-RSS readings. Imported as `_common` (a script's
own folder is on sys.path)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so they cannot repeat)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def repo_env() -> dict[str, str]:
    """This environment with the repository first on PYTHONPATH, for the processes we start."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}


def start_collector(config_path: Path, workdir: Path,
                    env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`watchkeeper collector run` on `config_path`, as an operator runs it, its output in
    workdir/collector.log."""
    with (workdir / "collector.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "watchkeeper", "collector", "run", "--config",
             str(config_path)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env)


def stop(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM,
         timeout: float = 15.0) -> int | None:
    """Send `sig` to a process we started, kill it if it has not ended within `timeout`
    seconds; its exit code (None if it never started)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def vm_hwm(pid: int) -> int | None:
    """The kernel's peak-RSS mark (VmHWM) of `pid` in bytes: catches peaks between readings."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def positive(kind: type) -> Any:
    """An argparse type: `kind` of the text, which must be above zero."""
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse
