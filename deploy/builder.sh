#!/usr/bin/env bash
# The one place that decides which image compiles replog's binaries for
# docker builds (make docker-build, make docker-up, make e2e), and makes
# sure it exists. Prints the image's name:
#   export REPLOG_BUILDER=$(deploy/builder.sh)
# REPLOG_BUILDER unset, or replog-builder:local: the offline builder, made
# (or remade when Go or a dependency changed) by deploy/offline-builder.sh,
# which returns at once when the image is current. Any other value is used
# as it is (compose pulls it from a registry).
set -euo pipefail
cd "$(dirname "$0")/.."
builder=${REPLOG_BUILDER:-replog-builder:local}
if [ "$builder" = replog-builder:local ]; then
	BUILDER_TAG=$builder deploy/offline-builder.sh >&2
fi
echo "$builder"
