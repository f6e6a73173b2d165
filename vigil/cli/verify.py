"""`vigil verify (--id-photo P | --id-card C) (--image I | --source S)`: is this the person
on the ID photo (or on the photographed ID card)?

Exit status: 0 match (and live, with --liveness), 1 no match, no face seen or not
live, 2 error (the code is printed, as JSON with --json).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.cli.compare import probability, refused
from vigil.cli.options import query_face_arguments, query_face_options
from vigil.cli.verify_card import card_lines
from vigil.schemas.errors import VigilError
from vigil.schemas.liveness import Challenge

if TYPE_CHECKING:
    from collections.abc import Callable

    from vigil.compare.liveness import LivenessSession
    from vigil.schemas.verify import VerifyResult


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "verify",
        help="identity verification: a live face or a picture against an ID photo",
        description="Compare the largest face of an ID photo with a picture, or with the"
        " faces seen on a video source (RTSP URL or file) until one matches, the time"
        " limit expires or the source ends. " + __doc__.split("\n\n")[1],
    )
    reference = parser.add_mutually_exclusive_group(required=True)
    reference.add_argument("--id-photo", type=Path, help="the reference picture")
    reference.add_argument(
        "--id-card",
        type=Path,
        help="a photo of an ID document: its portrait is the reference, its text is read",
    )
    live = parser.add_mutually_exclusive_group(required=True)
    live.add_argument("--image", type=Path, help="a picture to verify (each face, or --face)")
    live.add_argument("--source", help="a stream URL or video file to watch")
    parser.add_argument(
        "--far", type=probability, default=None, help="false-accept rate for MATCH (default 1e-3)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to watch a source (default 10)"
    )
    parser.add_argument(
        "--fps", type=float, default=5.0, help="frames per second examined (default 5)"
    )
    query_face_arguments(
        parser,
        ("--id-face", "the ID photo's face"),
        ("--face", "the picture's face (default: every face passing the filters)"),
    )
    parser.add_argument(
        "--liveness",
        action="store_true",
        help="also ask for an action (a source only): blink, head turn or open mouth,"
        " so a photo held up to the camera fails",
    )
    parser.add_argument(
        "--challenge",
        choices=[kind.value for kind in Challenge],
        help="the liveness action to ask for (default: one at random per session)",
    )
    parser.add_argument(
        "--liveness-timeout",
        type=float,
        default=8.0,
        help="seconds the subject has for the action (default 8)",
    )
    parser.add_argument("--crop", type=Path, help="write the best live face here (JPEG)")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write an audit record of the attempt to DIR/<attempt_id>.json",
    )
    parser.add_argument("--json", action="store_true", help="print the VerifyResult as JSON")
    parser.set_defaults(run=run)


def describe(result: VerifyResult) -> str:
    verdict = result.decision.value.upper().replace("_", " ")
    seen = "no face" if result.similarity is None else f"best similarity {result.similarity:.1f}"
    line = (
        f"{verdict} at FAR {result.far:g}: {seen} (threshold {result.threshold_similarity:.1f}),"
        f" {result.faces} faces in {result.frames} frames, {result.elapsed_s:.2f}s"
        f" ({result.ended.value})"
    )
    if (result.id_face.faces_found or 1) > 1:
        line += (
            f"; the ID photo holds {result.id_face.faces_found} faces,"
            f" #{result.id_face.index} was used"
        )
    if result.liveness is not None:
        line += "\n" + describe_liveness(result)
    if result.card is not None:
        line += "\n" + card_lines(result.card)
    if result.record is not None:
        line += f"\nrecord: {result.record}"
    return line


def describe_liveness(result: VerifyResult) -> str:
    live = result.liveness
    assert live is not None
    seen = sum(frame.face for frame in live.frames)
    peak = ", ".join(f"{name} {value:g}" for name, value in live.peak.items())
    return (
        f"liveness {live.decision.value.upper().replace('_', ' ')} ({live.challenge.value},"
        f" {live.chosen_by}): {live.reason}; face on {seen} of {len(live.frames)} frames,"
        f" {live.elapsed_s:.1f}s" + (f"; peak {peak}" if peak else "")
    )


def prompt(json_output: bool) -> Callable[[LivenessSession], None]:
    """Shows the challenge before the watch starts (on stderr with --json, keeping stdout JSON)."""

    def show(session: LivenessSession) -> None:
        print(
            f"CHALLENGE {session.challenge.value}: {session.prompt}",
            file=sys.stderr if json_output else sys.stdout,
            flush=True,
        )

    return show


def run(args: argparse.Namespace) -> int:
    from vigil.compare.verify import verify

    try:
        result = verify(
            None if args.id_photo is None else str(args.id_photo),
            id_card=None if args.id_card is None else str(args.id_card),
            record_to=args.record,
            image=None if args.image is None else str(args.image),
            source=args.source,
            far=args.far,
            timeout=args.timeout,
            fps=args.fps,
            options=query_face_options(args),
            id_face=args.id_face,
            face=args.face,
            liveness=args.liveness,
            challenge=args.challenge,
            liveness_timeout=args.liveness_timeout,
            on_challenge=prompt(args.json),
        )
    except VigilError as exc:
        refused(exc, args.json)
        return 2
    if args.crop is not None and result.crop_jpeg is not None:
        args.crop.write_bytes(base64.b64decode(result.crop_jpeg))
    if args.json:
        print(result.model_dump_json(indent=2, exclude_none=True))
    else:
        print(describe(result))
    return 0 if result.passed else 1
