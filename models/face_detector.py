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

from vigil.models.inference import ImagePixels
from vigil.models.runtime import session
from vigil.models.types import Detection, iou_matrix, nms, overlap_of_smaller, weak_apart
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
# Weak faces (`detect(weak=True)`): candidates scoring from WEAK_SCORE up to the threshold,
# for a tracker's second stage (ByteTrack's low-score boxes), which only lets them continue
# a track they overlap closely. A small or turning face dips under the threshold for a
# frame or two (the capture harness's 16-px face: 0.31-0.47 in the frames it is missed);
# chance patterns reach 0.31-0.45 there too, away from any face.
WEAK_SCORE = 0.3
# Small search regions (persons' head regions, moving regions) share one model call: up
# to four are letterboxed into the quarters of one input (a 2x2 mosaic), which costs what
# one region alone costs. A region is packed only when its smallest face still spans
# PACKED_INPUT_FACE input px in a quarter: tiles sized for 24-px faces (14 input px) found
# 9 of 30 of them, for 16-px faces (21 px) 30 of 30 (analysis/detection.DEFAULT_MIN_FACE).
MOSAIC = 2  # cells per side
CELL = INPUT_SIZE // MOSAIC
CELL_GAP = 4  # blank input px after each cell's content: no face straddles two regions
PACKED_INPUT_FACE = 21.0
# Two faces never nest: a kept box this much inside another is a part of the same face.
CONTAINED = 0.6

Window = tuple[int, int, int, int]  # x, y, width, height in image pixels


@dataclass
class _Candidates:
    boxes: np.ndarray  # (N, 4) image pixels
    scores: np.ndarray  # (N,)
    keypoints: np.ndarray  # (N, 6, 2) image pixels
    cut: np.ndarray  # (N,) bool: touches a window edge that lies inside the image

    def where(self, keep: np.ndarray) -> _Candidates:
        return _Candidates(
            self.boxes[keep], self.scores[keep], self.keypoints[keep], self.cut[keep]
        )


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


# Windows at least this many times the model input are halved first (`halved_towards`):
# from 4x, the capture harness's 960x540 frames changed a borderline face on one scene
# (pan over a wall of faces, focused: IDF1 0.988 -> 0.987); from 8x (a 1536-px window),
# 1080p frames and large portraits gain and the harness's frames are resized as before.
HALVING_FROM = 8


def _fitted(crop: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """`crop` scaled so its longer side is `side` px, and the input-px-per-crop-px factor."""
    height, width = crop.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale >= 1:
        return cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR), scale
    return cv2.resize(halved_towards(crop, side), size, interpolation=cv2.INTER_AREA), scale


