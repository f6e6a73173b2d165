"""How far each inference backend's answers stray from onnxruntime f32, per model.

The reference is onnxruntime on the CPU in f32, the backend every threshold was
calibrated on. For another backend (OpenVINO in bf16 above all) this measures, on
the repository's own pictures and video frames:

- face detector: matched boxes' IoU, faces found by one side only;
- object detector: matched boxes' IoU, label agreement, boxes found by one side only;
- face mesh: mean landmark shift in pixels (relative to the face width), presence;
- face embedder: L2 drift of each 128-D feature, and the largest change of a pair
  distance, which decides whether the calibrated compare thresholds still hold;
- age and gender: age difference in years, gender agreement.

`tests/test_inference_backends.py` holds every installed backend to stated bounds;
`bench/bench_backends.py` prints the figures beside the speed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from vigil.models import runtime
from vigil.models.age_gender import AgeGenderEstimator
from vigil.models.face_aligner import align_face
from vigil.models.face_detector import FaceDetector
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.face_mesh import FaceMesh
from vigil.models.object_detector import ObjectDetector
from vigil.models.types import Detection, iou_matrix

MEDIA = Path(__file__).resolve().parents[1] / "tests" / "media"
REFERENCE = "onnxruntime"


@contextmanager
def backend(setting: str, precision: str = "auto") -> Iterator[None]:
    """Models built inside this block run on `setting` (a VIGIL_INFERENCE value)."""
    saved = {k: os.environ.get(k) for k in ("VIGIL_INFERENCE", "VIGIL_INFERENCE_PRECISION")}
    os.environ["VIGIL_INFERENCE"] = setting
    os.environ["VIGIL_INFERENCE_PRECISION"] = precision
    runtime.session.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        runtime.session.cache_clear()


@cache
def pictures() -> tuple[np.ndarray, ...]:
    """Still pictures with faces, plates and cars, and frames of both test videos."""
    images = [cv2.imread(str(p)) for p in sorted((MEDIA / "images").iterdir())]
    frames = []
    for video, step in (("vtest.avi", 60), ("carphone_pristine.mp4", 40)):
        capture = cv2.VideoCapture(str(MEDIA / "video" / video))
        index = 0
        while len(frames) < 12:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(frame)
            index += 1
        capture.release()
    return tuple(p for p in [*images, *frames] if p is not None)


@cache
def face_chips() -> tuple[tuple[str, np.ndarray], ...]:
    """Aligned 150-px chips of every face the reference finds, with augmented views
    (flip, darker, brighter, blurred) so that pairs of one person exist."""
    with backend(REFERENCE):
        detector = FaceDetector()
        chips = []
        for path in sorted((MEDIA / "faces").iterdir()):
            image = cv2.imread(str(path))
            faces = detector.detect(image) if image is not None else []
            if not faces:
                continue
            chip = align_face(image, faces[0].keypoints, 150, 0.25)
            views = [
                chip,
                cv2.flip(chip, 1),
                cv2.convertScaleAbs(chip, alpha=0.7),
                cv2.convertScaleAbs(chip, alpha=1.2, beta=10),
                cv2.GaussianBlur(chip, (5, 5), 1.2),
            ]
            chips.extend((path.stem, view) for view in views)
    return tuple(chips)


@dataclass
class Agreement:
    """One model's answers on a backend against the reference's."""

    model: str
    figures: dict[str, float] = field(default_factory=dict)


def matched(a: list[Detection], b: list[Detection]) -> tuple[list[float], list[bool], int]:
    """Greedy best-IoU pairs: their IoUs, whether labels agree, and boxes left unmatched."""
    if not a or not b:
        return [], [], len(a) + len(b)
    ious = iou_matrix(np.array([d.box for d in a]), np.array([d.box for d in b]))
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-ious, axis=None):
        i, j = np.unravel_index(flat, ious.shape)
        if ious[i, j] < 0.3 or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((i, j))
    unmatched = len(a) + len(b) - 2 * len(pairs)
    return (
        [float(ious[i, j]) for i, j in pairs],
        [a[i].label == b[j].label for i, j in pairs],
        unmatched,
    )


def detector_agreement(model: str, make, reference, candidate) -> Agreement:
    ref, cand = make(reference), make(candidate)
    ious, same_label, unmatched, total = [], [], 0, 0
    for picture in pictures():
        a, b = ref.detect(picture), cand.detect(picture)
        found, labels, missing = matched(a, b)
        ious += found
        same_label += labels
        unmatched += missing
        total += len(a)
    return Agreement(
        model,
        {
            "reference boxes": total,
            "min IoU": min(ious, default=1.0),
            "mean IoU": float(np.mean(ious)) if ious else 1.0,
            # int8 weights can move a box on the score threshold to a neighbouring
            # cell's candidate: counted, as the min alone would hide how rare that is
            "boxes under IoU 0.8": sum(iou < 0.8 for iou in ious),
            "label agreement": float(np.mean(same_label)) if same_label else 1.0,
            "unmatched boxes": unmatched,
        },
    )


def faces_of_pictures() -> list[tuple[np.ndarray, list[Detection]]]:
    with backend(REFERENCE):
        detector = FaceDetector()
        found = [(picture, detector.detect(picture)) for picture in pictures()]
    return [(picture, faces) for picture, faces in found if faces]


def embedder_agreement(reference: FaceEmbedder, candidate: FaceEmbedder) -> Agreement:
    chips = [chip for _, chip in face_chips()]
    a, b = reference.embed_chips(chips), candidate.embed_chips(chips)
    drift = np.linalg.norm(a - b, axis=1)
    pairs = list(itertools.combinations(range(len(chips)), 2))
    da = np.array([np.linalg.norm(a[i] - a[j]) for i, j in pairs])
    db = np.array([np.linalg.norm(b[i] - b[j]) for i, j in pairs])
    return Agreement(
        "face_resnet128",
        {
            "features": len(chips),
            "max feature drift (L2)": float(drift.max()),
            "mean feature drift (L2)": float(drift.mean()),
            "pairs": len(pairs),
            "max pair distance change": float(np.abs(da - db).max()),
        },
    )


def decisions_changed(
    reference: FaceEmbedder, candidate: FaceEmbedder, threshold: float
) -> list[float]:
    """Reference distances of the chip pairs decided differently (match / no match)
    at an L2 `threshold`: a pair can only flip when it lies within the drift of it."""
    chips = [chip for _, chip in face_chips()]
    a, b = reference.embed_chips(chips), candidate.embed_chips(chips)
    changed = []
    for i, j in itertools.combinations(range(len(chips)), 2):
        distance_a = float(np.linalg.norm(a[i] - a[j]))
        distance_b = float(np.linalg.norm(b[i] - b[j]))
        if (distance_a < threshold) != (distance_b < threshold):
            changed.append(distance_a)
    return changed


def mesh_agreement(reference: FaceMesh, candidate: FaceMesh) -> Agreement:
    shifts, presence = [], []
    for picture, faces in faces_of_pictures():
        for a, b, face in zip(
            reference.estimate(picture, faces),
            candidate.estimate(picture, faces),
            faces,
            strict=True,
        ):
            width = float(face.box[2] - face.box[0])
            shifts.append(float(np.abs(a.landmarks[:, :2] - b.landmarks[:, :2]).mean()) / width)
            presence.append(abs(a.presence - b.presence))
    return Agreement(
        "face_mesh_468",
        {
            "faces": len(shifts),
            "max landmark shift (face widths)": max(shifts, default=0.0),
            "max presence change": max(presence, default=0.0),
        },
    )


def age_gender_agreement(reference: AgeGenderEstimator, candidate: AgeGenderEstimator) -> Agreement:
    ages, genders = [], []
    for picture, faces in faces_of_pictures():
        for a, b in zip(
            reference.estimate(picture, faces), candidate.estimate(picture, faces), strict=True
        ):
            ages.append(abs(a.age - b.age))
            genders.append(a.gender == b.gender)
    return Agreement(
        "age_v1 + gender_v1",
        {
            "faces": len(ages),
            "max age change (years)": max(ages, default=0.0),
            "gender agreement": float(np.mean(genders)) if genders else 1.0,
        },
    )


def built(setting: str, precision: str, make):
    with backend(setting, precision):
        return make()


def agreements(setting: str, precision: str = "auto") -> list[Agreement]:
    """Every model on `setting` against onnxruntime f32."""

    def on(target: str, target_precision: str):
        return lambda make: built(target, target_precision, make)

    ref, cand = on(REFERENCE, "auto"), on(setting, precision)
    return [
        detector_agreement("blazeface_full_192", lambda b: b(FaceDetector), ref, cand),
        detector_agreement("nanodet", lambda b: b(ObjectDetector), ref, cand),
        mesh_agreement(ref(FaceMesh), cand(FaceMesh)),
        embedder_agreement(ref(FaceEmbedder), cand(FaceEmbedder)),
        age_gender_agreement(ref(AgeGenderEstimator), cand(AgeGenderEstimator)),
    ]
