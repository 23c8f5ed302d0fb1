#!/usr/bin/env bash
# buf lint and the breaking-change check of the contracts against main (buf from npm, pinned in
# proto/package.json).
set -euo pipefail
cd "$(dirname "$0")/../proto"
if [ ! -x node_modules/.bin/buf ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/buf lint
if git rev-parse --verify -q main >/dev/null; then
  node_modules/.bin/buf breaking --against "../.git#branch=main,subdir=proto"
else
  echo "• no local main branch: breaking-change check skipped"
fi
echo "• buf lint and breaking-change check passed"
