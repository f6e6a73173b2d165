"""Identity verification: is the person in front of the camera the one on the ID photo?

>>> verify("id.jpg", image="selfie.jpg").decision
<VerifyDecision.MATCH: 'match'>
>>> verify("id.jpg", source="rtsp://kiosk/stream", timeout=10).elapsed_s

The ID photo contributes its query face, chosen and filtered as compare's are
(`vigil.analysis.faces.choose_query_face`: a named face, else the largest unless
another rivals it; `face_too_small`, `low_quality`, `ambiguous_face`). A picture is
looked at once: every face that passes the filters is compared (or only the one
named with `face`), and a picture whose faces all fail them is refused with the
largest one's reason. A video source is sampled (5 fps by default) and every face
found that passes the filters is compared (a face too small for the calibrated FAR
is no evidence either way); the answer is `match` as soon as one reaches the
threshold, otherwise `no_match` (or `no_face`) when the time limit expires or the
source ends. Each face goes through `compare`, so verification and 1:1 compare use
the same calibrated thresholds and always agree.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.analysis.face_signs import SignReader
from vigil.analysis.faces import (
    choose_query_face,
    every_face,
    overlap,
    query_face,
    usable_faces,
)
from vigil.analysis.image_analyzer import encode_crop
from vigil.analysis.image_decoder import load_image
from vigil.analysis.pictures import ImageSource, source_label
from vigil.compare.compare import compare, picture_face, threshold_at
from vigil.compare.id_card import CardReading, card_reference
from vigil.compare.liveness import DEFAULT_FPS as LIVENESS_FPS
from vigil.compare.liveness import DEFAULT_TIMEOUT as LIVENESS_TIMEOUT
from vigil.compare.liveness import LivenessSession
from vigil.compare.verification_record import photo_crop, record_attempt, record_directory
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.runtime import model_version
from vigil.schemas.compare import (
    ComparedFace,
    CompareResult,
    FaceChoice,
    QueryFaceOptions,
    parse_face,
    query_options,
)
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box
from vigil.schemas.liveness import Challenge
from vigil.schemas.target import Target
from vigil.schemas.threshold import Threshold
from vigil.schemas.verify import VerifyDecision, VerifyEnd, VerifyResult
from vigil.video.errors import redact
from vigil.video.sampler import Sampler
from vigil.video.source import VideoSource

DEFAULT_TIMEOUT = 10.0
DEFAULT_FPS = 5.0
# With liveness, a face counts for identity only where it is the face doing the action:
# its box overlaps the liveness face's box this much (intersection over union), so a
# photo of the ID holder held beside someone who blinks does not pass.
SAME_FACE_IOU = 0.3


def reference_face(
    id_photo: ImageSource, options: QueryFaceOptions, face: FaceChoice | None = None
) -> tuple[Feature, ComparedFace]:
    """The ID photo's query face; its refusals (NO_FACE, FACE_TOO_SMALL, LOW_QUALITY,
    AMBIGUOUS_FACE, the decoder's codes) name the ID photo."""
    try:
        faces, index = query_face(id_photo, options, face)
    except VigilError as exc:
        raise VigilError(exc.code, f"ID photo {exc.message}") from None
    feature = faces[index].feature
    assert feature is not None  # face_targets returns only faces with one
    return feature, picture_face(faces, index)


