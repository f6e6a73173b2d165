"""Capture accuracy: Vigil's capture tracking and peer trackers on the same detections.

Every scene (`bench/capture_scenes.py`) is detected once with Vigil's real detect
step (`detect_frame`, as the Celery worker runs it); then each tracker is fed the
same detections frame by frame:

- `vigil`: the capture step's own per-camera state (`CameraTracking`: tracker,
  relinking, best shots, publishing rules), exactly as `vigil capture` runs it;
- Roboflow `trackers` 2.6: ByteTrack, OC-SORT and BoT-SORT (camera-motion
  compensation off: the scenes' cameras are fixed except the pan, and the tracker is
  given no frame, as the other peers);
- norfair (`norfair-enough`, IoU distance).

Scores: py-motmetrics (IDF1, MOTA, ID switches, fragmentations) on the faces wholly
inside the frame (a detection of a face cut by the frame edge is neither required nor
counted as false), plus the capture-level numbers a user sees:

- capture recall: identities with at least one capture, among those the detector
  finds in at least two frames and that are not below the capture minimum size;
- merges: captures whose detections span two identities;
- captures per identity; false captures (no identity behind them); captures of faces
  below the capture minimum;
- small attributes: captures published with age, gender or a feature on a face
  smaller than `MIN_ATTRIBUTE_FACE`.

A peer's "capture" is each track id it ever reports (they report confirmed tracks only).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import motmetrics as mm
import numpy as np

from bench.capture_scenes import Scene
from vigil.analysis.face_gate import MIN_ATTRIBUTE_FACE, MIN_CAPTURE_FACE
from vigil.analysis.face_identity import FaceIdentity
from vigil.analysis.frame_analysis import describe_shot, detect_frame
from vigil.analysis.frame_detection import FrameDetection
from vigil.analysis.image_decoder import decode_image
from vigil.models.types import iou_matrix
from vigil.schemas.analyze import Attribute
from vigil.schemas.camera import CameraConfig
from vigil.schemas.capture import CaptureEvent
from vigil.schemas.frame import FrameMeta
from vigil.schemas.geometry import Box, FrameSize
from vigil.schemas.target import TargetType
from vigil.tracking.assignment import match_by_iou
from vigil.tracking.camera_tracking import CameraTracking
from vigil.video.motion import MotionDetector

TRUTH_IOU = 0.5  # a box belongs to an identity at this IoU (the MOT convention)
PARTIAL_IOU = 0.3  # a hypothesis this close to a cut face is "don't care"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
TRACKERS = ("vigil", "bytetrack", "ocsort", "botsort", "norfair")
FOCUSED = "vigil-focused"  # Vigil with persons on: small faces searched where expected


@dataclass
class TrackerRun:
    """What one tracker did on one scene."""

    name: str
    # per frame: (track key, box, reported?) of every track holding a detection in that
    # frame; a tentative track is not reported yet, but its boxes count for merges
    boxes: list[list[tuple[str, np.ndarray, bool]]] = field(default_factory=list)
    # track keys reported as captures (Vigil: published; peers: any reported id)
    captures: set[str] = field(default_factory=set)
    small_attributes: int = 0
    seconds: float = 0.0


@dataclass
class Score:
    scene: str
    tracker: str
    idf1: float
    mota: float
    switches: int
    fragmentations: int
    identities: int
    captured: int
    merges: int
    captures: int
    owed_captures: int  # captures of the identities counted in `identities`
    small_captures: int  # captures of faces below MIN_CAPTURE_FACE
    false_captures: int
    small_attributes: int
    ms_per_frame: float

    @property
    def recall(self) -> float:
        return self.captured / self.identities if self.identities else 1.0

    @property
    def per_identity(self) -> float:
        return self.owed_captures / max(1, self.captured)


def camera() -> CameraConfig:
    """The camera a user gets by default, faces only."""
    return CameraConfig(id="scene", url="scene.mp4", types=[TargetType.FACE])


def focused_camera() -> CameraConfig:
    """Faces and persons: the face search is focused between key frames."""
    return CameraConfig(id="scene", url="scene.mp4", types=[TargetType.FACE, TargetType.PERSON])


def detect(scene: Scene, config: CameraConfig) -> list[list[FrameDetection]]:
    return [detect_frame(frame, config.types, config.min_size) for frame in scene.frames]


def frame_meta(
    scene: Scene, index: int, last: bool, motion: Iterable[np.ndarray] = (), keyframe: bool = True
) -> FrameMeta:
    height, width = scene.frames[index].shape[:2]
    seconds = index / scene.fps
    return FrameMeta(
        camera_id="scene",
        stream_id="bench",
        frame_index=index,
        sequence=index,
        source_time=seconds,
        captured_at=EPOCH + timedelta(seconds=seconds),
        size=FrameSize(width=width, height=height),
        end_of_stream=last,
        keyframe=keyframe,
        motion=[Box.from_xyxy([float(v) for v in box]) for box in motion],
    )


def run_vigil(
    scene: Scene, detections: list[list[FrameDetection]], config: CameraConfig, describe: bool
) -> TrackerRun:
    """Vigil's capture state on the shared detections."""
    return track_with_vigil(
        scene, config, describe, "vigil", lambda index, meta, tracking: detections[index]
    )


