#!/usr/bin/env bash
# Tests of the Helm chart in charts/refguard.
#
#   tests/chart.sh            all of it
#   tests/chart.sh static     lint, render and check the value combinations, schema negatives
#   tests/chart.sh cluster    the parts against a real kube-apiserver (hack/cluster.sh)
#
# Static: `helm lint` (also --strict), `helm template` for each combination in
# tests/chart/values/, checks of the rendered objects (tests/chart/assert_rendered.py), and
# values the schema or the templates must reject.
#
# Cluster: its own control plane (in REFGUARD_CHART_E2E_DIR, default a new directory per run),
# never the cluster of your KUBECONFIG. Every combination is applied with a server-side dry
# run; the chart is installed for real with failurePolicy Fail against a webhook that cannot
# answer, so that each write refguard is sent is rejected and each one it is not sent
# succeeds: that tests the rules, namespace exclusions and CEL matchConditions on real
# Gateway API objects. Then upgrades keep the generated CA, the ServiceAccount's real token can
# list and watch exactly what the cache needs, and `refguard serve` running with that token
# becomes ready (every watch completed its list) in both secretAccess modes.
#
# Needs: bash, openssl, python3 (standard library only), the tools from hack/tools.sh, and for
# the cluster part the refguard binary (REFGUARD_BIN, or built with cargo).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="$root/charts/refguard"
data="$root/tests/chart"
what="${1:-all}"

case "$what" in
  all | static | cluster) ;;
  *)
    echo "usage: tests/chart.sh [all|static|cluster]" >&2
    exit 2
    ;;
esac

log() { printf '%s\n' "$*" >&2; }
die() {
  log "chart.sh: $*"
  exit 1
}

failures=0
fail() {
  log "  FAIL $*"
  failures=$((failures + 1))
}
pass() { log "  ok   $*"; }

for tool in openssl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is needed and not on PATH"
done

if [[ -z "${REFGUARD_HELM:-}" || -z "${REFGUARD_KUBECTL:-}" ]]; then
  [[ -x "$root/hack/tools.sh" ]] || die "REFGUARD_HELM and REFGUARD_KUBECTL are not set and hack/tools.sh is missing"
  eval "$("$root/hack/tools.sh")"
fi
helm="$REFGUARD_HELM"
kubectl="$REFGUARD_KUBECTL"

work="$(mktemp -d "${TMPDIR:-/tmp}/refguard-chart.XXXXXX")"
cluster_started=false
serve_pid=""
cleanup() {
  local status=$?
  if [[ -n "$serve_pid" ]]; then
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  if $cluster_started; then
    REFGUARD_E2E_DIR="$e2e_dir" "$cluster_sh" down >/dev/null 2>&1 || true
  fi
  if ((status != 0 || failures > 0)); then
    log "chart.sh: rendered manifests and logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

release=rg
namespace=refguard
fullname="$release-refguard"

# Development certificates for the user-provided-Secret combinations.
"$root/certs/gen-dev-certs.sh" --service "$fullname" --namespace "$namespace" \
  --out "$work/certs" 2>/dev/null
ca_pem_file="$work/certs/ca.crt"
ca_b64="$(cat "$work/certs/ca-bundle.b64")"

# render CASE [helm args...]: the chart rendered with the case's values file.
render() {
  local case="$1"
  shift
  local extra=()
  case "$case" in
    user-secret | external-url) extra=(--set-file "certs.caBundle=$ca_pem_file") ;;
    user-secret-b64) extra=(--set "certs.caBundle=$ca_b64") ;;
  esac
  "$helm" template "$release" "$chart" -n "$namespace" -f "$data/values/$case.yaml" \
    "${extra[@]}" "$@"
}

# as_json: rendered YAML on stdin, one JSON object per manifest on stdout (offline).
as_json() {
  "$kubectl" label --local -f - -o json refguard.test/parsed=true --kubeconfig=/dev/null
}

cases=(default cert-manager cert-manager-issuer user-secret user-secret-b64 secret-namespaces
  observability strict external-url)

