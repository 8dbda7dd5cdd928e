#!/usr/bin/env python3
"""Checks the chart's rendered manifests for one value combination (standard library only).

Usage: assert_rendered.py CASE RELEASE NAMESPACE < objects.json

The input is the rendered chart as a stream of JSON objects (`kubectl label --local -o json`
prints one per manifest). CASE names the value combination from tests/chart.sh; the checks
common to every case run first, then the ones for that case. Every failed check is printed,
and the exit status is 1 if there was one.
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile

CASES = {
    "default",
    "cert-manager",
    "cert-manager-issuer",
    "user-secret",
    "user-secret-b64",
    "secret-namespaces",
    "observability",
    "strict",
    "external-url",
}

METRICS = [
    "refguard_reviews_total",
    "refguard_findings_total",
    "refguard_review_duration_seconds",
    "refguard_cache_objects",
    "refguard_watch_errors_total",
    "refguard_watch_last_event_age_seconds",
    "refguard_cache_synced",
]

# (apiGroup, resource, operation) the webhook must be sent, and nothing else.
EXPECTED_WEBHOOK_RULES = {
    ("gateway.networking.k8s.io", "gateways", "CREATE"),
    ("gateway.networking.k8s.io", "gateways", "UPDATE"),
    ("gateway.networking.k8s.io", "listenersets", "CREATE"),
    ("gateway.networking.k8s.io", "listenersets", "UPDATE"),
    ("gateway.networking.x-k8s.io", "xlistenersets", "CREATE"),
    ("gateway.networking.x-k8s.io", "xlistenersets", "UPDATE"),
    ("gateway.networking.k8s.io", "referencegrants", "CREATE"),
    ("gateway.networking.k8s.io", "referencegrants", "UPDATE"),
    ("gateway.networking.k8s.io", "referencegrants", "DELETE"),
    ("", "secrets", "DELETE"),
    ("", "configmaps", "DELETE"),
}

# (apiGroup, resource) the cache lists and watches, apart from Secrets.
CACHE_RESOURCES = {
    ("gateway.networking.k8s.io", "gateways"),
    ("gateway.networking.k8s.io", "listenersets"),
    ("gateway.networking.k8s.io", "referencegrants"),
    ("gateway.networking.x-k8s.io", "xlistenersets"),
    ("", "configmaps"),
}


class Checker:
    def __init__(self, case, release, namespace, objects):
        self.case = case
        self.release = release
        self.namespace = namespace
        self.objects = objects
        self.failures = []
        self.checks = 0

    def check(self, condition, message):
        self.checks += 1
        if not condition:
            self.failures.append(message)
        return condition

    def all_of(self, kind):
        return [o for o in self.objects if o.get("kind") == kind]

    def one(self, kind, name=None):
        found = [o for o in self.all_of(kind) if name is None or o["metadata"]["name"] == name]
        self.check(len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}")
        return found[0] if found else {}

    @property
    def fullname(self):
        return f"{self.release}-refguard"


def args_of(container):
    return dict(
        (a.split("=", 1) + [""])[:2] for a in container.get("args", []) if a.startswith("--")
    )


def check_common(c):
    for kind in ["Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                 "ValidatingWebhookConfiguration"]:
        c.check(len(c.all_of(kind)) >= 1, f"no {kind} rendered")

    for o in c.objects:
        meta = o.get("metadata", {})
        c.check(meta.get("labels", {}).get("app.kubernetes.io/instance") == c.release,
                f"{o.get('kind')} {meta.get('name')} lacks the instance label")

    deployment = c.one("Deployment", c.fullname)
    pod = deployment.get("spec", {}).get("template", {})
    pod_spec = pod.get("spec", {})
    pod_labels = pod.get("metadata", {}).get("labels", {})
    container = (pod_spec.get("containers") or [{}])[0]
    args = args_of(container)

    # Security context of pod and container.
    psc = pod_spec.get("securityContext", {})
    c.check(psc.get("runAsNonRoot") is True, "pod runAsNonRoot is not true")
    c.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp is not RuntimeDefault")
    sc = container.get("securityContext", {})
    c.check(sc.get("readOnlyRootFilesystem") is True, "container root filesystem is writable")
    c.check(sc.get("allowPrivilegeEscalation") is False, "privilege escalation is allowed")
    c.check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities are not all dropped")

    # Probes on the admin port.
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    c.check(set(ports) == {"https", "admin"}, f"container ports are {sorted(ports)}")
    live = container.get("livenessProbe", {}).get("httpGet", {})
    ready = container.get("readinessProbe", {}).get("httpGet", {})
    c.check((live.get("path"), live.get("port")) == ("/healthz", "admin"), f"liveness probe is {live}")
    c.check((ready.get("path"), ready.get("port")) == ("/readyz", "admin"), f"readiness probe is {ready}")

    # Arguments match the ports and the mounted files.
    c.check(container.get("args", [None])[0] == "serve", "first argument is not `serve`")
    c.check(args.get("--listen") == f"0.0.0.0:{ports.get('https')}", "--listen does not match the https port")
    c.check(args.get("--admin-listen") == f"0.0.0.0:{ports.get('admin')}", "--admin-listen does not match the admin port")
    c.check(args.get("--tls-cert-file") == "/etc/refguard/tls/tls.crt", "--tls-cert-file is not the mounted file")
    c.check(args.get("--tls-key-file") == "/etc/refguard/tls/tls.key", "--tls-key-file is not the mounted file")
    c.check(args.get("--config") == "/etc/refguard/config/config.yaml", "--config is not the mounted file")

    # Whole-volume mounts only, so Secret and ConfigMap updates reach the files.
    mounts = container.get("volumeMounts", [])
    c.check(all("subPath" not in m and "subPathExpr" not in m for m in mounts), "a volume is mounted with subPath")
    mount_paths = {m["name"]: m["mountPath"] for m in mounts}
    c.check(mount_paths.get("tls") == "/etc/refguard/tls", "tls volume not at /etc/refguard/tls")
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    tls_secret = volumes.get("tls", {}).get("secret", {}).get("secretName")
    config_map = volumes.get("config", {}).get("configMap", {}).get("name")
    c.check(tls_secret, "no Secret volume for the serving certificate")
    config = c.one("ConfigMap", config_map)
    c.check("config.yaml" in config.get("data", {}), "config ConfigMap has no config.yaml")

    # Spread over nodes by default.
    spread = pod_spec.get("topologySpreadConstraints", [])
    c.check(any(s.get("topologyKey") == "kubernetes.io/hostname" and s.get("labelSelector", {}).get("matchLabels", {}).items() <= pod_labels.items()
                for s in spread), "no topology spread over kubernetes.io/hostname selecting the pods")
    c.check(deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), "Deployment selector does not match its pods")

    # Service: port 443 to the https container port, selecting the pods.
    service = c.one("Service", c.fullname)
    sports = {p["name"]: p for p in service.get("spec", {}).get("ports", [])}
    c.check(sports.get("https", {}).get("targetPort") == "https", "Service https port does not target the https container port")
    c.check(service.get("spec", {}).get("selector", {}).items() <= pod_labels.items(), "Service selector does not match the pods")

    # Shutdown: grace period covers the delay and the longest review.
    vwc = c.one("ValidatingWebhookConfiguration", c.fullname)
    webhooks = vwc.get("webhooks", [])
    timeout = webhooks[0].get("timeoutSeconds", 10) if webhooks else 10
    c.check(int(args.get("--shutdown-delay-secs", "-1")) >= 0, "no --shutdown-delay-secs")
    drain = -(-int(args.get("--review-timeout-ms", "0")) // 1000) + 2
    c.check(pod_spec.get("terminationGracePeriodSeconds", 30) > int(args.get("--shutdown-delay-secs", "0")) + drain,
            "terminationGracePeriodSeconds does not cover shutdown delay + review deadline + 2 s")
    c.check(0 < int(args.get("--review-timeout-ms", "0")) < timeout * 1000, "--review-timeout-ms is not below the webhook timeout")

    # Webhooks: contract fields, exclusions, client config, exactly the expected rules.
    c.check([w.get("name") for w in webhooks] == ["gateways.refguard.io", "referencegrants.refguard.io",
                                                   "secrets.refguard.io", "configmaps.refguard.io"],
            f"webhook names are {[w.get('name') for w in webhooks]}")
    rules = set()
    for w in webhooks:
        name = w.get("name")
        c.check(w.get("sideEffects") == "None", f"{name}: sideEffects is not None")
        c.check(w.get("admissionReviewVersions") == ["v1"], f"{name}: admissionReviewVersions is not [v1]")
        c.check(w.get("timeoutSeconds") == timeout, f"{name}: timeoutSeconds differs between webhooks")
        client = w.get("clientConfig", {})
        if c.case == "external-url":
            c.check(client.get("url") == "https://127.0.0.1:8443/validate" and "service" not in client,
                    f"{name}: clientConfig is {client}")
        else:
            c.check(client.get("service") == {"name": c.fullname, "namespace": c.namespace, "path": "/validate",
                                              "port": sports.get("https", {}).get("port")},
                    f"{name}: clientConfig.service is {client.get('service')}")
        exprs = w.get("namespaceSelector", {}).get("matchExpressions", [])
        excluded = [e for e in exprs if e.get("key") == "kubernetes.io/metadata.name" and e.get("operator") == "NotIn"]
        c.check(excluded and {"kube-system", c.namespace} <= set(excluded[0].get("values", [])),
                f"{name}: kube-system and {c.namespace} are not excluded by kubernetes.io/metadata.name")
        for condition in w.get("matchConditions", []):
            expr = condition.get("expression", "")
            # Every field read is guarded: a has() for it, or a null check for object/oldObject.
            for root in ("object", "oldObject"):
                if re.search(rf"\b{root}\.", expr):
                    c.check(f"{root} == null" in expr or f"{root} != null" in expr,
                            f"{name}/{condition.get('name')}: reads {root} without a null check")
        for rule in w.get("rules", []):
            c.check(rule.get("apiVersions") in (["*"], ["v1"]), f"{name}: apiVersions {rule.get('apiVersions')}")
            c.check(rule.get("scope") == "Namespaced", f"{name}: scope is not Namespaced")
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for op in rule.get("operations", []):
                        rules.add((group, resource, op))
    c.check(rules == EXPECTED_WEBHOOK_RULES,
            f"webhook rules differ: missing {sorted(EXPECTED_WEBHOOK_RULES - rules)}, extra {sorted(rules - EXPECTED_WEBHOOK_RULES)}")
    by_name = {w.get("name"): w for w in webhooks}
    gw_conditions = {m["name"]: m["expression"] for m in by_name.get("gateways.refguard.io", {}).get("matchConditions", [])}
    c.check("has-tls" in gw_conditions, "gateways webhook has no has-tls condition")
    for field in ("has(object.spec.tls)", "has(object.spec.backendTLS)", "has(l.tls)"):
        c.check(field in gw_conditions.get("has-tls", ""), f"has-tls does not test {field}")
    cm_conditions = by_name.get("configmaps.refguard.io", {}).get("matchConditions", [])
    c.check(any("'ca.crt' in oldObject.data" in m["expression"] for m in cm_conditions), "configmaps webhook does not test ca.crt")

    # RBAC: list and watch only; the cache's resources, and Secrets as configured.
    role = c.one("ClusterRole", c.fullname)
    granted = set()
    for rule in role.get("rules", []):
        c.check(sorted(rule.get("verbs", [])) == ["list", "watch"], f"ClusterRole grants {rule.get('verbs')}")
        c.check("resourceNames" not in rule and "nonResourceURLs" not in rule, "ClusterRole rule with names or URLs")
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                granted.add((group, resource))
    secrets_in_cluster_role = ("", "secrets") in granted
    c.check(granted - {("", "secrets")} == CACHE_RESOURCES,
            f"ClusterRole resources differ: missing {sorted(CACHE_RESOURCES - granted)}, extra {sorted(granted - CACHE_RESOURCES - {('', 'secrets')})}")
    binding = c.one("ClusterRoleBinding", c.fullname)
    sa = pod_spec.get("serviceAccountName")
    c.check(binding.get("subjects") == [{"kind": "ServiceAccount", "name": sa, "namespace": c.namespace}],
            "ClusterRoleBinding does not bind the pods' ServiceAccount")
    c.check(binding.get("roleRef", {}).get("name") == c.fullname, "ClusterRoleBinding refers to another role")

    return {"deployment": deployment, "args": args, "vwc": vwc, "webhooks": webhooks, "tls_secret": tls_secret,
            "config": config, "secrets_in_cluster_role": secrets_in_cluster_role, "pod_labels": pod_labels,
            "sa": sa, "timeout": timeout}


def verify_with_openssl(c, ca_pem, cert_pem, dns_name):
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert = os.path.join(tmp, "ca.crt"), os.path.join(tmp, "tls.crt")
        open(ca, "wb").write(ca_pem)
        open(cert, "wb").write(cert_pem)
        verify = subprocess.run(["openssl", "verify", "-CAfile", ca, cert], capture_output=True, text=True)
        c.check(verify.returncode == 0, f"serving certificate does not verify against the caBundle: {verify.stderr.strip()}")
        # -checkhost exits 0 either way; its message says whether the name matched.
        host = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-checkhost", dns_name], capture_output=True, text=True)
        c.check("does match" in host.stdout, f"serving certificate is not valid for {dns_name}: {host.stdout.strip()}")


def check_generated_certs(c, common):
    ca_bundle = [w.get("clientConfig", {}).get("caBundle") for w in common["webhooks"]]
    c.check(len(set(ca_bundle)) == 1 and ca_bundle[0], "webhooks do not share one caBundle")
    secret = c.one("Secret", common["tls_secret"])
    c.check(secret.get("type") == "kubernetes.io/tls", "serving Secret is not kubernetes.io/tls")
    data = secret.get("data", {})
    c.check(data.get("ca.crt") == ca_bundle[0], "serving Secret's ca.crt is not the caBundle")
    ca_secret = c.one("Secret", f"{c.fullname}-ca")
    c.check(ca_secret.get("data", {}).get("tls.crt") == ca_bundle[0], "CA Secret is not the caBundle")
    if data.get("tls.crt") and ca_bundle[0]:
        verify_with_openssl(c, base64.b64decode(ca_bundle[0]), base64.b64decode(data["tls.crt"]),
                            f"{c.fullname}.{c.namespace}.svc")


def check_case(c, common):
    case = c.case
    webhooks = common["webhooks"]
    args = common["args"]
    policies = {w.get("failurePolicy") for w in webhooks}
    pdbs = c.all_of("PodDisruptionBudget")
    mode_secret_count = len(c.all_of("Secret"))

    if case != "strict":
        c.check(policies == {"Ignore"}, f"failurePolicy is {policies}, expected Ignore by default")
        c.check(common["timeout"] == 5, "default timeoutSeconds is not 5")
        c.check(common["deployment"]["spec"]["replicas"] == 2, "default replicas is not 2")
        c.check(len(pdbs) == 1 and pdbs[0]["spec"].get("minAvailable") == 1, "no PodDisruptionBudget with minAvailable 1")
        if pdbs:
            c.check(pdbs[0]["spec"]["selector"]["matchLabels"].items() <= common["pod_labels"].items(), "PDB does not select the pods")
        gw = next((w for w in webhooks if w["name"] == "gateways.refguard.io"), {})
        c.check([m["name"] for m in gw.get("matchConditions", [])] == ["has-tls"], "unexpected gateway matchConditions")

    if case != "secret-namespaces":
        c.check(common["secrets_in_cluster_role"], "ClusterRole lacks Secrets with secretAccess=cluster")
        c.check("--secret-namespaces" not in args, "--secret-namespaces set with secretAccess=cluster")
        c.check(not c.all_of("Role") and not c.all_of("RoleBinding"), "namespaced Roles rendered with secretAccess=cluster")

    if case not in ("observability",):
        for kind in ("NetworkPolicy", "ServiceMonitor"):
            c.check(not c.all_of(kind), f"{kind} rendered although off by default")
        c.check(not any(o["metadata"]["name"].endswith("-dashboard") for o in c.all_of("ConfigMap")), "dashboard rendered although off")

    if case in ("default", "secret-namespaces", "observability", "strict"):
        check_generated_certs(c, common)
        c.check(not c.all_of("Certificate"), "cert-manager Certificate rendered in mode generate")

    if case == "default":
        c.check(common["tls_secret"] == f"{c.fullname}-tls", "default serving Secret name")
        c.check("cert-manager.io/inject-ca-from" not in c.one("ValidatingWebhookConfiguration").get("metadata", {}).get("annotations", {}),
                "inject-ca-from set without cert-manager")
        config = common["config"]["data"]["config.yaml"]
        c.check('implementation: "gateway-api"' in config, "default implementation is not gateway-api")

    if case in ("cert-manager", "cert-manager-issuer"):
        c.check(mode_secret_count == 0, "chart renders Secrets although cert-manager makes them")
        annotations = common["vwc"].get("metadata", {}).get("annotations", {})
        serving = c.one("Certificate", f"{c.fullname}-serving")
        c.check(annotations.get("cert-manager.io/inject-ca-from") == f"{c.namespace}/{c.fullname}-serving",
                f"inject-ca-from is {annotations.get('cert-manager.io/inject-ca-from')}")
        c.check(all("caBundle" not in w.get("clientConfig", {}) for w in webhooks), "caBundle rendered although cainjector fills it")
        spec = serving.get("spec", {})
        c.check(spec.get("secretName") == common["tls_secret"], "Certificate secretName is not the mounted Secret")
        c.check(f"{c.fullname}.{c.namespace}.svc" in spec.get("dnsNames", []), "Certificate lacks the Service DNS name")
        c.check(spec.get("privateKey", {}).get("rotationPolicy") == "Always", "Certificate does not rotate its key")
        if case == "cert-manager":
            issuers = {o["metadata"]["name"]: o for o in c.all_of("Issuer")}
            c.check(set(issuers) == {f"{c.fullname}-selfsigned", f"{c.fullname}-ca"}, f"issuers are {sorted(issuers)}")
            ca = c.one("Certificate", f"{c.fullname}-ca")
            c.check(ca.get("spec", {}).get("isCA") is True, "CA Certificate is not a CA")
            c.check(issuers.get(f"{c.fullname}-ca", {}).get("spec", {}).get("ca", {}).get("secretName") == ca.get("spec", {}).get("secretName"),
                    "CA Issuer does not use the CA Certificate's Secret")
            c.check(spec.get("issuerRef", {}).get("name") == f"{c.fullname}-ca", "serving Certificate not issued by the CA Issuer")
        else:
            c.check(not c.all_of("Issuer"), "chart creates issuers although issuerRef is given")
            c.check(spec.get("issuerRef") == {"kind": "ClusterIssuer", "name": "internal-ca"}, f"issuerRef is {spec.get('issuerRef')}")

    if case in ("user-secret", "user-secret-b64", "external-url"):
        c.check(mode_secret_count == 0 and not c.all_of("Certificate"), "chart renders certificates in mode secret")
        c.check(common["tls_secret"] == "my-webhook-tls", "Deployment does not mount the given Secret")
        expected = os.environ["EXPECTED_CA_BUNDLE"]
        c.check(all(w.get("clientConfig", {}).get("caBundle") == expected for w in webhooks), "caBundle is not the given CA")

    if case == "secret-namespaces":
        c.check(not common["secrets_in_cluster_role"], "ClusterRole grants Secrets with secretAccess=namespaces")
        c.check(args.get("--secret-namespaces") == "gateway-certs,istio-ingress", f"--secret-namespaces is {args.get('--secret-namespaces')}")
        roles = {o["metadata"]["namespace"]: o for o in c.all_of("Role")}
        bindings = {o["metadata"]["namespace"]: o for o in c.all_of("RoleBinding")}
        c.check(set(roles) == {"gateway-certs", "istio-ingress"}, f"Roles in {sorted(roles)}")
        c.check(set(bindings) == set(roles), "RoleBindings do not match Roles")
        for ns, role in roles.items():
            c.check(role.get("rules") == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}],
                    f"Role in {ns} grants {role.get('rules')}")
            binding = bindings.get(ns, {})
            c.check(binding.get("subjects") == [{"kind": "ServiceAccount", "name": common["sa"], "namespace": c.namespace}],
                    f"RoleBinding in {ns} does not bind the ServiceAccount")
            c.check(binding.get("roleRef", {}).get("name") == role["metadata"]["name"], f"RoleBinding in {ns} refers to another Role")

    if case == "observability":
        policy = c.one("NetworkPolicy", c.fullname)
        spec = policy.get("spec", {})
        c.check(spec.get("podSelector", {}).get("matchLabels", {}).items() <= common["pod_labels"].items(), "NetworkPolicy does not select the pods")
        ingress_ports = {p["port"] for rule in spec.get("ingress", []) for p in rule.get("ports", [])}
        c.check(ingress_ports == {"https", "admin"}, f"NetworkPolicy ingress ports {ingress_ports}")
        c.check(spec.get("policyTypes") == ["Ingress", "Egress"], f"policyTypes {spec.get('policyTypes')}")
        egress = spec.get("egress", [])
        c.check(egress and egress[0].get("to") == [{"ipBlock": {"cidr": "10.96.0.1/32"}}], f"egress is {egress}")
        monitor = c.one("ServiceMonitor", c.fullname)
        endpoint = (monitor.get("spec", {}).get("endpoints") or [{}])[0]
        c.check(endpoint.get("port") == "admin" and endpoint.get("path") == "/metrics", f"ServiceMonitor endpoint {endpoint}")
        c.check(monitor["metadata"]["labels"].get("release") == "prometheus", "ServiceMonitor lacks the extra label")
        dashboard = c.one("ConfigMap", f"{c.fullname}-dashboard")
        c.check(dashboard.get("metadata", {}).get("labels", {}).get("grafana_dashboard") == "1", "dashboard lacks grafana_dashboard: \"1\"")
        c.check(dashboard.get("metadata", {}).get("namespace") == "monitoring", "dashboard not in dashboard.namespace")
        try:
            board = json.loads(dashboard.get("data", {}).get("refguard.json", ""))
        except ValueError as error:
            c.check(False, f"dashboard is not JSON: {error}")
            board = {}
        constants = {v["query"] for v in board.get("templating", {}).get("list", []) if v.get("type") == "constant"}
        c.check(constants == set(METRICS), f"dashboard metric constants are {sorted(constants)}")
        exprs = [t.get("expr", "") for p in board.get("panels", []) for t in p.get("targets", [])]
        c.check(exprs and not any(m in e for m in METRICS for e in exprs), "a panel names a metric instead of its variable")
        titles = " ".join(p.get("title", "") for p in board.get("panels", [])).lower()
        for word in ("verdict", "rule", "latency", "cache objects", "watch errors", "since last"):
            c.check(word in titles, f"dashboard has no panel about {word}")

    if case == "strict":
        c.check(policies == {"Fail"}, f"failurePolicy is {policies}")
        c.check(common["timeout"] == 10, "timeoutSeconds is not 10")
        c.check(args.get("--review-timeout-ms") == "8000", f"--review-timeout-ms is {args.get('--review-timeout-ms')}")
        c.check(common["deployment"]["spec"]["replicas"] == 1 and not pdbs, "PDB rendered for a single replica")
        gw = next((w for w in webhooks if w["name"] == "gateways.refguard.io"), {})
        c.check([m["name"] for m in gw.get("matchConditions", [])] == ["has-tls", "spec-changed"], "spec-changed condition missing")
        excluded = gw.get("namespaceSelector", {}).get("matchExpressions", [{}])[0].get("values", [])
        c.check(excluded == ["kube-system", "cert-manager", c.namespace], f"excluded namespaces {excluded}")
        secret_conditions = next((w for w in webhooks if w["name"] == "secrets.refguard.io"), {}).get("matchConditions", [])
        c.check(secret_conditions == [], "secrets condition rendered with no ignored types")
        c.check(args.get("--unsynced") == "deny" and args.get("--log-format") == "text", "server values not passed")
        config = common["config"]["data"]["config.yaml"]
        for line in ('implementation: "istio@1.25.0"', "expiryWarningDays: 14", "cert-secret-missing: deny",
                     "legacy:", "implementation: istio@1.24.0", 'cert-expiring: "off"'):
            c.check(line in config, f"config.yaml lacks {line!r}:\n{config}")
        c.check(common["deployment"]["spec"]["template"]["spec"].get("priorityClassName") == "system-cluster-critical", "priorityClassName not set")


def main():
    case, release, namespace = sys.argv[1:4]
    if case not in CASES:
        sys.exit(f"unknown case {case}")
    text = sys.stdin.read()
    decoder = json.JSONDecoder()
    objects, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        objects.extend(obj.get("items", [obj]) if obj.get("kind") == "List" else [obj])
    c = Checker(case, release, namespace, objects)
    check_case(c, check_common(c))
    for failure in c.failures:
        print(f"  FAIL [{case}] {failure}")
    print(f"  {case}: {len(objects)} objects, {c.checks} checks, {len(c.failures)} failed")
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
