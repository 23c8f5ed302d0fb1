#!/usr/bin/env bash
# The whole test suite, as CI runs it: PostgreSQL and NATS made ready, then every test of the
# workspace (unit, property, gRPC, PostgreSQL, NATS, browser, CLI) in parallel. Tests create their own
# databases and stream prefixes, so they run side by side and against a running motcua.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/deps.sh --browser
export PATH="$PATH:/usr/sbin"
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
# Pages the browser tests saved, for a person to look at.
if [ -d .local/screenshots ]; then
  echo "• screenshots: $(ls .local/screenshots/*.png 2>/dev/null | tr '\n' ' ')"
fi
