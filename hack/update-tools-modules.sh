#!/usr/bin/env bash
# Regenerates tools/{kubernetes,etcd,helm}/go.mod and go.sum from the versions
# pinned in hack/versions.env. Run it after changing a version there and commit
# the result; hack/tools.sh only builds from the committed module files.
#
# Upstream modules build from a monorepo and point at their sibling modules
# with path replaces (k8s.io/kubernetes: `k8s.io/api => ./staging/src/k8s.io/api`;
# etcd: `go.etcd.io/etcd/api/v3 => ../api`). Replace directives of a dependency
# are ignored by Go, so each tools module repeats them, pinned to the published
# version. The list is read from the upstream go.mod, never typed by hand.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "$root/hack/versions.env"

export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
# Language version written into the tools modules: the one the pinned
# Kubernetes requires, so any Go 1.26.x toolchain can build them.
GO_LANGUAGE_VERSION=1.26.0

# upstream_gomod MODULE VERSION: path of the downloaded go.mod of MODULE@VERSION.
upstream_gomod() {
  go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'
}

# local_replaces GOMOD: module paths that GOMOD replaces with a local directory
# (skipping etcd's ./FORBIDDEN_DEPENDENCY guards).
local_replaces() {
  awk '
    /^replace[[:space:]]*\(/ { block = 1; next }
    block && /^\)/ { block = 0; next }
    {
      line = $0
      sub(/^[[:space:]]+/, "", line)
      if (!block) { if (line !~ /^replace[[:space:]]/) next; sub(/^replace[[:space:]]+/, "", line) }
      n = split(line, f, /[[:space:]]+/)
      for (i = 1; i <= n; i++) if (f[i] == "=>") {
        target = f[i + 1]
        if (target ~ /^\.\.?\// && target !~ /FORBIDDEN/) print f[1]
      }
    }' "$1"
}

# write_module DIR MODULE_NAME: starts a fresh go.mod in DIR.
write_module() {
  rm -f "$1/go.mod" "$1/go.sum"
  (cd "$1" && go mod init "$2" >/dev/null 2>&1 && go mod edit -go="$GO_LANGUAGE_VERSION")
}

# add_pinned_replaces DIR UPSTREAM_GOMOD VERSION
add_pinned_replaces() {
  local dir="$1" gomod="$2" version="$3" mod
  while read -r mod; do
    (cd "$dir" && go mod edit -replace "$mod=$mod@$version")
  done < <(local_replaces "$gomod")
}

kubernetes_module() {
  local dir="$root/tools/kubernetes"
  local staging="v0.${KUBERNETES_VERSION#v1.}"
  echo "tools/kubernetes: k8s.io/kubernetes $KUBERNETES_VERSION (staging modules $staging)"
  write_module "$dir" refguard.dev/tools/kubernetes
  add_pinned_replaces "$dir" "$(upstream_gomod k8s.io/kubernetes "$KUBERNETES_VERSION")" "$staging"
  (cd "$dir" &&
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
      "k8s.io/kubernetes/cmd/kubectl@$KUBERNETES_VERSION" &&
    go mod tidy)
}

etcd_module() {
  local dir="$root/tools/etcd"
  echo "tools/etcd: go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  write_module "$dir" refguard.dev/tools/etcd
  add_pinned_replaces "$dir" "$(upstream_gomod go.etcd.io/etcd/server/v3 "$ETCD_VERSION")" "$ETCD_VERSION"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy)
}

helm_module() {
  local dir="$root/tools/helm"
  echo "tools/helm: helm.sh/helm/v3 $HELM_VERSION"
  write_module "$dir" refguard.dev/tools/helm
  add_pinned_replaces "$dir" "$(upstream_gomod helm.sh/helm/v3 "$HELM_VERSION")" "$HELM_VERSION"
  (cd "$dir" && go get -tool "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" && go mod tidy)
}

case "${1:-all}" in
  kubernetes) kubernetes_module ;;
  etcd) etcd_module ;;
  helm) helm_module ;;
  all) kubernetes_module && etcd_module && helm_module ;;
  *) echo "usage: $0 [all|kubernetes|etcd|helm]" >&2; exit 2 ;;
esac
