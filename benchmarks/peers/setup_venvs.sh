#!/usr/bin/env bash
# The virtualenvs of the peers that cannot share the project's .venv (benchmarks/peers/run.py uses them):
#
#   .venv-peers/quix    Quix Streams (benchmarks/peers/quix/requirements.txt): it pins confluent-kafka
#                       below 2.13, the project's .venv has 2.16
#
#   benchmarks/peers/setup_venvs.sh           create or update them; idempotent (nothing to do takes no time)
#   benchmarks/peers/setup_venvs.sh --check   exit 0 when they are ready, 1 when not; installs nothing
#
# PYTHON (default python3.11) makes them; PEERS_VENV_DIR (default .venv-peers at the repository's root)
# holds them. A virtualenv is ready when its stamp is newer than its requirements file.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DIR="${PEERS_VENV_DIR:-$ROOT/.venv-peers}"
PYTHON="${PYTHON:-python3.11}"
VENVS=("quix:$HERE/quix/requirements.txt")

log() { echo "setup_venvs.sh: $*" >&2; }

ready() {  # NAME REQUIREMENTS
  [[ -x "$DIR/$1/bin/python" && -f "$DIR/$1/.installed" && "$DIR/$1/.installed" -nt "$2" ]]
}

make_venv() {  # NAME REQUIREMENTS
  local name="$1" requirements="$2" venv="$DIR/$1" started
  if ready "$name" "$requirements"; then
    log "$venv is ready"
    return 0
  fi
  command -v "$PYTHON" >/dev/null || { log "need $PYTHON on PATH (or set PYTHON)"; return 1; }
  started=$(date +%s)
  [[ -x "$venv/bin/python" ]] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r "$requirements"
  touch "$venv/.installed"
  log "$venv ready ($name: $(( $(date +%s) - started )) s)"
}

rc=0
for entry in "${VENVS[@]}"; do
  name="${entry%%:*}" requirements="${entry#*:}"
  if [[ "${1:-}" == --check ]]; then
    ready "$name" "$requirements" || { log "$DIR/$name is missing or older than $requirements"; rc=1; }
  else
    make_venv "$name" "$requirements" || rc=1
  fi
done
exit "$rc"
