"""Builds `build/lint/vigil/`: the installed `vigil` package as real folders of file links.

pyproject.toml maps fifteen top-level folders into one import namespace (`vigil.models`
is ./models, ...), as the user asked for the folders. An editable install resolves that
through an import hook, which tools that read the tree (import-linter, mypy, pyright)
do not run: they see `vigil.errors` and `vigil.api` only. This tree gives them the real
structure; `tools/lint.sh` puts it first on their path. Rebuilt from scratch each time.

    python tools/link_tree.py            # prints the folder to put on PYTHONPATH/MYPYPATH
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TREE = REPO / "build" / "lint"


def package_dirs() -> dict[str, Path]:
    """Import name -> source folder, from [tool.setuptools] package-dir."""
    settings = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: REPO / folder for name, folder in settings["package-dir"].items()}


def build(tree: Path = TREE) -> Path:
    shutil.rmtree(tree, ignore_errors=True)
    mapping = package_dirs()
    for name, source in sorted(mapping.items(), key=lambda item: item[0].count(".")):
        target = tree / Path(*name.split("."))
        for path in sorted(source.rglob("*.py")):
            relative = path.relative_to(source)
            if any(part in ("__pycache__",) for part in relative.parts):
                continue
            # a sub-folder that is itself mapped (vigil/models inside vigil/) is not copied
            inner = ".".join((name, *relative.parts[:-1]))
            if inner != name and any(inner == n or inner.startswith(n + ".") for n in mapping
                                     if n != name and n.startswith(name + ".")):
                continue
            link = target / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
    return tree


if __name__ == "__main__":
    print(build())
