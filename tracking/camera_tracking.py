"""One camera's tracking state: detections in, capture events (new/update/end) out.

Frames arrive in order. Each target type has its own tracker; each track keeps
its best shot. A track is announced (`new`) as soon as it is confirmed and has
a shot that passes the camera's filters, re-announced (`update`) only when a
clearly better shot arrives, and closed (`end`) when it is lost.

Track ids are `<stream>.<first sequence>.<type><n>`: deterministic for a given
start point, so a replay after a crash (from the last committed frame) rebuilds
the same ids and revisions, and consumers de-duplicate the repeated events.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.analysis.detection import MAX_FOCUS, owning_person
from vigil.analysis.face_gate import MIN_CAPTURE_FACE
from vigil.analysis.frame_detection import FrameDetection
from vigil.schemas.camera import CameraConfig
from vigil.schemas.capture import CaptureEvent
from vigil.schemas.frame import MAX_MOTION_BOXES, FrameMeta
from vigil.schemas.target import TargetType
from vigil.tracking.best_shot import BestShotSelector
from vigil.tracking.tracker import Tracker

# Lost tracks stay claimable this long (by position and look): measured on vtest.avi,
# 6 s turns 32 person tracks into 25 for 21 walk-throughs counted by eye.
RELINK_SECONDS = 6.0
FOCUS_REACH = 1.5  # face widths around a live face track searched for it between key frames
# The whole frame is searched when this share of it moves (a crowd, a panning camera),
# or when the ingestor sent as many motion boxes as it may (MAX_MOTION_BOXES).
WIDE_MOTION = 0.25
# A still scene's key frames search the whole frame at least this often (seconds).
FULL_SEARCH_SECONDS = 10.0
# A busy scene's key frames search the whole frame at most this often (seconds); those in
# between are focused like the frames around them. Every small face that moves is searched
# around its motion anyway; the whole search is the net for what that misses.
BUSY_FULL_SEARCH_SECONDS = 4.0


@dataclass
class ShotRecord:
    """A candidate best shot: the detect step's detection plus the frame it came from."""

    detection: FrameDetection
    meta: FrameMeta


@dataclass
class TrackInfo:
    track_id: str
    target_type: TargetType
    first_seen: FrameMeta
    last_seen: FrameMeta
    frames_seen: int = 0
    revision: int = -1
    parent_track: str | None = None
    published: FrameDetection | None = None
    description: dict[str, Any] | None = None


@dataclass
class CaptureWork:
    """A capture event to describe (attributes, feature) and publish."""

    event: CaptureEvent
    info: TrackInfo
    shot: ShotRecord
    needs_description: bool
    revision: int


