#!/usr/bin/env bash
# Starts motcua on this machine: PostgreSQL and NATS (installed and started if needed), then all
# services in one process in the background, with the sample catalog loaded. Prints the addresses
# and a development token. Run it again to see them again; deploy/down.sh stops motcua.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/deps.sh

if ! command -v cargo >/dev/null; then
  echo "error: cargo is missing; install the Rust toolchain (rustup) first" >&2; exit 1
fi
echo "• building motcua"
cargo build --quiet --bin motcua
bin=target/debug/motcua

export MOTCUA_CATALOG_FILE="${MOTCUA_CATALOG_FILE:-deploy/catalog/tnmt.toml}"
export MOTCUA_ATTACHMENTS_DIR="${MOTCUA_ATTACHMENTS_DIR:-.local/attachments}"
pidfile=.local/motcua.pid
log=.local/motcua.log
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "• motcua is already running (pid $(cat "$pidfile"))"
else
  echo "• starting motcua serve --target all (log: $log)"
  nohup "$bin" serve --target all >"$log.out" 2>"$log" &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    grep -q 'serving=true' "$log" 2>/dev/null && break
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "error: motcua stopped; see $log" >&2; tail -n 20 "$log" >&2; exit 1; fi
    sleep 0.5
  done
  grep -q 'serving=true' "$log" || { echo "error: motcua did not become ready; see $log" >&2; exit 1; }
fi
echo
cat "$log.out"
echo
echo "Development token (roles desk and admin, agency 000.00.06.H56); send it as: authorization: Bearer <token>"
"$bin" token --role desk --role admin --agency 000.00.06.H56
