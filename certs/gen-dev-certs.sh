#!/usr/bin/env bash
# Makes a development CA and a serving certificate for the refguard webhook, with openssl only.
#
# The API server calls a Service webhook at <service>.<namespace>.svc, so the certificate
# carries that name, <service>.<namespace>.svc.cluster.local, and any extra SANs you ask for
# (--local adds 127.0.0.1, ::1 and localhost, for a webhook the API server reaches by URL).
#
# Idempotent: when the output directory already holds a certificate that the CA signed, for
# the same SANs, valid for more than --renew-days, nothing is written. Otherwise the CA is kept
# (when it is still valid) and only the serving certificate is re-issued, so a caBundle you
# installed keeps working. Files are replaced by rename, which refguard's reloader sees as one
# change per file.
#
# Output (in --out): ca.crt, ca.key, tls.crt, tls.key, and ca.crt as one line of base64 in
# ca-bundle.b64 (the form a ValidatingWebhookConfiguration's caBundle takes).
# With --print-env, stdout is `export` lines: REFGUARD_TLS_CERT_FILE and REFGUARD_TLS_KEY_FILE
# (read by `refguard serve`), REFGUARD_CA_FILE and REFGUARD_CA_BUNDLE.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: certs/gen-dev-certs.sh [options]

  --service NAME     Service name              (env REFGUARD_CERT_SERVICE, default refguard)
  --namespace NS     Service namespace         (env REFGUARD_CERT_NAMESPACE, default refguard)
  --out DIR          Output directory          (env REFGUARD_CERT_DIR, default .cache/dev-certs)
  --san SAN          Extra SAN, IP or DNS name; repeatable
                     (env REFGUARD_CERT_EXTRA_SANS, comma separated)
  --local            Add 127.0.0.1, ::1 and localhost
  --days N           Serving certificate lifetime in days  (default 365)
  --ca-days N        CA lifetime in days                   (default 3650)
  --renew-days N     Re-issue when fewer days are left     (default 30)
  --force            Re-issue the serving certificate even if it is still good
  --force-ca         Make a new CA too (every caBundle that trusts the old one must change)
  --print-env        Print export lines for the generated files on stdout
  -h, --help         This help
EOF
}

log() { printf 'gen-dev-certs: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

service="${REFGUARD_CERT_SERVICE:-refguard}"
namespace="${REFGUARD_CERT_NAMESPACE:-refguard}"
out="${REFGUARD_CERT_DIR:-.cache/dev-certs}"
extra_sans=()
if [[ -n "${REFGUARD_CERT_EXTRA_SANS:-}" ]]; then
  IFS=',' read -r -a extra_sans <<<"$REFGUARD_CERT_EXTRA_SANS"
fi
days=365
ca_days=3650
renew_days=30
force=false
force_ca=false
print_env=false

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --service) need_value "$@"; service="$2"; shift 2 ;;
    --namespace) need_value "$@"; namespace="$2"; shift 2 ;;
    --out) need_value "$@"; out="$2"; shift 2 ;;
    --san) need_value "$@"; extra_sans+=("$2"); shift 2 ;;
    --local) extra_sans+=(127.0.0.1 ::1 localhost); shift ;;
    --days) need_value "$@"; days="$2"; shift 2 ;;
    --ca-days) need_value "$@"; ca_days="$2"; shift 2 ;;
    --renew-days) need_value "$@"; renew_days="$2"; shift 2 ;;
    --force) force=true; shift ;;
    --force-ca) force=true; force_ca=true; shift ;;
    --print-env) print_env=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

command -v openssl >/dev/null 2>&1 || die "openssl is not on PATH"

dns_label='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
[[ "$service" =~ $dns_label ]] || die "--service must be a DNS label, got '$service'"
[[ "$namespace" =~ $dns_label ]] || die "--namespace must be a DNS label, got '$namespace'"
for n in "$days" "$ca_days" "$renew_days"; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "day counts must be whole numbers, got '$n'"
done
((days > renew_days)) || die "--days ($days) must exceed --renew-days ($renew_days)"

