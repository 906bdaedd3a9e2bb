#!/usr/bin/env bash
# Runs one fuzz target for a bounded time on a temporary copy of its seed corpus (so the run
# never writes into the repository), as CTest's fuzz.<target> tests do:
#
#   run_fuzzer.sh TARGET_BINARY CORPUS_DIR SECONDS ARTIFACT_DIR [DICT] [extra libFuzzer flags...]
#
# A crash, leak, timeout (> 10 s on one input) or out-of-memory (> 2048 MB) fails the run;
# libFuzzer writes the input that caused it to ARTIFACT_DIR (crash-<sha1>, ...), and this
# script prints the command that reproduces it.
set -euo pipefail
binary=$1 corpus=$2 seconds=$3 artifacts=$4
dict=${5:-}
shift $(( $# < 5 ? $# : 5 ))
work=$(mktemp -d "${TMPDIR:-/tmp}/dkv-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/
mkdir -p "$artifacts"
flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
       -artifact_prefix="$artifacts"/ "$@")
[ -n "$dict" ] && flags+=(-dict="$dict")
status=0
"$binary" "${flags[@]}" "$work" || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz: $(basename "$binary") failed (exit $status); inputs that fail are in $artifacts:" >&2
  ls -l "$artifacts" >&2 || true
  echo "reproduce with: $binary $artifacts/<file>" >&2
fi
exit "$status"