static_tests() {
  log "== helm lint"
  if "$helm" lint "$chart" >"$work/lint.log" 2>&1; then pass "helm lint"; else
    fail "helm lint"
    cat "$work/lint.log" >&2
  fi
  for case in "${cases[@]}"; do
    local extra=()
    case "$case" in user-secret* | external-url) extra=(--set-file "certs.caBundle=$ca_pem_file") ;; esac
    if "$helm" lint --strict "$chart" -n "$namespace" -f "$data/values/$case.yaml" "${extra[@]}" \
      >"$work/lint-$case.log" 2>&1; then
      pass "helm lint --strict ($case)"
    else
      fail "helm lint --strict ($case)"
      cat "$work/lint-$case.log" >&2
    fi
  done

  if "$helm" package "$chart" -d "$work/package" >"$work/package.log" 2>&1 &&
    "$helm" lint --strict "$work/package/"refguard-*.tgz >>"$work/package.log" 2>&1; then
    pass "helm package, and the package lints"
  else
    fail "helm package: $(cat "$work/package.log")"
  fi
  if python3 "$data/check_values_documented.py" "$chart/values.yaml" "$chart/values.schema.json" >&2; then
    pass "every value is documented in values.yaml and has a schema property"
  else
    fail "values.yaml and values.schema.json"
  fi

  log "== helm template and checks of the rendered objects"
  for case in "${cases[@]}"; do
    if ! render "$case" >"$work/$case.yaml" 2>"$work/$case.err"; then
      fail "helm template ($case): $(cat "$work/$case.err")"
      continue
    fi
    if ! as_json <"$work/$case.yaml" >"$work/$case.json" 2>"$work/$case.err"; then
      fail "rendered YAML does not parse ($case): $(cat "$work/$case.err")"
      continue
    fi
    if EXPECTED_CA_BUNDLE="$ca_b64" python3 "$data/assert_rendered.py" "$case" "$release" "$namespace" \
      <"$work/$case.json" >&2; then
      pass "rendered objects ($case)"
    else
      fail "rendered objects ($case)"
    fi
  done

  log "== values the chart must reject"
  # reject DESCRIPTION EXPECTED_MESSAGE_PART HELM_ARGS...
  reject() {
    local description="$1" expected="$2"
    shift 2
    local output
    if output="$("$helm" template "$release" "$chart" -n "$namespace" "$@" 2>&1)"; then
      fail "accepted $description"
    elif [[ "$output" != *"$expected"* ]]; then
      fail "rejected $description, but without '$expected': $output"
    else
      pass "rejects $description"
    fi
  }
  reject "failurePolicy Sometimes" "failurePolicy" --set webhook.failurePolicy=Sometimes
  reject "logFormat xml" "logFormat" --set server.logFormat=xml
  reject "unsynced maybe" "unsynced" --set server.unsynced=maybe
  reject "implementation envoy@1.0" "implementation" --set config.implementation=envoy@1.0
  reject "implementation istio@1" "implementation" --set config.implementation=istio@1
  reject "implementation istio@1.25.0-rc1" "implementation" --set config.implementation=istio@1.25.0-rc1
  reject "a rule level 'never'" "cert-expiring" --set config.rules.cert-expiring=never
  reject "an unquoted off (YAML boolean) as rule level" "cert-expiring" --set config.rules.cert-expiring=false
  reject "timeoutSeconds 31" "timeoutSeconds" --set webhook.timeoutSeconds=31
  reject "timeoutSeconds as a string" "timeoutSeconds" --set-string webhook.timeoutSeconds=5
  reject "a misspelt top-level key" "replicas" --set replicas=3
  reject "a misspelt nested key" "failurePolicyy" --set webhook.failurePolicyy=Fail
  reject "certs.mode vault" "mode" --set certs.mode=vault
  reject "secretAccess namespaces without namespaces" "secretNamespaces" --set rbac.secretAccess=namespaces
  reject "secretAccess everywhere" "secretAccess" --set rbac.secretAccess=everywhere
  reject "a secret namespace that is not a DNS label" "secretNamespaces" \
    --set rbac.secretAccess=namespaces --set 'rbac.secretNamespaces={Not_A_Namespace}'
  reject "certs.mode secret without caBundle" "caBundle" --set certs.mode=secret --set certs.secretName=x
  reject "a caBundle that is no certificate" "caBundle" --set certs.mode=secret --set certs.secretName=x \
    --set certs.caBundle=bm90IGEgY2VydGlmaWNhdGU=
  reject "reviewTimeoutMs above the webhook timeout" "reviewTimeoutMs" --set server.reviewTimeoutMs=6000
  reject "a grace period shorter than shutdown delay + review deadline + drain" "terminationGracePeriodSeconds" \
    --set terminationGracePeriodSeconds=11
  reject "zero replicas" "replicaCount" --set replicaCount=0
  reject "a PodDisruptionBudget that blocks every drain" "minAvailable" --set podDisruptionBudget.minAvailable=2
  reject "a webhook URL over plain HTTP" "url" --set webhook.url=http://127.0.0.1:8443/validate
  reject "a webhook URL with a generated certificate" "webhook.url needs certs.mode secret" \
    --set webhook.url=https://127.0.0.1:8443/validate

  # And the accepted spellings of the implementation profile.
  local profile
  for profile in gateway-api istio@1.25 istio@1.25.0 istio@v1.25.0; do
    if "$helm" template "$release" "$chart" --set "config.implementation=$profile" >/dev/null 2>&1; then
      pass "accepts implementation $profile"
    else
      fail "rejects implementation $profile"
    fi
  done
}

# --- against a real API server --------------------------------------------------------------