def run_vigil_focused(scene: Scene, describe: bool) -> TrackerRun:
    """Vigil with persons enabled too, as a default camera runs: between key frames the
    detect step searches small faces only where its tracks and the motion say
    (`CameraTracking.face_focus`); the scene is detected frame by frame for it, with
    the ingestor's motion detector and key frames every `keyframe_interval`. Every
    frame is detected (the ingestor would skip frames without motion), so the
    difference from `vigil` is the face search alone."""
    config = focused_camera()
    motion = MotionDetector()
    moved = [motion.detect(frame).boxes for frame in scene.frames]
    every = max(1, round(config.keyframe_interval * scene.fps))

    def meta_of(index: int) -> FrameMeta:
        return frame_meta(scene, index, False, moved[index], keyframe=index % every == 0)

    def detect_at(index: int, meta: FrameMeta, tracking: CameraTracking):
        focus = tracking.face_focus(meta)
        boxes = None if focus is None else [np.asarray(b, np.float32) for b in focus]
        found = detect_frame(scene.frames[index], config.types, config.min_size, boxes)
        return [d for d in found if d.type in config.types]

    return track_with_vigil(scene, config, describe, FOCUSED, detect_at, meta_of)


def track_with_vigil(
    scene: Scene,
    config: CameraConfig,
    describe: bool,
    name: str,
    detect_at: Callable[[int, FrameMeta, CameraTracking], list[FrameDetection]],
    meta_of: Callable[[int], FrameMeta] | None = None,
) -> TrackerRun:
    run = TrackerRun(name)
    tracking = CameraTracking(config, same_face=FaceIdentity())
    attributes = [Attribute.AGE, Attribute.GENDER]
    count = len(scene.frames)
    for index in range(count):
        meta = meta_of(index) if meta_of else frame_meta(scene, index, False)
        items = detect_at(index, meta, tracking)
        start = time.perf_counter()
        work = tracking.on_frame(meta, items)
        run.seconds += time.perf_counter() - start
        tracker = tracking.trackers[TargetType.FACE]
        run.boxes.append(
            [
                (f"{tracking.prefix}.face{t.track_id}", np.asarray(t.detection.box), t.confirmed)
                for t in tracker.active()
                if t.detection is not None
            ]
        )
        if index == count - 1:  # after the frame's boxes: finishing ends every track
            start = time.perf_counter()
            work += tracking.finish()
            run.seconds += time.perf_counter() - start
        for item in work:
            if item.info.target_type != TargetType.FACE:
                continue
            run.captures.add(item.info.track_id)
            if describe and item.needs_description and item.event != CaptureEvent.END:
                shot = item.shot.detection
                fields = describe_shot(decode_image(shot.crop), shot, attributes, True)
                carries = any(fields.get(k) for k in ("age", "gender", "feature"))
                if carries and min(shot.width, shot.height) < MIN_ATTRIBUTE_FACE:
                    run.small_attributes += 1
    return run


