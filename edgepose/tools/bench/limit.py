"""The pipeline against its limit: the bare invoke loop on the same engine, in interleaved rounds.

The limit of a pipeline is its engine's own invoke loop: no Python stage can make frames come
faster than the accelerator returns them. Each round runs the bare loop, then the pipeline
serially, then overlapped (and, for a model with a crop region, overlapped with the crop region
one frame late, which takes decode and preprocess off the invoke's critical path), for the same
number of seconds, so a change in the machine's load hits every variant alike; the ratios come
from the sums over all rounds.

With ``--peer DIR`` (a copy of the TensorFlow Raspberry Pi example's ``movenet.py`` and ``data.py``,
:mod:`edgepose.tools.bench.peer`), each real-engine MoveNet SinglePose configuration also runs the
example's own loop in every round: the ratio to what users would otherwise run stands beside the
ratio to the limit.

``engine``: ``real`` (the configured model and accelerator) or ``sleep:7ms``, a stand-in whose
invoke sleeps with the GIL released and replays the real model's outputs on the same frames
(:mod:`edgepose.inference.standin`). Either way the pipeline runs the real supervisor (its
worker thread), decoder, tracker, document builder and JSON encoder.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.analysis.stage import make_analysis
from edgepose.config.sections import Config
from edgepose.documents.output import FrameOutput, Output
from edgepose.documents.poses import Stamp
from edgepose.errors import InputError
from edgepose.estimation.estimator import PoseEstimator
from edgepose.estimation.loaded import Loaded
from edgepose.frame import Frame
from edgepose.inference.engine import InferenceEngine
from edgepose.inference.standin import Recording, RecordingEngine, SleepEngine, parse_sleep
from edgepose.inference.supervisor import SupervisedEngine, SupervisorPolicy
from edgepose.pipeline.lanes import Lane
from edgepose.pipeline.runner import Pipeline, StageTimes
from edgepose.pose import FrameResult
from edgepose.sinks.base import Sink
from edgepose.tools.bench.peer import PEER_FORMAT, Peer, load_example, make_peer
from edgepose.tools.bench.runner import MemorySource
from edgepose.tracking import make_tracker

STAGES = ("preprocess", "hand-off", "decode", "tracking", "analysis", "document", "json", "sinks", "rest")


class TimedEngine(InferenceEngine):
    """An engine that keeps the duration (ms) of each of its own invokes, apart from any hand-off."""

    def __init__(self, engine: InferenceEngine, clock: Callable[[], float] = time.perf_counter) -> None:
        self.engine = engine
        self.clock = clock
        self.input, self.outputs, self.accelerator = engine.input, engine.outputs, engine.accelerator
        self.own_ms: list[float] = []

    def resize_input(self, shape: tuple[int, ...]) -> None:
        self.engine.resize_input(shape)
        self.input, self.outputs = self.engine.input, self.engine.outputs

    def invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        t0 = self.clock()
        outputs = self.engine.invoke(tensor)
        self.own_ms.append((self.clock() - t0) * 1e3)
        return outputs


class NullSink(Sink):
    """Takes every line and counts it: the JSON is encoded by the pipeline before any sink sees it."""

    name = "null"

    def __init__(self) -> None:
        self.count = 0

    def open(self, meta: dict[str, Any]) -> None:
        pass

    def write(self, output: Output) -> None:
        self.count += isinstance(output, FrameOutput)

    def close(self) -> None:
        pass


def raw_engine(loaded: Loaded) -> InferenceEngine:
    """The interpreter under the supervisor (the bare loop runs it with no worker thread), and under
    BlazePose's landmark wrapper, which skips the invoke of a frame without a person."""
    engine = loaded.estimator.engine
    engine = getattr(engine, "inner", engine)
    return engine.engine if isinstance(engine, SupervisedEngine) else engine


def record(loaded: Loaded, config: Config, images: Sequence[np.ndarray]) -> Recording:
    """The real model's outputs on ``images`` as one video (MoveNet through its crop region).

    A two-stage model (BlazePose) invokes its landmark model only where its detector finds a
    person: frames without one leave nothing to replay, which is refused with what to do.
    """
    recorder = RecordingEngine(raw_engine(loaded))
    estimator = loaded.estimator.on_engine(recorder)
    for n, image in enumerate(images):
        estimator.estimate(Frame(image, n, 0.0, 0.0, "cam0"), continuous=True)
    if not recorder.frames:
        raise InputError(
            f"{loaded.model_name} found no person in the {len(images)} frame(s) to record for the stand-in",
            "use a --source with a person in view",
        )
    return recorder.recording()


