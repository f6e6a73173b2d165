"""`vigil demo`: the whole product on bundled samples, no servers, pictures to look at.

1. The Image API on the sample pictures -> annotated copies.
2. The video pipeline (ingestor, tracker, best shots, attributes, features) on the
   sample CCTV video, embedded (in-process bus, eager Celery) -> a contact sheet
   of every final capture a person would accept (no face the face mesh does not take
   for a face, none under the capture size), plus every capture event as JSON Lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
from tqdm import tqdm


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="run on the bundled sample media, no servers needed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", type=Path, default=Path("vigil-demo"), help="output folder (default: ./vigil-demo)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="only the first N seconds")
    parser.set_defaults(run=run)


def pictures(out: Path) -> bool:
    from vigil.analysis.annotate import annotate, worth_showing
    from vigil.analysis.image_decoder import load_image
    from vigil.api import analyze_images
    from vigil.samples import SAMPLE_IMAGES, SAMPLES_DIR
    from vigil.schemas.analyze import AnalyzeOptions

    sources = [SAMPLES_DIR / name for name in SAMPLE_IMAGES]
    response = analyze_images(sources, AnalyzeOptions(features=True))
    for source, result in zip(sources, response.results, strict=True):
        picture = out / f"{source.stem}.annotated.jpg"
        cv2.imwrite(str(picture), annotate(load_image(source), result.targets))
        shown = [t for t in result.targets if worth_showing(t)]
        kinds = ", ".join(t.label for t in shown) or "nothing"
        left_out = len(result.targets) - len(shown)
        hidden = f" ({left_out} untrustworthy or too small, not drawn)" if left_out else ""
        print(f"picture {source.name}: {kinds}{hidden} -> {picture}")
    (out / "pictures.json").write_text(response.model_dump_json(indent=2, exclude_none=True))
    return all(r.ok for r in response.results)


def video(out: Path, seconds: float | None) -> bool:
    from vigil.analysis.annotate import worth_showing
    from vigil.analysis.contact_sheet import contact_sheet
    from vigil.infra.bus.memory import MemoryBus
    from vigil.infra.config import single_camera_config
    from vigil.samples import SAMPLE_VIDEO
    from vigil.schemas.capture import CaptureEvent
    from vigil.workers.pipeline import run_all

    config = single_camera_config(
        str(SAMPLE_VIDEO), camera_id="sample-cctv", pace="fast", stop_after=seconds
    )
    config.outputs.disk = out / "captures"
    print(f"video {SAMPLE_VIDEO.name}: running the capture pipeline (embedded) ...")
    with tqdm(desc="frames", unit="frame", file=sys.stderr) as progress:

        def advance(frames: int) -> None:
            progress.update(frames)

        summary = run_all(MemoryBus(), config, on_frames=advance)
    final = [c for c in summary.captures if c.event == CaptureEvent.END]
    shown = [c for c in final if worth_showing(c.target)]
    sheet = out / "captures.contact-sheet.jpg"
    cv2.imwrite(
        str(sheet), contact_sheet(sorted(shown, key=lambda c: (c.target.type, c.first_seen)))
    )
    counts: dict[str, int] = {}
    for capture in final:
        counts[capture.target.type.value] = counts.get(capture.target.type.value, 0) + 1
    left_out = len(final) - len(shown)
    hidden = f", {left_out} untrustworthy or too small left off the sheet" if left_out else ""
    print(
        f"video: {summary.frames_processed} frames, {len(summary.captures)} capture events,"
        f" tracks {counts}{hidden} -> {sheet}"
    )
    print(f"video: capture JSON Lines and crops in {out / 'captures'}")
    return not summary.errors


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    ok = pictures(args.out)
    ok = video(args.out, args.seconds) and ok
    return 0 if ok else 1
