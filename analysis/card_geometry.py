"""Where a card lies in a photo, and the card seen flat (rectified).

A phone photo of an ID document shows the card at an angle: text lines slant and
shrink towards the far edge, which costs the OCR characters. The card is a bright
convex quadrilateral on its background, so its outline is the largest 4-cornered
contour of the photo's edges; warping that quadrilateral to a rectangle undoes the
perspective. When no such outline is found (the card fills the photo, or its edge
is lost against the background) the whole photo is used as it is.

>>> quad = find_card(photo)           # (4, 2) TL, TR, BR, BL, or None
>>> flat, to_photo = rectify(photo, quad)
"""

from __future__ import annotations

import cv2
import numpy as np

# A card outline covers at least this share of the photo (smaller: a logo, a window).
MIN_CARD_AREA = 0.08
# The polygon approximation tolerance, as a share of the contour's perimeter.
POLY_EPSILON = 0.02
# The contour work runs on a copy scaled to this longer side (cost, and noise).
WORK_SIDE = 800


def order_corners(points: np.ndarray) -> np.ndarray:
    """Four points as top-left, top-right, bottom-right, bottom-left (float32)."""
    points = np.asarray(points, np.float32).reshape(4, 2)
    total = points.sum(axis=1)
    diff = points[:, 1] - points[:, 0]
    return np.array(
        [
            points[np.argmin(total)],
            points[np.argmin(diff)],
            points[np.argmax(total)],
            points[np.argmax(diff)],
        ],
        np.float32,
    )


def find_card(photo: np.ndarray) -> np.ndarray | None:
    """The card's corners in the photo (TL, TR, BR, BL, float32), or None."""
    height, width = photo.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    edges = cv2.Canny(grey, 40, 120)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area = small.shape[0] * small.shape[1]
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
        if cv2.contourArea(contour) < MIN_CARD_AREA * area:
            break
        hull = cv2.convexHull(contour)
        poly = cv2.approxPolyDP(hull, POLY_EPSILON * cv2.arcLength(hull, True), True)
        if len(poly) != 4 or not cv2.isContourConvex(poly):
            continue
        corners = order_corners(poly / scale)
        if len({tuple(c) for c in corners.round(1)}) == 4:  # four distinct corners
            return corners
    return None


def rectify(photo: np.ndarray, quad: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The card seen flat and the homography from its pixels back to the photo's.

    The flat card keeps the photo's resolution (its edges' mean lengths), so a face
    on it is measured at about the size the camera saw: the query-face filters hold.
    Without a quad, the photo itself and the identity.
    """
    if quad is None:
        return photo, np.eye(3)
    tl, tr, br, bl = quad
    width = round((np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2)
    height = round((np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2)
    flat = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    to_flat = cv2.getPerspectiveTransform(quad.astype(np.float32), flat)
    card = cv2.warpPerspective(photo, to_flat, (width, height), flags=cv2.INTER_CUBIC)
    return card, np.linalg.inv(to_flat)


def to_photo(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """(N, 2) card pixels mapped into the photo."""
    points = np.asarray(points, np.float32).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(points, homography).reshape(-1, 2)


def box_in_photo(box: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """[x1, y1, x2, y2] of the card mapped into the photo (the box around its corners)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    corners = to_photo(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]), homography)
    return np.concatenate([corners.min(axis=0), corners.max(axis=0)])