def supervision_detections(items: list[FrameDetection]):
    import supervision as sv

    if not items:
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.array([i.box for i in items], dtype=np.float32),
        confidence=np.array([i.score for i in items], dtype=np.float32),
        class_id=np.zeros(len(items), dtype=int),
    )


def roboflow_tracker(name: str, fps: float):
    """A `trackers` peer at our sampling rate, its thresholds at Vigil's (0.5 high score)."""
    import trackers

    if name == "bytetrack":
        return trackers.ByteTrackTracker(
            frame_rate=fps, track_activation_threshold=0.5, high_conf_det_threshold=0.5
        )
    if name == "ocsort":
        return trackers.OCSORTTracker(frame_rate=fps, high_conf_det_threshold=0.5)
    return trackers.BoTSORTTracker(
        frame_rate=fps,
        track_activation_threshold=0.5,
        high_conf_det_threshold=0.5,
        enable_cmc=False,
    )


def run_roboflow(name: str, scene: Scene, detections: list[list[FrameDetection]]) -> TrackerRun:
    run = TrackerRun(name)
    tracker = roboflow_tracker(name, scene.fps)
    for index, items in enumerate(detections):
        batch = supervision_detections(items)
        start = time.perf_counter()
        out = tracker.update(batch, timestamp=index / scene.fps)
        run.seconds += time.perf_counter() - start
        frame = []
        for box, track_id in zip(out.xyxy, out.tracker_id, strict=True):
            if track_id is not None and track_id >= 0:
                frame.append((f"{name}{track_id}", np.asarray(box), True))
                run.captures.add(f"{name}{track_id}")
        run.boxes.append(frame)
    return run


def run_norfair(scene: Scene, detections: list[list[FrameDetection]]) -> TrackerRun:
    import norfair

    run = TrackerRun("norfair")
    tracker = norfair.Tracker(
        distance_function="iou",
        distance_threshold=0.8,
        initialization_delay=1,
        hit_counter_max=round(scene.fps),
    )
    for items in detections:
        found = [
            norfair.Detection(
                np.asarray(i.box, dtype=np.float64).reshape(2, 2), scores=np.full(2, i.score)
            )
            for i in items
            if i.score >= 0.5
        ]
        start = time.perf_counter()
        objects = tracker.update(found)
        run.seconds += time.perf_counter() - start
        frame = []
        for obj in objects:
            if any(np.array_equal(obj.last_detection.points, d.points) for d in found):  # seen now
                frame.append((f"norfair{obj.id}", obj.last_detection.points.reshape(4), True))
                run.captures.add(f"norfair{obj.id}")
        run.boxes.append(frame)
    return run


def assign_truth(truth: dict[str, tuple[np.ndarray, bool]], boxes: list[np.ndarray]):
    """Identity of each box (or None) by one-to-one IoU matching at TRUTH_IOU."""
    names = list(truth)
    result: list[str | None] = [None] * len(boxes)
    if not names or not boxes:
        return result
    iou = iou_matrix(np.stack(boxes), np.stack([truth[n][0] for n in names]))
    for row, col in match_by_iou(iou, TRUTH_IOU - 1e-6):
        result[row] = names[col]
    return result


@dataclass
class Owed:
    """Identities a capture is owed to, and each identity's typical detected face side."""

    identities: set[str]
    side: dict[str, float]


def countable(scene: Scene, detections: list[list[FrameDetection]]) -> Owed:
    """Identities found by the detector in >= 2 frames, their median box not below the
    capture minimum (the detector's box, on which the minimum is defined, runs ~10%
    smaller than the pasted face). Weak detections are not found: they only continue
    tracks."""
    sides: dict[str, list[float]] = defaultdict(list)
    for truth, items in zip(scene.truth, detections, strict=True):
        whole = {n: t for n, t in truth.items() if t[1]}
        boxes = [np.asarray(i.box) for i in items if not i.weak]
        for name, box in zip(assign_truth(whole, boxes), boxes, strict=True):
            if name is not None:
                sides[name].append(float(min(box[2] - box[0], box[3] - box[1])))
    side = {n: float(np.median(v)) for n, v in sides.items()}
    owed = {n for n, v in sides.items() if len(v) >= 2 and side[n] >= MIN_CAPTURE_FACE}
    return Owed(owed, side)


