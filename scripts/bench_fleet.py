#!/usr/bin/env python3
"""Fleet load test: simulated devices publishing pose documents to one Mosquitto on loopback.

    python scripts/bench_fleet.py                          # 50 devices, 15 fps, 3 people, 20 s
    python scripts/bench_fleet.py --devices 10 --seconds 5 --json

Each simulated device is one MQTT connection publishing a valid ``edgepose.poses/1`` document
(3 people, ~1.4 kB) per frame at QoS 1 on ``edgepose/<device>/cam0/poses``, its ``ts`` the wall
time of sending. Publishers run in ``--procs`` processes, each keeping its devices to the frame
schedule. Subscribed meanwhile: ``edgepose record`` (kept session; ``--record-validate``: schemas
checked too) and a pair of
``edgepose.client`` consumers in one ``$share`` group. Figures: messages per second offered and
delivered, how far publishers fell behind the schedule, end-to-end latency (receive time - ts)
p50/p99 at the share pair, what each consumer lost at QoS 1, and the broker's CPU time. Bounded:
every phase has a deadline; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleet_docs import pose_document  # noqa: E402
from tests.mosquitto import HOST, Mosquitto  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# -- worker processes ------------------------------------------------------------------------------


def publisher(port: int, first: int, count: int, fps: float, people: int, seconds: float, out: Path) -> None:
    """Publish ``count`` devices' frames on schedule for ``seconds``; write what was sent and acked."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    clients = []
    templates = []
    for d in range(first, first + count):
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pi-{d:03d}")
        c.max_inflight_messages_set(100)
        c.connect(HOST, port)
        c.loop_start()
        clients.append((f"pi-{d:03d}", c))
        # The people are drawn once per device; each frame changes only frame and ts.
        doc = pose_document(f"pi-{d:03d}", "cam0", 0, 0.0, people=people, seed=d)
        templates.append(json.dumps(doc, separators=(",", ":")).replace('"frame":0,"ts":0.0', '"frame":%d,"ts":%.6f'))
    infos = []
    start = time.monotonic() + 0.5
    frames = int(seconds * fps)
    behind = 0.0
    for frame in range(frames):
        due = start + frame / fps
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            behind = max(behind, -wait)
        for (device, client), template in zip(clients, templates, strict=True):
            payload = template % (frame, time.time())
            infos.append(client.publish(f"edgepose/{device}/cam0/poses", payload.encode(), qos=1))
    end = time.monotonic()
    deadline = time.monotonic() + 60
    for info in infos:
        left = deadline - time.monotonic()
        if left > 0 and not info.is_published():
            info.wait_for_publish(left)
    acked = sum(i.is_published() for i in infos)
    for _, c in clients:
        c.disconnect()
        c.loop_stop()
    out.write_text(
        json.dumps(
            {
                "sent": len(infos),
                "acked": acked,
                "behind_s": behind,
                "seconds": end - start,
                "devices": [d for d, _ in clients],
                "frames": frames,
            }
        )
    )


def consumer(port: int, group: str, index: int, quiet: float, deadline: float, out: Path) -> None:
    """A share-group member: count what arrives and its latency until ``quiet`` s pass with nothing."""
    from edgepose.client import FleetClient, Poses
    from edgepose.config.sections import MqttConfig

    fleet = FleetClient(
        MqttConfig(host=HOST, port=port),
        kinds=["poses"],
        share=group,
        validate=False,
        client_id=f"bench-share-{index}",
        clean=False,
    ).connect()
    print("ready", flush=True)
    latencies: list[float] = []
    seen: list[str] = []
    end = time.monotonic() + deadline
    started = False
    while time.monotonic() < end:
        got = False
        for item in fleet.documents(timeout=quiet if started else 1.0):
            if isinstance(item, Poses):
                latencies.append(time.time() - item.ts)
                seen.append(f"{item.device}:{item.frame}")
                got = started = True
        if started and not got:
            break
    fleet.close()
    out.write_text(
        json.dumps(
            {
                "received": len(seen),
                "seen": seen,
                "p50_ms": 1000 * percentile(latencies, 50),
                "p99_ms": 1000 * percentile(latencies, 99),
                "max_ms": 1000 * max(latencies, default=float("nan")),
            }
        )
    )