@dataclass
class CameraTracking:
    camera: CameraConfig
    trackers: dict[TargetType, Tracker[FrameDetection]] = field(default_factory=dict)
    shots: dict[TargetType, BestShotSelector] = field(default_factory=dict)
    tracks: dict[tuple[TargetType, int], TrackInfo] = field(default_factory=dict)
    prefix: str | None = None
    # Same face? Asked before a face track is re-acquired after a gap or relinked
    # (`analysis.face_identity.FaceIdentity`); without it, position and look decide.
    same_face: Callable[[FrameDetection, FrameDetection], bool] | None = None
    # The focused face search's memory (face_focus): when the whole frame was last
    # searched, and whether anything moved since.
    last_full_search: float = -math.inf
    moved_since_full_search: bool = True
    # What the last analysed frame showed: a still key frame is tracked with it.
    last_detections: list[FrameDetection] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A still scene is only re-detected every keyframe_interval: a track must outlive
        # that gap, or a parked car would be ended and re-announced at every key frame.
        lost_after = max(2.0, 2 * self.camera.keyframe_interval + 0.5)
        for target_type in self.camera.types:
            self.trackers[target_type] = Tracker(
                max_lost_seconds=lost_after,
                relink_seconds=RELINK_SECONDS,
                verify=self.same_face if target_type == TargetType.FACE else None,
                confirm_at_start=True,
            )
            self.shots[target_type] = BestShotSelector()

    def usable(self, detection: FrameDetection) -> bool:
        """A shot the camera's filters accept; a face must also be big enough to be seen.
        A weak detection continues its track but is never shown."""
        if detection.weak:
            return False
        min_size = self.camera.min_size
        if detection.type == TargetType.FACE:
            min_size = max(min_size, MIN_CAPTURE_FACE)
        return (
            min(detection.width, detection.height) >= min_size
            and detection.quality.score >= self.camera.min_quality
        )

    def face_focus(self, meta: FrameMeta) -> list[list[float]] | None:
        """Where this frame's small faces can be, for the detect step; None: anywhere.

        The detect step looks for small faces in these boxes (and in persons' head
        regions when it detects persons): the live face tracks, grown by FOCUS_REACH face
        widths (a batch of frames is sent before any is tracked, and fast faces move
        about a width per sampled frame), and the moving regions. A frame whose motion
        is unknown or everywhere searches the whole frame; key frames: `key_frame_focus`.
        """
        types = self.camera.types
        if not self.camera.focused_face_search:
            return None
        if TargetType.FACE not in types:
            return None
        if meta.keyframe:
            return self.key_frame_focus(meta)
        self.moved_since_full_search = True  # between key frames, only moving frames come
        return self.moving_focus(meta)

    def moving_focus(self, meta: FrameMeta) -> list[list[float]] | None:
        """The motion boxes and the live face tracks' reach; None (the whole frame) when the
        motion is unknown, too wide or past counting."""
        if not meta.motion or len(meta.motion) >= MAX_MOTION_BOXES:
            return None  # a lighting change, a moving camera, or motion past counting
        if meta.motion_fraction >= WIDE_MOTION:
            return None
        boxes = [[box.x1, box.y1, box.x2, box.y2] for box in meta.motion]
        return self.rounded(boxes + self.face_track_reach())

    def key_frame_focus(self, meta: FrameMeta) -> list[list[float]] | None:
        """A key frame searches the whole frame when anything moved since the last whole
        search BUSY_FULL_SEARCH_SECONDS ago or more, or FULL_SEARCH_SECONDS ago at the
        latest: a face that stopped is found there. A busy key frame in between is searched
        as the moving frames around it are. In a still scene a face cannot have arrived
        without motion, so a still key frame looks only where faces are (head regions, live
        face tracks); it keeps the scene's tracks alive at a fraction of the cost."""
        since = meta.source_time - self.last_full_search
        busy_due = self.moved_since_full_search and since >= BUSY_FULL_SEARCH_SECONDS
        if busy_due or not 0 <= since < FULL_SEARCH_SECONDS:
            self.moved_since_full_search = False
            self.last_full_search = meta.source_time
            return None
        if self.moved_since_full_search and meta.motion:
            return self.moving_focus(meta)
        return self.rounded(self.face_track_reach())

    def face_track_reach(self) -> list[list[float]]:
        boxes = []
        for track in self.trackers[TargetType.FACE].active():
            x1, y1, x2, y2 = (float(v) for v in track.box)
            reach = FOCUS_REACH * max(x2 - x1, y2 - y1)
            boxes.append([x1 - reach, y1 - reach, x2 + reach, y2 + reach])
        return boxes

    @staticmethod
    def rounded(boxes: list[list[float]]) -> list[list[float]]:
        return [[round(v, 1) for v in box] for box in boxes[:MAX_FOCUS]]

    def on_still_frame(self, meta: FrameMeta) -> list[CaptureWork]:
        """A still key frame (FrameMeta.still): the scene is as last detected, so the
        trackers see that detection again, which keeps a parked car's track alive."""
        return self.on_frame(meta, self.last_detections)

    def on_frame(self, meta: FrameMeta, detections: list[FrameDetection]) -> list[CaptureWork]:
        """Advance every tracker with one analysed frame; return the events it causes."""
        self.last_detections = detections
        if self.prefix is None:
            self.prefix = f"{meta.stream_id}.{meta.sequence}"
        work: list[CaptureWork] = []
        person_tracks: dict[int, str] = {}
        by_type = {t: [d for d in detections if d.type == t] for t in self.trackers}
        ordered = sorted(self.trackers, key=lambda t: t != TargetType.PERSON)  # persons first
        for target_type in ordered:
            typed = by_type[target_type]
            step = self.trackers[target_type].update(typed, meta.source_time)
            for index, number in step.assigned.items():
                info = self.observe(target_type, number, typed[index], meta)
                if target_type == TargetType.PERSON:
                    person_tracks[index] = info.track_id
            if target_type == TargetType.FACE:
                self.link_faces(
                    typed, step.assigned, by_type.get(TargetType.PERSON, []), person_tracks
                )
            for number in self.confirmed_numbers(target_type):
                work += self.announce(target_type, number, meta)
            for track in step.ended:
                work += self.close(target_type, track.track_id)
            for number in step.dropped:  # tentative tracks: forget, or state piles up
                self.tracks.pop((target_type, number), None)
                self.shots[target_type].forget(number)
        return work

    def observe(
        self, target_type: TargetType, number: int, detection: FrameDetection, meta: FrameMeta
    ) -> TrackInfo:
        key = (target_type, number)
        info = self.tracks.get(key)
        if info is None:
            info = TrackInfo(f"{self.prefix}.{target_type.value}{number}", target_type, meta, meta)
            self.tracks[key] = info
        info.last_seen = meta
        info.frames_seen += 1
        if self.usable(detection):
            self.shots[target_type].offer(
                number,
                quality=float(detection.quality.score),
                area=float(detection.width * detection.height),
                edge_cut=detection.quality.parts.edge < 1.0,
                payload=ShotRecord(detection, meta),
                timestamp=meta.source_time,
            )
        return info

    def link_faces(
        self,
        faces: list[FrameDetection],
        assigned: dict[int, int],
        persons: list[FrameDetection],
        person_tracks: dict[int, str],
    ) -> None:
        person_detections = [p.in_frame() for p in persons]
        for index, number in assigned.items():
            owner = owning_person(faces[index].in_frame(), person_detections)
            if owner is not None and owner in person_tracks:
                self.tracks[(TargetType.FACE, number)].parent_track = person_tracks[owner]

    def confirmed_numbers(self, target_type: TargetType) -> list[int]:
        return [track.track_id for track in self.trackers[target_type].active() if track.confirmed]

    def announce(self, target_type: TargetType, number: int, meta: FrameMeta) -> list[CaptureWork]:
        info = self.tracks.get((target_type, number))
        selector = self.shots[target_type]
        shot = selector.best(number)
        if info is None or shot is None:
            return []
        if info.revision < 0:
            event = CaptureEvent.NEW
        elif selector.should_update(number, meta.source_time):
            event = CaptureEvent.UPDATE
        else:
            return []
        return [self.emit(event, info, shot.payload, selector, number, meta.source_time)]

    def emit(self, event, info, record: ShotRecord, selector, number, now) -> CaptureWork:
        info.revision += 1
        selector.mark_published(number, now)
        changed = info.published is not record.detection
        info.published = record.detection
        return CaptureWork(event, info, record, needs_description=changed, revision=info.revision)

    def close(self, target_type: TargetType, number: int) -> list[CaptureWork]:
        info = self.tracks.pop((target_type, number), None)
        selector = self.shots[target_type]
        shot = selector.best(number)
        work = []
        if info is not None and shot is not None and info.revision >= 0:
            last = info.last_seen.source_time
            work.append(self.emit(CaptureEvent.END, info, shot.payload, selector, number, last))
        # A track never announced (no usable shot) ends silently: nothing to close.
        selector.forget(number)
        return work

    def finish(self) -> list[CaptureWork]:
        """End of stream: close every open track."""
        work: list[CaptureWork] = []
        for target_type, tracker in self.trackers.items():
            for track in tracker.finish():
                work += self.close(target_type, track.track_id)
        return work
