#!/usr/bin/env bash
# Runs every test refguard has, on a fresh machine: unit and process tests, the Helm chart
# tests, and the end-to-end tier against a real kube-apiserver. Installs what is missing first.
#
#   hack/test.sh                     everything
#   REFGUARD_SKIP_E2E=1 hack/test.sh everything but the end-to-end tier (says so loudly)
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh

echo "==> unit and process tests (cargo test)"
cargo test --locked --all-targets

echo "==> Helm chart tests"
bash tests/chart.sh

# hack/e2e.sh itself skips, loudly, when REFGUARD_SKIP_E2E=1 (and refuses to in CI).
echo "==> end-to-end tests against a real kube-apiserver (Gateway API CRDs of the pinned release)"
hack/e2e.sh

# Clusters with Gateway API v1.0 to v1.4 serve ReferenceGrant only as v1beta1 and ListenerSets
# only as the experimental XListenerSet: the same tests again on such a cluster.
echo "==> end-to-end tests again, with the Gateway API v1.4.1 CRDs"
REFGUARD_GATEWAY_API_VERSION=v1.4.1 hack/e2e.sh
echo "==> all test tiers passed"
