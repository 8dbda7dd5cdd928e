#!/usr/bin/env bash
# A real, minimal Kubernetes control plane on loopback for the end-to-end tests
# and the demo: etcd and kube-apiserver (RBAC on, TokenRequest API working),
# with the Gateway API CRDs (experimental channel) installed.
#
#   hack/cluster.sh up                 start it and wait until it is ready
#   hack/cluster.sh down               stop what `up` started (safe to repeat)
#   hack/cluster.sh env                print `export ...` lines for KUBECONFIG etc.
#   hack/cluster.sh status             say whether it is running
#   hack/cluster.sh restart-apiserver  stop and start kube-apiserver (same port)
#
# State lives in ${REFGUARD_E2E_DIR:-/tmp/refguard-e2e}: pki/, etcd-data/,
# kubeconfig, logs/ (kept by `down`). One control plane per directory; set
# REFGUARD_E2E_DIR to run several side by side.
#
# There is no controller-manager and no scheduler or kubelet: nothing creates
# the `default` ServiceAccounts, finishes namespace deletion, garbage-collects
# or runs pods. Tests create the objects they need explicitly.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "$root/hack/versions.env"
# Another Gateway API release can be tried without editing versions.env.
GATEWAY_API_VERSION="${REFGUARD_GATEWAY_API_VERSION:-$GATEWAY_API_VERSION}"

dir="${REFGUARD_E2E_DIR:-/tmp/refguard-e2e}"
pki="$dir/pki"
logs="$dir/logs"
state="$dir/state.env"
# kubectl's discovery cache, kept with the cluster instead of in ~/.kube.
export KUBECACHEDIR="$dir/kube-cache"

# Gateway API release channel to install: experimental (a superset of the
# standard channel's CRDs and versions) or standard.
gateway_api_channel="${REFGUARD_GATEWAY_API_CHANNEL:-experimental}"
case "$gateway_api_channel" in
  experimental | standard) ;;
  *)
    printf 'cluster.sh: REFGUARD_GATEWAY_API_CHANNEL must be experimental or standard, not %s\n' \
      "$gateway_api_channel" >&2
    exit 2
    ;;
esac

# Seconds to wait for each of: etcd healthy, apiserver ready, CRDs established.
ready_timeout="${REFGUARD_E2E_READY_TIMEOUT:-90}"

log() { printf '%s\n' "$*" >&2; }

die() {
  log "cluster.sh: $*"
  exit 1
}

# --- processes ---------------------------------------------------------------

# is_ours PID BINARY: PID is alive and runs BINARY (guards against PID reuse).
is_ours() {
  local pid="$1" binary="$2"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  local argv0
  argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)"
  [[ "$argv0" == "$binary" ]]
}

# stop_process PID BINARY NAME: SIGTERM, then SIGKILL after 15 seconds.
stop_process() {
  local pid="$1" binary="$2" name="$3"
  is_ours "$pid" "$binary" || return 0

  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 150; i++)); do
    is_ours "$pid" "$binary" || return 0
    sleep 0.1
  done
  log "$name (pid $pid) did not stop after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# start_process LOG BINARY ARGS...: runs BINARY in the background, detached
# from our stdin and stdout, and prints its PID.
start_process() {
  local logfile="$1"
  shift
  nohup "$@" </dev/null >>"$logfile" 2>&1 &
  local pid=$! i
  # $! is the forked shell until it has exec'd nohup and then the binary: wait for that, so a
  # caller's is_ours check does not take the not-yet-exec'd fork for a process that exited.
  for ((i = 0; i < 100; i++)); do
    is_ours "$pid" "$1" && break
    [[ -r "/proc/$pid/cmdline" && -s "/proc/$pid/cmdline" ]] || break
    sleep 0.05
  done
  printf '%s' "$pid"
}

show_log_tail() {
  local file="$1"
  if [[ -s "$file" ]]; then
    log "--- last lines of $file ---"
    tail -n 40 "$file" >&2
    log "---"
  fi
}

# --- ports -------------------------------------------------------------------

