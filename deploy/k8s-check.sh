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
if ! command -v kubectl >/dev/null; then
  echo "error: kubectl is needed to render the overlays (apt-get install kubernetes-client)" >&2; exit 1
fi
out=.local/k8s-rendered
rm -rf "$out" && mkdir -p "$out"
for overlay in k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$out/$name.yaml"
  "$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.32 "$out/$name.yaml" >"$out/$name.log" 2>&1 || { cat "$out/$name.log"; exit 1; }
  echo "• k8s/overlays/$name: $(grep -c '^kind:' "$out/$name.yaml") resources valid for Kubernetes 1.32"
done
# The example Secrets and ConfigMap an operator fills in: valid as they are shipped.
for example in k8s/examples/*.yaml; do
  "$venv/bin/kubernetes-validate" --strict --kubernetes-version 1.32 "$example" >"$out/$(basename "$example").log" 2>&1 || { cat "$out/$(basename "$example").log"; exit 1; }
  echo "• $example: $(grep -c '^kind:' "$example") resources valid for Kubernetes 1.32"
done
