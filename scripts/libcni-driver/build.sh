#!/bin/sh
# Builds lhcni (main.go) into OUTDIR from Debian's libcni source (golang-go, golang-github-appc-cni-dev), offline,
# in GOPATH mode. The binary and Go's build cache stay in OUTDIR: nothing is written to the repository.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1/gopath" "$1/gocache"
out=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
cd "$src"
GO111MODULE=off GOENV=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" GOFLAGS= CGO_ENABLED=0 GOPROXY=off \
  go build -o "$out/lhcni" .
