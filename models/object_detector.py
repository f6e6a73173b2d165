"""Persons and vehicles with NanoDet-g (COCO-80, 416x416) on onnxruntime.

NanoDet is the only permissively licensed COCO detector available offline
(see weights/nanodet.md: the file is NanoDet-g, 3.79M parameters, plain
convolutions with LeakyReLU, COCO mAP 22.9). Its input and decoding facts are
fixed by the converted file: BGR, mean/std normalised, plain resize (no
letterbox), and GFL box heads (softmax over 11 bins per side, times the
stride, measured from the cell centre). Outputs are matched by shape because
tf2onnx names them arbitrarily. Only the classes in `LABELS` are ever returned.

Suppression (`suppress`) gives one box per object: all vehicle labels are one
NMS group, so a pickup seen as both car and truck comes back once, with the
other label kept as `Detection.extra["alternative"]`; and a box lying mostly
inside another box of the same kind of vehicle (a part box: one wheel, the rear
half) is merged with it, the larger box kept. Persons are suppressed among
themselves only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from vigil.models.inference import ImagePixels
from vigil.models.runtime import session
from vigil.models.types import Detection, iou_matrix, overlap_of_smaller, weak_apart
from vigil.schemas.errors import ErrorCode, VigilError

MODEL = "nanodet"
INPUT_SIZE = 416
STRIDES = (8, 16, 32)
REG_BINS = 11
NUM_CLASSES = 80
MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)

LABELS: dict[int, str] = {
    0: "person",
    1: "bicycle",
    2: "car",
    3: "motorcycle",
    5: "bus",
    7: "truck",
}


def check_image(image: np.ndarray) -> None:
    """Reject anything but a non-empty BGR uint8 HxWx3 array, with a code callers can branch on."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        raise VigilError(ErrorCode.NOT_AN_IMAGE, "expected a BGR uint8 HxWx3 array")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise VigilError(ErrorCode.EMPTY_INPUT, "image has zero width or height")


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The pixels of an x1,y1,x2,y2 box, clipped to the image (may be empty); a view, not a copy."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64).round().astype(int)
    return image[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]


def pad_border(image: np.ndarray, border: float) -> tuple[np.ndarray, int, int]:
    """Surround the image with mean-coloured margins of `border` x each side.

    NanoDet scores objects that fill the whole frame poorly (a close-up car:
    0.26); with some margin around it the same car scores 0.45. The margin is
    the normalisation mean, so it becomes zeros in the input tensor.
    Returns the padded image and the x, y offsets to subtract from boxes.
    """
    if border <= 0:
        return image, 0, 0
    pad_x = round(border * image.shape[1])
    pad_y = round(border * image.shape[0])
    fill = tuple(float(v) for v in MEAN)
    padded = cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=fill)
    return padded, pad_x, pad_y


# (pixel - MEAN) / STD per channel in BGR order, folded into the graph where the backend
# can (`ImagePixels`), else one OpenCV pass: 0.6 ms where numpy took 4 ms a frame.
PIXELS = ImagePixels(mean=tuple(MEAN.tolist()), scale=tuple((1.0 / STD).tolist()), rgb=False)


def preprocess(image: np.ndarray) -> np.ndarray:
    """BGR uint8 image -> the model's 416x416 BGR input picture (plain resize)."""
    return cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


@cache
def cell_centres(stride: int) -> np.ndarray:
    """(n, 2) x, y centres of a level's cells, row-major, in 416-px input coordinates."""
    side = INPUT_SIZE // stride
    ys, xs = np.mgrid[0:side, 0:side]
    return ((np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride).astype(np.float32)


def split_outputs(outputs: Sequence[np.ndarray]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Map stride -> (class scores (n, 80), box bins (n, 44)) by output shape alone."""
    by_cells: dict[int, dict[int, np.ndarray]] = {}
    for output in outputs:
        flat = output.reshape(output.shape[-2], output.shape[-1])
        by_cells.setdefault(flat.shape[0], {})[flat.shape[1]] = flat
    levels = {}
    for stride in STRIDES:
        maps = by_cells.get((INPUT_SIZE // stride) ** 2, {})
        if NUM_CLASSES not in maps or 4 * REG_BINS not in maps:
            raise VigilError(ErrorCode.MODEL_CORRUPT, f"nanodet: no outputs for stride {stride}")
        levels[stride] = (maps[NUM_CLASSES], maps[4 * REG_BINS])
    return levels


def bins_to_distances(bins: np.ndarray, stride: int) -> np.ndarray:
    """GFL: (n, 44) logits -> (n, 4) left/top/right/bottom distances in input pixels."""
    logits = bins.reshape(-1, 4, REG_BINS)
    logits = logits - logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    return (weights @ np.arange(REG_BINS, dtype=np.float32)) * stride


def decode(
    outputs: Sequence[np.ndarray], class_ids: np.ndarray, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All levels -> (boxes (k, 4) in input pixels, scores (k,), COCO class ids (k,)).

    Each cell votes for its best class among `class_ids`, so one object does not
    come back as both a car and a truck from the same cell.
    """
    boxes, scores, classes = [], [], []
    for stride, (cls_map, box_map) in split_outputs(outputs).items():
        wanted = cls_map[:, class_ids]
        best = wanted.argmax(axis=1)
        best_score = wanted[np.arange(len(wanted)), best]
        keep = np.flatnonzero(best_score >= score_threshold)
        if keep.size == 0:
            continue
        centres = cell_centres(stride)[keep]
        dist = bins_to_distances(box_map[keep], stride)
        boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1))
        scores.append(best_score[keep])
        classes.append(class_ids[best[keep]])
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)


