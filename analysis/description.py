"""Attributes and features for detections already found: the expensive, per-best-shot part.

The Image API runs it on every target of a picture; the video pipeline runs it
only on each track's best shot (a crop), never on every frame.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cached_property

import numpy as np

from vigil.analysis import face_gate, quality
from vigil.models.age_gender import AgeGender, AgeGenderEstimator
from vigil.models.colours import person_colours, vehicle_colour, vehicle_type
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.face_mesh import FaceMesh, FacePose
from vigil.models.plate_reader import PlateReader, PlateReading
from vigil.models.runtime import model_version
from vigil.models.types import Detection, face_keypoints
from vigil.schemas.analyze import Attribute
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box, Point
from vigil.schemas.target import (
    ColourAttribute,
    FaceAttributes,
    PersonAttributes,
    Plate,
    PlateMissing,
    Pose,
    Quality,
    TargetType,
    VehicleAttributes,
)

# OCR costs 150-250 ms a vehicle; below this width (px) a plate is a few pixels wide
# and was never read on the fixtures, so the attempt is skipped.
MIN_PLATE_VEHICLE_WIDTH = 120
# Target label of a vehicle target made from a plate close-up (no vehicle detected).
PLATE_CLOSEUP_LABEL = "plate"

MODEL_NAMES = (
    "blazeface_full_192",
    "face_mesh_468",
    "face_resnet128",
    "age_v1",
    "gender_v1",
    "nanodet",
)


def colour(vote) -> ColourAttribute:
    return ColourAttribute(name=vote.name, fraction=round(float(vote.fraction), 4))


def keypoint_list(detection: Detection) -> list[Point]:
    points = face_keypoints(detection)
    return [Point(x=round(float(x), 2), y=round(float(y), 2)) for x, y in points]


def model_versions() -> dict[str, str]:
    return {name: model_version(name) for name in MODEL_NAMES}


class Describer:
    """Computes Target fields (quality, attributes, feature) for detections of one type."""

    @cached_property
    def mesh(self) -> FaceMesh:
        return FaceMesh()

    @cached_property
    def embedder(self) -> FaceEmbedder:
        return FaceEmbedder()

    @cached_property
    def age_gender(self) -> AgeGenderEstimator:
        return AgeGenderEstimator()

    @cached_property
    def plates(self) -> PlateReader:
        return PlateReader()

    def faces(
        self,
        image: np.ndarray,
        faces: Sequence[Detection],
        attributes: Collection[Attribute],
        features: bool,
        gate: bool = False,
    ) -> list[dict]:
        """Per face: quality (with mesh pose), keypoints, face attributes, feature.

        With `gate` (captures), a face too small or not taken for a face by the mesh
        gets no age, gender or feature, and says why (`face_gate.withheld`).
        """
        if not faces:
            return []
        poses = self.mesh.estimate(image, faces)
        withheld = [
            face_gate.withheld(face.box, pose.presence) if gate else None
            for face, pose in zip(faces, poses, strict=True)
        ]
        kept = [face for face, reason in zip(faces, withheld, strict=True) if reason is None]
        ages = iter(
            self.age_gender.estimate(image, kept)
            if kept and {Attribute.AGE, Attribute.GENDER} & set(attributes)
            else [None] * len(kept)
        )
        vectors = iter(self.embedder.embed(image, kept) if features and kept else [])
        result = []
        for face, pose, reason in zip(faces, poses, withheld, strict=True):
            age = next(ages) if reason is None else None
            attributes_of_face = face_attributes(pose, age, attributes)
            attributes_of_face.withheld = reason
            fields = {
                "quality": quality.assess(
                    image, face.box, TargetType.FACE, face.score, yaw=pose.yaw, pitch=pose.pitch
                ),
                "keypoints": keypoint_list(face),
                "face": attributes_of_face,
            }
            if features and reason is None:
                fields["feature"] = Feature.from_vector(next(vectors), self.embedder.model_version)
            result.append(fields)
        return result

    def persons(
        self, image: np.ndarray, persons: Sequence[Detection], attributes: Collection[Attribute]
    ) -> list[dict]:
        result = []
        for person in persons:
            fields: dict = {"quality": assess(image, person, TargetType.PERSON)}
            if Attribute.CLOTHING in attributes:
                votes = person_colours(image, person.box)
                fields["person"] = PersonAttributes(
                    upper_colour=colour(votes["upper"]), lower_colour=colour(votes["lower"])
                )
            result.append(fields)
        return result

    def vehicles(
        self, image: np.ndarray, vehicles: Sequence[Detection], attributes: Collection[Attribute]
    ) -> list[dict]:
        result = []
        for vehicle in vehicles:
            fields: dict = {"quality": assess(image, vehicle, TargetType.VEHICLE)}
            details = VehicleAttributes()
            if Attribute.VEHICLE_TYPE in attributes:
                details.vehicle_type = vehicle_type(vehicle.label)
                alternative = vehicle.extra.get("alternative")
                if alternative is not None:
                    details.alternative_type = vehicle_type(alternative["label"])
                    details.alternative_score = round(float(alternative["score"]), 4)
            if Attribute.VEHICLE_COLOUR in attributes:
                details.colour = colour(vehicle_colour(image, vehicle.box, vehicle.label))
            if Attribute.PLATE in attributes:
                details.plate, details.plate_missing = self.plate_or_reason(image, vehicle.box)
            if details != VehicleAttributes():
                fields["vehicle"] = details
            result.append(fields)
        return result

    def read_plate(self, image: np.ndarray, box: np.ndarray) -> Plate | None:
        """Plate text, tried only on vehicles large enough for a plate to be legible."""
        plate, _ = self.plate_or_reason(image, box)
        return plate

    def plate_or_reason(
        self, image: np.ndarray, box: np.ndarray
    ) -> tuple[Plate | None, PlateMissing | None]:
        """The plate in the box and None, or None and why there is none."""
        region = quality.crop(image, box)
        if region.size == 0 or region.shape[1] < MIN_PLATE_VEHICLE_WIDTH:
            return None, PlateMissing.VEHICLE_TOO_SMALL
        reading, reason = self.plates.read_or_reason(region)
        if reading is None:
            assert reason is not None  # read_or_reason says why with every missing reading
            return None, PlateMissing(reason)
        return plate_attribute(reading, box), None

    def plate_closeup(self, image: np.ndarray) -> tuple[Detection, dict] | None:
        """The whole picture read as a plate close-up: a vehicle detection and its fields.

        For pictures of a plate alone, where no vehicle is detected. The detection's
        box is the whole picture, its label `PLATE_CLOSEUP_LABEL` and its score the
        OCR confidence; None when no plate-like text is read.
        """
        height, width = image.shape[:2]
        box = np.array([0, 0, width, height], np.float32)
        plate, _ = self.plate_or_reason(image, box)
        if plate is None:
            return None
        detection = Detection(box=box, score=plate.confidence, label=PLATE_CLOSEUP_LABEL)
        fields = {
            "quality": assess(image, detection, TargetType.VEHICLE),
            "vehicle": VehicleAttributes(plate=plate),
        }
        return detection, fields


def plate_attribute(reading: PlateReading, box: np.ndarray) -> Plate:
    """A plate reading on the crop of `box`, with its box moved to frame pixels."""
    plate_box = None
    if reading.box is not None:
        offset = np.maximum(np.asarray(box[:2], dtype=np.float32), 0)
        plate_box = Box.from_xyxy(np.asarray(reading.box, np.float32) + np.tile(offset, 2))
    return Plate(text=reading.text, confidence=round(float(reading.confidence), 4), box=plate_box)


def assess(image: np.ndarray, detection: Detection, target_type: TargetType) -> Quality:
    return quality.assess(image, detection.box, target_type, detection.score)


def face_attributes(
    pose: FacePose, age: AgeGender | None, attributes: Collection[Attribute]
) -> FaceAttributes:
    result = FaceAttributes(presence=round(float(pose.presence), 4))
    if Attribute.POSE in attributes:
        result.pose = Pose(
            yaw=round(float(pose.yaw), 2),
            pitch=round(float(pose.pitch), 2),
            roll=round(float(pose.roll), 2),
        )
    if age is not None and Attribute.AGE in attributes:
        result.age = round(float(age.age), 1)
    if age is not None and Attribute.GENDER in attributes:
        result.gender = age.gender
        result.gender_confidence = round(float(age.gender_confidence), 4)
    return result
