#!/usr/bin/env bash
# Builds the node and control-plane components that the test servers lack
# (kubelet, kube-controller-manager, kube-scheduler, kube-proxy) and Argo's
# workflow-controller and argoexec from the Go module proxy into
# bin/cluster/, keyed by version, so a warm run costs nothing. kube-apiserver
# and etcd come from hack/testenv.sh. Prints the Kubernetes directory on
# success.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
KUBE_VERSION=v1.37.2
dir="$root/bin/cluster/kube-$KUBE_VERSION"
mkdir -p "$dir"

# One at a time: they share most packages, so the second build reuses the
# first one's compiled packages instead of compiling them again alongside.
for name in kubelet kube-controller-manager kube-scheduler kube-proxy; do
	if [ -x "$dir/$name" ]; then continue; fi
	echo "cluster: building $name $KUBE_VERSION (first run only; a few minutes)" >&2
	start=$(date +%s)
	(cd "$root/hack/tools/$name" && CGO_ENABLED=0 nice -n "${NICE:-10}" go build -trimpath -ldflags='-s -w' -o "$dir/$name.tmp" .)
	mv "$dir/$name.tmp" "$dir/$name"
	echo "cluster: $name built in $(($(date +%s) - start)) s" >&2
done
ln -sfn "$(basename "$dir")" "$root/bin/cluster/kube"

# Argo's controller and executor, at the release pinned in hack/tools/argo.
ARGO_VERSION=$(cd "$root/hack/tools/argo" && go list -m -f '{{.Version}}' github.com/argoproj/argo-workflows/v3)
argo="$root/bin/cluster/argo-$ARGO_VERSION"
mkdir -p "$argo"
# The v3.7.18 module lacks the Linux file of workflow/executor/osspecific
# (only its darwin and windows twins are there), so `go build ./cmd/argoexec`
# fails with "undefined: Setpgid". hack/tools/argo/osspecific/signal_linux.go
# is that file, written here. `go build -overlay` refuses files in the module
# cache, so the build uses a copy of Argo's module with that file added, put
# in place by a `replace` in a temporary copy of hack/tools/argo/go.mod
# (-modfile); the tracked go.mod stays as it is. The other two build from
# the same copy, so one copy serves all three (with -trimpath the compiled
# packages are the module cache's, cached alike).
#
# argo-retry is `argo retry` for the e2e tests, which run no Argo server:
# Argo's own FormulateRetryWorkflow, as the server's RetryWorkflow calls it
# (hack/tools/argo/retry). The argo CLI itself does not build from the
# module: its UI assets are not in it.
targets=(workflow-controller argoexec argo-retry)
missing=()
for name in "${targets[@]}"; do [ -x "$argo/$name" ] || missing+=("$name"); done
if [ ${#missing[@]} -gt 0 ]; then
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
	src=$(cd "$root/hack/tools/argo" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-workflows/v3)
	cp -r "$src" "$work/argo"
	chmod -R u+w "$work/argo"
	cp "$root/hack/tools/argo/osspecific/signal_linux.go" "$work/argo/workflow/executor/osspecific/"
	cp "$root/hack/tools/argo/go.mod" "$root/hack/tools/argo/go.sum" "$work/"
	(cd "$root/hack/tools/argo" && go mod edit -replace "github.com/argoproj/argo-workflows/v3=$work/argo" "$work/go.mod")
	for name in "${missing[@]}"; do
		pkg="github.com/argoproj/argo-workflows/v3/cmd/$name"
		[ "$name" = argo-retry ] && pkg=./retry
		echo "cluster: building $name $ARGO_VERSION (first run only; a few minutes)" >&2
		start=$(date +%s)
		(cd "$root/hack/tools/argo" && CGO_ENABLED=0 nice -n "${NICE:-10}" go build -modfile "$work/go.mod" -trimpath -ldflags='-s -w' -o "$argo/$name.tmp" "$pkg")
		mv "$argo/$name.tmp" "$argo/$name"
		echo "cluster: $name built in $(($(date +%s) - start)) s" >&2
	done
fi
ln -sfn "$(basename "$argo")" "$root/bin/cluster/argo"
echo "$dir"