e2e_dir="${REFGUARD_CHART_E2E_DIR:-$work/cluster}"
cluster_sh="${REFGUARD_CLUSTER_SH:-$root/hack/cluster.sh}"

k() { "$kubectl" "$@"; }

# expect_allowed DESCRIPTION COMMAND...: the write succeeds (refguard was not called).
expect_allowed() {
  local description="$1"
  shift
  local output
  if output="$("$@" 2>&1)"; then
    pass "not sent to refguard: $description"
  else
    fail "not sent to refguard: $description: $output"
  fi
}

# expect_sent DESCRIPTION WEBHOOK COMMAND...: the write fails because the API server called
# WEBHOOK, which cannot answer (a failed match condition would give another message).
expect_sent() {
  local description="$1" webhook="$2"
  shift 2
  local output
  if output="$("$@" 2>&1)"; then
    fail "sent to $webhook: $description: the write was admitted"
  elif [[ "$output" == *"failed calling webhook \"$webhook\""* ]]; then
    pass "sent to $webhook: $description"
  else
    fail "sent to $webhook: $description: unexpected error: $output"
  fi
}

start_cluster() {
  [[ -x "$cluster_sh" ]] || die "hack/cluster.sh is missing"
  # Always a fresh one: `down` wipes what an interrupted earlier run left in a reused directory.
  log "== starting a control plane in $e2e_dir"
  REFGUARD_E2E_DIR="$e2e_dir" "$cluster_sh" down >/dev/null 2>&1 || true
  cluster_started=true
  REFGUARD_E2E_DIR="$e2e_dir" "$cluster_sh" up >&2
  eval "$(REFGUARD_E2E_DIR="$e2e_dir" "$cluster_sh" env)"
  export KUBECONFIG
  k get --raw=/readyz >/dev/null || die "the control plane in $e2e_dir is not ready"
}

server_dry_run() {
  log "== server-side dry run of every combination"
  k apply --server-side -f "$data/test-crds.yaml" >/dev/null
  k wait --for=condition=Established --timeout=60s -f "$data/test-crds.yaml" >/dev/null
  local ns
  for ns in "$namespace" gateway-certs istio-ingress monitoring; do
    k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
  done
  for case in "${cases[@]}"; do
    [[ -s "$work/$case.yaml" ]] || render "$case" >"$work/$case.yaml"
    if k apply --dry-run=server -f "$work/$case.yaml" >"$work/dry-$case.log" 2>&1; then
      pass "kubectl apply --dry-run=server ($case, $(grep -c . "$work/dry-$case.log") objects)"
    else
      fail "kubectl apply --dry-run=server ($case): $(cat "$work/dry-$case.log")"
    fi
  done
}

# The objects the match-condition tests write, in namespace apps unless said otherwise.
gateway() { # NAME NAMESPACE API_VERSION TLS(yes|no|backend)
  local listener
  case "$4" in
    yes) listener='{"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [{"name": "cert"}]}}' ;;
    *) listener='{"name": "http", "port": 80, "protocol": "HTTP"}' ;;
  esac
  local tls=''
  [[ "$4" == backend ]] && tls=', "tls": {"backend": {"clientCertificateRef": {"name": "client"}}}'
  printf '{"apiVersion": "gateway.networking.k8s.io/%s", "kind": "Gateway", "metadata": {"name": "%s", "namespace": "%s"}, "spec": {"gatewayClassName": "example", "listeners": [%s]%s}}' \
    "$3" "$1" "$2" "$listener" "$tls"
}

listener_set() { # KIND API_VERSION NAME TLS(yes|no)
  local listener='{"name": "http", "port": 80, "protocol": "HTTP"}'
  [[ "$4" == yes ]] && listener='{"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [{"name": "cert"}]}}'
  printf '{"apiVersion": "%s", "kind": "%s", "metadata": {"name": "%s", "namespace": "apps"}, "spec": {"parentRef": {"name": "plain"}, "listeners": [%s]}}' \
    "$2" "$1" "$3" "$listener"
}

create() { printf '%s' "$1" | k create --dry-run=server -f -; }