# port_taken PORT: some TCP socket (any state, IPv4 or IPv6) uses PORT locally.
port_taken() {
  local hex
  hex="$(printf ':%04X' "$1")"
  local table
  for table in /proc/net/tcp /proc/net/tcp6; do
    [[ -r "$table" ]] || continue
    if cut -c1-60 "$table" | tr -s ' ' | cut -d' ' -f3 | grep -q "$hex\$"; then
      return 0
    fi
  done
  return 1
}

# free_port: a port below the ephemeral range that nothing uses right now.
# Chosen ports are remembered so one `up` never picks the same port twice.
picked_ports=" "
free_port() {
  local port attempt
  for ((attempt = 0; attempt < 200; attempt++)); do
    port=$((10000 + RANDOM % 22000))
    if [[ "$picked_ports" != *" $port "* ]] && ! port_taken "$port"; then
      picked_ports+="$port "
      printf '%s' "$port"
      return 0
    fi
  done
  die "found no free TCP port"
}

# --- certificates ------------------------------------------------------------

# new_cert NAME SUBJECT EXTENSIONS: key and certificate signed by the test CA.
new_cert() {
  local name="$1" subject="$2" extensions="$3"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 30 -sha256 -out "$pki/$name.crt" \
    -extfile <(printf '%s\n' "$extensions") 2>/dev/null
  rm -f "$pki/$name.csr"
}

make_pki() {
  mkdir -p "$pki"
  chmod 700 "$pki"

  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=refguard-e2e-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null

  new_cert apiserver "/CN=kube-apiserver" "$(
    printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  )"

  # O=system:masters: the admin group that RBAC always allows.
  new_cert admin "/O=system:masters/CN=refguard-e2e-admin" "$(
    printf '%s\n' \
      "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth"
  )"

  # Service-account token signing key (TokenRequest API, `kubectl create token`).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

write_kubeconfig() {
  local port="$1"
  local kubeconfig="$dir/kubeconfig"
  (
    umask 077
    cat >"$kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: refguard-e2e
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: refguard-e2e-admin
  user:
    client-certificate-data: $(base64 -w0 <"$pki/admin.crt")
    client-key-data: $(base64 -w0 <"$pki/admin.key")
contexts:
- name: refguard-e2e
  context:
    cluster: refguard-e2e
    user: refguard-e2e-admin
current-context: refguard-e2e
EOF
  )
}

# --- etcd and kube-apiserver -------------------------------------------------

# etcd_healthy PORT: GET /health over bash's /dev/tcp (no curl needed).
etcd_healthy() {
  local port="$1" response
  response="$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    timeout 2 cat <&3
  )" || return 1
  [[ "$response" == *'"health":"true"'* ]]
}

start_etcd() {
  local client_port="$1" peer_port="$2"
  mkdir -p "$dir/etcd-data"
  chmod 700 "$dir/etcd-data"

  # --unsafe-no-fsync: test data need not survive a power cut; fsync would
  # make every write wait for the disk.
  ETCD_PID="$(start_process "$logs/etcd.log" "$REFGUARD_ETCD" \
    --name=refguard-e2e \
    --data-dir="$dir/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$client_port" \
    --advertise-client-urls="http://127.0.0.1:$client_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="refguard-e2e=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync \
    --log-level=warn)"
  record ETCD_PID "$ETCD_PID"

  local deadline=$((SECONDS + ready_timeout))
  until etcd_healthy "$client_port"; do
    if ! is_ours "$ETCD_PID" "$REFGUARD_ETCD"; then
      show_log_tail "$logs/etcd.log"
      die "etcd exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$logs/etcd.log"
      die "etcd not healthy after ${ready_timeout}s"
    fi
    sleep 0.2
  done
}

