"""What calibration leaves behind: the thresholds file and the model card's "Thresholds" section."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import numpy as np

from tools.calibration.augment import AUGMENTS
from tools.calibration.data import VIDEO_AUGMENTED, VIDEO_EVERY, ViewSet
from tools.calibration.stats import (
    MIN_TAIL_PAIRS,
    TAIL_FRACTION,
    Estimate,
    Pairs,
    accept_rate,
    closest_unlabelled,
)
from vigil.models.scoring import MIDPOINT, similarity
from vigil.schemas.threshold import Threshold, Thresholds

SECTION_TITLE = "## Thresholds"
PERCENTILES = (0.01, 0.1, 1, 5, 50, 95)
METHOD = (
    "L2 distances of genuine and impostor pairs over every face photo available offline"
    " (4 Obama photos, Biden, Grace Hopper, Messi, scikit-image's astronaut, frames of"
    " carphone_pristine.mp4; 100 LFW-subset faces as impostors only) and {augments}"
    " augmented views of each; threshold = empirical impostor quantile where at least"
    f" {MIN_TAIL_PAIRS} impostor pairs fall below it, else a normal fit to the lowest"
    f" {TAIL_FRACTION:.0%} of impostor distances extrapolated to the FAR. No identity-labelled"
    " face data set exists offline: see the model card, section Thresholds."
)


def thresholds_file(model: str, estimates: list[Estimate], pairs: Pairs) -> Thresholds:
    return Thresholds(
        model=model,
        thresholds=[
            Threshold(far=e.far, distance=e.distance, similarity=similarity(e.distance))
            for e in sorted(estimates, key=lambda e: e.far, reverse=True)
        ],
        method=METHOD.format(augments=len(AUGMENTS)),
        genuine_pairs=int(pairs.genuine.size),
        impostor_pairs=int(pairs.impostor.size),
    )


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def distribution_rows(pairs: Pairs) -> list[str]:
    header = " | ".join(f"{p:g} %" for p in PERCENTILES)
    rows = [
        f"| pairs | count | min | {header} | max |",
        "|---|---" + "|---" * (len(PERCENTILES) + 2) + "|",
    ]
    named = (
        ("genuine, all", pairs.genuine),
        ("genuine, two different pictures", pairs.genuine_cross_photo),
        ("genuine, two different unaugmented pictures", pairs.genuine_originals),
        ("impostor, all", pairs.impostor),
    )
    for name, values in named:
        cells = " | ".join(f"{v:.3f}" for v in np.percentile(values, PERCENTILES))
        rows.append(
            f"| {name} | {values.size} | {values.min():.3f} | {cells} | {values.max():.3f} |"
        )
    return rows


def threshold_rows(estimates: list[Estimate], pairs: Pairs) -> list[str]:
    rows = [
        "| FAR | distance <= | similarity >= | method | empirical | tail fit"
        " | impostors accepted | TAR all | TAR different pictures | TAR unaugmented |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in estimates:
        empirical = f"{e.empirical:.4f}" if e.empirical is not None else "too few pairs"
        rows.append(
            f"| {e.far:g} | {e.distance:.4f} | {similarity(e.distance):.1f} | {e.method}"
            f" | {empirical} | {e.fitted:.4f} | {e.impostors_accepted} | {percent(e.tar)}"
            f" | {percent(e.tar_cross_photo)} | {percent(e.tar_originals)} |"
        )
    far_at_dlib = accept_rate(pairs.impostor, MIDPOINT)
    rows.append(
        f"| (dlib's rule) {far_at_dlib:.2g} measured | {MIDPOINT:.4f} | 50.0 | for comparison"
        f" | | | {int(np.count_nonzero(pairs.impostor <= MIDPOINT))}"
        f" | {percent(accept_rate(pairs.genuine, MIDPOINT))}"
        f" | {percent(accept_rate(pairs.genuine_cross_photo, MIDPOINT))}"
        f" | {percent(accept_rate(pairs.genuine_originals, MIDPOINT))} |"
    )
    return rows


def unlabelled_check(views: ViewSet, pairs: Pairs) -> str:
    closest = closest_unlabelled(views.views)
    if closest is None or not pairs.genuine_originals.size:
        return "- No unlabelled faces were used."
    distance, photo, face = closest
    return (
        "- Check that no LFW-subset face is one of the labelled people: the closest pair of"
        f" unaugmented pictures is {photo} and {face}, L2 {distance:.3f}; same-person pairs"
        f" of unaugmented pictures are at most {pairs.genuine_originals.max():.3f} apart here."
    )


def fit_gap(estimates: list[Estimate]) -> float:
    gaps = [abs(e.empirical - e.fitted) for e in estimates if e.empirical is not None]
    return max(gaps, default=float("nan"))


def card_section(views: ViewSet, pairs: Pairs, estimates: list[Estimate], plot: str) -> str:
    labelled = Counter(v.identity for v in views.views if v.labelled)
    unlabelled = sum(1 for v in views.views if not v.labelled)
    identities = ", ".join(f"{name} {count}" for name, count in labelled.items())
    lines = [
        SECTION_TITLE,
        "",
        f"Calibrated on {date.today().isoformat()} by `python -m tools.calibration"
        " --out models/weights/face_resnet128.thresholds.json`; the values live in"
        " `face_resnet128.thresholds.json` and decide every `vigil compare` match.",
        "",
        "**Caveat: no identity-labelled face data set (LFW pairs or the like) is available"
        " offline.** These thresholds come from 6 labelled identities and 100 unlabelled"
        " faces; the pairs share photos, so they are far from independent and the FAR"
        " figures are estimates of this model's behaviour on these conditions, not a"
        " benchmark. Re-run the calibration on a labelled set of your own population"
        " before relying on FAR 1e-4 or 1e-5.",
        "",
        "### Data",
        "",
        f"- Faces embedded: {len(views.views)} views ({len(views.views) - unlabelled} of"
        f" labelled identities: {identities}; {unlabelled} of LFW-subset faces).",
        f"- Views where the detector found no face (left out): {len(views.missed)}"
        + (f" ({'; '.join(views.notes)})" if views.notes else "")
        + ".",
        f"- Augmentations of every picture's face portrait ({len(AUGMENTS)}):"
        f" {', '.join(AUGMENTS)}. Of the video, every {VIDEO_EVERY}th frame is a view and"
        f" frames {', '.join(map(str, VIDEO_AUGMENTED))} are augmented too.",
        "- Genuine pairs: two views of one labelled identity"
        f" ({pairs.genuine.size} pairs; {pairs.genuine_cross_photo.size} of them from two"
        f" different pictures; {pairs.genuine_originals.size} between unaugmented pictures).",
        "- Impostor pairs: two views of different identities, at least one labelled"
        f" ({pairs.impostor.size} pairs; {pairs.impostor_labelled} between labelled"
        " identities). The LFW-subset faces (scikit-image `lfw_subset()`, 25 px, grey,"
        " upscaled x4 and padded) are nobody we can name: each is treated as its own"
        " identity and paired only with the labelled identities, never with each other,"
        " since two of them may show the same person.",
        unlabelled_check(views, pairs),
        "",
        "### Method",
        "",
        "A pair matches when its L2 distance is at most the threshold; FAR(t) is the share"
        " of impostor pairs at or below t. Where at least"
        f" {MIN_TAIL_PAIRS} impostor pairs fall below it, the threshold is the empirical"
        " quantile (half-way between the last accepted and first refused impostor). Else a"
        f" normal model is fitted to the lowest {TAIL_FRACTION:.0%} of impostor distances"
        " (least squares on the normal probability plot) and extrapolated to the FAR. A"
        " tighter FAR never gets a looser threshold. Where both estimates exist they differ"
        f" by at most {fit_gap(estimates):.4f} (columns `empirical` and `tail fit`), which"
        " is the support for trusting the fit one decade further.",
        "",
        "### Distributions (L2 distance)",
        "",
        *distribution_rows(pairs),
        "",
        "### Thresholds and genuine accept rates",
        "",
        *threshold_rows(estimates, pairs),
        "",
        "TAR all includes heavily degraded genuine pairs (faces of 24 px, strong blur, a"
        " half-hidden face), which is why it is lower than the TAR between unaugmented"
        " pictures. Degraded faces of different people also draw closer together, which"
        " is what pushes these thresholds below dlib's 0.6.",
        "",
        f"![genuine and impostor distances]({plot})",
        "",
    ]
    return "\n".join(lines)


def replace_section(card: str, section: str) -> str:
    """The card with its Thresholds section replaced (or appended), the rest untouched."""
    pattern = re.compile(rf"^{re.escape(SECTION_TITLE)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(card):
        return pattern.sub(lambda _: section + "\n", card, count=1).rstrip("\n") + "\n"
    return card.rstrip("\n") + "\n\n" + section