match_condition_tests() {
  log "== install with failurePolicy Fail: which writes reach the webhook"
  k create namespace apps --dry-run=client -o yaml | k apply -f - >/dev/null
  # Objects that must exist before the webhook does (deletes and updates are tested on them).
  k -n apps create secret generic opaque-cert --from-literal=tls.crt=x >/dev/null
  k -n apps create secret tls tls-cert --cert="$work/certs/tls.crt" --key="$work/certs/tls.key" >/dev/null
  printf '{"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1", "metadata": {"name": "sh.helm.release.v1.app.v1", "namespace": "apps"}, "data": {"release": "eA=="}}' |
    k create -f - >/dev/null
  k -n apps create configmap settings --from-literal=color=blue >/dev/null
  k -n apps create configmap client-ca --from-file=ca.crt="$work/certs/ca.crt" >/dev/null
  printf '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "binary-ca", "namespace": "apps"}, "binaryData": {"ca.crt": "%s"}}' \
    "$ca_b64" | k create -f - >/dev/null
  gateway tls-existing apps v1 yes | k create -f - >/dev/null
  printf '{"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant", "metadata": {"name": "grant", "namespace": "apps"}, "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "other"}], "to": [{"group": "", "kind": "Secret"}]}}' |
    k create -f - >/dev/null

  "$helm" install "$release" "$chart" -n "$namespace" --set webhook.failurePolicy=Fail \
    --set webhook.timeoutSeconds=2 >"$work/install.log" 2>&1 || {
    fail "helm install: $(cat "$work/install.log")"
    return
  }
  pass "helm install (failurePolicy Fail)"
  grep -q "kube-system, $namespace" "$work/install.log" &&
    grep -q "kubectl delete validatingwebhookconfiguration $fullname" "$work/install.log" &&
    pass "install notes name the excluded namespaces and the first uninstall step" ||
    fail "install notes: $(cat "$work/install.log")"

  # The API server picks up a new webhook configuration within a second or so.
  local i
  for ((i = 0; i < 30; i++)); do
    create "$(gateway probe apps v1 yes)" >/dev/null 2>&1 || break
    sleep 1
  done

  local grant='{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ReferenceGrant", "metadata": {"name": "new-grant", "namespace": "apps"}, "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "other"}], "to": [{"group": "", "kind": "Secret"}]}}'

  expect_sent "Gateway v1 with a TLS listener" gateways.refguard.io create "$(gateway a apps v1 yes)"
  expect_sent "Gateway v1beta1 with a TLS listener" gateways.refguard.io create "$(gateway a apps v1beta1 yes)"
  expect_sent "Gateway with spec.tls.backend only" gateways.refguard.io create "$(gateway a apps v1 backend)"
  expect_allowed "Gateway v1 without TLS" create "$(gateway a apps v1 no)"
  expect_allowed "Gateway v1beta1 without TLS" create "$(gateway a apps v1beta1 no)"
  expect_allowed "Gateway with TLS in kube-system" create "$(gateway a kube-system v1 yes)"
  expect_allowed "Gateway with TLS in the release namespace" create "$(gateway a "$namespace" v1 yes)"
  expect_sent "label on a Gateway with TLS (UPDATE)" gateways.refguard.io \
    k -n apps label --dry-run=server gateway tls-existing team=a
  expect_allowed "delete of a Gateway (no DELETE rule)" k -n apps delete --dry-run=server gateway tls-existing

  expect_sent "ListenerSet with a TLS listener" gateways.refguard.io \
    create "$(listener_set ListenerSet gateway.networking.k8s.io/v1 ls yes)"
  expect_allowed "ListenerSet without TLS" create "$(listener_set ListenerSet gateway.networking.k8s.io/v1 ls no)"
  expect_sent "XListenerSet with a TLS listener" gateways.refguard.io \
    create "$(listener_set XListenerSet gateway.networking.x-k8s.io/v1alpha1 xls yes)"
  expect_allowed "XListenerSet without TLS" create "$(listener_set XListenerSet gateway.networking.x-k8s.io/v1alpha1 xls no)"
  expect_allowed "XListenerSet whose listeners are not a list" \
    create '{"apiVersion": "gateway.networking.x-k8s.io/v1alpha1", "kind": "XListenerSet", "metadata": {"name": "odd", "namespace": "apps"}, "spec": {"listeners": "none"}}'
  expect_allowed "XListenerSet without spec" \
    create '{"apiVersion": "gateway.networking.x-k8s.io/v1alpha1", "kind": "XListenerSet", "metadata": {"name": "bare", "namespace": "apps"}}'

  expect_sent "ReferenceGrant create" referencegrants.refguard.io create "$grant"
  expect_sent "ReferenceGrant update" referencegrants.refguard.io k -n apps label --dry-run=server referencegrant grant a=b
  expect_sent "ReferenceGrant delete" referencegrants.refguard.io k -n apps delete --dry-run=server referencegrant grant

  expect_allowed "Secret create (only DELETE is reviewed)" k -n apps create secret generic new --from-literal=a=b --dry-run=server
  expect_allowed "Secret update" k -n apps label --dry-run=server secret opaque-cert a=b
  expect_sent "Opaque Secret delete" secrets.refguard.io k -n apps delete --dry-run=server secret opaque-cert
  expect_sent "kubernetes.io/tls Secret delete" secrets.refguard.io k -n apps delete --dry-run=server secret tls-cert
  expect_allowed "Helm release Secret delete" k -n apps delete --dry-run=server secret sh.helm.release.v1.app.v1

  expect_allowed "ConfigMap delete without ca.crt" k -n apps delete --dry-run=server configmap settings
  expect_sent "ConfigMap delete with data ca.crt" configmaps.refguard.io k -n apps delete --dry-run=server configmap client-ca
  expect_sent "ConfigMap delete with binaryData ca.crt" configmaps.refguard.io k -n apps delete --dry-run=server configmap binary-ca
  expect_allowed "ConfigMap update with ca.crt" k -n apps label --dry-run=server configmap client-ca a=b

  log "== upgrade: skipUnchangedSpecUpdates, and the generated CA is kept"
  local ca_before tls_before bundle_before
  ca_before="$(k -n "$namespace" get secret "$fullname-ca" -o jsonpath='{.data.tls\.crt}')"
  tls_before="$(k -n "$namespace" get secret "$fullname-tls" -o jsonpath='{.data.tls\.crt}')"
  bundle_before="$(k get validatingwebhookconfiguration "$fullname" -o jsonpath='{.webhooks[*].clientConfig.caBundle}')"
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values \
    --set webhook.skipUnchangedSpecUpdates=true >"$work/upgrade.log" 2>&1 || fail "helm upgrade: $(cat "$work/upgrade.log")"
  [[ "$(k -n "$namespace" get secret "$fullname-ca" -o jsonpath='{.data.tls\.crt}')" == "$ca_before" ]] &&
    pass "upgrade keeps the generated CA" || fail "upgrade replaced the generated CA"
  [[ "$(k -n "$namespace" get secret "$fullname-tls" -o jsonpath='{.data.tls\.crt}')" == "$tls_before" ]] &&
    pass "upgrade keeps the serving certificate" || fail "upgrade replaced the serving certificate"
  [[ "$(k get validatingwebhookconfiguration "$fullname" -o jsonpath='{.webhooks[*].clientConfig.caBundle}')" == "$bundle_before" ]] &&
    pass "upgrade keeps the caBundle" || fail "upgrade changed the caBundle"

  # A serving certificate within renewBeforeDays of expiry is re-issued by the same CA.
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values \
    --set certs.generate.renewBeforeDays=400 >"$work/upgrade-renew.log" 2>&1 ||
    fail "helm upgrade (renew): $(cat "$work/upgrade-renew.log")"
  local tls_after
  tls_after="$(k -n "$namespace" get secret "$fullname-tls" -o jsonpath='{.data.tls\.crt}')"
  k -n "$namespace" get secret "$fullname-ca" -o jsonpath='{.data.tls\.crt}' | openssl base64 -d -A >"$work/gen-ca.crt"
  printf '%s' "$tls_after" | openssl base64 -d -A >"$work/gen-tls.crt"
  if [[ "$tls_after" != "$tls_before" ]] &&
    [[ "$(k -n "$namespace" get secret "$fullname-ca" -o jsonpath='{.data.tls\.crt}')" == "$ca_before" ]] &&
    [[ "$(k get validatingwebhookconfiguration "$fullname" -o jsonpath='{.webhooks[*].clientConfig.caBundle}')" == "$bundle_before" ]] &&
    openssl verify -CAfile "$work/gen-ca.crt" "$work/gen-tls.crt" >/dev/null 2>&1; then
    pass "a certificate due for renewal is re-issued by the same CA; caBundle unchanged"
  else
    fail "renewal on upgrade: certificate changed? CA or caBundle changed, or the new one does not verify"
  fi
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values \
    --set certs.generate.renewBeforeDays=30 >/dev/null 2>&1 || fail "helm upgrade (renewBeforeDays back)"

  for ((i = 0; i < 30; i++)); do
    k -n apps label --dry-run=server gateway tls-existing team=a >/dev/null 2>&1 && break
    sleep 1
  done
  expect_allowed "label on a Gateway with TLS, spec unchanged" k -n apps label --dry-run=server gateway tls-existing team=a
  expect_sent "spec change on a Gateway with TLS" gateways.refguard.io \
    k -n apps patch --dry-run=server gateway tls-existing --type=merge -p '{"spec": {"gatewayClassName": "other"}}'

  # A serving certificate that no longer names the Service is re-issued, by the same CA.
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values --set fullnameOverride=rg-renamed \
    >"$work/upgrade2.log" 2>&1 || fail "helm upgrade (renamed): $(cat "$work/upgrade2.log")"
  local renamed_ca renamed_cert
  renamed_ca="$(k -n "$namespace" get secret rg-renamed-ca -o jsonpath='{.data.tls\.crt}' 2>/dev/null || true)"
  renamed_cert="$(k -n "$namespace" get secret rg-renamed-tls -o jsonpath='{.data.tls\.crt}' 2>/dev/null || true)"
  if [[ -n "$renamed_cert" ]] && openssl x509 -noout -checkhost "rg-renamed.$namespace.svc" \
    -in <(printf '%s' "$renamed_cert" | openssl base64 -d -A) | grep -q "does match"; then
    pass "renaming the Service re-issues the certificate for the new name"
  else
    fail "renaming the Service did not give a certificate for rg-renamed.$namespace.svc"
  fi
  [[ -n "$renamed_ca" && "$renamed_ca" != "$ca_before" ]] &&
    pass "a renamed release gets its own CA Secret (lookup is by name)" ||
    fail "renamed release has no CA Secret of its own"
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values --set fullnameOverride= \
    >/dev/null 2>&1 || fail "helm upgrade back to the original name"
}

