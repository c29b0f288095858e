#!/usr/bin/env bash
# The end-to-end suite against containers (make e2e): builds the images,
# runs each scenario in its own compose project, always tears it down.
# Skips, saying so, where no Docker engine answers. REPLOG_BUILDER picks the
# builder image; by default the offline one made from this machine's Go.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
	echo "e2e: no Docker engine answers (docker info failed); skipping the end-to-end suite" >&2
	exit 0
fi
if [ -z "${REPLOG_BUILDER:-}" ]; then
	deploy/offline-builder.sh
	export REPLOG_BUILDER=replog-builder:local
fi
cd master
exec go test -tags e2e -count=1 -run 'E2E' -v -timeout 15m ./clustertest/
