"""Which detectors run for a request, and how faces are searched inside person boxes.

Shared by the Image API (one picture) and the video pipeline's detect step (one
frame): both ask for a set of target types and get detections grouped by type.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from vigil.models.face_detector import FaceDetector
from vigil.models.object_detector import ObjectDetector
from vigil.models.types import Detection, iou_matrix
from vigil.schemas.target import TargetType

VEHICLE_LABELS = frozenset({"bicycle", "car", "motorcycle", "bus", "truck"})
# Faces are searched down to this size by default: captures need faces of
# face_gate.MIN_CAPTURE_FACE (20 px) found in nearly every frame, and tiles sized for
# 24 px found only 9 of 30 24-px faces and 48 of 71 28-px ones on the harness's scenes;
# sized for 16 px, 30/30 and 71/71, at about twice the tiles (bench/capture_scenes.py).
DEFAULT_MIN_FACE = 16
PERSON_HEAD_FRACTION = 0.45
# Between key frames faces are searched where they can be (live face tracks, motion no
# person explains, and persons' head regions when persons are detected anyway); the
# whole frame is tiled for faces from this size up only. 768x576: 23 model calls for the
# whole frame at 16 px, 2 at 40 px; 1920x1080: 93 and 17 (models/face_detector.
# plan_windows; the 40-px net leaves out the whole-image window). One call for the whole
# frame (faces from ~7% of its longer side) was tried and lost a 64-px face for a frame on
# the harness's crossing scene at 960x540.
FOCUSED_FRAME_MIN_FACE = 40
# A focus box overlapping a person's box this much (IoU) is that person's own motion:
# the person's head region is searched already. Only a person this tall explains motion:
# a smaller "person" may be a face the object detector took for one, its head region a
# forehead.
EXPLAINED_IOU = 0.4
EXPLAINING_PERSON_PX = 2 * FOCUSED_FRAME_MIN_FACE
# A focus box lying this much inside the boxes of standing persons too small to show a
# face of the smallest size searched (`may_show_face`), each grown by how far a walker's
# motion reaches past it (a step to either side, MOTION_REACH of its width, and a little in
# height), is their motion: a part of a walker (legs, the swing of an arm) or several
# small walkers in one blob, where no face of that size can be. On vtest.avi (walkers of
# 80-110 px) this leaves 1.8 of 4.4 motion boxes a frame to search, from 3.9 by IoU alone;
# the faces no longer found there were all under 15 px (captures need 20). Larger persons
# explain nothing this way: a wall of faces gives NanoDet tall "persons" (120 x 408 px)
# whose reach would hide real faces.
COVERED_SHARE = 0.8
MOTION_REACH = (0.5, 0.15)
COVERAGE_GRID = 8  # points per side of a focus box tested for coverage
# A focus box is grown by this many pixels before it is searched: motion outlines moving
# edges, and a face that needs this search is smaller than FOCUSED_FRAME_MIN_FACE.
FOCUS_MARGIN_PX = 0.8 * FOCUSED_FRAME_MIN_FACE
BODY_FACES = 7.0  # a full body's height in face heights, at most (an adult: 7-8 heads)
FULL_BODY_ASPECT = 2.0  # a person box this much taller than wide is a whole body
# A search region lying this much inside a larger one is not searched on its own.
CONTAINED_SHARE = 0.9
MAX_FOCUS = 64  # boxes; a caller's focus beyond this is cut (one model call or more each)


@dataclass
class Detections:
    """Detections of one image, by target type."""

    faces: list[Detection] = field(default_factory=list)
    persons: list[Detection] = field(default_factory=list)
    vehicles: list[Detection] = field(default_factory=list)

    def of(self, target_type: TargetType) -> list[Detection]:
        return {
            TargetType.FACE: self.faces,
            TargetType.PERSON: self.persons,
            TargetType.VEHICLE: self.vehicles,
        }[target_type]


def head_region(person_box: np.ndarray) -> np.ndarray:
    """Upper part of a person box, where a face would be; searched for small faces."""
    x1, y1, x2, y2 = (float(v) for v in person_box)
    return np.array([x1, y1, x2, y1 + (y2 - y1) * PERSON_HEAD_FRACTION], dtype=np.float32)


def owning_person(face: Detection, persons: list[Detection]) -> int | None:
    """Index of the person whose head region holds the face centre (tightest box wins)."""
    cx = float(face.box[0] + face.box[2]) / 2
    cy = float(face.box[1] + face.box[3]) / 2
    best, best_area = None, float("inf")
    for index, person in enumerate(persons):
        x1, y1, x2, y2 = (float(v) for v in head_region(person.box))
        area = person.width * person.height
        if x1 <= cx <= x2 and y1 <= cy <= y2 and area < best_area:
            best, best_area = index, area
    return best


def explained(
    box: np.ndarray, persons: list[Detection], faceless: Sequence[Detection] = ()
) -> bool:
    """Whether `box` is the motion of one person tall enough to explain it, or lies
    where `faceless` persons (standing, too small to show a face searched for) move."""
    box = np.asarray(box[:4], np.float32)
    tall = [p.box for p in persons if float(p.box[3] - p.box[1]) >= EXPLAINING_PERSON_PX]
    if tall and iou_matrix(box, np.stack(tall)).max() >= EXPLAINED_IOU:
        return True
    reach = [p.box for p in faceless]
    return bool(reach) and covered_share(box, np.stack(reach)) >= COVERED_SHARE


def covered_share(box: np.ndarray, bodies: np.ndarray) -> float:
    """The share of `box` inside the (N, 4) `bodies` grown by MOTION_REACH, sampled on a
    COVERAGE_GRID x COVERAGE_GRID grid of the box's points."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    steps = (np.arange(COVERAGE_GRID, dtype=np.float32) + 0.5) / COVERAGE_GRID
    xs, ys = np.meshgrid(x1 + steps * (x2 - x1), y1 + steps * (y2 - y1))
    reach = (bodies[:, 2:4] - bodies[:, 0:2]) * np.asarray(MOTION_REACH, np.float32)
    low, high = bodies[:, 0:2] - reach, bodies[:, 2:4] + reach
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)[:, None, :]
    inside = ((points >= low) & (points <= high)).all(axis=2).any(axis=1)
    return float(inside.mean())


