#!/usr/bin/env bash
# Runs the integration packages (those whose tests use pkg/testsupport's real
# servers) under -race, several times, while the machine is kept busy, to
# shake out tests that race asynchronous effects. A cold CI run compiles
# packages while others test, on 2 cores; this reproduces that load with one
# CPU burner per core, GOMAXPROCS above the core count, and several packages
# compiling and testing at once. Each package runs as its own `go test`, so a
# package that hangs is cut off by its own time bound and the others still
# report. Everything it starts stops when it ends, on any exit.
#
#   STRESS_ROUNDS  rounds in a row (default 1)
#   STRESS_COUNT   runs of each test per round (default 3)
#   STRESS_LIMIT   time bound for one package in one round (default 30m)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${STRESS_ROUNDS:-1}
count=${STRESS_COUNT:-3}
limit=${STRESS_LIMIT:-30m}
cores=$(nproc)
logs="$root/bin/stress"
mkdir -p "$logs"

mapfile -t pkgs < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}{{end}}' ./... |
	awk '/github.com\/mlstate\/mlstate\/pkg\/testsupport( |$)/ || $1 ~ /\/pkg\/testsupport$/ {print $1}')
echo "stress: ${#pkgs[@]} integration packages: ${pkgs[*]#github.com/mlstate/mlstate/}"

burners=()
stop_burners() {
	if [ ${#burners[@]} -gt 0 ]; then
		kill "${burners[@]}" 2>/dev/null || true
		wait "${burners[@]}" 2>/dev/null || true
	fi
	burners=()
}
trap stop_burners EXIT INT TERM

run_pkg() { # round pkg
	local rel=${2#github.com/mlstate/mlstate/}
	local log="$logs/round-$1-${rel//\//-}.log"
	if GOMAXPROCS=$((cores * 4)) timeout --kill-after=30s "$limit" \
		go test -race -count="$count" -timeout "$limit" "$2" >"$log" 2>&1; then
		echo "ok   $2 ($(tail -n1 "$log" | awk '{print $NF}'))"
	else
		echo "FAIL $2 (exit $?; log: ${log#"$root"/})"
		grep -E -- '^\s*(--- FAIL|panic:|\S+_test\.go:[0-9]+:)' "$log" | head -20 | sed 's/^/     /'
	fi
}
export -f run_pkg
export logs count limit cores root

failed=0
for ((round = 1; round <= rounds; round++)); do
	for ((i = 0; i < cores; i++)); do
		timeout "$limit" sh -c 'while :; do :; done' &
		burners+=($!)
	done
	echo "stress: round $round/$rounds: -race -count=$count, $cores CPU burners, GOMAXPROCS=$((cores * 4)), $((cores * 2)) packages at once"
	start=$(date +%s)
	out=$(printf '%s\n' "${pkgs[@]}" | xargs -P $((cores * 2)) -I{} bash -c "run_pkg $round {}")
	stop_burners
	echo "$out"
	bad=$(grep -c '^FAIL' <<<"$out" || true)
	echo "stress: round $round: $((${#pkgs[@]} - bad))/${#pkgs[@]} packages passed in $(($(date +%s) - start)) s"
	[ "$bad" -eq 0 ] || failed=$((failed + 1))
done
echo "stress: $((rounds - failed))/$rounds rounds passed"
[ "$failed" -eq 0 ]
