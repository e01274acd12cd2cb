#!/usr/bin/env bash
# A toy "training" job for the local demo. It keeps its state in a
# workspace directory: checkpoint.txt (the epoch reached and fake weights)
# and metrics.log. Each run trains one more epoch.
#
#   train.sh WORKSPACE          train one epoch and save a checkpoint
#   CRASH=1 train.sh WORKSPACE  start the epoch, scribble over the checkpoint,
#                               leave a half-written file behind, and fail
set -euo pipefail
ws=${1:?usage: train.sh WORKSPACE}
ckpt=$ws/checkpoint.txt

epoch=0
if [[ -f $ckpt ]]; then
  epoch=$(sed -n 's/^epoch=//p' "$ckpt")
fi
next=$((epoch + 1))
echo "train: resuming from epoch $epoch, training epoch $next"

if [[ ${CRASH:-0} == 1 ]]; then
  # What a real crash mid-save looks like: a torn checkpoint and debris.
  printf 'epoch=%d\nweights=' "$next" >"$ckpt"
  head -c 4096 /dev/urandom >"$ws/shard-$next.partial"
  echo "train: out of memory while saving epoch $next (simulated)" >&2
  exit 1
fi

{
  echo "epoch=$next"
  echo "weights=$(printf 'w%d' "$next" | sha256sum | cut -c1-32)"
} >"$ckpt"
echo "epoch $next loss=$(awk -v e="$next" 'BEGIN{printf "%.3f", 1/(e+1)}')" >>"$ws/metrics.log"
echo "train: epoch $next done, checkpoint saved"
