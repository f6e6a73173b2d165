"""Constant-velocity Kalman filter on a box's centre and size.

A track is matched against where its object *will be*, not where it was: at 5 fps a
walker moves a good part of its width between detections, so the last box alone
loses IoU with its own next detection and, when two people cross, overlaps the
other one better. The filter predicts the box forward with the velocity it has
estimated and smooths detector jitter.

State: centre x, centre y, width, height and their velocities in pixels per
*second*, so detection frames may come at any spacing (frames skipped under
back-pressure just mean a longer prediction). Noise is scaled by the box's size,
as in SORT/ByteTrack, so one set of constants serves a 30 px face and a 300 px bus.
"""

from __future__ import annotations

import numpy as np

# Detector jitter on each of cx, cy, w, h, as a fraction of the box size.
MEASUREMENT_STD = 0.05
# White-noise acceleration, in box sizes per second squared: how fast the estimated
# velocity may change. Tuned on synthetic walkers (2-3 px jitter, 5 fps): 2.0 and up let
# jitter swing the velocity enough to swap two walkers whose boxes coincide; 0.5 is too
# slow to follow a sharp turn at a run. Sizes change more slowly than positions.
CENTRE_ACCELERATION_STD = 1.0
SIZE_ACCELERATION_STD = 0.5
# Uncertainty of the first box, and of its unknown velocity (box sizes per second).
INITIAL_POSITION_STD = 2 * MEASUREMENT_STD
INITIAL_VELOCITY_STD = 2.0
MIN_SIDE = 1.0


def _centre_size(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64)[:4]
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


class BoxKalman:
    """Kalman filter with state (cx, cy, w, h, vcx, vcy, vw, vh) for one track.

    motion = BoxKalman(first_box)
    motion.predict(dt); motion.update(next_box)  # motion.box: the filtered estimate
    """

    _MEASURE = np.hstack([np.eye(4), np.zeros((4, 4))])

    def __init__(self, box: np.ndarray):
        self.mean = np.concatenate([_centre_size(box), np.zeros(4)])
        scale = self.scale
        std = np.concatenate([np.full(4, INITIAL_POSITION_STD), np.full(4, INITIAL_VELOCITY_STD)])
        self.covariance = np.diag((std * scale) ** 2)

    @property
    def scale(self) -> float:
        """Box size used to scale all noise: the mean of width and height."""
        return max(float(self.mean[2] + self.mean[3]) / 2, MIN_SIDE)

    @property
    def speed(self) -> float:
        """Estimated speed of the centre, pixels per second."""
        return float(np.hypot(self.mean[4], self.mean[5]))

    @property
    def centre(self) -> np.ndarray:
        return self.mean[:2].copy()

    @property
    def box(self) -> np.ndarray:
        """Current estimate as float32 [x1, y1, x2, y2] (sides at least MIN_SIDE)."""
        cx, cy = self.mean[:2]
        half = np.maximum(self.mean[2:4], MIN_SIDE) / 2
        return np.array([cx - half[0], cy - half[1], cx + half[0], cy + half[1]], np.float32)

    def predict(self, dt: float, hold_size: bool = False) -> np.ndarray:
        """Move the estimate `dt` seconds ahead; returns the predicted box.

        `hold_size` stops the size velocity first: while an object is unseen, a
        growth estimated from a few boxes would otherwise inflate it without limit
        (ByteTrack does the same for lost tracks).
        """
        if dt < 0:
            raise ValueError(f"cannot predict backwards in time (dt={dt})")
        if hold_size:
            self.mean[6:8] = 0.0
        transition = np.eye(8)
        transition[:4, 4:] = np.eye(4) * dt
        self.mean = transition @ self.mean
        self.covariance = transition @ self.covariance @ transition.T + self._process_noise(dt)
        return self.box

    def update(self, box: np.ndarray) -> np.ndarray:
        """Fold in a detected box; returns the filtered box."""
        measured = _centre_size(box)
        noise = np.eye(4) * (MEASUREMENT_STD * self.scale) ** 2
        projected = self._MEASURE @ self.covariance @ self._MEASURE.T + noise
        gain = np.linalg.solve(projected, self._MEASURE @ self.covariance).T
        self.mean = self.mean + gain @ (measured - self._MEASURE @ self.mean)
        self.covariance = (np.eye(8) - gain @ self._MEASURE) @ self.covariance
        return self.box

    def observe_velocity(self, previous: np.ndarray, current: np.ndarray, dt: float) -> None:
        """Set the centre velocity to the displacement between two boxes `dt` seconds apart.

        Called on a track's second box: the measured displacement replaces the filter's
        zero-velocity start (its uncertainty stays, so later boxes still correct it).
        """
        if dt <= 0:
            return
        moved = _centre_size(current)[:2] - _centre_size(previous)[:2]
        self.mean[4:6] = moved / dt

    def _process_noise(self, dt: float) -> np.ndarray:
        """Discrete white-noise-acceleration covariance for a step of `dt` seconds."""
        accel = np.array([CENTRE_ACCELERATION_STD] * 2 + [SIZE_ACCELERATION_STD] * 2) * self.scale
        variance = accel**2
        noise = np.zeros((8, 8))
        index = np.arange(4)
        noise[index, index] = variance * dt**4 / 4
        noise[index, index + 4] = noise[index + 4, index] = variance * dt**3 / 2
        noise[index + 4, index + 4] = variance * dt**2
        return noise
