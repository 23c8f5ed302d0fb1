#!/usr/bin/env bash
# Stops the motcua started by deploy/up.sh (PostgreSQL and NATS keep running). It signals only a
# process that is motcua: a pid file left by a crash may name a pid the system has given to
# something else.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${MOTCUA_STATE_DIR:-.local}
pidfile=$state/motcua.pid
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
   && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'motcua serve'; then
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  echo "• motcua stopped"
else
  echo "• motcua is not running"
fi
rm -f "$pidfile"
