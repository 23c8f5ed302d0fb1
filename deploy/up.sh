#!/usr/bin/env bash
# Starts motcua on this machine: PostgreSQL and NATS (installed and started if needed), then all
# services in one process in the background, with the sample catalog loaded. Prints the addresses
# and a development token. Run it again to see them again; deploy/down.sh stops motcua.
#
# MOTCUA_STATE_DIR (default .local) holds the pid file and the logs; the log of an earlier run is
# kept as motcua.log.1 (a crash's last words are never overwritten).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/deps.sh

if ! command -v cargo >/dev/null; then
  echo "error: cargo is missing; install the Rust toolchain (rustup) first" >&2; exit 1
fi
echo "• building motcua"
cargo build --quiet --bin motcua
bin=$PWD/target/debug/motcua

# A developer's machine: tokens are checked with the public development key (no identity
# provider here). Without this, or a key setting, every service refuses to start (fail closed).
export MOTCUA_DEVELOPMENT="${MOTCUA_DEVELOPMENT:-true}"
export MOTCUA_CATALOG_FILE="${MOTCUA_CATALOG_FILE:-deploy/catalog/tnmt.toml}"
export MOTCUA_ATTACHMENTS_DIR="${MOTCUA_ATTACHMENTS_DIR:-.local/attachments}"
state=${MOTCUA_STATE_DIR:-.local}
mkdir -p "$state"
pidfile=$state/motcua.pid
log=$state/motcua.log

# The pid file is only a hint: the process must be alive, be motcua, and be ready.
running() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'motcua serve' || return 1
}

if running; then
  echo "• motcua is already running (pid $(cat "$pidfile"))"
else
  if [ -f "$pidfile" ]; then
    echo "• the pid file names no running motcua (it stopped or crashed; see $log.1)"
    rm -f "$pidfile"
  fi
  [ -s "$log" ] && mv -f "$log" "$log.1"
  [ -s "$log.out" ] && mv -f "$log.out" "$log.out.1"
  echo "• starting motcua serve --target all (log: $log)"
  # Receipts carry a QR link to the lookup page; on this machine that is lookup's own port.
  export MOTCUA_LOOKUP_PUBLIC_URL="${MOTCUA_LOOKUP_PUBLIC_URL:-http://127.0.0.1:8084}"
  # Notification records SMS and e-mails with the log provider here; a gateway (or curl) may post
  # inbound SMS to its HTTP port with this secret.
  export MOTCUA_SMS_INBOUND_SECRET="${MOTCUA_SMS_INBOUND_SECRET:-dev-gateway-secret}"
  # Webhook receivers on this machine are allowed here (a deployment refuses internal targets).
  export MOTCUA_WEBHOOK_ALLOWED_TARGETS="${MOTCUA_WEBHOOK_ALLOWED_TARGETS:-127.0.0.1,::1,localhost}"
  nohup "$bin" serve --target all >"$log.out" 2>"$log" &
  echo $! >"$pidfile"
  for _ in $(seq 1 120); do
    grep -q 'serving=true' "$log" 2>/dev/null && break
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "error: motcua stopped; see $log" >&2; tail -n 20 "$log" >&2; rm -f "$pidfile"; exit 1; fi
    sleep 0.5
  done
  grep -q 'serving=true' "$log" || { echo "error: motcua did not become ready; see $log" >&2; exit 1; }
fi
echo
cat "$log.out"
echo
echo "Citizens look dossiers up (and find procedures) on lookup's page: the \"lookup http://…\" line above."
echo "Leaders' dashboard: http://localhost:8085/ (sign in with the token below; Biểu 06, charts, downloads)."
echo "SMS and e-mails go to the log ($log) with the log provider. An SMS lookup, as a gateway sends it:"
echo "  curl -H 'x-gateway-secret: dev-gateway-secret' -H 'content-type: application/json' \\"
echo "    -d '{\"from\": \"0912345678\", \"text\": \"HS <mã hồ sơ> <mã tra cứu>\", \"message_id\": \"1\"}' http://127.0.0.1:8083/sms/inbound"
echo
echo "Development token (roles desk and admin, agency 000.00.06.H56); send it as: authorization: Bearer <token>"
"$bin" token --role desk --role admin --agency 000.00.06.H56 --department bo-phan-mot-cua
echo
echo "Officers of other steps: motcua token --role specialist --agency 000.00.06.H56 --department van-phong-dang-ky-dat-dai"
echo "                         motcua token --role leader --agency 000.00.06.H56 --department ban-giam-doc"
