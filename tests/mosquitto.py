"""A real Mosquitto for tests: started on a free loopback port with a config written to tmp_path.

:class:`Mosquitto` can be stopped and started again on the same port (a broker outage), killed,
given a password file (made with ``mosquitto_passwd``) and a TLS listener (certificates made here
with ``cryptography``). :class:`Collector` is an independent paho subscriber that records what
arrives. No broker is mocked anywhere.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def require_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed (.ci/run installs mosquitto and mosquitto-clients)")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_certs(directory: Path, name: str = "localhost") -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    directory.mkdir(parents=True, exist_ok=True)

    def build(subject: str, key, issuer_name, issuer_key, ca: bool, san: list | None):  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgepose test CA")])
    ca_cert = build("edgepose test CA", ca_key, ca_name, ca_key, True, None)
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(HOST))]
    cert = build(name, key, ca_cert.subject, ca_key, False, san)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def dynsec_publish_only(directory: Path, user: str, password: str) -> list[str]:
    """Broker config lines for a dynamic security plugin whose one client may publish, not subscribe."""
    config = directory / "dynsec.json"
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(config), user, password], check=True, capture_output=True)
    doc = json.loads(config.read_text())
    doc["defaultACLAccess"]["publishClientSend"] = True
    for role in doc["roles"]:  # keep only the plugin's own control topics
        role["acls"] = [a for a in role["acls"] if a["topic"].startswith(("$CONTROL", "$SYS"))]
    config.write_text(json.dumps(doc))
    plugin = next(Path("/usr/lib").glob("*/mosquitto_dynamic_security.so"), None)  # in Debian's mosquitto
    if plugin is None:
        pytest.fail("mosquitto_dynamic_security.so is missing (Debian's mosquitto package has it)")
    return ["allow_anonymous false", f"plugin {plugin}", f"plugin_opt_config_file {config}"]


class Mosquitto:
    """One broker process; ``port`` stays the same across :meth:`stop` and :meth:`start`."""

    def __init__(
        self,
        directory: Path,
        *,
        users: dict[str, str] | None = None,
        tls: TlsFiles | None = None,
        persistence: bool = True,
        no_subscribe: tuple[str, str] | None = None,
    ) -> None:
        """``no_subscribe=(user, password)``: that one client, which may publish anything and subscribe
        to nothing (the dynamic security plugin: unlike an ``acl_file``, it refuses in the SUBACK)."""
        require_mosquitto()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.log_path = directory / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        lines = [
            "user root",  # tests may run as root; do not drop to a user that cannot write tmp_path
            f"listener {self.port} {HOST}",
            f"log_dest file {self.log_path}",
            "log_type all",
            "max_queued_messages 100000",  # a persistent test subscriber must not lose queued poses
            "max_inflight_messages 100",
        ]
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        if persistence:
            lines += ["persistence true", f"persistence_location {directory}/"]
        if users:
            passwd = directory / "passwd"
            passwd.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if no_subscribe:
            lines += dynsec_publish_only(directory, *no_subscribe)
        self.config_path = directory / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()} {self.log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        """A clean broker stop (SIGTERM): it saves its persistence file and closes every connection."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> dict:
        return json.loads(self.payload)


class Collector:
    """An independent subscriber that records every message (from paho's thread) for assertions.

    ``client_id`` with ``clean=False`` keeps a broker session, so messages published while the
    collector is disconnected (during a broker restart) are delivered when it comes back.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: list[str],
        *,
        client_id: str = "",
        clean: bool = True,
        qos: int = 1,
        username: str = "",
        password: str = "",
    ) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.topics = topics
        self.qos = qos
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.tls.ca))
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)  # type: ignore[arg-type]
        self.client.connect_async(HOST, broker.port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("the test subscriber did not subscribe within 10 s")

    def _on_connect(self, client, userdata, flags, reason, properties) -> None:  # type: ignore[no-untyped-def]
        if not reason.is_failure:
            client.subscribe([(t, self.qos) for t in self.topics])

    def _on_message(self, client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        with self.lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return predicate(self)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
