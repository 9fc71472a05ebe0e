#!/usr/bin/env bash
# Installs what leasehold needs on a Debian machine (the reference CNI plugins, iproute2 and Podman for
# the end-to-end tests, util-linux for flock, strace for the crash-state explorer), then the npm dependencies from the lock file, then builds.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq util-linux containernetworking-plugins iproute2 iputils-ping podman runc busybox-static strace >/dev/null
else
  echo "setup: not root or not Debian: skipping apt packages (the end-to-end tests will need them)" >&2
fi
npm ci --no-audit --no-fund
npm run build
