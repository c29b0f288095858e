#!/usr/bin/env bash
# Runs "docker compose" (the v2 plugin) where it exists, else the
# standalone docker-compose, with the same arguments.
if docker compose version >/dev/null 2>&1; then
	exec docker compose "$@"
fi
exec docker-compose "$@"
