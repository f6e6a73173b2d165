"""How small may a face be before its attributes stop being its own?

Each person of `tests/media/faces/` is pasted into a scene at face sides from 12 to
96 px (with the scenes' sensor noise), found by Vigil's detect step and described as
a best shot (age, gender, face feature, mesh presence). Every size is compared with
the same person seen large (100 px): the feature's L2 distance to it (same person
below `face_identity.SAME_FACE_L2`), the gender agreeing, the age difference.
This sets `face_gate.MIN_ATTRIBUTE_FACE`; the capture minimum comes from the
detector's recall in `bench/bench_capture_accuracy.py`.

    python -m bench.bench_face_sizes            # table on stdout and bench/results/face_sizes.md
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import numpy as np

from bench.capture_scenes import FRAME_SIZE, PEOPLE, paste, wall
from vigil.analysis.face_identity import SAME_FACE_L2
from vigil.analysis.frame_analysis import describe_shot, detect_frame
from vigil.analysis.image_decoder import decode_image
from vigil.schemas.analyze import Attribute
from vigil.schemas.target import TargetType

SIDES = (12, 16, 20, 24, 28, 32, 40, 48, 64, 96)
REFERENCE_SIDE = 100
RESULTS = Path(__file__).resolve().parent / "results" / "face_sizes.md"
ATTRIBUTES = {Attribute.AGE, Attribute.GENDER}


def described(person: str, side: float, seed: int) -> dict | None:
    """The best-shot description of `person` pasted with a face of `side` px, or None."""
    width, height = FRAME_SIZE
    canvas = wall(width, height, seed)
    rng = np.random.default_rng(seed)
    paste(canvas, person, side, width / 2, height / 2)
    canvas += rng.normal(0.0, 5.0, canvas.shape).astype(np.float32)
    frame = np.clip(canvas, 0, 255).astype(np.uint8)
    items = detect_frame(frame, [TargetType.FACE])
    if not items:
        return None
    item = max(items, key=lambda i: i.score)
    fields = describe_shot(decode_image(item.crop), item, ATTRIBUTES, True)
    face = fields.get("face", {})
    vector = fields.get("feature")
    return {
        "side": min(item.width, item.height),
        "age": face.get("age"),
        "gender": face.get("gender"),
        "presence": face.get("presence"),
        "vector": np.frombuffer(base64.b64decode(vector["data"]), "<f4") if vector else None,
    }


def measure(seeds: int) -> list[dict]:
    rows = []
    for side in SIDES:
        found = distances = genders = 0
        ages, presences, l2 = [], [], []
        trials = 0
        for person in PEOPLE:
            reference = described(person, REFERENCE_SIDE, 100)
            for seed in range(seeds):
                trials += 1
                shot = described(person, side, seed)
                if shot is None:
                    continue
                found += 1
                presences.append(shot["presence"])
                if reference and shot["vector"] is not None and reference["vector"] is not None:
                    distance = float(np.linalg.norm(shot["vector"] - reference["vector"]))
                    l2.append(distance)
                    distances += distance < SAME_FACE_L2
                if reference and shot["gender"] is not None:
                    genders += shot["gender"] == reference["gender"]
                if reference and shot["age"] is not None and reference["age"] is not None:
                    ages.append(abs(shot["age"] - reference["age"]))
        rows.append(
            {
                "side": side,
                "found": f"{found}/{trials}",
                "same_person": f"{distances}/{max(1, len(l2))}",
                "median_l2": float(np.median(l2)) if l2 else float("nan"),
                "gender_agrees": f"{genders}/{found}",
                "median_age_error": float(np.median(ages)) if ages else float("nan"),
                "min_presence": float(np.min(presences)) if presences else float("nan"),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| face side (px) | detected | feature = same person | median L2 to large view |"
        " gender as large | median age error (y) | lowest mesh presence |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['side']} | {r['found']} | {r['same_person']} | {r['median_l2']:.3f} |"
            f" {r['gender_agrees']} | {r['median_age_error']:.1f} | {r['min_presence']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="noise draws per person and size")
    args = parser.parse_args()
    text = table(measure(args.seeds))
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# Face attributes by face size\n\n"
        f"`python -m bench.bench_face_sizes --seeds {args.seeds}`; {len(PEOPLE)} people"
        f" (tests/media/faces), reference view {REFERENCE_SIDE} px, same person when the"
        f" feature's L2 to the reference is below {SAME_FACE_L2}.\n\n" + text + "\n"
    )


if __name__ == "__main__":
    main()
