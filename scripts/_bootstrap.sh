# Sourced by the other scripts: make sure .venv exists and holds the project with the given extras.
# Re-installs only when pyproject.toml is newer than the last install, so repeated runs are fast.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

ensure_venv() {
    local extras="${1:-}"
    if [ ! -x "$PY" ]; then
        local base="${PYTHON:-python3}"
        if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "chat-sidecar needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
            exit 2
        fi
        "$base" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed${extras:+-$extras}"
    if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "installing chat-sidecar into .venv${extras:+ (with $extras)}..." >&2
        "$PY" -m pip install --quiet --upgrade pip >&2
        "$PY" -m pip install --quiet -e "$ROOT${extras:+[$extras]}" >&2
        touch "$stamp"
    fi
}
