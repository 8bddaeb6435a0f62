#!/usr/bin/env bash
# Installs what building and testing aigw needs on Debian 12. Idempotent: a second run
# checks and returns quickly. Set AIGW_SKIP_NPM=1 to skip the npm test packages, AIGW_BENCH=1 to
# add wrk and nginx for bench/, AIGW_CLANG=1 to add clang for make check-builds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

packages=(build-essential cmake pkg-config
          libevent-dev libcurl4-openssl-dev libjson-c-dev libyaml-dev libssl-dev
          libhttp-parser-dev libcmocka-dev libpcre2-dev libc-ares-dev libhyperscan-dev
          libsqlite3-dev
          openssl curl valgrind clang-format dnsmasq-base sqlite3 prometheus nodejs npm)
[ "${AIGW_BENCH:-0}" = 1 ] && packages+=(wrk nginx-light)
# make check-builds compiles the tree with clang too
[ "${AIGW_CLANG:-0}" = 1 ] && packages+=(clang)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian on a prepared machine: accept what is on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian's prometheus starts a service on :9090, aigw's default admin port; the tests run a
  # Prometheus of their own, so the one this script just installed is stopped
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
     systemctl is-active --quiet prometheus 2>/dev/null; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

if [ "${AIGW_SKIP_NPM:-0}" != 1 ]; then
  cd "$here/tests/integration"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
