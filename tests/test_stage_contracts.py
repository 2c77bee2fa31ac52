"""The stage contracts (Protocols) and their defaults: what the pipeline may call on every stage."""

from __future__ import annotations

import numpy as np
import pytest

from edgepose.config.sections import DecoderConfig
from edgepose.decode.base import Decoded, Decoder
from edgepose.decode.crop_region import CropRegion, next_crop_region
from edgepose.decode.movenet_single import MoveNetSingleDecoder
from edgepose.documents.output import CameraQuiet, Reloaded
from edgepose.estimation.preprocess import Region, full_region
from edgepose.frame import Frame
from edgepose.health import Health
from edgepose.inference.engine import InferenceEngine, TensorSpec
from edgepose.inference.standin import Recording, SleepEngine
from edgepose.keypoints import KP
from edgepose.pose import Pose, pose_from_keypoints, poses_from_arrays
from edgepose.service.health_http import Probe, render_metrics
from edgepose.sinks.base import Sink
from edgepose.sinks.jsonlines import StreamSink
from edgepose.sources.base import Source
from edgepose.sources.retry import RetryingSource
from edgepose.tools.bench.limit import NullSink, TimedEngine
from edgepose.tools.bench.runner import MemorySource

INPUT = TensorSpec("input", 0, (1, 192, 192, 3), np.dtype(np.uint8))


class Bare(Source):
    """A source that implements only what it must."""

    name = "bare"

    def read(self) -> Frame | None:
        return None


def person(x: float, y: float, score: float = 0.9) -> np.ndarray:
    """Keypoints of an upright person around (x, y), every joint seen with ``score``."""
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = x + np.linspace(-20, 20, 17)
    kp[:, 1] = y + np.linspace(-60, 60, 17)
    kp[:, 2] = score
    for name, (dx, dy) in {
        "left_shoulder": (-15, -40),
        "right_shoulder": (15, -40),
        "left_hip": (-10, 10),
        "right_hip": (10, 10),
    }.items():
        kp[KP[name], :2] = (x + dx, y + dy)
    return kp


def frame(width: int = 1280, height: int = 720) -> Frame:
    return Frame(np.zeros((height, width, 3), np.uint8), 0, 0.0, 0.0, "cam0")


def test_source_defaults_let_the_pipeline_call_every_capability() -> None:
    source = Bare()
    assert (source.live, source.continuous, source.fps) == (False, False, 0.0)
    assert source.interrupt() is None
    assert source.check_stall() is False


def test_the_retry_wrapper_passes_its_source_capabilities_on() -> None:
    inner = MemorySource([np.zeros((4, 4, 3), np.uint8)], continuous=True)
    inner.live, inner.fps = True, 12.5
    wrapped = RetryingSource(inner, Health())
    assert (wrapped.live, wrapped.continuous, wrapped.fps) == (True, True, 12.5)


def test_engine_defaults() -> None:
    class Fixed(InferenceEngine):
        input, outputs = INPUT, ()

        def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
            return []

    engine = Fixed()
    assert engine.accelerator == "cpu"
    assert engine.close() is None
    with pytest.raises(NotImplementedError, match="fixed input"):
        engine.resize_input((1, 256, 256, 3))
    timed = TimedEngine(SleepEngine(Recording(INPUT, (), ((),)), 0.0))
    assert timed.accelerator == "sleep" and timed.close() is None


def test_sink_defaults_and_metrics_of_a_sink_without_counters() -> None:
    sink = NullSink()
    assert (sink.dropped, dict(sink.counters())) == (0, {})
    text = render_metrics(Probe("running", True, (), {}, sinks=(sink, StreamSink())))
    assert 'edgepose_sink_dropped_total{sink="null"} 0' in text
    assert 'sink="stdout"' in text


def test_sink_reload_and_commands_are_part_of_the_contract() -> None:
    """A reload and a quiet camera reach every sink through write (a sink ignores what it has no use
    for); the stream sinks follow analysis.event_lines."""
    from edgepose.config import load_config

    null = NullSink()
    null.write(Reloaded(load_config(None, [], env={}), {}))  # nothing to do, nothing counted
    null.write(CameraQuiet("cam0"))
    assert null.count == 0
    stream = StreamSink()
    assert stream.events is False
    stream.write(Reloaded(load_config(None, ["analysis.enabled=true", "analysis.event_lines=true"], env={}), {}))
    assert stream.events is True
    stream.write(Reloaded(load_config(None, ["analysis.enabled=false", "analysis.event_lines=true"], env={}), {}))
    assert stream.events is False


def test_decoder_defaults() -> None:
    class One(Decoder):
        format, multi_person = "one", False

        def decode(self, outputs, region):  # type: ignore[no-untyped-def]
            return [pose_from_keypoints(person(100, 100), 0.5, 0.2)]

    decoder = One()
    assert decoder.input_size_for(640, 480) is None
    decoded = decoder.decode_frame([], Region(0, 0, 1, 1))
    assert len(decoded.poses) == 1 and decoded.anchor is None


