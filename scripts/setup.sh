#!/usr/bin/env bash
# Installs what leasehold needs on a Debian machine (util-linux for flock; for the end-to-end tests the reference
# CNI plugins, iproute2, iptables, Podman, containerd, and Go with libcni's source for the libcni driver; etcd and
# openssl for the cluster-mode tests; strace for the crash-state explorer; systemd for systemd-analyze, which
# checks the gc timer's units), then the npm dependencies from the lock file, then builds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq util-linux containernetworking-plugins iproute2 iputils-ping iptables podman runc busybox-static \
    containerd golang-go golang-github-appc-cni-dev etcd-server etcd-client openssl strace systemd >/dev/null
else
  echo "setup: not root or not Debian: skipping apt packages (the end-to-end tests will need them)" >&2
fi
npm ci --no-audit --no-fund
npm run build
