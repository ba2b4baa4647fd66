#!/usr/bin/env bash
# Commit subjects stay under 72 characters (house style). Checked for the
# commits after BASE, the last commit before the check existed: older
# subjects are history. Skips where there is no git history (a tarball,
# a shallow clone without BASE).
set -euo pipefail
BASE=7b0d1b8f3a2d3fc4001e2af4883fc539550141c1
if ! git rev-parse -q --verify "$BASE^{commit}" >/dev/null 2>&1; then
	echo "commit subjects: $BASE not in this checkout's history, not checked"
	exit 0
fi
long=$(git log --no-merges --format='%s' "$BASE..HEAD" | awk 'length($0) > 72')
if [ -n "$long" ]; then
	echo "commit subjects over 72 characters:"
	echo "$long"
	exit 1
fi
