#!/usr/bin/env bash
# The whole test suite, as CI runs it: PostgreSQL and NATS made ready, then every test of the
# workspace (unit, property, gRPC, PostgreSQL, NATS, browser, CLI) in parallel. Tests create their own
# databases and stream prefixes, so they run side by side and against a running motcua; each test
# removes them however it ends (motcua_testkit::scratch), and the run fails if it left any behind.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/deps.sh --browser --s3
export PATH="$PATH:/usr/sbin"
mkdir -p .local
# What ended runs left (a test process killed outright) is removed; what running tests use is not.
cargo build -q -p motcua-testkit --bin motcua-test-leftovers
leftovers=target/debug/motcua-test-leftovers
"$leftovers" sweep
"$leftovers" snapshot .local/test-leftovers.before
status=0
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi
# Databases and streams of tests that this run left behind fail it, named.
"$leftovers" check .local/test-leftovers.before || status=1
# Pages the browser tests saved, for a person to look at.
if [ -d .local/screenshots ]; then
  echo "• screenshots: $(ls .local/screenshots/*.png 2>/dev/null | tr '\n' ' ')"
fi
exit "$status"
