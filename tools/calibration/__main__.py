"""Calibrate the face model's match thresholds at FAR 1e-3, 1e-4 and 1e-5.

    python -m tools.calibration --out models/weights/face_resnet128.thresholds.json

Embeds every face photo available offline and augmented views of each
(`tools.calibration.data`), measures genuine and impostor distances and sets the
thresholds (`stats`), then writes the thresholds file, the model card's
"Thresholds" section (`report`) and a histogram (`plot`). Run by hand from the
repository root when the model or the face pipeline changes; about two minutes on
one core (with scikit-image installed for its extra faces).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tools.calibration import plot
from tools.calibration.data import build_views
from tools.calibration.report import card_section, replace_section, thresholds_file
from tools.calibration.stats import estimate, pair_distances

REPO = Path(__file__).resolve().parents[2]
MODEL = "face_resnet128"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.calibration", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="thresholds JSON to write")
    parser.add_argument("--card", type=Path, help="model card to update (default: beside --out)")
    parser.add_argument(
        "--plot",
        type=Path,
        default=REPO / "docs" / "calibration.png",
        help="histogram PNG to write",
    )
    parser.add_argument(
        "--fixtures",
        type=Path,
        default=REPO / "tests" / "media",
        help="folder holding images/ and video/ of the test media",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def relative_link(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    card = args.card or args.out.with_name(f"{MODEL}.md")
    views = build_views(args.fixtures, progress=not args.quiet)
    pairs = pair_distances(views.views)
    estimates = estimate(pairs)
    result = thresholds_file(MODEL, estimates, pairs)
    args.out.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    plot.draw(pairs, estimates, args.plot)
    section = card_section(views, pairs, estimates, relative_link(args.plot, card.parent))
    card.write_text(replace_section(card.read_text(), section))
    print(f"{pairs.genuine.size} genuine and {pairs.impostor.size} impostor pairs", file=sys.stderr)
    for e in estimates:
        print(
            f"FAR {e.far:g}: distance <= {e.distance:.4f} ({e.method}); TAR {e.tar:.3f}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
