#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when any is
# missing. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

packages=(cmake make gcc pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev
          libcmocka-dev libmicrohttpd-dev libnghttp2-dev libssl-dev libprotobuf-c-dev
          protobuf-c-compiler libmsgpack-dev curl)
# Extra tools some targets use, installed on request: valgrind (memcheck runs),
# clang with its libFuzzer runtime (make fuzz), gnuplot-nox (make bench's plot).
if [ "${WITH_VALGRIND:-0}" = 1 ]; then packages+=(valgrind); fi
if [ "${WITH_BENCH:-0}" = 1 ]; then packages+=(gnuplot-nox); fi
if [ "${WITH_FUZZ:-0}" = 1 ]; then packages+=(clang libclang-rt-dev); fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "Installing missing packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "These Debian packages are missing: ${missing[*]}" >&2
    echo "Install them as root:  apt-get install ${missing[*]}" >&2
    exit 1
fi
