"""Every installed module is product: reached from an entry point, not kept for tests or tools.

`tools/unused_modules.py` reads the imports (with `ast`) of every module in the packages
pyproject.toml installs; one that no entry point reaches belongs in tests/support, bench
or tools, or has lost its caller.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tools.unused_modules import REPO, entry_points, find, installed_modules


def test_no_installed_module_is_unused_or_used_only_by_tests_bench_or_tools():
    findings = find()
    assert not findings, "\n".join(f.describe() for f in findings)


def test_the_audit_sees_the_installed_packages_and_their_entry_points():
    modules = installed_modules()
    assert "vigil.compare.compare" in modules and "vigil.models.scoring" in modules
    assert not any(".convert" in name or "calibration" in name for name in modules)
    entries = entry_points(modules)
    assert {"vigil.cli.main", "vigil.api", "vigil.errors", "vigil.workers.image_tasks"} <= entries
    assert "vigil.compare.compare" not in entries


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_the_audit_finds_modules_only_tests_or_nobody_import(tmp_path: Path):
    write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "vigil"
        [project.scripts]
        vigil = "vigil.cli.main:main"
        [tool.setuptools]
        package-dir = { "vigil" = "vigil", "vigil.lib" = "lib" }
        packages = ["vigil", "vigil.cli", "vigil.lib"]
        """,
    )
    write(tmp_path / "vigil/__init__.py", "")
    write(tmp_path / "vigil/cli/__init__.py", "")
    write(tmp_path / "vigil/cli/main.py", "from vigil.lib import used\n")
    write(tmp_path / "lib/__init__.py", "")
    write(tmp_path / "lib/used.py", "from . import helper\n")  # relative, submodule
    write(tmp_path / "lib/helper.py", "")
    write(tmp_path / "lib/for_tests.py", "from vigil.lib.chained import x\n")
    write(tmp_path / "lib/chained.py", "x = 1\n")
    write(tmp_path / "lib/orphan.py", "")
    write(tmp_path / "tests/test_x.py", "import vigil.lib.for_tests\n")
    found = {f.module.name: f for f in find(tmp_path)}
    assert set(found) == {"vigil.lib.for_tests", "vigil.lib.chained", "vigil.lib.orphan"}
    assert found["vigil.lib.for_tests"].only_outside
    assert found["vigil.lib.chained"].product == {"vigil.lib.for_tests"}  # unused importer
    assert not found["vigil.lib.orphan"].product and not found["vigil.lib.orphan"].outside


def test_the_command_exits_0_when_it_finds_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "tools.unused_modules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
