#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) answer on 127.0.0.1:5432 and :4222: installs them
# from Debian's packages when missing and starts them when stopped. Safe to run again and again.
# With --browser, also Debian's chromium and chromium-driver, for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local

say() { printf '• %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  say "installing $* from Debian's packages"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  echo "error: nothing answers on 127.0.0.1:$1 ($2)" >&2; return 1
}
export PATH="$PATH:/usr/sbin:/usr/lib/postgresql/15/bin"

# --- PostgreSQL ---------------------------------------------------------------------------
if ! command -v pg_ctlcluster >/dev/null || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  apt_install postgresql postgresql-client
fi
if ! port_open 5432; then
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL
fi
# motcua connects as postgres over 127.0.0.1 without a password (MOTCUA_DATABASE_URL overrides).
# A fresh Debian cluster asks for one, so trust loopback connections on a development machine.
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  say "allowing passwordless loopback connections in $hba (development only)"
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
fi
psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null

# --- NATS with JetStream --------------------------------------------------------------------
if ! command -v nats-server >/dev/null; then
  apt_install nats-server
fi
if ! port_open 4222; then
  say "starting NATS with JetStream (store .local/nats)"
  mkdir -p .local/nats
  nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$PWD/.local/nats" >.local/nats.log 2>&1 &
  wait_port 4222 NATS
fi
say "PostgreSQL 127.0.0.1:5432 and NATS 127.0.0.1:4222 are up"

# --- Chromium and ChromeDriver (browser tests) -----------------------------------------------
if [ "${1:-}" = "--browser" ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  apt_install chromium chromium-driver
fi
