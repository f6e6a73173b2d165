"""What this CPU offers reduced-precision inference, read once from /proc/cpuinfo.

Why it matters: OpenVINO infers in bfloat16 by default wherever the CPU has
AVX512-BF16, and whether bf16 pays depends on the chip, not on that flag alone.
Measured single-thread (docs/performance.md, "Precision by CPU"): with AMX-BF16 (Xeon)
the embedder ran 5x its f32 speed; on a Xeon whose virtual machine exposes AVX512-BF16
but not AMX, bf16 ran 1.4-1.5x *slower* than f32 (NanoDet 63.5 against 41.6 ms, the
embedder's batch of 8 58.6 against 42.3 ms), and a busy camera cost 0.83 cores instead
of 0.64; on an AMD EPYC with AVX512-BF16 (Zen 4, which executes it natively) bf16 ran
1.5-1.9x *faster* (the embedder's batch of 8 38.5 -> 20.7 ms, BlazeFace 3.09 -> 2.04).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import NamedTuple

from vigil.models.inference import INT8, INT8_BF16

CPUINFO = Path("/proc/cpuinfo")
# The flags that change what inference costs, in the order benchmarks report them.
INFERENCE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16")
AMD = "AuthenticAMD"


class CpuInfo(NamedTuple):
    model: str
    flags: frozenset[str] | None  # None where unknown, so "no AMX" differs from "unknown"
    vendor: str  # vendor_id: GenuineIntel, AuthenticAMD, or "unknown"


@cache
def cpuinfo() -> CpuInfo:
    """The first processor's model name, flags and vendor; flags None where
    /proc/cpuinfo cannot be read (not Linux)."""
    fields: dict[str, str] = {}
    try:
        text = CPUINFO.read_text()
    except OSError:
        return CpuInfo("unknown", None, "unknown")
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = frozenset(fields["flags"].split()) if "flags" in fields else None
    return CpuInfo(fields.get("model name", "unknown"), flags, fields.get("vendor_id", "unknown"))


def inference_flags() -> list[str]:
    """The `INFERENCE_FLAGS` this CPU has (empty where unknown)."""
    flags = cpuinfo().flags or frozenset()
    return [flag for flag in INFERENCE_FLAGS if flag in flags]


def fastest_precision() -> str | None:
    """The reduced precision that pays on this CPU, as measured:
    - "bf16" with AMX-BF16;
    - "int8+bf16" on AMD with AVX512-BF16 and VNNI (Zen 4 and later): bf16 runs
      natively there (the float models), beside int8 weights where a model ships them;
    - "int8" (int8 weights where a model ships them, f32 elsewhere) with VNNI, the int8
      dot products (NanoDet 31.9 -> 16.5 ms on a Xeon without AMX, whose bf16 is slow),
      and with AVX2 alone, whose int8 kernels pay without VNNI too (NanoDet 56 -> 35 ms
      on an AVX2-only EPYC);
    - "f32" on CPUs without AVX2, where int8 was not measured;
    - None where the flags are unknown (then the backend's own default stands)."""
    info = cpuinfo()
    flags = info.flags
    if flags is None:
        return None
    vnni = bool(flags & {"avx512_vnni", "avx_vnni"})
    if "amx_bf16" in flags:
        return "bf16"
    if vnni and "avx512_bf16" in flags and info.vendor == AMD:
        return INT8_BF16
    if vnni or "avx2" in flags:
        return INT8
    return "f32"
