"""The health and preview servers survive their clients: a cap on connections, a deadline on each
request, a Host check on the preview, and an IPv6 loopback that binds or says why.

Every test talks to the real server over loopback sockets. Timeouts are configured small; the
clients' own socket timeouts only keep a broken server from hanging the test, nothing asserts
how fast anything happens.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgepose.config.sections import PreviewConfig
from edgepose.errors import UnavailableError
from edgepose.preview import PreviewServer
from edgepose.service.health_http import HealthServer, Probe
from edgepose.service.http_guard import GuardedHTTPServer, Limits, host_allowed, host_name
from edgepose.stats import RunStats
from tests.mosquitto import free_port
from tests.service_kit import spawn, stop_child, wait_until

HANG_GUARD = 30.0  # seconds a client waits before the test calls the server stuck


def healthy() -> Probe:
    return Probe("running", True, (), {})


@pytest.fixture
def health() -> Iterator[Callable[[Limits], HealthServer]]:
    servers: list[HealthServer] = []

    def start(limits: Limits) -> HealthServer:
        server = HealthServer("127.0.0.1", 0, healthy, limits)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def get(port: int, path: str = "/healthz", host: str = "127.0.0.1", header: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=HANG_GUARD)
    try:
        conn.putrequest("GET", path, skip_host=header is not None)
        if header is not None:
            conn.putheader("Host", header)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def idle(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A connection that sends nothing."""
    return socket.create_connection((host, port), timeout=HANG_GUARD)


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def wait_for(condition: Callable[[], bool]) -> None:
    """Poll a server-side condition (bounded by the hang guard)."""
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.01)


def open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def test_connections_past_the_cap_are_refused_and_closed(health) -> None:
    """Idle connections cannot take every descriptor: past max_clients each is answered 503 and closed."""
    server = health(Limits(read_timeout=60.0, max_clients=4))
    port = server.address[1]
    before = open_fds()
    held = [idle(port) for _ in range(4)]
    wait_for(lambda: server.server.open_connections == 4)
    extra = [idle(port) for _ in range(40)]
    for sock in extra:
        assert until_closed(sock).startswith(b"HTTP/1.1 503 ")
    assert server.server.refused == 40
    assert server.server.open_connections == 4
    # this process holds both ends: the 44 clients, and on the server's side only the 4 it serves
    assert open_fds() - before <= 44 + 4 + 2
    for sock in [*held, *extra]:
        sock.close()
    wait_for(lambda: server.server.open_connections == 0)
    assert get(port) == (200, b'{"status": "ok", "reasons": []}\n')


def test_idle_connections_are_closed_after_the_read_timeout(health) -> None:
    server = health(Limits(read_timeout=0.2, max_clients=4))
    port = server.address[1]
    held = [idle(port) for _ in range(4)]
    for sock in held:
        assert until_closed(sock) == b""  # closed by the server, not by this test
        sock.close()
    wait_for(lambda: server.server.open_connections == 0)
    assert get(port)[0] == 200


def test_a_request_trickling_in_is_cut_at_the_deadline(health) -> None:
    """A byte every read_timeout/4 never trips the per-read timeout; the deadline on the head does."""
    server = health(Limits(read_timeout=0.4, max_clients=2))
    port = server.address[1]
    sock = idle(port)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    stop = threading.Event()

    def trickle() -> None:
        for _ in range(int(2 * HANG_GUARD / 0.1)):  # longer than the client waits: only a cut ends it
            if stop.wait(0.1):
                return
            try:
                sock.sendall(b"X")
            except OSError:
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        assert until_closed(sock) == b""
    except ConnectionResetError:
        pass  # cut while bytes were in flight: a reset is a close too
    finally:
        stop.set()
        thread.join()
        sock.close()
    assert get(port)[0] == 200


def test_a_keep_alive_client_is_served_then_closed_when_idle() -> None:
    """The preview speaks HTTP/1.1: a kept-alive connection serves requests, then idles out."""
    preview = PreviewServer(PreviewConfig(port=free_port(), read_timeout=0.2, max_clients=2), RunStats())
    preview.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", preview.port, timeout=HANG_GUARD)
        for _ in range(3):
            conn.request("GET", "/status.json")
            assert conn.getresponse().read().startswith(b"{")
        assert until_closed(conn.sock) == b""
        conn.close()
        wait_for(lambda: preview.server.open_connections == 0)
    finally:
        preview.stop()


# -- the preview's Host check (DNS rebinding) ------------------------------------------------------


@pytest.fixture
def preview() -> Iterator[PreviewServer]:
    server = PreviewServer(PreviewConfig(port=free_port(), hosts=("pi.example.org",)), RunStats())
    server.start()
    yield server
    server.stop()


# (Host header, whether it passes): {port} is the preview's port
HOSTS = [
    ("evil.example", False),  # a rebinding page's own name
    ("evil.example:{port}", False),
    ("127.0.0.1.evil.example", False),  # looks like an address, is a name
    ("localhost", True),
    ("localhost:{port}", True),
    ("LOCALHOST.:{port}", True),  # case and a trailing dot change nothing
    ("app.localhost:{port}", True),  # *.localhost never goes to DNS
    ("127.0.0.1:{port}", True),
    ("[::1]:{port}", True),
    ("10.1.2.3:{port}", True),  # an address: nothing to rebind
    ("pi.example.org:{port}", True),  # configured in service.preview.hosts
    ("{hostname}:{port}", True),  # this device's name
    ("{hostname}.local:{port}", True),  # and its mDNS name
]


