#!/usr/bin/env bash
# The demo: a real kube-apiserver, refguard in front of it, and the Istio 55623 reproduction
# replayed with kubectl, showing what a user sees. Builds the control plane from Go modules on
# the first run (several minutes), then starts in seconds.
#
#   hack/demo.sh                 replay with the istio@1.25.0 profile, then tear down
#   REFGUARD_DEMO_PROFILE=istio@1.26.0 hack/demo.sh   the same on a fixed Istio
#   REFGUARD_DEMO_KEEP=1 hack/demo.sh                 leave everything running to explore
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${REFGUARD_DEMO_PROFILE:-istio@1.25.0}"
export REFGUARD_E2E_DIR="${REFGUARD_E2E_DIR:-/tmp/refguard-demo}"
work="$REFGUARD_E2E_DIR/demo"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
# show CMD...: prints the command like a shell session, runs it, and never stops the demo.
show() {
  printf '\033[36m$ %s\033[0m\n' "$*"
  "$@" || printf '\033[2m(exit status %s)\033[0m\n' "$?"
}

serve_pid=""
teardown() {
  [[ -n "$serve_pid" ]] && kill "$serve_pid" 2>/dev/null || true
  "$root/hack/cluster.sh" down || true
}
if [[ "${REFGUARD_DEMO_KEEP:-}" != 1 ]]; then
  trap teardown EXIT
fi

bold "1. Building refguard and the control plane (cached after the first run)"
hack/deps.sh
cargo build --locked --quiet
refguard="${CARGO_TARGET_DIR:-$root/target}/debug/refguard"
eval "$(hack/tools.sh)"
hack/cluster.sh up
eval "$(hack/cluster.sh env)"
kubectl() { "$REFGUARD_KUBECTL" "$@"; }

bold "2. Starting refguard serve with the $profile profile"
mkdir -p "$work"
bash certs/gen-dev-certs.sh --out "$work/certs" --local >/dev/null
admin_port=19090
listen_port=18443
"$refguard" serve \
  --listen "127.0.0.1:$listen_port" --admin-listen "127.0.0.1:$admin_port" \
  --tls-cert-file "$work/certs/tls.crt" --tls-key-file "$work/certs/tls.key" \
  --implementation "$profile" --kubeconfig "$KUBECONFIG" >"$work/refguard.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$admin_port/readyz" >/dev/null || {
  cat "$work/refguard.log"
  exit 1
}
echo "refguard is ready (cache synced); log: $work/refguard.log"

bold "3. Registering it with the API server (the chart's ValidatingWebhookConfiguration)"
"$REFGUARD_HELM" template refguard charts/refguard --namespace refguard-system \
  --show-only templates/webhook.yaml \
  --set webhook.url="https://127.0.0.1:$listen_port/validate" \
  --set certs.mode=secret --set certs.secretName=refguard-tls \
  --set-file certs.caBundle="$work/certs/ca.crt" >"$work/webhook.yaml"
kubectl apply -f "$work/webhook.yaml"
sleep 2

bold "4. Standard TLS with a Secret in another namespace, opened by a ReferenceGrant: admitted"
show kubectl apply -f examples/istio-55623/1-standard-tls/manifests.yaml

bold "5. Deleting that grant would cut the Gateway off: refguard names who loses access"
show kubectl delete referencegrant allow-istio-gateways-to-httpbin-credential -n httpbin --dry-run=server

bold "6. The listener switches to MUTUAL (the Secret, recreated, now carries ca.crt)"
show kubectl delete secret httpbin-credential -n httpbin
show kubectl apply -f examples/istio-55623/2-mutual/manifests.yaml

bold "7. The same edit as a server-side dry run gives the same answer"
show kubectl apply --dry-run=server -f examples/istio-55623/2-mutual/manifests.yaml

bold "8. The fix on Istio 1.16-1.25: the Secret moves into the Gateway's namespace"
show kubectl apply -f examples/istio-55623/3-moved-secret/manifests.yaml

bold "9. The same rules offline, for CI: refguard check"
show "$refguard" check -f examples/istio-55623/2-mutual --implementation "$profile"
show "$refguard" check -f examples/istio-55623/2-mutual --implementation istio@1.26.0

if [[ "${REFGUARD_DEMO_KEEP:-}" == 1 ]]; then
  bold "Left running. KUBECONFIG=$KUBECONFIG; stop with: kill $serve_pid; hack/cluster.sh down"
fi
