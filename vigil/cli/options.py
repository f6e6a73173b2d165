"""Helpers shared by CLI commands: comma lists into validated enums, coded errors, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from vigil.schemas.errors import ErrorCode, VigilError


def enum_list(enum: type[StrEnum], allow_none: bool = False):
    """argparse `type=` for 'a,b,c' (or 'all'; 'none' where allowed) naming enum members."""
    choices = ", ".join(member.value for member in enum)

    def parse(text: str) -> frozenset:
        words = {word.strip().lower() for word in text.split(",") if word.strip()}
        if words == {"all"}:
            return frozenset(enum)
        if allow_none and words == {"none"}:
            return frozenset()
        unknown = sorted(words - {member.value for member in enum})
        if unknown or not words:
            raise argparse.ArgumentTypeError(
                f"unknown value(s) {', '.join(unknown) or '(empty)'}; choose from: {choices}, all"
                + (", none" if allow_none else "")
            )
        return frozenset(enum(word) for word in words)

    return parse


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 1]")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def report_error(exc: VigilError, as_json: bool) -> int:
    """Print a coded error for machines (JSON on stdout) or people (stderr); the exit status.

    2 for a bad option, as argparse does; 1 for anything the input or the store caused.
    """
    if as_json:
        print(json.dumps({"error": {"code": exc.code.value, "message": exc.message}}))
    else:
        print(f"vigil: error: [{exc.code.value}] {exc.message}", file=sys.stderr)
    return 2 if exc.code == ErrorCode.INVALID_OPTIONS else 1


def jsonable(output: Any) -> Any:
    """Pydantic models (and lists of them) as plain JSON values; anything else as is."""
    if isinstance(output, list):
        return [jsonable(item) for item in output]
    if hasattr(output, "model_dump"):
        return output.model_dump(mode="json", exclude_none=True)
    return output


def print_outcome(compute: Callable[[], Any], as_json: bool, show: Callable[[Any], None]) -> int:
    """Run a command's work and print its result as JSON or through `show`; the exit status.

    A coded VigilError becomes `report_error`'s message and status instead of a traceback.
    """
    try:
        output = compute()
    except VigilError as exc:
        return report_error(exc, as_json)
    if as_json:
        print(json.dumps(jsonable(output), indent=2, ensure_ascii=False))
    else:
        show(output)
    return 0


QUERY_FIELDS = ("min_size", "min_quality", "dominance")


def query_face_arguments(parser: argparse.ArgumentParser, *faces: tuple[str, str]) -> None:
    """The query-face options of compare, verify and search: the filters, and one option
    per picture naming its face (`faces`: (flag, what)). Checked by the library, so a
    bad value is the same `invalid_options` as over Celery or HTTP."""
    from vigil.schemas.compare import (
        CARD_PORTRAIT_MIN_SIZE,
        FACE_CHOICE_HELP,
        QUERY_DOMINANCE,
        QUERY_MIN_QUALITY,
        QUERY_MIN_SIZE,
    )

    parser.add_argument(
        "--min-size",
        type=int,
        help=f"refuse a face under this short side, px (face_too_small; default {QUERY_MIN_SIZE},"
        f" where the calibrated FAR stops holding; an ID card's portrait {CARD_PORTRAIT_MIN_SIZE})",
    )
    parser.add_argument(
        "--min-quality",
        type=float,
        help=f"refuse a face under this quality (low_quality; default {QUERY_MIN_QUALITY})",
    )
    parser.add_argument(
        "--dominance",
        type=float,
        help="without a named face, a second face this fraction of the largest's size is"
        f" refused as ambiguous_face (default {QUERY_DOMINANCE})",
    )
    for flag, what in faces:
        parser.add_argument(flag, metavar="INDEX|X1,Y1,X2,Y2", help=f"{what}: {FACE_CHOICE_HELP}")


def query_face_options(args: argparse.Namespace) -> dict[str, Any]:
    """The filters given on the command line (the library's defaults for the rest)."""
    return {name: getattr(args, name) for name in QUERY_FIELDS if getattr(args, name) is not None}
