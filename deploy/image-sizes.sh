#!/usr/bin/env bash
# Checks that README's image sizes are still true: reads the size table of
# "Run with Docker" (rows "| `image` | N MB | …") and compares each size
# with `docker image inspect` of the image, failing when one is more than
# MARGIN percent (default 10) off. CI runs it after the end-to-end suite
# has built the images, whose tag is REPLOG_TAG (default e2e, the suite's);
# replog-builder:local keeps its own tag.
#   deploy/image-sizes.sh                 # after make e2e
#   REPLOG_TAG=dev deploy/image-sizes.sh  # after make docker-up
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${REPLOG_TAG:-e2e}
margin=${MARGIN:-10}
docker=${DOCKER:-docker}

# Docker's "MB" is 10^6 bytes.
# shellcheck disable=SC2016 # the backquotes are README's, not the shell's
rows=$(sed -nE 's/^\| `(replog-[a-z:-]+)` \| ([0-9]+(\.[0-9]+)?) MB \|.*/\1 \2/p' README.md)
if [ "$(wc -l <<<"$rows")" -lt 3 ]; then
	echo "image-sizes: README.md has no table of the three images' sizes (rows like | \`replog-master\` | 11.4 MB |)" >&2
	exit 1
fi
failed=0
while read -r image mb; do
	[[ $image == *:* ]] || image="$image:$tag"
	if ! bytes=$($docker image inspect -f '{{.Size}}' "$image" 2>/dev/null); then
		echo "image-sizes: $image is missing; build it first (make e2e, or REPLOG_TAG=dev after make docker-up)" >&2
		failed=1
		continue
	fi
	# Integer arithmetic in kB: README states tenths of a MB at most.
	want=$(awk -v mb="$mb" 'BEGIN { printf "%d", mb * 1000 }')
	have=$((bytes / 1000))
	diff=$((have > want ? have - want : want - have))
	have_mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
	if ((diff * 100 > want * margin)); then
		echo "image-sizes: $image is $have_mb MB, README.md says $mb MB (more than $margin% off): update the table in \"Run with Docker\"" >&2
		failed=1
	else
		echo "image-sizes: $image $have_mb MB (README: $mb MB)"
	fi
done <<<"$rows"
exit $failed