@dataclass
class Setup:
    """What every round of one configuration uses: the timed engine, and a supervised estimator on it."""

    engine_spec: str
    accelerator: str
    threads: int
    config: Config
    images: Sequence[np.ndarray]
    timed: TimedEngine
    estimator: PoseEstimator
    peer: Peer | None = None  # the TF example's loop on the same model and threads (real engine only)
    peer_note: str = "no --peer"  # why there is no peer, when there is none


def setup(loaded: Loaded, config: Config, engine_spec: str, images: Sequence[np.ndarray]) -> Setup:
    """The engine ``engine_spec`` names, timed, under a real supervisor, with the model's decoder."""
    if engine_spec == "real":
        inner, accelerator = raw_engine(loaded), loaded.accelerator
    else:
        recording = record(loaded, config, images)
        inner, accelerator = SleepEngine(recording, parse_sleep(engine_spec)), "sleep"
    timed = TimedEngine(inner)
    policy = SupervisorPolicy.from_config(config.model)
    supervised = SupervisedEngine(lambda: timed, accelerator, policy, inline=accelerator == "cpu")  # as open_engine
    estimator = loaded.estimator.on_engine(supervised)
    return Setup(engine_spec, accelerator, config.model.threads, config, images, timed, estimator)


@dataclass
class Tally:
    """Sums over every round of one variant (ms, except ``frames`` and ``seconds``)."""

    frames: int = 0
    seconds: float = 0.0
    sums: dict[str, float] = field(default_factory=dict)
    people: int = 0

    def add(self, name: str, ms: float) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + ms

    def mean(self, name: str) -> float:
        return self.sums.get(name, 0.0) / self.frames if self.frames else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


class _Recorder:
    """The pipeline's hook and stage probe of one round: sums every frame's stage times."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def hook(self, frame: Frame, result: FrameResult, document: dict[str, Any]) -> None:
        t, tally = result.timing, self.tally
        tally.add("preprocess", t.preprocess)
        tally.add("inference", t.inference)
        tally.add("decode", t.decode)
        tally.people += len(result.poses)

    def probe(self, stages: StageTimes) -> None:
        tally = self.tally
        tally.add("tracking", stages.track)
        tally.add("analysis", stages.analysis)
        tally.add("document", stages.document)
        tally.add("json", stages.encode)
        tally.add("sinks", stages.sinks)


@dataclass(frozen=True)
class Variant:
    """One way to run the frames: ``bare`` is the engine's own loop; the others are pipelines."""

    name: str
    bare: bool = False
    overlap: bool = False
    exact_crop: bool = True
    peer: bool = False  # the TF example's loop (``bench.peer``), not edgepose


BARE = Variant("bare", bare=True)
PEER = Variant("peer", peer=True)
SERIAL = Variant("serial")
OVERLAP = Variant("overlap", overlap=True)
OVERLAP_LATE = Variant("overlap-late", overlap=True, exact_crop=False)


def variants_for(estimator: PoseEstimator, peer: bool = False) -> tuple[Variant, ...]:
    """Bare, serial, overlapped; overlapped with a late crop region where the model has one; the peer."""
    late = (OVERLAP_LATE,) if estimator.uses_crop_region else ()
    return (BARE, SERIAL, OVERLAP, *late, *((PEER,) if peer else ()))


def bare_round(s: Setup, tensor: np.ndarray, seconds: float, tally: Tally) -> None:
    """The engine's own invoke loop on one input, on this thread: the limit."""
    engine = s.timed.engine
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        engine.invoke(tensor)
        n += 1
    tally.frames += n
    tally.seconds += elapsed


