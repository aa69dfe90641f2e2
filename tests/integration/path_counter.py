"""Count how often a sampler really runs a program: a wrapper script of the same name, first
on PATH, notes each run and hands over to the real program."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


class Runs:
    def __init__(self, log: Path) -> None:
        self.log = log

    def __len__(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def count_runs(program: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Runs:
    """From now on, every run of `program` by this process or its children is counted."""
    real = shutil.which(program)
    assert real is not None, f"{program} is not installed"
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{program}.runs"
    wrapper = directory / program
    # One line per run, whatever the arguments hold (dash's echo expands "\\n" in them).
    wrapper.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
    return Runs(log)
