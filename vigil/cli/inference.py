"""`vigil inference`: what this host's models run on, and how fast, before sizing it.

Why: what a camera costs depends on the CPU far more than on anything else (bf16
with AMX, int8 with VNNI or AVX2, f32 otherwise: docs/deployment.md's columns), and a
virtual machine may hide the flags the hardware has. This opens every model the way
a worker would (`VIGIL_INFERENCE`, `VIGIL_INFERENCE_PRECISION`, `VIGIL_MODEL_THREADS`,
or the options), says what each runs on, and with `--speed` times one call of each,
so an operator reads the column that applies instead of grepping /proc/cpuinfo and
the workers' logs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "inference",
        help="which backend and precision each model runs on here; --speed times them",
        description="Open every model as a worker would and say what it runs on: the CPU's"
        " inference flags, the precision `auto` chooses, each model's backend, device and"
        " weights. Settings come from VIGIL_INFERENCE, VIGIL_INFERENCE_PRECISION and"
        " VIGIL_MODEL_THREADS unless given here.",
    )
    parser.add_argument(
        "--backend", help="a VIGIL_INFERENCE value (onnxruntime, openvino, onnxruntime:cuda,cpu)"
    )
    parser.add_argument(
        "--precision", help="a VIGIL_INFERENCE_PRECISION value (auto, f32, bf16, int8, ...)"
    )
    parser.add_argument(
        "--speed",
        type=positive_calls,
        nargs="?",
        const=15,
        default=0,
        metavar="CALLS",
        help="time each model: the median of CALLS calls (default 15) after a warm-up",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object for machines")
    parser.set_defaults(run=run)


def positive_calls(text: str) -> int:
    calls = int(text)
    if calls < 1:
        raise argparse.ArgumentTypeError(f"at least 1 call, got {calls}")
    return calls


def run(args: argparse.Namespace) -> int:
    from vigil.models import runtime

    runtime_log = logging.getLogger(runtime.__name__)
    level = runtime_log.level
    if not args.verbose:  # the report says what the "runs on" log lines would
        runtime_log.setLevel(logging.WARNING)
    try:
        report = inference_report(args.backend, args.precision, args.speed)
    finally:
        runtime_log.setLevel(level)  # run in-process (tests), the logger is left as it was
    print(json.dumps(report, indent=2) if args.json else text(report))
    return 0


def inference_report(backend: str | None, precision: str | None, calls: int) -> dict[str, Any]:
    """The host, the setting and each model's backend; `calls` > 0 times each model."""
    from dataclasses import replace

    from vigil.models import cpu_features, runtime
    from vigil.models.inference import OPENVINO, from_env, intra_op_threads, parse
    from vigil.models.registry import model_names

    inference = from_env(backend, precision)
    info = cpu_features.cpuinfo()
    report: dict[str, Any] = {
        "cpu": info.model,
        "vendor": info.vendor,
        "cpus": os.cpu_count(),
        "inference_flags": cpu_features.inference_flags(),
        "setting": f"{inference.backend}:{','.join(inference.targets)}",
        "precision": inference.precision,
        # what `auto` becomes on this CPU (a backend's own default stays "auto")
        "auto_precision": runtime.concrete(replace(inference, precision="auto")).precision,
        "openvino_installed": runtime.openvino_installed(),
        "openvino_auto_precision": runtime.concrete(parse(OPENVINO, "auto")).precision,
        "model_threads": intra_op_threads(),
        "models": {},
    }
    for name in model_names():
        session = runtime.open_session(name, inference)
        row: dict[str, Any] = {"runs_on": session.runs_on}
        if calls > 0:
            row["ms_per_call"] = round(one_call_ms(session, calls), 2)
        report["models"][name] = row
    return report


def one_call_ms(session: Any, calls: int) -> float:
    """Median milliseconds of one call on a random input of the model's shape."""
    feed = {session.input_name: np.random.default_rng(0).random(session.input_shape, np.float32)}
    return median_ms(lambda: session.run(feed), calls)


def median_ms(call: Callable[[], object], calls: int) -> float:
    """Median milliseconds of `calls` calls after one warm-up call (also bench_backends')."""
    call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def text(report: dict[str, Any]) -> str:
    flags = " ".join(report["inference_flags"]) or "none of avx2, avx512, vnni, bf16, amx"
    auto = report["auto_precision"]
    lines = [
        f"host: {report['cpu']} ({report['vendor']}), {report['cpus']} CPUs;"
        f" inference flags: {flags}",
        f"setting: {report['setting']}, precision {report['precision']} (auto here: "
        f"{'the backend default' if auto == 'auto' else auto});"
        f" {report['model_threads']} thread(s) a call",
    ]
    if not report["setting"].startswith("openvino"):
        installed = "" if report["openvino_installed"] else ", not installed: vigil[openvino]"
        lines.append(f"OpenVINO would run auto as: {report['openvino_auto_precision']}{installed}")
    name_width = max(len(name) for name in report["models"])
    runs_width = max(len(row["runs_on"]) for row in report["models"].values())
    for name, row in report["models"].items():
        speed = f"  {row['ms_per_call']:8.2f} ms" if "ms_per_call" in row else ""
        lines.append(f"  {name:<{name_width}}  {row['runs_on']:<{runs_width}}{speed}".rstrip())
    return "\n".join(lines)
