#!/usr/bin/env python3
"""MQTT sink benchmark: pipeline throughput with no sink, the MQTT sink (broker up), and the MQTT
sink with the broker down, in one run.

    python scripts/bench_mqtt.py                   # MoveNet CPU, 2 threads, 5 rounds of 3 s per mode
    python scripts/bench_mqtt.py --qos 1 --seconds 20

Frames are decoded into memory first (the looping test video), so the figure is the pipeline's own
cost plus the sink's. The modes alternate in short rounds so a change in the machine's load hits
all alike. A real Mosquitto is started on a free loopback port for the "up" mode; "down" points the
sink at a port where nothing listens. Prints one JSON object per mode and a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_pipeline import SHARED, MemorySource  # noqa: E402

from edgepose.app import build_estimator, meta_document  # noqa: E402
from edgepose.config import load_config  # noqa: E402
from edgepose.documents.poses import Stamp  # noqa: E402
from edgepose.pipeline.lanes import Lane  # noqa: E402
from edgepose.pipeline.runner import Pipeline  # noqa: E402
from edgepose.sinks.mqtt import MqttSink  # noqa: E402
from edgepose.stats import RunStats  # noqa: E402
from edgepose.tools.bench.frames import first_frames  # noqa: E402
from edgepose.tools.bench.limit import NullSink  # noqa: E402
from edgepose.tracking import make_tracker  # noqa: E402
from tests.mosquitto import Mosquitto, free_port  # noqa: E402

MODES = ("none", "mqtt_up", "mqtt_down")


def run_round(
    mode: str, config: Any, loaded: Any, images: list, seconds: float, port: dict[str, int]
) -> dict[str, Any]:
    stats = RunStats()
    if mode == "none":
        sink: Any = NullSink()
        sink_config = config
    else:
        sink_config = load_config(None, [*config_overrides(config), f"mqtt.port={port[mode]}"])
        sink = MqttSink(sink_config, stats)
        sink.open(meta_document(sink_config, loaded))
        deadline = time.monotonic() + 5
        while mode == "mqtt_up" and not sink.counters()["connected"] and time.monotonic() < deadline:
            time.sleep(0.01)
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    stamp = Stamp("bench", loaded.model_name, loaded.accelerator)
    pipeline = Pipeline([Lane("cam0", MemorySource(images), loaded.estimator, tracking=tracking)], [sink], stamp, stats)
    t0 = time.perf_counter()
    pipeline.run(duration=seconds)
    elapsed = time.perf_counter() - t0
    counters = sink.counters() if mode != "none" else {}
    sink.close()  # outside the timing: flushing and disconnecting are not per-frame costs
    after = sink.counters() if mode != "none" else {}
    return {"processed": stats.processed, "elapsed": elapsed, "during": counters, "after": after}


def config_overrides(config: Any) -> list[str]:
    m = config.mqtt
    return [
        f"model.name='{config.model.name}'",
        f"model.threads={config.model.threads}",
        "device_id=bench",
        "mqtt.host=127.0.0.1",
        f"mqtt.qos_poses={m.qos_poses}",
        "mqtt.stats_interval=1",
        "mqtt.reconnect_min=0.5",
        "mqtt.reconnect_max=2",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="movenet_lightning_int8", help="model name or path (CPU)")
    parser.add_argument("--threads", type=int, default=2, help="interpreter threads")
    parser.add_argument("--video", type=Path, default=SHARED / "videos" / "walking_crowd_720p.mp4")
    parser.add_argument("--frames", type=int, default=100, help="frames decoded into memory")
    parser.add_argument("--seconds", type=float, default=15.0, help="total seconds per mode")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per mode")
    parser.add_argument("--qos", type=int, choices=[0, 1, 2], default=0, help="mqtt.qos_poses")
    args = parser.parse_args()
    config = load_config(
        None,
        [
            f"model.name='{args.model}'",
            f"model.threads={args.threads}",
            "device_id=bench",
            f"mqtt.qos_poses={args.qos}",
        ],
    )
    loaded = build_estimator(config)
    images = first_frames(args.video, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp), persistence=False).start()
        port = {"mqtt_up": broker.port, "mqtt_down": free_port()}
        try:
            run_round("none", config, loaded, images, 1.0, port)  # warm-up
            totals: dict[str, dict[str, Any]] = {
                m: {"processed": 0, "elapsed": 0.0, "dropped": 0, "published": 0, "max_queue_depth": 0} for m in MODES
            }
            for _ in range(args.rounds):
                for mode in MODES:
                    r = run_round(mode, config, loaded, images, args.seconds / args.rounds, port)
                    t = totals[mode]
                    t["processed"] += r["processed"]
                    t["elapsed"] += r["elapsed"]
                    t["dropped"] += r["after"].get("dropped", 0)
                    t["published"] += r["after"].get("published", 0)
                    t["max_queue_depth"] = max(t["max_queue_depth"], r["during"].get("queue_depth", 0))
        finally:
            broker.stop()
    base = totals["none"]["processed"] / totals["none"]["elapsed"]
    for mode in MODES:
        t = totals[mode]
        fps = t["processed"] / t["elapsed"]
        print(
            json.dumps(
                {
                    "mode": mode,
                    "qos": args.qos,
                    "threads": args.threads,
                    "fps": round(fps, 1),
                    "vs_none_pct": round(100 * (fps / base - 1), 2),
                    **t,
                    "elapsed": round(t["elapsed"], 2),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
