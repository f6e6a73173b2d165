"""The faces calibration is measured on: every face photo available offline, and augmented views.

Identities:
- labelled (genuine and impostor pairs): the Obama photos (4), Biden, Grace Hopper,
  Messi (messi5, a ~36 px face), the astronaut (Eileen Collins, scikit-image), and
  the man of `carphone_pristine.mp4` (one identity over many frames);
- unlabelled (impostor pairs only): scikit-image's LFW subset, 100 faces of 25 px.
  Nobody has labelled who they are and some may show the same person, so they are
  paired only with the labelled identities above, never with each other. That
  none of them is a labelled person is an assumption, checked in the model card
  (`stats.closest_unlabelled`).
scikit-image is optional: without it the astronaut and LFW faces are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tools.calibration.augment import AUGMENTS, Augment, portrait
from vigil.analysis.faces import face_targets
from vigil.schemas.errors import VigilError
from vigil.schemas.target import Target

PHOTOS = {
    "obama": ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg"),
    "biden": ("biden.jpg",),
    "grace_hopper": ("grace_hopper.jpg",),
    "messi": ("messi5.jpg",),
}
VIDEO_IDENTITY = ("carphone", "carphone_pristine.mp4")
VIDEO_EVERY = 4  # frames apart; 120 frames -> 30 views of one man
VIDEO_AUGMENTED = (0, 60)  # frames that also get every augmentation
LFW_FACES = 100  # lfw_subset(): the first 100 patches are faces, the rest are not
LFW_PATCH_SCALE = 4  # 25 px -> 100 px, then padded so the detector sees some context
ORIGINAL = "original"  # the augment name of a picture's own, unaugmented face


@dataclass(frozen=True)
class Source:
    """One picture of one identity, before augmentation."""

    identity: str
    name: str
    image: np.ndarray
    labelled: bool = True
    augments: dict[str, Augment] = field(default_factory=dict)


@dataclass(frozen=True)
class View:
    """One embedded face: who it is, where it came from, and its feature."""

    identity: str
    source: str
    augment: str
    labelled: bool
    vector: np.ndarray


@dataclass
class ViewSet:
    views: list[View]
    missed: list[str]  # "source/augment" where no face was found
    notes: list[str]


def photo_sources(images: Path) -> Iterator[Source]:
    for identity, names in PHOTOS.items():
        for name in names:
            image = cv2.imread(str(images / name), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(images / name)
            yield Source(identity, name, image, augments=AUGMENTS)


def video_sources(video: Path) -> Iterator[Source]:
    import av

    identity, _ = VIDEO_IDENTITY
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % VIDEO_EVERY:
                continue
            augments = AUGMENTS if index in VIDEO_AUGMENTED else {}
            image = frame.to_ndarray(format="bgr24")
            yield Source(identity, f"{video.name}#{index:03d}", image, augments=augments)


def lfw_image(patch: np.ndarray) -> np.ndarray:
    grey = np.clip(patch * 255, 0, 255).astype(np.uint8)
    side = grey.shape[0] * LFW_PATCH_SCALE
    grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_CUBIC)
    grey = cv2.copyMakeBorder(
        grey, side // 2, side // 2, side // 2, side // 2, cv2.BORDER_REPLICATE
    )
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def skimage_sources(notes: list[str]) -> Iterator[Source]:
    try:
        from skimage import data
    except ImportError:
        notes.append("scikit-image not installed: astronaut and LFW-subset faces left out")
        return
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    yield Source("astronaut", "skimage astronaut()", astronaut, augments=AUGMENTS)
    for index, patch in enumerate(data.lfw_subset()[:LFW_FACES]):
        yield Source(
            f"lfw{index:03d}",
            f"skimage lfw_subset()#{index:03d}",
            lfw_image(patch),
            labelled=False,
            augments=AUGMENTS,
        )


def all_sources(fixtures: Path, notes: list[str]) -> Iterator[Source]:
    yield from photo_sources(fixtures / "images")
    yield from video_sources(fixtures / "video" / VIDEO_IDENTITY[1])
    yield from skimage_sources(notes)


def largest_face(image: np.ndarray) -> Target | None:
    """The face search and compare would use, so thresholds hold for them."""
    try:
        return face_targets(image)[0]
    except VigilError:
        return None


def embed_views(source: Source) -> tuple[list[View], list[str]]:
    """The source's own face, then one view per augmentation of its portrait."""
    views: list[View] = []
    missed: list[str] = []

    def add(image: np.ndarray, augment: str) -> Target | None:
        face = largest_face(image)
        if face is None:
            missed.append(f"{source.name}/{augment}")
        else:
            views.append(
                View(source.identity, source.name, augment, source.labelled, face.feature.vector())
            )
        return face

    original = add(source.image, ORIGINAL)
    if original is not None and source.augments:
        base = portrait(source.image, original.box)
        for name, augment in source.augments.items():
            add(augment(base), name)
    return views, missed


def build_views(fixtures: Path, progress: bool = True) -> ViewSet:
    """Embed every source and its augmentations (about two minutes on one core)."""
    result = ViewSet(views=[], missed=[], notes=[])
    sources = list(all_sources(fixtures, result.notes))
    for source in tqdm(sources, desc="embedding", unit="picture", disable=not progress):
        views, missed = embed_views(source)
        result.views += views
        result.missed += missed
    return result
