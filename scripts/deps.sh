#!/usr/bin/env bash
# Installs the Debian packages promlab needs, only those missing. Silent when all are present.
set -euo pipefail
PKGS=(gcc make pkg-config clang curl
      libcurl4-openssl-dev libzstd-dev libmicrohttpd-dev libpcre2-dev libxxhash-dev
      libjansson-dev libyaml-dev zlib1g-dev libcmocka-dev libsnappy-dev libprotobuf-c-dev protobuf-c-compiler
      jq prometheus-node-exporter prometheus prometheus-alertmanager
      chromium chromium-driver   # tests/integration/web_ui.sh drives the UI in headless Chromium
      golang-go  # go tool pprof reads promlab's heap profile (tests/integration/cardinality_cure.sh)
      nodejs)    # node (+ npm below): s3rver, the S3 server of the sidecar tests (npm package, MIT)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: its own Debian package, unless the installed nodejs already ships it
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts node_exporter as a system service on :9100; tests start their own.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now prometheus-node-exporter prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi
