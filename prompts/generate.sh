#!/bin/sh
# Records every prompt (prompts.tsv → prompts/<name>.wav) and every unit of
# the say engine (units.tsv → prompts/units/<name>.wav) as 8 kHz mono 16-bit
# WAV with espeak-ng's Mandarin voice. Studio recordings dropped in with the
# same names replace these; run with --missing to record only absent files.
#   apt-get install -y espeak-ng sox
set -eu
cd "$(dirname "$0")"
missing=0
[ "${1:-}" = "--missing" ] && missing=1
command -v espeak-ng >/dev/null || { echo "espeak-ng is not installed" >&2; exit 1; }
command -v sox >/dev/null || { echo "sox is not installed" >&2; exit 1; }
if command -v go >/dev/null; then
	(cd .. && go run ./prompts/scripts/listunits) > units.tsv
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p units
# record <out> <text> <trim>
record() {
	out=$1 text=$2 trim=$3
	[ "$missing" = 1 ] && [ -f "$out" ] && return 0
	espeak-ng -v cmn -s 160 -w "$tmp/raw.wav" "$text"
	if [ "$trim" = 1 ]; then
		# Units are concatenated: cut leading and trailing silence.
		sox -q "$tmp/raw.wav" -r 8000 -c 1 -b 16 "$out" gain -n -3 \
			silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
	else
		sox -q "$tmp/raw.wav" -r 8000 -c 1 -b 16 "$out" gain -n -3
	fi
}
n=0
while IFS='	' read -r name text; do
	case "$name" in ''|'#'*) continue ;; esac
	record "$name.wav" "$text" 0
	n=$((n + 1))
done < prompts.tsv
while IFS='	' read -r name text; do
	case "$name" in ''|'#'*) continue ;; esac
	record "units/$name.wav" "$text" 1
	n=$((n + 1))
done < units.tsv
echo "recorded $n files in $(pwd)"
