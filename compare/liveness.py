"""Liveness session: did the face in front of the camera do what it was asked, in time?

One session watches one subject for one challenge. Frames are fed in source time; the
session keeps its own neutral baseline (median of its first BASELINE_FRAMES faces) and
decides as soon as the evidence is in:

- blink: eye openness (iris darkness, `face_signs.eye_openness`) drops below
  BLINK_CLOSED of the baseline on a frame at least SHARP_ENOUGH as sharp as the
  baseline (a blurred photo also loses its irises), then comes back above
  BLINK_REOPENED.
- turn_left / turn_right: yaw moves TURN_DEGREES past the baseline in the asked
  direction, and the mesh moved non-planarly: the best homography from the baseline
  mesh to that frame's leaves a residual of at least NONPLANAR of the eye distance. A
  printout or a screen, moved, rotated or tilted however, is a plane and maps by a
  homography (generated prints tilted up to 60 degrees: at most 0.044, bench seeds);
  a turn whose residual stays under FLAT_RESIDUAL on FLAT_TURNS frames is refused as a
  flat picture.
- mouth_open: the inner-lip aspect ratio rises MOUTH_RISE above the baseline and the
  lower lip leaves the rigid upper face by JAW_DROP of the eye distance
  (`face_signs.jaw_drop`): a print tilted hard widens the aspect ratio by
  foreshortening (+0.22 measured) but keeps its lower lip on the upper face's homography
  (tilted prints: at most 0.10; blur bursts made the mesh read 0.127 once, with no
  ratio rise on the same frame).

The face must stay one face: a jump of the box (a swap between two pictures, a second
person stepping in) ends the session as not live. Identity is not this module's job:
`vigil.compare.verify` still has to match the face against the ID photo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from vigil.analysis.face_signs import FaceSigns, jaw_drop, nonplanar_residual
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.liveness import (
    PROMPTS,
    Challenge,
    LivenessDecision,
    LivenessFrame,
    LivenessResult,
)

DEFAULT_TIMEOUT = 8.0
DEFAULT_FPS = 10.0  # a blink lasts 0.1-0.4 s: 5 fps can miss it
BASELINE_FRAMES = 3
BLINK_CLOSED = 0.7
BLINK_REOPENED = 0.85
SHARP_ENOUGH = 0.6
TURN_DEGREES = 12.0
NONPLANAR = 0.05
FLAT_RESIDUAL = 0.03
FLAT_TURNS = 3
MOUTH_RISE = 0.12
JAW_DROP = 0.125
# The largest face's centre may move this many box widths between examined frames.
JUMP = 0.6
SIZE_JUMP = 1.6

_random = random.SystemRandom()


def choose_challenge(challenge: Challenge | str | None = None) -> tuple[Challenge, str]:
    """The caller's challenge, or one drawn at random (a system RNG, not a seeded one)."""
    if challenge is None:
        return _random.choice(list(Challenge)), "random"
    try:
        return Challenge(challenge), "caller"
    except ValueError:
        names = ", ".join(kind.value for kind in Challenge)
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"unknown challenge {challenge!r}; one of {names}"
        ) from None


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass
class LivenessSession:
    """Feeds frames (`observe`) until `decision` is set; `result()` reports it."""

    challenge: Challenge
    timeout: float = DEFAULT_TIMEOUT
    chosen_by: str = "caller"
    frames: list[LivenessFrame] = field(default_factory=list)
    decision: LivenessDecision | None = None
    reason: str = ""
    _start: float | None = None
    _decided_at: float = 0.0
    _neutral: list[FaceSigns] = field(default_factory=list)
    _baseline: dict[str, float] = field(default_factory=dict)
    _mesh: np.ndarray | None = None
    _last: FaceSigns | None = None
    _closed: bool = False
    _flat_turns: int = 0
    _peak: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(
        cls, challenge: Challenge | str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> LivenessSession:
        if not timeout > 0:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"liveness timeout must be positive, got {timeout:g}"
            )
        kind, chosen_by = choose_challenge(challenge)
        return cls(kind, float(timeout), chosen_by)

    @property
    def prompt(self) -> str:
        return PROMPTS[self.challenge]

    def observe(self, time_s: float, signs: FaceSigns | None) -> LivenessDecision | None:
        """One examined frame at `time_s` (source seconds); the decision once made."""
        if self.decision is not None:
            return self.decision
        if self._start is None:
            self._start = time_s
        t = time_s - self._start
        if t > self.timeout:
            self._timeout(t)
            return self.decision
        if signs is None:
            self.frames.append(LivenessFrame(t=round(t, 3), face=False))
            return None
        frame = LivenessFrame(
            t=round(t, 3),
            face=True,
            box=[round(v, 1) for v in signs.box],
            ear_left=_rounded(signs.ear_left),
            ear_right=_rounded(signs.ear_right),
            eye_open=_rounded(signs.eye_open),
            mar=_rounded(signs.mar),
            yaw=_rounded(signs.yaw, 2),
            pitch=_rounded(signs.pitch, 2),
            sharpness=_rounded(signs.sharpness, 1),
        )
        self.frames.append(frame)
        jumped = self._jumped(signs)
        self._last = signs
        if jumped:
            self._decide(t, LivenessDecision.NOT_LIVE, jumped)
        elif len(self._neutral) < BASELINE_FRAMES:
            self._neutral.append(signs)
            if len(self._neutral) == BASELINE_FRAMES:
                self._set_baseline()
        else:
            self._judge(t, signs, frame)
        return self.decision

    def finish(self, time_s: float | None = None) -> LivenessResult:
        """Decide now if not yet decided (the source ended or the caller's limit came)."""
        if self.decision is None:
            t = 0.0 if self._start is None or time_s is None else time_s - self._start
            self._timeout(t)
        return self.result()

    def result(self) -> LivenessResult:
        assert self.decision is not None, "finish() the session first"
        return LivenessResult(
            challenge=self.challenge,
            prompt=self.prompt,
            chosen_by=self.chosen_by,
            decision=self.decision,
            reason=self.reason,
            timeout_s=self.timeout,
            elapsed_s=round(max(self._decided_at, 0.0), 3),
            baseline={k: round(v, 4) for k, v in self._baseline.items()},
            peak={k: round(v, 4) for k, v in self._peak.items()},
            frames=self.frames,
        )

    # -- rules -------------------------------------------------------------------------

    def _decide(self, t: float, decision: LivenessDecision, reason: str) -> None:
        self.decision, self.reason, self._decided_at = decision, reason, t

    def _timeout(self, t: float) -> None:
        """Out of time (or of frames: the source ended, the caller's limit came first)."""
        within = (
            f"within {self.timeout:g}s"
            if t >= self.timeout
            else f"before the frames stopped at {max(t, 0.0):.1f}s"
        )
        if not any(frame.face for frame in self.frames):
            self._decide(t, LivenessDecision.NO_FACE, f"no face of the minimum size {within}")
        elif len(self._neutral) < BASELINE_FRAMES:
            reason = f"fewer than {BASELINE_FRAMES} face frames to set a baseline {within}"
            self._decide(t, LivenessDecision.TIMEOUT, reason)
        else:
            self._decide(t, LivenessDecision.TIMEOUT, f"{self.challenge.value} not seen {within}")

    def _jumped(self, signs: FaceSigns) -> str:
        last = self._last
        if last is None:
            return ""
        width = max(last.box[2] - last.box[0], 1.0)
        centre = np.subtract(
            [(signs.box[0] + signs.box[2]) / 2, (signs.box[1] + signs.box[3]) / 2],
            [(last.box[0] + last.box[2]) / 2, (last.box[1] + last.box[3]) / 2],
        )
        size = (signs.box[2] - signs.box[0]) / width
        if float(np.hypot(*centre)) > JUMP * width or not 1 / SIZE_JUMP < size < SIZE_JUMP:
            return "the face jumped between frames (another face or picture?)"
        return ""

    def _set_baseline(self) -> None:
        def median(name: str) -> float:
            return float(np.median([getattr(signs, name) for signs in self._neutral]))

        names = ("ear", "eye_open", "mar", "yaw", "pitch", "sharpness")
        self._baseline = {name: median(name) for name in names}
        self._mesh = self._neutral[-1].landmarks

    def _judge(self, t: float, signs: FaceSigns, frame: LivenessFrame) -> None:
        base = self._baseline
        assert self._mesh is not None
        frame.nonplanar = round(nonplanar_residual(self._mesh, signs.landmarks), 4)
        frame.jaw_drop = round(jaw_drop(self._mesh, signs.landmarks), 4)
        for name in ("nonplanar", "jaw_drop"):
            self._peak[name] = max(self._peak.get(name, 0.0), getattr(frame, name))
        kind = self.challenge
        if kind == Challenge.BLINK:
            ratio = signs.eye_open / max(base["eye_open"], 1e-6)
            sharp = signs.sharpness / max(base["sharpness"], 1e-6)
            if sharp < SHARP_ENOUGH:
                return  # a blurred frame: its irises fade too, it is no evidence
            self._peak["eye_open_ratio"] = min(self._peak.get("eye_open_ratio", 1.0), ratio)
            if ratio < BLINK_CLOSED:
                self._closed = True
            elif self._closed and ratio > BLINK_REOPENED:
                self._decide(
                    t,
                    LivenessDecision.LIVE,
                    f"eyes closed (openness {self._peak['eye_open_ratio']:.2f} of baseline,"
                    f" below {BLINK_CLOSED}) and reopened",
                )
        elif kind == Challenge.MOUTH_OPEN:
            rise = signs.mar - base["mar"]
            drop = frame.jaw_drop or 0.0
            self._peak["mar_rise"] = max(self._peak.get("mar_rise", 0.0), rise)
            if rise >= MOUTH_RISE and drop >= JAW_DROP:
                self._decide(
                    t,
                    LivenessDecision.LIVE,
                    f"mouth opened (aspect ratio +{rise:.2f} over baseline, at least"
                    f" {MOUTH_RISE}; jaw dropped {drop:.2f} of the eye distance, at least"
                    f" {JAW_DROP})",
                )
        else:
            sign = 1.0 if kind == Challenge.TURN_LEFT else -1.0
            turn = sign * (signs.yaw - base["yaw"])
            self._peak["turn_degrees"] = max(self._peak.get("turn_degrees", 0.0), turn)
            if turn < TURN_DEGREES:
                return
            residual = frame.nonplanar or 0.0
            if residual >= NONPLANAR:
                self._decide(
                    t,
                    LivenessDecision.LIVE,
                    f"head turned {turn:.0f} degrees (at least {TURN_DEGREES:g}) with non-planar"
                    f" motion (residual {residual:.3f} of the eye distance, at least {NONPLANAR})",
                )
                return
            if residual >= FLAT_RESIDUAL:
                return  # between flat and surely not: keep watching
            self._flat_turns += 1
            if self._flat_turns >= FLAT_TURNS:
                self._decide(
                    t,
                    LivenessDecision.NOT_LIVE,
                    f"turned {turn:.0f} degrees like a flat picture (homography residual"
                    f" {residual:.3f} of the eye distance, below {NONPLANAR})",
                )
