#!/usr/bin/env bash
# Stops the motcua started by deploy/up.sh (PostgreSQL and NATS keep running).
set -euo pipefail
cd "$(dirname "$0")/.."
pidfile=.local/motcua.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  kill -TERM "$(cat "$pidfile")"
  for _ in $(seq 1 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
  echo "• motcua stopped"
else
  echo "• motcua is not running"
fi
rm -f "$pidfile"