write_apiserver_args() {
  local port="$1" etcd_port="$2"
  # The webhook under test is registered with a loopback `clientConfig.url`;
  # kube-apiserver calls such URLs directly as long as no egress selector is
  # configured, so none is.
  printf '%s\n' \
    "--advertise-address=127.0.0.1" \
    "--bind-address=127.0.0.1" \
    "--secure-port=$port" \
    "--etcd-servers=http://127.0.0.1:$etcd_port" \
    "--tls-cert-file=$pki/apiserver.crt" \
    "--tls-private-key-file=$pki/apiserver.key" \
    "--tls-min-version=VersionTLS12" \
    "--client-ca-file=$pki/ca.crt" \
    "--authorization-mode=Node,RBAC" \
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local" \
    "--service-account-key-file=$pki/sa.pub" \
    "--service-account-signing-key-file=$pki/sa.key" \
    "--service-cluster-ip-range=10.0.0.0/24" \
    "--profiling=false" \
    >"$dir/apiserver.args"
}

apiserver_ready() {
  "$REFGUARD_KUBECTL" --kubeconfig="$dir/kubeconfig" --request-timeout=3s \
    get --raw=/readyz >/dev/null 2>&1
}

start_apiserver() {
  local args=()
  mapfile -t args <"$dir/apiserver.args"

  APISERVER_PID="$(start_process "$logs/kube-apiserver.log" "$REFGUARD_KUBE_APISERVER" "${args[@]}")"
  record APISERVER_PID "$APISERVER_PID"

  local deadline=$((SECONDS + ready_timeout))
  until apiserver_ready; do
    if ! is_ours "$APISERVER_PID" "$REFGUARD_KUBE_APISERVER"; then
      show_log_tail "$logs/kube-apiserver.log"
      die "kube-apiserver exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$logs/kube-apiserver.log"
      "$REFGUARD_KUBECTL" --kubeconfig="$dir/kubeconfig" get --raw='/readyz?verbose' >&2 || true
      die "kube-apiserver not ready after ${ready_timeout}s"
    fi
    sleep 0.25
  done
}

install_gateway_api() {
  local crds="$REFGUARD_GATEWAY_API_DIR/$gateway_api_channel"
  # Server-side apply: the HTTPRoute CRD is larger than the annotation that
  # client-side apply would store.
  # experimental/ has a kustomization.yaml listing the release bundle;
  # standard/ holds just the bundle's files.
  local source=(-f "$crds")
  if [[ -f "$crds/kustomization.yaml" ]]; then
    source=(-k "$crds")
  fi
  "$REFGUARD_KUBECTL" --kubeconfig="$dir/kubeconfig" apply --server-side \
    --field-manager=refguard-e2e "${source[@]}" >"$logs/gateway-api-install.log" 2>&1 || {
    show_log_tail "$logs/gateway-api-install.log"
    die "installing the Gateway API CRDs from $crds failed"
  }
  "$REFGUARD_KUBECTL" --kubeconfig="$dir/kubeconfig" wait --for=condition=Established \
    --timeout="${ready_timeout}s" crd --all >>"$logs/gateway-api-install.log" 2>&1 || {
    show_log_tail "$logs/gateway-api-install.log"
    die "the Gateway API CRDs did not become Established"
  }
}

# --- state -------------------------------------------------------------------

# record KEY VALUE: remembers a value in $state (sourced by later commands).
record() {
  printf '%s=%q\n' "$1" "$2" >>"$state"
}

load_state() {
  [[ -f "$state" ]] || return 1
  # shellcheck disable=SC1090
  source "$state"
}

running() {
  load_state || return 1
  is_ours "${APISERVER_PID:-}" "${REFGUARD_KUBE_APISERVER:-}" &&
    is_ours "${ETCD_PID:-}" "${REFGUARD_ETCD:-}"
}

write_env() {
  cat >"$dir/env" <<EOF
export KUBECONFIG='$dir/kubeconfig'
export KUBECACHEDIR='$dir/kube-cache'
export REFGUARD_E2E_DIR='$dir'
export REFGUARD_APISERVER_URL='https://127.0.0.1:$APISERVER_PORT'
export REFGUARD_KUBE_APISERVER='$REFGUARD_KUBE_APISERVER'
export REFGUARD_KUBECTL='$REFGUARD_KUBECTL'
export REFGUARD_ETCD='$REFGUARD_ETCD'
export REFGUARD_HELM='$REFGUARD_HELM'
export REFGUARD_GATEWAY_API_DIR='$REFGUARD_GATEWAY_API_DIR'
export REFGUARD_GATEWAY_API_VERSION='$GATEWAY_API_VERSION'
export REFGUARD_GATEWAY_API_CHANNEL='$gateway_api_channel'
EOF
}

