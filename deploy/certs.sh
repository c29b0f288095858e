#!/usr/bin/env bash
# Makes a self-signed CA and the certificates the compose stack's TLS
# override (deploy/docker-compose.tls.yml) uses, with openssl:
#   ca.pem                        the CA (MASTER_CA_FILE, REPLICATION_CLIENT_CA_FILE)
#   master.pem, master-key.pem    the master's API and /replicate
#   secondary.pem, secondary-key.pem   every secondary's API, and its client
#                                 certificate toward the master
# Names: master, secondary, localhost and 127.0.0.1, so both the containers
# and a client on the host can verify them; MASTER_NAMES replaces master
# with the names given (the Swarm stack's master-capable nodes:
# MASTER_NAMES="m1 m2 m3"). For a local or test stack only: the keys are
# left readable by the containers' unprivileged user.
#
#   deploy/certs.sh [dir]   (default deploy/certs; existing files are replaced)
# Rotate by running it again (a new CA too) or by reissuing one pair, then
# `docker compose kill -s HUP master` — or wait: the files are looked at
# every 10 s.
set -euo pipefail
dir=${1:-"$(dirname "$0")/certs"}
days=${CERT_DAYS:-30}
mkdir -p "$dir"
cd "$dir"
if [ ! -s ca.pem ] || [ "${NEW_CA:-}" = true ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
		-subj "/CN=replog local CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
fi
for name in master secondary; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
		-keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
	names=$name
	if [ "$name" = master ] && [ -n "${MASTER_NAMES:-}" ]; then
		names=$MASTER_NAMES
	fi
	sans=$(printf 'DNS:%s,' $names)
	printf 'subjectAltName=%sDNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$sans" >"$name.ext"
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
		-extfile "$name.ext" -out "$name.pem" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
	chmod 0644 "$name.pem" "$name-key.pem"
done
echo "certs: CA and certificates for master and secondary in $(pwd) (valid $days days)"
