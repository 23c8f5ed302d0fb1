#!/usr/bin/env bash
# Renders every kustomize overlay and validates each resource against the Kubernetes API schemas
# (kubernetes-validate from PyPI, which ships the schemas). No cluster is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.local/k8s-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi
# A kubectl whose kustomize renders the overlays: the machine's, or the one deps.sh installs.
deploy/deps.sh --k8s-tools
export PATH="$PWD/.local/bin:$PATH"
out=.local/k8s-rendered
rm -rf "$out" && mkdir -p "$out"
for overlay in k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$out/$name.yaml"
  "$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.32 "$out/$name.yaml" >"$out/$name.log" 2>&1 || { cat "$out/$name.log"; exit 1; }
  echo "• k8s/overlays/$name: $(grep -c '^kind:' "$out/$name.yaml") resources valid for Kubernetes 1.32"
done
# The PostgreSQL and NATS manifests the operator applies beside the overlays, and the example
# Secrets and ConfigMap an operator fills in: valid as they are shipped.
for example in k8s/postgres/*.yaml k8s/nats/certificate.yaml k8s/nats/network-policy.yaml k8s/observability/alerts.yaml k8s/observability/pod-monitor.yaml k8s/examples/*.yaml; do
  "$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.32 "$example" >"$out/$(basename "$example").log" 2>&1 || { cat "$out/$(basename "$example").log"; exit 1; }
  echo "• $example: $(grep -c '^kind:' "$example") resources valid for Kubernetes 1.32"
done
# Properties of the rendered objects (deploy/k8s-check/properties.py says which), then the custom
# resources (KEDA, CloudNativePG) against their published CRD schemas.
"$venv/bin/python" deploy/k8s-check/properties.py "$out/all.json" "$out"/*.yaml -- \
  k8s/examples/*.yaml k8s/postgres/*.yaml k8s/nats/certificate.yaml k8s/nats/network-policy.yaml \
  k8s/observability/alerts.yaml k8s/observability/pod-monitor.yaml \
  --nats-values k8s/nats/values.yaml --dockerfile deploy/Dockerfile \
  --observability k8s/observability/alerts.yaml k8s/observability/dashboard.json
node_dir=.local/k8s-node
if ! cmp -s deploy/k8s-check/package-lock.json "$node_dir/package-lock.json"; then
  command -v npm >/dev/null || deploy/deps.sh --k8s-tools
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  cp deploy/k8s-check/package.json deploy/k8s-check/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --silent --no-audit --no-fund)
fi
cp deploy/k8s-check/crds.mjs "$node_dir/"
node "$node_dir/crds.mjs" <"$out/all.json"
