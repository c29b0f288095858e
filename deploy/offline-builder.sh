#!/usr/bin/env bash
# Makes replog-builder:local, a builder image for deploy/Dockerfile that
# needs no registry and no network: FROM scratch plus this machine's Go
# toolchain and a module cache filled with replog's dependencies.
#   deploy/offline-builder.sh          # skip if the image exists
#   REBUILD=1 deploy/offline-builder.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${BUILDER_TAG:-replog-builder:local}
docker=${DOCKER:-docker}
# The image is remade when the Go version or any dependency changed.
deps=$( { go version; cat shared/go.sum master/go.sum secondary/go.sum; } | sha256sum | cut -c1-16)
have=$($docker image inspect -f '{{ index .Config.Labels "replog.deps" }}' "$tag" 2>/dev/null || true)
if [ -z "${REBUILD:-}" ] && [ "$have" = "$deps" ]; then
	exit 0
fi
goroot=$(go env GOROOT)
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
mkdir -p "$work/tmp" "$work/gomodcache"
chmod 1777 "$work/tmp"
for m in shared master secondary; do
	(cd "$m" && GOMODCACHE="$work/gomodcache" go mod download)
done
# A warm build cache for the standard library (same GOROOT path in the
# image) cuts the image build from minutes to seconds on two cores.
GOCACHE="$work/tmp/gocache" CGO_ENABLED=0 go build -trimpath std
chmod -R a+rwX "$work/tmp/gocache"
echo "offline-builder: importing $goroot and the module cache as $tag" >&2
tar -C "$work" -cf "$work/root.tar" tmp gomodcache
tar -C / --exclude='*/testdata' --exclude="${goroot#/}/test" -rf "$work/root.tar" "${goroot#/}"
$docker import \
	--change "ENV PATH=$goroot/bin" \
	--change "ENV GOROOT=$goroot" \
	--change "ENV GOMODCACHE=/gomodcache" \
	--change "ENV GOCACHE=/tmp/gocache" \
	--change "ENV HOME=/tmp" \
	--change "ENV GOPROXY=off" \
	--change "ENV GOTOOLCHAIN=local" \
	--change "LABEL replog.deps=$deps" \
	"$work/root.tar" "$tag" >/dev/null
echo "offline-builder: $tag ready" >&2
