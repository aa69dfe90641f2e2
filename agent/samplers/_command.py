"""Running a monitoring command (restic, journalctl, apt-get, powershell) for a sampler.

One place decides the things every such call needs: a timeout, no stdin, no shell,
captured text output, and an error that says which command failed and why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class CommandError(RuntimeError):
    """The command could not be run, or did not finish in time."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def last_error_line(self) -> str:
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return lines[-1].strip()[:300] if lines else f"exit status {self.returncode}"


def not_started(program: str, exc: OSError) -> CommandError:
    """The error for `program`, which could not be started: `exc` is the FileNotFoundError
    or PermissionError that starting it raised."""
    if isinstance(exc, PermissionError):
        return CommandError(f"{program}: not allowed to run it ({exc.strerror})")
    return CommandError(f"{program}: program not found")


def no_answer(program: str, timeout: float) -> CommandError:
    return CommandError(f"{program}: no answer within {timeout:g} s")


def run_command(argv: Sequence[str], *, timeout: float = 60.0,
                env: Mapping[str, str] | None = None, cwd: str | None = None) -> CommandResult:
    """Run `argv` (no shell) and return its exit status and output, whatever the status.

    `env` adds to (not replaces) the agent's environment. A missing program or a timeout
    raises CommandError naming the program.
    """
    full_env = {**os.environ, **env} if env else None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL, env=full_env,
                              cwd=cwd, check=False)
    except (FileNotFoundError, PermissionError) as exc:
        raise not_started(argv[0], exc) from None
    except subprocess.TimeoutExpired:
        raise no_answer(argv[0], timeout) from None
    return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)
