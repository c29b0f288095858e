#!/usr/bin/env bash
# Runs the Postman collection (docs/postman) with newman against a fresh
# local cluster, as a Postman user would. Uses newman from PATH, or the
# packed one beside the checkout (../shared/tools/npx-offline); skips,
# saying so, when neither is there.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v newman >/dev/null; then
	newman=(newman)
elif [ -x ../shared/tools/npx-offline ] && command -v node >/dev/null; then
	newman=(../shared/tools/npx-offline newman)
else
	echo "postman: newman (or node with ../shared/tools) not found; skipping the collection run" >&2
	exit 0
fi
port=${POSTMAN_PORT:-18180}
export LOG_FORMAT=console LOG_LEVEL=warn FAULTS_API=true
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
HTTP_ADDR="127.0.0.1:$port" CLUSTER_SIZE=3 bin/master & pids+=($!)
for n in 1 2; do
	NODE_NAME="s$n" HTTP_ADDR="127.0.0.1:$((port + n))" MASTER_URL="ws://127.0.0.1:$port/replicate" bin/secondary & pids+=($!)
done
for _ in $(seq 1 100); do
	if curl -sf "http://127.0.0.1:$port/health" | grep -o '"status":"healthy"' | grep -c . | grep -q 2; then
		break
	fi
	sleep 0.1
done
"${newman[@]}" run docs/postman/replog.postman_collection.json \
	--env-var "masterUrl=http://127.0.0.1:$port" --env-var "secondaryUrl=http://127.0.0.1:$((port + 1))"
