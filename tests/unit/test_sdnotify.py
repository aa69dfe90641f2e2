"""The systemd notifier against real AF_UNIX datagram sockets, as systemd listens on them."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.sdnotify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A socket bound to a path, like systemd's /run/systemd/notify."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, str(path)


def received(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def test_ready_status_watchdog_and_stopping_arrive_as_datagrams(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "60000000"})
    notifier.ready("reporting to https://noc.example:8470\nevery 60s")
    assert received(sock) == ["READY=1", "STATUS=reporting to https://noc.example:8470 every 60s"]
    notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]
    notifier.status("collector unreachable; 3 reports spooled")
    assert received(sock) == ["STATUS=collector unreachable; 3 reports spooled"]
    notifier.stopping()
    assert received(sock) == ["STOPPING=1"]


def test_an_abstract_socket_name_starts_with_at() -> None:
    name = f"watchkeeper-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert received(sock) == ["READY=1"]


def test_watchdog_interval_is_half_the_timeout() -> None:
    assert Notifier.from_env({"WATCHDOG_USEC": "60000000"}).watchdog_interval == 30.0


@pytest.mark.parametrize("env", [
    {},
    {"WATCHDOG_USEC": "0"},
    {"WATCHDOG_USEC": "soon"},
    {"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"},  # armed for another process
], ids=["unset", "zero", "garbage", "other-pid"])
def test_no_watchdog_when_systemd_expects_none(env: dict[str, str]) -> None:
    assert Notifier.from_env(env, pid=4242).watchdog_interval is None


def test_watchdog_armed_for_this_pid(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier.from_env(env)
    assert notifier.watchdog_interval == 10.0
    notifier.watchdog()
    assert received(sock) == ["WATCHDOG=1"]


def test_no_watchdog_ping_when_none_is_armed(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    notifier.watchdog()
    notifier.ready()
    assert received(sock) == ["READY=1"]  # the first datagram is READY, not a stray WATCHDOG


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = Notifier.from_env({})
    assert notifier.address is None
    notifier.ready("up")
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping()


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING):
        notifier.ready()
    assert "could not notify systemd" in caplog.text
