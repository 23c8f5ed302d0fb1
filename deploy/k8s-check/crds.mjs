// Validates the custom resources of the rendered manifests against the published CRD schemas of
// KEDA, CloudNativePG, cert-manager and the Prometheus Operator (compiled into the @kubernetes-models packages pinned in
// package.json).
// Reads a JSON array of objects on stdin; a custom resource of a kind it has no schema for fails
// the check rather than passing unseen.
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
import * as cnpg from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";
import * as certManager from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import * as prometheus from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const schemas = {
  "keda.sh/v1alpha1": keda,
  "postgresql.cnpg.io/v1": cnpg,
  "cert-manager.io/v1": certManager,
  "monitoring.coreos.com/v1": prometheus,
};

const input = await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
});
const objects = JSON.parse(input);
let failed = 0;
const counted = {};
for (const object of objects) {
  const group = schemas[object.apiVersion];
  if (!group) {
    if (object.apiVersion.includes(".") && !object.apiVersion.includes(".k8s.io/")) {
      console.error(`✗ ${object.kind}/${object.metadata?.name}: no published schema for ${object.apiVersion}`);
      failed++;
    }
    continue;
  }
  const name = `${object.kind}/${object.metadata?.name}`;
  const Model = group[object.kind];
  if (!Model) {
    console.error(`✗ ${name}: no published schema for ${object.apiVersion} ${object.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(object).validate();
    counted[object.kind] = (counted[object.kind] ?? 0) + 1;
  } catch (e) {
    console.error(`✗ ${name}: ${e.message}`);
    failed++;
  }
}
for (const [kind, n] of Object.entries(counted)) {
  console.log(`  ${n} ${kind} valid against the published CRD schema`);
}
process.exit(failed ? 1 : 0);
