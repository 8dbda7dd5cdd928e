#!/usr/bin/env bash
# Installs the system packages the tests need when they are missing. A fresh machine has only
# the toolchains (Rust, Go); everything else comes from Debian's packages or is built from Go
# modules by hack/tools.sh.
set -euo pipefail

missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v python3 >/dev/null || missing+=(python3)
command -v curl >/dev/null || missing+=(curl)

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}"
fi

