#!/usr/bin/env bash
# Runs hack/bench: mlstate's stage step vs `mc mirror`, `rclone copy`,
# restic and kopia against one local MinIO server. Installs what it needs:
# mc, restic and kopia (pinned, built into bin/bench once per version from
# the Go module proxy), rclone (Debian package), the stage binary.
# BENCH_SCALE=1 adds the 1,000,000-file scale run (about ten minutes).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
RESTIC_VERSION=v0.18.1
# The version Kanister pins (its go.mod): the kopia that a Kanister
# deployment runs.
KOPIA_VERSION=v0.20.2-0.20250717071305-692c1f465ba3
mkdir -p bin/bench

if [ ! -x bin/bench/mc ] || [ "$(cat bin/bench/.mc-version 2>/dev/null)" != "$MC_VERSION" ]; then
	echo "bench: building mc $MC_VERSION (first run only; a few minutes)" >&2
	GOBIN="$root/bin/bench" CGO_ENABLED=0 go install "github.com/minio/mc@$MC_VERSION"
	echo "$MC_VERSION" > bin/bench/.mc-version
fi
if [ ! -x bin/bench/restic ] || [ "$(cat bin/bench/.restic-version 2>/dev/null)" != "$RESTIC_VERSION" ]; then
	echo "bench: building restic $RESTIC_VERSION (first run only; a few minutes)" >&2
	GOBIN="$root/bin/bench" CGO_ENABLED=0 go install "github.com/restic/restic/cmd/restic@$RESTIC_VERSION"
	echo "$RESTIC_VERSION" > bin/bench/.restic-version
fi
if [ ! -x bin/bench/kopia ] || [ "$(cat bin/bench/.kopia-version 2>/dev/null)" != "$KOPIA_VERSION" ]; then
	# The proxy refuses kopia's version list (so `go install kopia@VERSION`
	# fails) and the checksum database does not know this pseudo-version:
	# download the module itself, then build inside a writable copy of it,
	# where its own go.mod and go.sum pin its dependencies.
	echo "bench: building kopia $KOPIA_VERSION (first run only; a few minutes)" >&2
	tmp=$(mktemp -d)
	trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
	moddir=$(cd "$tmp" && GONOSUMDB=github.com/kopia go mod download -json "github.com/kopia/kopia@$KOPIA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$moddir" ] || { echo "bench: go mod download did not name kopia's module directory" >&2; exit 1; }
	cp -r "$moddir/." "$tmp/"
	chmod -R u+w "$tmp"
	(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$root/bin/bench/kopia" .)
	echo "$KOPIA_VERSION" > bin/bench/.kopia-version
fi
if ! command -v rclone >/dev/null; then
	echo "bench: installing rclone" >&2
	if [ "$(id -u)" = 0 ]; then apt-get install -y rclone >/dev/null; else sudo apt-get install -y rclone >/dev/null; fi
fi
CGO_ENABLED=0 go build -trimpath -o bin/bench/stage ./steps/stage
go build -o bin/bench/bench ./hack/bench

# rclone would pick up a CA bundle meant for another endpoint.
unset AWS_CA_BUNDLE
scale=()
if [ "${BENCH_SCALE:-}" = 1 ]; then scale=(-scale 1000000); elif [ -n "${BENCH_SCALE:-}" ]; then scale=(-scale "$BENCH_SCALE"); fi
exec bin/bench/bench -bin bin/bench -minio "${MLSTATE_MINIO_BIN:-bin/testenv/minio/minio}" "${scale[@]}" "$@"
