"""Tell systemd how the agent is doing (sd_notify(3)): READY when it works, WATCHDOG pings,
STOPPING on the way out. Each message is one datagram to the AF_UNIX socket named in
$NOTIFY_SOCKET; without that variable (a terminal, Windows, another supervisor) every call
does nothing, so callers never ask where they run."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self._watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ,
                 pid: int | None = None) -> Notifier:
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):
            address = "\0" + address[1:]  # a Linux abstract socket name
        elif not address.startswith("/"):
            address = ""  # unset, or a transport we do not speak (vsock:)
        # sd_watchdog_enabled(3): the watchdog is ours when WATCHDOG_USEC is a positive number
        # and WATCHDOG_PID is unset or our pid (a forked child inherits the variables).
        usec, owner = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
        mine = not owner or owner == str(os.getpid() if pid is None else pid)
        enabled = usec.isdigit() and int(usec) > 0 and mine
        return cls(address or None, int(usec) if enabled else None)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG pings (half the timeout, as the man page advises), or None
        when systemd expects none."""
        return None if self._watchdog_usec is None else self._watchdog_usec / 2_000_000

    def ready(self, status: str = "") -> None:
        self._send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        """Prove liveness; does nothing when no watchdog is armed for this process."""
        if self._watchdog_usec is not None:
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, *fields: str) -> None:
        if self.address is None:
            return
        # One field per line: a newline inside a status text would start a bogus field.
        message = "\n".join(f.replace("\n", " ") for f in fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.sendto(message, self.address)
        except OSError as exc:
            # Never fatal: if systemd stops hearing WATCHDOG=1 it restarts us anyway.
            log.warning("could not notify systemd at %r: %s", self.address, exc)
