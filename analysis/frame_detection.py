"""One detection of a video frame, as the capture step passes it along.

`detect_frame` makes them, the tracker and the best-shot bookkeeping hold them, the
assembler builds the Capture from them and `describe_shot` describes them: typed all
the way (as supervision's `Detections` is between detector, tracker and annotator).
Only where a detection crosses a process (the Celery tasks `vigil.frame.detect` and
`vigil.capture.describe`) is it a plain, msgpack-friendly dict: `to_wire` and
`from_wire`, whose keys and value types are those tasks' public wire format:

    {"type": "face", "label": "face", "box": [x1, y1, x2, y2], "score": 0.93,
     "keypoints": [[x, y], ...] | None, "quality": {"score": ..., "parts": {...}},
     "crop": b"<jpeg>" | None, "appearance": [h, ...] | None, "crop_origin": [x, y],
     "weak": false}

"weak" (optional, false when absent): the detection scored just under its detector's
threshold and may only continue a track (`Detection.weak`).

A dict from another process may be anything: `from_wire` checks every field and refuses
a malformed one with `VigilError(invalid_options)` naming the field, so nothing deeper
(tracker, assembler) ever meets a missing key or a string where a number belongs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from vigil.models.types import Detection
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.target import Quality, TargetType

Box = tuple[float, float, float, float]
Point = tuple[float, float]
FACE_POINTS = 6  # BlazeFace: right eye, left eye, nose tip, mouth, right ear, left ear


@dataclass(frozen=True, eq=False)
class FrameDetection:
    """A detection with what the capture step needs of it, in frame pixel coordinates.

    Values are the wire's (box to 2 decimals, score to 4, appearance to 4), so a
    detection is the same object whether it crossed a process or not. `crop` is the
    JPEG of the box plus a margin (`frame_analysis.CROP_MARGIN`), whose top-left corner
    in the frame is `crop_origin`; `appearance` is the look descriptor the tracker
    matches on (`appearance.descriptor`, float32). Compared by identity: a track's
    published shot is *this* detection, not an equal one.
    """

    type: TargetType
    label: str
    box: Box
    score: float
    quality: Quality
    crop: bytes | None
    crop_origin: Point
    keypoints: tuple[Point, ...] | None = None
    appearance: np.ndarray | None = None
    weak: bool = False

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    def in_frame(self) -> Detection:
        """The model-level detection (float32 box and keypoints) in frame coordinates."""
        return Detection(
            box=np.asarray(self.box, dtype=np.float32),
            score=self.score,
            label=self.label,
            keypoints=(
                np.asarray(self.keypoints, dtype=np.float32) if self.keypoints is not None else None
            ),
            weak=self.weak,
        )

    def in_crop(self) -> Detection:
        """The model-level detection re-expressed in its crop's pixel coordinates."""
        origin = np.asarray(self.crop_origin, dtype=np.float32)
        box = np.asarray(self.box, dtype=np.float32) - np.tile(origin, 2)
        return Detection(
            box=box,
            score=float(self.score),
            label=self.label,
            keypoints=(
                np.asarray(self.keypoints, np.float32) - origin
                if self.keypoints is not None
                else None
            ),
            weak=self.weak,
        )

    def to_wire(self, with_crop: bool = True) -> dict[str, Any]:
        """The msgpack-friendly dict of the Celery tasks (`with_crop=False`: without "crop",
        as `vigil.capture.describe` takes it, the crop going as its own argument)."""
        wire: dict[str, Any] = {
            "type": self.type.value,
            "label": self.label,
            "box": list(self.box),
            "score": self.score,
            "keypoints": [list(p) for p in self.keypoints] if self.keypoints is not None else None,
            "quality": self.quality.model_dump(),
        }
        if with_crop:
            wire["crop"] = self.crop
        wire["appearance"] = wire_values(self.appearance) if self.appearance is not None else None
        wire["crop_origin"] = list(self.crop_origin)
        wire["weak"] = self.weak
        return wire

    @classmethod
    def from_wire(cls, wire: object) -> FrameDetection:
        """The detection of a wire dict; `VigilError(invalid_options)` when it is malformed.

        `crop`, `appearance` and a body's or vehicle's `keypoints` may be absent (None);
        a face needs its six keypoints, which alignment and the mesh read. Unknown keys are
        ignored, so a newer worker may add fields.
        """
        if not isinstance(wire, Mapping):
            raise malformed(f"a detection must be a mapping, not {type(wire).__name__}")
        for key in ("type", "label", "box", "score", "quality", "crop_origin"):
            if key not in wire:
                raise malformed(f"{key!r} is missing")
        kind = wire["type"]
        if not isinstance(kind, str) or kind not in {t.value for t in TargetType}:
            choices = ", ".join(t.value for t in TargetType)
            raise malformed(f"'type' must be one of {choices}, not {short(kind)}")
        if not isinstance(wire["label"], str):
            raise malformed(f"'label' must be a string, not {short(wire['label'])}")
        quality = wire["quality"]
        if not isinstance(quality, Mapping):
            raise malformed(f"'quality' must be a mapping, not {short(quality)}")
        try:
            checked = Quality.model_validate(dict(quality))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise malformed(f"'quality.{where}': {first['msg']}") from None
        crop = wire.get("crop")
        if crop is not None and not isinstance(crop, bytes | bytearray | memoryview):
            raise malformed(f"'crop' must be JPEG bytes or None, not {type(crop).__name__}")
        keypoints = wire.get("keypoints")
        if keypoints is not None:
            if not isinstance(keypoints, list | tuple):
                raise malformed(f"'keypoints' must be a list of [x, y], not {short(keypoints)}")
            keypoints = tuple(numbers(p, 2, "keypoints") for p in keypoints) or None
        if kind == TargetType.FACE.value and (keypoints is None or len(keypoints) != FACE_POINTS):
            raise malformed(f"a face needs its {FACE_POINTS} 'keypoints' (eyes, nose, mouth, ears)")
        look = wire.get("appearance")
        if look is not None:
            if not isinstance(look, list | tuple):
                raise malformed(f"'appearance' must be a list of numbers, not {short(look)}")
            with np.errstate(over="ignore"):  # checked just below
                look = np.asarray(numbers(look, len(look), "appearance"), dtype=np.float32)
            if not np.isfinite(look).all():
                raise malformed("'appearance' holds a number too large for float32")
        weak = wire.get("weak", False)
        if not isinstance(weak, bool):
            raise malformed(f"'weak' must be true or false, not {short(weak)}")
        return cls(
            type=TargetType(kind),
            label=wire["label"],
            box=numbers(wire["box"], 4, "box"),
            score=number(wire["score"], "score"),
            quality=checked,
            crop=bytes(crop) if crop is not None else None,
            crop_origin=numbers(wire["crop_origin"], 2, "crop_origin"),
            keypoints=keypoints,
            appearance=look if look is not None and look.size else None,
            weak=weak,
        )


