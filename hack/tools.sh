#!/usr/bin/env bash
# Builds the control-plane binaries the end-to-end tests and the demo run
# (kube-apiserver, kubectl, etcd, helm) from the Go modules in tools/, and
# fetches the Gateway API CRDs, all at the versions in hack/versions.env.
#
# Everything lands in ${REFGUARD_CACHE_DIR:-$HOME/.cache/refguard}, keyed by
# version: bin/<name>-<version> and gateway-api-<version>/. What is already
# there is not built again, so a second run takes about a second.
#
# Progress goes to stderr. Stdout is a list of `export NAME=value` lines, so
#   eval "$(hack/tools.sh)"
# puts REFGUARD_KUBE_APISERVER, REFGUARD_ETCD, REFGUARD_KUBECTL, REFGUARD_HELM,
# REFGUARD_GATEWAY_API_DIR and KUBEBUILDER_ASSETS into the calling shell.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "$root/hack/versions.env"
# Another Gateway API release can be tried without editing versions.env.
GATEWAY_API_VERSION="${REFGUARD_GATEWAY_API_VERSION:-$GATEWAY_API_VERSION}"

cache="${REFGUARD_CACHE_DIR:-$HOME/.cache/refguard}"
bin="$cache/bin"

# The go build running in the background, killed if we are interrupted.
build_pid=""
partial=""

log() { printf '%s\n' "$*" >&2; }

die() {
  log "tools.sh: $*"
  exit 1
}

