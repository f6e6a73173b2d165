"""What this CPU offers reduced-precision inference, read once from /proc/cpuinfo.

Why it matters: OpenVINO infers in bfloat16 by default wherever the CPU has
AVX512-BF16, but bf16 only pays with AMX. Measured single-thread on two Xeons
(docs/performance.md, "Inference backends"): with AMX-BF16 the embedder ran 5x its
f32 speed; on a Xeon whose virtual machine exposes AVX512-BF16 but not AMX, bf16 ran
1.4-1.5x *slower* than f32 (NanoDet 63.5 against 41.6 ms, the embedder's batch of 8
58.6 against 42.3 ms), and a busy camera cost 0.83 cores instead of 0.64.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# The flags that change what inference costs, in the order benchmarks report them.
INFERENCE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")


@cache
def cpuinfo() -> tuple[str, frozenset[str] | None]:
    """(CPU model name, its flags); flags None where /proc/cpuinfo cannot be read
    (not Linux), so that callers can tell "no AMX" from "unknown"."""
    model, flags = "unknown", None
    try:
        text = CPUINFO.read_text()
    except OSError:
        return model, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and flags is None:
            flags = frozenset(value.split())
    return model, flags


def inference_flags() -> list[str]:
    """The `INFERENCE_FLAGS` this CPU has (empty where unknown)."""
    flags = cpuinfo()[1] or frozenset()
    return [flag for flag in INFERENCE_FLAGS if flag in flags]


def fastest_precision() -> str | None:
    """The reduced precision that pays on this CPU, as measured: "bf16" with AMX-BF16;
    "int8" (int8 weights where a model ships them, f32 elsewhere) with VNNI, the int8
    dot products (NanoDet 31.9 -> 16.5 ms on a Xeon without AMX); "f32" on other CPUs,
    where int8 was not measured; None where the flags are unknown (then the backend's
    own default stands)."""
    flags = cpuinfo()[1]
    if flags is None:
        return None
    if "amx_bf16" in flags:
        return "bf16"
    if flags & {"avx512_vnni", "avx_vnni"}:
        return "int8"
    return "f32"
