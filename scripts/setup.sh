#!/usr/bin/env bash
# Creates .venv with the project installed (editable); reinstalls only when pyproject.toml changed.
# Usage: scripts/setup.sh [EXTRA]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: Python 3.11 or newer is needed ($python is $("$python" --version 2>&1))" >&2
    exit 2
}
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed-${extra:-base}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    spec="."
    [ -z "$extra" ] || spec=".[$extra]"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
    echo "$want" > "$stamp"
fi