def score(scene: Scene, run: TrackerRun, owed: Owed) -> Score:
    accumulator = mm.MOTAccumulator(auto_id=True)
    numbers: dict[str, int] = {}  # motmetrics 1.4 stores ids as floats: number the names
    number = lambda name: numbers.setdefault(name, len(numbers))  # noqa: E731
    composition: dict[str, Counter[str]] = defaultdict(Counter)
    for truth, frame in zip(scene.truth, run.boxes, strict=True):
        for (key, _, _), name in zip(
            frame, assign_truth(truth, [b for _, b, _ in frame]), strict=True
        ):
            composition[key][name] += 1
        keys = [k for k, _, reported in frame if reported]
        boxes = [b for _, b, reported in frame if reported]
        whole = [n for n, (_, full) in truth.items() if full]
        cut = [b for b, full in truth.values() if not full]
        kept = [
            i
            for i, box in enumerate(boxes)
            if not cut or iou_matrix(box[None], np.stack(cut)).max() < PARTIAL_IOU
        ]
        gt = np.stack([xywh(truth[n][0]) for n in whole]) if whole else np.empty((0, 4))
        hyp = np.stack([xywh(boxes[i]) for i in kept]) if kept else np.empty((0, 4))
        distances = iou_distances(gt, hyp)
        accumulator.update([number(n) for n in whole], [number(keys[i]) for i in kept], distances)
    summary = mm.metrics.create().compute(
        accumulator, metrics=["idf1", "mota", "num_switches", "num_fragmentations"]
    )
    row = summary.iloc[0]
    captured: Counter[str] = Counter()
    merges = false = small = 0
    for key in run.captures:
        people = {n for n in composition[key] if n is not None}
        if len(people) > 1:
            merges += 1
        majority = max(people, key=lambda n: composition[key][n]) if people else None
        if majority is None:
            false += 1
        elif majority not in owed.identities and owed.side.get(majority, 0) < MIN_CAPTURE_FACE:
            small += 1
        else:
            captured[majority] += 1
    frames = max(1, len(scene.frames))
    return Score(
        scene=scene.name,
        tracker=run.name,
        idf1=float(row["idf1"]),
        mota=float(row["mota"]),
        switches=int(row["num_switches"]),
        fragmentations=int(row["num_fragmentations"]),
        identities=len(owed.identities),
        captured=len(owed.identities & set(captured)),
        owed_captures=sum(captured[n] for n in owed.identities),
        small_captures=small,
        merges=merges,
        captures=len(run.captures),
        false_captures=false,
        small_attributes=run.small_attributes,
        ms_per_frame=1000 * run.seconds / frames,
    )


def iou_distances(gt: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """motmetrics' `distances.iou_matrix` (1 - IoU, NaN past TRUTH_IOU) on numpy 2.

    motmetrics 1.4.0, the latest release, calls `np.asfarray`, removed in numpy 2.
    """
    if gt.size == 0 or hyp.size == 0:
        return np.empty((len(gt), len(hyp)))
    to_xyxy = lambda a: np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], axis=1)  # noqa: E731
    distance = 1.0 - iou_matrix(to_xyxy(gt), to_xyxy(hyp))
    return np.where(distance > 1 - TRUTH_IOU, np.nan, distance)


def xywh(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    return np.array([x1, y1, x2 - x1, y2 - y1])


def evaluate(
    scenes: Iterable[Scene],
    trackers: Iterable[str] = TRACKERS,
    describe: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[Score]:
    """Scores of every tracker on every scene (each scene detected once)."""
    config = camera()
    scores = []
    names = list(trackers)
    for scene in scenes:
        if progress:
            progress(scene.name)
        detections = detect(scene, config)
        owed = countable(scene, detections)
        for name in names:
            if name == "vigil":
                run = run_vigil(scene, detections, config, describe)
            elif name == FOCUSED:
                run = run_vigil_focused(scene, describe)
            elif name == "norfair":
                run = run_norfair(scene, detections)
            else:
                run = run_roboflow(name, scene, detections)
            scores.append(score(scene, run, owed))
    return scores