@dataclass
class Watch:
    """The live faces seen so far, and the one closest to the ID photo."""

    reference: Feature
    far: float
    options: QueryFaceOptions
    named: FaceChoice | None = None  # a picture's face the caller named
    strict: bool = False  # a picture: refuse it when no face passes the filters
    frames: int = 0
    faces: int = 0
    best: CompareResult | None = None
    face: ComparedFace | None = None
    crop_jpeg: str | None = None

    def look(self, image: np.ndarray, near: Box | None = None) -> bool:
        """Compare every face of one picture or frame (only the one overlapping `near`,
        when given); True once one matched."""
        self.frames += 1
        faces = every_face(image)
        chosen = self.chosen(faces)
        if near is not None:
            chosen = [i for i in chosen if overlap(faces[i].box, near) >= SAME_FACE_IOU]
        for index in chosen:
            target = faces[index]
            self.faces += 1
            assert target.feature is not None  # face_targets returns only faces with one
            result = compare(self.reference, target.feature, self.far)
            if self.best is None or result.distance < self.best.distance:
                self.best, self.face = result, picture_face(faces, index)
                crop = encode_crop(image, np.asarray(target.box.as_list()))
                self.crop_jpeg = base64.b64encode(crop).decode() if crop else None
        return self.best is not None and self.best.match

    def chosen(self, faces: list[Target]) -> list[int]:
        """The faces to compare: the named one, or every one that passes the filters
        (a picture whose faces all fail is refused; a frame's are skipped)."""
        if not faces:
            return []
        if self.named is not None:
            return [choose_query_face(faces, self.options, self.named)]
        try:
            return usable_faces(faces, self.options)
        except VigilError:
            if self.strict:
                raise
            return []

    def result(
        self,
        threshold: Threshold,
        source: str,
        ended: VerifyEnd,
        id_face: ComparedFace,
        since: float,
    ) -> VerifyResult:
        if self.best is None:
            decision = VerifyDecision.NO_FACE
        else:
            decision = VerifyDecision.MATCH if self.best.match else VerifyDecision.NO_MATCH
        return VerifyResult(
            decision=decision,
            ended=ended,
            similarity=None if self.best is None else self.best.similarity,
            distance=None if self.best is None else self.best.distance,
            threshold_similarity=threshold.similarity,
            threshold_distance=threshold.distance,
            far=threshold.far,
            model=model_version(FaceEmbedder.MODEL),
            source=source,
            elapsed_s=round(time.monotonic() - since, 3),
            frames=self.frames,
            faces=self.faces,
            id_face=id_face,
            face=self.face,
            crop_jpeg=self.crop_jpeg,
        )


@dataclass
class LivenessWatch:
    """A liveness session fed from the verify loop at its own rate."""

    session: LivenessSession
    fps: float
    reader: SignReader

    def __post_init__(self) -> None:
        self.sampler = Sampler(self.fps)
        self.last_time: float | None = None

    @property
    def decided(self) -> bool:
        return self.session.decision is not None

    def look(self, source_time: float, image: np.ndarray, need_face: bool) -> Box | None:
        """Feed a frame due at the liveness rate; the box of the face it saw (read even
        after the decision while `need_face`: identity is checked on that face only)."""
        if not self.sampler.keep(source_time) or (self.decided and not need_face):
            return None
        signs = self.reader.read(image)
        if not self.decided:
            self.last_time = source_time
            self.session.observe(source_time, signs)
        if signs is None:
            return None
        x1, y1, x2, y2 = signs.box
        return Box(x1=x1, y1=y1, x2=x2, y2=y2)


_reader: SignReader | None = None


def sign_reader() -> SignReader:
    """One reader per process: its models load once."""
    global _reader
    if _reader is None:
        _reader = SignReader()
    return _reader


def watch_source(
    watch: Watch,
    source: str,
    timeout: float,
    fps: float | None,
    liveness: LivenessWatch | None = None,
) -> VerifyEnd:
    """Sample `source` until a face matches (and liveness decided), `timeout` s pass or it ends.

    A timer stops the source at the deadline, so a stream that stalls or never
    connects cannot hold the answer back.
    """
    deadline = time.monotonic() + timeout
    video = VideoSource(source, open_timeout=timeout, read_timeout=timeout, stall_timeout=timeout)
    timer = threading.Timer(timeout, video.stop)
    timer.daemon = True
    timer.start()
    sampler = Sampler(fps)
    matched = False
    try:
        with closing(video.frames()) as frames:
            for frame in frames:
                if time.monotonic() >= deadline:
                    return VerifyEnd.TIMEOUT
                if liveness is None:
                    if sampler.keep(frame.source_time):
                        matched = watch.look(frame.image)
                else:
                    near = liveness.look(frame.source_time, frame.image, need_face=not matched)
                    if not matched and near is not None and sampler.keep(frame.source_time):
                        matched = watch.look(frame.image, near)
                if matched and (liveness is None or liveness.decided):
                    return VerifyEnd.MATCHED
    finally:
        timer.cancel()
        video.stop()
    if matched:
        return VerifyEnd.MATCHED
    return VerifyEnd.TIMEOUT if time.monotonic() >= deadline else VerifyEnd.SOURCE_ENDED


