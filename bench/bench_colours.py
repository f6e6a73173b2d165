"""Colour naming benchmark: clothing and vehicle colours against labels set by eye.

Run: python bench/bench_colours.py [--baseline-rev REV] [--no-write]

Every target of bench/colour_labels.json (a box found by the real detector, with
the palette names acceptable by eye for its upper body, lower body or vehicle
body) is named by models/colours.py on the whole picture, as the Image API does,
and on the video pipeline's best-shot crop: a video frame travels from the
ingestor to the analysis worker as JPEG q85 (capture/ingestor.py, the camera's
default jpeg_quality), and the best shot is its box plus a 10% margin, JPEG q90
(analysis/frame_analysis.py); this rebuilds the crops of `vigil demo` byte for
byte. The table (target, part, expected, got, right?) and the share right, per
label set ("tuning": labelled before the rules were changed and used to tune
them; "held-out": labelled afterwards; "demo": best shots from the demo's contact
sheet whose captions were wrong, labelled and used to tune) and overall, are
printed and written to bench/results/colours.md. --baseline-rev also runs
models/colours.py as it was at that git revision on the same boxes. Rows whose
source is a scikit-image picture ("skimage:<name>") are skipped, with the reason
printed, when scikit-image is not installed; tests/test_colours.py runs the
in-repo rows only.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
LABELS = Path(__file__).with_name("colour_labels.json")
RESULTS = Path(__file__).with_name("results") / "colours.md"
SKIMAGE_PREFIX = "skimage:"
PARTS = {"person": ("upper", "lower"), "vehicle": ("colour",)}
SETS = ("tuning", "held-out", "demo")
# As the video pipeline crops a best shot (analysis/frame_analysis.py) from a frame
# sent as JPEG by the ingestor (capture/ingestor.py; schemas/camera.py jpeg_quality).
CROP_MARGIN = 0.1
CROP_JPEG_QUALITY = 90
FRAME_JPEG_QUALITY = 85

Images = dict[tuple[str, int | None], np.ndarray]
Namer = Callable[[np.ndarray, dict], dict[str, object]]


@dataclass(frozen=True)
class Row:
    target: str
    label_set: str
    part: str
    expected: tuple[str, ...]
    got: str
    fraction: float

    @property
    def right(self) -> bool:
        return self.got in self.expected


def load_targets(path: Path = LABELS) -> list[dict]:
    return json.loads(path.read_text())["targets"]


def in_repo(targets: list[dict]) -> list[dict]:
    """The targets whose pictures ship in this repository (no scikit-image needed)."""
    return [t for t in targets if not t["source"].startswith(SKIMAGE_PREFIX)]


def read_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The wanted 0-based frames of a video, decoded in order (no seeking: exact indices)."""
    capture = cv2.VideoCapture(str(path))
    frames: dict[int, np.ndarray] = {}
    index = 0
    try:
        while index <= max(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = frame
            index += 1
    finally:
        capture.release()
    missing = wanted - frames.keys()
    if missing:
        raise RuntimeError(f"{path}: cannot read frames {sorted(missing)}")
    return frames


def skimage_picture(name: str) -> np.ndarray:
    """A scikit-image bundled picture as BGR (stereo pairs: the left view)."""
    import skimage.data

    picture = getattr(skimage.data, name)()
    if isinstance(picture, tuple):
        picture = picture[0]
    return cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)


def skimage_missing() -> str | None:
    """Why scikit-image rows cannot run, or None when they can."""
    if importlib.util.find_spec("skimage") is None:
        return "scikit-image is not installed (pip install scikit-image)"
    return None


