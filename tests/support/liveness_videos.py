"""Generated videos for the liveness check: live actions and still-photo attacks.

Everything is drawn from the fixture portraits with a seed, so a run is repeatable and
no video is committed. A face's own 468-point mesh drives the live actions:

- blink: the upper-lid points (and, half as far, the crease above them) slide onto the
  lower lid and back; the picture is warped triangle by triangle (piecewise affine), so
  the eye closes as skin stretches over it.
- mouth open: the lower lip, chin and jaw points move down, fading towards the cheeks,
  and the gap between the inner lips is painted dark.
- head turn: the mesh's 3D points (x, y and its z depth) are rotated about a vertical
  axis behind the face and projected back; triangles are drawn far to near, so the
  turned-away cheek is hidden by the nose and the near cheek. This is the honest
  version of "a head turn from a rotated fixture face": a 2D warp of a flat photo
  (rotation, perspective) is planar and is exactly what the attack set does.

What it proves and what not: the check tells a rigid flat picture from a non-planar
face motion and a still eye from a closing one. The live turns come from the same
mesh model the check reads, so they are kinder than real heads (no hair or ears
moving, no new surface appearing); real footage is the test this set cannot replace.

Attacks: a portrait printed with a white margin, held in front of a textured wall and
moved about (translation, scale, in-plane rotation, a tilt about the vertical axis as
a turned printout, a tilt about the horizontal axis, brightness changes, blur), with
sensor noise on every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import Delaunay

from vigil.models.face_detector import FaceDetector
from vigil.models.face_mesh import FaceMesh

MEDIA = Path(__file__).resolve().parents[1] / "media"
FRAME = (384, 288)  # width, height
FPS = 10.0
PORTRAIT = 240  # portrait side (px) in the frame; the face box is about half of it
# Identities with a frontal portrait in tests/media (images/ when large enough, else faces/).
# Live subjects need a closed mouth at rest (obama.jpg smiles with open lips, so opening
# reads as no rise) and eyes sharp enough to see an iris (carphone and messi5 are faces of
# 36 px upscaled): those stay in the attack set only.
LIVE_IDENTITIES = ("obama3", "biden", "grace_hopper", "astronaut")
ATTACK_IDENTITIES = ("obama", "obama3", "biden", "grace_hopper", "astronaut")
CHALLENGES = ("blink", "turn_left", "turn_right", "mouth_open")

RIGHT_UPPER = (246, 161, 160, 159, 158, 157, 173)
RIGHT_LOWER = (7, 163, 144, 145, 153, 154, 155)
RIGHT_CREASE = (247, 30, 29, 27, 28, 56, 190)
LEFT_UPPER = (466, 388, 387, 386, 385, 384, 398)
LEFT_LOWER = (249, 390, 373, 374, 380, 381, 382)
LEFT_CREASE = (467, 260, 259, 257, 258, 286, 414)
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 324, 318, 402, 317, 14, 87, 178, 88, 95)


@dataclass
class Portrait:
    """A fixture face cropped square, with its mesh (portrait pixels, z depth)."""

    name: str
    image: np.ndarray
    mesh: np.ndarray  # (468, 3)


@cache
def _models() -> tuple[FaceDetector, FaceMesh]:
    return FaceDetector(min_face=24), FaceMesh()


@cache
def portrait(name: str, side: int = PORTRAIT) -> Portrait:
    """`name`'s face, centred in a `side` px square (face box about 0.45 of it), meshed."""
    path = MEDIA / "images" / f"{name}.jpg"
    if not path.exists():
        path = MEDIA / "faces" / f"{name}.jpg"
    image = cv2.imread(str(path))
    detector, mesh = _models()
    face = max(detector.detect(image), key=lambda f: float(f.box[2] - f.box[0]))
    x1, y1, x2, y2 = (float(v) for v in face.box[:4])
    half = max(x2 - x1, y2 - y1) * 1.1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.05 * half
    scale = side / (2 * half)
    matrix = np.array([[scale, 0, side / 2 - scale * cx], [0, scale, side / 2 - scale * cy]])
    square = cv2.warpAffine(
        image, matrix, (side, side), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    found = detector.detect(square)
    face = max(found, key=lambda f: float(f.box[2] - f.box[0]))
    points = mesh.estimate(square, [face])[0].landmarks.astype(np.float64)
    return Portrait(name, square, points)


# -- piecewise affine warp ---------------------------------------------------------------


def _border_points(side: int, per_edge: int = 6) -> np.ndarray:
    ticks = np.linspace(0, side - 1, per_edge)
    edges = [(t, 0) for t in ticks] + [(t, side - 1) for t in ticks]
    edges += [(0, t) for t in ticks[1:-1]] + [(side - 1, t) for t in ticks[1:-1]]
    return np.array(edges, np.float64)


@cache
def _triangles(name: str) -> np.ndarray:
    face = portrait(name)
    points = np.vstack([face.mesh[:, :2], _border_points(face.image.shape[0])])
    return Delaunay(points).simplices


def warp_mesh(face: Portrait, moved: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """The portrait with its mesh points moved to `moved` (468, 2); the border stays.

    Each destination triangle samples its source triangle (one affine map per triangle,
    applied with one remap). With `depth` (468,), triangles are drawn far to near so a
    nearer one hides what it overlaps; without it, in index order.
    """
    side = face.image.shape[0]
    border = _border_points(side)
    source = np.vstack([face.mesh[:, :2], border])
    target = np.vstack([moved, border])
    triangles = _triangles(face.name)
    order = np.arange(len(triangles))
    if depth is not None:
        z = np.concatenate([depth, np.full(len(border), depth.max() + 1)])
        order = np.argsort(-z[triangles].mean(axis=1), kind="stable")
    index = np.full((side, side), -1, np.int32)
    maps = np.zeros((len(triangles), 2, 3), np.float64)
    for t in order:
        dst = target[triangles[t]]
        area = (dst[1, 0] - dst[0, 0]) * (dst[2, 1] - dst[0, 1]) - (dst[2, 0] - dst[0, 0]) * (
            dst[1, 1] - dst[0, 1]
        )
        if abs(area) < 1e-6:
            continue
        maps[t] = cv2.getAffineTransform(
            dst.astype(np.float32), source[triangles[t]].astype(np.float32)
        )
        cv2.fillConvexPoly(index, np.round(dst * 16).astype(np.int32), int(t), shift=4)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    known = index >= 0
    chosen = maps[np.where(known, index, 0)]
    map_x = np.where(known, chosen[..., 0, 0] * xs + chosen[..., 0, 1] * ys + chosen[..., 0, 2], xs)
    map_y = np.where(known, chosen[..., 1, 0] * xs + chosen[..., 1, 1] * ys + chosen[..., 1, 2], ys)
    return cv2.remap(
        face.image,
        map_x.astype(np.float32),
        map_y.astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


# -- live actions (amount 0 = neutral, 1 = full) ------------------------------------------


@cache
def _closed_eyes(name: str) -> np.ndarray:
    """The portrait with both eyes shut: the lids slide down onto the lower lid (mesh warp),
    what is left of the eye opening is filled from the lid skin around it (inpainting),
    and a lash line is drawn just above the lower lid."""
    face = portrait(name)
    points = face.mesh[:, :2]
    moved = points.copy()
    for upper, lower, crease in (
        (RIGHT_UPPER, RIGHT_LOWER, RIGHT_CREASE),
        (LEFT_UPPER, LEFT_LOWER, LEFT_CREASE),
    ):
        for u, low, c in zip(upper, lower, crease, strict=True):
            step = 0.5 * (points[low] - points[u])
            moved[u] += step
            moved[c] += 0.5 * step
    image = warp_mesh(face, moved)
    mask = np.zeros(image.shape[:2], np.uint8)
    eyes = ((RIGHT_UPPER, RIGHT_LOWER, (33, 133)), (LEFT_UPPER, LEFT_LOWER, (263, 362)))
    for upper, lower, (outer, inner) in eyes:
        outline = np.vstack(
            [points[outer], points[list(upper)], points[inner], points[list(lower)][::-1]]
        )
        cv2.fillPoly(mask, [np.round(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=2)
    skin = np.median(face.image[mask > 0], axis=0)
    shut = cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)
    lash = tuple(float(v) * 0.45 for v in skin)
    for upper, lower, (outer, inner) in eyes:
        line = np.vstack(
            [points[outer], 0.3 * points[list(upper)] + 0.7 * points[list(lower)], points[inner]]
        )
        cv2.polylines(shut, [np.round(line * 16).astype(np.int32)], False, lash, 1, cv2.LINE_AA, 4)
    return shut


def blink(face: Portrait, amount: float) -> np.ndarray:
    """Eyes `amount` shut: a cross-fade from the open portrait to the shut one."""
    if amount <= 0:
        return face.image.copy()
    return cv2.addWeighted(face.image, 1 - amount, _closed_eyes(face.name), amount, 0)


def mouth_open(face: Portrait, amount: float) -> np.ndarray:
    points = face.mesh[:, :2]
    corners = points[[78, 308]]
    width = float(np.linalg.norm(corners[1] - corners[0]))
    centre = corners.mean(axis=0)
    lip_line = float(points[list(UPPER_INNER_LIP), 1].max())
    drop = amount * 0.7 * width
    below = (points[:, 1] > lip_line + 0.5) | np.isin(np.arange(len(points)), LOWER_LIP)
    fade = np.exp(-(((points[:, 0] - centre[0]) / (1.2 * width)) ** 2))
    moved = points.copy()
    moved[:, 1] += np.where(below, drop * fade, 0.0)
    for corner in (78, 308, 61, 291):
        moved[corner, 1] = points[corner, 1] + 0.3 * drop
    image = warp_mesh(face, moved)
    if amount > 0.05:
        upper, lower = moved[list(UPPER_INNER_LIP)], moved[list(LOWER_INNER_LIP)]
        mouth = np.vstack([upper, lower])
        cv2.fillPoly(image, [np.round(mouth * 16).astype(np.int32)], (35, 25, 45), cv2.LINE_AA, 4)
        # upper teeth: a pale band under the upper lip, a fifth of the way down the gap
        teeth = np.vstack([upper, np.add(upper[::-1], [0, 0.2 * drop])])
        cv2.fillPoly(
            image, [np.round(teeth * 16).astype(np.int32)], (200, 205, 215), cv2.LINE_AA, 4
        )
    return image


def head_turn(face: Portrait, degrees: float) -> np.ndarray:
    """The face turned `degrees` about a vertical axis (> 0: nose towards image right)."""
    points = face.mesh
    iod = float(np.linalg.norm(points[263, :2] - points[33, :2]))
    pivot_x = float(points[:, 0].mean())
    pivot_z = float(points[:, 2].mean()) + 0.9 * iod  # the neck, behind the face
    angle = math.radians(degrees)
    x, z = points[:, 0] - pivot_x, points[:, 2] - pivot_z
    moved = points[:, :2].copy()
    moved[:, 0] = pivot_x + x * math.cos(angle) - z * math.sin(angle)
    depth = pivot_z + x * math.sin(angle) + z * math.cos(angle)
    return warp_mesh(face, moved, depth)


# -- videos --------------------------------------------------------------------------------


@dataclass
class Clip:
    """One generated video and what it shows."""

    path: Path
    identity: str
    kind: str  # "live" or "attack"
    action: str  # the live action, or the attack's motion
    seed: int


def background(seed: int) -> np.ndarray:
    """A textured wall: smooth random colour blobs."""
    rng = np.random.default_rng(seed)
    width, height = FRAME
    cells = rng.uniform(60, 200, (9, 12, 3))
    return cv2.resize(cells, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)


def _noisy(frame: np.ndarray, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    noisy = frame.astype(np.float32) * gain + rng.normal(0, 3.0, frame.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _write(frames: list[np.ndarray], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, FRAME)
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def _place(wall: np.ndarray, picture: np.ndarray, homography: np.ndarray) -> np.ndarray:
    width, height = FRAME
    warped = cv2.warpPerspective(picture, homography, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones(picture.shape[:2], np.float32), homography, (width, height))[
        ..., None
    ]
    return wall * (1 - mask) + warped.astype(np.float32) * mask


def _similarity(cx: float, cy: float, scale: float, degrees: float, side: int) -> np.ndarray:
    """Homography putting a `side` px square's centre at (cx, cy), scaled and rotated."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    centre = np.array([[1, 0, -side / 2], [0, 1, -side / 2], [0, 0, 1]])
    turn = np.array([[cos, -sin, cx], [sin, cos, cy], [0, 0, 1]])
    return turn @ centre


def tilt(side: int, yaw: float, pitch: float, focal: float = 600.0) -> np.ndarray:
    """Homography of a flat `side` px square turned `yaw` degrees about its vertical axis
    and `pitch` about its horizontal one, seen by a pinhole camera `focal` px away."""
    half = side / 2
    corners = np.array([[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]])
    a, b = math.radians(yaw), math.radians(pitch)
    rot_y = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rot_x = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    turned = corners @ (rot_y @ rot_x).T
    depth = focal + turned[:, 2]
    projected = turned[:, :2] * (focal / depth)[:, None] + half
    flat = corners[:, :2] + half
    return cv2.getPerspectiveTransform(flat.astype(np.float32), projected.astype(np.float32))


def live_frames(identity: str, action: str, seed: int) -> list[np.ndarray]:
    """A live subject: neutral for 0.8-1.5 s, then `action` (blink, turn_left, turn_right,
    mouth_open, or "none": keeps still), swaying a little and breathing noise throughout."""
    rng = np.random.default_rng(seed)
    face = portrait(identity)
    wall = background(seed)
    width, height = FRAME
    count = int(4.0 * FPS)
    onset = int(rng.uniform(0.8, 1.5) * FPS)
    amounts = np.zeros(count)
    if action == "blink":
        shape = [0.5, 1.0, 1.0, 0.5] if rng.random() < 0.5 else [0.6, 1.0, 0.6]
    elif action == "mouth_open":
        shape = [0.3, 0.7, 1.0, 1.0, 1.0, 1.0, 0.7, 0.3]
    else:
        shape = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    if action != "none":
        amounts[onset : onset + len(shape)] = shape[: count - onset]
    angle = rng.uniform(35, 45) * (1 if action == "turn_left" else -1)
    phase = rng.uniform(0, 2 * math.pi, 3)
    frames = []
    for i, amount in enumerate(amounts):
        if action == "blink":
            picture = blink(face, amount)
        elif action == "mouth_open":
            picture = mouth_open(face, amount)
        elif action in ("turn_left", "turn_right") and amount > 0:
            picture = head_turn(face, angle * amount)
        else:
            picture = face.image
        t = i / FPS
        cx = width / 2 + 5 * math.sin(1.3 * t + phase[0])
        cy = height / 2 + 3 * math.sin(0.9 * t + phase[1])
        scale = 1.0 + 0.02 * math.sin(0.7 * t + phase[2])
        homography = _similarity(cx, cy, scale, 1.5 * math.sin(t + phase[0]), PORTRAIT)
        frames.append(_noisy(_place(wall, picture, homography), rng))
    return frames


ATTACK_MOTIONS = ("drift", "turned_print", "nodding_print", "rotate_scale", "flicker_blur")


def attack_frames(identity: str, motion: str, seed: int) -> list[np.ndarray]:
    """A still photo of `identity`, printed with a white margin and moved about for 5 s.

    drift: translation and scale; turned_print: turned 45-60 degrees about its vertical
    axis, left and right (imitates a head turn); nodding_print: tilted about its horizontal
    axis (squeezes the eyes); rotate_scale: in-plane rotation and zoom; flicker_blur:
    brightness changes and blur bursts (a photo waved about). Every motion also drifts.
    """
    rng = np.random.default_rng(seed)
    face = portrait(identity)
    margin = 16
    printed = cv2.copyMakeBorder(
        face.image, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=(235, 235, 235)
    )
    side = printed.shape[0]
    wall = background(seed + 1000)
    width, height = FRAME
    count = int(5.0 * FPS)
    phase = rng.uniform(0, 2 * math.pi, 4)
    swing = rng.uniform(45, 60)
    frames = []
    for i in range(count):
        t = i / FPS
        cx = width / 2 + 20 * math.sin(0.8 * t + phase[0])
        cy = height / 2 + 10 * math.sin(1.1 * t + phase[1])
        scale = (PORTRAIT / side) * (1 + 0.05 * math.sin(0.6 * t + phase[2]))
        roll, yaw, pitch, gain, blur = 0.0, 0.0, 0.0, 1.0, 0.0
        ramp = min(1.0, max(0.0, t - 0.8))  # still for the baseline, then the motion grows
        if motion == "turned_print":
            yaw = ramp * swing * math.sin(1.6 * (t - 0.8))
        elif motion == "nodding_print":
            pitch = ramp * swing * math.sin(2.0 * (t - 0.8))
        elif motion == "rotate_scale":
            roll = ramp * 20 * math.sin(1.5 * t + phase[3])
            scale *= 1 + ramp * 0.2 * math.sin(2.2 * t)
        elif motion == "flicker_blur":
            gain = 1 + ramp * 0.35 * math.sin(5.0 * t + phase[3])
            blur = ramp * 2.0 * max(0.0, math.sin(3.0 * t + phase[2]))
        picture = printed
        if blur > 0.3:
            picture = cv2.GaussianBlur(printed, (0, 0), blur)
        homography = _similarity(cx, cy, scale, roll, side) @ (
            tilt(side, yaw, pitch) if yaw or pitch else np.eye(3)
        )
        frames.append(_noisy(_place(wall, picture, homography), rng, gain))
    return frames


def live_clip(folder: Path, identity: str, action: str, seed: int) -> Clip:
    path = folder / f"live_{identity}_{action}_{seed}.avi"
    _write(live_frames(identity, action, seed), path)
    return Clip(path, identity, "live", action, seed)


def attack_clip(folder: Path, identity: str, motion: str, seed: int) -> Clip:
    path = folder / f"attack_{identity}_{motion}_{seed}.avi"
    _write(attack_frames(identity, motion, seed), path)
    return Clip(path, identity, "attack", motion, seed)


def id_photo(identity: str) -> Path:
    """The fixture picture the portrait was cut from: the ID photo of a generated subject."""
    path = MEDIA / "images" / f"{identity}.jpg"
    return path if path.exists() else MEDIA / "faces" / f"{identity}.jpg"
