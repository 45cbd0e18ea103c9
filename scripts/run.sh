#!/usr/bin/env bash
# Prepare the environment (Python 3.12, uv, the locked dependencies) and run a command inside it.
#   ./scripts/run.sh python -m vst_vla.train        # the main job on its embedded default
#   ./scripts/run.sh python -m pytest               # the tests
# Idempotent: on a prepared machine `uv sync --locked` only checks the venv (about a second).
set -euo pipefail
cd "$(dirname "$0")/.."

is_python312() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; }

find_python312() {
  local candidates=()
  if command -v pyenv >/dev/null 2>&1; then
    local root version
    root=$(pyenv root)
    for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -rV); do
      candidates+=("$root/versions/$version/bin/python")
    done
  fi
  # A pyenv shim on PATH may exist without that version being active, so every candidate is run once.
  candidates+=("$(command -v python3.12 || true)" "$HOME"/.pyenv/versions/3.12*/bin/python /usr/local/bin/python3.12 /usr/bin/python3.12)
  local c
  for c in "${candidates[@]}"; do
    if [ -n "$c" ] && [ -x "$c" ] && is_python312 "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

PYTHON=$(find_python312) || {
  echo "error: Python 3.12 not found (looked on PATH, in pyenv and ~/.pyenv/versions); install it, e.g. 'pyenv install 3.12'" >&2
  exit 1
}

# `uv --version`, not `command -v uv`: a pyenv shim named uv exists even where no active Python has uv.
if uv --version >/dev/null 2>&1; then
  UV=(uv)
else
  if ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
    echo "installing uv with pip ..." >&2
    "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
  fi
  UV=("$PYTHON" -m uv)
fi

"${UV[@]}" sync --locked --python "$PYTHON" --quiet

# Offline by default: nothing in vst-vla downloads, and this keeps libraries from trying.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export MUJOCO_GL="${MUJOCO_GL:-egl}"

if [ "$#" -eq 0 ]; then
  echo "environment ready: .venv (run commands with ./scripts/run.sh <command>)" >&2
  exit 0
fi
source .venv/bin/activate
exec "$@"
