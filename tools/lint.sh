#!/usr/bin/env bash
# Import contracts (pyproject.toml [tool.importlinter]), then types (mypy, [tool.mypy]),
# both on the real package structure.
# The editable install maps fifteen folders into `vigil` through an import hook that
# static tools do not run, so tools/link_tree.py builds build/lint/vigil (file links in
# real folders) and import-linter and mypy read that; run from there so ./vigil cannot
# shadow it.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="$(python tools/link_tree.py)"
cd "$tree"
PYTHONPATH="$tree" lint-imports --no-cache --config ../../pyproject.toml 2>&1 | grep -v DeprecationWarning

# No module circle inside a package either (the layer contract orders packages only).
python ../../tools/import_cycles.py "$tree"

# mypy on the same tree: from inside it every vigil.* import resolves to a real file.
if ! report="$(mypy -p vigil --config-file ../../pyproject.toml 2>&1)"; then
    printf '%s\n' "$report"
    echo "mypy: failed" >&2
    exit 1
fi
files="$(grep -o '[0-9]* source files\?' <<<"$report" | tail -n 1)"
echo "mypy: no issues in ${files:-? source files}"