def may_show_face(person: Detection, min_face: int, image_height: int) -> bool:
    """Whether a person's head region can hold a face of `min_face` px.

    A whole standing body is about 7 head heights, and BlazeFace's face box is smaller
    than the head, so a full body (twice as tall as wide) shorter than BODY_FACES x
    `min_face` shows no face worth searching for. A box that is not a full body (seated,
    hidden, cut by the frame's bottom edge) may hold a larger face: always searched.
    """
    x1, y1, x2, y2 = (float(v) for v in person.box)
    full_body = (y2 - y1) >= FULL_BODY_ASPECT * (x2 - x1) and y2 < image_height - 2
    return not full_body or (y2 - y1) >= BODY_FACES * min_face


def grown(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    m = FOCUS_MARGIN_PX
    return np.array([x1 - m, y1 - m, x2 + m, y2 + m], np.float32)


def uncontained(regions: list[np.ndarray]) -> list[np.ndarray]:
    """The regions less those lying CONTAINED_SHARE or more inside a larger one.

    Each region is searched for faces down to the same size, so a head region inside
    a moving region's search (a person walking) would only be searched twice.
    """
    if len(regions) < 2:
        return regions
    boxes = np.stack([np.asarray(r[:4], np.float32) for r in regions])
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    top_left = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    overlap = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    inside = overlap >= CONTAINED_SHARE * areas[:, None]  # [i, j]: i lies inside j
    larger = (areas[None, :] > areas[:, None]) | (
        (areas[None, :] == areas[:, None])
        & (np.arange(len(boxes))[None, :] < np.arange(len(boxes))[:, None])
    )
    dropped = (inside & larger).any(axis=1)
    return [region for region, drop in zip(regions, dropped, strict=True) if not drop]


class Detectors:
    """Lazily loaded detectors; only the models a request needs are run.

    `object_border` pads the frame before NanoDet: close-up pictures need it (an
    object filling the frame scores low), CCTV frames do not.
    """

    def __init__(self, object_border: float = 0.0) -> None:
        self.object_border = object_border
        self._face_detectors: dict[int, FaceDetector] = {}

    @cached_property
    def objects(self) -> ObjectDetector:
        return ObjectDetector(border=self.object_border)

    def faces(self, min_face: int) -> FaceDetector:
        """Face detector tuned to the smallest face asked for (fewer tiles for larger faces)."""
        min_face = max(DEFAULT_MIN_FACE, min_face)
        if min_face not in self._face_detectors:
            self._face_detectors[min_face] = FaceDetector(min_face=min_face)
        return self._face_detectors[min_face]

    def detect(
        self,
        image: np.ndarray,
        types: Collection[TargetType],
        min_face: int = 0,
        focus: list[np.ndarray] | None = None,
        weak: bool = False,
    ) -> Detections:
        """Detections of the asked types; faces down to `min_face` (at least 16 px).

        `focus` None tiles the whole frame for the smallest faces (pictures, key
        frames). A list of boxes where faces are expected (live face tracks, motion)
        narrows that search: the whole frame is tiled for faces of FOCUSED_FRAME_MIN_FACE,
        and smaller ones are looked for around the focus boxes that are not a person's
        own motion and, where persons are detected (persons or vehicles asked for), in
        the head regions of those large enough to show one. `weak` adds the detections
        scoring just under the detectors' thresholds, marked weak, for a tracker; faces
        are searched around the other persons only.
        """
        found = Detections()
        if TargetType.PERSON in types or TargetType.VEHICLE in types:
            objects = self.objects.detect(image, weak=weak)
            found.persons = [d for d in objects if d.label == "person"]
            found.vehicles = [d for d in objects if d.label in VEHICLE_LABELS]
        if TargetType.FACE in types:
            persons = [p for p in found.persons if not p.weak]
            regions = [head_region(p.box) for p in persons]
            frame_min_face = None
            if focus is not None:
                smallest = max(DEFAULT_MIN_FACE, min_face)
                heads: list[Detection] = []
                faceless: list[Detection] = []
                for person in persons:
                    shows = may_show_face(person, smallest, image.shape[0])
                    (heads if shows else faceless).append(person)
                regions = [head_region(p.box) for p in heads]
                regions += [
                    grown(b) for b in focus[:MAX_FOCUS] if not explained(b, persons, faceless)
                ]
                regions = uncontained(regions)
                frame_min_face = FOCUSED_FRAME_MIN_FACE
            found.faces = self.faces(min_face).detect(
                image, regions=regions or None, frame_min_face=frame_min_face, weak=weak
            )
        return found
