"""Face detection with MediaPipe's full-range BlazeFace (192 px input, 6 keypoints).

The model sees every window at 192 px, so a face shrinks with the window it is
in: measured on pasted faces, it finds faces reliably only from about 12-14
input pixels (~7% of the window's longer side). Large frames are therefore
searched in a pyramid of overlapping square tiles sized from `min_face`, and
the duplicates that tiling creates are merged afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from vigil.models.runtime import session
from vigil.models.types import Detection, iou_matrix, nms
from vigil.schemas.errors import ErrorCode, VigilError

MODEL = "blazeface_full_192"
INPUT_SIZE = 192
GRID = 48
# Smallest face box, in model-input pixels, found reliably (pasted-face sweep: 12 px scores
# 0.6-0.9, 10 px mostly missed); tiles are sized so `min_face` lands at this size.
MIN_INPUT_FACE = 14.0
# Tile side grows by this factor per pyramid level; 3 keeps the overlap each level needs
# (the largest face the next coarser level may miss) under about a quarter of the tile.
LEVEL_GROWTH = 3.0
# A window whose side is within this factor of a length covers that length in one span.
SPAN_SLACK = 1.1
OVERLAP_MARGIN = 1.15
# A box this close (px) to a window edge inside the image may be a face cut by the edge.
CUT_MARGIN = 2.0
# Candidates scoring below this are re-checked in a window centred on them, where the face
# spans VERIFY_INPUT_FACE input px: real faces keep their score, chance patterns (bokeh,
# the back of a head) fall apart (measured: 0.54 -> 0.30 on bokeh, 0.53 -> 0.71 on a CCTV face).
SURE_SCORE = 0.7
VERIFY_INPUT_FACE = 18.0
MATCH_IOU = 0.5
# Two faces never nest: a kept box this much inside another is a part of the same face.
CONTAINED = 0.6

Window = tuple[int, int, int, int]  # x, y, width, height in image pixels


@dataclass
class _Candidates:
    boxes: np.ndarray  # (N, 4) image pixels
    scores: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, 6, 2) image pixels
    cut: np.ndarray  # (N,) bool: touches a window edge that lies inside the image


@cache
def _anchor_centres() -> np.ndarray:
    """(2304, 2) anchor centres in [0, 1], row-major over y then x (one per 48x48 cell)."""
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _spans(length: int, side: float, overlap: float) -> list[tuple[int, int]]:
    """Evenly spread (start, size) spans of `side` covering `length`, overlapping >= `overlap`."""
    if length <= side * SPAN_SLACK:
        return [(0, length)]
    count = math.ceil((length - overlap) / (side - overlap))
    size = round(side)
    starts = np.linspace(0, length - size, count).round().astype(int)
    return [(int(start), size) for start in starts]


def plan_windows(height: int, width: int, min_face: int) -> list[Window]:
    """Windows (one model call each) that find every face of at least `min_face` px.

    The whole image comes first; then, finest first, levels of square tiles whose
    side maps `min_face` to `MIN_INPUT_FACE`. Each level's tiles overlap by the
    largest face the next coarser level cannot see, so every such face lies wholly
    inside some tile.
    """
    longest = max(height, width)
    sides: list[float] = []
    side = min_face * INPUT_SIZE / MIN_INPUT_FACE
    while side * SPAN_SLACK < longest:
        sides.append(side)
        side *= LEVEL_GROWTH
    windows: list[Window] = [(0, 0, width, height)]
    for level, side in enumerate(sides):
        coarser = sides[level + 1] if level + 1 < len(sides) else longest
        overlap = coarser * MIN_INPUT_FACE / INPUT_SIZE * OVERLAP_MARGIN
        for y, h in _spans(height, side, overlap):
            windows.extend((x, y, w, h) for x, w in _spans(width, side, overlap))
    return windows


def single_window_face(height: int, width: int) -> int:
    """The smallest `min_face` for which the whole image is one window (one model call):
    the faces that call finds reliably, from about 7% of the longer side."""
    return math.ceil(max(height, width) / SPAN_SLACK * MIN_INPUT_FACE / INPUT_SIZE)


def _letterbox(crop: np.ndarray) -> tuple[np.ndarray, float]:
    """The model input for `crop` and the crop-pixels-per-input-pixel factor.

    Scales the longer side to 192 and pads bottom/right, as the model was run in MediaPipe.
    """
    height, width = crop.shape[:2]
    scale = INPUT_SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, size, interpolation=interpolation)
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    canvas[: size[1], : size[0]] = resized
    blob = cv2.dnn.blobFromImage(canvas, 1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)
    return blob, 1 / scale


class FaceDetector:
    """Finds faces of at least `min_face` px anywhere in a frame.

    `score_threshold` applies to sigmoid(logit); 0.5 is MediaPipe's own default.
    """

    def __init__(self, score_threshold: float = 0.5, nms_iou: float = 0.3, min_face: int = 24):
        if not 0 < score_threshold < 1 or not 0 < nms_iou < 1 or min_face < 1:
            raise ValueError("score_threshold and nms_iou must be in (0, 1), min_face >= 1")
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.min_face = min_face
        self._session = session(MODEL)

    def detect(
        self,
        image: np.ndarray,
        regions: Sequence[np.ndarray] | None = None,
        frame_min_face: int | None = None,
    ) -> list[Detection]:
        """Faces in a BGR image, best first; `regions` ([x1,y1,x2,y2] boxes) are searched too.

        Regions (e.g. the upper part of person boxes) are searched down to `min_face`.
        The whole frame is tiled for faces of `frame_min_face` (default `min_face`): a
        caller that knows where small faces can be (regions) tiles the frame coarsely.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or not image.size:
            raise VigilError(
                ErrorCode.NOT_AN_IMAGE, f"expected a BGR uint8 HxWx3 image, got {image.shape}"
            )
        height, width = image.shape[:2]
        windows = plan_windows(height, width, max(self.min_face, frame_min_face or 0))
        for region in regions or ():
            limits = [width, height, width, height]
            x1, y1, x2, y2 = np.clip(np.round(region[:4]), 0, limits).astype(int).tolist()
            if x2 - x1 >= 4 and y2 - y1 >= 4:
                sub = plan_windows(y2 - y1, x2 - x1, self.min_face)
                windows.extend((x1 + x, y1 + y, w, h) for x, y, w, h in sub)
        found = self._merge([self._detect_window(image, window) for window in windows])
        return [face for face in found if self._confirmed(image, face)]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """`detect` for each image (the model takes one window per call, so no fusing)."""
        return [self.detect(image) for image in images]

    def _detect_window(self, image: np.ndarray, window: Window) -> _Candidates:
        x, y, w, h = window
        blob, scale = _letterbox(image[y : y + h, x : x + w])
        regress, logits = self._session.run({self._session.input_name: blob})
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        hits = scores >= self.score_threshold
        raw = regress[0, hits] / INPUT_SIZE
        anchors = _anchor_centres()[hits]
        pixels = INPUT_SIZE * scale
        offset = np.array([x, y], dtype=np.float32)
        centres = anchors + raw[:, 0:2]
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centres - half, centres + half], axis=1) * pixels
        boxes += np.tile(offset, 2)
        keypoints = (anchors[:, None, :] + raw[:, 4:16].reshape(-1, 6, 2)) * pixels + offset
        height, width = image.shape[:2]
        inner = np.array([x > 0, y > 0, x + w < width, y + h < height])
        edges = np.array([x + CUT_MARGIN, y + CUT_MARGIN, x + w - CUT_MARGIN, y + h - CUT_MARGIN])
        beyond = np.concatenate([boxes[:, :2] <= edges[:2], boxes[:, 2:] >= edges[2:]], axis=1)
        cut = (beyond & inner).any(axis=1)
        return _Candidates(boxes.astype(np.float32), scores[hits], keypoints, cut)

    def _confirmed(self, image: np.ndarray, face: Detection) -> bool:
        """True unless a borderline face vanishes when looked at again, centred and well sized."""
        if face.score >= max(self.score_threshold, SURE_SCORE):
            return True
        window = _centred_window(face.box, image.shape[:2])
        if window is None:
            return True
        again = self._detect_window(image, window)
        return bool(len(again.boxes)) and iou_matrix(face.box, again.boxes).max() >= MATCH_IOU

    def _merge(self, parts: list[_Candidates]) -> list[Detection]:
        """One detection per face out of the candidates of every window.

        Whole faces outrank faces cut by a tile edge, so NMS keeps the uncut box; then a
        box lying mostly inside a larger kept one (a cut face, or part of a big face seen
        by a small tile) is dropped.
        """
        boxes = np.concatenate([part.boxes for part in parts])
        if len(boxes) == 0:
            return []
        scores = np.concatenate([part.scores for part in parts])
        keypoints = np.concatenate([part.keypoints for part in parts])
        cut = np.concatenate([part.cut for part in parts])
        keep = nms(boxes, scores + (~cut), self.nms_iou)
        keep = sorted(_drop_contained(boxes, keep), key=lambda i: -scores[i])
        return [
            Detection(
                box=boxes[i].copy(),
                score=float(scores[i]),
                label="face",
                keypoints=keypoints[i].astype(np.float32),
            )
            for i in keep
        ]


