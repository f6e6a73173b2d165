"""Lists installed modules that the product itself never uses.

The installed packages are those in pyproject.toml `[tool.setuptools] packages`, read
from the folders `package-dir` maps them to (`vigil.models` is ./models, ...). A module
is in use when an entry point reaches it through imports between installed modules.
Entry points: `vigil/cli/*`, `vigil/__main__.py`, `vigil/api.py`, `vigil/errors.py`,
the Celery task modules the Celery app includes (`include=` in infra/celery_app.py),
every package `__init__.py`, and the modules named in `[project.scripts]` and
`[project.entry-points]`. Imports are read with `ast` (no code runs): absolute
`vigil.x.y` and relative imports, at any depth (inside functions too); importing a
package counts for the package, `from vigil.a import b` for submodule `b` when there
is one, and `import vigil.a.b` also for the packages above `b` (Python imports them).

Each module left over is reported with who does import it: other unused installed
modules, tests/, bench/ or tools/ (so it is tooling or a test helper and belongs
there), or nobody. Exits 1 when any is found.

    python -m tools.unused_modules
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = "vigil"
OUTSIDE = ("tests", "bench", "tools")  # folders whose imports do not make a module "used"
ENTRY_MODULES = ("vigil.__main__", "vigil.api", "vigil.errors")
ENTRY_PACKAGES = ("vigil.cli",)  # every module of these packages is an entry point
CELERY_APP = "vigil.infra.celery_app"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


@dataclass
class Finding:
    module: Module
    product: set[str] = field(default_factory=set)  # unused installed modules importing it
    outside: set[str] = field(default_factory=set)  # files under tests/ bench/ tools/

    def describe(self) -> str:
        where = []
        if self.product:
            where.append("unused installed modules " + ", ".join(sorted(self.product)))
        if self.outside:
            where.append(", ".join(sorted(self.outside)))
        used_by = "; ".join(where) if where else "nothing"
        return f"{self.module.name} ({self.module.path.relative_to(REPO)}): imported by {used_by}"

    @property
    def only_outside(self) -> bool:
        """Imported by tests/bench/tools and by no installed module at all."""
        return bool(self.outside) and not self.product


def read_pyproject(repo: Path = REPO) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text())


def package_folder(package: str, package_dir: dict[str, str], repo: Path) -> Path:
    """The folder setuptools takes `package` from (the longest mapped prefix wins)."""
    for prefix in sorted(package_dir, key=len, reverse=True):
        if package == prefix or package.startswith(prefix + "."):
            rest = package[len(prefix) :].lstrip(".")
            folder = repo / package_dir[prefix]
            return folder.joinpath(*rest.split(".")) if rest else folder
    return repo / Path(*package.split("."))


def installed_modules(repo: Path = REPO) -> dict[str, Module]:
    """Every module setuptools installs: the .py files directly in each listed package."""
    settings = read_pyproject(repo)["tool"]["setuptools"]
    package_dir = settings.get("package-dir", {})
    modules: dict[str, Module] = {}
    for package in settings["packages"]:
        folder = package_folder(package, package_dir, repo)
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = Module(name, path)
    return modules


def own_package(module: Module) -> str:
    return module.name if module.is_package else module.name.rpartition(".")[0]


def imported_names(tree: ast.AST, package: str, known: set[str]) -> Iterator[str]:
    """Dotted names of the installed modules this tree imports (may repeat)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from with_parents(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    continue
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            yield from with_parents(source)
            for alias in node.names:
                if f"{source}.{alias.name}" in known:
                    yield f"{source}.{alias.name}"


def with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports_of(module: Module, known: set[str]) -> set[str]:
    names = imported_names(parse(module.path), own_package(module), known)
    return {n for n in names if n in known and n != module.name}


def celery_task_modules(modules: dict[str, Module]) -> set[str]:
    """The module names given to `Celery(include=...)` in the Celery app module."""
    app = modules.get(CELERY_APP)
    if app is None:
        return set()
    tree = parse(app.path)
    lists: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    lists[target.id] = node.value
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "include":
                    value = keyword.value
                    if isinstance(value, ast.Name):
                        value = lists.get(value.id, value)
                    found |= string_items(value)
    return found


def string_items(node: ast.expr) -> set[str]:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        items = node.elts
        return {e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def declared_entry_points(pyproject: dict) -> set[str]:
    """Modules named in [project.scripts], [project.gui-scripts], [project.entry-points]."""
    project = pyproject.get("project", {})
    targets: list[str] = [*project.get("scripts", {}).values()]
    targets += project.get("gui-scripts", {}).values()
    for group in project.get("entry-points", {}).values():
        targets += group.values()
    return {target.split(":")[0].strip() for target in targets}


def entry_points(modules: dict[str, Module], repo: Path = REPO) -> set[str]:
    entries = {name for name, module in modules.items() if module.is_package}
    entries |= {name for name in ENTRY_MODULES if name in modules}
    entries |= {
        name
        for name in modules
        for package in ENTRY_PACKAGES
        if name.rpartition(".")[0] == package
    }
    entries |= celery_task_modules(modules)
    entries |= declared_entry_points(read_pyproject(repo))
    return entries & set(modules)


def reachable(starts: Iterable[str], graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph.get(name, ())
    return seen


def outside_files(repo: Path) -> Iterator[Path]:
    for folder in OUTSIDE:
        for path in sorted((repo / folder).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def outside_importers(repo: Path, known: set[str]) -> dict[str, set[str]]:
    """Installed module -> the files under tests/ bench/ tools/ that import it."""
    users: dict[str, set[str]] = {}
    for path in outside_files(repo):
        relative = path.relative_to(repo)
        parts = relative.with_suffix("").parts
        package = ".".join(parts[:-1])
        try:
            names = set(imported_names(parse(path), package, known))
        except SyntaxError:
            continue
        for name in names & known:
            users.setdefault(name, set()).add(relative.as_posix())
    return users


def find(repo: Path = REPO) -> list[Finding]:
    """Installed modules that no entry point reaches, with who imports them instead."""
    modules = installed_modules(repo)
    known = set(modules)
    graph = {name: imports_of(module, known) for name, module in modules.items()}
    used = reachable(entry_points(modules, repo), graph)
    outside = outside_importers(repo, known)
    findings = []
    for name in sorted(known - used):
        product = {other for other, targets in graph.items() if name in targets} - {name}
        findings.append(Finding(modules[name], product, outside.get(name, set())))
    return findings


def main() -> int:
    findings = find()
    if not findings:
        print(f"every installed module is reached from an entry point ({ROOT})")
        return 0
    only_outside = [f for f in findings if f.only_outside]
    rest = [f for f in findings if not f.only_outside]
    if only_outside:
        print("imported only by tests/bench/tools (move them there):")
        for finding in only_outside:
            print("  " + finding.describe())
    if rest:
        print("reached from no entry point:")
        for finding in rest:
            print("  " + finding.describe())
    return 1


if __name__ == "__main__":
    sys.exit(main())