def split_targets(targets: list[dict]) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Targets that can run here, and (target, reason) for those skipped."""
    reason = skimage_missing()
    runnable, skipped = [], []
    for target in targets:
        if reason and target["source"].startswith(SKIMAGE_PREFIX):
            skipped.append((target, reason))
        else:
            runnable.append(target)
    return runnable, skipped


def load_images(targets: list[dict]) -> Images:
    """The BGR image of every target, keyed by (source, frame)."""
    images: Images = {}
    videos: dict[str, set[int]] = {}
    for target in targets:
        source, frame = target["source"], target["frame"]
        if frame is not None:
            videos.setdefault(source, set()).add(frame)
        elif source.startswith(SKIMAGE_PREFIX):
            images[(source, None)] = skimage_picture(source.removeprefix(SKIMAGE_PREFIX))
        else:
            image = cv2.imread(str(REPO / source))
            if image is None:
                raise RuntimeError(f"cannot read {source}")
            images[(source, None)] = image
    for source, frames in videos.items():
        for frame, image in read_frames(REPO / source, frames).items():
            images[(source, frame)] = image
    return images


def namer(colours: ModuleType) -> Namer:
    """(image, target) -> colour votes by part, for a colours module of any revision."""
    takes_label = "label" in inspect.signature(colours.vehicle_colour).parameters

    def name(image: np.ndarray, target: dict) -> dict[str, object]:
        box = np.asarray(target["box"], np.float32)
        if target["type"] == "person":
            return dict(colours.person_colours(image, box))
        if takes_label:
            return {"colour": colours.vehicle_colour(image, box, label=target["label"])}
        return {"colour": colours.vehicle_colour(image, box)}

    return name


def through_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def best_shot(image: np.ndarray, target: dict) -> tuple[np.ndarray, dict]:
    """The video pipeline's view of a target: its box plus a margin, through JPEG.

    A video frame is JPEG-coded first, as the ingestor sends it; a picture is not.
    """
    if target["frame"] is not None:
        image = through_jpeg(image, FRAME_JPEG_QUALITY)
    height, width = image.shape[:2]
    x1, y1, x2, y2 = target["box"]
    dx, dy = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    # float32, rounded half to even, as analysis/frame_analysis.expanded() does.
    region = np.array(
        [max(0, x1 - dx), max(0, y1 - dy), min(width, x2 + dx), min(height, y2 + dy)],
        dtype=np.float32,
    ).round()
    cx1, cy1, cx2, cy2 = (int(v) for v in region)
    moved = dict(target, box=[x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1])
    return through_jpeg(image[cy1:cy2, cx1:cx2], CROP_JPEG_QUALITY), moved


def evaluate(
    targets: list[dict], colours: ModuleType, images: Images, crops: bool = False
) -> list[Row]:
    """One row per labelled part (a part labelled null is not visible and not scored)."""
    name = namer(colours)
    rows = []
    for target in targets:
        image = images[(target["source"], target["frame"])]
        votes = name(*best_shot(image, target)) if crops else name(image, target)
        for part in PARTS[target["type"]]:
            expected = target[part]
            if expected is None:
                continue
            vote = votes[part]
            rows.append(
                Row(target["id"], target["set"], part, tuple(expected), vote.name, vote.fraction)
            )
    return rows


def share_right(rows: list[Row]) -> float:
    return sum(row.right for row in rows) / len(rows) if rows else 0.0


def module_at_revision(revision: str) -> ModuleType:
    """models/colours.py as committed at a git revision, loaded as a throwaway module."""
    source = subprocess.run(
        ["git", "show", f"{revision}:models/colours.py"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("colours_baseline", handle.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def ms_per_target(targets: list[dict], colours: ModuleType, images: Images) -> float:
    """Median milliseconds to name one target's colours (all parts), whole picture."""
    name = namer(colours)
    samples = []
    for target in targets:
        image = images[(target["source"], target["frame"])]
        started = time.perf_counter()
        name(image, target)
        samples.append((time.perf_counter() - started) * 1000)
    return float(np.median(samples))


def score(rows: list[Row]) -> str:
    """Right/total and share overall, then right/total per label set."""
    parts = [f"{sum(r.right for r in rows)}/{len(rows)} = {share_right(rows):.0%}"]
    for label_set in SETS:
        subset = [r for r in rows if r.label_set == label_set]
        if subset:
            parts.append(f"{label_set} {sum(r.right for r in subset)}/{len(subset)}")
    return parts[0] + " (" + ", ".join(parts[1:]) + ")"


def table(rows: list[Row], crops: list[Row], baseline: list[Row] | None) -> list[str]:
    columns = ["target", "set", "part", "expected"]
    columns += ["baseline"] if baseline else []
    columns += ["got", "right?", "best-shot crop"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for index, (row, crop) in enumerate(zip(rows, crops, strict=True)):
        cells = [row.target, row.label_set, row.part, " / ".join(row.expected)]
        if baseline:
            before = baseline[index]
            cells.append(before.got + ("" if before.right else " ✗"))
        cells += [
            f"{row.got} ({row.fraction:.2f})",
            "yes" if row.right else "**no**",
            crop.got + ("" if crop.right else " ✗"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-rev", help="also run models/colours.py of this git revision")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    from vigil.models import colours

    runnable, skipped = split_targets(load_targets())
    for target, reason in skipped:
        print(f"skipped {target['id']}: {reason}")
    images = load_images(runnable)
    rows = evaluate(runnable, colours, images)
    crops = evaluate(runnable, colours, images, crops=True)
    old = module_at_revision(args.baseline_rev) if args.baseline_rev else None
    baseline = evaluate(runnable, old, images) if old else None

    persons = sum(t["type"] == "person" for t in runnable)
    command = "python bench/bench_colours.py" + (
        f" --baseline-rev {args.baseline_rev}" if args.baseline_rev else ""
    )
    lines = [
        "# Colour naming against labels set by eye",
        "",
        f"Command: `{command}`",
        "",
        f"{len(runnable)} targets ({persons} persons, {len(runnable) - persons} vehicles), "
        f"{len(rows)} labelled parts; labels, boxes and notes in bench/colour_labels.json. "
        "A row is right when the name is one of those accepted by eye. ✗ marks a wrong "
        "name in the baseline and best-shot columns.",
        "",
        *table(rows, crops, baseline),
        "",
    ]
    if baseline is not None and old is not None:
        lines.append(
            f"- Baseline ({args.baseline_rev}): {score(baseline)}; "
            f"{ms_per_target(runnable, old, images):.2f} ms per target (median)."
        )
    lines.append(
        f"- Current, whole picture: {score(rows)}; "
        f"{ms_per_target(runnable, colours, images):.2f} ms per target (median)."
    )
    lines.append(f"- Current, best-shot crop (video pipeline): {score(crops)}.")
    for target, reason in skipped:
        lines.append(f"- Skipped {target['id']}: {reason}.")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text)
        print(f"written {RESULTS.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
