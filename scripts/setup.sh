#!/usr/bin/env bash
# Installs what leasehold needs on a Debian machine (util-linux for flock; for the end-to-end tests the reference
# CNI plugins, iproute2, iptables, Podman, containerd, and Go with libcni's source for the libcni driver; etcd and
# openssl for the cluster-mode tests; strace for the crash-state explorer; systemd for systemd-analyze, which
# checks the gc timer's units; for the arm64 executable the cross compiler and its libraries, qemu-user to run
# it, and file), then the npm dependencies from the lock file, then
# builds the executables of both architectures (the arm64 tests in npm test need dist/leasehold-arm64).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq util-linux containernetworking-plugins iproute2 iputils-ping iptables podman runc busybox-static \
    containerd golang-go golang-github-appc-cni-dev etcd-server etcd-client openssl strace systemd \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++6-arm64-cross qemu-user-static file >/dev/null
else
  echo "setup: not root or not Debian: skipping apt packages (the end-to-end tests will need them)" >&2
fi
npm ci --no-audit --no-fund
if command -v qemu-aarch64-static >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null; then
  npm run build:all
else
  echo "setup: no qemu-user-static or gcc-aarch64-linux-gnu: building for amd64 only (the arm64 tests will skip)" >&2
  npm run build
fi
