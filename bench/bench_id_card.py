"""ID-document mode on synthetic photographed cards: portrait found, text read, decision right.

Cards are rendered by `tests/support/id_cards.py` (seeded: a header, a portrait cut
from a test photo at 28-36% of the card height, four labelled fields with random
values) and photographed: a perspective tilt, up to 12° of rotation, on a textured
background, a mild blur and JPEG 80-92, in two framings: "phone" (the card spans
55-75% of a 1280x960 photo: the portrait's face is about 50-80 px) and "small" (38-60%
of 1024x768: about 25-55 px, a stress case). Card `i` shows identity `i % 3` (Obama,
Biden, Grace Hopper); Obama's cards cycle through his three photos.

Each card is read once (`vigil.compare.id_card.read_card`) and its portrait's feature
compared (`vigil.compare.compare`, the thresholds `verify` uses) at FAR 1e-3 with the
live photos of `tests/media/images/`:
- matching pairs: an Obama card with each *other* photo of Obama (obama.jpg,
  obama2.jpg, obama3.jpg minus the one on the card); Biden and Grace Hopper have one
  photo each, so their card against that same photo is reported apart ("same photo");
- non-matching pairs: every card with every photo of the two other people.
A field is exact when its value equals the truth after upper-casing and collapsing
runs of whitespace (a dropped space "ANNAMARIA" is not exact).

A card whose portrait fails the query-face filters as `read_card` applies them (for a
card portrait `min_size` is at least `CARD_PORTRAIT_MIN_SIZE`, 40 px, from the model
card's "photographed faces" table, not from this bench) is refused: `face_too_small` or
`low_quality`, no decision. Its pairs are counted as refused, apart from the decisions
made (`match_right` of `match_pairs` counts decisions made only); the card is still read
once more with the filters off, so that its portrait, text and the decision it would
have had (`unfiltered`) are measured too.

    python -m bench.bench_id_card         # 40 cards per framing -> bench/results/id_card.json
    python -m bench.bench_id_card --cards 12 --framing phone
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from tests.support.id_cards import FRAMINGS, LABELS, render_photo
from vigil.analysis.faces import face_targets
from vigil.compare.compare import compare
from vigil.compare.id_card import read_card
from vigil.errors import ErrorCode, VigilError
from vigil.schemas.compare import QueryFaceOptions

IMAGES = Path(__file__).resolve().parents[1] / "tests" / "media" / "images"
RESULTS = Path(__file__).resolve().parent / "results" / "id_card.json"
IDENTITIES = ("obama", "biden", "grace_hopper")
LIVE = {
    "obama": ("obama.jpg", "obama2.jpg", "obama3.jpg"),
    "biden": ("biden.jpg",),
    "grace_hopper": ("grace_hopper.jpg",),
}
FAR = 1e-3
REFUSALS = (ErrorCode.FACE_TOO_SMALL, ErrorCode.LOW_QUALITY)
UNFILTERED = QueryFaceOptions(min_size=0, min_quality=0)


def normal(text: str | None) -> str:
    return " ".join((text or "").split()).upper()


def live_features() -> dict[str, object]:
    """The query feature of every live photo, by file name."""
    return {
        name: face_targets(str(IMAGES / name))[0].feature
        for files in LIVE.values()
        for name in files
    }


def measure_card(index: int, live: dict[str, object], framing: str) -> dict:
    identity = IDENTITIES[index % len(IDENTITIES)]
    photo = (index // len(IDENTITIES)) % len(LIVE[identity])
    card = render_photo(identity, seed=index, photo=photo, framing=framing)
    row: dict = {
        "seed": index,
        "identity": identity,
        "portrait": card.portrait_file,
        "fields": card.fields,
    }
    started = time.perf_counter()
    try:
        reading = read_card(card.jpeg)
    except VigilError as exc:
        if exc.code not in REFUSALS:
            row.update(error=exc.code.value, portrait_found=False, exact={k: False for k in LABELS})
            return row
        row["refused"] = {"code": exc.code.value, "message": exc.message}
        started = time.perf_counter()
        reading = read_card(card.jpeg, UNFILTERED)
    row["seconds"] = round(time.perf_counter() - started, 2)
    found = reading.card.portrait.box
    x1, y1, x2, y2 = (float(v) for v in card.portrait_box)
    centre = ((found.x1 + found.x2) / 2, (found.y1 + found.y2) / 2)
    row["portrait_found"] = x1 < centre[0] < x2 and y1 < centre[1] < y2
    row["portrait_px"] = reading.card.portrait.size
    row["outline_found"] = reading.card.outline is not None
    row["header_exact"] = any(normal(line) == card.header for line in reading.card.text())
    row["read"] = {label: reading.card.field(label) for label in LABELS}
    row["exact"] = {label: normal(row["read"][label]) == card.fields[label] for label in LABELS}
    pairs = []
    for other, files in LIVE.items():
        for name in files:
            if name == card.portrait_file and other == identity and len(files) > 1:
                continue  # the card's own photo: not a different photo of the person
            kind = (
                "same_photo"
                if name == card.portrait_file
                else ("match" if other == identity else "non_match")
            )
            result = compare(reading.feature, live[name], FAR)
            pairs.append(
                {
                    "live": name,
                    "kind": kind,
                    "similarity": result.similarity,
                    "match": result.match,
                    "refused": "refused" in row,
                }
            )
    row["pairs"] = pairs
    return row


def summary(rows: list[dict]) -> dict:
    every_pair = [pair for row in rows for pair in row.get("pairs", [])]
    pairs = [pair for pair in every_pair if not pair["refused"]]  # decisions made

    def right(kind: str, among: list[dict]) -> tuple[int, int]:
        chosen = [p for p in among if p["kind"] == kind]
        want = kind != "non_match"
        return sum(p["match"] == want for p in chosen), len(chosen)

    fields = [ok for row in rows for ok in row["exact"].values()]
    per_label = {label: sum(row["exact"][label] for row in rows) / len(rows) for label in LABELS}
    sizes = [row["portrait_px"] for row in rows if "portrait_px" in row]
    refused = [row for row in rows if "refused" in row]
    refused_sizes = [row["portrait_px"] for row in refused]
    decided_sizes = [row["portrait_px"] for row in rows if "pairs" in row and "refused" not in row]
    seconds = [row["seconds"] for row in rows if "seconds" in row]
    out = {
        "cards": len(rows),
        "portrait_found": sum(row["portrait_found"] for row in rows),
        "outline_found": sum(row.get("outline_found", False) for row in rows),
        "header_exact": sum(row.get("header_exact", False) for row in rows),
        "fields_exact": sum(fields),
        "fields": len(fields),
        "fields_exact_rate": round(sum(fields) / len(fields), 4),
        "per_field_exact_rate": {k: round(v, 4) for k, v in per_label.items()},
        "portrait_px_median": statistics.median(sizes) if sizes else None,
        "portrait_px_range": [min(sizes), max(sizes)] if sizes else None,
        "read_card_s_median": round(statistics.median(seconds), 2) if seconds else None,
        "far": FAR,
        "refused_cards": len(refused),
        "refused_codes": {
            code: sum(row["refused"]["code"] == code for row in refused)
            for code in sorted({row["refused"]["code"] for row in refused})
        },
        "refused_px_range": [min(refused_sizes), max(refused_sizes)] if refused_sizes else None,
        "decided_px_range": [min(decided_sizes), max(decided_sizes)] if decided_sizes else None,
    }
    for kind in ("match", "non_match", "same_photo"):
        ok, total = right(kind, pairs)
        out[f"{kind}_right"] = ok
        out[f"{kind}_pairs"] = total
        out[f"{kind}_refused"] = sum(p["kind"] == kind and p["refused"] for p in every_pair)
    # what the decisions would have been with the portrait filters off (every pair decided)
    out["unfiltered"] = {}
    for kind in ("match", "non_match", "same_photo"):
        ok, total = right(kind, every_pair)
        out["unfiltered"][f"{kind}_right"] = ok
        out["unfiltered"][f"{kind}_pairs"] = total
    similar = {
        kind: [p["similarity"] for p in pairs if p["kind"] == kind]
        for kind in ("match", "non_match")
    }
    out["match_similarity_min"] = min(similar["match"]) if similar["match"] else None
    out["non_match_similarity_max"] = max(similar["non_match"]) if similar["non_match"] else None
    out["unfiltered"]["match_similarity_min"] = min(
        (p["similarity"] for p in every_pair if p["kind"] == "match"), default=None
    )
    # each wrong decision made: which card, which live photo, how close
    out["wrong"] = [
        {
            "seed": row["seed"],
            "portrait": row["portrait"],
            "portrait_px": row["portrait_px"],
            "live": p["live"],
            "kind": p["kind"],
            "similarity": p["similarity"],
        }
        for row in rows
        if "refused" not in row
        for p in row.get("pairs", [])
        if p["match"] != (p["kind"] != "non_match")
    ]
    out["misread"] = [
        {
            "seed": row["seed"],
            "label": label,
            "truth": row["fields"][label],
            "read": row["read"][label],
        }
        for row in rows
        if "read" in row
        for label in LABELS
        if not row["exact"][label]
    ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=40, help="cards per framing")
    parser.add_argument("--framing", choices=sorted(FRAMINGS), action="append")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    live = live_features()
    result = {}
    for framing in args.framing or ("phone", "small"):
        rows = [measure_card(index, live, framing) for index in range(args.cards)]
        result[framing] = {"summary": summary(rows), "cards": rows}
        print(framing, json.dumps(result[framing]["summary"], indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