# The refguard binary: REFGUARD_BIN, or built by cargo (a no-op when it is up to date).
refguard_bin() {
  if [[ -n "${REFGUARD_BIN:-}" ]]; then
    printf '%s' "$REFGUARD_BIN"
    return
  fi
  (cd "$root" && cargo build --locked --quiet --bin refguard --message-format=json) | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "refguard" and message.get("executable"):
        print(message["executable"])'
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_status URL: the HTTP status code, or 000 when nothing answers.
http_status() {
  python3 -c '
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as error:
    print(error.code)
except Exception:
    print("000")' "$1"
}

# config_file: the rendered config ConfigMap on stdin, its config.yaml on stdout.
config_file() {
  as_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["config.yaml"], end="")'
}

# rendered_config CASE OUT: the rules config file the chart renders for CASE.
rendered_config() {
  render "$1" --show-only templates/configmap.yaml | config_file >"$2"
}

# The rules config the chart renders is the file format refguard reads; a rule id the schema
# cannot know is wrong is refused by refguard itself.
config_tests() {
  log "== the rendered rules config, read by refguard"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: empty}\n' >"$work/empty.yaml"
  local case output
  for case in default strict; do
    rendered_config "$case" "$work/config-$case.yaml"
    if output="$("$refguard" check --config "$work/config-$case.yaml" -f "$work/empty.yaml" 2>&1)"; then
      pass "refguard check accepts the rendered config ($case)"
    else
      fail "refguard check refuses the rendered config ($case): $output"
    fi
  done
  "$helm" template "$release" "$chart" -n "$namespace" --set config.rules.cert-secret-mising=deny \
    --show-only templates/configmap.yaml | config_file >"$work/config-typo.yaml"
  if output="$("$refguard" check --config "$work/config-typo.yaml" -f "$work/empty.yaml" 2>&1)"; then
    fail "refguard accepts a config with an unknown rule id"
  elif [[ "$output" == *"unknown rule"*"cert-secret-mising"* ]]; then
    pass "refguard refuses a misspelt rule id that the schema lets through"
  else
    fail "refguard refuses a misspelt rule id, but says: $output"
  fi
}

