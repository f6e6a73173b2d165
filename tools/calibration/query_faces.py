"""How small and how poor a query face may be before FAR 1e-3 stops meaning what it says.

    python -m tools.calibration.query_faces            # prints the model card's table

The defaults of the query-face filters (`vigil.schemas.compare.QueryFaceOptions`:
`min_size`, `min_quality`) come from this measurement. Every labelled picture the
calibration uses (the test photos and frames of carphone_pristine.mp4; the
scikit-image faces are not part of the repository and are left out) is turned into
a portrait (`augment.portrait`), then

- shrunk so the face is 16, 20, 24, 32, 48, 64 and 96 px wide (size table), and
- degraded by every calibration augmentation (quality table: the views are binned
  by the quality score the face pipeline gives them);
- shrunk to 24-64 px and then photographed: a camera's blur (Gaussian, sigma 0.5 and
  0.8 px at the face's size) and JPEG 85 (photographed-faces table: an ID card's
  portrait is such a face, and `CARD_PORTRAIT_MIN_SIZE` comes from it);

each view is detected and embedded as compare does, and compared with the
unaugmented faces of the same person in *other* pictures (genuine) and of every
other person (impostor) at the shipped FAR 1e-3 threshold. A view where no face is
found counts as refused (not accepted) in the genuine-accept rate, since a caller
gets no answer either.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from tools.calibration.augment import AUGMENTS, blur, chain, face_px, jpeg, portrait
from tools.calibration.data import (
    VIDEO_IDENTITY,
    Source,
    largest_face,
    photo_sources,
    video_sources,
)
from vigil.analysis.quality import framed_score
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.runtime import model_version
from vigil.models.scoring import threshold_for

REPO = Path(__file__).resolve().parents[2]
SIZES = (16, 20, 24, 32, 48, 64, 96)
QUALITY_BINS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.01)
FAR = 1e-3
# Photographed faces: shrunk to each size, then a camera's blur and JPEG.
PHOTO_SIZES = (24, 32, 40, 48, 56, 64)
PHOTO_BLURS = (0.5, 0.8)
PHOTO_JPEG = 85


PHOTO_LABEL = "photo"  # the photographed views' labels start with it


def photographed(size: int, sigma: float) -> str:
    return f"{PHOTO_LABEL}{size}_blur{sigma}"


@dataclass(frozen=True)
class Probe:
    identity: str
    source: str
    label: str  # "size24" or an augmentation name
    side: float | None  # detected face short side, px; None: no face found
    quality: float | None
    vector: np.ndarray | None


def sources(fixtures: Path, video_every: int) -> list[Source]:
    frames = [
        s
        for i, s in enumerate(video_sources(fixtures / "video" / VIDEO_IDENTITY[1]))
        if i % video_every == 0
    ]
    return [*photo_sources(fixtures / "images"), *frames]


def probe(source: Source, label: str, image: np.ndarray) -> Probe:
    face = largest_face(image)
    if face is None or face.feature is None:
        return Probe(source.identity, source.name, label, None, None, None)
    side = min(face.box.width, face.box.height)
    return Probe(
        source.identity, source.name, label, side, framed_score(face.quality), face.feature.vector()
    )


def measure(fixtures: Path, video_every: int) -> tuple[list[Probe], list[Probe]]:
    """(originals, probes): each picture's own face, and its shrunk and degraded views."""
    originals: list[Probe] = []
    probes: list[Probe] = []
    for source in sources(fixtures, video_every):
        original = probe(source, "original", source.image)
        if original.vector is None:
            continue
        originals.append(original)
        face = largest_face(source.image)
        assert face is not None
        base = portrait(source.image, face.box)
        for size in SIZES:
            probes.append(probe(source, f"size{size}", face_px(size)(base)))
        for name, augment in AUGMENTS.items():
            probes.append(probe(source, name, augment(base)))
        for size in PHOTO_SIZES:
            for sigma in PHOTO_BLURS:
                view = chain(face_px(size), blur(sigma), jpeg(PHOTO_JPEG))(base)
                probes.append(probe(source, photographed(size, sigma), view))
    return originals, probes


@dataclass(frozen=True)
class Row:
    label: str
    views: int
    found: int
    side: float | None
    quality: float | None
    genuine: int
    accepted: int
    impostor: int
    impostor_accepted: int
    closest_impostor: float | None

    @property
    def gar(self) -> float:
        return self.accepted / self.genuine if self.genuine else 0.0


