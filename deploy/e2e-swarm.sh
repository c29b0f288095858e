#!/usr/bin/env bash
# The Swarm suite (make e2e-swarm): deploys deploy/swarm/stack.yml on a
# single-node swarm and takes it through an operator's work — scale, a
# killed leader, a rolling update — checking that no acknowledged write is
# lost (master/clustertest/swarm_test.go).
#
# This script owns what is the engine's rather than the stack's: it makes
# a single-node swarm when the engine is in none (and leaves it at the
# end), labels the node for the stack's placement (and takes off the
# labels it added), and names the stack. The test removes the stack; the
# trap below sweeps whatever of it is left, also when the test was killed.
#
#   E2E_SWARM_FAILOVER=0   for binaries without failover (they ignore PEERS):
#                          no failover steps, the secondaries follow m1 alone
#   E2E_SWARM_FAIL_AT=STEP fail a step on purpose, to watch the cleanup
#   E2E_SWARM_RUN=REGEXP   the tests to run (go test -run; default TestSwarm)
#
# Skips where no Docker engine answers, except under CI (CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "e2e-swarm: no Docker engine answers (docker info failed); CI needs one to run the Swarm suite" >&2
		exit 1
	fi
	echo "e2e-swarm: no Docker engine answers (docker info failed); skipping the Swarm suite" >&2
	exit 0
fi

# One run at a time on an engine: a run that made the swarm leaves it.
exec 9>"${TMPDIR:-/tmp}/replog-e2e-swarm.lock"
flock 9

stack=replog-e2e-swarm-$$
made_swarm=false
had_gwbridge=false
added_labels=()
node=

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	sweep || status=1
	if [ ${#added_labels[@]} -gt 0 ] && [ "$made_swarm" = false ]; then # else they go with the swarm
		for l in "${added_labels[@]}"; do
			docker node update --label-rm "$l" "$node" >/dev/null || status=1
		done
	fi
	if [ "$made_swarm" = true ]; then
		echo "e2e-swarm: leaving the swarm this run made" >&2
		docker swarm leave --force >/dev/null || status=1
		# Made with the swarm's first overlay container; an engine outside
		# a swarm has no use for it.
		if [ "$had_gwbridge" = false ]; then
			docker network rm docker_gwbridge >/dev/null 2>&1 || true
		fi
	fi
	exit $status
}

# sweep removes whatever of the stacks is left (the suite's, and its TLS
# one, $stack-tls): their services, then, once their containers are gone,
# their volumes, networks and secrets.
sweep() {
	local status=0
	sweep_stack "$stack" || status=1
	sweep_stack "$stack-tls" || status=1
	return $status
}

sweep_stack() {
	local label=com.docker.stack.namespace=$1 left
	docker stack rm "$1" >/dev/null 2>&1 || true
	for _ in $(seq 90); do
		docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1 || true
		docker volume ls -q --filter "label=$label" | xargs -r docker volume rm >/dev/null 2>&1 || true
		docker network ls -q --filter "label=$label" | xargs -r docker network rm >/dev/null 2>&1 || true
		docker secret ls -q --filter "label=$label" | xargs -r docker secret rm >/dev/null 2>&1 || true
		left=$( {
			docker service ls -q --filter "label=$label"
			docker ps -aq --filter "label=$label"
			docker volume ls -q --filter "label=$label"
			docker network ls -q --filter "label=$label"
			docker secret ls -q --filter "label=$label"
		} 2>/dev/null)
		[ -z "$left" ] && return 0
		sleep 1
	done
	echo "e2e-swarm: left of stack $1 after 90 s: $left" >&2
	return 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

docker network inspect docker_gwbridge >/dev/null 2>&1 && had_gwbridge=true
case $(docker info --format '{{.Swarm.LocalNodeState}}') in
inactive)
	echo "e2e-swarm: making a single-node swarm (left at the end)" >&2
	docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
	made_swarm=true
	;;
active)
	if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
		echo "e2e-swarm: this engine is a swarm worker; run the suite on a manager" >&2
		exit 1
	fi
	echo "e2e-swarm: using the swarm this engine is in" >&2
	;;
*)
	echo "e2e-swarm: the engine's swarm is $(docker info --format '{{.Swarm.LocalNodeState}}'); wait, or leave it" >&2
	exit 1
	;;
esac
# The stack places m1, m2, m3 and the secondaries by node label; here
# they all go on this node.
node=$(docker info --format '{{.Swarm.NodeID}}')
for l in replog.m1 replog.m2 replog.m3 replog.secondary; do
	if [ -z "$(docker node inspect self --format "{{index .Spec.Labels \"$l\"}}")" ]; then
		docker node update --label-add "$l=true" "$node" >/dev/null
		added_labels+=("$l")
	fi
done

REPLOG_BUILDER=$(deploy/builder.sh)
export REPLOG_BUILDER E2E_SWARM_STACK=$stack
(cd master && go test -tags e2e,swarm -count=1 -run "${E2E_SWARM_RUN:-TestSwarm}" -v -timeout 10m ./clustertest/)