# start_serve CERT_DIR ARGS...: starts `refguard serve` with the ServiceAccount's kubeconfig,
# the certificate in CERT_DIR and the extra ARGS; sets serve_pid, serve_port, admin_port.
start_serve() {
  local certs="$1"
  shift
  admin_port="$(free_port)"
  serve_port="$(free_port)"
  serve_log="$work/serve-$admin_port.log"
  "$refguard" serve --kubeconfig="$work/sa.kubeconfig" --listen="127.0.0.1:$serve_port" \
    --admin-listen="127.0.0.1:$admin_port" --tls-cert-file="$certs/tls.crt" \
    --tls-key-file="$certs/tls.key" --config="$work/config-default.yaml" --log-format=json "$@" \
    >"$serve_log" 2>&1 &
  serve_pid=$!
}

stop_serve() {
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=""
}

# wait_ready SECONDS: polls /readyz until 200, the process exits, or SECONDS pass; sets
# ready_status and ready_after.
wait_ready() {
  local limit="$1" started=$SECONDS
  ready_status=000
  while ((SECONDS - started < limit)); do
    ready_status="$(http_status "http://127.0.0.1:$admin_port/readyz")"
    [[ "$ready_status" == 200 ]] && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.5
  done
  ready_after=$((SECONDS - started))
}

# serve_with_token EXPECT DESCRIPTION ARGS...: runs `refguard serve` with the ServiceAccount's
# token and checks that /readyz turns 200 (EXPECT=ready: every watch the cache needs completed
# its list with the chart's RBAC) or stays 503 (EXPECT=not-ready).
serve_with_token() {
  local expect="$1" description="$2"
  shift 2
  start_serve "$work/certs" "$@"
  local limit=30
  [[ "$expect" == not-ready ]] && limit=8
  wait_ready "$limit"
  local health
  health="$(http_status "http://127.0.0.1:$admin_port/healthz")"
  stop_serve

  if [[ "$expect" == ready && "$ready_status" == 200 ]]; then
    pass "refguard serve with the token is ready after ${ready_after}s: $description"
  elif [[ "$expect" == not-ready && "$ready_status" == 503 && "$health" == 200 ]]; then
    pass "refguard serve with the token stays unready for ${limit}s: $description"
  else
    fail "refguard serve ($description): /readyz $ready_status, /healthz $health, expected $expect; log:"
    tail -n 20 "$serve_log" >&2
  fi
}

