"""What the agent keeps on disk between runs: its next sequence number, its rules and its
readers' checkpoints (the spool has its own module).

Written atomically (temp file + rename) so a kill mid-write leaves the old version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent.samplers.base import Checkpoint, checkpoint_file
from rules.model import RulePack


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class AgentState:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)

    def next_seq(self) -> int:
        """Reserve a sequence number. It is saved before use, so a restart never reuses one
        (the collector would drop the new report as a duplicate)."""
        path = self.dir / "seq"
        seq = int(path.read_text()) if path.exists() else 0
        _write_atomic(path, str(seq + 1))
        return seq

    def load_rules(self) -> RulePack | None:
        path = self.dir / "rules.json"
        if not path.exists():
            return None
        try:
            return RulePack.from_wire(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            return None  # a damaged cache is refetched from the collector

    def save_rules(self, pack: RulePack) -> None:
        _write_atomic(self.dir / "rules.json", json.dumps(pack.to_wire()))

    def save_checkpoints(self, checkpoints: list[Checkpoint]) -> None:
        """Where each incremental reader resumes after a restart (see `Checkpoint`);
        read back through `SamplerContext.saved`."""
        for c in checkpoints:
            path = checkpoint_file(self.dir, c.key)
            path.parent.mkdir(exist_ok=True)
            _write_atomic(path, json.dumps(dict(c.state)))