def halved_towards(image: np.ndarray, side: int) -> np.ndarray:
    """`image` halved while its longer side is HALVING_FROM times `side` or more.

    OpenCV's INTER_AREA at a fractional factor reads every pixel on a slow path: 8.9 ms
    to bring a 2333x1434 portrait to 192 px, the largest single cost of enrolment. An
    exact halving (INTER_LINEAR at 0.5 averages each 2x2 block, the box filter INTER_AREA
    applies) runs on the fast path, and INTER_AREA does the rest: 2.4-3.3 ms, pixels
    within 0.5 grey level of the direct resize on average. An odd last row or column is
    dropped before a halving so that output pixel i is exactly input pixels 2i and 2i+1
    (the box positions do not drift).
    """
    while max(image.shape[:2]) >= HALVING_FROM * side:
        height, width = image.shape[:2]
        even = image[: height - height % 2, : width - width % 2]
        image = cv2.resize(even, (width // 2, height // 2), interpolation=cv2.INTER_LINEAR)
    return image


# The model's input: RGB scaled to [-1, 1], as MediaPipe feeds it.
PIXELS = ImagePixels(mean=(127.5,) * 3, scale=(1 / 127.5,) * 3, rgb=True)


def _letterbox(crop: np.ndarray) -> tuple[np.ndarray, float]:
    """The model's input picture for `crop` and the crop-pixels-per-input-pixel factor.

    Scales the longer side to 192 and pads bottom/right, as the model was run in MediaPipe.
    """
    resized, scale = _fitted(crop, INPUT_SIZE)
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas, 1 / scale


def packable(window: Window, min_face: int) -> bool:
    """Whether a region window keeps faces of `min_face` at PACKED_INPUT_FACE in a cell."""
    return min_face * (CELL - CELL_GAP) / max(window[2], window[3]) >= PACKED_INPUT_FACE


def _mosaic(image: np.ndarray, windows: Sequence[Window]) -> tuple[np.ndarray, list[float]]:
    """One model input holding up to MOSAIC**2 windows, one per cell (row-major), each
    letterboxed into its cell less CELL_GAP; and each window's input-px-per-image-px."""
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    scales = []
    for cell, (x, y, w, h) in enumerate(windows):
        resized, scale = _fitted(image[y : y + h, x : x + w], CELL - CELL_GAP)
        top, left = divmod(cell, MOSAIC)
        top, left = top * CELL, left * CELL
        canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
        scales.append(scale)
    return canvas, scales


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
        weak: bool = False,
    ) -> list[Detection]:
        """Faces in a BGR image, best first; `regions` ([x1,y1,x2,y2] boxes) are searched too.

        Regions (e.g. the upper part of person boxes) are searched down to `min_face`.
        The whole frame is tiled for faces of `frame_min_face` (default `min_face`): a
        caller that knows where small faces can be (regions) tiles the frame coarsely.
        That coarse net leaves out the whole-image window when it has tiles: the window
        adds only faces wider than the tiles' overlap (328 px on a 768x576 frame), and
        such a face is in the caller's regions, which are searched whole (a live face
        track, the motion of one arriving, a person's head region). On a busy camera it
        was one model call in eight; the capture harness is the same without it.

        `weak` adds, after the faces, the weak faces (scoring WEAK_SCORE up to the
        threshold) that overlap no candidate above it: they cost no model call (no second
        look confirms them; a track they continue does) and leave the other faces as
        they are without them.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or not image.size:
            raise VigilError(
                ErrorCode.NOT_AN_IMAGE, f"expected a BGR uint8 HxWx3 image, got {image.shape}"
            )
        height, width = image.shape[:2]
        windows = plan_windows(height, width, max(self.min_face, frame_min_face or 0))
        if frame_min_face is not None and len(windows) > 1:
            windows = windows[1:]  # the coarse net between key frames: its tiles alone
        small: list[Window] = []
        for region in regions or ():
            limits = [width, height, width, height]
            x1, y1, x2, y2 = np.clip(np.round(region[:4]), 0, limits).astype(int).tolist()
            if x2 - x1 >= 4 and y2 - y1 >= 4:
                sub = plan_windows(y2 - y1, x2 - x1, self.min_face)
                for x, y, w, h in sub:
                    window = (x1 + x, y1 + y, w, h)
                    (small if packable(window, self.min_face) else windows).append(window)
        floor = min(WEAK_SCORE, self.score_threshold) if weak else self.score_threshold
        parts = [self._detect_window(image, window, floor) for window in windows]
        cells = MOSAIC * MOSAIC
        if len(small) == 1:
            parts.append(self._detect_window(image, small[0], floor))
        elif small:
            # Ordered by position, so neighbouring regions (often overlapping) share a call.
            small.sort(key=lambda window: (window[1], window[0]))
            for start in range(0, len(small), cells):
                parts.extend(self._detect_mosaic(image, small[start : start + cells], floor))
        sure = [part.where(part.scores >= self.score_threshold) for part in parts]
        found = self._merge(sure)
        faces = [face for face in found if self._confirmed(image, face)]
        if not weak:
            return faces
        below = [part.where(part.scores < self.score_threshold) for part in parts]
        sure_boxes = np.concatenate([part.boxes for part in sure])
        return faces + weak_apart(self._merge(below), sure_boxes, self.nms_iou, CONTAINED)

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """`detect` for each image (the model takes one window per call, so no fusing)."""
        return [self.detect(image) for image in images]

    def _detect_window(self, image: np.ndarray, window: Window, floor: float) -> _Candidates:
        x, y, w, h = window
        blob, scale = _letterbox(image[y : y + h, x : x + w])
        boxes, scores, keypoints = self._infer(blob, floor)
        return self._placed(image, window, boxes, scores, keypoints, (0.0, 0.0), scale)

    def _detect_mosaic(
        self, image: np.ndarray, windows: Sequence[Window], floor: float
    ) -> list[_Candidates]:
        """`_detect_window` for several small windows in one model call (`_mosaic`).

        A candidate belongs to the cell holding its centre; one reaching past that cell
        (a pattern across the gap, never a face of one region) is dropped.
        """
        blob, scales = _mosaic(image, windows)
        boxes, scores, keypoints = self._infer(blob, floor)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        rows, columns = (np.clip(centres // CELL, 0, MOSAIC - 1).astype(int).T)[::-1]
        parts = []
        for cell, window in enumerate(windows):
            top, left = divmod(cell, MOSAIC)
            origin = np.array([left * CELL, top * CELL], dtype=np.float32)
            inside = (rows == top) & (columns == left)
            inside &= (boxes[:, :2] >= origin - CELL_GAP).all(axis=1)
            inside &= (boxes[:, 2:] <= origin + CELL).all(axis=1)
            parts.append(
                self._placed(
                    image,
                    window,
                    boxes[inside],
                    scores[inside],
                    keypoints[inside],
                    (float(origin[0]), float(origin[1])),
                    1 / scales[cell],
                )
            )
        return parts

    def _infer(
        self, picture: np.ndarray, floor: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate boxes, scores and keypoints scoring `floor` or more, in input pixels."""
        regress, logits = self._session.run_image(picture, PIXELS)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        hits = scores >= floor
        raw = regress[0, hits] / INPUT_SIZE
        anchors = _anchor_centres()[hits]
        centres = anchors + raw[:, 0:2]
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centres - half, centres + half], axis=1) * INPUT_SIZE
        keypoints = (anchors[:, None, :] + raw[:, 4:16].reshape(-1, 6, 2)) * INPUT_SIZE
        return boxes, scores[hits], keypoints

    def _placed(
        self,
        image: np.ndarray,
        window: Window,
        boxes: np.ndarray,
        scores: np.ndarray,
        keypoints: np.ndarray,
        origin: tuple[float, float],
        pixels: float,
    ) -> _Candidates:
        """Candidates from input px (the window's content starting at `origin`, `pixels`
        image px per input px) to image px, with the flag of faces cut by a window edge."""
        x, y, w, h = window
        offset = np.array([x, y], dtype=np.float32)
        start = np.array(origin, dtype=np.float32)
        boxes = (boxes - np.tile(start, 2)) * pixels + np.tile(offset, 2)
        keypoints = (keypoints - start) * pixels + offset
        height, width = image.shape[:2]
        inner = np.array([x > 0, y > 0, x + w < width, y + h < height])
        edges = np.array([x + CUT_MARGIN, y + CUT_MARGIN, x + w - CUT_MARGIN, y + h - CUT_MARGIN])
        beyond = np.concatenate([boxes[:, :2] <= edges[:2], boxes[:, 2:] >= edges[2:]], axis=1)
        cut = (beyond & inner).any(axis=1)
        return _Candidates(boxes.astype(np.float32), scores, keypoints, cut)

    def _confirmed(self, image: np.ndarray, face: Detection) -> bool:
        """True unless a borderline face vanishes when looked at again, centred and well sized."""
        if face.score >= max(self.score_threshold, SURE_SCORE):
            return True
        window = _centred_window(face.box, image.shape[:2])
        if window is None:
            return True
        again = self._detect_window(image, window, self.score_threshold)
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
    inside = overlap_of_smaller(kept, kept) > CONTAINED
    smaller = area[:, None] < area[None, :]
    dropped = (inside & smaller).any(axis=1)
    return [index for index, drop in zip(keep, dropped, strict=True) if not drop]