# The chart's webhook configuration pointed (webhook.url) at refguard running here with the
# ServiceAccount's token: the API server calls it and kubectl shows its answer.
webhook_round_trip() {
  log "== the chart's webhook configuration calling refguard serve"
  "$root/certs/gen-dev-certs.sh" --service "$fullname" --namespace "$namespace" --local \
    --out "$work/local-certs" 2>/dev/null
  start_serve "$work/local-certs" --secret-namespaces=gateway-certs
  wait_ready 30
  if [[ "$ready_status" != 200 ]]; then
    fail "refguard serve for the round trip is not ready: $(tail -n 20 "$serve_log")"
    stop_serve
    return
  fi
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values \
    --set "webhook.url=https://127.0.0.1:$serve_port/validate" --set certs.mode=secret \
    --set certs.secretName=local-tls --set-file "certs.caBundle=$work/local-certs/ca.crt" \
    >"$work/upgrade-url.log" 2>&1 || fail "helm upgrade (webhook.url): $(cat "$work/upgrade-url.log")"

  local cross='{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "cross", "namespace": "apps"}, "spec": {"gatewayClassName": "example", "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [{"name": "shared-tls", "namespace": "gateway-certs"}]}}]}}'
  local output i
  # Until the API server has the new configuration, the old (unreachable Service) one answers.
  for ((i = 0; i < 30; i++)); do
    output="$(printf '%s' "$cross" | k apply --dry-run=server -f - 2>&1)" && break
    [[ "$output" == *"denied the request"* ]] && break
    sleep 1
  done
  if [[ "$output" == *'admission webhook "gateways.refguard.io" denied the request'*'[cert-ref-not-permitted]'* ]]; then
    pass "kubectl shows refguard's denial through the chart's webhook: ${output:0:160}"
  else
    fail "no denial from refguard through the chart's webhook: $output"
  fi
  expect_allowed "Gateway without TLS, refguard running" create "$(gateway plain apps v1 no)"
  stop_serve
}