def row(label: str, probes: list[Probe], originals: list[Probe], threshold: float) -> Row:
    """Genuine: each view against the same person's other pictures; a view with no face
    counts as refused against each of them."""
    genuine = accepted = impostor = impostor_accepted = 0
    closest = float("inf")
    for p in probes:
        same = [o for o in originals if o.identity == p.identity and o.source != p.source]
        other = [o for o in originals if o.identity != p.identity]
        genuine += len(same)
        if p.vector is None:
            continue
        impostor += len(other)
        for o in same:
            accepted += int(np.linalg.norm(p.vector - o.vector) <= threshold)
        for o in other:
            distance = float(np.linalg.norm(p.vector - o.vector))
            impostor_accepted += int(distance <= threshold)
            closest = min(closest, distance)
    found = [p for p in probes if p.vector is not None]
    sides = [p.side for p in found if p.side is not None]
    qualities = [p.quality for p in found if p.quality is not None]
    return Row(
        label,
        len(probes),
        len(found),
        float(np.median(sides)) if sides else None,
        float(np.median(qualities)) if qualities else None,
        genuine,
        accepted,
        impostor,
        impostor_accepted,
        closest if impostor else None,
    )


def tables(
    originals: list[Probe], probes: list[Probe], threshold: float, min_side: float
) -> tuple[list[Row], list[Row]]:
    """Rows by face width, and by quality over the views whose face is at least `min_side`
    (quality includes size: binning the smallest faces again would measure size twice)."""
    by_size = [
        row(f"{size} px", [p for p in probes if p.label == f"size{size}"], originals, threshold)
        for size in SIZES
    ]
    by_quality = []
    found = [
        p
        for p in probes
        if p.quality is not None
        and (p.side or 0) >= min_side
        and not p.label.startswith(PHOTO_LABEL)  # the photographed table's own views
    ]
    for low, high in pairwise(QUALITY_BINS):
        members = [p for p in found if low <= p.quality < high]  # type: ignore[operator]
        label = f"{low:.1f}-{min(high, 1.0):.1f}"
        by_quality.append(row(label, members, originals, threshold))
    return by_size, by_quality


def photographed_table(originals: list[Probe], probes: list[Probe], threshold: float) -> list[Row]:
    """Rows by face width and camera blur, each view also JPEG-compressed."""
    return [
        row(
            f"{size} px, blur {sigma}",
            [p for p in probes if p.label == photographed(size, sigma)],
            originals,
            threshold,
        )
        for size in PHOTO_SIZES
        for sigma in PHOTO_BLURS
    ]


def markdown(rows: list[Row], first: str) -> str:
    lines = [
        f"| {first} | views | face found | median short side px | median quality |"
        " genuine pairs | GAR @ FAR 1e-3 | impostor pairs | impostors accepted |"
        " closest impostor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        side = "-" if r.side is None else f"{r.side:.0f}"
        quality = "-" if r.quality is None else f"{r.quality:.2f}"
        closest = "-" if r.closest_impostor is None else f"{r.closest_impostor:.3f}"
        lines.append(
            f"| {r.label} | {r.views} | {r.found} | {side} | {quality} | {r.genuine} |"
            f" {100 * r.gar:.1f} % | {r.impostor} | {r.impostor_accepted} | {closest} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.calibration.query_faces")
    parser.add_argument("--fixtures", type=Path, default=REPO / "tests" / "media")
    parser.add_argument(
        "--video-every", type=int, default=1, help="keep every n-th of the calibration frames"
    )
    parser.add_argument(
        "--min-side", type=float, default=24, help="quality table: faces at least this wide"
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    threshold = threshold_for(model_version(FaceEmbedder.MODEL), FAR).distance
    originals, probes = measure(args.fixtures, args.video_every)
    by_size, by_quality = tables(originals, probes, threshold, args.min_side)
    print(f"threshold (FAR {FAR:g}): distance <= {threshold}; {len(originals)} pictures\n")
    print(markdown(by_size, "face width"))
    print()
    print(markdown(by_quality, f"quality (faces {args.min_side:g}+ px)"))
    photo = photographed_table(originals, probes, threshold)
    print()
    print(markdown(photo, f"photographed face (JPEG {PHOTO_JPEG})"))
    if args.json:
        rows = {
            "size": [r.__dict__ for r in by_size],
            "quality": [r.__dict__ for r in by_quality],
            "photographed": [r.__dict__ for r in photo],
        }
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
