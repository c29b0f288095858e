#!/usr/bin/env bash
# Tests deploy/run-local.sh (make run) against the built binaries in bin/
# (make build first), on free ports, in about ten seconds:
#   - a port something answers on: exit 1 at once, naming the port and
#     its variable, and nothing left running;
#   - a port taken where the early check cannot see it (another loopback
#     address): the node's start fails, exit 1 naming its variable, and
#     the nodes already started are stopped;
#   - a bad port: exit 2 naming the variable;
#   - a normal start: the secondaries start after the master is healthy,
#     so no failed dial is logged; SIGTERM stops all three, exit 0;
#   - a node killed after the start: the others are stopped, exit 1.
# CI runs it (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bin/master bin/secondary; do
	[ -x "$b" ] || { echo "run-local-test: $b is missing; run make build first" >&2; exit 1; }
done
work=$(mktemp -d)
holders=()
cleanup() {
	if ((${#holders[@]})); then
		kill "${holders[@]}" 2>/dev/null || true
		wait "${holders[@]}" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# ports: sets m, a and b to ports nothing answers on, at random, none
# handed out before in this test.
taken=" " m="" a="" b=""
ports() {
	local v p i
	for v in m a b; do
		for ((i = 0; ; i++)); do
			((i < 200)) || { echo "run-local-test: no free port found" >&2; exit 1; }
			p=$((20000 + RANDOM % 30000))
			if [[ $taken != *" $p "* ]] && ! in_use "$p"; then
				break
			fi
		done
		taken+="$p "
		printf -v "$v" %s "$p"
	done
}
# hold ADDR: a process listening on ADDR (a master of a one-node cluster)
# until the test ends; waits until it is listening.
hold() {
	HTTP_ADDR=$1 CLUSTER_SIZE=1 bin/master >"$work/holder-$1.log" 2>&1 &
	holders+=($!)
	local deadline=$((SECONDS + 10))
	until grep -q listening "$work/holder-$1.log"; do
		((SECONDS < deadline)) || { echo "run-local-test: the holder of $1 did not start" >&2; exit 1; }
		sleep 0.05
	done
}
# run NAME ENV...: runs run-local.sh to its end (60 s at most), leaving
# its output in $work/NAME.out and its exit status in rc.
run() {
	local name=$1
	shift
	rc=0
	env "$@" timeout 60 deploy/run-local.sh >"$work/$name.out" 2>&1 || rc=$?
}
expect() { # NAME WANT_RC PATTERN...
	local name=$1 want=$2
	shift 2
	[ "$rc" = "$want" ] || fail "$name: exit status $rc, want $want"
	for pat in "$@"; do
		grep -q -- "$pat" "$work/$name.out" || fail "$name: no line with \"$pat\" in its output"
	done
}
# none_left PORT...: nothing answers on these ports any more.
none_left() {
	for p in "$@"; do
		if in_use "$p"; then fail "$name: something still answers on port $p after the script ended"; fi
	done
}
show() { echo "--- output of $1:" >&2; sed 's/^/    /' "$work/$1.out" >&2; }

# A busy master port, seen before anything starts.
ports
hold "127.0.0.1:$m"
name=busy-master
run "$name" MASTER_PORT="$m" S1_PORT="$a" S2_PORT="$b"
expect "$name" 1 "port $m is in use" "MASTER_PORT"
none_left "$a" "$b"

# A busy secondary port.
ports
hold "127.0.0.1:$b"
name=busy-s2
run "$name" MASTER_PORT="$m" S1_PORT="$a" S2_PORT="$b"
expect "$name" 1 "port $b is in use" "S2_PORT"
none_left "$m" "$a"

# A port held on 127.0.0.2 only: connecting to 127.0.0.1 finds nothing,
# but s1's bind of every address fails, after the master started.
ports
hold "127.0.0.2:$a"
name=bind-fails
run "$name" MASTER_PORT="$m" S1_PORT="$a" S2_PORT="$b"
expect "$name" 1 "s1 did not start on port $a" "S1_PORT" "address already in use"
none_left "$m" "$b"

name=bad-port
run "$name" MASTER_PORT=80x
expect "$name" 2 'MASTER_PORT: must be a port number'

# start NAME: runs run-local.sh in the background on ports m, a and b
# (pid in pid) and waits for its ready line.
start() {
	name=$1
	MASTER_PORT=$m S1_PORT=$a S2_PORT=$b deploy/run-local.sh >"$work/$name.out" 2>&1 &
	pid=$!
	local deadline=$((SECONDS + 60))
	until grep -q 'Ctrl-C stops all three' "$work/$name.out"; do
		if ((SECONDS >= deadline)) || ! kill -0 $pid 2>/dev/null; then
			fail "$name: no ready line within 60 s"
			return
		fi
		sleep 0.1
	done
}

# A normal start, then SIGTERM (what Ctrl-C sends the script, as INT).
ports
start normal
# Both secondaries are connected when the ready line is printed.
for want in '\[s1\].*connected to master' '\[s2\].*connected to master'; do
	grep -q "$want" "$work/$name.out" || fail "$name: no line matching \"$want\" before the ready line"
done
if sed '/Ctrl-C stops all three/q' "$work/$name.out" | grep -Ei 'refused|redial' >&2; then
	fail "$name: a failed dial was logged on a normal start (above)"
fi
kill -TERM $pid
rc=0
wait $pid || rc=$?
expect "$name" 0
none_left "$m" "$a" "$b"

# A node that dies after the start ends the script: exit 1, the others
# stopped.
ports
start node-dies
s1=$(ss -Hltnp "sport = :$a" | grep -o 'pid=[0-9]*' | cut -d= -f2 | head -1)
if [ -n "$s1" ]; then
	kill -KILL "$s1"
else
	fail "$name: no process found listening on s1's port $a"
	kill -TERM $pid
fi
rc=0
wait $pid || rc=$?
expect "$name" 1 'a node stopped by itself'
none_left "$m" "$b"

if ((failed)); then
	for o in "$work"/*.out; do show "$(basename "$o" .out)"; done
	exit 1
fi
echo "run-local-test: ok (busy ports, a failed bind, a bad port, a normal start and stop, a node that dies)"
