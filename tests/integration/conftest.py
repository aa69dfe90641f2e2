"""Peers shared by the channel and escalation tests: a TLS certificate and an SMTP relay that
requires STARTTLS (or TLS) and AUTH; and the HTTP client session the notifiers send with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.peers import SMTP_PASSWORD, SMTP_USER, SmtpPeer, make_cert


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def relay(cert: tuple[Path, Path]) -> Iterator[SmtpPeer]:
    peer = SmtpPeer(SMTP_USER, SMTP_PASSWORD)
    peer.start(*cert)
    yield peer
    peer.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
