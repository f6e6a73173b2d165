"""The Image API's engine: one picture in, every face, person and vehicle out.

Detection (which models run) and description (attributes, features) are shared
with the video pipeline; this module only adds picture-specific policy: a
border for close-ups, plate close-ups (a picture where nothing is detected is
read as a plate; see `Describer.plate_closeup`), face-to-person links, filters
and target numbering.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.analysis import quality
from vigil.analysis.description import Describer, model_versions
from vigil.analysis.detection import Detections, Detectors, owning_person
from vigil.models.types import Detection
from vigil.schemas.analyze import AnalyzeOptions, Attribute
from vigil.schemas.geometry import Box
from vigil.schemas.target import Target, TargetType

# Pictures are often close-ups: NanoDet scores an object that fills the frame poorly
# (a car filling a photo: 0.26 < 0.35), and a neutral border of 15% lifts it to 0.53.
# CCTV frames (the video pipeline) use no border, which keeps small pedestrians larger.
PICTURE_BORDER = 0.15
CROP_JPEG_QUALITY = 90


@dataclass
class Candidate:
    """A target under construction; ids are assigned after filtering."""

    detection: Detection
    target_type: TargetType
    fields: dict = field(default_factory=dict)
    parent: int | None = None


def encode_crop(image: np.ndarray, box: np.ndarray, jpeg_quality: int = CROP_JPEG_QUALITY):
    """JPEG bytes of the box, or None when the box lies outside the image."""
    region = quality.crop(image, box)
    if region.size == 0:
        return None
    ok, encoded = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return encoded.tobytes() if ok else None


class ImageAnalyzer:
    """Runs detection, quality, attributes and features on one decoded BGR image."""

    def __init__(self, object_border: float = PICTURE_BORDER) -> None:
        self.detectors = Detectors(object_border=object_border)
        self.describer = Describer()

    def model_versions(self) -> dict[str, str]:
        return model_versions()

    def analyze(self, image: np.ndarray, options: AnalyzeOptions) -> list[Target]:
        found = self.detectors.detect(image, options.types, min_face=options.min_size)
        candidates = self.candidates(image, found, options)
        return self.finalise(image, candidates, options)

    def candidates(
        self, image: np.ndarray, found: Detections, options: AnalyzeOptions
    ) -> list[Candidate]:
        describe = self.describer
        attributes = options.attributes
        result: list[Candidate] = []
        if TargetType.PERSON in options.types:
            fields = describe.persons(image, found.persons, attributes)
            result += [
                Candidate(d, TargetType.PERSON, f)
                for d, f in zip(found.persons, fields, strict=True)
            ]
        if TargetType.VEHICLE in options.types:
            fields = describe.vehicles(image, found.vehicles, attributes)
            result += [
                Candidate(d, TargetType.VEHICLE, f)
                for d, f in zip(found.vehicles, fields, strict=True)
            ]
            if Attribute.PLATE in attributes and not (
                found.vehicles or found.persons or found.faces
            ):
                # Nothing detected: the picture may be a plate close-up (a vehicle target
                # whose plate is the text). Pictures with people or vehicles are scenes.
                closeup = describe.plate_closeup(image)
                if closeup is not None:
                    result.append(Candidate(closeup[0], TargetType.VEHICLE, closeup[1]))
        if TargetType.FACE in options.types:
            fields = describe.faces(image, found.faces, attributes, options.features)
            persons_listed = TargetType.PERSON in options.types
            for face, face_fields in zip(found.faces, fields, strict=True):
                owner = owning_person(face, found.persons) if persons_listed else None
                result.append(Candidate(face, TargetType.FACE, face_fields, parent=owner))
        return result

    @staticmethod
    def finalise(
        image: np.ndarray, candidates: list[Candidate], options: AnalyzeOptions
    ) -> list[Target]:
        """Apply size and quality filters, then number targets and link faces to persons.

        Persons come first in `candidates`, so a face's `parent` (an index among the
        persons) is also the person's position in the list.
        """
        kept = [
            (position, c)
            for position, c in enumerate(candidates)
            if min(c.detection.width, c.detection.height) >= options.min_size
            and c.fields["quality"].score >= options.min_quality
        ]
        new_id = {position: index for index, (position, _) in enumerate(kept)}
        targets = []
        for index, (_, candidate) in enumerate(kept):
            detection = candidate.detection
            crop = encode_crop(image, detection.box) if options.crops else None
            targets.append(
                Target(
                    id=index,
                    type=candidate.target_type,
                    label=detection.label,
                    box=Box.from_xyxy(detection.box),
                    score=round(min(1.0, max(0.0, float(detection.score))), 4),
                    parent_id=new_id.get(candidate.parent)
                    if candidate.parent is not None
                    else None,
                    crop_jpeg=base64.b64encode(crop).decode() if crop else None,
                    **candidate.fields,
                )
            )
        return targets
