"""Shared test peers: a real SMTP server and a collector configuration on disk."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from collector.cli import write_starter
from collector.config import CollectorConfig, load_config
from watchkeeper.demo import MailBox, free_port


@pytest.fixture
def smtp() -> Iterator[Controller]:
    controller = Controller(MailBox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def config_dir(tmp_path: Path, smtp: Controller) -> Path:
    port = free_port()
    write_starter(tmp_path / "collector", listen_port=port,
                  public_url=f"http://127.0.0.1:{port}", interval="60s", grace="30s", missed=5,
                  smtp_port=smtp.port)
    return tmp_path / "collector"


@pytest.fixture
def config(config_dir: Path) -> CollectorConfig:
    return load_config(config_dir / "collector.toml")


def report_body(seq: int, samples: list[dict] | None = None,
                transitions: list[dict] | None = None, sent_at: float = 1_800_000_000.0) -> bytes:
    doc = {"seq": seq, "sent_at": sent_at, "samples": samples or [
        {"metric": "cpu.percent", "value": 12.5, "at": sent_at, "labels": {}}],
        "transitions": transitions or []}
    return gzip.compress(json.dumps(doc).encode())