# The SAN extension value: the Service names first, then the extras, without duplicates.
san_entries=("DNS:$service.$namespace.svc" "DNS:$service.$namespace.svc.cluster.local")
for san in "${extra_sans[@]}"; do
  san="${san#"${san%%[![:space:]]*}"}"
  san="${san%"${san##*[![:space:]]}"}"
  [[ -n "$san" ]] || continue
  if [[ "$san" =~ ^[0-9.]+$ || "$san" == *:* ]]; then
    entry="IP:$san"
  elif [[ "$san" =~ ^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$ ]]; then
    entry="DNS:$san"
  else
    die "not an IP address or DNS name: '$san'"
  fi
  [[ " ${san_entries[*]} " == *" $entry "* ]] || san_entries+=("$entry")
done
san_value="$(IFS=','; printf '%s' "${san_entries[*]}")"

umask 077
mkdir -p "$out"
out="$(cd "$out" && pwd)"
ca_crt="$out/ca.crt" ca_key="$out/ca.key" tls_crt="$out/tls.crt" tls_key="$out/tls.key"
stamp="$out/.sans"

tmp="$(mktemp -d "$out/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Public key of a certificate or a private key, for comparing the two.
cert_pubkey() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }
key_pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null; }

ca_usable() {
  [[ -s "$ca_crt" && -s "$ca_key" ]] &&
    openssl x509 -in "$ca_crt" -noout -checkend $((renew_days * 86400)) >/dev/null 2>&1 &&
    [[ "$(cert_pubkey "$ca_crt")" == "$(key_pubkey "$ca_key")" ]]
}

leaf_usable() {
  [[ -s "$tls_crt" && -s "$tls_key" && -s "$stamp" ]] &&
    [[ "$(cat "$stamp")" == "$san_value" ]] &&
    openssl verify -CAfile "$ca_crt" "$tls_crt" >/dev/null 2>&1 &&
    openssl x509 -in "$tls_crt" -noout -checkend $((renew_days * 86400)) >/dev/null 2>&1 &&
    [[ "$(cert_pubkey "$tls_crt")" == "$(key_pubkey "$tls_key")" ]]
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null ||
    die "openssl could not make a key"
}

serial() { printf '0x%s' "$(openssl rand -hex 16)"; }

made_ca=false
if $force_ca || ! ca_usable; then
  log "making a CA in $out (valid $ca_days days)"
  new_key "$tmp/ca.key"
  cat >"$tmp/ca.ext" <<EOF
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -new -key "$tmp/ca.key" -subj "/O=refguard development/CN=refguard dev CA" \
    -out "$tmp/ca.csr" 2>/dev/null || die "openssl could not make the CA request"
  openssl x509 -req -in "$tmp/ca.csr" -signkey "$tmp/ca.key" -days "$ca_days" \
    -set_serial "$(serial)" -extfile "$tmp/ca.ext" -out "$tmp/ca.crt" 2>/dev/null ||
    die "openssl could not sign the CA"
  mv -f "$tmp/ca.key" "$ca_key"
  mv -f "$tmp/ca.crt" "$ca_crt"
  made_ca=true
fi

if $made_ca || $force || ! leaf_usable; then
  log "issuing a serving certificate for $san_value (valid $days days)"
  new_key "$tmp/tls.key"
  cat >"$tmp/tls.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san_value
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  openssl req -new -key "$tmp/tls.key" -subj "/O=refguard development/CN=$service.$namespace.svc" \
    -out "$tmp/tls.csr" 2>/dev/null || die "openssl could not make the certificate request"
  openssl x509 -req -in "$tmp/tls.csr" -CA "$ca_crt" -CAkey "$ca_key" -days "$days" \
    -set_serial "$(serial)" -extfile "$tmp/tls.ext" -out "$tmp/tls.crt" 2>/dev/null ||
    die "openssl could not sign the serving certificate"
  openssl verify -CAfile "$ca_crt" "$tmp/tls.crt" >/dev/null || die "the new certificate does not verify"
  # Key first: a reader that sees the new key with the old certificate retries on the next
  # change; the certificate rename completes the pair.
  mv -f "$tmp/tls.key" "$tls_key"
  mv -f "$tmp/tls.crt" "$tls_crt"
  printf '%s' "$san_value" >"$stamp"
else
  log "certificate in $out is current (SANs $san_value); nothing to do"
fi

# One line of base64, as a caBundle takes it (kept in step with ca.crt).
bundle="$(openssl base64 -A -in "$ca_crt")"
[[ -s "$out/ca-bundle.b64" && "$(cat "$out/ca-bundle.b64")" == "$bundle" ]] ||
  printf '%s\n' "$bundle" >"$out/ca-bundle.b64"
chmod 0644 "$ca_crt" "$tls_crt" "$out/ca-bundle.b64"

if $print_env; then
  printf 'export REFGUARD_TLS_CERT_FILE=%q\n' "$tls_crt"
  printf 'export REFGUARD_TLS_KEY_FILE=%q\n' "$tls_key"
  printf 'export REFGUARD_CA_FILE=%q\n' "$ca_crt"
  printf 'export REFGUARD_CA_BUNDLE=%q\n' "$bundle"
fi