def _centred_window(box: np.ndarray, shape: tuple[int, int]) -> Window | None:
    """A square window around `box` that shows it at VERIFY_INPUT_FACE px, kept inside the
    image; None when that window would be the whole image (nothing new to look at)."""
    height, width = shape
    side = max(box[2] - box[0], box[3] - box[1]) * INPUT_SIZE / VERIFY_INPUT_FACE
    if side >= width and side >= height:
        return None
    sizes = [min(round(side), width), min(round(side), height)]
    centre = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
    starts = [
        int(np.clip(round(c - size / 2), 0, limit - size))
        for c, size, limit in zip(centre, sizes, (width, height), strict=True)
    ]
    return starts[0], starts[1], sizes[0], sizes[1]


def _drop_contained(boxes: np.ndarray, keep: list[int]) -> list[int]:
    """Drop each kept box that lies mostly inside a larger kept box; order is preserved."""
    kept = boxes[keep]
    area = (kept[:, 2] - kept[:, 0]) * (kept[:, 3] - kept[:, 1])
    iou = iou_matrix(kept, kept)
    inter = iou * (area[:, None] + area[None, :]) / (1 + iou)  # from iou = i / (a + b - i)
    inside = inter / np.maximum(area[:, None], 1e-6) > CONTAINED
    smaller = area[:, None] < area[None, :]
    dropped = (inside & smaller).any(axis=1)
    return [index for index, drop in zip(keep, dropped, strict=True) if not drop]
