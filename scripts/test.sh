#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (PostgreSQL,
# a Python virtual environment with simple-salesforce), starts PostgreSQL, then runs the
# Rust tests of every crate and the Python client test against the emulated org.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the store and service suites run against it as well as SQLite.
eval "$(scripts/start-postgres.sh)"
export TRAILSPARK_TEST_POSTGRES_URL

# Rust: every crate's unit and integration tests (the binary is built on the way).
cargo build --workspace --all-targets --locked
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

# A real Salesforce client nobody here wrote, against `trailspark sfsim --tls`.
tests/python/run.sh
