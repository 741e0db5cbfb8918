#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (PostgreSQL,
# a Python virtual environment with simple-salesforce), starts PostgreSQL, builds, runs
# clippy and the document-reference check, then runs the Rust tests of every crate and the
# Python client test against the emulated org.
#
# The PostgreSQL tests are #[ignore]d so a plain `cargo test` without a server reports them
# as skipped rather than passed; this script runs them too (`--run-ignored all`), and they
# fail when TRAILSPARK_TEST_POSTGRES_URL is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the store and service suites run against it as well as SQLite. The output is
# captured first so a failing start stops the script (`eval "$(...)"` would hide it).
pg_env="$(scripts/start-postgres.sh)"
eval "$pg_env"
: "${TRAILSPARK_TEST_POSTGRES_URL:?start-postgres.sh did not set it}"
export TRAILSPARK_TEST_POSTGRES_URL

# Rust: build every target, lint it, check the document references, then every crate's
# unit and integration tests, the PostgreSQL ones included.
cargo build --workspace --all-targets --locked
cargo clippy --workspace --all-targets --locked -- -D warnings
# Every document a comment or doc names is in the repository (and the heading it cites).
scripts/check-doc-refs.sh
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --run-ignored all
else
  cargo test --workspace --locked --no-fail-fast -- --include-ignored
fi

# A real Salesforce client nobody here wrote, against `trailspark sfsim --tls`.
tests/python/run.sh