def pipeline_round(s: Setup, variant: Variant, seconds: float, tally: Tally) -> None:
    """One pipeline run of ``seconds`` on the looping frames, with tracking and JSON, into ``tally``."""
    config = s.config
    s.estimator.reset()
    s.timed.own_ms.clear()
    recorder = _Recorder(tally)
    stamp = Stamp(config.device_id, s.estimator.model_name, s.accelerator)
    tracking = make_tracker(config.tracking, config.decoder.min_keypoint_score)
    analysis = make_analysis(config, "cam0")  # with --set analysis.enabled=true (and zones): its row in the table
    source = MemorySource(s.images, continuous=True, limit=10**9)
    lane = Lane("cam0", source, s.estimator, tracking=tracking, analysis=analysis)
    pipeline = Pipeline(
        [lane],
        [NullSink()],
        stamp,
        hooks=[recorder.hook],
        overlap=variant.overlap,
        probe=recorder.probe,
        exact_crop=variant.exact_crop,
    )
    t0 = time.perf_counter()
    stats = pipeline.run(duration=seconds)
    tally.seconds += time.perf_counter() - t0
    tally.frames += stats.processed
    tally.add("own", sum(s.timed.own_ms[: stats.processed]))


def input_tensor(estimator: PoseEstimator, image: np.ndarray) -> np.ndarray:
    """The whole frame as the model's input (what the bare loop invokes on)."""
    prepared = estimator.prepare(Frame(image, 0, 0.0, 0.0, "cam0"), continuous=False)
    return np.array(prepared.tensor, copy=True)


def interleaved(setups: Sequence[Setup], seconds: float, rounds: int) -> list[dict[str, Tally]]:
    """``rounds`` rounds; each runs every variant of every setup for ``seconds / rounds``; sums per variant.

    Interleaving every configuration and variant inside each round is what makes their ratios
    comparable on a machine whose load changes (other jobs, frequency scaling).
    """
    plans = [(s, variants_for(s.estimator, s.peer is not None), input_tensor(s.estimator, s.images[0])) for s in setups]
    for s, variants, tensor in plans:  # first-call costs (kernels, caches) stay out of the figures
        bare_round(s, tensor, 0.3, Tally())
        pipeline_round(s, SERIAL, 0.5, Tally())
        if PEER in variants:
            run_variant(s, PEER, tensor, 0.3, Tally())
    tallies = [{v.name: Tally() for v in variants} for _, variants, _ in plans]
    for r in range(rounds):
        for (s, variants, tensor), tally in zip(plans, tallies, strict=True):
            k = r % len(variants)  # each round starts with another variant: no variant always follows the same one
            for v in (*variants[k:], *variants[:k]):
                run_variant(s, v, tensor, seconds / rounds, tally[v.name])
    return tallies


def run_variant(s: Setup, variant: Variant, tensor: np.ndarray, seconds: float, tally: Tally) -> None:
    """One round of ``variant``: the bare loop touches the engine alone, the peer its own loop, every
    other variant the pipeline."""
    if variant.bare:
        bare_round(s, tensor, seconds, tally)
    elif variant.peer:
        if s.peer is None:
            raise ValueError("the peer variant needs a setup with a peer")
        frames, elapsed = s.peer.round(s.images, seconds)
        tally.frames += frames
        tally.seconds += elapsed
    else:
        pipeline_round(s, variant, seconds, tally)


def stage_means(tally: Tally, bare_invoke_ms: float) -> dict[str, float]:
    """Mean ms a frame: each stage, the hand-off (the worker's invoke time less the engine's own),
    and ``rest``: the frame period less every stage and the engine's invoke (what the loop itself,
    the slot and the capture thread cost; negative when stages overlap the invoke)."""
    own = tally.mean("own") or bare_invoke_ms
    means = {
        "preprocess": tally.mean("preprocess"),
        "hand-off": tally.mean("inference") - own,
        "decode": tally.mean("decode"),
        "tracking": tally.mean("tracking"),
        "analysis": tally.mean("analysis"),
        "document": tally.mean("document"),
        "json": tally.mean("json"),
        "sinks": tally.mean("sinks"),
    }
    period = 1000.0 / tally.fps if tally.fps else 0.0
    means["rest"] = period - own - sum(means.values())
    means["invoke"] = own
    means["period"] = period
    return means


def busy_share(means: dict[str, float]) -> float | None:
    """The engine's own invoke time over the frame period: 1.0 when the accelerator never waits.

    A second view of the limit beside the bare loop's ratio: it does not depend on how late the
    bare loop's own invokes return (a stand-in's sleeps wake late on a loaded machine), only on
    how much of each frame period the engine spends invoking.
    """
    return means["invoke"] / means["period"] if means["period"] else None