def verify(
    id_photo: ImageSource | None = None,
    *,
    image: ImageSource | None = None,
    source: str | None = None,
    far: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    fps: float | None = DEFAULT_FPS,
    options: QueryFaceOptions | dict | None = None,
    id_face: object = None,
    face: object = None,
    id_card: ImageSource | None = None,
    record_to: str | Path | None = None,
    liveness: bool = False,
    challenge: Challenge | str | None = None,
    liveness_timeout: float = LIVENESS_TIMEOUT,
    liveness_fps: float = LIVENESS_FPS,
    on_challenge: Callable[[LivenessSession], None] | None = None,
) -> VerifyResult:
    """Verify the face in `image`, or watched on `source` for up to `timeout` s, at `far`.

    `options` filters the faces of both sides (min_size, min_quality, dominance);
    `id_face` names the ID photo's face and `face` the picture's (an index, largest
    first, or a box; a face cannot be named on a video source, where boxes move).
    `liveness` adds a challenge (`challenge` names it, else one is drawn at random)
    that must be met within `liveness_timeout` s of the first frame, on frames sampled
    at `liveness_fps`; the watch lasts at least that long. `on_challenge` is called with
    the session before the first frame is read, so a kiosk can show its prompt.

    Raises VigilError: INVALID_OPTIONS (not exactly one of image/source, a bad FAR,
    timeout, fps or options), NO_FACE, FACE_TOO_SMALL, LOW_QUALITY, AMBIGUOUS_FACE and
    the decoder's codes for the ID photo (the picture's too, except AMBIGUOUS_FACE:
    its faces are all compared), and the video source's codes for a file that cannot
    be decoded.

    `id_card` (instead of `id_photo`) is a photographed ID document: its portrait is
    the reference and the card read (text lines, fields) is returned in `card`
    (`vigil.compare.id_card`; NO_CARD_FACE when no portrait is found). `record_to` is
    a folder where the attempt's audit record is written (`<attempt_id>.json`,
    `vigil.compare.verification_record`; RECORD_NOT_WRITTEN when it cannot be).
    """
    started = time.monotonic()
    if (image is None) == (source is None):
        raise VigilError(ErrorCode.INVALID_OPTIONS, "give exactly one of image or source")
    if (id_photo is None) == (id_card is None):
        raise VigilError(ErrorCode.INVALID_OPTIONS, "give exactly one of id_photo or id_card")
    for name, value in (("timeout", timeout), ("fps", fps)):
        if value is not None and not value > 0:
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"{name} must be positive, got {value:g}")
    threshold = threshold_at(far)  # refuse before any work
    checked = query_options(options)
    named_id, named = parse_face(id_face), parse_face(face)
    if named is not None and source is not None:
        raise VigilError(ErrorCode.INVALID_OPTIONS, "face names a face of a picture, not a source")
    records = None if record_to is None else record_directory(record_to)
    live: LivenessWatch | None = None
    if liveness:
        if source is None:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, "liveness needs a live source, not a single picture"
            )
        if not liveness_fps > 0:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"liveness_fps must be positive, got {liveness_fps:g}"
            )
        session = LivenessSession.start(challenge, liveness_timeout)
        live = LivenessWatch(session, liveness_fps, sign_reader())
        if on_challenge is not None:
            on_challenge(session)
        timeout = max(timeout, liveness_timeout + 1.0 / liveness_fps)
    elif challenge is not None:
        raise VigilError(ErrorCode.INVALID_OPTIONS, "a challenge needs liveness=True")
    reading = None if id_card is None else card_reference(id_card, checked, named_id)
    if reading is not None:
        reference, used_id = reading.feature, reading.face
    else:
        assert id_photo is not None
        reference, used_id = reference_face(id_photo, checked, named_id)
    watch = Watch(reference, threshold.far, checked, named, strict=image is not None)
    if image is not None:
        label = source_label(image, 0)
        ended = VerifyEnd.MATCHED if watch.look(load_image(image)) else VerifyEnd.PICTURE
    else:
        label = redact(str(source))
        ended = watch_source(watch, str(source), timeout, fps, live)
    result = watch.result(threshold, label, ended, used_id, started)
    if live is not None:
        result.liveness = live.session.finish(live.last_time)
    if reading is not None:
        result = result.model_copy(update={"card": reading.card})
    if records is not None:
        result = record_reference(records, result, id_photo, id_card, reading)
    return result


def record_reference(
    records: Path,
    result: VerifyResult,
    id_photo: ImageSource | None,
    id_card: ImageSource | None,
    reading: CardReading | None,
) -> VerifyResult:
    """Write the attempt's audit record with the reference face's crop."""
    if reading is not None:
        assert id_card is not None
        reference, crop = source_label(id_card, 0), reading.card.portrait.crop_jpeg
    else:
        assert id_photo is not None
        reference, crop = source_label(id_photo, 0), photo_crop(id_photo, result.id_face.box)
    return record_attempt(
        records,
        result,
        reference=reference,
        reference_crop_jpeg=crop,
        card=None if reading is None else reading.card,
    )