@pytest.mark.parametrize(("host", "passes"), HOSTS)
def test_the_preview_answers_only_its_own_names(preview: PreviewServer, host: str, passes: bool) -> None:
    header = host.format(port=preview.port, hostname=socket.gethostname())
    status, body = get(preview.port, "/status.json", header=header)
    if passes:
        assert status == 200
    else:
        assert status == 403 and b"service.preview.hosts" in body
        assert preview.refused == 1


def test_a_request_without_host_passes(preview: PreviewServer) -> None:
    with socket.create_connection(("127.0.0.1", preview.port), timeout=HANG_GUARD) as sock:
        sock.sendall(b"GET /status.json HTTP/1.0\r\n\r\n")
        assert until_closed(sock).split(b"\r\n", 1)[0].endswith(b" 200 OK")


@given(header=st.text(max_size=60))
def test_any_host_header_is_a_yes_or_no(header: str) -> None:
    assert host_allowed(header, {"pi"}) in (True, False)
    assert isinstance(host_name(header), str)


# -- where the servers listen ------------------------------------------------------------------------


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_ipv6_loopback_binds_or_says_why() -> None:
    try:
        server = HealthServer("::1", 0, healthy, Limits())
    except UnavailableError as exc:
        assert not ipv6_loopback(), exc  # only refused where IPv6 cannot be bound
        assert "IPv6" in (exc.hint or "")
        return
    server.start()
    try:
        assert get(server.address[1], host="::1")[0] == 200
    finally:
        server.close()


def test_localhost_binds_whatever_it_names() -> None:
    server = HealthServer("localhost", 0, healthy, Limits())
    server.start()
    try:
        host, port = server.address
        assert get(port, host=host)[0] == 200
    finally:
        server.close()


@pytest.mark.parametrize(
    ("host", "says"),
    [("no-such-host.invalid", "cannot resolve"), ("192.0.2.1", "not one of this machine's")],
)
def test_an_address_that_cannot_be_bound_says_why(host: str, says: str) -> None:
    with pytest.raises(UnavailableError) as caught:
        GuardedHTTPServer(host, 0, BaseHTTPRequestHandler, Limits(), "service.health")
    assert says in str(caught.value)


def test_the_preview_on_ipv6_loopback_binds_or_says_why() -> None:
    preview = PreviewServer(PreviewConfig(host="::1", port=free_port()), RunStats())
    try:
        preview.start()
    except UnavailableError as exc:
        assert not ipv6_loopback(), exc
        assert "IPv6" in (exc.hint or "")
        return
    try:
        assert get(preview.port, "/status.json", host="::1")[0] == 200
    finally:
        preview.stop()


def test_a_name_binds_its_next_address_when_the_first_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name resolving to several addresses (localhost as ::1 and 127.0.0.1): the first that binds."""
    from edgepose.service import http_guard

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()
        answers = [(socket.AF_INET, busy), (socket.AF_INET, ("127.0.0.1", 0))]
        monkeypatch.setattr(http_guard, "resolve", lambda host, port, what: answers)
        server = GuardedHTTPServer("twice.example", busy[1], BaseHTTPRequestHandler, Limits(), "service.health")
        try:
            assert server.server_address[1] not in (0, busy[1])
        finally:
            server.server_close()
        answers.pop()  # only the taken one: the error names the first refusal
        with pytest.raises(UnavailableError, match=r"cannot listen on twice\.example"):
            GuardedHTTPServer("twice.example", busy[1], BaseHTTPRequestHandler, Limits(), "service.health")


def test_the_daemon_applies_its_configured_limits(tmp_path: Path, squat_path: Path) -> None:
    """The probe that found this: idle connections to a running daemon's /healthz. With the limits
    from the config, one past the cap is refused, the idle ones are cut, and /healthz answers."""
    port = free_port()
    health = {"enabled": "true", "port": port, "max_clients": 2, "read_timeout": 2}
    sets = ["source.loop=true", *(f"service.health.{key}={value}" for key, value in health.items())]
    args = ["--source", str(squat_path), "--sink", "jsonl:/dev/null", *(a for s in sets for a in ("--set", s))]
    proc, stderr = spawn(args, tmp_path)
    try:
        wait_until(lambda: proc.poll() is not None or "health endpoint on" in stderr.read_text(), 60, "health")
        assert proc.poll() is None, stderr.read_text()
        for _attempt in range(5):  # the held two may be cut before the third connects on a slow machine
            held = [idle(port) for _ in range(2)]
            with idle(port) as third:
                refused = until_closed(third).startswith(b"HTTP/1.1 503 ")
            for sock in held:
                assert until_closed(sock) == b""  # cut after read_timeout
                sock.close()
            if refused:
                break
        assert refused
        assert get(port)[0] in (200, 503)  # answered: ok, or still starting
        assert proc.poll() is None
    finally:
        stop_child(proc)