# --- commands ----------------------------------------------------------------

cmd_up() {
  if running; then
    log "control plane already running in $dir (kube-apiserver pid $APISERVER_PID on port $APISERVER_PORT)"
    return 0
  fi
  cmd_down quiet
  # A failed start stops whatever it had started (logs stay).
  trap 'cmd_down quiet' EXIT

  local tool_env
  tool_env="$("$root/hack/tools.sh")"
  eval "$tool_env"

  local start=$SECONDS
  mkdir -p "$dir" "$logs"
  : >"$logs/etcd.log"
  : >"$logs/kube-apiserver.log"
  rm -f "$state"
  record REFGUARD_KUBE_APISERVER "$REFGUARD_KUBE_APISERVER"
  record REFGUARD_KUBECTL "$REFGUARD_KUBECTL"
  record REFGUARD_ETCD "$REFGUARD_ETCD"
  record REFGUARD_HELM "$REFGUARD_HELM"
  record REFGUARD_GATEWAY_API_DIR "$REFGUARD_GATEWAY_API_DIR"

  make_pki

  local etcd_port etcd_peer_port
  etcd_port="$(free_port)"
  etcd_peer_port="$(free_port)"
  APISERVER_PORT="$(free_port)"
  record APISERVER_PORT "$APISERVER_PORT"
  record ETCD_PORT "$etcd_port"

  log "starting etcd $ETCD_VERSION on 127.0.0.1:$etcd_port"
  start_etcd "$etcd_port" "$etcd_peer_port"

  log "starting kube-apiserver $KUBERNETES_VERSION on https://127.0.0.1:$APISERVER_PORT"
  write_kubeconfig "$APISERVER_PORT"
  write_apiserver_args "$APISERVER_PORT" "$etcd_port"
  start_apiserver

  log "installing Gateway API $GATEWAY_API_VERSION CRDs ($gateway_api_channel channel)"
  install_gateway_api

  write_env
  trap - EXIT
  log "control plane ready in $((SECONDS - start))s; use it with: eval \"\$(hack/cluster.sh env)\""
}

cmd_down() {
  local quiet="${1:-}"
  if ! load_state; then
    [[ -n "$quiet" ]] || log "no control plane recorded in $dir"
    return 0
  fi

  stop_process "${APISERVER_PID:-}" "${REFGUARD_KUBE_APISERVER:-}" kube-apiserver
  stop_process "${ETCD_PID:-}" "${REFGUARD_ETCD:-}" etcd
  rm -rf "$pki" "$dir/etcd-data" "$dir/kube-cache" \
    "$dir/kubeconfig" "$dir/env" "$dir/apiserver.args" "$state"
  [[ -n "$quiet" ]] || log "control plane in $dir stopped (logs kept in $logs)"
}

cmd_env() {
  running || die "no control plane running in $dir; start one with hack/cluster.sh up"
  cat "$dir/env"
}

cmd_status() {
  if running; then
    log "running: kube-apiserver pid $APISERVER_PID (https://127.0.0.1:$APISERVER_PORT), etcd pid $ETCD_PID"
  else
    log "not running ($dir)"
    return 1
  fi
}

cmd_restart_apiserver() {
  running || die "no control plane running in $dir"
  log "restarting kube-apiserver (pid $APISERVER_PID)"
  stop_process "$APISERVER_PID" "$REFGUARD_KUBE_APISERVER" kube-apiserver
  start_apiserver
  log "kube-apiserver ready again (pid $APISERVER_PID)"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  restart-apiserver) cmd_restart_apiserver ;;
  *)
    log "usage: $0 up|down|env|status|restart-apiserver"
    exit 2
    ;;
esac
