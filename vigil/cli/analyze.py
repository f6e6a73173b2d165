"""`vigil analyze`: the Image API from the shell, as a table, JSON or annotated pictures."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import cv2
from tqdm import tqdm

from vigil.cli.options import enum_list, fraction, non_negative_int
from vigil.schemas.analyze import AnalyzeOptions, AnalyzeResponse, Attribute, ImageResult
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.target import TargetType


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "analyze",
        help="find faces, persons and vehicles in pictures",
        description="Analyze JPEG/PNG/BMP/WebP pictures: every face, person and vehicle with"
        " quality, attributes and (optionally) face features. Exit status 0 when every"
        " picture was analyzed, 1 when any failed (its error is reported, the others go on).",
    )
    parser.add_argument("images", nargs="+", type=Path, help="picture files")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument(
        "--types",
        type=enum_list(TargetType),
        default=frozenset(TargetType),
        help="target types, comma-separated: face,person,vehicle (default all)",
    )
    parser.add_argument(
        "--attributes",
        type=enum_list(Attribute, allow_none=True),
        default=frozenset(Attribute),
        help="attributes to compute: " + ",".join(a.value for a in Attribute) + ", all or none",
    )
    parser.add_argument("--features", action="store_true", help="include face feature vectors")
    parser.add_argument("--crops", action="store_true", help="include base64 JPEG crops")
    parser.add_argument(
        "--min-size",
        type=non_negative_int,
        default=0,
        help="drop targets whose short side is smaller, pixels",
    )
    parser.add_argument(
        "--min-quality", type=fraction, default=0.0, help="drop targets of lower quality (0-1)"
    )
    parser.add_argument(
        "--annotate",
        type=Path,
        metavar="OUT",
        help="write the picture with boxes drawn: a file (.jpg .jpeg .png .bmp .webp) for one"
        " picture, a folder for several (NAME.annotated.jpg; NAME-INDEX.annotated.jpg where"
        " two pictures share a name)",
    )
    parser.set_defaults(run=run)


ANNOTATION_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def refused(out: Path, why: str) -> VigilError:
    return VigilError(ErrorCode.INVALID_OPTIONS, f"--annotate {out}: {why}")


def writable_folder(folder: Path, out: Path) -> None:
    """Create `folder` if need be and check it can take files, before any analysis."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise refused(out, f"cannot create the folder {folder}: {exc.strerror}") from None
    if not folder.is_dir():
        raise refused(out, f"{folder} is not a folder")
    try:  # a real probe: permission bits say nothing to root or of a read-only mount
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise refused(out, f"the folder {folder} is not writable: {exc.strerror}") from None


def annotation_names(sources: list[Path]) -> list[str]:
    """`NAME.annotated.jpg` per picture; pictures sharing a name (a/x.jpg, b/x.png) get
    `NAME-INDEX` (1-based position on the command line), so none overwrites another."""
    counts = Counter(source.stem for source in sources)
    used: set[str] = set()
    names = []
    for index, source in enumerate(sources, 1):
        name = source.stem if counts[source.stem] == 1 else f"{source.stem}-{index}"
        while name in used:  # "x-2.jpg" given besides two "x": still one file each
            name = f"{name}-{index}"
        used.add(name)
        names.append(f"{name}.annotated.jpg")
    return names


def annotation_targets(out: Path, sources: list[Path]) -> list[Path]:
    """Where each picture's annotated copy goes: checked up front, with a coded error
    (folder not creatable or writable, unknown extension), not a cv2 trace at the end."""
    if len(sources) > 1 or out.is_dir():
        if out.exists() and not out.is_dir():
            raise refused(out, "is a file; several pictures need a folder")
        writable_folder(out, out)
        return [out / name for name in annotation_names(sources)]
    if out.suffix.lower() not in ANNOTATION_SUFFIXES:
        shown = repr(out.suffix) if out.suffix else "none"
        raise refused(
            out, f"extension {shown} is no picture format; use {', '.join(ANNOTATION_SUFFIXES)}"
        )
    if out.resolve() == sources[0].resolve():
        raise refused(out, "is the input picture itself")
    writable_folder(out.parent, out)
    return [out]


def write_annotation(result: ImageResult, source: Path, target: Path) -> None:
    from vigil.analysis.annotate import annotate
    from vigil.analysis.image_decoder import load_image

    try:
        written = cv2.imwrite(str(target), annotate(load_image(source), result.targets))
    except cv2.error:
        written = False
    if not written:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"--annotate: could not write {target}")


def print_table(response: AnalyzeResponse) -> None:
    from vigil.analysis.annotate import describe

    for result in response.results:
        if result.error:
            print(f"{result.source}: ERROR {result.error.code.value}: {result.error.message}")
            continue
        size = f"{result.size.width}x{result.size.height}" if result.size else "?"
        print(
            f"{result.source} ({size}, {result.elapsed_ms:.0f} ms): {len(result.targets)} targets"
        )
        for target in result.targets:
            box = ",".join(f"{v:.0f}" for v in target.box.as_list())
            missing = target.vehicle.plate_missing if target.vehicle else None
            reason = f"  no plate: {missing.value}" if missing else ""
            print(f"  {describe(target)}  box=[{box}]{reason}")


def report_missing_plates(results: list[ImageResult], options: AnalyzeOptions) -> None:
    """On stderr, say why a picture gave no target at all although plates were asked for.

    Such a picture had no vehicle (nor anything else) and was then read whole as a
    plate close-up, without a plate-like text. Vehicles found without a readable plate
    carry the reason in `vehicle.plate_missing` instead (shown in the table).
    """
    if Attribute.PLATE not in options.attributes or TargetType.VEHICLE not in options.types:
        return
    filtered = " (or what was found fell below --min-size/--min-quality)"
    for result in results:
        if result.ok and not result.targets:
            print(
                f"{result.source}: no plate: no vehicle found, and the whole picture does not"
                " read as a plate" + (filtered if options.min_size or options.min_quality else ""),
                file=sys.stderr,
            )


def run(args: argparse.Namespace) -> int:
    from vigil.api import analyze_image, default_analyzer

    options = AnalyzeOptions(
        types=args.types,
        attributes=args.attributes,
        features=args.features,
        crops=args.crops,
        min_size=args.min_size,
        min_quality=args.min_quality,
    )
    targets = annotation_targets(args.annotate, args.images) if args.annotate else None
    analyzer = default_analyzer()
    many = len(args.images) > 1
    progress = tqdm(args.images, disable=not many or args.json, unit="img", file=sys.stderr)
    results = []
    unwritten = 0
    for index, source in enumerate(progress):
        result = analyze_image(source, options, analyzer=analyzer)
        if targets is not None and result.ok:
            try:
                write_annotation(result, source, targets[index])
            except VigilError as exc:  # a full disk: say so, go on with the others
                print(f"{source}: ERROR {exc.code.value}: {exc.message}", file=sys.stderr)
                unwritten += 1
        results.append(result)
    response = AnalyzeResponse(results=results, model_versions=analyzer.model_versions())
    report_missing_plates(results, options)
    if args.json:
        print(response.model_dump_json(indent=2, exclude_none=True))
    else:
        print_table(response)
    return 0 if all(result.ok for result in results) and not unwritten else 1
