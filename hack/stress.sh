#!/usr/bin/env bash
# Runs the whole test suite under -race, several times, while the machine is
# kept busy, to shake out tests that race asynchronous effects. A cold CI run
# compiles packages while others test, on 2 cores; this reproduces that load
# with one CPU burner per core and GOMAXPROCS above the core count, so the
# API server, MinIO, the stand-in controller and the tests all get less CPU
# than they want. Everything it starts stops when it ends, on any exit.
#
#   STRESS_ROUNDS  rounds of `go test -count=STRESS_COUNT` (default 1)
#   STRESS_COUNT   runs of each test per round (default 3)
#   STRESS_LIMIT   time bound for each round and its burners (default 45m)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${STRESS_ROUNDS:-1}
count=${STRESS_COUNT:-3}
limit=${STRESS_LIMIT:-45m}
cores=$(nproc)
logs="$root/bin/stress"
mkdir -p "$logs"

burners=()
stop_burners() {
	if [ ${#burners[@]} -gt 0 ]; then
		kill "${burners[@]}" 2>/dev/null || true
		wait "${burners[@]}" 2>/dev/null || true
	fi
	burners=()
}
trap stop_burners EXIT INT TERM

failed=0
for ((round = 1; round <= rounds; round++)); do
	for ((i = 0; i < cores; i++)); do
		timeout "$limit" sh -c 'while :; do :; done' &
		burners+=($!)
	done
	log="$logs/round-$round.log"
	echo "stress: round $round/$rounds: go test -race -count=$count ./... with $cores CPU burners, GOMAXPROCS=$((cores * 4)) (log: ${log#"$root"/})"
	start=$(date +%s)
	set +e
	GOMAXPROCS=$((cores * 4)) timeout "$limit" go test -race -count="$count" -timeout "$limit" ./... >"$log" 2>&1
	code=$?
	set -e
	stop_burners
	fails=$(grep -c -- '^--- FAIL' "$log" || true)
	passes=$(grep -c '^ok ' "$log" || true)
	echo "stress: round $round: exit $code after $(($(date +%s) - start)) s; $passes packages ok, $fails failed tests"
	if [ "$code" -ne 0 ]; then
		failed=$((failed + 1))
		grep -E -- '^(--- FAIL|FAIL|panic:|\s+\S+_test\.go:[0-9]+:)' "$log" | head -40 || true
	fi
done
echo "stress: $((rounds - failed))/$rounds rounds passed"
[ "$failed" -eq 0 ]