def wire_values(look: np.ndarray) -> list[float]:
    """A look descriptor as the wire carries it: floats rounded to 4 decimals. numpy's
    rounding (x 1e4, to even, / 1e4) gave Python's `round` on 20,000 random histograms
    of 192 bins, at 6 us instead of 78 per detection; both sides of the wire use this."""
    return np.round(np.asarray(look, np.float64), 4).tolist()


def detections_from_wire(wire: object) -> list[FrameDetection]:
    """A `vigil.frame.detect` result: a list of wire dicts; `VigilError` when malformed."""
    if not isinstance(wire, list | tuple):
        raise malformed(f"a detection result must be a list, not {type(wire).__name__}")
    result = []
    for index, item in enumerate(wire):
        try:
            result.append(FrameDetection.from_wire(item))
        except VigilError as exc:
            raise VigilError(exc.code, f"detection {index}: {exc.message}") from None
    return result


def malformed(what: str) -> VigilError:
    return VigilError(ErrorCode.INVALID_OPTIONS, f"malformed detection: {what}")


def short(value: object) -> str:
    """`value` for an error message, cut short (a hostile value may be huge)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def number(value: object, name: str) -> float:
    """A finite real number (not a bool) as a float."""
    if type(value) is float and math.isfinite(value):
        return value  # the common case, first: every appearance value of every detection
    result = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int of 400 digits stays NaN
            result = float(value)
    if not math.isfinite(result):
        raise malformed(f"{name!r} must be a finite number, not {short(value)}")
    return result


def numbers(value: object, count: int, name: str) -> Any:
    """A list of `count` finite numbers as a tuple of floats."""
    if not isinstance(value, list | tuple) or len(value) != count:
        raise malformed(f"{name!r} must be a list of {count} numbers, not {short(value)}")
    return tuple([number(v, name) for v in value])


def focus_from_wire(wire: object, limit: int) -> list[np.ndarray] | None:
    """A detect task's `focus`: None, or at most `limit` [x1, y1, x2, y2] boxes."""
    if wire is None:
        return None
    if not isinstance(wire, list | tuple):
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"focus must be a list of boxes, not {short(wire)}"
        )
    if len(wire) > limit:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"focus holds {len(wire)} boxes; at most {limit}"
        )
    try:
        return [np.asarray(numbers(box, 4, "focus"), np.float32) for box in wire]
    except VigilError as exc:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, exc.message.removeprefix("malformed detection: ")
        ) from None
