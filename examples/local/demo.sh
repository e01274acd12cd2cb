#!/usr/bin/env bash
# The local demo behind `make demo`: guard snapshots a workspace, the toy
# training script corrupts it and fails, guard restores it, catalog shows
# and verifies the restore points. No cluster; by default no MinIO either.
#
#   demo.sh BIN_DIR WORK_DIR
#
# The store is MLSTATE_STORE when set (e.g. s3://bucket/demo?endpoint=http://127.0.0.1:9000
# with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; the bucket must exist),
# else a file:// store under WORK_DIR.
set -euo pipefail
bin=$(cd "${1:?usage: demo.sh BIN_DIR WORK_DIR}" && pwd)
work=${2:?usage: demo.sh BIN_DIR WORK_DIR}
here=$(cd "$(dirname "$0")" && pwd)

rm -rf "$work"
mkdir -p "$work/workspace" "$work/store" "$work/outputs"
work=$(cd "$work" && pwd)
ws=$work/workspace
export MLSTATE_STORE=${MLSTATE_STORE:-file://$work/store}
export MLSTATE_PIPELINE=${MLSTATE_PIPELINE:-demo-local}
export MLSTATE_OUTPUTS_DIR=$work/outputs
log=$work/guard.log

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
fingerprint() { (cd "$ws" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
show() { (cd "$ws" && for f in *; do printf '    %-20s %s\n' "$f" "$(head -c 60 "$f" | tr '\n' ' ' | tr -c '[:print:]' '?')"; done); }
guard() {
  # guard's structured logs (JSON lines) go to a file; the command's own
  # stderr and guard's one-line summary ("guard: ...") are shown.
  local rc=0 err=$work/stderr
  "$bin/guard" --stage "$ws" -- "$@" 2>"$err" || rc=$?
  cat "$err" >>"$log"
  grep -v '^{' "$err" | sed 's/^/    /' >&2 || true
  return "$rc"
}

say "Store: $MLSTATE_STORE   pipeline: $MLSTATE_PIPELINE   workspace: $ws"
echo "lr=0.01" >"$ws/config.txt"

say "Run 1: guard snapshots the workspace, then runs one epoch of training"
guard "$here/train.sh" "$ws"
rp1=$(cat "$work/outputs/restore-point")
echo "    the training succeeded, so guard restored nothing; the workspace now holds:"
show

say "Run 2: the same, but this time training crashes in the middle of saving"
before=$(fingerprint)
echo "    workspace fingerprint before the run: $before"
rc=0
CRASH=1 guard "$here/train.sh" "$ws" || rc=$?
after=$(fingerprint)
rp2=$(cat "$work/outputs/restore-point")
echo "    guard exited $rc, the training script's own status, so Argo still sees the failure"
echo "    restored: $(cat "$work/outputs/restored"), restore point: $(cat "$work/outputs/restore-point")"
echo "    workspace fingerprint after the restore: $after"
if [[ $rc != 1 || $before != "$after" ]]; then
  echo "demo: FAILED: expected exit 1 and the workspace exactly as before the run" >&2
  exit 1
fi
echo "    identical: the torn checkpoint and the stray .partial file are gone:"
show

say "catalog list: the pipeline's restore points, newest first"
"$bin/catalog" list 2>>"$log"

say "catalog diff: what changed in the workspace between the two snapshots"
"$bin/catalog" diff "$rp1" "$rp2" 2>>"$log"

say "catalog verify: every chunk of every snapshot is present and matches its digest"
"$bin/catalog" verify --all 2>>"$log"

say "Done. Structured logs are in $log; run it again with: make demo"
