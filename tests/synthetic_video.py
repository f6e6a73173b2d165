"""Synthetic camera footage with known ground truth: face patches moving over a noisy scene.

Real detectors run on these frames, so tests of tracking (and end-to-end tests of
the pipeline) get real detections whose true paths are known exactly.

    frames = moving_faces_frames([obama_patch, biden_patch])
    write_video(frames, tmp_path / "walk.mp4", fps=5)
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

FIXTURES = Path(__file__).resolve().parent / "media"
# Static scene texture: random grey levels (slightly tinted) on a coarse grid, smoothly
# upsampled, so the detector sees structure rather than a flat wall.
TEXTURE_CELLS = 24
TINT = 15.0
# Per-frame sensor noise (grey levels), so consecutive frames are never identical.
SENSOR_NOISE_STD = 6.0
MARGIN = 10
# Vertical drift over the whole path, as a fraction of a lane's spacing.
DRIFT = 0.15


def crop_around(
    image: np.ndarray, box: np.ndarray, scale: float = 1.6, side: int = 90
) -> np.ndarray:
    """Square crop `scale` times the box's longer side around its centre, resized to `side` px."""
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)[:4]
    half = max(x2 - x1, y2 - y1) * scale / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    height, width = image.shape[:2]
    left, top = max(round(cx - half), 0), max(round(cy - half), 0)
    right, bottom = min(round(cx + half), width), min(round(cy + half), height)
    return cv2.resize(image[top:bottom, left:right], (side, side), interpolation=cv2.INTER_AREA)


def face_boxes(
    faces: list[np.ndarray], size: tuple[int, int] = (640, 360), frames: int = 40
) -> np.ndarray:
    """Ground truth: (frames, len(faces), 4) float32 [x1, y1, x2, y2] of each pasted patch.

    Face i walks a straight line in its own horizontal lane (lane i of len(faces)),
    even ones left to right and odd ones right to left, drifting slightly up or down,
    so the paths differ and the patches never overlap when they fit their lanes.
    """
    width, height = size
    boxes = np.zeros((frames, len(faces), 4), np.float32)
    progress = np.linspace(0.0, 1.0, frames)
    spacing = height / (len(faces) + 1)
    for i, face in enumerate(faces):
        patch_h, patch_w = face.shape[:2]
        x_span = (MARGIN, width - MARGIN - patch_w)
        if i % 2:
            x_span = x_span[::-1]
        xs = x_span[0] + (x_span[1] - x_span[0]) * progress
        drift = (1 if i % 2 else -1) * DRIFT * spacing * (progress - 0.5)
        ys = np.clip(spacing * (i + 1) - patch_h / 2 + drift, 0, height - patch_h)
        xs, ys = xs.round(), ys.round()
        boxes[:, i] = np.stack([xs, ys, xs + patch_w, ys + patch_h], axis=1)
    return boxes


def moving_faces_frames(
    faces: list[np.ndarray], size: tuple[int, int] = (640, 360), frames: int = 40, seed: int = 0
) -> list[np.ndarray]:
    """BGR frames (`size` is width, height) of the face patches moving along `face_boxes`."""
    width, height = size
    rng = np.random.default_rng(seed)
    grey = rng.uniform(60, 190, (TEXTURE_CELLS, TEXTURE_CELLS, 1))
    tint = rng.uniform(-TINT, TINT, (TEXTURE_CELLS, TEXTURE_CELLS, 3))
    coarse = (grey + tint).astype(np.float32)
    scene = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    boxes = face_boxes(faces, size, frames).astype(int)
    result = []
    for frame_boxes in boxes:
        frame = scene.copy()
        for face, (x1, y1, x2, y2) in zip(faces, frame_boxes, strict=True):
            frame[y1:y2, x1:x2] = face
        frame += rng.normal(0.0, SENSOR_NOISE_STD, frame.shape).astype(np.float32)
        result.append(np.clip(frame, 0, 255).astype(np.uint8))
    return result


def write_video(
    frames: list[np.ndarray], path: Path | str, fps: float, codec: str | None = None
) -> Path:
    """Encode BGR frames to `path` (H.264 via libx264 when present, else MPEG-4; yuv420p).

    AVI has no presentation timestamps, so B-frames (libx264's default) scramble its
    clock: pass codec="mpeg4" for AVI, as cameras that record AVI do.
    """
    height, width = frames[0].shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even frame sides, got {width}x{height}")
    codec = codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())
    return path