# Labels that suppress each other in NMS: a box is one object whatever vehicle class
# it was given (COCO splits vans and pickups between car and truck; small two-wheelers
# between bicycle and motorcycle). Persons stay apart: a rider overlaps the bike.
NMS_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"bicycle", "car", "motorcycle", "bus", "truck"}),
    frozenset({"person"}),
)
# Part boxes are dropped only inside a box of the same kind of vehicle, so that a
# motorcycle or bicycle in front of a bus or truck (its box inside theirs) is kept.
PART_KINDS: tuple[frozenset[str], ...] = (
    frozenset({"car", "truck", "bus"}),
    frozenset({"bicycle", "motorcycle"}),
)
# Share of the smaller box's area that must lie inside the other box for it to count
# as a part of it. On the fixtures the part boxes NanoDet reports at or above 0.35 (a
# motorcycle's rear half or front half next to the whole motorcycle, scikit-image's
# stereo_motorcycle shrunk to 30-45 %) lie 0.91-1.0 inside the whole, with an IoU of
# only 0.33-0.49 that plain NMS at 0.5 keeps; the one box at 0.77 straddled the
# motorcycle and the bicycle behind it. On 80 vtest.avi frames no two distinct
# vehicles overlap at all (every overlapping pair was one vehicle under two labels,
# IoU 0.92-0.98), so the value changes nothing there.
PART_OVERLAP = 0.8
# Weak objects (`detect(weak=True)`): from the tracker's low threshold (tracking/tracker.py)
# up to the detector's. vtest.avi's second parked truck scores 0.32-0.35 in its last frames.
WEAK_SCORE = 0.25


@dataclass
class Kept:
    """One object left by `suppress`, as indices into its inputs.

    `index` gives the label and score (the best-scoring box of the object), `box`
    the extent: the same box, or the larger box that a better-scoring part box lay
    inside. `alternative` is the best suppressed box with another label, if any.
    """

    index: int
    box: int
    alternative: int | None = None


def group_ids(labels: Sequence[str], groups: Sequence[frozenset[str]]) -> np.ndarray:
    """Per label, the position of its group; a label in no group is a group of its own."""
    ids = {label: position for position, members in enumerate(groups) for label in members}
    for label in labels:
        ids.setdefault(label, len(groups) + len(ids))
    return np.array([ids[label] for label in labels], np.int64)