cleanup() {
  if [[ -n "$build_pid" ]]; then
    kill "$build_pid" 2>/dev/null || true
    wait "$build_pid" 2>/dev/null || true
  fi
  if [[ -n "$partial" ]]; then
    rm -rf "$partial"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_go() {
  command -v go >/dev/null 2>&1 ||
    die "Go 1.26 or newer is needed to build the control plane (https://go.dev/dl/); it is not on PATH"

  local version
  version="$(go env GOVERSION)"
  version="${version#go}"

  local major="${version%%.*}" rest="${version#*.}"
  local minor="${rest%%.*}"
  if ((major < 1 || (major == 1 && minor < 26))); then
    die "Go 1.26 or newer is needed (found go$version)"
  fi
}

human_duration() {
  local s="$1"
  if ((s >= 60)); then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

# check_pin MODULE_DIR UPSTREAM_MODULE VERSION: tools/MODULE_DIR/go.mod really
# requires UPSTREAM_MODULE at VERSION, so that a binary is never cached under
# a version it was not built from.
check_pin() {
  local gomod="$root/tools/$1/go.mod"
  grep -Eq "^[[:space:]]*(require[[:space:]]+)?$2 $3([[:space:]]|\$)" "$gomod" ||
    die "$gomod does not require $2 $3 (hack/versions.env); run hack/update-tools-modules.sh"
}

# build NAME VERSION MODULE_DIR PACKAGE UPSTREAM_MODULE LDFLAGS
#
# Builds PACKAGE (from the module in tools/MODULE_DIR) into bin/NAME-VERSION,
# unless that file exists. Prints a heartbeat every 30 seconds while building.
build() {
  local name="$1" version="$2" module="$3" package="$4" upstream="$5" ldflags="$6"
  local out="$bin/$name-$version"
  if [[ -x "$out" ]]; then
    return 0
  fi

  require_go
  check_pin "$module" "$upstream" "$version"
  mkdir -p "$bin" "$cache/logs"
  local build_log="$cache/logs/$name-$version.build.log"
  partial="$out.partial.$$"

  log "building $name $version (first run takes several minutes)…"
  local start=$SECONDS
  (
    cd "$root/tools/$module"
    export CGO_ENABLED=0 GOFLAGS=-mod=readonly
    exec go build -v -trimpath -buildvcs=false -ldflags "-s -w $ldflags" -o "$partial" "$package"
  ) >"$build_log" 2>&1 &
  build_pid=$!

  local next_report=$((start + 30))
  while kill -0 "$build_pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next_report)); then
      local compiled
      compiled="$(grep -vc "^go: " "$build_log" || true)"
      log "  … $name: $(human_duration $((SECONDS - start))), $compiled packages compiled"
      next_report=$((SECONDS + 30))
    fi
  done

  local status=0
  wait "$build_pid" || status=$?
  build_pid=""
  if ((status != 0)); then
    log "building $name $version failed (exit $status); last lines of $build_log:"
    tail -n 30 "$build_log" >&2
    exit 1
  fi

  mv -f "$partial" "$out"
  partial=""
  log "built $name $version in $(human_duration $((SECONDS - start))) ($(du -h "$out" | cut -f1)): $out"
}

# Version strings the upstream release builds stamp in with -X.
kubernetes_ldflags() {
  local minor_patch="${KUBERNETES_VERSION#v1.}"
  local flags="" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION"
    flags+=" -X $pkg.gitMajor=1"
    flags+=" -X $pkg.gitMinor=${minor_patch%%.*}"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  printf '%s' "$flags"
}

helm_ldflags() {
  # Helm reports, and lints against, the Kubernetes version of its client-go.
  local client_go
  client_go="$(sed -n 's/^[[:space:]]*k8s\.io\/client-go v\([0-9.]*\).*/\1/p' "$root/tools/helm/go.mod")"
  [[ -n "$client_go" ]] || die "cannot find k8s.io/client-go in tools/helm/go.mod"

  local k8s_minor
  k8s_minor="$(cut -d. -f2 <<<"$client_go")"
  printf '%s' "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    " -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    " -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1" \
    " -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor" \
    " -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1" \
    " -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
}

# Copies config/crd/{standard,experimental} of the sigs.k8s.io/gateway-api
# module (with their kustomization.yaml, which lists the release bundle).
fetch_gateway_api() {
  local dest="$cache/gateway-api-$GATEWAY_API_VERSION"
  if [[ -d "$dest/experimental" && -d "$dest/standard" ]]; then
    return 0
  fi

  require_go
  log "fetching Gateway API $GATEWAY_API_VERSION CRDs (module sigs.k8s.io/gateway-api)…"
  local module_dir
  module_dir="$(
    cd "$cache" &&
      GOFLAGS='' go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
  )"
  [[ -d "$module_dir/config/crd/experimental" ]] ||
    die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/experimental (download failed?)"

  partial="$dest.partial.$$"
  mkdir -p "$partial"
  cp -R "$module_dir/config/crd/standard" "$module_dir/config/crd/experimental" "$partial/"
  chmod -R u+w "$partial"
  rm -rf "$dest"
  mv "$partial" "$dest"
  partial=""
}

# A directory laid out as controller-runtime's envtest (and the envtest crate)
# expect in KUBEBUILDER_ASSETS.
assets_dir() {
  local dir="$cache/assets/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
  if [[ ! -e "$dir/kube-apiserver" ]]; then
    mkdir -p "$dir"
    ln -sf "$bin/kube-apiserver-$KUBERNETES_VERSION" "$dir/kube-apiserver"
    ln -sf "$bin/kubectl-$KUBERNETES_VERSION" "$dir/kubectl"
    ln -sf "$bin/etcd-$ETCD_VERSION" "$dir/etcd"
  fi
  printf '%s' "$dir"
}

main() {
  mkdir -p "$cache"

  build kube-apiserver "$KUBERNETES_VERSION" kubernetes \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes "$(kubernetes_ldflags)"
  build kubectl "$KUBERNETES_VERSION" kubernetes \
    k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes "$(kubernetes_ldflags)"
  build etcd "$ETCD_VERSION" etcd . go.etcd.io/etcd/server/v3 ""
  build helm "$HELM_VERSION" helm helm.sh/helm/v3/cmd/helm helm.sh/helm/v3 "$(helm_ldflags)"
  fetch_gateway_api

  local assets
  assets="$(assets_dir)"
  cat <<EOF
export REFGUARD_KUBE_APISERVER='$bin/kube-apiserver-$KUBERNETES_VERSION'
export REFGUARD_KUBECTL='$bin/kubectl-$KUBERNETES_VERSION'
export REFGUARD_ETCD='$bin/etcd-$ETCD_VERSION'
export REFGUARD_HELM='$bin/helm-$HELM_VERSION'
export REFGUARD_GATEWAY_API_DIR='$cache/gateway-api-$GATEWAY_API_VERSION'
export KUBEBUILDER_ASSETS='$assets'
EOF
}

main "$@"
