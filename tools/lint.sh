#!/usr/bin/env bash
# Import contracts (pyproject.toml [tool.importlinter]) on the real package structure.
# The editable install maps fifteen folders into `vigil` through an import hook that
# static tools do not run, so tools/link_tree.py builds build/lint/vigil (file links in
# real folders) and import-linter reads that; run from there so ./vigil cannot shadow it.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="$(python tools/link_tree.py)"
cd "$tree"
PYTHONPATH="$tree" lint-imports --no-cache --config ../../pyproject.toml 2>&1 | grep -v DeprecationWarning
