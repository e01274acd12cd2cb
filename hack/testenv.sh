#!/usr/bin/env bash
# Builds the real servers the integration tests run against (kube-apiserver,
# etcd, MinIO) from the Go module proxy into bin/, keyed by version, so a warm
# run costs nothing. Prints the KUBEBUILDER_ASSETS directory on success.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

assets="$root/bin/testenv/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
minio_dir="$root/bin/testenv/minio-$MINIO_VERSION"
mkdir -p "$assets" "$minio_dir"

build_tool() { # name dir
	local name=$1 dir=$2
	if [ -x "$assets/$name" ]; then return 0; fi
	echo "testenv: building $name (first run only; a few minutes)" >&2
	(cd "$root/hack/tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$assets/$name.tmp" .)
	mv "$assets/$name.tmp" "$assets/$name"
}

build_minio() {
	if [ -x "$minio_dir/minio" ]; then return 0; fi
	echo "testenv: building minio $MINIO_VERSION (first run only; a few minutes)" >&2
	GOBIN="$minio_dir/.gobin" CGO_ENABLED=0 go install -trimpath -ldflags='-s -w' "github.com/minio/minio@$MINIO_VERSION"
	mv "$minio_dir/.gobin/minio" "$minio_dir/minio"
	rmdir "$minio_dir/.gobin"
}

# The three builds are independent; run them side by side and fail if any fails.
build_tool etcd etcd & etcd_pid=$!
build_minio & minio_pid=$!
build_tool kube-apiserver kube-apiserver
wait "$etcd_pid"
wait "$minio_pid"

ln -sfn "$(basename "$assets")" "$root/bin/testenv/k8s"
ln -sfn "$(basename "$minio_dir")" "$root/bin/testenv/minio"
echo "$assets"
