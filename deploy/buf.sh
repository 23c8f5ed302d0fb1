#!/usr/bin/env bash
# buf lint, and the breaking-change check of the contracts against the recorded image of what has
# been released (proto/released/image.json). buf comes from npm, pinned in proto/package.json.
#
# The image holds the packages whose service has landed (RELEASED below); a package joins it when
# its service lands, and from then on it only grows compatibly. Packages still in draft are not in
# the image, so they may be reshaped. Update the image on purpose, in the commit that releases:
#   deploy/buf.sh --record
set -euo pipefail
cd "$(dirname "$0")/../proto"
RELEASED=(motcua/common/v1 motcua/events/v1 motcua/intake/v1 motcua/workflow/v1 motcua/lookup/v1 motcua/notification/v1 motcua/reporting/v1)
if [ ! -x node_modules/.bin/buf ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
buf=node_modules/.bin/buf
$buf lint
paths=()
for p in "${RELEASED[@]}"; do paths+=(--path "$p"); done
if [ "${1:-}" = "--record" ]; then
  $buf build "${paths[@]}" --exclude-source-info -o released/image.json
  echo "• recorded the released contracts (${RELEASED[*]}) in proto/released/image.json"
  exit 0
fi
$buf breaking --against released/image.json
echo "• buf lint passed; no breaking change against the released contracts (${RELEASED[*]})"