def summary(s: Setup, tallies: dict[str, Tally]) -> dict[str, Any]:
    """fps per variant, ratio to the bare loop, people a frame, and the stage table."""
    bare = tallies[BARE.name]
    bare_ms = 1000.0 / bare.fps if bare.fps else 0.0
    peer = tallies.get(PEER.name)
    peer_fps = peer.fps if peer is not None else 0.0
    out: dict[str, Any] = {
        "engine": s.engine_spec,
        "accelerator": s.accelerator,
        "model": s.estimator.model_name,
        "threads": s.threads,
        "bare_fps": round(bare.fps, 1),
        "peer_fps": round(peer_fps, 1) if peer is not None else None,
        "peer_ratio": round(peer_fps / bare.fps, 3) if peer is not None and bare.fps else None,
        "peer_note": "" if peer is not None else s.peer_note,
        "variants": {},
    }
    for name, tally in tallies.items():
        if name in (BARE.name, PEER.name):
            continue
        means = stage_means(tally, bare_ms)
        out["variants"][name] = {
            "fps": round(tally.fps, 1),
            "ratio": round(tally.fps / bare.fps, 3) if bare.fps else None,
            "vs_peer": round(tally.fps / peer_fps, 3) if peer_fps else None,
            "busy": None if (busy := busy_share(means)) is None else round(busy, 3),
            "frames": tally.frames,
            "people": round(tally.people / tally.frames, 1) if tally.frames else 0.0,
            "stages_ms": {k: round(v, 3) for k, v in means.items()},
        }
    return out


def markdown(summaries: Sequence[dict[str, Any]]) -> str:
    """One row per configuration and variant: fps, ratio to the bare loop, the peer's fps and the ratio
    to it (or why there is no peer), busy (the engine's share of the frame period), people, the stage
    means."""
    head = [
        "engine",
        "model",
        "threads",
        "variant",
        "fps",
        "bare fps",
        "ratio",
        "peer fps",
        "vs peer",
        "busy",
        "people",
        *STAGES,
        "period",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        for name, v in s["variants"].items():
            st = v["stages_ms"]
            busy = "-" if v["busy"] is None else f"{v['busy']:.3f}"
            peer_fps = s["peer_note"] if s["peer_fps"] is None else f"{s['peer_fps']:.1f}"
            vs_peer = "-" if v["vs_peer"] is None else f"{v['vs_peer']:.3f}"
            cells = [s["engine"], s["model"], str(s["threads"]), name, f"{v['fps']:.1f}", f"{s['bare_fps']:.1f}"]
            cells += [f"{v['ratio']:.3f}", peer_fps, vs_peer, busy, f"{v['people']:.1f}"]
            cells += [*(f"{st[k]:.2f}" for k in STAGES), f"{st['period']:.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def peer_note(loaded: Loaded, engine: str, have_example: bool) -> str:
    """Why a setup gets no peer ('' when it gets one): the example runs one model on the CPU only."""
    if not have_example:
        return "no --peer"
    if engine != "real" or loaded.accelerator != "cpu":
        return "n/a (CPU only)"
    if loaded.estimator.decoder.format != PEER_FORMAT:
        return "n/a (MoveNet SinglePose only)"
    return ""


def run_limit(
    config: Config,
    models: Sequence[str],
    engines: Sequence[str],
    threads: Sequence[int],
    images: Sequence[np.ndarray],
    seconds: float,
    rounds: int,
    build: Callable[[Config], Loaded],
    peer_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Every model x engine (x thread count, for the real engine) in one interleaved run; a summary each.

    ``seconds``: each variant's total time over all rounds. The stand-in replays one recording made
    at the first thread count (its outputs do not depend on threads). ``peer_dir``: the TF example's
    files (:mod:`edgepose.tools.bench.peer`), run beside each real-engine MoveNet SinglePose setup.
    """
    example = load_example(peer_dir) if peer_dir is not None else None
    setups = []
    for model in models:
        for engine in engines:
            for count in threads if engine == "real" else threads[:1]:
                m = dataclasses.replace(config.model, name=model, threads=count)
                one = dataclasses.replace(config, model=m)
                loaded = build(one)
                s = setup(loaded, one, engine, images)
                s.peer_note = peer_note(loaded, engine, example is not None)
                if example is not None and not s.peer_note:
                    s.peer = make_peer(example, loaded.model_path, count)
                setups.append(s)
    tallies = interleaved(setups, seconds, rounds)
    return [summary(s, t) for s, t in zip(setups, tallies, strict=True)]
