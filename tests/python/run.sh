#!/usr/bin/env bash
# Runs the Python client test against the emulated org: creates .venv at the repository
# root when missing (or when requirements.txt changed), builds the binary unless
# TRAILSPARK_BIN names one, then runs pytest. Exits with pytest's exit code.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.trailspark-requirements
if ! cmp -s tests/python/requirements.txt "$stamp"; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$stamp"
fi

if [ -z "${TRAILSPARK_BIN:-}" ]; then
  cargo build --quiet -p trailspark
  target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  export TRAILSPARK_BIN="$target/debug/trailspark"
fi

exec .venv/bin/python -m pytest tests/python -q -p no:cacheprovider "$@"
