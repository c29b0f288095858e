#!/usr/bin/env bash
# Starts a master and two secondaries on local ports in the foreground,
# each log line prefixed with its node's name. Ctrl-C stops all three.
# Ports: MASTER_PORT (8080), S1_PORT (8081), S2_PORT (8082).
set -euo pipefail
cd "$(dirname "$0")/.."
master_port=${MASTER_PORT:-8080}
export LOG_FORMAT=${LOG_FORMAT:-console}
# A local cluster is for watching and trying things: fault control is on,
# so the dashboard's slow/flaky/cut off/heal buttons work.
export FAULTS_API=${FAULTS_API:-true}

pids=()
stop() {
	trap - INT TERM EXIT
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

prefix() { sed -u "s/^/[$1] /"; }

HTTP_ADDR=":$master_port" CLUSTER_SIZE=3 bin/master > >(prefix master) 2>&1 &
pids+=($!)
for n in 1 2; do
	port_var="S${n}_PORT"
	port=${!port_var:-$((master_port + n))}
	NODE_NAME="s$n" HTTP_ADDR=":$port" MASTER_URL="ws://localhost:$master_port/replicate" \
		bin/secondary > >(prefix "s$n") 2>&1 &
	pids+=($!)
done
echo "replog: master on :$master_port (dashboard: http://localhost:$master_port/), secondaries s1 and s2 on the next ports; Ctrl-C stops all three" >&2
wait -n "${pids[@]}" || true