# -- the run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="edgepose-fleet-"))
    broker = Mosquitto(work / "broker", persistence=False).start()
    assert broker.proc is not None
    me = [sys.executable, __file__]
    procs: list[subprocess.Popen] = []
    total = args.devices * int(args.seconds * args.fps)
    try:
        record = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgepose",
                "record",
                "--host",
                HOST,
                "--port",
                str(broker.port),
                "--dir",
                str(work / "rec"),
                "--kinds",
                "poses",
                "--session",
                "bench-record",
                "--fsync",
                "interval",
                "--count",
                str(total),
                "--duration",
                str(args.seconds + 120),
                "--summary-json",
                str(work / "record.json"),
                *(["--validate"] if args.record_validate else []),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(record)
        if "subscribed" not in record.stderr.readline():
            raise RuntimeError("edgepose record did not subscribe")
        consumers = []
        for i in range(2):
            p = subprocess.Popen(
                [
                    *me,
                    "_consumer",
                    str(broker.port),
                    "bench",
                    str(i),
                    str(work / f"consumer{i}.json"),
                    str(args.seconds + 60),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(p)
            consumers.append(p)
            if p.stdout is None or p.stdout.readline().strip() != "ready":
                raise RuntimeError("a share consumer did not subscribe")
        cpu0, wall0 = cpu_seconds(broker.proc.pid), time.monotonic()
        per = -(-args.devices // args.procs)
        pubs = []
        for k in range(args.procs):
            first, count = k * per, min(per, args.devices - k * per)
            if count <= 0:
                break
            worker = [
                "_publisher",
                str(broker.port),
                str(first),
                str(count),
                str(args.fps),
                str(args.people),
                str(args.seconds),
                str(work / f"pub{k}.json"),
            ]
            pubs.append(subprocess.Popen([*me, *worker]))
        procs += pubs
        for p in pubs:
            p.wait(timeout=args.seconds + 120)
        cpu1, wall1 = cpu_seconds(broker.proc.pid), time.monotonic()
        for p in consumers:
            p.wait(timeout=120)
        record.communicate(timeout=args.seconds + 180)  # it stops once it has written every message
        record_done = time.monotonic()
        published = [json.loads((work / f"pub{k}.json").read_text()) for k in range(len(pubs))]
        shares = [json.loads((work / f"consumer{i}.json").read_text()) for i in range(2)]
        recorded = json.loads((work / "record.json").read_text())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        broker.stop()
    sent = sum(p["sent"] for p in published)
    acked = sum(p["acked"] for p in published)
    offered_seconds = max(p["seconds"] for p in published)
    expected = {f"{d}:{f}" for p in published for d in p["devices"] for f in range(p["frames"])}
    first, second = set(shares[0]["seen"]), set(shares[1]["seen"])
    return {
        "devices": args.devices,
        "fps": args.fps,
        "people": args.people,
        "seconds": args.seconds,
        "published": sent,
        "acked_by_broker": acked,
        "offered_msgs_per_s": round(sent / offered_seconds, 1),
        "publishers_behind_schedule_max_s": round(max(p["behind_s"] for p in published), 3),
        "share_pair": {
            "received": [s["received"] for s in shares],
            "overlap": len(first & second),
            "lost": len(expected - (first | second)),
            "latency_ms_p50": [round(s["p50_ms"], 1) for s in shares],
            "latency_ms_p99": [round(s["p99_ms"], 1) for s in shares],
            "latency_ms_max": [round(s["max_ms"], 1) for s in shares],
        },
        "record": {
            "written": recorded["written"],
            "lost": sent - recorded["written"],
            "validate": args.record_validate,
            "done_after_publishers_s": round(record_done - wall1, 1),
            "missing_frames": sum(s["missing"] for s in recorded["streams"]),
            "invalid": recorded["invalid"],
        },
        "broker_cpu_percent": round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1),
        "broker_cpu_s": round(cpu1 - cpu0, 2),
        "machine_cpus": os.cpu_count(),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_publisher":
        a = sys.argv[2:]
        publisher(int(a[0]), int(a[1]), int(a[2]), float(a[3]), int(a[4]), float(a[5]), Path(a[6]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_consumer":
        a = sys.argv[2:]
        consumer(int(a[0]), a[1], int(a[2]), 5.0, float(a[4]), Path(a[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time (default 20)")
    parser.add_argument("--procs", type=int, default=5, help="publisher processes (default 5)")
    parser.add_argument("--record-validate", action="store_true", help="edgepose record --validate (schemas)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object only")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result))
        return
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    threading.current_thread().name = "bench-fleet"
    main()