def test_movenet_single_reports_the_anchor_under_the_threshold_and_keeps_no_state() -> None:
    spec = TensorSpec("out", 0, (1, 1, 17, 3), np.dtype(np.float32))
    decoder = MoveNetSingleDecoder(spec, DecoderConfig(min_pose_score=0.99))
    raw = np.full((1, 1, 17, 3), 0.5, np.float32)
    decoded = decoder.decode_frame([raw], Region(0, 0, 100, 100))
    assert decoded.poses == [] and decoded.anchor is not None and decoded.anchor.score == pytest.approx(0.5)
    assert decoder.decode([raw], Region(0, 0, 100, 100)) == []
    assert not hasattr(decoder, "last_pose")


def test_crop_region_follows_the_last_frame_of_the_same_size() -> None:
    crop = CropRegion(192, 192)
    whole = full_region(1280, 720, 192, 192)
    assert crop.region_for(frame()) == whole  # nothing seen yet
    kp = person(600, 300)
    crop.update(Decoded([pose_from_keypoints(kp, 0.9, 0.2)]), 1280, 720)
    assert crop.region_for(frame()) == next_crop_region(kp, 1280, 720) != whole
    assert crop.region_for(frame(640, 480)) == full_region(640, 480, 192, 192)  # another size: cut whole
    crop.reset()
    assert crop.region_for(frame()) == whole


def test_crop_region_prefers_the_anchor_then_the_best_pose() -> None:
    crop = CropRegion(192, 192)
    low, high, anchor = person(300, 300), person(900, 300), person(600, 400)
    poses = [pose_from_keypoints(low, 0.3, 0.2), pose_from_keypoints(high, 0.8, 0.2)]
    crop.update(Decoded(poses), 1280, 720)
    assert crop.region_for(frame()) == next_crop_region(high, 1280, 720)
    crop.update(Decoded(poses, anchor=pose_from_keypoints(anchor, 0.1, 0.2)), 1280, 720)
    assert crop.region_for(frame()) == next_crop_region(anchor, 1280, 720)
    crop.update(Decoded([]), 1280, 720)  # nobody: the next frame is cut whole
    assert crop.region_for(frame()) == full_region(1280, 720, 192, 192)


def test_the_pose_builders_agree_and_keep_the_models_own_boxes() -> None:
    rng = np.random.default_rng(3)
    kps = rng.uniform(0, 500, (3, 17, 3)).astype(np.float32)
    kps[..., 2] = rng.uniform(0, 1, (3, 17))
    scores = np.array([0.9, 0.5, 0.2], np.float32)
    built = poses_from_arrays(kps, scores, 0.3)
    one_by_one = [pose_from_keypoints(kps[i], float(scores[i]), 0.3) for i in range(3)]
    assert [(p.score, p.box) for p in built] == [(p.score, p.box) for p in one_by_one]
    own = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert [p.box for p in poses_from_arrays(kps, scores, boxes=own)] == [tuple(map(float, b)) for b in own]
    assert poses_from_arrays(kps[:0], scores[:0]) == []
    assert all(isinstance(p, Pose) for p in built)


def test_every_stage_implementation_declares_its_contract() -> None:
    from edgepose.decode import FORMATS  # noqa: F401 - imports every decoder module
    from edgepose.decode.heatmap import HeatmapDecoder
    from edgepose.decode.movenet_multi import MoveNetMultiDecoder
    from edgepose.decode.posenet_multi import PoseNetMultiDecoder
    from edgepose.decode.posenet_single import PoseNetSingleDecoder
    from edgepose.inference.engine import LiteRtEngine
    from edgepose.inference.standin import RecordingEngine
    from edgepose.inference.supervisor import SupervisedEngine
    from edgepose.sinks.jsonlines import JsonlFileSink
    from edgepose.sinks.mqtt import MqttSink
    from edgepose.sources.capture import OpenCvCapture
    from edgepose.sources.files import ImageSource
    from edgepose.sources.picamera2 import Picamera2Source
    from edgepose.sources.video import VideoFileSource

    for cls in (ImageSource, VideoFileSource, OpenCvCapture, Picamera2Source, RetryingSource, MemorySource):
        assert Source in cls.__mro__, cls  # explicit: the defaults are inherited
    for cls in (LiteRtEngine, SupervisedEngine, SleepEngine, RecordingEngine, TimedEngine):
        assert InferenceEngine in cls.__mro__, cls  # explicit: the defaults are inherited
    for cls in (MoveNetSingleDecoder, MoveNetMultiDecoder, PoseNetSingleDecoder, PoseNetMultiDecoder, HeatmapDecoder):
        assert Decoder in cls.__mro__, cls  # explicit: the defaults are inherited
    for cls in (StreamSink, JsonlFileSink, MqttSink, NullSink):
        assert Sink in cls.__mro__, cls  # explicit: the defaults are inherited
