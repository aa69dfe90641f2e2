"""The agent's HTTP client against a real HTTP/1.1 server: one kept-alive connection across
requests, a new one when the collector has closed it, and the error semantics the runner
relies on (status, retryable, the collector's own error text)."""

from __future__ import annotations

import contextlib
import gzip
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.pusher import CollectorClient, PushError


class Collector(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.answer: tuple[int, Any] = (200, {"status": "stored"})
        self.drop_next = False  # close the connection instead of answering, once
        self.idle_close: float | None = None  # close a connection idle this long

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Collector

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def handle_one_request(self) -> None:
        if self.server.idle_close is not None:
            ready, _, _ = select.select([self.connection], [], [], self.server.idle_close)
            if not ready:
                self.close_connection = True
                return
        super().handle_one_request()

    def _any(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.server.drop_next:
            self.server.drop_next = False
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        status, payload = self.server.answer
        out = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _any

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_reports_go_out_gzipped_with_the_credential_on_one_connection(
        collector: Collector) -> None:
    client = CollectorClient(collector.url + "/")
    for seq in (1, 2, 3):
        assert client.report("cred", {"seq": seq}) == {"status": "stored"}
    assert collector.connections == 1
    method, path, headers, body = collector.requests[-1]
    assert (method, path) == ("POST", "/api/v1/report")
    assert headers["Authorization"] == "Bearer cred"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["User-Agent"].startswith("watchkeeper-agent/")
    assert json.loads(gzip.decompress(body)) == {"seq": 3}


def test_a_path_in_the_collector_url_prefixes_every_request(collector: Collector) -> None:
    CollectorClient(collector.url + "/wk").rules("cred")
    assert collector.requests[-1][:2] == ("GET", "/wk/api/v1/rules")


def test_a_connection_the_collector_closed_while_idle_is_replaced(collector: Collector) -> None:
    collector.idle_close = 0.2
    client = CollectorClient(collector.url)
    client.report("cred", {"seq": 1})
    time.sleep(0.5)
    client.report("cred", {"seq": 2})
    assert [json.loads(gzip.decompress(r[3]))["seq"] for r in collector.requests] == [1, 2]
    assert collector.connections == 2


def test_a_kept_connection_dropped_mid_request_is_retried_once_on_a_new_one(
        collector: Collector) -> None:
    client = CollectorClient(collector.url)
    client.report("cred", {"seq": 1})
    collector.drop_next = True
    assert client.report("cred", {"seq": 2}) == {"status": "stored"}
    assert collector.connections == 2


def test_a_new_connection_dropped_mid_request_is_not_retried(collector: Collector) -> None:
    collector.drop_next = True
    with pytest.raises(PushError) as raised:
        CollectorClient(collector.url).report("cred", {"seq": 1})
    assert raised.value.status is None and raised.value.retryable
    assert "cannot reach the collector" in str(raised.value)
    assert collector.requests == []


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (429, True),
                                                  (500, True), (503, True)])
def test_refusals_carry_the_status_and_the_collectors_reason(
        collector: Collector, status: int, retryable: bool) -> None:
    collector.answer = (status, {"error": "samples[0].value: must be a finite number"})
    client = CollectorClient(collector.url)
    with pytest.raises(PushError) as raised:
        client.report("cred", {"seq": 1})
    assert raised.value.status == status and raised.value.retryable is retryable
    assert str(raised.value) == (f"collector answered {status}: samples[0].value: must be a"
                                 " finite number")
    collector.answer = (200, {"status": "stored"})
    assert client.report("cred", {"seq": 2}) == {"status": "stored"}  # still usable


def test_a_refusal_without_json_names_the_http_reason(collector: Collector) -> None:
    collector.answer = (502, b"<html>bad gateway</html>")
    with pytest.raises(PushError, match=r"^collector answered 502: Bad Gateway$"):
        CollectorClient(collector.url).rules("cred")


def test_nothing_listening_is_a_retryable_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PushError, match="Connection refused") as raised:
        CollectorClient(f"http://127.0.0.1:{port}").report("cred", {"seq": 1})
    assert raised.value.retryable


def test_a_collector_that_never_answers_times_out() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        started = time.monotonic()
        with pytest.raises(PushError, match="timed out"):
            CollectorClient(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.5).rules("c")
        assert time.monotonic() - started < 5


class Proxy(threading.Thread):
    """A forward proxy: CONNECT tunnels and absolute-URL plain-HTTP requests, one each."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://user:p%40ss@127.0.0.1:{self.sock.getsockname()[1]}"

    def run(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += client.recv(65536)
        self.seen.append(head.decode())
        request_line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = request_line.split()
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            host, port = target.split("/")[2].rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            path = "/" + target.split("/", 3)[3]
            upstream.sendall(head.replace(target.encode(), path.encode(), 1))
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def test_plain_http_goes_through_the_environments_proxy(
        collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = Proxy()
    proxy.start()
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    CollectorClient(collector.url).rules("cred")
    assert proxy.seen[0].startswith(f"GET {collector.url}/api/v1/rules HTTP/1.1")
    assert "Proxy-Authorization: Basic dXNlcjpwQHNz" in proxy.seen[0]  # user:p@ss
    assert collector.requests[-1][:2] == ("GET", "/api/v1/rules")


def test_no_proxy_bypasses_it(collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    CollectorClient(collector.url).rules("cred")
    assert collector.requests[-1][:2] == ("GET", "/api/v1/rules")


@pytest.fixture
def tls_collector(collector: Collector, tmp_path: Any) -> Collector:
    import ssl

    from tests.peers import make_cert

    cert, key = make_cert(tmp_path, "c")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    collector.socket = ctx.wrap_socket(collector.socket, server_side=True)
    collector.ca = cert  # type: ignore[attr-defined]
    return collector


def test_https_verifies_the_collector_and_keeps_its_connection(tls_collector: Collector) -> None:
    url = tls_collector.url.replace("http:", "https:")
    client = CollectorClient(url, tls_collector.ca)  # type: ignore[attr-defined]
    client.report("cred", {"seq": 1})
    client.report("cred", {"seq": 2})
    assert tls_collector.connections == 1
    with pytest.raises(PushError, match="CERTIFICATE_VERIFY_FAILED"):
        CollectorClient(url).rules("cred")


def test_https_tunnels_through_the_environments_proxy(
        tls_collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = Proxy()
    proxy.start()
    monkeypatch.setenv("https_proxy", proxy.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    url = tls_collector.url.replace("http:", "https:")
    client = CollectorClient(url, tls_collector.ca)  # type: ignore[attr-defined]
    client.report("cred", {"seq": 1})
    client.report("cred", {"seq": 2})
    port = url.rsplit(":", 1)[1]
    assert proxy.seen == [proxy.seen[0]]  # one tunnel for both
    assert proxy.seen[0].startswith(f"CONNECT 127.0.0.1:{port} HTTP/1.")
    assert "Proxy-Authorization: Basic dXNlcjpwQHNz" in proxy.seen[0]
    assert len(tls_collector.requests) == 2