def suppress(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    iou: float,
    part_overlap: float = PART_OVERLAP,
) -> list[Kept]:
    """Greedy NMS over label groups, best score first; one `Kept` per object.

    A box is the same object as a better-scoring one already kept when both are in
    one `NMS_GROUPS` group and their IoU exceeds `iou` (a duplicate: the better box
    stays), or when both are of one `PART_KINDS` kind and at least `part_overlap`
    of the smaller box's area lies inside the other (a part box: the object keeps
    the larger box, with the better score and label; above 1 turns this off).
    Each object records the best suppressed box that had another label.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(boxes) == 0:
        return []
    groups = group_ids(labels, NMS_GROUPS)
    kinds = group_ids(labels, PART_KINDS)
    names = group_ids(labels, ())
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ious = iou_matrix(boxes, boxes)
    inside = overlap_of_smaller(boxes, boxes)
    alive = np.ones(len(boxes), bool)
    kept: list[Kept] = []
    for index in np.argsort(-scores, kind="stable"):
        index = int(index)
        if not alive[index]:
            continue
        alive[index] = False
        candidates = alive & (groups == groups[index])
        same_kind = kinds == kinds[index]
        extent = index
        members = np.zeros(len(boxes), bool)
        while True:  # a few rounds at most: again only when the extent grows
            duplicate = candidates & (ious[extent] > iou)
            part = candidates & same_kind & (inside[extent] >= part_overlap) & ~duplicate
            hits = duplicate | part
            candidates &= ~hits
            members |= hits
            larger = np.flatnonzero(part & (areas > areas[extent]))
            if larger.size == 0:
                break
            extent = int(larger[np.argmax(scores[larger])])  # the better box was a part of it
        alive &= ~members
        others = np.flatnonzero(members & (names != names[index]))
        alternative = int(others[np.argmax(scores[others])]) if others.size else None
        kept.append(Kept(index, extent, alternative))
    return kept


class ObjectDetector:
    """Finds persons, bicycles, cars, motorcycles, buses and trucks in BGR images.

    `border` (default 0: CCTV frames need every input pixel) pads each side by
    that fraction of the image before detection; use about 0.2 for close-up
    photos where one vehicle fills the frame. Tiling was measured on vtest.avi
    and not adopted: on the frames checked it added only fragments and false
    positives, at five times the cost (see weights/nanodet.md).

    `nms_iou` and `part_overlap` are `suppress`'s thresholds (`part_overlap`
    above 1 keeps part boxes). A vehicle also reported under another vehicle
    label on the same box carries that label and its score as
    `extra["alternative"] = {"label": ..., "score": ...}`.
    """

    def __init__(
        self,
        score_threshold: float = 0.35,
        nms_iou: float = 0.5,
        labels: Iterable[str] | None = None,
        border: float = 0.0,
        part_overlap: float = PART_OVERLAP,
    ) -> None:
        names = set(LABELS.values()) if labels is None else set(labels)
        unknown = names - set(LABELS.values())
        if unknown:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS,
                f"unsupported labels {sorted(unknown)}; supported: {sorted(LABELS.values())}",
            )
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.part_overlap = part_overlap
        self.border = border
        self.class_ids = np.array(sorted(k for k, v in LABELS.items() if v in names), np.int64)
        self._session = session(MODEL)

    def detect(self, image: np.ndarray, weak: bool = False) -> list[Detection]:
        """Detections in image pixels, clipped to the image, best score first.

        `weak` adds, after them, the weak ones (scoring WEAK_SCORE up to the threshold)
        that touch no box above it, for a tracker; the others are as they are without.
        """
        check_image(image)
        if self.class_ids.size == 0:
            return []
        padded, off_x, off_y = pad_border(image, self.border)
        outputs = self._session.run_image(preprocess(padded), PIXELS)
        floor = min(WEAK_SCORE, self.score_threshold) if weak else self.score_threshold
        boxes, scores, classes = decode(outputs, self.class_ids, floor)
        scale = np.array([padded.shape[1], padded.shape[0]] * 2, np.float32) / INPUT_SIZE
        offset = np.array([off_x, off_y, off_x, off_y], np.float32)
        height, width = image.shape[:2]
        boxes = np.clip(boxes * scale - offset, 0, [width, height, width, height])
        # Boxes predicted wholly inside the border collapse to nothing when clipped.
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, classes = boxes[valid].astype(np.float32), scores[valid], classes[valid]
        sure = scores >= self.score_threshold
        detections = self._objects(boxes[sure], scores[sure], classes[sure])
        if not weak:
            return detections
        below = self._objects(boxes[~sure], scores[~sure], classes[~sure])
        return detections + weak_apart(below, boxes[sure], self.nms_iou, self.part_overlap)

    def _objects(
        self, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray
    ) -> list[Detection]:
        """One detection per object among the boxes (`suppress`), best score first."""
        labels = [LABELS[int(c)] for c in classes]
        detections = []
        for kept in suppress(boxes, scores, labels, self.nms_iou, self.part_overlap):
            detection = Detection(
                box=boxes[kept.box], score=float(scores[kept.index]), label=labels[kept.index]
            )
            if kept.alternative is not None:
                detection.extra["alternative"] = {
                    "label": labels[kept.alternative],
                    "score": float(scores[kept.alternative]),
                }
            detections.append(detection)
        return detections

    def detect_batch(self, images: Iterable[np.ndarray]) -> list[list[Detection]]:
        """One list per image; the converted graph has a fixed batch of 1, so this loops."""
        return [self.detect(image) for image in images]
