"""The configuration schema: one frozen dataclass per YAML section.

``config/edgepose.yaml`` documents every key; a test checks that file and this schema agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgepose.analysis.behaviours.settings import BehavioursSettings
from edgepose.config.fields import setting
from edgepose.names import CAMERA_NAME, DEVICE_NAME

TOPIC_SAFE = r"[^#+\s/][^#+\s]*"


@dataclass(frozen=True)
class SourceConfig:
    kind: Literal["auto", "image", "directory", "video", "picamera2", "v4l2", "stream"] = setting(
        "auto", "what `uri` is; auto guesses from the uri (a file's extension, a directory, /dev/video*, rtsp://)"
    )
    uri: str = setting(
        "auto",
        "image file, directory, video file, /dev/videoN, rtsp:// or http:// URL, 'picamera2', or 'auto': "
        "the camera where there is one, else the sample image from the model manifest",
    )
    camera: str = setting("cam0", "camera name used in topics and documents", pattern=CAMERA_NAME)
    loop: bool = setting(False, "restart a video file or image list at its end")
    realtime: bool = setting(False, "pace video files at their native frame rate instead of as fast as possible")
    width: int = setting(1280, "capture width for cameras (main stream)", min=16, max=8192)
    height: int = setting(720, "capture height for cameras (main stream)", min=16, max=8192)
    fps: float = setting(30.0, "requested camera frame rate", min=0.1, max=240.0)
    stall_timeout: float = setting(10.0, "seconds without a frame before the source is reported unhealthy", min=0.1)
    retry_min: float = setting(0.1, "first wait before reopening a failed camera or stream, seconds", min=0.01)
    retry_max: float = setting(5.0, "longest wait between source reconnect attempts, seconds", min=0.05)
    slot_size: int = setting(
        1, "live sources: frames held between capture and inference; older ones are skipped", min=1, max=16
    )
    decode_threads: int = setting(
        0,
        "threads FFmpeg decodes video files and streams with; 0: auto, 1 on boards with less than 1 GiB "
        "of memory (a 720p H.264 decoder holds about 10 MB less than with 4, and a stream lags less), "
        "else FFmpeg's default of one per core",
        min=0,
        max=64,
    )


@dataclass(frozen=True)
class ModelConfig:
    name: str = setting(
        "movenet_lightning_int8",
        "a model name from the manifest (`edgepose models list`) or a path to a .tflite file",
    )
    edgetpu_name: str = setting(
        "", "the Edge TPU variant of the same network (name or path); empty: derive '<name>_edgetpu'"
    )
    accelerator: Literal["cpu", "edgetpu", "auto"] = setting(
        "cpu", "cpu; edgetpu (Coral); auto: the Edge TPU when one is present, else the CPU"
    )
    edgetpu_device: str = setting(
        "", "which Edge TPU: usb, usb:N, pci, pci:N, or empty for any", pattern=r"(|usb|pci)(:\d+)?"
    )
    fallback: Literal["none", "cpu"] = setting("none", "on Edge TPU failure: none (exit 69) or cpu (run on the CPU)")
    threads: int = setting(4, "CPU inference threads (XNNPACK)", min=1, max=64)
    invoke_timeout: float = setting(5.0, "seconds an invoke may take before the accelerator is declared hung", min=0.01)
    overlap: Literal["auto", "on", "off"] = setting(
        "auto",
        "preprocess the next frame and publish the previous one while a frame is on the accelerator; "
        "auto: on for the Edge TPU, off for the CPU (measured in docs/pipeline.md)",
    )
    load_timeout: float = setting(
        30.0, "seconds loading the model (and the Edge TPU delegate) may take before it counts as failed", min=0.1
    )
    max_failures: int = setting(
        3, "failed or hung invokes in a row before giving up on the accelerator (fallback or exit 69)", min=1, max=1000
    )
    rebuild_backoff: float = setting(0.5, "first wait before rebuilding a failed interpreter, seconds", min=0.0)
    rebuild_backoff_max: float = setting(10.0, "longest wait between rebuilds (the wait doubles), seconds", min=0.0)
    dirs: tuple[str, ...] = setting(
        factory=tuple, doc="extra directories searched for model files (EDGEPOSE_MODEL_DIRS is searched first)"
    )
    cache_dir: str = setting(
        "",
        "where `edgepose models fetch` stores models (and dense/, dense copies of sparse models); "
        "empty: $CACHE_DIRECTORY or ~/.cache/edgepose/models",
    )
    resize: Literal["bilinear", "antialiased_fast", "antialiased", "area"] = setting(
        "bilinear",
        "how a frame is shrunk to the model input: bilinear (as the models were published, cheapest), "
        "antialiased_fast (filtered to the shrink), antialiased (exact, slower), area (docs/accuracy.md)",
    )
    detector: str = setting(
        "", "BlazePose: the person detector (name or path); empty: pose_detection.tflite beside the model or in dirs"
    )
    sparse_weights: Literal["auto", "dense", "sparse"] = setting(
        "auto",
        "weights a model stores sparse (BlazePose's detector): dense loads a dense copy kept in the model cache "
        "(5 MB less; on ARM it loses XNNPACK's sparse kernels, about twice the detector's work), sparse loads them "
        "as stored; auto: dense off ARM, and on boards with less than 1 GiB of memory",
    )


@dataclass(frozen=True)
class DecoderConfig:
    min_pose_score: float | None = setting(
        None,
        "poses scoring below this are not reported; null: the model's own threshold, else 0.2 (YOLO-pose: 0.25, "
        "Ultralytics' conf)",
        min=0.0,
        max=1.0,
    )
    min_keypoint_score: float = setting(
        0.2, "keypoints below this count as not visible (boxes, crop region)", min=0.0, max=1.0
    )
    max_poses: int | None = setting(
        None,
        "most poses reported per frame (multi-person models); null: the model's own, else 10 (YOLO-pose: 300, "
        "Ultralytics' max_det)",
        min=1,
        max=300,
    )
    nms_radius: float | None = setting(
        None,
        "PoseNet: model-input pixels within which a second pose's part is suppressed; null: the model's own, else 20",
        min=0.0,
    )
    nms_iou: float = setting(
        0.7,
        "YOLO-pose: a person box overlapping a better-scoring one by more than this IoU is suppressed "
        "(Ultralytics' iou)",
        min=0.0,
        max=1.0,
    )
    multipose_long_side: int = setting(
        256,
        "MoveNet MultiPose: the input's long side in pixels (a multiple of 32; the short side keeps the "
        "frame's aspect ratio)",
        min=32,
        max=1024,
    )
    crop_region: bool = setting(True, "single-person MoveNet on video: crop around the last frame's person")
    kernel: Literal["auto", "numba", "numpy"] = setting(
        "auto",
        "decoder kernels: numba (fast, about 130 MB more), numpy (the same poses, a few ms slower); auto: "
        "numba where it imports and the board has 1 GiB of memory or more",
    )
    heatmap_refine: Literal["argmax", "quarter", "dark"] = setting(
        "dark", "heatmap models: sub-pixel refinement of the argmax"
    )
    numba_cache_dir: str = setting("", "where Numba caches compiled kernels; empty: NUMBA_CACHE_DIR or Numba's default")
    plausibility: bool = setting(
        False,
        "drop poses stitched from several people (limb proportions, left/right symmetry, span; "
        "docs/accuracy.md); on/off",
    )
    plausibility_limb: float = setting(
        3.0, "plausibility: the longest limb's stature estimate over the median one", min=1.1, max=100.0
    )
    plausibility_symmetry: float = setting(
        2.0, "plausibility: the median left/right segment length ratio", min=1.1, max=100.0
    )
    plausibility_span: float = setting(
        1.8, "plausibility: the pose's extent over its median limb stature estimate", min=0.1, max=100.0
    )


@dataclass(frozen=True)
class TrackingConfig:
    tracker: Literal["keypoint", "bbox", "none"] = setting("keypoint", "how ids are kept across frames")
    max_tracks: int = setting(18, "most people tracked at once", min=1, max=1000)
    max_age_ms: float = setting(1000.0, "a track unseen this long ends", min=1.0)
    min_similarity: float = setting(0.0, "0: the tracker's own default (keypoint 0.2, bbox 0.15)", min=0.0, max=1.0)
    keypoint_threshold: float = setting(0.3, "keypoint tracker: keypoints below this are ignored", min=0.0, max=1.0)
    min_keypoints: int = setting(4, "keypoint tracker: fewest confident keypoints to compare", min=1, max=17)
    smoothing: bool = setting(True, "One Euro smoothing of keypoints per track")
    min_cutoff: float = setting(2.5, "One Euro minimum cutoff, Hz", min=0.0)
    beta: float = setting(300.0, "One Euro speed coefficient (coordinates normalized to the frame)", min=0.0)
    d_cutoff: float = setting(2.5, "One Euro derivative cutoff, Hz", min=0.0)


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = setting(False, "connect with TLS")
    ca_file: str = setting("", "CA certificate file; empty: the system's CAs")
    cert_file: str = setting("", "client certificate (mutual TLS)")
    key_file: str = setting("", "client private key (mutual TLS)")
    insecure: bool = setting(False, "skip certificate host-name checks (testing only)")


@dataclass(frozen=True)
class HomeAssistantConfig:
    enabled: bool = setting(False, "publish Home Assistant MQTT discovery for people count and fps")
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix", pattern=TOPIC_SAFE)
    settle: float = setting(
        1.0,
        "with discovery: seconds a count or zone state holds before it may change again (Home Assistant records "
        "every change; a count flickers frame to frame); the latest value follows when the hold ends; 0: every "
        "change. Pose documents are never held",
        min=0.0,
        max=3600.0,
    )


@dataclass(frozen=True)
class MqttConfig:
    host: str = setting("localhost", "broker host name or address")
    port: int = setting(1883, "broker port", min=1, max=65535)
    protocol: Literal["3.1.1", "5"] = setting("3.1.1", "MQTT protocol version")
    client_id: str = setting(
        "",
        "client id; empty: edgepose-<device_id>. At most 65535 UTF-8 bytes (refused beyond); over 23, what MQTT "
        "guarantees, check-config warns (Mosquitto, EMQX and HiveMQ take longer ones)",
    )
    username: str = setting("", "user name; empty: anonymous")
    password: str = setting("", "password (prefer password_env or password_file)", secret=True)
    password_env: str = setting("", "name of an environment variable that holds the password")
    password_file: str = setting(
        "", "file that holds the password; the systemd credential 'mqtt_password' is read when set"
    )
    tls: TlsConfig = setting(factory=TlsConfig, doc="TLS settings")
    topic_prefix: str = setting(
        "", "topic prefix, {device} and {site} filled in; empty: edgepose/<device_id>", pattern=r"(|" + TOPIC_SAFE + ")"
    )
    keepalive: int = setting(30, "seconds between keep-alive pings", min=5, max=65535)
    qos_poses: Literal[0, 1, 2] = setting(0, "QoS of pose messages")
    qos_status: Literal[0, 1, 2] = setting(1, "QoS of available, meta, stats and count")
    only_with_poses: bool = setting(False, "publish pose documents only for frames with at least one person")
    max_rate: float = setting(0.0, "most pose messages per second; 0: no limit", min=0.0)
    poses_expiry: int = setting(
        0, "MQTT 5: seconds a broker may hold a pose message for an offline subscriber; 0: no expiry", min=0, max=86_400
    )
    topic_alias: bool = setting(True, "MQTT 5: send the pose topic as a topic alias when the broker allows one")
    stats_interval: float = setting(10.0, "seconds between stats messages; 0: none", min=0.0)
    publish_count: bool = setting(True, "publish the retained people count topic")
    buffer_messages: int = setting(
        1000, "pose messages kept while the broker is away; when full the oldest are dropped", min=1, max=10_000_000
    )
    buffer_bytes: int = setting(
        8_000_000, "payload bytes kept while the broker is away; at least max_payload", min=1024, max=1_073_741_824
    )
    max_payload: int = setting(
        262_144, "largest pose message in bytes; larger ones are dropped and counted", min=1024, max=268_435_455
    )
    reconnect_min: float = setting(0.5, "first reconnect delay, seconds", min=0.05)
    reconnect_max: float = setting(30.0, "longest reconnect delay, seconds", min=0.1)
    homeassistant: HomeAssistantConfig = setting(factory=HomeAssistantConfig, doc="Home Assistant discovery")


@dataclass(frozen=True)
class HealthConfig:
    enabled: bool = setting(False, "serve /healthz and /metrics over HTTP")
    host: str = setting("127.0.0.1", "address to bind; keep it on localhost unless you mean it")
    port: int = setting(9180, "port; 0: any free port (the chosen one is logged)", min=0, max=65535)
    read_timeout: float = setting(
        10.0,
        "seconds a client has to send its request (and may stay idle between two); then it is disconnected",
        min=0.01,
        max=3600.0,
    )
    max_clients: int = setting(8, "connections served at once; one more is answered 503 and closed", min=1, max=1024)


@dataclass(frozen=True)
class PreviewConfig:
    enabled: bool = setting(False, "serve a live preview page with the skeleton overlay")
    host: str = setting("127.0.0.1", "address to bind; keep it on localhost unless you mean it")
    port: int = setting(9181, "port", min=1, max=65535)
    max_fps: float = setting(5.0, "most preview images per second", min=0.1, max=60.0)
    allow_remote: bool = setting(False, "answer clients on other machines too (otherwise they get 403)")
    hosts: tuple[str, ...] = setting(
        factory=tuple,
        doc="names the page may also be reached by (a DNS name, a reverse proxy); addresses, localhost and this "
        "device's host name (and <host name>.local) always pass; any other Host gets 403 (a DNS-rebinding guard)",
    )
    read_timeout: float = setting(
        10.0,
        "seconds a client has to send its request (and may stay idle between two), or to take the next image of "
        "a stream; then it is disconnected",
        min=0.01,
        max=3600.0,
    )
    max_clients: int = setting(
        8, "connections served at once (each stream holds one); one more is answered 503 and closed", min=1, max=1024
    )
    zones: bool = setting(False, "draw the analysis zones with their state (needs analysis.enabled)")
    angles: bool = setting(False, "write joint angles at the joints (needs analysis.enabled and analysis.angles)")
    camera: str = setting(
        "", "with several cameras, the one shown; empty: the first", pattern=r"(|[A-Za-z0-9_-]{1,64})"
    )


@dataclass(frozen=True)
class ServiceConfig:
    watchdog: bool = setting(
        True, "ping the systemd watchdog (WatchdogSec= in the unit) only while frames are being processed"
    )
    shutdown_timeout: float = setting(
        5.0, "seconds a clean stop may take; after that the sinks are closed and the process exits 1", min=0.1
    )
    start_timeout: float = setting(
        600.0,
        "seconds start-up (model load, first frame, Numba compile) may take before systemd's own "
        "TimeoutStartSec= is no longer extended",
        min=1.0,
    )
    health: HealthConfig = setting(factory=HealthConfig, doc="health endpoint")
    preview: PreviewConfig = setting(factory=PreviewConfig, doc="live preview page")


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = setting("info", "log level")
    format: Literal["auto", "plain", "journald"] = setting(
        "auto", "auto: journald style (priority prefix, no timestamp) under systemd, plain otherwise"
    )


ZONE_NAME = r"[A-Za-z0-9_-]{1,64}"  # a topic level and a Home Assistant object id as it is


@dataclass(frozen=True)
class ZoneConfig:
    name: str = setting(
        "", "the zone's name in topics, events and Home Assistant entities (required)", pattern=ZONE_NAME
    )
    polygon: tuple[tuple[float, ...], ...] = setting(
        factory=tuple,
        doc="corners [[x, y], ...] normalized to the frame (0..1, origin top-left); 3 to 128 (1024 over all zones), "
        "no edges crossing",
    )
    anchor: Literal["feet", "hips", "box_center"] = setting(
        "feet", "the point of a person tested: feet (mid-ankles, else the box's bottom centre), hips, box_center"
    )
    enter_after: float = setting(0.5, "seconds a person must be inside before they enter", min=0.0, max=3600.0)
    leave_after: float = setting(
        1.0, "seconds a person must be outside (or gone) before they leave", min=0.0, max=3600.0
    )
    camera: str = setting(
        "", "only on this camera (source.camera); empty: every camera", pattern=r"(|" + TOPIC_SAFE + ")"
    )


@dataclass(frozen=True)
class AnalysisConfig:
    enabled: bool = setting(False, "joint angles and zones after tracking; events on <prefix>/<camera>/events")
    min_keypoint_score: float = setting(
        0.3,
        "keypoints below this are not used for angles and anchors (an angle needing one is null)",
        min=0.0,
        max=1.0,
    )
    angles: bool = setting(True, "add each pose's joint angles (degrees) to the pose documents")
    event_lines: bool = setting(
        False, "also write each event as a line to the stdout and jsonl sinks, after its frame's (run --events)"
    )
    zones: tuple[ZoneConfig, ...] = setting(
        factory=tuple,
        doc="named areas where people are followed and counted, e.g. - {name: doorway, polygon: [[0.1, 0.5], "
        "[0.4, 0.5], [0.4, 1.0], [0.1, 1.0]]}; each entry's keys below",
    )
    behaviours: BehavioursSettings = setting(
        factory=BehavioursSettings,
        doc="pose matching, fall detection and repetition counting (each off by default; docs/behaviours.md)",
    )

    def __post_init__(self) -> None:
        behaviours = self.behaviours
        on = [n for n in ("match", "falls", "reps") if getattr(behaviours, n).enabled]
        if on and not self.enabled:  # a behaviour is an analyzer of this stage: it would silently do nothing
            raise ValueError(f"behaviours.{on[0]}.enabled needs analysis.enabled: true")
        zones = {z.name for z in self.zones}
        for i, name in enumerate(behaviours.falls.exclude):  # a typo would silently exclude nothing
            if name not in zones:
                known = ", ".join(sorted(zones)) or "none configured"
                raise ValueError(f"behaviours.falls.exclude[{i}]: no zone named {name!r} (zones: {known})")


# Decoder keys that are the engine's or the process's, not a camera's: one model input, one kernel set.
SHARED_DECODER_KEYS = ("multipose_long_side", "kernel", "numba_cache_dir")


@dataclass(frozen=True)
class CameraConfig:
    """One camera of ``cameras``: its source, and what it changes of the daemon's decoder and tracking.

    Each section starts from the top-level one (``source``, ``decoder``, ``tracking``) and takes
    this camera's keys over it (:func:`edgepose.config.load.expand_cameras`), so a camera names only
    what differs, usually ``source.uri``.
    """

    source: SourceConfig = setting(factory=SourceConfig, doc="this camera's source (its camera name is its key)")
    fps_cap: float = setting(
        0.0,
        "most frames a second processed from this camera; 0: no cap (the cameras share the engine round-robin)",
        min=0.0,
        max=240.0,
    )
    decoder: DecoderConfig = setting(factory=DecoderConfig, doc="thresholds for this camera")
    tracking: TrackingConfig = setting(factory=TrackingConfig, doc="tracking for this camera")


@dataclass(frozen=True)
class Config:
    device_id: str = setting(
        "", "this device's name in topics and documents; empty: the host name", pattern=f"(|{DEVICE_NAME})"
    )
    site: str = setting(
        "",
        "this device's site (one topic level) for {site} in mqtt.topic_prefix and meta",
        pattern=r"(|[^#+\s/$][^#+\s/]*)",
    )
    sinks: tuple[str, ...] = setting(
        factory=lambda: ("stdout",),
        doc="where poses go: stdout, jsonl:PATH (appends; jsonl:PATH?mode=w starts it afresh), mqtt (any, repeated)",
    )
    source: SourceConfig = setting(factory=SourceConfig, doc="where frames come from (with cameras: what they share)")
    cameras: dict[str, CameraConfig] = setting(
        factory=dict,
        doc="several cameras in one daemon, one engine: a map of name -> {source: {...}, fps_cap, decoder: {...}, "
        "tracking: {...}}, each section over the top-level one, e.g. {front: {source: {uri: picamera2:0}}, "
        "garden: {source: {uri: picamera2:1}, fps_cap: 5}}; empty: the one camera of source (README: Several "
        "cameras)",
        pattern=CAMERA_NAME,
    )
    model: ModelConfig = setting(factory=ModelConfig, doc="the pose model and where it runs")
    decoder: DecoderConfig = setting(factory=DecoderConfig, doc="turning model outputs into poses")
    tracking: TrackingConfig = setting(factory=TrackingConfig, doc="ids and smoothing across frames")
    analysis: AnalysisConfig = setting(factory=AnalysisConfig, doc="joint angles, zones and events (off by default)")
    mqtt: MqttConfig = setting(factory=MqttConfig, doc="the MQTT broker (used when sinks has mqtt)")
    service: ServiceConfig = setting(factory=ServiceConfig, doc="systemd, health and preview")
    logging: LoggingConfig = setting(factory=LoggingConfig, doc="logging")
