"""tools/import_cycles.py finds circles of imports, and the product has none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.import_cycles import cycles

REPO = Path(__file__).resolve().parents[1]


def test_a_circle_is_found_and_a_chain_is_not():
    chain = {"a": {"b"}, "b": {"c"}, "c": set()}
    assert cycles(chain) == []
    circle = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(circle) == [["a", "b", "c"]]
    assert cycles({"a": {"a", "outside"}}) == []  # a module importing itself is no circle


def test_the_product_has_no_import_cycle():
    tree = subprocess.run(
        [sys.executable, "tools/link_tree.py"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    done = subprocess.run(
        [sys.executable, "tools/import_cycles.py", tree], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout
    assert "import cycles: none among" in done.stdout
