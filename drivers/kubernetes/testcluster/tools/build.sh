#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-scheduler, kube-controller-manager and
# kubelet from this module's pinned versions into
# $CACHE_DIR/k8s/<version>-<key>/, where <key> hashes go.mod and go.sum: with
# the same pins a second run builds nothing (and one binary added to the list
# builds only that one). Prints the directory. With --check it only prints
# it, and fails when a binary is missing.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/local/go/bin:$PATH
cache="${CACHE_DIR:-$HOME/.cache/flowctl}"
k8s=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod)
key=$(cat go.mod go.sum | sha256sum | cut -c1-12)
out="$cache/k8s/$k8s-$key"
bins=(etcd kube-apiserver kube-scheduler kube-controller-manager kubelet)
if [ "${1:-}" = --check ]; then
  for b in "${bins[@]}"; do [ -x "$out/$b" ] || { echo "$out/$b is missing" >&2; exit 1; }; done
  echo "$out"
  exit 0
fi
mkdir -p "$out"
ver="k8s.io/component-base/version"
minor=$(echo "$k8s" | cut -d. -f2)
ldflags="-s -w -X $ver.gitVersion=$k8s -X $ver.gitMajor=1 -X $ver.gitMinor=$minor -X $ver.gitTreeState=clean"
build() { # name package cgo
  [ -x "$out/$1" ] && return
  echo "building $1 ($2) into $out; the first build takes a while" >&2
  CGO_ENABLED=$3 go build -trimpath -ldflags "$ldflags" -o "$out/.$1.tmp" "$2"
  mv "$out/.$1.tmp" "$out/$1"
}
build etcd go.etcd.io/etcd/server/v3 0
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver 0
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler 0
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager 0
build kubelet k8s.io/kubernetes/cmd/kubelet 1
echo "$out"
