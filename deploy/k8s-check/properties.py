"""Checks the rendered manifests for the properties an operator relies on (deploy/k8s-check.sh).

Usage: properties.py OUT.json RENDERED.yaml... -- MANIFEST.yaml... --nats-values VALUES.yaml
       --dockerfile Dockerfile --observability ALERTS.yaml DASHBOARD.json

Every pod that runs for long has requests, a memory limit, probes and a non-root, read-only,
unprivileged security context; every autoscaler (HPA or KEDA ScaledObject) targets a Deployment
that exists, no Deployment has two, and an autoscaled Deployment leaves its replica count to it;
every Service and PodDisruptionBudget selects pods that exist; every overlay
denies by default, in both directions, for every pod of every overlay; no overlay carries a Secret, and the
shipped examples hold placeholders only. Beside the overlays, the PostgreSQL cluster has a role and
a database for each service, matching the services' database URLs, and the NATS values make the
three-node JetStream cluster with TLS and one NKey user that the production overlay's stream
replicas need. Writes every object to OUT.json for the CRD check.
"""

import json
import os
import re
import sys

import yaml

failures = []


def fail(where, what):
    failures.append(f"✗ {where}: {what}")


def selects(selector, labels):
    """Whether a label selector (matchLabels and matchExpressions) selects these labels."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_template(obj):
    kind = obj["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return obj["spec"]["template"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return None


def check_pods(where, obj):
    template = pod_template(obj)
    if template is None:
        return
    long_running = obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    spec = template["spec"]
    pod_ctx = spec.get("securityContext") or {}
    for c in spec.get("initContainers", []) + spec["containers"]:
        at = f"{where} container {c['name']}"
        resources = c.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if "cpu" not in requests or "memory" not in requests:
            fail(at, "requests cpu and memory")
        if "memory" not in limits:
            fail(at, "has no memory limit")
        ctx = c.get("securityContext") or {}
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            fail(at, "may run as root (runAsNonRoot)")
        if ctx.get("readOnlyRootFilesystem") is not True:
            fail(at, "root filesystem is writable (readOnlyRootFilesystem)")
        if ctx.get("allowPrivilegeEscalation") is not False:
            fail(at, "may escalate privileges (allowPrivilegeEscalation)")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            fail(at, "keeps Linux capabilities (drop ALL)")
        if long_running and c in spec["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    fail(at, f"has no {probe}")


UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def quantity(text):
    for suffix, factor in UNITS.items():
        if str(text).endswith(suffix):
            return int(str(text)[: -len(suffix)]) * factor
    return int(text)


def check_memory(where, obj, config):
    """Three times the request memory under the memory limit (README "Configuration"), and the
    request memory at least the largest message (else the service refuses to start)."""
    template = pod_template(obj)
    if template is None or obj["kind"] == "Job":
        return
    for c in template["spec"]["containers"]:
        env = {e["name"]: e.get("value") for e in c.get("env") or [] if "value" in e}
        setting = lambda name, default: int(env.get(name) or config.get(name) or default)
        request = setting("MOTCUA_REQUEST_MEMORY_BYTES", 128 << 20)
        message = setting("MOTCUA_MAX_MESSAGE_BYTES", 16 << 20)
        limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
        if limit and 3 * request >= quantity(limit):
            fail(f"{where} container {c['name']}", f"3 × MOTCUA_REQUEST_MEMORY_BYTES ({request}) is not under its memory limit ({limit})")
        if message > request:
            fail(f"{where} container {c['name']}", f"MOTCUA_MAX_MESSAGE_BYTES ({message}) exceeds MOTCUA_REQUEST_MEMORY_BYTES ({request}): it would not start")


def check_overlay(name, objects):
    where = lambda o: f"{name}: {o['kind']}/{o['metadata']['name']}"
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    pods = [
        (o["metadata"]["name"], pod_template(o)["metadata"].get("labels") or {})
        for o in objects
        if pod_template(o) is not None
    ]
    config = next(
        (o.get("data") or {} for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("motcua-config")),
        {},
    )
    for o in objects:
        check_pods(where(o), o)
        check_memory(where(o), o, config)
        if o["kind"] == "Secret":
            fail(where(o), "a Secret in an overlay: Secrets come from the operator (k8s/examples)")

    # Autoscalers: one per Deployment, on one that exists, which leaves replicas to it.
    scaled = {}
    for o in objects:
        if o["kind"] == "HorizontalPodAutoscaler":
            ref = o["spec"]["scaleTargetRef"]
        elif o["kind"] == "ScaledObject":
            ref = {"kind": "Deployment", **o["spec"]["scaleTargetRef"]}
        else:
            continue
        target = ref["name"]
        if ref.get("kind", "Deployment") != "Deployment" or target not in deployments:
            fail(where(o), f"targets {ref.get('kind')}/{target}, which this overlay does not have")
            continue
        if target in scaled:
            fail(where(o), f"Deployment/{target} already has an autoscaler ({scaled[target]})")
        scaled[target] = where(o)
        if "replicas" in deployments[target]["spec"]:
            fail(where(o), f"Deployment/{target} sets replicas, which every apply would reset")

    # Services and disruption budgets select pods that exist.
    for o in objects:
        if o["kind"] == "Service" and o["spec"].get("selector"):
            selector = {"matchLabels": o["spec"]["selector"]}
        elif o["kind"] == "PodDisruptionBudget":
            selector = o["spec"]["selector"]
        else:
            continue
        if not any(selects(selector, labels) for _, labels in pods):
            fail(where(o), "selects no pod of this overlay")

    # Network walls: deny by default, both ways, for every pod.
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    denying = [
        p
        for p in policies
        if set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not denying:
        fail(name, "no default deny of ingress and egress (a NetworkPolicy with both types and no rules)")
    for pod, labels in pods:
        if not any(selects(p["spec"]["podSelector"], labels) for p in denying):
            fail(f"{name}: pods of {pod}", "are not under the default deny")
    return len(objects)


# Keys of the examples whose values are secrets: they must be placeholders.
SECRET_KEY = re.compile(r"(secret|token|auth|keys|password|key$)", re.I)


def check_example(path, objects):
    for o in objects:
        if o["kind"] != "Secret":
            continue
        at = f"{path}: Secret/{o['metadata']['name']}"
        if o.get("data"):
            fail(at, "carries data: write placeholders in stringData")
        for key, value in (o.get("stringData") or {}).items():
            value = str(value)
            has_password = re.search(r"://[^/@\s]+:[^/@\s]+@", value)
            names_a_secret = SECRET_KEY.search(key) and not key.lower().endswith(("-id", "_id"))
            if (names_a_secret or has_password) and "CHANGE-ME" not in value:
                fail(f"{at} key {key}", "holds a value that is not a CHANGE-ME placeholder")
            if has_password and "CHANGE-ME@" not in value:
                fail(f"{at} key {key}", "a URL's password must be the CHANGE-ME placeholder")


SERVICES = ["intake", "workflow", "lookup", "notification", "reporting"]


def check_postgres(manifests):
    """The CloudNativePG cluster's roles and databases against the services' database URLs."""
    clusters = [o for o in manifests if o["kind"] == "Cluster"]
    urls = next(
        (o for o in manifests if o["kind"] == "Secret" and o["metadata"]["name"] == "motcua-database-urls"),
        None,
    )
    if not clusters or urls is None:
        fail("k8s/postgres", "a Cluster and the motcua-database-urls example are both needed")
        return
    cluster = clusters[0]
    roles = {r["name"] for r in cluster["spec"]["managed"]["roles"] if r.get("login")}
    owners = {
        o["spec"]["name"]: o["spec"]["owner"]
        for o in manifests
        if o["kind"] == "Database" and o["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    }
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    owners[initdb["database"]] = initdb["owner"]
    for service in SERVICES:
        url = (urls.get("stringData") or {}).get(service)
        if not url:
            fail("motcua-database-urls", f"has no URL for {service}")
            continue
        m = re.match(r"postgres(?:ql)?://([^:@/]+)(?::[^@]*)?@([^/:]+)(?::\d+)?/([^?]+)", url)
        if not m:
            fail(f"motcua-database-urls {service}", "is not postgres://role:password@host/database")
            continue
        role, host, database = m.groups()
        if role not in roles:
            fail(f"motcua-database-urls {service}", f"role {role} is not a login role of the cluster")
        if owners.get(database) != role:
            fail(f"motcua-database-urls {service}", f"database {database} is not owned by {role} in the cluster")
        if not host.startswith(cluster["metadata"]["name"] + "-rw."):
            fail(f"motcua-database-urls {service}", f"{host} is not the cluster's primary ({cluster['metadata']['name']}-rw)")


def check_nats_values(path, rendered):
    with open(path, encoding="utf-8") as f:
        values = yaml.safe_load(f)
    config = values.get("config") or {}
    replicas = (config.get("cluster") or {}).get("replicas", 1) if (config.get("cluster") or {}).get("enabled") else 1
    if replicas < 3:
        fail(path, "NATS is not a cluster of three or more nodes")
    if not (config.get("jetstream") or {}).get("enabled"):
        fail(path, "JetStream is not enabled")
    if not ((config.get("nats") or {}).get("tls") or {}).get("enabled"):
        fail(path, "clients do not speak TLS")
    users = (((config.get("merge") or {}).get("authorization") or {}).get("users")) or []
    if not any("nkey" in u for u in users):
        fail(path, "no NKey user for motcua")
    for name, objects in rendered.items():
        for o in objects:
            if o["kind"] == "ConfigMap" and "MOTCUA_STREAM_REPLICAS" in (o.get("data") or {}):
                wanted = int(o["data"]["MOTCUA_STREAM_REPLICAS"])
                if wanted > replicas:
                    fail(name, f"streams of {wanted} replicas on a NATS of {replicas} nodes")


def check_observability(paths, sources):
    """Every motcua metric the alerts and the dashboard read is one the code emits."""
    emitted = set()
    for root in sources:
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith(".rs"):
                    with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                        emitted |= set(re.findall(r'"(motcua_[a-z0-9_]+)"', fh.read()))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for metric in sorted(set(re.findall(r"\b(motcua_[a-z0-9_]+)", text))):
            if metric not in emitted:
                fail(path, f"reads {metric}, which no service emits")
    print(f"  {', '.join(paths)}: every metric read is one the services emit")


def check_dockerfile(path, rendered):
    """The image the manifests run: base images named with a version (never `latest` or none), a
    numeric non-root USER that the pods' runAsUser matches, and every port a container declares
    EXPOSEd."""
    with open(path, encoding="utf-8") as f:
        lines = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    for l in lines:
        if l.upper().startswith("FROM "):
            image = l.split()[1]
            if ":" not in image or image.endswith(":latest"):
                fail(path, f"{image}: name the base image's version")
    users = [l.split()[1] for l in lines if l.upper().startswith("USER ")]
    if not users or not users[-1].isdigit() or users[-1] == "0":
        fail(path, "the image must end as a numeric non-root USER")
    exposed = {int(p.split("/")[0]) for l in lines if l.upper().startswith("EXPOSE ") for p in l.split()[1:]}
    for name, objects in rendered.items():
        for o in objects:
            template = pod_template(o)
            if template is None:
                continue
            run_as = (template["spec"].get("securityContext") or {}).get("runAsUser")
            if users and run_as is not None and str(run_as) != users[-1]:
                fail(f"{name}: {o['kind']}/{o['metadata']['name']}", f"runs as {run_as}, the image as {users[-1]}")
            for c in template["spec"]["containers"]:
                for port in c.get("ports") or []:
                    if port["containerPort"] not in exposed:
                        fail(f"{name}: {o['kind']}/{o['metadata']['name']}", f"port {port['containerPort']} is not EXPOSEd by {path}")
    print(f"  {path}: versioned base images, a non-root user the pods match, every port exposed")


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def main():
    out, args = sys.argv[1], sys.argv[2:]
    observability = []
    if "--observability" in args:
        i = args.index("--observability")
        observability, args = args[i + 1 :], args[:i]
    dockerfile = None
    if "--dockerfile" in args:
        i = args.index("--dockerfile")
        dockerfile = args[i + 1]
        args = args[:i] + args[i + 2 :]
    nats_values = None
    if "--nats-values" in args:
        i = args.index("--nats-values")
        nats_values, args = args[i + 1], args[:i]
    split = args.index("--") if "--" in args else len(args)
    rendered, examples = args[:split], args[split + 1 :]
    everything, overlays, manifests = [], {}, []
    for path in rendered:
        objects = load(path)
        everything += objects
        overlays[path] = objects
        n = check_overlay(path, objects)
        print(f"  {path}: {n} objects checked for requests, limits, memory against request memory, probes, security, autoscalers, selectors, network walls, secrets")
    for path in examples:
        objects = load(path)
        everything += objects
        manifests += objects
        check_example(path, objects)
    check_postgres(manifests)
    print("  k8s/postgres: a role and a database for each service, matching the services' database URLs")
    if nats_values:
        check_nats_values(nats_values, overlays)
        print(f"  {nats_values}: a JetStream cluster with TLS and an NKey user, enough nodes for the streams' replicas")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(everything, f)
    if observability:
        check_observability(observability, ["crates", "services"])
    if dockerfile:
        check_dockerfile(dockerfile, overlays)
    for line in failures:
        print(line, file=sys.stderr)
    sys.exit(1 if failures else 0)


main()
