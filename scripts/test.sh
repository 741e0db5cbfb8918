#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (PostgreSQL,
# a Python virtual environment with simple-salesforce), starts PostgreSQL, builds, runs
# clippy and the document-reference check, then runs the Rust tests of every crate and the
# Python client test against the emulated org.
#
# The PostgreSQL and browser tests are #[ignore]d so a plain `cargo test` without a server reports them
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
# A second cluster speaking TLS, for the store's sslmode tests.
pg_tls_env="$(TRAILSPARK_PG_TLS=1 scripts/start-postgres.sh)"
eval "$pg_tls_env"
: "${TRAILSPARK_TEST_POSTGRES_TLS_URL:?start-postgres.sh did not set it}"
export TRAILSPARK_TEST_POSTGRES_TLS_URL TRAILSPARK_TEST_POSTGRES_TLS_CA

# The browser tests: Chromium, chromedriver and axe-core, installed when missing (apt-get
# update only then). Under CI a missing tool fails the run instead of skipping the tests.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
  fi
fi
axe_dir=target/npm
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$axe_dir"
  npm install --no-save --prefix "$axe_dir" axe-core@4.14.1
fi
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 \
  && [ -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  CHROMIUM="$(command -v chromium)"
  CHROMEDRIVER="$(command -v chromedriver)"
  AXE="$PWD/$axe_dir/node_modules/axe-core/axe.min.js"
  export CHROMIUM CHROMEDRIVER AXE
elif [ "${CI:-}" = "true" ]; then
  echo "the browser tests need chromium, chromedriver and axe-core, and they could not be installed" >&2
  exit 1
fi

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
