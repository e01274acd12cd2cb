#!/usr/bin/env bash
# Runs hack/bench: mlstate's stage step vs `mc mirror` vs `rclone copy`
# against one local MinIO server. Installs what it needs: mc (pinned, built
# into bin/bench once), rclone (Debian package), the stage binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
mkdir -p bin/bench

if [ ! -x bin/bench/mc ] || [ "$(cat bin/bench/.mc-version 2>/dev/null)" != "$MC_VERSION" ]; then
	echo "bench: building mc $MC_VERSION (first run only; a few minutes)" >&2
	GOBIN="$root/bin/bench" CGO_ENABLED=0 go install "github.com/minio/mc@$MC_VERSION"
	echo "$MC_VERSION" > bin/bench/.mc-version
fi
if ! command -v rclone >/dev/null; then
	echo "bench: installing rclone" >&2
	if [ "$(id -u)" = 0 ]; then apt-get install -y rclone >/dev/null; else sudo apt-get install -y rclone >/dev/null; fi
fi
CGO_ENABLED=0 go build -trimpath -o bin/bench/stage ./steps/stage
go build -o bin/bench/bench ./hack/bench

# rclone would pick up a CA bundle meant for another endpoint.
unset AWS_CA_BUNDLE
exec bin/bench/bench -bin bin/bench -minio "${MLSTATE_MINIO_BIN:-bin/testenv/minio/minio}" "$@"
