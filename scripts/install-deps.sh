#!/usr/bin/env bash
# Installs the system packages Handoff builds against, when they are missing (Debian/Ubuntu):
# UCX (libucx-dev), RDMA verbs and connection manager (libibverbs-dev, librdmacm-dev), hwloc (libhwloc-dev, the
# PCI tree for handoff topo), OpenSSL (libssl-dev: the data plane's TLS; openssl: the tests' certificates),
# pkg-config; and for the tests that run two hosts in network namespaces, iproute2
# (ip, tc, ss); for the Python package's tests, python3-venv, and binutils (strip, for the wheel's library); for
# the coordinator cluster's tests and `handoff demo --coordinators 3`, etcd (etcd-server; the tests start their own
# members on loopback); for the observability tests and `handoff demo --observe`, Prometheus (prometheus, with
# promtool) and a headless browser (chromium, chromium-driver).
set -euo pipefail

packages=(libucx-dev libibverbs-dev librdmacm-dev libhwloc-dev libssl-dev openssl pkg-config iproute2 python3-venv binutils etcd-server prometheus chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "installing: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
