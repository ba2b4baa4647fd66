#!/bin/sh
# Installs what the IVR's CI tests need: sipp (Debian package sip-tester,
# with the RFC 2833 captures under /usr/share/sip-tester) for the
# independent-peer test, espeak-ng and sox to regenerate prompts.
# Idempotent; run as root (or with sudo). Then: CI=true go test -race ./pkg/ivr/...
set -eu
need=""
command -v sipp >/dev/null 2>&1 && [ -f /usr/share/sip-tester/dtmf_2833_1.pcap ] || need="$need sip-tester"
if [ "${WITH_TTS:-0}" = 1 ]; then
	command -v espeak-ng >/dev/null 2>&1 || need="$need espeak-ng"
	command -v sox >/dev/null 2>&1 || need="$need sox"
fi
if [ -z "$need" ]; then
	echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1) already installed"
	exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $need
sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1
ls /usr/share/sip-tester/dtmf_2833_*.pcap | wc -l | xargs echo "RFC 2833 captures:"
