"""Building a paho-mqtt 2.x client from the config, for the publishing sink and ``edgepose watch``.

The client uses callback API version 2, MQTT 3.1.1 or 5, optional user name/password and TLS,
and an optional last will. :func:`start` connects asynchronously and starts paho's network
thread: nothing here blocks on the network, and a broker that is down at start is retried.
The password is handed to paho and never formatted into a message.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edgepose.config.sections import Config, MqttConfig, TlsConfig
from edgepose.errors import ConfigError

PROTOCOLS = {"3.1.1": paho.MQTTv311, "5": paho.MQTTv5}

# CONNACK reason codes (MQTT 5 numbering; paho maps 3.1.1's 4 and 5 to 134 and 135) that mean
# the broker refused *us*: retrying will not help until the config or the broker's ACL changes.
# Mosquitto answers a wrong 3.1.1 password with "not authorized" (5, i.e. 135), not 4.
AUTH_REFUSALS = {
    134: "check mqtt.username and the password",
    135: "check mqtt.username, the password and the broker's ACL for this user",
    133: "check mqtt.client_id",
    140: "check the broker's authentication method",
}


# paho's reason codes for a connection that ended before its CONNACK (MQTT 5 numbering)
UNSPECIFIED = 128  # the peer closed it
PROTOCOL_ERROR = 130  # the peer sent bytes that are not an MQTT packet
KEEPALIVE_TIMEOUT = 141  # nothing came back within the keep-alive


@dataclass(frozen=True)
class Will:
    """The last will: what the broker publishes for us if we vanish without a DISCONNECT."""

    topic: str
    payload: str
    qos: int = 1
    retain: bool = True


def client_id_for(config: Config) -> str:
    """``mqtt.client_id``, or ``edgepose-<device_id>`` so each device keeps one stable session id."""
    return config.mqtt.client_id or f"edgepose-{config.device_id or 'edgepose'}"


def build_client(mqtt: MqttConfig, client_id: str, will: Will | None = None) -> paho.Client:
    """A configured but unconnected client. Raises :class:`ConfigError` for unusable TLS files."""
    protocol = PROTOCOLS[mqtt.protocol]
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        # clean_session is a 3.1.1 notion; MQTT 5 sets clean_start on connect instead.
        clean_session=True if protocol == paho.MQTTv311 else None,
    )
    if mqtt.username:
        client.username_pw_set(mqtt.username, mqtt.password or None)
    if mqtt.tls.enabled:
        configure_tls(client, mqtt.tls)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    client.reconnect_delay_set(mqtt.reconnect_min, mqtt.reconnect_max)  # type: ignore[arg-type]
    return client


def configure_tls(client: paho.Client, tls: TlsConfig) -> None:
    """Verify the broker's certificate (against ``ca_file`` or the system CAs); mutual TLS when set."""
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(tls, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"mqtt.tls.{key}: {path} does not exist or is not a file")
    try:
        client.tls_set(
            ca_certs=tls.ca_file or None,
            certfile=tls.cert_file or None,
            keyfile=tls.key_file or None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    except (ssl.SSLError, OSError, ValueError) as exc:
        hint = "check ca_file, cert_file and key_file"
        raise ConfigError(f"mqtt.tls: cannot load the certificates: {exc}", hint) from None
    if tls.insecure:
        # Still verifies the chain; only the host name check is skipped.
        client.tls_insecure_set(True)


def start(client: paho.Client, mqtt: MqttConfig) -> None:
    """Connect in the background and start paho's network thread; returns at once."""
    client.connect_async(mqtt.host, mqtt.port, keepalive=mqtt.keepalive)
    client.loop_start()


def describe_refusal(reason: ReasonCode) -> str:
    """One line for a refused CONNACK: the broker's reason, its code and what to check."""
    hint = AUTH_REFUSALS.get(reason.value)
    return f"{reason} (reason code {reason.value})" + (f": {hint}" if hint else "")


def describe_connect_error(exc: BaseException | None, host: str, port: int) -> str:
    """One line for a connection attempt that failed before any CONNACK (socket or TLS level)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message} (check mqtt.tls.ca_file and the host name)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc} (is {host}:{port} a TLS listener? check mqtt.tls)"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {host}:{port} refused (is the broker running and listening there?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host!r}: {exc.strerror}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"connection to {host}:{port} timed out"
    if exc is None:
        return f"connection to {host}:{port} failed"
    return f"connection to {host}:{port} failed: {type(exc).__name__}: {exc}"


def describe_before_connack(code: int, reason: str, host: str, port: int, protocol: str, keepalive: int) -> str:
    """One line for a connection the peer ended before its CONNACK (paho's disconnect ``code``):
    what the peer did, and what to check. Such a peer is no working MQTT broker."""
    where = f"{host}:{port}"
    check = f"is {where} an MQTT broker taking MQTT {protocol}? check mqtt.host, mqtt.port, mqtt.protocol"
    if code == PROTOCOL_ERROR:
        return f"{where} answered the CONNECT with bytes that are not MQTT ({check})"
    if code == KEEPALIVE_TIMEOUT:
        return f"{where} took the connection but sent no CONNACK within mqtt.keepalive, {keepalive} s ({check})"
    why = "" if code == UNSPECIFIED else f"{reason}; "  # paho's word for a plain close says nothing
    return f"{where} closed the connection before its CONNACK ({why}{check})"
