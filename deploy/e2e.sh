#!/usr/bin/env bash
# The end-to-end suite against containers (make e2e): makes the builder
# image when needed (deploy/builder.sh), builds the images, runs each
# scenario in its own compose project, always tears it down.
# Where no Docker engine answers it skips, saying so; under CI (CI=true)
# that is a failure instead, since CI's machines always have an engine and
# a skipped suite must never read as green.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "e2e: no Docker engine answers (docker info failed); CI needs one to run the end-to-end suite" >&2
		exit 1
	fi
	echo "e2e: no Docker engine answers (docker info failed); skipping the end-to-end suite" >&2
	exit 0
fi
REPLOG_BUILDER=$(deploy/builder.sh)
export REPLOG_BUILDER
# Each scenario tears its compose project down itself, also when it fails;
# a run that is interrupted (Ctrl-C, go test's -timeout) cannot. Its
# projects are named replog-e2e-<RUN>-… and replog-e2e-ha-<RUN>-…: on the
# way out, remove whatever of theirs is left, and nothing else.
REPLOG_E2E_RUN=r$$
export REPLOG_E2E_RUN
sweep() {
	local mine='^replog-e2e-(ha-)?'"$REPLOG_E2E_RUN"'-'
	docker ps -a --format '{{.ID}} {{.Label "com.docker.compose.project"}}' |
		awk -v re="$mine" '$2 ~ re {print $1}' | xargs -r docker rm -f >/dev/null 2>&1 || true
	for kind in network volume; do
		docker "$kind" ls --format '{{.Name}} {{.Label "com.docker.compose.project"}}' |
			awk -v re="$mine" '$2 ~ re {print $1}' | xargs -r docker "$kind" rm >/dev/null 2>&1 || true
	done
}
trap sweep EXIT
cd master
go test -tags e2e -count=1 -run 'E2E' -v -timeout 15m ./clustertest/
