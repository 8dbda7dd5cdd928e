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

if [ -x tests/chart.sh ]; then
  echo "==> Helm chart tests"
  tests/chart.sh
fi

# hack/e2e.sh itself skips, loudly, when REFGUARD_SKIP_E2E=1 (and refuses to in CI).
echo "==> end-to-end tests against a real kube-apiserver"
hack/e2e.sh
echo "==> all test tiers passed"
