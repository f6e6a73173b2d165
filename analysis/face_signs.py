"""Per-frame face signs for a liveness challenge: eye and mouth opening, head pose, mesh.

One job: measure. Whether the signs over a session amount to a blink, a head turn or
an open mouth is `vigil.compare.liveness`'s decision.

Openings are ratios of mesh distances (height over width of the same feature), so they
do not change with the face's size, position or in-plane rotation; a session compares
them with its own first frames, never with a population constant, because eye shape
differs between people far more than a blink's noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from vigil.models.face_detector import FaceDetector
from vigil.models.face_mesh import FaceMesh

# Mesh indices (MediaPipe 468), the subject's right/left. Each eye: outer corner, two
# upper-lid points, inner corner, the two lower-lid points under those upper ones.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (263, 387, 385, 362, 380, 373)
# Inner lips: corners, then three upper/lower pairs across the mouth.
MOUTH_CORNERS = (78, 308)
MOUTH_PAIRS = ((82, 87), (13, 14), (312, 317))
# Eye line to mouth line, over the eye-corner distance: the face's vertical scale. A blink
# leaves it alone; a printed photo tilted about its horizontal axis shrinks it with the eyes.
EYE_CORNERS = (33, 263)
MOUTH_OUTER = (61, 291)
# Lower lip, inner and outer middle: what an opening jaw carries down. The chin (152) was
# left out: the mesh follows it weakly (generated openings: 0.13 with it, 0.15 without;
# tilted prints 0.13 with it, 0.10 without).
JAW_POINTS = (14, 17)
# Eye openness from pixels: each eye is resampled to a canonical patch (corners on its
# middle row, EYE_MARGIN px in from the sides), low-passed so only the iris blob survives
# (a lash line, JPEG noise and a little camera blur do not), and read as how much darker
# than the lid skin its darkest point is. The shipped mesh's eyelid points barely move
# on a closed eye (EAR 0.91-1.01 of open on the generated blinks), so EAR alone cannot
# see a blink; the iris disappearing can.
EYE_PATCH = (32, 20)  # width, height
EYE_MARGIN = 4
EYE_BLUR = 2.0
# Face detail: variance of the Laplacian of the face box resized to this side. A blurred
# frame (a photo waved about) loses it, a blink barely does.
SHARPNESS_SIDE = 96
# Smallest face measured (px, the detector box's short side): below this the eyelid
# points are a pixel or two apart and a blink is noise.
MIN_FACE = 60


def _distance(points: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(points[a, :2] - points[b, :2]))


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    """Lid-to-lid height over corner-to-corner width (Soukupova & Cech 2016, on the mesh)."""
    outer, up1, up2, inner, low2, low1 = eye
    width = _distance(points, outer, inner)
    return (_distance(points, up1, low1) + _distance(points, up2, low2)) / (2 * width)


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """Inner-lip gap over inner-lip width: about 0 closed, 0.3-0.8 open."""
    width = _distance(points, *MOUTH_CORNERS)
    gaps = [_distance(points, upper, lower) for upper, lower in MOUTH_PAIRS]
    return sum(gaps) / (len(gaps) * width)


def face_height_ratio(points: np.ndarray) -> float:
    """Eye-line midpoint to mouth-line midpoint, over the outer eye-corner distance."""
    eyes = (points[EYE_CORNERS[0], :2] + points[EYE_CORNERS[1], :2]) / 2
    mouth = (points[MOUTH_OUTER[0], :2] + points[MOUTH_OUTER[1], :2]) / 2
    return float(np.linalg.norm(mouth - eyes)) / _distance(points, *EYE_CORNERS)


def _eye_patch(grey: np.ndarray, points: np.ndarray, outer: int, inner: int) -> np.ndarray:
    width, height = EYE_PATCH
    a, b = points[outer, :2], points[inner, :2]
    if a[0] > b[0]:
        a, b = b, a
    normal = np.array([-(b[1] - a[1]), b[0] - a[0]])
    source = np.array([a, b, a + normal], np.float32)
    span = width - 2 * EYE_MARGIN
    target = np.array(
        [
            [EYE_MARGIN, height / 2],
            [width - EYE_MARGIN, height / 2],
            [EYE_MARGIN, height / 2 + span],
        ],
        np.float32,
    )
    matrix = cv2.getAffineTransform(source, target)
    patch = cv2.warpAffine(grey, matrix, EYE_PATCH, borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(patch.astype(np.float64), (0, 0), EYE_BLUR)


def eye_openness(grey: np.ndarray, points: np.ndarray) -> float:
    """Mean over both eyes of (lid skin - darkest iris point) / lid skin, 0..1."""
    values = []
    for outer, inner in ((RIGHT_EYE[0], RIGHT_EYE[3]), (LEFT_EYE[0], LEFT_EYE[3])):
        patch = _eye_patch(grey, points, outer, inner)
        skin = float(np.median(np.concatenate([patch[:3].ravel(), patch[-3:].ravel()])))
        centre = patch[5:-5, 2 * EYE_MARGIN : -2 * EYE_MARGIN]
        values.append(max(skin - float(centre.min()), 0.0) / max(skin, 1.0))
    return float(np.mean(values))


def sharpness(grey: np.ndarray, box: np.ndarray) -> float:
    """Variance of the Laplacian over the face box, at a fixed size."""
    height, width = grey.shape
    x1, y1, x2, y2 = (round(float(v)) for v in box[:4])
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return 0.0
    face = cv2.resize(grey[y1:y2, x1:x2], (SHARPNESS_SIDE, SHARPNESS_SIDE))
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


@dataclass
class FaceSigns:
    """The largest face of one frame, measured."""

    box: tuple[float, float, float, float]
    faces: int  # faces detected in the frame (a second face is a warning sign)
    ear_left: float
    ear_right: float
    eye_open: float
    mar: float
    sharpness: float
    height_ratio: float
    yaw: float
    pitch: float
    roll: float
    presence: float
    landmarks: np.ndarray  # (468, 3) image pixels, for the planarity check

    @property
    def ear(self) -> float:
        return (self.ear_left + self.ear_right) / 2


class SignReader:
    """Detects the largest face of a frame and reads its signs from the face mesh."""

    def __init__(self, min_face: int = MIN_FACE) -> None:
        self.min_face = min_face

    @cached_property
    def detector(self) -> FaceDetector:
        return FaceDetector(min_face=self.min_face)

    @cached_property
    def mesh(self) -> FaceMesh:
        return FaceMesh()

    def read(self, image: np.ndarray) -> FaceSigns | None:
        """The largest face's signs, or None when no face of `min_face` px is found."""
        faces = [
            face
            for face in self.detector.detect(image)
            if min(face.box[2] - face.box[0], face.box[3] - face.box[1]) >= self.min_face
        ]
        if not faces:
            return None
        face = max(faces, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
        pose = self.mesh.estimate(image, [face])[0]
        points = pose.landmarks.astype(np.float64)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        x1, y1, x2, y2 = (round(float(v), 1) for v in face.box[:4])
        return FaceSigns(
            box=(x1, y1, x2, y2),
            faces=len(faces),
            ear_left=eye_aspect_ratio(points, LEFT_EYE),
            ear_right=eye_aspect_ratio(points, RIGHT_EYE),
            eye_open=eye_openness(grey, points),
            mar=mouth_aspect_ratio(points),
            sharpness=sharpness(grey, face.box),
            height_ratio=face_height_ratio(points),
            yaw=pose.yaw,
            pitch=pose.pitch,
            roll=pose.roll,
            presence=pose.presence,
            landmarks=points,
        )


def nonplanar_residual(before: np.ndarray, after: np.ndarray) -> float:
    """How far the mesh moved unlike a flat picture: RMS residual of the best homography
    from `before`'s 2D landmarks to `after`'s, over `before`'s eye-corner distance.

    Any view of a flat picture (moved, scaled, rotated, tilted, perspective) maps onto
    another by a homography, so a printout or a screen leaves only the mesh's own noise;
    a head turning in 3D moves the nose, cheeks and jaw line relative to each other in a
    way no homography follows.
    """
    source = before[:, :2].astype(np.float64)
    target = after[:, :2].astype(np.float64)
    homography, _ = cv2.findHomography(source, target, 0)
    if homography is None:
        return float("inf")
    projected = cv2.perspectiveTransform(source[None], homography)[0]
    rms = float(np.sqrt(np.mean(np.sum((projected - target) ** 2, axis=1))))
    return rms / max(_distance(before, *EYE_CORNERS), 1.0)


def jaw_drop(before: np.ndarray, after: np.ndarray) -> float:
    """How far the lower lip moved away from where the rigid upper face puts them,
    over the eye-corner distance.

    A homography is fitted on the points above the mouth only (eyes, brows, nose,
    forehead); a picture's lower face follows it, an opening jaw does not. A printed
    photo tilted hard makes the mesh read a wider mouth-aspect ratio (foreshortening),
    but not a lower lip that leaves the face's own geometry.
    """
    source = before[:, :2].astype(np.float64)
    target = after[:, :2].astype(np.float64)
    eye_distance = max(_distance(before, *EYE_CORNERS), 1.0)
    mouth_line = float(source[list(MOUTH_OUTER), 1].mean())
    upper = source[:, 1] < mouth_line - 0.25 * eye_distance
    homography, _ = cv2.findHomography(source[upper], target[upper], 0)
    if homography is None:
        return 0.0
    lower = list(JAW_POINTS)
    predicted = cv2.perspectiveTransform(source[None, lower], homography)[0]
    return float(np.mean(np.linalg.norm(predicted - target[lower], axis=1))) / eye_distance
