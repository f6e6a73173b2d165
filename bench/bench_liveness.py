"""Liveness benchmark: false accepts on generated still-photo attacks, false rejects on
generated live actions, per challenge, through `verify(..., liveness=True)`.

Run: python bench/bench_liveness.py [--live-seeds 3] [--attack-seeds 2] [--no-write]

The videos are generated afresh in a temporary folder by tests/support/liveness_videos.py
(seeded, so a run is repeatable): the live set is every live identity x every challenge
x `--live-seeds` seeds, the subject doing the asked action; the attack set is every
attack identity x every attack motion x `--attack-seeds` seeds, each video checked
against every challenge. The ID photo is the fixture the portrait was cut from, so every
attack matches its identity: only liveness stands between the photo and a pass.

- false-accept rate: attack sessions that passed (matched and live) / attack sessions;
- false-reject rate: live sessions that did not pass within the time limit / live sessions;
- time to decision: source seconds from the first examined frame to the live decision
  (the action starts 0.8-1.5 s into each live video);
- margins: the strongest evidence any attack produced against the weakest that any
  live session needed, per rule.

Written to bench/results/liveness.json; the table goes into docs/performance.md by hand.
What this set does not prove is in the README ("Liveness") and the generator's docstring.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import liveness_videos as lv  # noqa: E402
from vigil.compare.liveness import DEFAULT_TIMEOUT  # noqa: E402
from vigil.compare.verify import verify  # noqa: E402

RESULTS = REPO / "bench" / "results" / "liveness.json"
CHALLENGES = lv.CHALLENGES


def run_session(clip: lv.Clip, challenge: str, timeout: float) -> dict:
    started = time.perf_counter()
    result = verify(
        str(lv.id_photo(clip.identity)),
        source=str(clip.path),
        liveness=True,
        challenge=challenge,
        liveness_timeout=timeout,
        timeout=600,  # wall clock: a slow CPU must not cut a file short; the limit is source time
    )
    live = result.liveness
    assert live is not None
    return {
        "video": clip.path.name,
        "kind": clip.kind,
        "identity": clip.identity,
        "action": clip.action,
        "seed": clip.seed,
        "challenge": challenge,
        "match": result.match,
        "decision": live.decision.value,
        "passed": result.passed,
        "reason": live.reason,
        "decided_s": live.elapsed_s,
        "peak": live.peak,
        "wall_s": round(time.perf_counter() - started, 3),
    }


def rate(rows: list[dict], failed) -> dict:
    bad = [row for row in rows if failed(row)]
    return {
        "sessions": len(rows),
        "errors": len(bad),
        "rate": round(len(bad) / len(rows), 4) if rows else None,
        "which": [f"{row['video']} as {row['challenge']}: {row['reason']}" for row in bad],
    }


def summary(live: list[dict], attacks: list[dict], timeout: float) -> dict:
    per: dict[str, dict] = {}
    for challenge in CHALLENGES:
        live_c = [row for row in live if row["challenge"] == challenge]
        attack_c = [row for row in attacks if row["challenge"] == challenge]
        times = [row["decided_s"] for row in live_c if row["passed"]]
        per[challenge] = {
            "far": rate(attack_c, lambda row: row["passed"]),
            "frr": rate(live_c, lambda row: not row["passed"]),
            "decided_s_median": round(statistics.median(times), 2) if times else None,
            "decided_s_max": round(max(times), 2) if times else None,
        }
    attack_by_motion = defaultdict(list)
    for row in attacks:
        attack_by_motion[row["action"]].append(row)
    margins = {
        "turn_degrees_attack_max": max_peak(attacks, "turn_degrees", ("turn_left", "turn_right")),
        "turn_degrees_live_min": min_peak(live, "turn_degrees", ("turn_left", "turn_right")),
        "nonplanar_attack_max": max_peak(attacks, "nonplanar", CHALLENGES),
        "nonplanar_live_turn_min": min_peak(live, "nonplanar", ("turn_left", "turn_right")),
        "jaw_drop_attack_max": max_peak(attacks, "jaw_drop", CHALLENGES),
        "jaw_drop_live_mouth_min": min_peak(live, "jaw_drop", ("mouth_open",)),
        "mar_rise_attack_max": max_peak(attacks, "mar_rise", ("mouth_open",)),
        "eye_open_ratio_attack_min": min_peak(attacks, "eye_open_ratio", ("blink",)),
        "eye_open_ratio_live_max": max_peak(live, "eye_open_ratio", ("blink",)),
    }
    return {
        "timeout_s": timeout,
        "fps": lv.FPS,
        "live_videos": len({row["video"] for row in live}),
        "attack_videos": len({row["video"] for row in attacks}),
        "far": rate(attacks, lambda row: row["passed"]),
        "far_liveness_only": rate(attacks, lambda row: row["decision"] == "live"),
        "frr": rate(live, lambda row: not row["passed"]),
        "per_challenge": per,
        "attack_decisions": {
            motion: dict(sorted(_count(rows).items())) for motion, rows in attack_by_motion.items()
        },
        "margins": margins,
        "wall_s_per_session_median": round(
            statistics.median(row["wall_s"] for row in live + attacks), 2
        ),
    }


def _count(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["decision"]] += 1
    return counts


def _peaks(rows: list[dict], name: str, challenges) -> list[float]:
    return [
        row["peak"][name] for row in rows if row["challenge"] in challenges and name in row["peak"]
    ]


def max_peak(rows, name, challenges) -> float | None:
    values = _peaks(rows, name, challenges)
    return round(max(values), 4) if values else None


def min_peak(rows, name, challenges) -> float | None:
    values = _peaks(rows, name, challenges)
    return round(min(values), 4) if values else None


def table(result: dict) -> str:
    lines = [
        "| challenge | attack sessions | accepted (FAR) | live sessions | refused (FRR) |"
        " decided, median / max s |",
        "|---|---|---|---|---|---|",
    ]
    for challenge, row in result["per_challenge"].items():
        far, frr = row["far"], row["frr"]
        lines.append(
            f"| {challenge} | {far['sessions']} | {far['errors']} ({far['rate']:.1%}) |"
            f" {frr['sessions']} | {frr['errors']} ({frr['rate']:.1%}) |"
            f" {row['decided_s_median']} / {row['decided_s_max']} |"
        )
    far, frr = result["far"], result["frr"]
    lines.append(
        f"| **all** | {far['sessions']} | {far['errors']} ({far['rate']:.1%}) |"
        f" {frr['sessions']} | {frr['errors']} ({frr['rate']:.1%}) | |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--live-seeds", type=int, default=3)
    parser.add_argument("--attack-seeds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    live: list[dict] = []
    attacks: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="liveness-") as folder:
        root = Path(folder)
        for seed in range(1, args.live_seeds + 1):
            for identity in lv.LIVE_IDENTITIES:
                for challenge in CHALLENGES:
                    clip = lv.live_clip(root, identity, challenge, 100 + seed)
                    live.append(run_session(clip, challenge, args.timeout))
                    clip.path.unlink()
        print(f"live: {len(live)} sessions, {sum(r['passed'] for r in live)} passed", flush=True)
        for seed in range(1, args.attack_seeds + 1):
            for identity in lv.ATTACK_IDENTITIES:
                for motion in lv.ATTACK_MOTIONS:
                    clip = lv.attack_clip(root, identity, motion, 200 + seed)
                    for challenge in CHALLENGES:
                        attacks.append(run_session(clip, challenge, args.timeout))
                    clip.path.unlink()
        print(f"attacks: {len(attacks)} sessions, {sum(r['passed'] for r in attacks)} passed")
    result = summary(live, attacks, args.timeout)
    result["command"] = "python bench/bench_liveness.py " + " ".join(sys.argv[1:])
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    result["sessions"] = live + attacks
    print(table(result))
    print(json.dumps(result["margins"], indent=2))
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written: {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
