"""The Image API's engine: one picture in, every face, person and vehicle out.

Models are loaded lazily and only the ones a request needs are run: a face-only
request never pays for the object detector, and attributes and features are
computed only when asked for.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from vigil.analysis import quality
from vigil.models.age_gender import AgeGenderEstimator
from vigil.models.colours import person_colours, vehicle_colour, vehicle_type
from vigil.models.face_detector import FaceDetector
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.face_mesh import FaceMesh
from vigil.models.object_detector import ObjectDetector
from vigil.models.plate_reader import PlateReader
from vigil.models.types import Detection
from vigil.schemas.analyze import AnalyzeOptions, Attribute
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box, Point
from vigil.schemas.target import (
    ColourAttribute,
    FaceAttributes,
    PersonAttributes,
    Plate,
    Pose,
    Target,
    TargetType,
    VehicleAttributes,
)

VEHICLE_LABELS = frozenset({"bicycle", "car", "motorcycle", "bus", "truck"})
DEFAULT_MIN_FACE = 24
PERSON_HEAD_FRACTION = 0.45
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


def colour(vote) -> ColourAttribute:
    return ColourAttribute(name=vote.name, fraction=round(float(vote.fraction), 4))


def encode_crop(image: np.ndarray, box: np.ndarray) -> str | None:
    region = quality.crop(image, box)
    if region.size == 0:
        return None
    ok, encoded = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, CROP_JPEG_QUALITY])
    return base64.b64encode(encoded.tobytes()).decode() if ok else None


def head_region(person_box: np.ndarray) -> np.ndarray:
    """Upper part of a person box, where a face would be; searched for small faces."""
    x1, y1, x2, y2 = (float(v) for v in person_box)
    return np.array([x1, y1, x2, y1 + (y2 - y1) * PERSON_HEAD_FRACTION], dtype=np.float32)


def owning_person(face: Detection, persons: list[Detection]) -> int | None:
    """Index of the person whose head region holds the face centre (tightest box wins)."""
    cx = float(face.box[0] + face.box[2]) / 2
    cy = float(face.box[1] + face.box[3]) / 2
    best, best_area = None, float("inf")
    for index, person in enumerate(persons):
        x1, y1, x2, y2 = (float(v) for v in head_region(person.box))
        area = person.width * person.height
        if x1 <= cx <= x2 and y1 <= cy <= y2 and area < best_area:
            best, best_area = index, area
    return best


class ImageAnalyzer:
    """Runs detection, quality, attributes and features on one decoded BGR image."""

    def __init__(self, object_border: float = PICTURE_BORDER) -> None:
        self.object_border = object_border
        self._face_detectors: dict[int, FaceDetector] = {}

    @cached_property
    def objects(self) -> ObjectDetector:
        return ObjectDetector(border=self.object_border)

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

    def faces(self, min_face: int) -> FaceDetector:
        """Face detector tuned to the smallest face asked for (fewer tiles for larger faces)."""
        if min_face not in self._face_detectors:
            self._face_detectors[min_face] = FaceDetector(min_face=min_face)
        return self._face_detectors[min_face]

    def model_versions(self) -> dict[str, str]:
        from vigil.models.runtime import model_version

        names = ("blazeface_full_192", "face_mesh_468", "face_resnet128", "age_v1", "gender_v1")
        return {name: model_version(name) for name in (*names, "nanodet")}

    def analyze(self, image: np.ndarray, options: AnalyzeOptions) -> list[Target]:
        wanted = options.types
        objects: list[Detection] = []
        if TargetType.PERSON in wanted or TargetType.VEHICLE in wanted:
            objects = self.objects.detect(image)
        persons = [d for d in objects if d.label == "person"]
        vehicles = [d for d in objects if d.label in VEHICLE_LABELS]
        candidates: list[Candidate] = []
        if TargetType.PERSON in wanted:
            candidates += self.describe_persons(image, persons, options)
        if TargetType.VEHICLE in wanted:
            candidates += self.describe_vehicles(image, vehicles, options)
        if TargetType.FACE in wanted:
            person_offset = 0 if TargetType.PERSON in wanted else None
            candidates += self.describe_faces(image, persons, person_offset, options)
        return self.finalise(image, candidates, options)

    def describe_persons(
        self, image: np.ndarray, persons: list[Detection], options: AnalyzeOptions
    ) -> list[Candidate]:
        result = []
        for person in persons:
            candidate = Candidate(person, TargetType.PERSON)
            candidate.fields["quality"] = quality.assess(
                image, person.box, TargetType.PERSON, person.score
            )
            if Attribute.CLOTHING in options.attributes:
                votes = person_colours(image, person.box)
                candidate.fields["person"] = PersonAttributes(
                    upper_colour=colour(votes["upper"]), lower_colour=colour(votes["lower"])
                )
            result.append(candidate)
        return result

    def describe_vehicles(
        self, image: np.ndarray, vehicles: list[Detection], options: AnalyzeOptions
    ) -> list[Candidate]:
        result = []
        for vehicle in vehicles:
            candidate = Candidate(vehicle, TargetType.VEHICLE)
            candidate.fields["quality"] = quality.assess(
                image, vehicle.box, TargetType.VEHICLE, vehicle.score
            )
            attributes = VehicleAttributes()
            if Attribute.VEHICLE_TYPE in options.attributes:
                attributes.vehicle_type = vehicle_type(vehicle.label)
            if Attribute.VEHICLE_COLOUR in options.attributes:
                attributes.colour = colour(vehicle_colour(image, vehicle.box))
            if Attribute.PLATE in options.attributes:
                attributes.plate = self.read_plate(image, vehicle.box)
            if attributes != VehicleAttributes():
                candidate.fields["vehicle"] = attributes
            result.append(candidate)
        return result

    def read_plate(self, image: np.ndarray, box: np.ndarray) -> Plate | None:
        region = quality.crop(image, box)
        if region.size == 0:
            return None
        reading = self.plates.read(region)
        if reading is None:
            return None
        plate_box = None
        if reading.box is not None:
            offset = np.maximum(np.asarray(box[:2], dtype=np.float32), 0)
            plate_box = Box.from_xyxy(
                np.asarray(reading.box, dtype=np.float32) + np.tile(offset, 2)
            )
        return Plate(
            text=reading.text, confidence=round(float(reading.confidence), 4), box=plate_box
        )

    def describe_faces(
        self,
        image: np.ndarray,
        persons: list[Detection],
        person_offset: int | None,
        options: AnalyzeOptions,
    ) -> list[Candidate]:
        min_face = max(DEFAULT_MIN_FACE, options.min_size)
        regions = [head_region(p.box) for p in persons]
        faces = self.faces(min_face).detect(image, regions=regions or None)
        if not faces:
            return []
        poses = self.mesh.estimate(image, faces)
        ages = (
            self.age_gender.estimate(image, faces)
            if {Attribute.AGE, Attribute.GENDER} & options.attributes
            else [None] * len(faces)
        )
        features = self.embedder.embed(image, faces) if options.features else None
        result = []
        for index, (face, pose, age) in enumerate(zip(faces, poses, ages, strict=True)):
            candidate = Candidate(face, TargetType.FACE)
            candidate.fields["quality"] = quality.assess(
                image, face.box, TargetType.FACE, face.score, yaw=pose.yaw, pitch=pose.pitch
            )
            candidate.fields["face"] = self.face_attributes(pose, age, options)
            candidate.fields["keypoints"] = [
                Point(x=round(float(x), 2), y=round(float(y), 2)) for x, y in face.keypoints
            ]
            if features is not None:
                candidate.fields["feature"] = Feature.from_vector(
                    features[index], self.embedder.model_version
                )
            owner = owning_person(face, persons)
            if owner is not None and person_offset is not None:
                candidate.parent = person_offset + owner
            result.append(candidate)
        return result

    @staticmethod
    def face_attributes(pose, age, options: AnalyzeOptions) -> FaceAttributes:
        attributes = FaceAttributes(presence=round(float(pose.presence), 4))
        if Attribute.POSE in options.attributes:
            attributes.pose = Pose(
                yaw=round(float(pose.yaw), 2),
                pitch=round(float(pose.pitch), 2),
                roll=round(float(pose.roll), 2),
            )
        if age is not None and Attribute.AGE in options.attributes:
            attributes.age = round(float(age.age), 1)
        if age is not None and Attribute.GENDER in options.attributes:
            attributes.gender = age.gender
            attributes.gender_confidence = round(float(age.gender_confidence), 4)
        return attributes

    @staticmethod
    def finalise(
        image: np.ndarray, candidates: list[Candidate], options: AnalyzeOptions
    ) -> list[Target]:
        """Apply size and quality filters, then number targets and link faces to persons."""
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
                    crop_jpeg=encode_crop(image, detection.box) if options.crops else None,
                    **candidate.fields,
                )
            )
        return targets