rbac_tests() {
  log "== the ServiceAccount's permissions"
  local sa="system:serviceaccount:$namespace:$fullname"
  local server ca token
  server="$(k config view --minify --raw -o jsonpath='{.clusters[0].cluster.server}')"
  k config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
    openssl base64 -d -A >"$work/apiserver-ca.crt"
  token="$(k -n "$namespace" create token "$fullname" --duration=10m)" || {
    fail "kubectl create token"
    return
  }
  pass "kubectl create token (TokenRequest API) for $fullname"
  cat >"$work/sa.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: e2e
    cluster: {server: "$server", certificate-authority: "$work/apiserver-ca.crt"}
users:
  - name: $fullname
    user: {token: "$token"}
contexts:
  - name: e2e
    context: {cluster: e2e, user: $fullname}
current-context: e2e
EOF
  as_sa() {
    "$kubectl" --kubeconfig=/dev/null --server="$server" --certificate-authority="$work/apiserver-ca.crt" \
      --token="$token" "$@"
  }

  # can-i --list, as the cache sees it: exactly list and watch on the cache's resources.
  k auth can-i --list --as="$sa" -n apps >"$work/can-i.txt"
  if python3 "$data/check_can_i.py" "$work/can-i.txt" with-secrets >&2; then
    pass "can-i --list in apps: list and watch on exactly the cache's resources"
  else
    fail "can-i --list in apps differs from what the cache needs"
  fi

  local resource
  for resource in gateways.gateway.networking.k8s.io listenersets.gateway.networking.k8s.io \
    referencegrants.gateway.networking.k8s.io xlistenersets.gateway.networking.x-k8s.io configmaps secrets; do
    for verb in list watch; do
      if k auth can-i "$verb" "$resource" -A --as="$sa" >/dev/null 2>&1; then
        pass "can $verb $resource in all namespaces"
      else
        fail "cannot $verb $resource in all namespaces"
      fi
    done
  done
  local denied
  for denied in "get secrets -n apps" "create gateways.gateway.networking.k8s.io -n apps" \
    "delete configmaps -n apps" "update referencegrants.gateway.networking.k8s.io -n apps" "list pods -A" \
    "patch validatingwebhookconfigurations"; do
    # shellcheck disable=SC2086
    if k auth can-i $denied --as="$sa" >/dev/null 2>&1; then fail "can $denied"; else pass "cannot $denied"; fi
  done

  # The real token: the lists the cache starts with, over the API.
  for resource in gateways.gateway.networking.k8s.io listenersets.gateway.networking.k8s.io \
    referencegrants.gateway.networking.k8s.io xlistenersets.gateway.networking.x-k8s.io configmaps secrets; do
    if as_sa get "$resource" -A -o name >/dev/null 2>"$work/token.err"; then
      pass "token lists $resource in all namespaces"
    else
      fail "token cannot list $resource: $(cat "$work/token.err")"
    fi
  done
  if as_sa get --raw "/api/v1/secrets?watch=true&timeoutSeconds=1" >/dev/null 2>"$work/token.err"; then
    pass "token watches secrets"
  else
    fail "token cannot watch secrets: $(cat "$work/token.err")"
  fi
  if as_sa -n apps get secret tls-cert >/dev/null 2>&1; then fail "token can get one Secret"; else pass "token cannot get one Secret"; fi
  serve_with_token ready "secretAccess=cluster"

  log "== secretAccess=namespaces"
  k create namespace gateway-certs --dry-run=client -o yaml | k apply -f - >/dev/null
  "$helm" upgrade "$release" "$chart" -n "$namespace" --reuse-values --set rbac.secretAccess=namespaces \
    --set 'rbac.secretNamespaces={gateway-certs}' >"$work/upgrade3.log" 2>&1 ||
    fail "helm upgrade (secretAccess=namespaces): $(cat "$work/upgrade3.log")"
  local args
  args="$(k -n "$namespace" get deployment "$fullname" -o jsonpath='{.spec.template.spec.containers[0].args}')"
  [[ "$args" == *'"--secret-namespaces=gateway-certs"'* ]] && pass "deployment runs with --secret-namespaces=gateway-certs" ||
    fail "deployment args lack --secret-namespaces: $args"
  k auth can-i list secrets -n gateway-certs --as="$sa" >/dev/null 2>&1 && pass "can list secrets in gateway-certs" ||
    fail "cannot list secrets in gateway-certs"
  k auth can-i watch secrets -n gateway-certs --as="$sa" >/dev/null 2>&1 && pass "can watch secrets in gateway-certs" ||
    fail "cannot watch secrets in gateway-certs"
  k auth can-i --list --as="$sa" -n apps >"$work/can-i-apps.txt"
  k auth can-i --list --as="$sa" -n gateway-certs >"$work/can-i-certs.txt"
  if python3 "$data/check_can_i.py" "$work/can-i-apps.txt" without-secrets >&2; then
    pass "can-i --list in apps: no Secrets"
  else
    fail "can-i --list in apps with secretAccess=namespaces"
  fi
  if python3 "$data/check_can_i.py" "$work/can-i-certs.txt" with-secrets >&2; then
    pass "can-i --list in gateway-certs: Secrets too"
  else
    fail "can-i --list in gateway-certs with secretAccess=namespaces"
  fi
  for denied in "list secrets -n apps" "watch secrets -n apps" "list secrets -A" "get secrets -n apps" \
    "get secrets -n gateway-certs" "list secrets -n kube-system"; do
    # shellcheck disable=SC2086
    if k auth can-i $denied --as="$sa" >/dev/null 2>&1; then fail "can $denied"; else pass "cannot $denied"; fi
  done
  as_sa -n gateway-certs get secrets -o name >/dev/null 2>&1 && pass "token lists secrets in gateway-certs" ||
    fail "token cannot list secrets in gateway-certs"
  if as_sa -n apps get secrets -o name >"$work/token.out" 2>&1; then
    fail "token lists secrets in apps"
  else
    grep -q Forbidden "$work/token.out" && pass "token is Forbidden to list secrets in apps" ||
      fail "token list in apps failed without Forbidden: $(cat "$work/token.out")"
  fi
  as_sa get configmaps -A -o name >/dev/null 2>&1 && pass "token still lists configmaps everywhere" ||
    fail "token lost configmaps"
  serve_with_token ready "secretAccess=namespaces, --secret-namespaces=gateway-certs" --secret-namespaces=gateway-certs
  serve_with_token not-ready "secretAccess=namespaces RBAC but a cluster-wide Secret watch"

  webhook_round_trip

  log "== uninstall"
  "$helm" uninstall "$release" -n "$namespace" >"$work/uninstall.log" 2>&1 || fail "helm uninstall: $(cat "$work/uninstall.log")"
  if k get validatingwebhookconfiguration "$fullname" >/dev/null 2>&1; then
    fail "webhook configuration left after uninstall"
  else
    pass "uninstall removes the webhook configuration"
  fi
  expect_allowed "Gateway with TLS after uninstall" create "$(gateway a apps v1 yes)"
}

cluster_tests() {
  refguard="$(refguard_bin)"
  [[ -x "$refguard" ]] || die "no refguard binary (set REFGUARD_BIN or let cargo build it)"
  config_tests
  start_cluster
  server_dry_run
  match_condition_tests
  rbac_tests
}

if [[ "$what" == all || "$what" == static ]]; then
  static_tests
fi
if [[ "$what" == all || "$what" == cluster ]]; then
  cluster_tests
fi

if ((failures > 0)); then
  log "chart.sh: $failures check(s) failed"
  exit 1
fi
log "chart.sh: all checks passed"
