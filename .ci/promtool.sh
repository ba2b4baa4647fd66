#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package) when it is missing, so
# that the tests in internal/app/smsgw can check deploy/prometheus/*.yml.
# Idempotent; run as root on Debian 12 (CI), does nothing when promtool is
# already on PATH. Only the package is installed: its service is neither
# enabled nor started (policy-rc.d refuses starts during the install).
set -euo pipefail

log() { echo "promtool.sh: $*" >&2; }

if command -v promtool >/dev/null 2>&1; then
	log "$(promtool --version 2>&1 | head -n1)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	log "promtool missing and not root: install Debian's prometheus package"
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the package's prometheus.service from starting inside CI containers.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

log "installing prometheus (for promtool)"
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends prometheus >&2
command -v promtool >/dev/null
log "$(promtool --version 2>&1 | head -n1)"
