#!/usr/bin/env bash
# Starts a master and two secondaries on local ports in the foreground,
# each log line prefixed with its node's name. Ctrl-C stops all three.
# Ports: MASTER_PORT (8080), S1_PORT and S2_PORT (the next two).
#
# The secondaries start once the master answers /health, so a normal start
# shows no failed dial. A node that cannot start (most often: its port is
# taken, by another cluster or anything else) stops the others, and the
# script exits 1 with a line naming the port and its variable; a bad
# variable exits 2. START_TIMEOUT (seconds, default 30) bounds each
# node's start.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOG_FORMAT=${LOG_FORMAT:-console}
# A local cluster is for watching and trying things: fault control is on,
# so the dashboard's slow/flaky/cut off/heal buttons work.
export FAULTS_API=${FAULTS_API:-true}

say() { echo "run-local: $*" >&2; }

# port VAR DEFAULT: the variable's value, or exit 2 naming it.
port() {
	local p=${!1:-$2}
	if [[ ! $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
		say "$1: must be a port number from 1 to 65535, got \"$p\""
		exit 2
	fi
	echo "$p"
}
master_port=$(port MASTER_PORT 8080)
s1_port=$(port S1_PORT $((master_port + 1)))
s2_port=$(port S2_PORT $((master_port + 2)))
start_timeout=${START_TIMEOUT:-30}
if [[ ! $start_timeout =~ ^[0-9]+$ ]] || ((start_timeout == 0)); then
	say "START_TIMEOUT: must be a whole number of seconds above 0, got \"$start_timeout\""
	exit 2
fi
others="e.g. make run MASTER_PORT=9080 S1_PORT=9081 S2_PORT=9082"

# A port something already answers on is refused before anything starts:
# otherwise the wait below could take another cluster's master for ours.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for v in MASTER_PORT:$master_port S1_PORT:$s1_port S2_PORT:$s2_port; do
	if in_use "${v#*:}"; then
		say "port ${v#*:} is in use; pick free ports with ${v%%:*} ($others)"
		exit 1
	fi
done

pids=()
# stop: the secondaries first, so that they do not log the master's going.
# shellcheck disable=SC2317 # called by the traps
stop() {
	trap - INT TERM EXIT
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap stop EXIT
trap 'stop; exit 0' INT TERM

prefix() { sed -u "s/^/[$1] /"; }

# up NAME BINARY PORT VAR [ENV...]: starts a node and returns once it
# answers /health; exits 1 naming VAR if it stops or the deadline passes.
up() {
	local name=$1 bin=$2 port=$3 var=$4
	shift 4
	env "$@" HTTP_ADDR=":$port" "$bin" > >(prefix "$name") 2>&1 &
	local pid=$!
	pids+=("$pid")
	local deadline=$((SECONDS + start_timeout))
	until HTTP_ADDR="127.0.0.1:$port" "$bin" health >/dev/null 2>&1; do
		if ! alive "$pid"; then
			say "$name did not start on port $port (its log is above); if the port is taken, pick free ports with $var ($others)"
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			say "$name did not answer /health on port $port within ${start_timeout}s (its log is above)"
			exit 1
		fi
		sleep 0.1
	done
}

# alive PID: the process runs (an exited child not yet reaped by the
# shell is a zombie, which kill -0 would still find; without /proc,
# kill -0 is all there is).
alive() {
	if [[ ! -d /proc/self ]]; then
		kill -0 "$1" 2>/dev/null
		return
	fi
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

master_url="ws://localhost:$master_port/replicate"
up master bin/master "$master_port" MASTER_PORT CLUSTER_SIZE=3
up s1 bin/secondary "$s1_port" S1_PORT NODE_NAME=s1 MASTER_URL="$master_url"
up s2 bin/secondary "$s2_port" S2_PORT NODE_NAME=s2 MASTER_URL="$master_url"
say "master on :$master_port (dashboard: http://localhost:$master_port/), s1 on :$s1_port, s2 on :$s2_port; Ctrl-C stops all three"

# Until Ctrl-C (the trap exits 0) or a node stops by itself (exit 1).
rc=0
wait -n "${pids[@]}" || rc=$?
say "a node stopped by itself (exit status $rc; its log is above); stopping the others"
exit 1
