"""`vigil demo`: runs on the bundled samples with no servers and writes pictures to look at."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="run on the bundled sample media, no servers needed",
        description="Analyze the bundled sample pictures and write annotated copies plus"
        " results.json into OUT.",
    )
    parser.add_argument("--out", type=Path, default=Path("vigil-demo"), help="output folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vigil.analysis.annotate import annotate
    from vigil.analysis.image_decoder import load_image
    from vigil.api import analyze_images
    from vigil.samples import SAMPLE_IMAGES, SAMPLES_DIR
    from vigil.schemas.analyze import AnalyzeOptions

    args.out.mkdir(parents=True, exist_ok=True)
    sources = [SAMPLES_DIR / name for name in SAMPLE_IMAGES]
    response = analyze_images(sources, AnalyzeOptions(features=True))
    for source, result in zip(sources, response.results, strict=True):
        picture = args.out / f"{source.stem}.annotated.jpg"
        cv2.imwrite(str(picture), annotate(load_image(source), result.targets))
        kinds = ", ".join(f"{t.label}" for t in result.targets) or "nothing"
        print(f"{source.name}: {kinds} -> {picture}")
    (args.out / "results.json").write_text(response.model_dump_json(indent=2, exclude_none=True))
    print(f"results: {args.out / 'results.json'}")
    return 0 if all(r.ok for r in response.results) else 1
